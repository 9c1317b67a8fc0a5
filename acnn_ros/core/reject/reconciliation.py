# SPDX-License-Identifier: Apache-2.0
"""
Reconcile what a run of the line did, part by part.

Every frame must get one result, every part one decision, every fired reject one PLC write;
where the ground truth is known, the defective parts are compared with the rejected ones.

The accounting checks decide pass/fail. The ground-truth comparison measures the model (a
misclassified part is a model error, not an accounting error) and is reported beside them.
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.plc.contract import VERDICT_REJECT
from acnn_ros.core.reject.counters import Delivery
from acnn_ros.core.reject.decision import decide, RejectPolicy, RejectReason
from acnn_ros.core.results import InspectionOutcome, InspectionStatus


@dataclass(frozen=True)
class CapturedPart:
    """A frame the camera published."""

    part_id: int
    header: FrameKey
    truth_class: Optional[str] = None      # ground truth class name, None when unknown


@dataclass(frozen=True)
class ViewRecordSummary:
    """One camera's view of a part as its RejectEvent reports it."""

    camera: str
    status: int
    class_name: str
    confidence: float


@dataclass(frozen=True)
class RejectEventRecord:
    """A RejectEvent, reduced to what is reconciled."""

    part_id: int
    header: FrameKey
    reject: bool
    reason: int
    delivery: int
    views: Tuple[ViewRecordSummary, ...] = ()    # a station's cameras (RejectEvent.views)


