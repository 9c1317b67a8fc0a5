# SPDX-License-Identifier: Apache-2.0
"""
`acnn compare`: the frames of a bag whose result or decision changes between two runs.

    acnn compare --model-a old.onnx --model-b new.onnx --bag shift.bag --out cmp/
    acnn compare --model-a m.onnx --min-confidence 0.5 --min-confidence-b 0.8 --bag b --out cmp/

Side B takes every option not given for it from side A (same model, same policy). A frame is
listed when its class (or status), its accept/reject decision or its reject reason differs.
Writes `changes.md` (summary + table + pictures), `changes.csv`, the per-frame tables of both
sides and one picture per changed frame (`changed/frame_<index>.png`: A left, B right, ROI
drawn). `--fail-on-change` makes the exit status 1 when anything changed (for CI gates).
"""
import argparse
import csv
import math
from pathlib import Path
import sys

from acnn_ros.core.dataset.labels import LabelError, LabelTable
from acnn_ros.core.model_card import ModelCardError
from acnn_ros.core.replay.bag_io import BagError
from acnn_ros.core.replay.metrics import frame_changes, judge_frame, summarize
from acnn_ros.offline.eval_cli import (add_model_arguments, add_policy_arguments,
                                       add_source_arguments, describe_policy, load_pipeline,
                                       open_source, policy_from_args)
