# SPDX-License-Identifier: Apache-2.0
"""
A station's recording judged per part: each camera alone, and the views fused (issue 21.6).

The frames of one part share their capture stamp and differ in frame_id (the camera).
`station_summary` groups a recording's FrameEvaluations so, fuses each part's views with the
reject actuator's rule (`fuse_views`, core/reject/fusion.py, the same policy and fusion) and
compares every way of deciding with the decision the part's true class calls for: escapes
(a defective part accepted), false rejects (a good part rejected) and right decisions.
"""
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

from acnn_ros.core.reject.decision import RejectPolicy
from acnn_ros.core.reject.fusion import fuse_views
from acnn_ros.core.replay.metrics import FrameEvaluation


@dataclass
class DecisionTally:
    """How one way of deciding did on the parts with a known class."""

    parts: int = 0
    right: int = 0
    escapes: int = 0
    false_rejects: int = 0

    def count(self, reject: bool, should_reject: bool) -> None:
        """Count one part's decision against the decision its true class calls for."""
        self.parts += 1
        self.right += reject == should_reject
        self.escapes += should_reject and not reject
        self.false_rejects += reject and not should_reject

    @property
    def right_rate(self) -> float:
        """Return the share of parts decided right (0 without parts)."""
        return self.right / self.parts if self.parts else 0.0


@dataclass
class StationSummary:
    """The fused decision and each camera alone, over a recording's parts."""

    cameras: List[str]
    fusion: str
    parts: int = 0
    incomplete_parts: int = 0          # parts missing a camera's frame (fail-safe rejects)
    fused: DecisionTally = field(default_factory=DecisionTally)
    by_camera: Dict[str, DecisionTally] = field(default_factory=dict)

    def lines(self) -> List[str]:
        """Return the summary as report lines."""
        def said(tally: DecisionTally) -> str:
            return (f'{tally.right}/{tally.parts} right ({tally.right_rate * 100:.1f} %), '
                    f'{tally.escapes} escapes, {tally.false_rejects} false rejects')
        lines = [f'station of {len(self.cameras)} cameras ({", ".join(self.cameras)}), '
                 f'{self.parts} parts ({self.incomplete_parts} missing a view), fusion '
                 f'{self.fusion}: {said(self.fused)}']
        lines += [f'  {camera} alone: {said(tally)}' for camera, tally in self.by_camera.items()]
        return lines


def station_summary(evaluations: Sequence[FrameEvaluation], cameras: Sequence[str],
                    policy: RejectPolicy, fusion: str = 'best_view') -> StationSummary:
    """Group frames into parts by stamp, fuse each part's views, tally every way of deciding."""
    summary = StationSummary(list(cameras), fusion,
                             by_camera={camera: DecisionTally() for camera in cameras})
    parts: Dict[int, Dict[str, FrameEvaluation]] = defaultdict(dict)
    for frame in evaluations:
        parts[frame.ref.stamp_ns][frame.ref.frame_id] = frame
    for views in parts.values():
        summary.parts += 1
        summary.incomplete_parts += any(camera not in views for camera in cameras)
        expected = next((v.expected for v in views.values() if v.expected is not None), None)
        if expected is None:
            continue        # no ground truth for this part
        fused = fuse_views(cameras, {c: v.outcome for c, v in views.items()}, policy, fusion)
        summary.fused.count(fused.decision.reject, expected.reject)
        for camera in cameras:
            view = views.get(camera)
            summary.by_camera[camera].count(view is None or view.decision.reject,
                                            expected.reject)
    return summary
