# SPDX-License-Identifier: Apache-2.0
"""
`acnn synth`: write an AOI dataset in the seed format (train device 0, test device 1).

Without `--backgrounds` every frame is fully synthetic (`core.dataset.synthetic`). With
`--backgrounds DIR` (a few labelled real frames, seed format) every class's code is printed
onto those real frames with their measured look (`core.dataset.real_background`);
`--synthetic-fraction` mixes fully synthetic frames in, `--hold-out STEM` leaves a frame out
(leave-one-out), `--code CLASS=TEXT` sets a class's printed text.
"""
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
                             'the trainer drops boxes to 5 %% itself; fully synthetic mode)')
    parser.add_argument('--classes', default=','.join(DEFAULT_CLASSES),
                        help='comma-separated class names; the printed code is the name '
                             'without its leading "p"')
    parser.add_argument('--backgrounds', type=Path, default=None,
                        help='folder of labelled real frames (seed format): print every '
                             "class's code onto them instead of drawing whole frames")
    parser.add_argument('--hold-out', action='append', default=[], metavar='STEM',
                        help='with --backgrounds: leave out the frame with this file stem '
                             '(repeatable; leave-one-out folds)')
    parser.add_argument('--synthetic-fraction', type=float, default=0.0,
                        help='with --backgrounds: fraction of fully synthetic frames mixed in')
    parser.add_argument('--style-mix', type=float, default=0.0,
                        help='fraction of train images whose label is printed in a random '
                             'style (font, renderer, spacing, placement; robustness '
                             'augmentation, docs/MODEL.md; fully synthetic mode; default 0)')
    parser.add_argument('--code', action='append', default=[], metavar='CLASS=TEXT',
                        help='printed text of a class, e.g. p1069="(1069B)" (default: the '
                             'name without its "p", in parentheses)')


def _codes(items):
    codes = {}
    for item in items:
        name, sep, text = item.partition('=')
        if not sep or not name.strip() or not text:
            raise ValueError(f'--code expects CLASS=TEXT, got {item!r}')
        codes[name.strip()] = text
    return codes


def run(args: argparse.Namespace) -> int:
    """Generate the dataset; return the exit status."""
    from tqdm import tqdm

    classes = [c.strip() for c in args.classes.split(',') if c.strip()]
    if args.num_train < 0 or args.num_test < 0 or not classes:
        print('error: --num-train/--num-test must be >= 0 and --classes non-empty')
        return 2
    if args.backgrounds is None and (args.hold_out or args.code or args.synthetic_fraction):
        print('error: --hold-out, --code and --synthetic-fraction need --backgrounds')
        return 2
    with tqdm(total=args.num_train + args.num_test, unit='img', desc='synth') as bar:
        if args.backgrounds is None:
            counts = generate_dataset(args.out_dir, args.num_train, args.num_test,
                                      seed=args.seed, labeled_fraction=args.labeled_fraction,
                                      class_names=classes, progress=bar.update,
                                      style_mix=args.style_mix)
        else:
            from acnn_ros.core.dataset.real_background import (generate_real_dataset,
                                                               load_backgrounds)
            try:
                backgrounds = load_backgrounds(args.backgrounds, classes, args.hold_out)
                counts = generate_real_dataset(
                    args.out_dir, backgrounds, args.num_train, args.num_test, seed=args.seed,
                    synthetic_fraction=args.synthetic_fraction, class_names=classes,
                    codes=_codes(args.code), progress=bar.update)
            except (ValueError, FileNotFoundError) as exc:
                print(f'error: {exc}')
                return 2
            bar.write('real backgrounds: ' + ', '.join(b.name for b in backgrounds))
    # The trainer copies this into its checkpoint, so an exported card can say how the data
    # was made.
    (args.out_dir / 'synth_command.txt').write_text(command_line() + '\n', encoding='utf-8')
    print(f'wrote {counts["train"]} train + {counts["test"]} test images to {args.out_dir}')
    return 0
