# SPDX-License-Identifier: Apache-2.0
"""
Files of `acnn thresholds`: the curves as PNG, CSV and Markdown, the YAML lines, the card.

    thresholds.png      escape and false-reject rate over the threshold (overall + per class),
                        and escape rate against false-reject rate, the chosen point marked
    thresholds.csv      one row per threshold 0.000 .. 1.000: counts and rates, overall and
                        per predicted class
    thresholds.md       the table every 0.05 and at the chosen point, the chosen operating
                        point and the YAML lines for reject_actuator_node
    operating_point.json  what `--write-card` writes into the model card
"""
import csv
import json
from pathlib import Path
from typing import Dict, List

from acnn_ros.offline.thresholds import Curve, OperatingPoint, THRESHOLDS
import matplotlib
import matplotlib.pyplot as plt

matplotlib.use('Agg')  # files only: no display on a robot or in CI

OP_SECTION = '## Operating point'


def operating_point_dict(point: OperatingPoint, max_escape_rate: float,
                         evaluated_on: str) -> Dict[str, object]:
    """Return the operating point as stored in the model card (`operating_point`)."""
    policy = point.policy
    return {'min_confidence': policy.min_confidence,
            'min_confidence_per_class': dict(sorted(policy.min_confidence_per_class.items())),
            'reject_classes': list(policy.reject_classes),
            'accept_classes': list(policy.accept_classes),
            'max_escape_rate': max_escape_rate, 'meets_max_escape_rate': point.feasible,
            'escape_rate': round(point.escape_rate, 6),
            'false_reject_rate': round(point.false_reject_rate, 6),
            'escapes': point.escapes, 'false_rejects': point.false_rejects,
            'defective_parts': point.defective, 'good_parts': point.good,
            'evaluated_on': evaluated_on}


def yaml_lines(point: OperatingPoint) -> List[str]:
    """Return the parameter lines for config/inspect.yaml (min_confidence is in `/**`)."""
    policy = point.policy
    lines = ['# min_confidence is shared with inference_node: the /** section of inspect.yaml',
             '/**:', '  ros__parameters:', f'    min_confidence: {policy.min_confidence:.3f}']
    if policy.min_confidence_per_class:
        entries = ', '.join(f"'{name}={value:.3f}'" for name, value
                            in sorted(policy.min_confidence_per_class.items()))
        lines += ['/**/reject_actuator_node:', '  ros__parameters:',
                  f'    min_confidence_per_class: [{entries}]']
    return lines


def write_csv(path: Path, curves: Dict[str, Curve]) -> None:
    """Write one row per threshold: overall then per-class escapes / false rejects / rates."""
    header = ['threshold']
    for name in curves:
        prefix = f'{name}_' if name else ''
        header += [f'{prefix}escapes', f'{prefix}false_rejects', f'{prefix}escape_rate',
                   f'{prefix}false_reject_rate']
    with open(path, 'w', newline='', encoding='utf-8') as stream:
        table = csv.writer(stream)
        table.writerow(header)
        rates = {n: (c.escape_rate(), c.false_reject_rate()) for n, c in curves.items()}
        for i, threshold in enumerate(THRESHOLDS):
            row = [f'{threshold:.3f}']
            for name, c in curves.items():
                row += [int(c.escapes[i]), int(c.false_rejects[i]), round(rates[name][0][i], 6),
                        round(rates[name][1][i], 6)]
            table.writerow(row)


