# SPDX-License-Identifier: Apache-2.0
"""
Evaluation reports: Markdown summary, per-frame CSV/JSON and PNG plots (matplotlib, Agg).

A report directory holds:
- `summary.md`: what was evaluated, headline numbers, decisions, confusion matrix, worst frames
- `summary.json`: the same numbers, machine-readable
- `frames.csv`, `frames.json`: one row per frame (result, truth, decision, ROI, timings)
- `confusion_matrix.png`, `latency_histogram.png`, `worst_frames.png` (ROI drawn, zoomed)
"""
import csv
from dataclasses import asdict
import json
import math
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence

from acnn_ros.core.confusion_figure import draw_confusion
from acnn_ros.core.replay.metrics import (EvalSummary, FrameEvaluation, NO_RESULT,
                                          RecordedComparison, worst_frames)
import cv2
import matplotlib
from matplotlib.patches import Rectangle
import matplotlib.pyplot as plt
import numpy as np

matplotlib.use('Agg')  # files only: no display on a robot or in CI

ImageLoader = Callable[[Iterable[int]], Dict[int, np.ndarray]]
PRED_COLOUR = '#e0201b'   # predicted ROI
TRUE_COLOUR = '#22c322'   # ground-truth ROI
ZOOM_HALF_PX = (64, 40)   # half size of the zoom window around the ROI, source pixels


def _fmt(value, digits: int = 1, unit: str = '') -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 'n/a'
    return f'{value:.{digits}f}{unit}'


