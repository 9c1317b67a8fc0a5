# SPDX-License-Identifier: Apache-2.0
r"""
`acnn thresholds`: choose the reject threshold on validation data, from the trade-off curve.

    acnn thresholds models/new.onnx data/new_product --defective p1069,p1071 --out thr
    acnn thresholds models/new.onnx held_out_bag --params-file config/inspect.yaml \
        --max-escape-rate 0.001 --per-class --out thr --write-card

Runs the model over DATA's `--split` (default val; a seed dataset with YOLO labels) or over a
bag with a ground-truth topic / sidecar labels (like eval-recording), then sweeps min_confidence:
escape rate (defective parts accepted) and false-reject rate (good parts rejected), overall and
per predicted class, with the line's reject rule (offline/thresholds.py). The operating point:
`--threshold T`, or the lowest false-reject rate whose escape rate is at most
`--max-escape-rate` (default 0: no escape on val); `--per-class` adds per-class minimums.
Writes thresholds.png/.csv/.md and operating_point.json into --out, prints the YAML lines for
reject_actuator_node, and with `--write-card` stores the point in the model card
(`operating_point`). Exit status 1, with a loud warning and nothing written into the card, when
the point is unusable: no threshold meets the escape rate, or it rejects more good parts than
`--max-false-reject-rate` (default half); 2 on bad input (a --defective class the model does
not have).
"""
import argparse
from dataclasses import replace
from pathlib import Path
import sys

from acnn_ros.core.dataset.labels import LabelError, LabelTable
from acnn_ros.core.model_card import card_path_for, ModelCard, ModelCardError
from acnn_ros.core.reject.config import policy_from_values
from acnn_ros.core.replay.bag_io import BagError
from acnn_ros.offline.eval_cli import add_model_arguments, load_pipeline, read_policy_values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the thresholds options."""
    parser.add_argument('model', type=Path, help='model .onnx (its .json card beside it)')
    parser.add_argument('data', type=Path, help='seed dataset folder, or a rosbag2 with truth')
    parser.add_argument('--split', default='val',
                        help='dataset split to evaluate (default %(default)s; never test)')
    parser.add_argument('--out', type=Path, required=True, help='folder for the curves')
    parser.add_argument('--defective', default=None,
                        help='comma-separated defective (reject) classes, e.g. p1069,p1071')
    parser.add_argument('--params-file', type=Path, default=None,
                        help='ROS parameter YAML: accept/reject classes of '
                             'reject_actuator_node (--defective overrides its reject classes)')
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument('--max-escape-rate', type=float, default=0.0,
                        help='largest escape rate allowed on val, 0..1 (default %(default)s)')
    choice.add_argument('--threshold', type=float, default=None,
                        help='use this min_confidence instead of choosing one')
    parser.add_argument('--max-false-reject-rate', type=float, default=0.5,
                        help='a point rejecting more good parts than this, 0..1, is unusable: '
                             'a loud warning, exit 1, nothing written into the card '
                             '(default %(default)s)')
    parser.add_argument('--per-class', action='store_true',
                        help='also choose min_confidence_per_class for every predicted class')
    parser.add_argument('--write-card', action='store_true',
                        help='write the operating point into the model card (.json, and .md)')
    parser.add_argument('--labels', type=Path, default=None, help='sidecar label CSV (bags)')
    parser.add_argument('--truth-topic', default='ground_truth', help='ground-truth topic '
                                                                      'of a bag')
    parser.add_argument('--image-topic', default=None, help='image topic of a bag')
    add_model_arguments(parser)
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def policy_for(args: argparse.Namespace):
    """Return the reject policy whose min_confidence is swept."""
    values = dict(read_policy_values(args.params_file)) if args.params_file else {}
    if args.defective:
        values['reject_classes'] = [c.strip() for c in args.defective.split(',') if c.strip()]
    policy = policy_from_values(values)
    if not policy.reject_classes and not policy.accept_classes:
        raise ValueError('say which classes are defective: --defective or --params-file')
    return policy


def check_classes(policy, model_classes, args: argparse.Namespace) -> None:
    """Refuse --defective classes the model does not have; warn for the params file's."""
    known = set(model_classes)
    named = {c.strip() for c in (args.defective or '').split(',') if c.strip()}
    unknown = sorted(named - known)
    if unknown:
        raise ValueError(f'--defective {", ".join(unknown)}: not a class of the model '
                         f'(its classes: {", ".join(model_classes)})')
    others = sorted((set(policy.reject_classes) | set(policy.accept_classes)) - known - named)
    if others:
        print(f'warning: {args.params_file} names classes the model does not have: '
              f'{", ".join(others)}', file=sys.stderr)


