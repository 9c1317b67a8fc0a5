# SPDX-License-Identifier: Apache-2.0
"""
One decision for a part seen by several cameras: the views' results fused by a policy.

A station has N cameras triggered per part; each camera's frame carries the part's capture
stamp and its own frame_id (the camera name). The scheduler (core/reject/scheduler.py) collects
the views of a part by stamp and, when all are in or its inspection window closes, calls
`fuse_views` once:

- a missing view (no result in the window) or an untrusted one (STATUS_ERROR / DROPPED) makes
  the part ONE fail-safe reject naming the camera(s): NO_RESULT for a missing view, else the
  view's own reason (ERROR_RESULT / DROPPED_FRAME);
- otherwise the fusion policy decides, each view judged by `decide()` (core/reject/decision.py):
  - `best_view`: the most confident view decides (the code is seen by one or two cameras);
  - `any_reject`: reject when any view rejects; else the most confident view's accept;
  - `all_agree`: as any_reject, and also reject (UNKNOWN_CLASS: the part's class is not known)
    when the views accept different classes.

The deciding view's outcome is the part's (class, confidence in the RejectEvent); every view
is kept with its own decision (`ViewRecord`, RejectEvent.views). `CameraTally` counts per camera.
"""
from dataclasses import dataclass, field, replace
import enum
from typing import Dict, Mapping, Optional, Sequence, Tuple

from acnn_ros.core.reject.decision import decide, Decision, RejectPolicy, RejectReason
from acnn_ros.core.results import InspectionOutcome

FUSIONS = ('best_view', 'any_reject', 'all_agree')


class ViewStatus(enum.IntEnum):
    """What came from one camera for a part; values equal ViewResult.STATUS_*."""

    OK = 0
    ERROR = 1
    DROPPED = 2
    MISSING = 3


@dataclass(frozen=True)
class ViewRecord:
    """One camera's view of a part: its outcome (None: missing), own decision, if decisive."""

    camera: str
    outcome: Optional[InspectionOutcome]
    decision: Decision
    deciding: bool = False

    @property
    def status(self) -> ViewStatus:
        """Return OK / ERROR / DROPPED as the result said, MISSING without a result."""
        if self.outcome is None:
            return ViewStatus.MISSING
        return ViewStatus(int(self.outcome.status))

    @property
    def confidence(self) -> float:
        """Return how sure the view is: its confidence, 0 without an OK result."""
        return float(self.outcome.confidence) if self.status == ViewStatus.OK else 0.0


@dataclass(frozen=True)
class FusedDecision:
    """The part's decision and every view, the deciding one marked (none: fail-safe)."""

    decision: Decision
    views: Tuple[ViewRecord, ...]

    @property
    def camera(self) -> str:
        """Return the name of the deciding view; '' for a fail-safe reject of a bad view."""
        return next((view.camera for view in self.views if view.deciding), '')

    @property
    def outcome(self) -> Optional[InspectionOutcome]:
        """Return what the deciding view saw (None for a fail-safe reject of a bad view)."""
        return next((view.outcome for view in self.views if view.deciding), None)


def fuse_views(cameras: Sequence[str], outcomes: Mapping[str, InspectionOutcome],
               policy: RejectPolicy, fusion: str) -> FusedDecision:
    """Decide a part from the outcomes of its views by camera (a camera absent: missing)."""
    if fusion not in FUSIONS:
        raise ValueError(f'fusion must be one of {FUSIONS}, got {fusion!r}')
    views = tuple(ViewRecord(camera, outcomes.get(camera), decide(outcomes.get(camera), policy))
                  for camera in cameras)
    untrusted = [view for view in views if view.status != ViewStatus.OK]
    if untrusted:
        first = untrusted[0]
        named = ', '.join(f'{view.camera} ({view.status.name.lower()})' for view in untrusted)
        return FusedDecision(Decision(True, first.decision.reason,
                                      f'camera {named}: {first.decision.detail}'), views)
    best = max(views, key=lambda view: view.confidence)   # the first camera on a tie
    if fusion == 'best_view':
        return _decided_by(best, views)
    rejecting = [view for view in views if view.decision.reject]
    if rejecting:
        return _decided_by(max(rejecting, key=lambda view: view.confidence), views)
    classes = {view.outcome.class_name for view in views}
    if fusion == 'all_agree' and len(classes) > 1:
        said = ', '.join(f'{view.camera} {view.outcome.class_name}' for view in views)
        return FusedDecision(Decision(True, RejectReason.UNKNOWN_CLASS,
                                      f'views disagree: {said}'), _marked(best, views))
    return _decided_by(best, views)


def _decided_by(view: ViewRecord, views: Tuple[ViewRecord, ...]) -> FusedDecision:
    decision = view.decision
    return FusedDecision(Decision(decision.reject, decision.reason,
                                  f'camera {view.camera}: {decision.detail}'),
                         _marked(view, views))


def _marked(deciding: ViewRecord, views: Tuple[ViewRecord, ...]) -> Tuple[ViewRecord, ...]:
    return tuple(replace(view, deciding=view.camera == deciding.camera) for view in views)


@dataclass
class CameraTally:
    """Per camera: views expected, OK / missing / error (or dropped), own rejects, decisive."""

    views: int = 0
    ok: int = 0
    missing: int = 0
    error: int = 0
    rejecting: int = 0
    deciding: int = 0


@dataclass
class CameraCounters:
    """The tally of every camera of the station, counted once per fused part."""

    cameras: Tuple[str, ...]
    by_camera: Dict[str, CameraTally] = field(default_factory=dict)

    def __post_init__(self):
        self.by_camera = {camera: CameraTally() for camera in self.cameras}

    def count(self, fused: FusedDecision) -> None:
        """Count the views of one decided part."""
        for view in fused.views:
            tally = self.by_camera[view.camera]
            tally.views += 1
            status = view.status
            if status == ViewStatus.OK:
                tally.ok += 1
                tally.rejecting += int(view.decision.reject)
            elif status == ViewStatus.MISSING:
                tally.missing += 1
            else:
                tally.error += 1
            tally.deciding += int(view.deciding)

    def snapshot(self) -> 'CameraCounters':
        """Return an independent copy."""
        copy = CameraCounters(self.cameras)
        copy.by_camera = {camera: CameraTally(**vars(tally))
                          for camera, tally in self.by_camera.items()}
        return copy

    def values(self) -> Dict[str, int]:
        """Return every count as `<camera>_<count>` (e.g. cam2_missing), for key-value lists."""
        return {f'{camera}_{name}': value for camera, tally in self.by_camera.items()
                for name, value in vars(tally).items()}
