# SPDX-License-Identifier: Apache-2.0
"""
Offline evaluation metrics over a sequence of inspected frames (no ROS, no I/O of bags).

A run of the pipeline over a bag or an image folder gives one `FrameEvaluation` per frame: the
pipeline's outcome, the reject decision `core.decision.decide` takes for it, and the ground
truth when labels exist. `summarize` turns them into accuracy, a confusion matrix, ROI-centre
errors, latency statistics and the reject decisions the line would have taken (including
"escapes": parts the truth says must be rejected that the model let pass).
"""
from dataclasses import dataclass, field
import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from acnn_ros.core.dataset.labels import GroundTruth
from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.reject.decision import decide, Decision, RejectPolicy, RejectReason
from acnn_ros.core.results import InspectionOutcome, InspectionStatus
from acnn_ros.core.roi import center_error_px
import numpy as np

NO_RESULT = '(no verdict)'      # confusion-matrix column for ERROR/DROPPED frames


@dataclass(frozen=True)
class FrameRef:
    """Where a frame came from: its position, identity (header) and file or topic."""

    index: int
    stamp_ns: int = 0
    frame_id: str = ''
    source: str = ''          # bag topic, or image path for folders
    image_name: str = ''      # file name for image-folder frames, '' for bag frames

    @property
    def key(self) -> FrameKey:
        """Return the identity of the frame as its header gives it (bag frames)."""
        return FrameKey(self.stamp_ns, self.frame_id)


@dataclass(frozen=True)
class FrameEvaluation:
    """Everything known about one frame after inspection."""

    ref: FrameRef
    outcome: InspectionOutcome
    decision: Decision
    truth: Optional[GroundTruth] = None
    expected: Optional[Decision] = None     # decision a perfect model would cause

    @property
    def ok(self) -> bool:
        """Return True when the model produced a result."""
        return self.outcome.status == InspectionStatus.OK

    @property
    def labelled(self) -> bool:
        """Return True when the frame has a true class."""
        return self.truth is not None and bool(self.truth.class_name)

    @property
    def correct(self) -> Optional[bool]:
        """Return whether the predicted class is the true one (None without a label)."""
        if not self.labelled:
            return None
        return self.ok and self.outcome.class_name == self.truth.class_name

    @property
    def roi_error_px(self) -> Optional[float]:
        """Return the distance between predicted and true ROI centres, when both exist."""
        if not self.ok or self.outcome.roi is None or self.truth is None \
                or self.truth.roi is None:
            return None
        return center_error_px(self.outcome.roi, self.truth.roi)

    @property
    def escape(self) -> bool:
        """Return True when the truth says reject but the decision accepted the part."""
        return self.expected is not None and self.expected.reject and not self.decision.reject

    @property
    def false_reject(self) -> bool:
        """Return True when the truth says accept but the decision rejected the part."""
        return self.expected is not None and not self.expected.reject and self.decision.reject

    def row(self) -> Dict[str, object]:
        """Return a flat dict for the per-frame CSV / JSON table."""
        outcome, roi = self.outcome, self.outcome.roi
        truth_roi = self.truth.roi if self.truth else None
        error = self.roi_error_px
        return {
            'index': self.ref.index,
            'stamp_ns': self.ref.stamp_ns,
            'frame_id': self.ref.frame_id,
            'source': self.ref.source,
            'status': outcome.status.name,
            'detail': outcome.detail,
            'class_id': outcome.class_id,
            'class_name': outcome.class_name,
            'confidence': round(float(outcome.confidence), 6),
            'roi_cx': _round(roi.center_x if roi else None),
            'roi_cy': _round(roi.center_y if roi else None),
            'roi_w': _round(roi.width if roi else None),
            'roi_h': _round(roi.height if roi else None),
            'true_class_id': self.truth.class_id if self.truth else '',
            'true_class_name': self.truth.class_name if self.truth else '',
            'true_roi_cx': _round(truth_roi.center_x if truth_roi else None),
            'true_roi_cy': _round(truth_roi.center_y if truth_roi else None),
            'correct': '' if self.correct is None else bool(self.correct),
            'roi_error_px': _round(error),
            'decision': 'reject' if self.decision.reject else 'accept',
            'reason': self.decision.reason.name,
            'reason_detail': self.decision.detail,
            'expected_decision': ('' if self.expected is None
                                  else 'reject' if self.expected.reject else 'accept'),
            'escape': self.escape,
            'false_reject': self.false_reject,
            'pipeline_ms': round(float(outcome.times.pipeline_ms), 3),
            'inference_ms': round(float(outcome.times.inference_ms), 3),
            'model_id': outcome.model_id,
        }


def _round(value: Optional[float], digits: int = 3):
    return '' if value is None else round(float(value), digits)


