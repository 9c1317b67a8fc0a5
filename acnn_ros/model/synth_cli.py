# SPDX-License-Identifier: Apache-2.0
"""`acnn synth`: write a synthetic AOI dataset in the seed format (train device 0, test 1)."""
import argparse
from pathlib import Path

from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES, generate_dataset
from acnn_ros.model.cli_common import command_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `acnn synth`."""
    parser.add_argument('out_dir', type=Path, help='dataset folder to create')
    parser.add_argument('--num-train', type=int, default=2000, help='train images (device 0)')
    parser.add_argument('--num-test', type=int, default=500, help='test images (device 1)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (same seed, same files)')
    parser.add_argument('--labeled-fraction', type=float, default=1.0,
                        help='fraction of train images whose label keeps its box (default 1.0; '
                             'the trainer drops boxes to 5 %% itself)')
    parser.add_argument('--classes', default=','.join(DEFAULT_CLASSES),
                        help='comma-separated class names; the printed code is the name '
                             'without its leading "p"')


def run(args: argparse.Namespace) -> int:
    """Generate the dataset; return the exit status."""
    from tqdm import tqdm

    classes = [c.strip() for c in args.classes.split(',') if c.strip()]
    if args.num_train < 0 or args.num_test < 0 or not classes:
        print('error: --num-train/--num-test must be >= 0 and --classes non-empty')
        return 2
    with tqdm(total=args.num_train + args.num_test, unit='img', desc='synth') as bar:
        counts = generate_dataset(args.out_dir, args.num_train, args.num_test, seed=args.seed,
                                  labeled_fraction=args.labeled_fraction, class_names=classes,
                                  progress=bar.update)
    # The trainer copies this into its checkpoint, so an exported card can say how the data
    # was made.
    (args.out_dir / 'synth_command.txt').write_text(command_line() + '\n', encoding='utf-8')
    print(f'wrote {counts["train"]} train + {counts["test"]} test images to {args.out_dir}')
    return 0
