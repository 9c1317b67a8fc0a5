# SPDX-License-Identifier: Apache-2.0
"""
Escape rate against false-reject rate over the confidence threshold (`acnn thresholds`).

The line's one reject rule is `core.reject.decision.decide`: a part is rejected when its
result is not OK, its class is a reject class or neither an accept nor a reject class, or its
confidence is below the threshold of its predicted class (`min_confidence_per_class[class]`,
else `min_confidence`); a part is accepted when `confidence >= threshold`. So for every
validation frame, `decide` under the policy with all thresholds at 0 tells whether the
threshold matters at all: if that rejects, the part is rejected at every threshold; if not,
it is accepted exactly when its confidence reaches the threshold of its predicted class.
`sweep_frames` takes that one call per frame; the curves are then counts over a grid of
thresholds (`THRESHOLDS`: 0.000 .. 1.000 in steps of 0.001, the values printed in YAML, so
the chosen value is exact). `check_policy` re-runs `decide` itself on every frame with the
chosen policy, and that is what is reported.

Rates: escape rate = escapes / parts the truth says to reject (defective, `expected` reject);
false-reject rate = good parts rejected / good parts. The per-class curve of class c counts
only the parts the model calls c (those `min_confidence_per_class[c]` decides), over the same
denominators as the overall curve, so per-class escapes add up to the overall ones.
"""
from dataclasses import dataclass, replace
import math
from typing import Dict, List, Optional, Sequence, Tuple

from acnn_ros.core.reject.decision import decide, RejectPolicy
from acnn_ros.core.replay.metrics import FrameEvaluation, judge_frame
import numpy as np

THRESHOLDS = np.round(np.arange(1001) / 1000.0, 3)


@dataclass(frozen=True)
class SweepFrame:
    """What the threshold sweep needs of one labelled validation frame."""

    class_name: str             # predicted class (whose threshold applies)
    confidence: float
    thresholded: bool           # False: rejected whatever the threshold
    expected_reject: bool       # the truth: a defective (or unknown) part


@dataclass(frozen=True)
class Curve:
    """Escapes and false rejects at each threshold of THRESHOLDS."""

    escapes: np.ndarray
    false_rejects: np.ndarray
    defective: int              # denominators: defective parts, good parts (all classes)
    good: int

    def escape_rate(self) -> np.ndarray:
        """Return escapes / defective parts per threshold (0 without defective parts)."""
        return self.escapes / max(self.defective, 1)

    def false_reject_rate(self) -> np.ndarray:
        """Return false rejects / good parts per threshold (0 without good parts)."""
        return self.false_rejects / max(self.good, 1)


def sweep_frames(evaluations: Sequence[FrameEvaluation], policy: RejectPolicy) -> List[SweepFrame]:
    """Return the labelled frames of an evaluation, judged under `policy` at threshold 0."""
    at_zero = replace(policy, min_confidence=0.0, min_confidence_per_class={})
    frames = []
    for evaluation in evaluations:
        judged = judge_frame(evaluation.ref, evaluation.outcome, policy, evaluation.truth)
        if judged.expected is None:
            continue
        outcome = evaluation.outcome
        frames.append(SweepFrame(outcome.class_name, float(outcome.confidence),
                                 not decide(outcome, at_zero).reject,
                                 judged.expected.reject))
    return frames


def curve(frames: Sequence[SweepFrame], only_class: Optional[str] = None) -> Curve:
    """Return the curve over all frames, or over the frames predicted as `only_class`."""
    defective = sum(f.expected_reject for f in frames)
    good = len(frames) - defective
    escapes = np.zeros(len(THRESHOLDS), np.int64)
    false_rejects = np.zeros(len(THRESHOLDS), np.int64)
    for f in frames:
        if only_class is not None and (f.class_name != only_class or not f.thresholded):
            continue
        if f.thresholded:
            accepted = f.confidence >= THRESHOLDS
        else:
            accepted = np.zeros(len(THRESHOLDS), bool)
        if f.expected_reject:
            escapes += accepted
        else:
            false_rejects += ~accepted
    return Curve(escapes, false_rejects, defective, good)