def markdown(curves: Dict[str, Curve], point: OperatingPoint, meta: Dict[str, str]) -> str:
    """Return thresholds.md: source, table, chosen point, YAML."""
    overall = curves['']
    chosen = point.policy.min_confidence
    lines = ['# Reject thresholds on validation data', '']
    lines += [f'- {k}: {v}' for k, v in meta.items()]
    lines += [f'- defective parts (truth: reject) {overall.defective}, good parts '
              f'{overall.good}', '', '| threshold | escapes | escape rate | false rejects | '
              'false-reject rate |', '|---|---|---|---|---|']
    marks = sorted(set(range(0, len(THRESHOLDS), 50)) | {int(round(chosen * 1000))})
    for i in marks:
        flag = ' **chosen**' if i == int(round(chosen * 1000)) else ''
        lines.append(f'| {THRESHOLDS[i]:.3f}{flag} | {overall.escapes[i]} | '
                     f'{overall.escape_rate()[i] * 100:.2f} % | {overall.false_rejects[i]} | '
                     f'{overall.false_reject_rate()[i] * 100:.2f} % |')
    lines += ['', '## Chosen operating point (checked with core/reject/decision.decide)', '',
              f'- min_confidence {chosen:.3f}; per class: '
              + (', '.join(f'{k} {v:.3f}' for k, v in
                           sorted(point.policy.min_confidence_per_class.items())) or 'none'),
              f'- escapes {point.escapes}/{point.defective} ({point.escape_rate * 100:.2f} %), '
              f'false rejects {point.false_rejects}/{point.good} '
              f'({point.false_reject_rate * 100:.2f} %)',
              f'- meets the maximum escape rate: {"yes" if point.feasible else "NO"}', '',
              '```yaml', *yaml_lines(point), '```', '']
    per_class = [n for n in curves if n]
    if per_class:
        lines += ['## Per predicted class at the chosen point', '',
                  '| class | threshold | escapes | false rejects |', '|---|---|---|---|']
        for name in per_class:
            value = point.policy.threshold_for(name)
            i = int(round(value * 1000))
            lines.append(f'| {name} | {value:.3f} | {curves[name].escapes[i]} | '
                         f'{curves[name].false_rejects[i]} |')
        lines.append('')
    return '\n'.join(lines)


def plot(path: Path, curves: Dict[str, Curve], point: OperatingPoint, title: str) -> None:
    """Draw the rates over the threshold and the escape / false-reject trade-off."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for k, (name, c) in enumerate(curves.items()):
        colour = 'black' if not name else colours[k % len(colours)]
        width = 2.0 if not name else 1.0
        label = name or 'overall'
        left.plot(THRESHOLDS, c.escape_rate() * 100, color=colour, lw=width,
                  label=f'{label} escape')
        left.plot(THRESHOLDS, c.false_reject_rate() * 100, color=colour, lw=width, ls='--',
                  label=f'{label} false reject')
        right.plot(c.false_reject_rate() * 100, c.escape_rate() * 100, color=colour, lw=width,
                   label=label, drawstyle='steps-post')
    left.axvline(point.policy.min_confidence, color='red', lw=1, ls=':')
    right.plot([point.false_reject_rate * 100], [point.escape_rate * 100], 'o', color='red',
               label='chosen (checked)')
    left.set(xlabel='min_confidence', ylabel='rate, %', xlim=(0, 1),
             title='rates over the threshold (solid: escape, dashed: false reject)')
    right.set(xlabel='false-reject rate, % of good parts',
              ylabel='escape rate, % of defective parts', title='trade-off')
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    for axes in (left, right):
        axes.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_files(out: Path, curves: Dict[str, Curve], point: OperatingPoint,
                meta: Dict[str, str], max_escape_rate: float) -> Dict[str, object]:
    """Write every file of the output folder; return the operating point dict."""
    out.mkdir(parents=True, exist_ok=True)
    op = operating_point_dict(point, max_escape_rate, meta.get('data', ''))
    write_csv(out / 'thresholds.csv', curves)
    (out / 'thresholds.md').write_text(markdown(curves, point, meta), encoding='utf-8')
    (out / 'operating_point.json').write_text(json.dumps(op, indent=2) + '\n', encoding='utf-8')
    plot(out / 'thresholds.png', curves, point, f'{meta.get("model", "")} on '
         f'{meta.get("data", "")}')
    return op


def card_markdown_section(op: Dict[str, object]) -> str:
    """Return the operating-point section appended to the card's .md."""
    per_class = op['min_confidence_per_class'] or {}
    return '\n'.join([
        OP_SECTION, '',
        f'- min_confidence {op["min_confidence"]:.3f}'
        + ''.join(f', {k} {v:.3f}' for k, v in per_class.items()),
        f'- on {op["evaluated_on"]}: escape rate {op["escape_rate"] * 100:.2f} % '
        f'({op["escapes"]}/{op["defective_parts"]}), false-reject rate '
        f'{op["false_reject_rate"] * 100:.2f} % ({op["false_rejects"]}/{op["good_parts"]})',
        f'- chosen for a maximum escape rate of {op["max_escape_rate"]}', ''])


def replace_section(text: str, section: str) -> str:
    """Return a markdown text with its operating-point section replaced (or appended)."""
    start = text.find(OP_SECTION)
    if start < 0:
        return text.rstrip() + '\n\n' + section
    end = text.find('\n## ', start + len(OP_SECTION))
    rest = text[end + 1:] if end >= 0 else ''
    return text[:start] + section + ('\n' + rest if rest else '')
