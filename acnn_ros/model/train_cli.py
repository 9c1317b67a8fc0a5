# SPDX-License-Identifier: Apache-2.0
"""`acnn train`: train an A-CNN (or a baseline) with 5 % box labels by default."""
import argparse
import json
from pathlib import Path
import sys

from acnn_ros.model.cli_common import add_dataset_arguments, class_list, command_line


def _size(text: str):
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected WIDTHxHEIGHT, got {text!r}') from None
    return width, height


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `acnn train`."""
    add_dataset_arguments(parser)
    parser.add_argument('--variant', default='opt',
                        help='base | best | opt (A-CNN) or plain_small | plain_full (baselines)')
    parser.add_argument('--attention-maps', action='store_true',
                        help='seed 002: channel + spatial attention blocks in the classifier')
    parser.add_argument('--roi-size', type=_size, default=None,
                        help='ROI sampled from the frame, WxH pixels (variant default 64x48)')
    parser.add_argument('--roi-output', type=_size, default=None,
                        help='size the ROI is resampled to for the classifier, WxH')
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--lr', type=float, default=3e-3, help='peak learning rate (one-cycle)')
    parser.add_argument('--labeled-fraction', type=float, default=0.05,
                        help='fraction of training images that keep their box label '
                             '(default %(default)s); the class label is used on all')
    parser.add_argument('--loc-weight', type=float, default=5.0,
                        help='weight of the localization loss (default %(default)s: with 1 the '
                             'classifier stayed at chance on the synthetic data while its '
                             'gradient pulled the ROI off the code; docs/MODEL.md)')
    parser.add_argument('--no-augment', action='store_true', help='no photometric augmentation')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='cpu', help='cpu (default), cuda or auto')
    parser.add_argument('--max-train', type=int, default=None,
                        help='use a fixed random subset of N training images (quick runs)')
    parser.add_argument('--max-test', type=int, default=None,
                        help='evaluate on a fixed random subset of N test images')
    parser.add_argument('--out', type=Path, required=True,
                        help='run folder: last.pt, metrics.json, train.log')
    parser.add_argument('--resume', action='store_true',
                        help='continue the run in --out from its last.pt')
    parser.add_argument('--stop-after', type=int, default=None,
                        help='stop after this many epochs of the --epochs schedule')
    parser.add_argument('--init-from', default='',
                        help='start from the weights of this checkpoint (same variant and '
                             'classes) with a fresh optimizer and schedule: a second stage')


def run(args: argparse.Namespace) -> int:
    """Train; return the exit status."""
    from acnn_ros.model.dataset import DatasetError, load_split
    from acnn_ros.model.train import evaluate, resolve_device, train, TrainConfig

    overrides = {}
    if args.attention_maps:
        overrides['attention_maps'] = True
    if args.roi_size:
        overrides['roi_width'], overrides['roi_height'] = args.roi_size
    if args.roi_output:
        overrides['roi_output_width'], overrides['roi_output_height'] = args.roi_output
    config = TrainConfig(variant=args.variant, overrides=overrides, epochs=args.epochs,
                         batch_size=args.batch_size, lr=args.lr,
                         labeled_fraction=args.labeled_fraction, loc_weight=args.loc_weight,
                         augment=not args.no_augment, seed=args.seed, device=args.device,
                         threads=args.threads, init_from=args.init_from)
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = open(args.out / 'train.log', 'a', encoding='utf-8')

    def log(message: str) -> None:
        print(message, flush=True)
        log_file.write(message + '\n')
        log_file.flush()

    try:
        names = class_list(args.classes)
        common = {'class_pattern': args.class_pattern, 'on_error': args.on_error,
                  'progress': not args.no_progress, 'report': log}
        train_frames = load_split(args.data_dir, 'train', names, limit=args.max_train,
                                  **common)
        test_frames = None
        if (Path(args.data_dir) / 'images' / 'test').is_dir():
            test_frames = load_split(args.data_dir, 'test', train_frames.class_names,
                                     limit=args.max_test, **common)
        log(f'$ {command_line()}')
        command = command_line()
        data_command = Path(args.data_dir) / 'synth_command.txt'
        if data_command.is_file():
            command = data_command.read_text(encoding='utf-8').strip() + '\n' + command
        state = train(config, train_frames, test_frames, args.out, resume=args.resume,
                      command=command, log=log, progress=not args.no_progress,
                      stop_after=args.stop_after)
    except (DatasetError, ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    finally:
        log_file.close()
    if test_frames is not None:
        from acnn_ros.model.train import model_from_checkpoint
        model = model_from_checkpoint(state).to(resolve_device(args.device))
        metrics = evaluate(model, test_frames, args.batch_size, resolve_device(args.device),
                           progress=not args.no_progress)
        metrics['history'] = state['history']
        (args.out / 'metrics.json').write_text(json.dumps(metrics, indent=2) + '\n',
                                               encoding='utf-8')
        print(f'test accuracy {metrics["accuracy"]:.4f}, ROI centre error mean '
              f'{metrics["roi_center_error_px_mean"]} px -> {args.out / "metrics.json"}')
    print(f'checkpoint: {args.out / "last.pt"}')
    return 0