def expected_decision(truth: Optional[GroundTruth], policy: RejectPolicy) -> Optional[Decision]:
    """Return the decision the policy takes for a perfect result of the true class."""
    if truth is None or not truth.class_name:
        return None
    perfect = InspectionOutcome(status=InspectionStatus.OK, class_id=truth.class_id,
                                class_name=truth.class_name, confidence=1.0, roi=truth.roi)
    return decide(perfect, policy)


def judge_frame(ref: FrameRef, outcome: InspectionOutcome, policy: RejectPolicy,
                truth: Optional[GroundTruth] = None) -> FrameEvaluation:
    """Apply the reject policy to one outcome and attach its ground truth."""
    return FrameEvaluation(ref, outcome, decide(outcome, policy), truth,
                           expected_decision(truth, policy))


@dataclass(frozen=True)
class Distribution:
    """Summary statistics and histogram of a list of values (milliseconds, pixels)."""

    count: int = 0
    mean: float = math.nan
    p50: float = math.nan
    p95: float = math.nan
    p99: float = math.nan
    max: float = math.nan  # noqa: A003 (statistics field name)
    histogram_edges: Tuple[float, ...] = ()
    histogram_counts: Tuple[int, ...] = ()

    @classmethod
    def of(cls, values: Sequence[float], bins: int = 20) -> 'Distribution':
        """Compute the statistics of `values` (empty input gives NaNs)."""
        data = np.asarray([v for v in values if v is not None], dtype=np.float64)
        if data.size == 0:
            return cls()
        counts, edges = np.histogram(data, bins=bins)
        p50, p95, p99 = np.percentile(data, [50, 95, 99])
        return cls(int(data.size), float(data.mean()), float(p50), float(p95), float(p99),
                   float(data.max()), tuple(float(e) for e in edges),
                   tuple(int(c) for c in counts))


@dataclass(frozen=True)
class EvalSummary:
    """Aggregate results of an evaluation run."""

    frames: int
    ok: int
    errors: int
    dropped: int
    labelled: int
    correct: int
    class_names: Tuple[str, ...]
    confusion: Tuple[Tuple[int, ...], ...]     # rows: true class; columns: predicted + NO_RESULT
    roi_error_px: Distribution
    pipeline_ms: Distribution
    inference_ms: Distribution
    decisions: Mapping[str, int]               # reason name -> frames
    rejected: int
    expected_rejects: int
    escapes: int
    false_rejects: int
    model_id: str = ''
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        """Return correct / labelled (NaN without labels); errors count as wrong."""
        return self.correct / self.labelled if self.labelled else math.nan

    @property
    def confusion_columns(self) -> Tuple[str, ...]:
        """Return the confusion-matrix column names."""
        return self.class_names + (NO_RESULT,)

    def per_class_recall(self) -> Dict[str, float]:
        """Return recall per true class (NaN for a class without frames)."""
        recall = {}
        for row_index, name in enumerate(self.class_names):
            row = self.confusion[row_index]
            total = sum(row)
            recall[name] = row[row_index] / total if total else math.nan
        return recall


def summarize(frames: Sequence[FrameEvaluation], class_names: Sequence[str],
              model_id: str = '') -> EvalSummary:
    """Aggregate per-frame evaluations; true classes unknown to the model get their own row."""
    names = list(class_names)
    for frame in frames:
        if frame.labelled and frame.truth.class_name not in names:
            names.append(frame.truth.class_name)
    columns = names + [NO_RESULT]
    matrix = np.zeros((len(names), len(columns)), dtype=np.int64)
    decisions: Dict[str, int] = {reason.name: 0 for reason in RejectReason}
    for frame in frames:
        decisions[frame.decision.reason.name] += 1
        if not frame.labelled:
            continue
        predicted = frame.outcome.class_name if frame.ok else NO_RESULT
        column = columns.index(predicted) if predicted in columns else len(columns) - 1
        matrix[names.index(frame.truth.class_name), column] += 1
    status = [v.outcome.status for v in frames]
    ok_frames = [v for v in frames if v.ok]
    return EvalSummary(
        frames=len(frames),
        ok=status.count(InspectionStatus.OK),
        errors=status.count(InspectionStatus.ERROR),
        dropped=status.count(InspectionStatus.DROPPED),
        labelled=sum(1 for v in frames if v.labelled),
        correct=sum(1 for v in frames if v.correct),
        class_names=tuple(names),
        confusion=tuple(tuple(int(c) for c in row) for row in matrix),
        roi_error_px=Distribution.of([v.roi_error_px for v in frames]),
        pipeline_ms=Distribution.of([v.outcome.times.pipeline_ms for v in ok_frames]),
        inference_ms=Distribution.of([v.outcome.times.inference_ms for v in ok_frames]),
        decisions=decisions,
        rejected=sum(1 for v in frames if v.decision.reject),
        expected_rejects=sum(1 for v in frames if v.expected and v.expected.reject),
        escapes=sum(1 for v in frames if v.escape),
        false_rejects=sum(1 for v in frames if v.false_reject),
        model_id=model_id)


