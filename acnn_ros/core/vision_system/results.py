# SPDX-License-Identifier: Apache-2.0
"""
The vision system's results: one per part, numbered without gaps, the last N kept.

A part's result joins what inference said about its frame (the `inspection` topic, by frame
key) with the part's decision (the `reject` topic: exactly one RejectEvent per part). It is
created when the decision arrives, so there is one result per part even when inference never
answered (ResultState Failed). Results are what ResultReadyEvent carries and GetResultById /
GetResultListFiltered return (OPC 40100-1, ResultDataType).
"""
from collections import deque, OrderedDict
from dataclasses import dataclass
from typing import Deque, Dict, Optional, Tuple

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.results import InspectionOutcome, InspectionStatus

# ResultStateDataType values (OPC 40100-1 12.19).
RESULT_COMPLETED = 1
RESULT_FAILED = 4
# How many inspection outcomes wait for their part's decision at most (a part decided after
# this many newer frames gets a result without the inference fields).
PENDING_OUTCOMES = 2000


@dataclass(frozen=True)
class PartDecision:
    """The fields of one RejectEvent the result needs (nodes convert the message)."""

    key: FrameKey
    part_id: int
    decision: str            # 'accept' | 'reject'
    reason: str              # RejectEvent.REASON_* as a word ('reject_class', 'no_result', ...)
    class_name: str
    confidence: float


@dataclass(frozen=True)
class PartResult:
    """One part's result as OPC UA clients see it."""

    result_id: int
    part_id: int
    job_id: str
    recipe_id: str            # InternalRecipeId: the recipe prepared (model id)
    configuration_id: str     # InternalConfigurationId
    result_state: int         # RESULT_COMPLETED | RESULT_FAILED
    capture_time: float       # s since the epoch (the frame's header stamp)
    creation_time: float      # s since the epoch (when the result was made)
    processing_ms: float      # inference_node's total time for the frame (0: none)
    decision: PartDecision
    outcome: Optional[InspectionOutcome]

    @property
    def roi(self) -> Tuple[float, float, float, float]:
        """Return the ROI (centre x, centre y, width, height) in source pixels, or zeros."""
        roi = self.outcome.roi if self.outcome is not None else None
        return (roi.center_x, roi.center_y, roi.width, roi.height) if roi else (0.0,) * 4

    def content(self) -> Tuple[Tuple[str, object], ...]:
        """Return the ResultContent items: (key, value), in a fixed order."""
        decision = self.decision
        return (('class', decision.class_name), ('confidence', float(decision.confidence)),
                ('roi', [float(v) for v in self.roi]), ('decision', decision.decision),
                ('reason', decision.reason), ('camera', decision.key.frame_id))


class ResultBook:
    """Joins outcomes and decisions into PartResults; keeps the last `history` of them."""

    def __init__(self, history: int = 100):
        self.history = history
        self._pending: 'OrderedDict[FrameKey, Tuple[InspectionOutcome, float]]' = OrderedDict()
        self._results: Deque[PartResult] = deque(maxlen=history)
        self._by_id: Dict[int, PartResult] = {}
        self.last_id = 0

    def add_outcome(self, key: FrameKey, outcome: InspectionOutcome, total_ms: float) -> None:
        """Keep what inference said about the frame `key` until its part is decided."""
        self._pending[key] = (outcome, total_ms)
        while len(self._pending) > PENDING_OUTCOMES:
            self._pending.popitem(last=False)

    def add_decision(self, decision: PartDecision, now: float, job_id: str, recipe_id: str,
                     configuration_id: str) -> PartResult:
        """Return the part's result (the next result id), joined with its outcome if seen."""
        outcome, total_ms = self._pending.pop(decision.key, (None, 0.0))
        completed = outcome is not None and outcome.status == InspectionStatus.OK
        self.last_id += 1
        result = PartResult(
            result_id=self.last_id, part_id=decision.part_id, job_id=job_id,
            recipe_id=recipe_id, configuration_id=configuration_id,
            result_state=RESULT_COMPLETED if completed else RESULT_FAILED,
            capture_time=decision.key.capture_time, creation_time=now,
            processing_ms=float(total_ms), decision=decision, outcome=outcome)
        if len(self._results) == self._results.maxlen:
            self._by_id.pop(self._results[0].result_id, None)
        self._results.append(result)
        self._by_id[result.result_id] = result
        return result

    def get(self, result_id: int) -> Optional[PartResult]:
        """Return the result `result_id` if it is among the last `history`."""
        return self._by_id.get(result_id)

    def latest(self, count: int) -> Tuple[PartResult, ...]:
        """Return the newest `count` results, newest first."""
        return tuple(reversed(self._results))[:count]
