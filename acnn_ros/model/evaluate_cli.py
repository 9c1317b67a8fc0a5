# SPDX-License-Identifier: Apache-2.0
"""`acnn eval-checkpoint`: accuracy and ROI centre error of a checkpoint on a dataset split."""
import argparse
import json
from pathlib import Path
import sys

from acnn_ros.model.cli_common import add_dataset_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `acnn eval-checkpoint`."""
    parser.add_argument('checkpoint', type=Path,
                        help='best.pt or last.pt written by acnn train')
    add_dataset_arguments(parser)
    parser.add_argument('--split', default='test',
                        help='dataset split: train, val or test (default test; acnn train '
                             'already wrote test_metrics.json for best.pt)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--device', default='cpu', help='cpu (default), cuda or auto')
    parser.add_argument('--limit', type=int, default=None,
                        help='a fixed random subset of N images only')
    parser.add_argument('--json', type=Path, default=None, help='also write the metrics here')


def run(args: argparse.Namespace) -> int:
    """Evaluate; return the exit status."""
    import torch

    from acnn_ros.model.dataset import DatasetError, load_split
    from acnn_ros.model.train import (describe_roi_error, evaluate, load_checkpoint,
                                      model_from_checkpoint, resolve_device)

    torch.set_num_threads(max(1, args.threads))
    try:
        state = load_checkpoint(args.checkpoint)
        frames = load_split(args.data_dir, args.split, state['class_names'],
                            class_pattern=args.class_pattern, on_error=args.on_error,
                            limit=args.limit, progress=not args.no_progress,
                            width=state['input_width'], height=state['input_height'])
        device = resolve_device(args.device)
        model = model_from_checkpoint(state).to(device)
        metrics = evaluate(model, frames, args.batch_size, device, not args.no_progress)
    except (DatasetError, ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'{args.split}: {metrics["num_images"]} images, accuracy {metrics["accuracy"]:.4f}')
    print(describe_roi_error(metrics))
    for name, accuracy in metrics['per_class_accuracy'].items():
        print(f'  {name}: {accuracy:.4f}')
    if args.json:
        args.json.write_text(json.dumps(metrics, indent=2) + '\n', encoding='utf-8')
    return 0