@dataclass
class LineLedger:
    """Everything seen during a run; filled by the runner, read by `reconcile`."""

    captured: List[CapturedPart] = field(default_factory=list)
    results: List[Tuple[FrameKey, int]] = field(default_factory=list)    # (header, status)
    decisions: List[RejectEventRecord] = field(default_factory=list)
    plc_decisions: List[Tuple[int, int]] = field(default_factory=list)    # (part id, verdict code)
    # Rising edges of the reject coil; None when no coil is pulsed (no coil, tracked timing).
    plc_coil_pulses: Optional[int] = None
    # A station: the frame_id of each camera; a part is then one frame of each, same stamp.
    cameras: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    """One accounting check."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Reconciliation:
    """Result of `reconcile`."""

    checks: Tuple[Check, ...]
    truth: Dict[str, int]                 # ground-truth counts ({} when unknown)
    rejects_by_reason: Dict[str, int]

    @property
    def ok(self) -> bool:
        """Return True when every accounting check passed."""
        return all(check.ok for check in self.checks)


def _first(items: Iterable, limit: int = 5) -> str:
    items = sorted(items)
    return ', '.join(str(i) for i in items[:limit]) + (' ...' if len(items) > limit else '')


def _exactly_once(name: str, expected: Iterable, seen: Iterable, what: str) -> Check:
    expected, counts = set(expected), Counter(seen)
    missing = expected - set(counts)
    extra = set(counts) - expected
    twice = {k for k, n in counts.items() if n > 1}
    ok = not (missing or extra or twice)
    detail = f'{len(expected)} expected, {sum(counts.values())} {what}'
    for label, keys in (('missing', missing), ('unexpected', extra), ('more than once', twice)):
        if keys:
            detail += f'; {label}: {len(keys)} ({_first(keys)})'
    return Check(name, ok, detail)


def frame_keys(parts: Iterable[CapturedPart], cameras: Tuple[str, ...]) -> List[FrameKey]:
    """Return the frames of the parts: their own, or one per station camera at their stamp."""
    if not cameras:
        return [part.header for part in parts]
    return [FrameKey(part.header.stamp_ns, camera) for part in parts for camera in cameras]


def reconcile(ledger: LineLedger, defective_classes: Iterable[str],
              plc_used: bool = True) -> Reconciliation:
    """Check the ledger; see the module docstring."""
    parts = {p.part_id: p for p in ledger.captured}
    checks = [
        Check('part ids 1..N', sorted(parts) == list(range(1, len(parts) + 1)),
              f'{len(parts)} frames captured'),
        _exactly_once('one verdict per frame', frame_keys(parts.values(), ledger.cameras),
                      (h for h, _ in ledger.results), 'verdicts'),
        _exactly_once('one decision per part', parts, (d.part_id for d in ledger.decisions),
                      'decisions'),
    ]
    wrong_header = [d.part_id for d in ledger.decisions
                    if d.part_id in parts and d.header != parts[d.part_id].header]
    checks.append(Check('decisions carry the capture header', not wrong_header,
                        f'{len(wrong_header)} mismatched' + (
                            f' ({_first(wrong_header)})' if wrong_header else '')))
    rejects = [d for d in ledger.decisions if d.reject]
    undelivered = [d.part_id for d in rejects if d.delivery != Delivery.FIRED]
    checks.append(Check('every reject fired in time', not undelivered,
                        f'{len(rejects)} rejects, {len(undelivered)} missed or late' + (
                            f' ({_first(undelivered)})' if undelivered else '')))
    if plc_used:
        fired = [d.part_id for d in rejects if d.delivery == Delivery.FIRED]
        # A write whose reply came too late reaches the PLC for a part counted as missed:
        # the check above already fails for that part, so it is not counted twice here.
        undelivered_ids = set(undelivered)
        plc_rejects = [pid for pid, verdict in ledger.plc_decisions
                       if verdict == VERDICT_REJECT and pid not in undelivered_ids]
        checks.append(_exactly_once('every fired reject written to the PLC once', fired,
                                    plc_rejects, 'PLC reject writes'))
        if ledger.plc_coil_pulses is not None:
            # Likewise a reject given up while its coil write was on the wire may still have
            # pulsed: that part already fails above, so its pulse is neither required nor extra.
            pulses = ledger.plc_coil_pulses
            checks.append(Check('one ejector pulse per fired reject',
                                len(fired) <= pulses <= len(fired) + len(undelivered),
                                f'{len(fired)} fired rejects, {pulses} coil pulses'))
    by_reason = Counter(RejectReason(d.reason).name.lower() for d in rejects)
    truth = {}
    known = [p for p in parts.values() if p.truth_class is not None]
    if known:
        defective = {p.part_id for p in known if p.truth_class in set(defective_classes)}
        rejected = {d.part_id for d in rejects}
        good = {p.part_id for p in known} - defective
        truth = {'parts_with_truth': len(known), 'defective': len(defective),
                 'defective_rejected': len(defective & rejected),
                 'defective_accepted': len(defective - rejected),
                 'good_accepted': len(good - rejected),
                 'good_rejected': len(good & rejected)}
    return Reconciliation(tuple(checks), truth, dict(by_reason))


def wrong_by_camera(ledger: LineLedger, defective_classes: Iterable[str],
                    policy: RejectPolicy) -> Dict[str, int]:
    """
    Return, for a station's parts with known truth, how many each way of deciding got wrong.

    'station' counts the fused decisions (a defective part accepted or a good part rejected);
    each camera, the decisions its view alone would have given (`decide` on that view, a
    missing or failed view a fail-safe reject). Model quality, not accounting.
    """
    truth = {p.part_id: p.truth_class for p in ledger.captured if p.truth_class is not None}
    defective = set(defective_classes)
    wrong = Counter(dict.fromkeys(ledger.cameras, 0))
    wrong['station'] = 0
    for record in ledger.decisions:
        if record.part_id not in truth or not record.views:
            continue
        should_reject = truth[record.part_id] in defective
        wrong['station'] += record.reject != should_reject
        for view in record.views:
            outcome = InspectionOutcome(InspectionStatus(view.status),
                                        class_name=view.class_name,
                                        confidence=view.confidence) if view.status <= 2 else None
            wrong[view.camera] += decide(outcome, policy).reject != should_reject
    return dict(wrong)
