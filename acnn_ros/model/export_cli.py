# SPDX-License-Identifier: Apache-2.0
"""`acnn export`: checkpoint -> <stem>.onnx + <stem>.json card + <stem>.md, parity checked."""
import argparse
import json
from pathlib import Path
import sys

from acnn_ros.model.cli_common import command_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `acnn export`."""
    parser.add_argument('checkpoint', type=Path,
                        help='best.pt (best on validation) or last.pt written by acnn train')
    parser.add_argument('onnx', type=Path, help='output .onnx path (card written beside it)')
    parser.add_argument('--name', default=None, help='model name in the card (default: stem)')
    parser.add_argument('--metrics', type=Path, default=None,
                        help='metrics JSON (acnn train/evaluate) to copy into the card '
                             '(default: test_metrics.json beside the checkpoint when it was '
                             'measured on that checkpoint, else metrics.json there)')
    parser.add_argument('--reproduce', default=None,
                        help='commands that regenerate this model (default: the training '
                             'command of every stage, following --init-from, + this export '
                             'command)')


def run(args: argparse.Namespace) -> int:
    """Export; return the exit status."""
    from acnn_ros.core.model_card import ModelCard
    from acnn_ros.model.export import export_onnx, ExportError
    from acnn_ros.model.train import load_checkpoint, model_from_checkpoint, training_stages

    try:
        state = load_checkpoint(args.checkpoint)
    except (ValueError, FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    if args.metrics and not args.metrics.is_file():
        print(f'error: --metrics {args.metrics}: no such file', file=sys.stderr)
        return 2
    metrics_path = args.metrics or args.checkpoint.with_name('metrics.json')
    test_metrics = args.checkpoint.with_name('test_metrics.json')
    if not args.metrics and test_metrics.is_file() and json.loads(test_metrics.read_text(
            encoding='utf-8')).get('checkpoint') == args.checkpoint.name:
        metrics_path = test_metrics     # acnn train's one test evaluation, of this file
    metrics = {}
    if metrics_path.is_file():
        full = json.loads(metrics_path.read_text(encoding='utf-8'))
        metrics = {k: full[k] for k in ('accuracy', 'num_images', 'roi_center_error_px_mean',
                                        'roi_center_error_px_median', 'roi_center_error_px_p95')
                   if k in full}
        metrics['evaluated_on'] = 'test split of the training dataset (device 1)'
    config = state['train_config']
    stages = training_stages(state)
    commands = [f'# weights of the first stage came from {s["missing"]}, no longer on disk'
                if 'missing' in s else s['command'] for s in stages]
    reproduce = args.reproduce or '\n'.join(c for c in commands + [command_line()] if c)
    card = ModelCard(name=args.name or args.onnx.stem, class_names=tuple(state['class_names']),
                     input_width=state['input_width'], input_height=state['input_height'],
                     variant=config['variant'] + ('+attention_maps' if config['overrides'].get(
                         'attention_maps') else ''),
                     metrics=metrics, reproduce=reproduce,
                     extra={'training': {'epochs': state['epoch'] + 1,
                                         'stage_epochs': [s['epochs'] for s in stages
                                                          if 'epochs' in s],
                                         'num_train': state.get('num_train'),
                                         'num_train_boxes': state.get('num_train_boxes'),
                                         'labeled_fraction': config['labeled_fraction'],
                                         'seed': config['seed'],
                                         'validation': {k: v for k, v in state.get(
                                             'validation', {}).items() if k != 'paths'}}})
    try:
        path = export_onnx(model_from_checkpoint(state), card, args.onnx)
    except ExportError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    written = ModelCard.load(path.with_suffix('.json'))
    parity = written.extra['parity']
    print(f'wrote {path} ({path.stat().st_size / 1e6:.2f} MB), {path.with_suffix(".json")}, '
          f'{path.with_suffix(".md")}')
    print(f'model id {written.model_id}; parity max abs diff probs '
          f'{parity["probs_max_abs_diff"]:.2e}, roi {parity["roi_max_abs_diff"]:.2e}')
    return 0
