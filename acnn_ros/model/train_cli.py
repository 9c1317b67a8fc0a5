# SPDX-License-Identifier: Apache-2.0
"""
`acnn train`: train an A-CNN (or a baseline) with 5 % box labels by default.

Validated every epoch (the dataset's images/val, else blocks carved from train), best.pt beside
last.pt, optional early stopping, history.csv + curves.png, test split once at the end.
"""
import argparse
from pathlib import Path
import sys

from acnn_ros.model.cli_common import add_dataset_arguments, class_list, command_line
from acnn_ros.model.train_config import TrainConfig

DEFAULTS = TrainConfig()


def _size(text: str):
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected WIDTHxHEIGHT, got {text!r}') from None
    return width, height


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a whole number, got {text!r}') from None
    if value < least:
        raise argparse.ArgumentTypeError(f'must be at least {least}, got {value}')
    return value


def _positive_int(text: str) -> int:
    return _whole_number(text, 1)


def _non_negative_int(text: str) -> int:
    return _whole_number(text, 0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `acnn train`."""
    add_dataset_arguments(parser)
    parser.add_argument('--variant', default='opt',
                        help='base | best | opt (A-CNN), plain_small | plain_full (baselines) '
                             'or det_n | det_n_assn (YOLOv8-style detectors, docs/MODEL.md)')
    parser.add_argument('--attention-maps', action='store_true',
                        help='seed 002: channel + spatial attention blocks in the classifier')
    parser.add_argument('--roi-size', type=_size, default=None,
                        help='ROI sampled from the frame, WxH pixels (variant default 64x48)')
    parser.add_argument('--roi-output', type=_size, default=None,
                        help='size the ROI is resampled to for the classifier, WxH')
    parser.add_argument('--epochs', type=_positive_int, default=DEFAULTS.epochs,
                        help='length of the one-cycle schedule (default %(default)s)')
    parser.add_argument('--batch-size', type=_positive_int, default=DEFAULTS.batch_size)
    parser.add_argument('--lr', type=float, default=DEFAULTS.lr,
                        help='peak learning rate (one-cycle, default %(default)s)')
    parser.add_argument('--labeled-fraction', type=float, default=DEFAULTS.labeled_fraction,
                        help='fraction of training images that keep their box label '
                             '(default %(default)s); the class label is used on all')
    parser.add_argument('--loc-weight', type=float, default=DEFAULTS.loc_weight,
                        help='weight of the localization loss (default %(default)s: with 1 the '
                             'classifier stayed at chance on the synthetic data while its '
                             'gradient pulled the ROI off the code; docs/MODEL.md)')
    parser.add_argument('--no-augment', action='store_true', help='no photometric augmentation')
    parser.add_argument('--seed', type=int, default=DEFAULTS.seed)
    parser.add_argument('--device', default=DEFAULTS.device,
                        help='cpu (default), cuda or auto')
    parser.add_argument('--val-fraction', type=float, default=DEFAULTS.val_fraction,
                        help='without images/val in the dataset: validate on this fraction of '
                             'train, carved per class in seeded blocks of consecutive frames '
                             '(default %(default)s; never from test)')
    parser.add_argument('--val-block', type=int, default=DEFAULTS.val_block,
                        help='frames per carved validation block (default %(default)s)')
    parser.add_argument('--patience', type=int, default=DEFAULTS.patience,
                        help='stop after N epochs without a better validation epoch '
                             '(default %(default)s = never)')
    parser.add_argument('--max-train', type=int, default=None,
                        help='use a fixed random subset of N training images (quick runs)')
    parser.add_argument('--max-test', type=int, default=None,
                        help='evaluate on a fixed random subset of N test images')
    parser.add_argument('--out', type=Path, required=True,
                        help='run folder: last.pt, best.pt, history.csv, curves.png, '
                             'test_metrics.json, train.log')
    parser.add_argument('--resume', action='store_true',
                        help='continue the run in --out from its last.pt')
    parser.add_argument('--stop-after', type=_positive_int, default=None,
                        help='stop after this many epochs of the --epochs schedule')
    parser.add_argument('--init-from', default='',
                        help='start from these weights with a fresh optimizer and schedule: '
                             'a checkpoint (a second stage) or a shipped model .onnx, e.g. '
                             'resource/models/acnn_demo.onnx (a new product: same variant and '
                             'ROI size; classes matched by name, new ones learned)')
    parser.add_argument('--freeze-localization-epochs', type=_non_negative_int,
                        default=TrainConfig.freeze_localization_epochs,
                        help='hold the localization fixed for the first N epochs (with '
                             '--init-from: the new class layer settles first; default 0)')


def run(args: argparse.Namespace) -> int:
    """Train; return the exit status."""
    from acnn_ros.model.dataset import DatasetError, load_split
    from acnn_ros.model.train import train

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
                         threads=args.threads, init_from=args.init_from,
                         val_fraction=args.val_fraction, val_block=args.val_block,
                         patience=args.patience,
                         freeze_localization_epochs=args.freeze_localization_epochs)
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = open(args.out / 'train.log', 'a', encoding='utf-8')

    def log(message: str) -> None:
        print(message, flush=True)
        log_file.write(message + '\n')
        log_file.flush()

    images = Path(args.data_dir) / 'images'
    try:
        names = class_list(args.classes)
        common = {'class_pattern': args.class_pattern, 'on_error': args.on_error,
                  'progress': not args.no_progress, 'report': log}
        train_frames = load_split(args.data_dir, 'train', names, limit=args.max_train,
                                  **common)
        val_frames = test_frames = None
        if (images / 'val').is_dir():
            val_frames = load_split(args.data_dir, 'val', train_frames.class_names, **common)
            log(f"validation: the dataset's val split ({len(val_frames)} images); "
                '--val-fraction is not used')
        if (images / 'test').is_dir():
            test_frames = load_split(args.data_dir, 'test', train_frames.class_names,
                                     limit=args.max_test, **common)
        log(f'$ {command_line()}')
        command = command_line()
        data_command = Path(args.data_dir) / 'synth_command.txt'
        if data_command.is_file():
            command = data_command.read_text(encoding='utf-8').strip() + '\n' + command
        state = train(config, train_frames, test_frames, args.out, resume=args.resume,
                      command=command, log=log, progress=not args.no_progress,
                      stop_after=args.stop_after, val_frames=val_frames)
    except (DatasetError, ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    finally:
        log_file.close()
    best = state.get('best') or {}
    if best.get('best_epoch'):
        print(f'best on validation: epoch {best["best_epoch"]} of {state["epoch"] + 1} '
              f'(accuracy {best["best_metrics"]["accuracy"]:.4f}) -> {args.out / "best.pt"}')
    if 'test_metrics' in state:
        print(f'test accuracy {state["test_metrics"]["accuracy"]:.4f} '
              f'({state["test_metrics"]["checkpoint"]}) -> {args.out / "test_metrics.json"}')
    print(f'checkpoint: {args.out / "last.pt"}; curves: {args.out / "curves.png"}')
    return 0