def write_frames_table(evaluations: Sequence[FrameEvaluation], out_dir: Path,
                       stem: str = 'frames') -> List[Path]:
    """Write the per-frame table as CSV and JSON; return the paths."""
    out_dir = Path(out_dir)
    rows = [v.row() for v in evaluations]
    csv_path, json_path = out_dir / f'{stem}.csv', out_dir / f'{stem}.json'
    fieldnames = list(rows[0]) if rows else ['index']
    with open(csv_path, 'w', newline='', encoding='utf-8') as stream:
        writer = csv.DictWriter(stream, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    json_path.write_text(json.dumps(rows, indent=1) + '\n', encoding='utf-8')
    return [csv_path, json_path]


def summary_dict(summary: EvalSummary, meta: Mapping[str, object]) -> Dict[str, object]:
    """Return the summary as plain JSON-able data."""
    data = asdict(summary)
    data['accuracy'] = None if math.isnan(summary.accuracy) else summary.accuracy
    data['confusion_columns'] = list(summary.confusion_columns)
    data['per_class_recall'] = {k: (None if math.isnan(v) else v)
                                for k, v in summary.per_class_recall().items()}
    data['meta'] = dict(meta)

    def clean(value):
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value
    return clean(data)


def plot_confusion(summary: EvalSummary, path: Path) -> Path:
    """Draw the confusion matrix (rows: true class, columns: predicted) with counts."""
    rows, cols = list(summary.class_names), list(summary.confusion_columns)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(cols), 1.0 + 0.8 * len(rows)))
    draw_confusion(ax, summary.confusion, rows, cols)
    ax.set_title(f'accuracy {_fmt(summary.accuracy * 100.0, 1, " %")} '
                 f'({summary.correct}/{summary.labelled})', fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency(evaluations: Sequence[FrameEvaluation], summary: EvalSummary, path: Path) -> Path:
    """Draw the histogram of per-frame pipeline time, with p50/p95 marked."""
    values = [v.outcome.times.pipeline_ms for v in evaluations if v.ok]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    if values:
        ax.hist(values, bins=min(40, max(5, len(values) // 4)), color='#4477aa')
        for label, value, style in (('p50', summary.pipeline_ms.p50, '--'),
                                    ('p95', summary.pipeline_ms.p95, ':')):
            ax.axvline(value, color='black', linestyle=style, label=f'{label} {value:.1f} ms')
        ax.legend()
    else:
        ax.text(0.5, 0.5, 'no inspected frames', ha='center', transform=ax.transAxes)
    ax.set_xlabel('decode + preprocess + inference + postprocess per frame [ms]')
    ax.set_ylabel('frames')
    ax.set_title(f'latency over {len(values)} frames', fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _roi_rect(box, colour: str, linewidth: float = 1.5) -> Rectangle:
    return Rectangle((box.center_x - box.width / 2.0, box.center_y - box.height / 2.0),
                     box.width, box.height, fill=False, edgecolor=colour, linewidth=linewidth)


def _frame_title(evaluation: FrameEvaluation) -> str:
    outcome = evaluation.outcome
    got = (f'{outcome.class_name} {outcome.confidence:.2f}' if evaluation.ok
           else outcome.status.name)
    truth = f'true {evaluation.truth.class_name}, ' if evaluation.labelled else ''
    decision = 'REJECT' if evaluation.decision.reject else 'accept'
    flag = ' ESCAPE' if evaluation.escape else ''
    return f'#{evaluation.ref.index}: {truth}got {got}\n{decision} ' \
           f'({evaluation.decision.reason.name}){flag}'


def draw_frame(ax_full, ax_zoom, image: np.ndarray, evaluation: FrameEvaluation,
               other: Optional[FrameEvaluation] = None, preview_width: int = 320) -> None:
    """Show a frame with its ROIs (red: predicted, green: true, blue: `other`), zoomed on red."""
    height, width = image.shape[:2]
    boxes = []
    if evaluation.ok and evaluation.outcome.roi is not None:
        boxes.append((evaluation.outcome.roi, PRED_COLOUR))
    if evaluation.truth is not None and evaluation.truth.roi is not None:
        boxes.append((evaluation.truth.roi, TRUE_COLOUR))
    if other is not None and other.ok and other.outcome.roi is not None:
        boxes.append((other.outcome.roi, '#2255ff'))
    # Plots stay in source pixel coordinates; only the pixels drawn are reduced (speed).
    scale = min(1.0, preview_width / float(width))
    preview = cv2.resize(image, (max(1, int(width * scale)), max(1, int(height * scale))),
                         interpolation=cv2.INTER_AREA) if scale < 1.0 else image
    ax_full.imshow(preview[:, :, ::-1], extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    # The zoom shows what the model looked at: its ROI (the true box only without one).
    centre = boxes[0][0] if boxes else None
    if centre is not None:
        x0 = int(np.clip(centre.center_x - ZOOM_HALF_PX[0], 0, width - 1))
        x1 = int(np.clip(centre.center_x + ZOOM_HALF_PX[0], x0 + 1, width))
        y0 = int(np.clip(centre.center_y - ZOOM_HALF_PX[1], 0, height - 1))
        y1 = int(np.clip(centre.center_y + ZOOM_HALF_PX[1], y0 + 1, height))
        ax_zoom.imshow(image[y0:y1, x0:x1, ::-1], extent=(x0 - 0.5, x1 - 0.5, y1 - 0.5,
                                                          y0 - 0.5))
        ax_zoom.set_title('ROI zoom', fontsize=7)
    for ax in (ax_full, ax_zoom):
        for box, colour in boxes:
            ax.add_patch(_roi_rect(box, colour))
        ax.set_xticks([])
        ax.set_yticks([])
    ax_full.set_xlim(-0.5, width - 0.5)
    ax_full.set_ylim(height - 0.5, -0.5)
    if centre is not None:
        ax_zoom.set_xlim(x0 - 0.5, x1 - 0.5)
        ax_zoom.set_ylim(y1 - 0.5, y0 - 0.5)
    ax_full.set_title(_frame_title(evaluation), fontsize=7)


def plot_contact_sheet(evaluations: Sequence[FrameEvaluation], images: Mapping[int, np.ndarray],
                       path: Path, title: str, columns: int = 3) -> Optional[Path]:
    """Draw frames (full view + ROI zoom each) in a grid; None when there is nothing to show."""
    shown = list(evaluations)
    if not shown:
        return None
    rows = math.ceil(len(shown) / columns)
    fig, axes = plt.subplots(rows, 2 * columns, figsize=(4.2 * columns, 2.2 * rows + 0.4),
                             squeeze=False, gridspec_kw={'width_ratios': [1.6, 1] * columns})
    for ax in axes.flat:
        ax.axis('off')
    for n, evaluation in enumerate(shown):
        ax_full, ax_zoom = axes[n // columns, 2 * (n % columns)], \
            axes[n // columns, 2 * (n % columns) + 1]
        ax_full.axis('on')
        ax_zoom.axis('on')
        image = images.get(evaluation.ref.index)
        if image is None:   # undecodable frame: a grey card with its error verdict
            image = np.full((480, 640, 3), 128, np.uint8)
            ax_full.text(320, 240, evaluation.outcome.detail[:60] or 'no image', ha='center',
                         va='center', fontsize=6, wrap=True)
        draw_frame(ax_full, ax_zoom, image, evaluation)
    fig.suptitle(f'{title}  (red: predicted ROI, green: true ROI)', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> List[str]:
    lines = ['| ' + ' | '.join(str(h) for h in header) + ' |',
             '|' + '|'.join('---' for _ in header) + '|']
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return lines


def recorded_section(comparison: RecordedComparison, topic: str, out_dir: Path,
                     shown: int = 20) -> List[str]:
    """Write recorded_vs_offline.csv and return the Markdown section comparing them."""
    with open(Path(out_dir) / 'recorded_vs_offline.csv', 'w', newline='',
              encoding='utf-8') as stream:
        writer = csv.writer(stream)
        writer.writerow(['index', 'stamp_ns', 'frame_id', 'live_status', 'live_class',
                         'live_confidence', 'live_model_id', 'offline_status', 'offline_class',
                         'offline_confidence'])
        for offline, live in comparison.disagreements:
            writer.writerow([offline.ref.index, offline.ref.stamp_ns, offline.ref.frame_id,
                             live.status, live.class_name, round(live.confidence, 6),
                             live.model_id, int(offline.outcome.status),
                             offline.outcome.class_name, round(offline.outcome.confidence, 6)])
    lines = ['', f'## Live verdicts recorded in the bag ({topic})', '',
             f'{comparison.matched} frames have a verdict recorded live (models: '
             f'{", ".join(comparison.model_ids) or "?"}); this evaluation agrees on '
             f'{comparison.agree} ({_fmt(comparison.agreement * 100.0, 1, " %")}). '
             'Disagreements: [recorded_vs_offline.csv](recorded_vs_offline.csv).', '']
    if comparison.disagreements:
        lines += _markdown_table(
            ('frame', 'stamp [ns]', 'live', 'offline'),
            [(v.ref.index, v.ref.stamp_ns, f'{live.class_name} {live.confidence:.3f}'
              if live.status == 0 else f'status {live.status}',
              f'{v.outcome.class_name} {v.outcome.confidence:.3f}' if v.ok
              else v.outcome.status.name)
             for v, live in comparison.disagreements[:shown]])
    return lines


def write_report(out_dir: Path, evaluations: Sequence[FrameEvaluation], summary: EvalSummary,
                 load_images: Optional[ImageLoader], meta: Mapping[str, object],
                 worst_count: int = 12, extra_lines: Sequence[str] = ()) -> Path:
    """Write the whole report directory; return the path of summary.md."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_frames_table(evaluations, out_dir)
    (out_dir / 'summary.json').write_text(
        json.dumps(summary_dict(summary, meta), indent=1) + '\n', encoding='utf-8')
    plot_latency(evaluations, summary, out_dir / 'latency_histogram.png')
    has_labels = summary.labelled > 0
    if has_labels:
        plot_confusion(summary, out_dir / 'confusion_matrix.png')
    worst = worst_frames(evaluations, worst_count)
    sheet = None
    if worst and load_images is not None:
        images = load_images([v.ref.index for v in worst])
        sheet = plot_contact_sheet(worst, images, out_dir / 'worst_frames.png',
                                   f'{len(worst)} worst frames')

    lines = [f'# Evaluation of {summary.model_id or "model"}', '']
    lines += [f'- {key}: `{value}`' for key, value in meta.items()]
    lines += ['', '## Headline', '']
    accuracy = (f'{summary.accuracy * 100.0:.2f} % ({summary.correct}/{summary.labelled})'
                if has_labels else 'n/a (no labels)')
    roi = summary.roi_error_px
    headline = [
        ('frames', summary.frames),
        ('verdicts (status OK)', summary.ok),
        ('errors / dropped', f'{summary.errors} / {summary.dropped}'),
        ('accuracy', accuracy),
        ('rejected parts', summary.rejected),
        ('rejects a perfect model would cause', summary.expected_rejects if has_labels
         else 'n/a'),
        ('escapes (should reject, accepted)', summary.escapes if has_labels else 'n/a'),
        ('false rejects (should accept, rejected)', summary.false_rejects if has_labels
         else 'n/a'),
        ('ROI centre error mean / p95 / max [px]',
         f'{_fmt(roi.mean)} / {_fmt(roi.p95)} / {_fmt(roi.max)} ({roi.count} boxed frames)'),
        ('latency p50 / p95 / p99 / max [ms]',
         f'{_fmt(summary.pipeline_ms.p50)} / {_fmt(summary.pipeline_ms.p95)} / '
         f'{_fmt(summary.pipeline_ms.p99)} / {_fmt(summary.pipeline_ms.max)}'),
    ]
    if 'frames_per_s' in meta:
        headline.append(('throughput [frames/s]', meta['frames_per_s']))
    lines += _markdown_table(('metric', 'value'), headline)
    lines += ['', '## Reject decisions (core/reject/decision.py policy)', '']
    lines += _markdown_table(('reason', 'parts'),
                             [(k, v) for k, v in summary.decisions.items() if v])
    if has_labels:
        lines += ['', '## Confusion matrix (rows: true, columns: predicted)', '']
        lines += _markdown_table(['true \\ predicted'] + list(summary.confusion_columns),
                                 [[name] + list(row) for name, row in
                                  zip(summary.class_names, summary.confusion)])
        lines += ['', '![confusion matrix](confusion_matrix.png)']
        recall = summary.per_class_recall()
        lines += ['', '| class | recall |', '|---|---|']
        lines += [f'| {k} | {_fmt(v * 100.0, 1, " %")} |' for k, v in recall.items()]
    lines += ['', '## Latency', '', '![latency histogram](latency_histogram.png)', '']
    lines += ['## Worst frames', '']
    if sheet is not None:
        lines += ['![worst frames](worst_frames.png)', '']
    lines += _markdown_table(
        ('frame', 'stamp [ns]', 'true', 'predicted', 'confidence', 'decision', 'reason',
         'ROI error [px]'),
        [(v.ref.index, v.ref.stamp_ns or v.ref.image_name,
          v.truth.class_name if v.labelled else '',
          v.outcome.class_name if v.ok else v.outcome.status.name,
          f'{v.outcome.confidence:.3f}', 'reject' if v.decision.reject else 'accept',
          v.decision.reason.name, _fmt(v.roi_error_px)) for v in worst])
    lines += list(extra_lines)
    lines += ['', 'Per-frame verdicts: [frames.csv](frames.csv), [frames.json](frames.json); '
              f'numbers: [summary.json](summary.json). `{NO_RESULT}`: the frame got an error '
              'or dropped verdict (the line rejects such parts, fail-safe).', '']
    path = out_dir / 'summary.md'
    path.write_text('\n'.join(lines), encoding='utf-8')
    return path
