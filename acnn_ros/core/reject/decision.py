# SPDX-License-Identifier: Apache-2.0
"""
Reject decision for one part: the rule every consumer (actuator node, offline report) applies.

Fail-safe: anything that is not a trustworthy verdict for an accept class rejects the part.
"""
from dataclasses import dataclass, field
import enum
from typing import Mapping, Optional, Tuple

from acnn_ros.core.results import InspectionOutcome, InspectionStatus


class RejectReason(enum.IntEnum):
    """Why a part was rejected; values equal RejectEvent.REASON_*."""

    NONE = 0
    REJECT_CLASS = 1
    LOW_CONFIDENCE = 2
    UNKNOWN_CLASS = 3
    ERROR_RESULT = 4
    DROPPED_FRAME = 5
    NO_RESULT = 6


FAIL_SAFE_REASONS = frozenset({RejectReason.UNKNOWN_CLASS, RejectReason.ERROR_RESULT,
                               RejectReason.DROPPED_FRAME, RejectReason.NO_RESULT})


@dataclass(frozen=True)
class RejectPolicy:
    """
    Which classes pass, and how sure the model must be.

    A class in `reject_classes` is rejected at any confidence. A class in `accept_classes`
    passes when its confidence reaches its minimum (`min_confidence_per_class`, else
    `min_confidence`). An empty `accept_classes` means every class not in `reject_classes`
    is an accept class.
    """

    accept_classes: Tuple[str, ...] = ()
    reject_classes: Tuple[str, ...] = ()
    min_confidence: float = 0.6      # also inference_node's low-confidence mark (one owner)
    min_confidence_per_class: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self):
        overlap = set(self.accept_classes) & set(self.reject_classes)
        if overlap:
            raise ValueError(f'classes both accepted and rejected: {sorted(overlap)}')
        for name, value in [('min_confidence', self.min_confidence)] + [
                (f'min_confidence_per_class[{k}]', v)
                for k, v in self.min_confidence_per_class.items()]:
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {value}')

    def threshold_for(self, class_name: str) -> float:
        """Return the minimum confidence that accepts `class_name`."""
        return float(self.min_confidence_per_class.get(class_name, self.min_confidence))


@dataclass(frozen=True)
class Decision:
    """Outcome of the policy for one part."""

    reject: bool
    reason: RejectReason
    detail: str = ''

    @property
    def fail_safe(self) -> bool:
        """Return True when the part is rejected because the vision result is not trusted."""
        return self.reject and self.reason in FAIL_SAFE_REASONS


def is_low_confidence(outcome: InspectionOutcome, policy: RejectPolicy) -> bool:
    """
    Return whether a verdict is below the minimum confidence of its class (THE rule).

    `decide` rejects such a verdict (LOW_CONFIDENCE unless its class is rejected anyway), and
    inference_node draws and counts it as low-confidence with the same policy thresholds.
    """
    return outcome.status == InspectionStatus.OK and \
        outcome.confidence < policy.threshold_for(outcome.class_name)


def decide(outcome: Optional[InspectionOutcome], policy: RejectPolicy) -> Decision:
    """Decide one part from its inspection outcome (None: no result arrived in time)."""
    if outcome is None:
        return Decision(True, RejectReason.NO_RESULT, 'no inspection result in time')
    if outcome.status == InspectionStatus.ERROR:
        return Decision(True, RejectReason.ERROR_RESULT, outcome.detail or 'inspection error')
    if outcome.status == InspectionStatus.DROPPED:
        return Decision(True, RejectReason.DROPPED_FRAME, outcome.detail or 'frame dropped')
    name = outcome.class_name
    if name in policy.reject_classes:
        return Decision(True, RejectReason.REJECT_CLASS, f'class {name} is a reject class')
    if policy.accept_classes and name not in policy.accept_classes:
        return Decision(True, RejectReason.UNKNOWN_CLASS,
                        f'class {name!r} is neither an accept nor a reject class')
    if is_low_confidence(outcome, policy):
        return Decision(True, RejectReason.LOW_CONFIDENCE,
                        f'confidence {outcome.confidence:.3f} < '
                        f'{policy.threshold_for(name):.3f} for {name}')
    return Decision(False, RejectReason.NONE, f'{name} {outcome.confidence:.3f}')
