# SPDX-License-Identifier: Apache-2.0
"""
Go / no-go for a changeover: the held-out recording against the model card's operating point.

`acnn thresholds --write-card` chose min_confidence on validation data and stored what it gave
there (escape and false-reject rate, the escape rate allowed) as the card's `operating_point`.
`acnn eval-recording` measures the same two rates on a recording the model and the threshold
have never seen. GO when the held-out escape rate is within the escape rate allowed (the
card's `max_escape_rate`, 0 without an operating point, or `--max-escape-rate`) and the
false-reject rate within `max_false_reject_rate` (the limit `acnn thresholds` applies too);
NO-GO otherwise, and when the recording has no defective or no good part to measure on.
"""
from dataclasses import dataclass
from typing import List, Mapping, Optional

from acnn_ros.core.replay.metrics import EvalSummary

# The same default as `acnn thresholds --max-false-reject-rate`.
DEFAULT_MAX_FALSE_REJECT_RATE = 0.5


def _rate(count: int, total: int) -> str:
    return f'{count / total * 100:.1f} % ({count} of {total})' if total else 'n/a (0 parts)'


@dataclass(frozen=True)
class ChangeoverCheck:
    """The held-out rates, the card's, and the decision with its reasons."""

    go: bool
    lines: List[str]            # what to print: held-out rates, the card's, the GO / NO-GO line

    def as_dict(self) -> Mapping[str, object]:
        """Return the check for summary.json."""
        return {'go': self.go, 'lines': list(self.lines)}


def check_changeover(summary: EvalSummary, operating_point: Mapping[str, object],
                     min_confidence: float, max_escape_rate: Optional[float] = None,
                     max_false_reject_rate: float = DEFAULT_MAX_FALSE_REJECT_RATE
                     ) -> Optional[ChangeoverCheck]:
    """Return the go / no-go of a labelled evaluation (None without labels)."""
    if not summary.labelled:
        return None
    defective = summary.expected_rejects
    good = summary.labelled - defective
    lines = [f'held-out: escape rate {_rate(summary.escapes, defective)}, false-reject rate '
             f'{_rate(summary.false_rejects, good)} at min_confidence {min_confidence:g}']
    op = dict(operating_point or {})
    if op:
        lines.append(f"card's operating point ({op.get('evaluated_on', 'validation')}): "
                     f"escape rate {_rate(op['escapes'], op['defective_parts'])}, false-reject "
                     f"rate {_rate(op['false_rejects'], op['good_parts'])} at min_confidence "
                     f"{op['min_confidence']:g}")
        if abs(float(op['min_confidence']) - min_confidence) > 5e-4:
            lines.append(f'warning: evaluated at min_confidence {min_confidence:g}, not the '
                         f"card's {op['min_confidence']:g} (--min-confidence)")
    else:
        lines.append('the model card has no operating point (acnn thresholds --write-card)')
    allowed = max_escape_rate if max_escape_rate is not None else float(
        op.get('max_escape_rate', 0.0))
    reasons = []
    if not defective or not good:
        reasons.append(f'the recording has {defective} defective and {good} good parts: '
                       'both are needed to judge')
    if defective and summary.escapes / defective > allowed + 1e-12:
        reasons.append(f'escape rate {summary.escapes / defective * 100:.1f} % > '
                       f'{allowed * 100:.1f} % allowed')
    if good and summary.false_rejects / good > max_false_reject_rate:
        reasons.append(f'false-reject rate {summary.false_rejects / good * 100:.1f} % > '
                       f'{max_false_reject_rate * 100:.0f} %')
    if reasons:
        lines.append('NO-GO: ' + '; '.join(reasons))
    else:
        lines.append(f'GO: escapes within {allowed * 100:.1f} %, false rejects within '
                     f'{max_false_reject_rate * 100:.0f} % on the held-out recording')
    return ChangeoverCheck(not reasons, lines)