def badness(frame: FrameEvaluation) -> Tuple[float, ...]:
    """
    Return a sort key: larger is worse.

    Order: escapes, wrong classes (by confidence), no result, false rejects, then correct
    frames by low confidence and ROI error.
    """
    roi_error = frame.roi_error_px or 0.0
    confidence = float(frame.outcome.confidence)
    if frame.escape:
        return (5.0, confidence, roi_error)
    if frame.correct is False and frame.ok:
        return (4.0, confidence, roi_error)
    if not frame.ok:
        return (3.0, 0.0, 0.0)
    if frame.false_reject or (frame.expected is None and frame.decision.reject):
        return (2.0, 1.0 - confidence, roi_error)
    return (1.0, 1.0 - confidence, roi_error)


def worst_frames(frames: Sequence[FrameEvaluation], count: int) -> List[FrameEvaluation]:
    """Return the `count` worst frames, worst first (ties keep bag order)."""
    ranked = sorted(frames, key=lambda v: tuple(-x for x in badness(v)) + (v.ref.index,))
    return ranked[:max(0, count)]


@dataclass(frozen=True)
class FrameChange:
    """One frame whose result or decision differs between two runs (models or policies)."""

    a: FrameEvaluation
    b: FrameEvaluation

    @property
    def what(self) -> str:
        """Return a short description: class change, decision change or both."""
        parts = []
        if _class_label(self.a) != _class_label(self.b):
            parts.append(f'class {_class_label(self.a)} -> {_class_label(self.b)}')
        if self.a.decision.reject != self.b.decision.reject:
            parts.append(f'{_decision_label(self.a)} -> {_decision_label(self.b)}')
        elif self.a.decision.reason != self.b.decision.reason:
            parts.append(f'reason {self.a.decision.reason.name} -> '
                         f'{self.b.decision.reason.name}')
        return '; '.join(parts)


def _class_label(frame: FrameEvaluation) -> str:
    return frame.outcome.class_name if frame.ok else frame.outcome.status.name


def _decision_label(frame: FrameEvaluation) -> str:
    return 'reject' if frame.decision.reject else 'accept'


def frame_changes(run_a: Sequence[FrameEvaluation],
                  run_b: Sequence[FrameEvaluation]) -> List[FrameChange]:
    """Return the frames whose class, decision or reject reason differ between two runs."""
    if len(run_a) != len(run_b):
        raise ValueError(f'runs cover different frames: {len(run_a)} vs {len(run_b)}')
    changes = []
    for a, b in zip(run_a, run_b):
        if a.ref.index != b.ref.index:
            raise ValueError(f'runs are not aligned at frame {a.ref.index} / {b.ref.index}')
        if (_class_label(a) != _class_label(b) or a.decision.reject != b.decision.reject
                or a.decision.reason != b.decision.reason):
            changes.append(FrameChange(a, b))
    return changes


# ----------------------------------------------------------------- results recorded live


@dataclass(frozen=True)
class RecordedResult:
    """A result the live line published for a frame (a recorded InspectionResult)."""

    status: int
    class_name: str
    confidence: float
    model_id: str = ''


@dataclass(frozen=True)
class RecordedComparison:
    """Offline results against the results recorded live for the same frames."""

    matched: int                                   # frames with a recorded result
    agree: int                                     # same status and class
    disagreements: Tuple[Tuple[FrameEvaluation, RecordedResult], ...]
    model_ids: Tuple[str, ...]                     # models the line ran

    @property
    def agreement(self) -> float:
        """Return agree / matched (NaN when nothing matched)."""
        return self.agree / self.matched if self.matched else math.nan


def compare_recorded(frames: Sequence[FrameEvaluation],
                     recorded: Mapping[FrameKey, RecordedResult]) -> RecordedComparison:
    """Join offline results with recorded live ones by frame key and compare classes."""
    matched, agree, disagreements, models = 0, 0, [], set()
    for frame in frames:
        live = recorded.get(frame.ref.key)
        if live is None:
            continue
        matched += 1
        models.add(live.model_id)
        same_status = int(frame.outcome.status) == int(live.status)
        if same_status and (not frame.ok or frame.outcome.class_name == live.class_name):
            agree += 1
        else:
            disagreements.append((frame, live))
    return RecordedComparison(matched, agree, tuple(disagreements), tuple(sorted(models)))
