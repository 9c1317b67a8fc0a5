# SPDX-License-Identifier: Apache-2.0
"""
`acnn eval-recording`: evaluate a model on a rosbag2 or an image folder and write a report.

    acnn eval-recording --model resource/models/acnn_demo.onnx --bag shift.bag --out report/
    acnn eval-recording --model m.onnx --images data/synth --split test --out report/

Labels come from (first found): `--labels` sidecar CSV, the bag's ground-truth topic
(`--truth-topic`, written by `acnn make-bag`), or YOLO label files beside folder images.
The reject policy is the reject actuator's: `--params-file config/inspect.yaml` and/or flags.
"""
import argparse
from pathlib import Path
import sys
import time
from typing import List, Mapping, Optional

from acnn_ros.core.dataset.labels import LabelError, LabelTable, SIDECAR_HELP
from acnn_ros.core.model_card import ModelCardError
from acnn_ros.core.params_file import load_params_file, node_parameters
from acnn_ros.core.reject.decision import RejectPolicy
from acnn_ros.core.replay.bag_io import BagError
from acnn_ros.core.replay.metrics import compare_recorded, summarize

POLICY_NODE = 'reject_actuator_node'


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --bag/--images and their options."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--bag', type=Path, help='rosbag2 directory (or .db3/.mcap file)')
    source.add_argument('--images', type=Path,
                        help='image folder: seed format (images/<split>/, labels/<split>/) '
                             'or a flat folder of .jpg/.png')
    parser.add_argument('--image-topic', default=None,
                        help='image topic of the bag (default: its only image topic)')
    parser.add_argument('--truth-topic', default='ground_truth',
                        help="ground-truth topic (acnn_ros/InspectionResult) in the bag; '' "
                             'to ignore it (default: %(default)s)')
    parser.add_argument('--split', default=None, help='seed-format split to use (train, test)')
    parser.add_argument('--labels', type=Path, default=None,
                        help='sidecar labels: ' + SIDECAR_HELP)


def add_policy_arguments(parser: argparse.ArgumentParser, suffix: str = '',
                         label: str = '') -> None:
    """Add the reject-policy options (with a suffix such as '-b' for a second policy)."""
    dest = suffix.replace('-', '_')
    group = parser.add_argument_group(f'reject policy{label}')
    group.add_argument(f'--params-file{suffix}', dest=f'params_file{dest}', type=Path,
                       help=f'ROS parameter YAML; what it sets for /{POLICY_NODE} (its own '
                            'and the /** sections) gives the policy')
    group.add_argument(f'--accept-classes{suffix}', dest=f'accept_classes{dest}', nargs='*',
                       default=None, help='classes that pass (default: all but reject classes)')
    group.add_argument(f'--reject-classes{suffix}', dest=f'reject_classes{dest}', nargs='*',
                       default=None, help='classes rejected at any confidence')
    group.add_argument(f'--min-confidence{suffix}', dest=f'min_confidence{dest}', type=float,
                       default=None, help='minimum confidence that accepts a part '
                       f'({RejectPolicy.min_confidence})')
    group.add_argument(f'--min-confidence-per-class{suffix}',
                       dest=f'min_confidence_per_class{dest}', nargs='*', default=None,
                       metavar='NAME=VALUE', help='per-class minimum confidence')


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the engine options shared by eval-recording and compare."""
    parser.add_argument('--backend', default='onnxruntime', choices=('onnxruntime', 'torch'))
    parser.add_argument('--providers', nargs='*', default=['cpu'],
                        help='onnxruntime providers in order of preference (cpu, cuda, tensorrt)')
    parser.add_argument('--threads', type=int, default=0,
                        help='intra-op threads (0: onnxruntime default)')
    parser.add_argument('--class-names', nargs='*', default=None,
                        help="override the model card's class names")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the eval-recording options."""
    parser.add_argument('--model', type=Path, required=True,
                        help='model .onnx (its .json card beside it)')
    add_source_arguments(parser)
    parser.add_argument('--out', type=Path, required=True, help='report directory to write')
    add_model_arguments(parser)
    add_policy_arguments(parser)
    parser.add_argument('--recorded-topic', default='inspection',
                        help='bag topic holding the verdicts the live line published (e.g. '
                             "recorded by result_recorder_node): compared with this run; '' "
                             'to skip (default: %(default)s)')
    parser.add_argument('--max-escape-rate', type=float, default=None,
                        help='go / no-go: escape rate allowed on the recording, 0..1 (default: '
                             "the model card's operating point's, else 0)")
    parser.add_argument('--max-false-reject-rate', type=float, default=0.5,
                        help='go / no-go: false-reject rate allowed, 0..1 (default %(default)s)')
    parser.add_argument('--station', action='store_true',
                        help="a station's recording: every image topic is a camera (frame_id), "
                             'the frames of one stamp a part; adds per-part results, the views '
                             'fused as reject_actuator_node does, and each camera alone')
    parser.add_argument('--fusion', default=None, choices=('best_view', 'any_reject',
                                                           'all_agree'),
                        help="with --station: fusion policy (default: the params file's, else "
                             'best_view)')
    parser.add_argument('--corrupt', default=None, metavar='NAME:SEVERITY',
                        help='apply an image corruption (severity 1-5) to every frame before '
                             'inspection, e.g. defocus:3, glare:2 (benchmarks/'
                             'corruption_benchmark.py lists them): a quick robustness check')
    parser.add_argument('--worst', type=int, default=12,
                        help='frames shown on the worst-frames contact sheet')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def read_policy_values(path: Path) -> Mapping[str, object]:
    """Return the parameters a ROS parameter YAML gives reject_actuator_node (rcl's rules)."""
    values = node_parameters(load_params_file(path), POLICY_NODE)
    if not values:
        raise ValueError(f'parameter file {path} has no {POLICY_NODE} parameters')
    return values