def unusable_reason(point, max_false_reject_rate: float):
    """Return why the operating point must not go on a line, or None when it may."""
    if not point.feasible:
        return (f'{point.escapes} escape(s) at every threshold (at full confidence): no '
                'threshold meets the escape rate')
    if point.false_reject_rate > max_false_reject_rate:
        return (f'{point.false_reject_rate * 100:.1f} % of the good parts rejected '
                f'({point.false_rejects} of {point.good}), more than '
                f'{max_false_reject_rate * 100:.0f} % (--max-false-reject-rate)')
    return None


def open_data(args: argparse.Namespace):
    """Return the frame source: a bag, or a split of a seed dataset."""
    from acnn_ros.offline.dataset_cli import is_bag
    from acnn_ros.offline.evaluation import BagSource, FolderSource
    if is_bag(args.data):
        return BagSource(args.data, args.image_topic, args.truth_topic or None)
    if args.split == 'test':
        print('warning: choosing thresholds on the test split leaves no unbiased test',
              file=sys.stderr)
    return FolderSource(args.data, args.split)


def write_card(model: Path, op) -> Path:
    """Store the operating point in the model card (and its .md); return the card path."""
    from acnn_ros.offline.thresholds_report import card_markdown_section, replace_section
    path = card_path_for(model)
    card = ModelCard.load(path)
    replace(card, operating_point=op).save(path)
    markdown = path.with_suffix('.md')
    if markdown.is_file():
        markdown.write_text(replace_section(markdown.read_text(encoding='utf-8'),
                                            card_markdown_section(op)), encoding='utf-8')
    return path


def run(args: argparse.Namespace) -> int:
    """Evaluate, sweep, write; return 0, 1 (escape rate not met) or 2 (bad input)."""
    from acnn_ros.core.image_codec import ImageDecodeError
    from acnn_ros.offline.evaluation import run_pipeline
    from acnn_ros.offline.thresholds import choose_operating_point
    from acnn_ros.offline.thresholds_report import write_files, yaml_lines
    from acnn_ros.runtime.engines import EngineError
    try:
        if not 0.0 <= args.max_escape_rate <= 1.0:
            raise ValueError('--max-escape-rate must be in [0, 1]')
        if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
            raise ValueError('--threshold must be in [0, 1]')
        if not 0.0 <= args.max_false_reject_rate <= 1.0:
            raise ValueError('--max-false-reject-rate must be in [0, 1]')
        policy = policy_for(args)
        labels = LabelTable.load(args.labels) if args.labels else None
        source = open_data(args)
        pipeline = load_pipeline(args.model, args)
        check_classes(policy, pipeline.class_names, args)
        evaluations = run_pipeline(pipeline, source.frames(), policy, labels,
                                   progress=not args.no_progress and sys.stderr.isatty(),
                                   total=source.count, description='validation')
        point, curves = choose_operating_point(evaluations, policy, args.max_escape_rate,
                                               args.threshold, args.per_class)
        if not point.defective + point.good:
            raise ValueError(f'no labelled frames in {source.description}')
        meta = {'model': f'{args.model} ({pipeline.model_id})',
                'data': f'{source.description} ({point.defective + point.good} labelled '
                        'frames)',
                'defective classes': ', '.join(policy.reject_classes) or '-',
                'accept classes': ', '.join(policy.accept_classes) or 'all others',
                'maximum escape rate': (f'{args.max_escape_rate}' if args.threshold is None
                                        else f'fixed threshold {args.threshold}')}
        op = write_files(args.out, curves, point, meta, args.max_escape_rate)
    except (BagError, LabelError, ModelCardError, EngineError, ImageDecodeError, ValueError,
            FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'{source.description}: {point.defective} defective, {point.good} good parts')
    print(f'operating point: min_confidence {point.policy.min_confidence:.3f}, escape rate '
          f'{point.escape_rate * 100:.2f} % ({point.escapes}), false-reject rate '
          f'{point.false_reject_rate * 100:.2f} % ({point.false_rejects}) -> {args.out}')
    reason = unusable_reason(point, args.max_false_reject_rate)
    if reason:
        banner = ['', '!' * 78, f'UNUSABLE OPERATING POINT: {reason}.',
                  'This model must not go on the line: it needs more data, labels or training.',
                  'Nothing was written into the model card.', '!' * 78]
        print('\n'.join(banner), file=sys.stderr)
        return 1
    print('\n'.join(yaml_lines(point)))
    if args.write_card:
        print(f'operating point written into {write_card(args.model, op)}')
    return 0