import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the compare options."""
    parser.add_argument('--model-a', type=Path, required=True, help='reference model .onnx')
    parser.add_argument('--model-b', type=Path, default=None,
                        help='candidate model .onnx (default: the reference model)')
    add_source_arguments(parser)
    parser.add_argument('--out', type=Path, required=True, help='output directory')
    add_model_arguments(parser)
    add_policy_arguments(parser, '', ' of side A')
    add_policy_arguments(parser, '-b', ' of side B (default: side A)')
    parser.add_argument('--max-pictures', type=int, default=50,
                        help='pictures written for the first changed frames')
    parser.add_argument('--fail-on-change', action='store_true',
                        help='exit status 1 when any verdict changed')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def _side(evaluation) -> dict:
    outcome = evaluation.outcome
    return {'class': outcome.class_name if evaluation.ok else outcome.status.name,
            'confidence': round(float(outcome.confidence), 4),
            'decision': 'reject' if evaluation.decision.reject else 'accept',
            'reason': evaluation.decision.reason.name}


def write_changes_csv(changes, path: Path) -> None:
    """Write one row per changed frame: identity, truth, side A, side B, what changed."""
    with open(path, 'w', newline='', encoding='utf-8') as stream:
        writer = csv.writer(stream)
        writer.writerow(['index', 'stamp_ns', 'frame_id', 'source', 'true_class', 'a_class',
                         'a_confidence', 'a_decision', 'a_reason', 'b_class', 'b_confidence',
                         'b_decision', 'b_reason', 'what'])
        for change in changes:
            ref = change.a.ref
            a, b = _side(change.a), _side(change.b)
            writer.writerow([ref.index, ref.stamp_ns, ref.frame_id, ref.image_name or ref.source,
                             change.a.truth.class_name if change.a.labelled else '',
                             a['class'], a['confidence'], a['decision'], a['reason'],
                             b['class'], b['confidence'], b['decision'], b['reason'],
                             change.what])


def plot_change(change, image, path: Path, label_a: str, label_b: str) -> Path:
    """Draw one changed frame: side A (left) and side B (right), each with an ROI zoom."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from acnn_ros.offline.report import draw_frame
    fig, axes = plt.subplots(1, 4, figsize=(13.0, 3.2),
                             gridspec_kw={'width_ratios': [1.6, 1, 1.6, 1]})
    draw_frame(axes[0], axes[1], image, change.a)
    draw_frame(axes[2], axes[3], image, change.b)
    axes[0].set_xlabel(f'A: {label_a}', fontsize=7)
    axes[2].set_xlabel(f'B: {label_b}', fontsize=7)
    fig.suptitle(f'frame {change.a.ref.index}: {change.what}', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _pct(value: float) -> str:
    return 'n/a' if math.isnan(value) else f'{value * 100.0:.2f} %'


def run(args: argparse.Namespace) -> int:
    """Run both sides, list the changes and write the pictures; 0 (1 with --fail-on-change)."""
    from acnn_ros.core.image_codec import ImageDecodeError
    from acnn_ros.runtime.engines import EngineError
    from acnn_ros.offline.evaluation import run_pipeline
    from acnn_ros.offline.report import write_frames_table
    model_b = args.model_b or args.model_a
    try:
        policy_a = policy_from_args(args)
        policy_b = policy_from_args(args, '-b', fallback=args)
        if model_b == args.model_a and policy_a == policy_b:
            raise ValueError('side B equals side A: give --model-b or a *-b policy option')
        labels = LabelTable.load(args.labels) if args.labels else None
        source = open_source(args)
        progress = not args.no_progress and sys.stderr.isatty()
        pipeline_a = load_pipeline(args.model_a, args)
        run_a = run_pipeline(pipeline_a, source.frames(), policy_a, labels, progress,
                             source.count, 'side A')
        if model_b == args.model_a:
            # Same model: only the policy differs, judge the same outcomes again.
            pipeline_b = pipeline_a
            run_b = [judge_frame(v.ref, v.outcome, policy_b, v.truth) for v in run_a]
        else:
            pipeline_b = load_pipeline(model_b, args)
            run_b = run_pipeline(pipeline_b, source.frames(), policy_b, labels, progress,
                                 source.count, 'side B')
        changes = frame_changes(run_a, run_b)
        out = Path(args.out)
        (out / 'changed').mkdir(parents=True, exist_ok=True)
        write_frames_table(run_a, out, 'frames_a')
        write_frames_table(run_b, out, 'frames_b')
        write_changes_csv(changes, out / 'changes.csv')
        shown = changes[:max(0, args.max_pictures)]
        images = source.load_images([c.a.ref.index for c in shown])
        label_a = f'{pipeline_a.model_id}, {describe_policy(policy_a)}'
        label_b = f'{pipeline_b.model_id}, {describe_policy(policy_b)}'
        grey = np.full((480, 640, 3), 128, np.uint8)     # for a frame that does not decode
        pictures = {c.a.ref.index: plot_change(c, images.get(c.a.ref.index, grey),
                                               out / 'changed' / f'frame_{c.a.ref.index}.png',
                                               label_a, label_b) for c in shown}
    except (BagError, LabelError, ModelCardError, EngineError, ImageDecodeError, ValueError,
            FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    sum_a = summarize(run_a, pipeline_a.class_names, pipeline_a.model_id)
    sum_b = summarize(run_b, pipeline_b.class_names, pipeline_b.model_id)
    lines = ['# Verdict changes', '', f'- source: `{source.description}`',
             f'- A: `{label_a}`', f'- B: `{label_b}`', '',
             '| | A | B |', '|---|---|---|',
             f'| frames | {sum_a.frames} | {sum_b.frames} |',
             f'| accuracy | {_pct(sum_a.accuracy)} | {_pct(sum_b.accuracy)} |',
             f'| rejected | {sum_a.rejected} | {sum_b.rejected} |',
             f'| escapes | {sum_a.escapes} | {sum_b.escapes} |',
             f'| false rejects | {sum_a.false_rejects} | {sum_b.false_rejects} |', '',
             f'**{len(changes)} of {len(run_a)} frames changed verdict.**', '']
    if changes:
        lines += ['| frame | true | A | B | what | picture |', '|---|---|---|---|---|---|']
        for change in changes:
            a, b = _side(change.a), _side(change.b)
            index = change.a.ref.index
            picture = (f'[png](changed/frame_{index}.png)' if index in pictures else '')
            lines.append(f'| {index} | {change.a.truth.class_name if change.a.labelled else ""}'
                         f' | {a["class"]} {a["confidence"]:.3f} {a["decision"]} | {b["class"]} '
                         f'{b["confidence"]:.3f} {b["decision"]} | {change.what} | {picture} |')
        lines += [''] + [f'![frame {i}](changed/frame_{i}.png)' for i in pictures]
    (out / 'changes.md').write_text('\n'.join(lines) + '\n', encoding='utf-8')
    print(f'{len(changes)} of {len(run_a)} frames changed verdict -> {out / "changes.md"}')
    return 1 if changes and args.fail_on_change else 0