def policy_from_args(args: argparse.Namespace, suffix: str = '',
                     fallback: Optional[argparse.Namespace] = None) -> RejectPolicy:
    """
    Build the reject policy: parameter file values, overridden by flags.

    With `fallback` (the first policy of `acnn compare`), options missing here come from it.
    """
    from acnn_ros.core.reject.config import policy_from_values
    dest = suffix.replace('-', '_')

    def option(name):
        value = getattr(args, f'{name}{dest}', None)
        if value is None and fallback is not None:
            value = getattr(fallback, name, None)
        return value
    values = {}
    params_file = option('params_file')
    if params_file:
        values.update(read_policy_values(params_file))
    for name in ('accept_classes', 'reject_classes', 'min_confidence',
                 'min_confidence_per_class'):
        value = option(name)
        if value is not None:
            values[name] = value
    return policy_from_values(values)


def open_source(args: argparse.Namespace):
    """Return the frame source (bag, a station's bag or folder) named by the arguments."""
    from acnn_ros.offline.evaluation import BagSource, FolderSource, StationBagSource
    if getattr(args, 'station', False):
        if args.bag is None:
            raise ValueError('--station needs --bag (one image topic per camera)')
        return StationBagSource(args.bag, args.truth_topic or None)
    if args.bag is not None:
        return BagSource(args.bag, args.image_topic, args.truth_topic or None)
    return FolderSource(args.images, args.split)


def parse_corruption(text: str):
    """Return (name, severity) of --corrupt NAME:SEVERITY, or raise ValueError."""
    from acnn_ros.core.dataset.corruptions import CORRUPTIONS, SEVERITIES
    name, _, severity = text.partition(':')
    images = [n for n, c in CORRUPTIONS.items() if c.kind == 'image']
    if name not in images:
        raise ValueError(f'--corrupt: unknown image corruption {name!r}; one of '
                         f'{", ".join(images)} (the render ones need the synthetic generator)')
    if not severity.isdigit() or int(severity) not in SEVERITIES:
        raise ValueError(f'--corrupt {text}: severity must be 1-5, e.g. {name}:3')
    return name, int(severity)


def station_lines(args, evaluations, policy) -> List[str]:
    """Return the per-part lines of a station's recording (core/replay/station_metrics)."""
    from acnn_ros.core.replay.station_metrics import station_summary
    fusion = args.fusion or (read_policy_values(args.params_file).get('fusion', 'best_view')
                             if args.params_file else 'best_view')
    cameras = sorted({e.ref.frame_id for e in evaluations})
    return station_summary(evaluations, cameras, policy, fusion).lines()


def load_pipeline(model: Path, args: argparse.Namespace):
    """Load the model with the engine options of the arguments."""
    from acnn_ros.runtime.pipeline import InspectionPipeline
    load_checkpoint_module = None
    if args.backend == 'torch':    # a training checkpoint is rebuilt by the model code
        from acnn_ros.model.checkpoint import load_checkpoint_module
    return InspectionPipeline.from_model_path(
        model, backend=args.backend, providers=tuple(args.providers),
        intra_op_threads=args.threads, class_names=args.class_names or None,
        load_checkpoint_module=load_checkpoint_module)


