# SPDX-License-Identifier: Apache-2.0
"""
The reject line's tally (`LineTally`), the ROS-free twin of the message acnn_ros/msg/LineCounters.

A part is counted once, when its outcome is final (accepted: when decided; rejected: when the
actuation fired, was missed, or the decision came late), so the identities below hold at every
instant, not only when the line is idle:

    inspected == accepted + rejected
    rejected  == sum(rejected_by_reason)
    fired + missed + late == rejected + accepted_late

(`late` counts late decisions of either verdict; `accepted_late` is the accepted share of it.)
"""
from dataclasses import dataclass, field, replace
import enum
from typing import Dict, List, Tuple

from acnn_ros.core.health import LEVEL_ERROR, LEVEL_OK, LEVEL_WARN
from acnn_ros.core.rate_monitor import rate_level, RateReport
from acnn_ros.core.reject.decision import RejectReason


class Delivery(enum.IntEnum):
    """What happened to the actuation of a decision; values equal RejectEvent.DELIVERY_*."""

    NOT_REQUIRED = 0
    FIRED = 1
    MISSED = 2
    LATE = 3


REJECT_REASONS = tuple(r for r in RejectReason if r != RejectReason.NONE)


@dataclass
class LineTally:
    """Counts of decided parts since `since` (seconds, same clock as capture stamps)."""

    since: float = 0.0
    inspected: int = 0
    accepted: int = 0
    rejected: int = 0
    rejected_by_reason: Dict[RejectReason, int] = field(
        default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0))
    fired: int = 0
    missed: int = 0
    late: int = 0
    accepted_late: int = 0
    # Not part of the identities: results that came after their part passed the ejector
    # (whatever was decided for it), repeated results for a part already decided, and accept
    # verdicts the PLC did not get in time (it rejects those parts by its own default).
    late_results: int = 0
    duplicate_results: int = 0
    accepts_undelivered: int = 0
    # Results of frames no PartTrigger announced (not parts: never decided, never written).
    results_without_trigger: int = 0

    def count(self, reject: bool, reason: RejectReason, delivery: Delivery) -> None:
        """Count one final part outcome."""
        self.inspected += 1
        if reject:
            self.rejected += 1
            self.rejected_by_reason[RejectReason(reason)] += 1
        else:
            self.accepted += 1
        if delivery == Delivery.FIRED:
            self.fired += 1
        elif delivery == Delivery.MISSED:
            self.missed += 1
        elif delivery == Delivery.LATE:
            self.late += 1
            if not reject:
                self.accepted_late += 1

    def reset(self, now: float) -> None:
        """Zero every count; `since` becomes `now`."""
        fresh = LineTally(since=now)
        self.__dict__.update(fresh.__dict__)

    def snapshot(self) -> 'LineTally':
        """Return an independent copy."""
        return replace(self, rejected_by_reason=dict(self.rejected_by_reason))

    def discrepancies(self) -> List[str]:
        """Return every identity that does not hold (empty: the counters reconcile)."""
        problems = []
        if self.inspected != self.accepted + self.rejected:
            problems.append(f'inspected {self.inspected} != accepted {self.accepted} + '
                            f'rejected {self.rejected}')
        by_reason = sum(self.rejected_by_reason.values())
        if self.rejected != by_reason:
            problems.append(f'rejected {self.rejected} != sum by reason {by_reason}')
        if self.fired + self.missed + self.late != self.rejected + self.accepted_late:
            problems.append(f'fired {self.fired} + missed {self.missed} + late {self.late} != '
                            f'rejected {self.rejected} + accepted_late {self.accepted_late}')
        return problems

    def summary(self) -> str:
        """Return a one-line human-readable summary."""
        reasons = ' '.join(f'{r.name.lower()}={n}' for r, n in self.rejected_by_reason.items()
                           if n)
        return (f'inspected={self.inspected} accepted={self.accepted} rejected={self.rejected}'
                f' ({reasons or "-"}) fired={self.fired} missed={self.missed} late={self.late}'
                f' late_results={self.late_results} duplicates={self.duplicate_results}'
                f' accepts_undelivered={self.accepts_undelivered}'
                f' results_without_trigger={self.results_without_trigger}')


def line_health(previous: LineTally, current: LineTally, actuator_ok: bool,
                actuator_detail: str) -> Tuple[int, str]:
    """
    Return (level, message) for the diagnostics of one period.

    ERROR: the actuator is down or a reject was missed in the period; WARN: a late decision, a
    late result or an accept verdict the PLC did not get; OK otherwise.
    """
    new = {name: getattr(current, name) - getattr(previous, name)
           for name in ('missed', 'late', 'late_results', 'accepts_undelivered')}
    if new['missed'] > 0 or not actuator_ok:
        return LEVEL_ERROR, f'{max(new["missed"], 0)} missed rejects; {actuator_detail}'
    if new['late'] > 0 or new['late_results'] > 0 or new['accepts_undelivered'] > 0:
        return LEVEL_WARN, (f'{new["late"]} late decisions, {new["late_results"]} late results, '
                            f'{new["accepts_undelivered"]} accepts not delivered; '
                            f'{actuator_detail}')
    return LEVEL_OK, actuator_detail


def decided_on_result_rate(previous: LineTally, current: LineTally, period_s: float
                           ) -> RateReport:
    """
    Return parts decided on an OK result per second against parts decided per second.

    The actuator's achieved rate against its target (issue 12): WARN below 95 %, when parts
    were rejected fail-safe because their result was missing, dropped or an error.
    """
    parts = current.inspected - previous.inspected
    failed = sum(current.rejected_by_reason[r] - previous.rejected_by_reason[r] for r in (
        RejectReason.NO_RESULT, RejectReason.DROPPED_FRAME, RejectReason.ERROR_RESULT))
    if parts <= 0 or period_s <= 0:     # idle, or the counters were reset
        return rate_level(0.0, 0.0, 'parts decided on a result')
    return rate_level((parts - failed) / period_s, parts / period_s, 'parts decided on a result')


def counter_values(counters: LineTally) -> Dict[str, int]:
    """Return every count by name (rejected_* per reason included), for key-value displays."""
    values = {name: value for name, value in vars(counters).items()
              if name not in ('since', 'rejected_by_reason')}
    values.update({f'rejected_{reason.name.lower()}': count
                   for reason, count in counters.rejected_by_reason.items()})
    return values


class PartsWithoutInference:
    """
    Parts announced while no inference_node publishes `inspection` (down, or not yet matched).

    They are decided fail-safe (no result) by the scheduler, whose NO RESULT episode says the
    fault once (issue 19: one fault, one line); this only counts them for the diagnostics.
    """

    def __init__(self):
        self.count = 0

    def note(self, inference_matched: bool) -> None:
        """Count one part if no inference_node was matched when it was announced."""
        self.count += not inference_matched