def choose_threshold(c: Curve, max_escapes: int) -> Optional[int]:
    """
    Return the index of the chosen threshold: at most `max_escapes`, fewest false rejects.

    Escapes only fall and false rejects only rise with the threshold, so the feasible
    thresholds start at the lowest one with at most `max_escapes`, and the fewest false
    rejects hold from there over a plateau. Every threshold of that plateau gives the same
    validation result; the middle one keeps the widest margin on both sides (a defective part
    a little more confident than any seen still rejected, a good part a little less
    confident still accepted). None when no threshold allows so few escapes.
    """
    ok = np.flatnonzero(c.escapes <= max_escapes)
    if not len(ok):
        return None
    low = int(ok[0])
    plateau = np.flatnonzero(c.false_rejects[low:] == c.false_rejects[low])
    high = low + int(plateau[-1])
    return (low + high) // 2


def allowed_escapes(max_escape_rate: float, defective: int) -> int:
    """Return how many escapes a rate allows on this many defective parts (rounded down)."""
    return int(math.floor(max_escape_rate * defective + 1e-9))


@dataclass(frozen=True)
class OperatingPoint:
    """The chosen thresholds and what they give on the validation frames (`decide`)."""

    policy: RejectPolicy
    feasible: bool              # escapes within the allowed rate
    escapes: int
    false_rejects: int
    defective: int
    good: int

    @property
    def escape_rate(self) -> float:
        """Return escapes / defective parts."""
        return self.escapes / max(self.defective, 1)

    @property
    def false_reject_rate(self) -> float:
        """Return false rejects / good parts."""
        return self.false_rejects / max(self.good, 1)


def check_policy(evaluations: Sequence[FrameEvaluation], policy: RejectPolicy) -> OperatingPoint:
    """Judge every labelled frame with `decide` under `policy`; count escapes, false rejects."""
    judged = [judge_frame(v.ref, v.outcome, policy, v.truth) for v in evaluations]
    judged = [j for j in judged if j.expected is not None]
    defective = sum(j.expected.reject for j in judged)
    return OperatingPoint(policy, True, sum(j.escape for j in judged),
                          sum(j.false_reject for j in judged), defective,
                          len(judged) - defective)


def choose_operating_point(evaluations: Sequence[FrameEvaluation], policy: RejectPolicy,
                           max_escape_rate: float = 0.0, threshold: Optional[float] = None,
                           per_class: bool = False) -> Tuple[OperatingPoint, Dict[str, Curve]]:
    """
    Choose min_confidence (and per-class minimums) on the validation verdicts.

    `threshold` fixes min_confidence. Otherwise the lowest false-reject rate whose escape rate
    is at most `max_escape_rate` (`choose_threshold`: the middle of its plateau). With
    `per_class`, each predicted class gets its threshold the same way, keeping its own escapes
    within an equal share of the allowed escapes, and min_confidence (for classes not seen)
    stays the overall choice.
    Returns the point (checked with `decide`) and the curves: '' overall, then per class.
    """
    frames = sweep_frames(evaluations, policy)
    curves = {'': curve(frames)}
    for name in sorted({f.class_name for f in frames if f.thresholded}):
        curves[name] = curve(frames, name)
    overall = curves['']
    allowed = allowed_escapes(max_escape_rate, overall.defective)
    if threshold is not None:
        chosen = float(threshold)
    else:
        index = choose_threshold(overall, allowed)
        chosen = float(THRESHOLDS[index if index is not None else -1])
    per_class_values = {}
    if per_class and threshold is None:
        names = [n for n in curves if n]
        for k, name in enumerate(names):
            share = allowed // len(names) + (1 if k < allowed % len(names) else 0)
            index = choose_threshold(curves[name], share)
            per_class_values[name] = float(THRESHOLDS[index if index is not None else -1])
    chosen_policy = replace(policy, min_confidence=chosen,
                            min_confidence_per_class=per_class_values)
    point = check_policy(evaluations, chosen_policy)
    return replace(point, feasible=point.escapes <= allowed), curves