def describe_policy(policy: RejectPolicy) -> str:
    """Return the policy on one line for reports."""
    parts = [f'min_confidence={policy.min_confidence}']
    if policy.accept_classes:
        parts.append('accept=' + ','.join(policy.accept_classes))
    if policy.reject_classes:
        parts.append('reject=' + ','.join(policy.reject_classes))
    for name, value in sorted(policy.min_confidence_per_class.items()):
        parts.append(f'{name}>={value}')
    return ' '.join(parts)


def run(args: argparse.Namespace) -> int:
    """Evaluate and write the report; return 0, or 2 with a message on bad input."""
    from acnn_ros.core.image_codec import ImageDecodeError
    from acnn_ros.runtime.engines import EngineError
    from acnn_ros.offline.evaluation import recorded_results, run_pipeline
    from acnn_ros.offline.go_no_go import check_changeover
    from acnn_ros.offline.report import recorded_section, write_report
    try:
        for name in ('max_escape_rate', 'max_false_reject_rate'):
            value = getattr(args, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f'--{name.replace("_", "-")} must be in [0, 1]')
        policy = policy_from_args(args)
        labels = LabelTable.load(args.labels) if args.labels else None
        source = open_source(args)
        frames = source.frames()
        if args.corrupt:
            from acnn_ros.offline.evaluation import corrupted
            frames = corrupted(frames, *parse_corruption(args.corrupt))
        pipeline = load_pipeline(args.model, args)
        for warning in pipeline.warnings:
            print(f'warning: {warning}', file=sys.stderr)
        start = time.perf_counter()
        evaluations = run_pipeline(pipeline, frames, policy, labels,
                                   progress=not args.no_progress and sys.stderr.isatty(),
                                   total=source.count)
        elapsed = time.perf_counter() - start
        summary = summarize(evaluations, pipeline.class_names, pipeline.model_id)
        truth = ('sidecar ' + str(args.labels) if labels else
                 'bag topic ' + args.truth_topic if args.bag and source.has_truth else
                 'YOLO label files' if args.images and source.has_truth else 'none')
        meta = {'model': str(args.model), 'model_id': pipeline.model_id,
                'engine': pipeline.provider_report, 'source': source.description,
                'labels': truth, 'policy': describe_policy(policy),
                'frames_per_s': round(len(evaluations) / elapsed, 2) if elapsed > 0 else 0.0}
        if args.corrupt:
            meta['corruption'] = args.corrupt
        extra = []
        if args.bag is not None and args.recorded_topic:
            recorded = recorded_results(args.bag, args.recorded_topic)
            if recorded:
                comparison = compare_recorded(evaluations, recorded)
                args.out.mkdir(parents=True, exist_ok=True)
                extra = recorded_section(comparison, args.recorded_topic, args.out)
                meta['live_agreement'] = f'{comparison.agree}/{comparison.matched}'
        check = check_changeover(summary, pipeline.card.operating_point,
                                 policy.min_confidence, args.max_escape_rate,
                                 args.max_false_reject_rate)
        if check is not None:
            meta['go_no_go'] = check.lines[-1]
            extra = ['', '## Go / no-go (held-out recording vs the card)', ''] + \
                [f'- {line}' for line in check.lines] + extra
        if args.station:
            station = station_lines(args, evaluations, policy)
            meta['station'] = station[0]
            extra += ['', '## A station: per part', ''] + [f'- {line}' for line in station]
        report = write_report(args.out, evaluations, summary, source.load_images, meta,
                              worst_count=args.worst, extra_lines=extra)
    except (BagError, LabelError, ModelCardError, EngineError, ImageDecodeError, ValueError,
            FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    accuracy = (f'accuracy {summary.accuracy * 100.0:.2f} % ({summary.correct}/'
                f'{summary.labelled}), ' if summary.labelled else 'no labels, ')
    live = (f', live verdicts agree {meta["live_agreement"]}' if 'live_agreement' in meta
            else '')
    print(f'{summary.frames} frames, {accuracy}{summary.rejected} rejected, '
          f'{summary.escapes} escapes{live}, {meta["frames_per_s"]} frames/s -> {report}')
    if args.station:
        print('\n'.join(station))
    print('\n'.join(check.lines) if check is not None
          else 'no go / no-go: the recording has no labels')
    return 0
