# SPDX-License-Identifier: Apache-2.0
"""
The `acnn` command: one entry point for the offline tools.

Each sub-command lives in its own module and registers a `add_parser(subparsers)` function
returning nothing; the module is imported only when the CLI starts, so a missing optional
dependency (torch on a ROS-only robot) breaks only the sub-commands that need it.
"""
import argparse
import importlib
import sys
from typing import List, Optional

# (module, description). Each module defines add_arguments(parser) and run(args) -> int.
SUBCOMMANDS = {
    'synth': ('acnn_ros.model.synth_cli', 'generate a synthetic AOI dataset (seed format)'),
    'train': ('acnn_ros.model.train_cli', 'train an A-CNN (5 % box labels by default)'),
    'eval-checkpoint': ('acnn_ros.model.evaluate_cli',
                        'evaluate a torch checkpoint on a seed dataset split'),
    'export': ('acnn_ros.model.export_cli', 'export a checkpoint to ONNX + model card'),
    'eval-recording': ('acnn_ros.offline.eval_cli',
                       'evaluate a model as the line runs it on a rosbag2 or an image folder'),
    'compare': ('acnn_ros.offline.compare_cli',
                'frames whose result or decision differs between two models or policies'),
    'make-bag': ('acnn_ros.offline.make_bag_cli', 'write a rosbag2 of images (folder/synthetic)'),
    'demo': ('acnn_ros.app.demo', 'run the whole line in one process with a PLC simulator'),
    'plc': ('acnn_ros.offline.plc_cli', 'commission the line PLC: map, heartbeat, test writes'),
    'dataset': ('acnn_ros.offline.dataset_cli',
                'frames of a bag, video or folder -> a seed dataset with train/val/test'),
    'label': ('acnn_ros.offline.label_cli',
              'box the ~5 % of the train split the model localizes from (local web page)'),
    'thresholds': ('acnn_ros.offline.thresholds_cli',
                   'escape vs false-reject rate over the threshold; choose the operating point'),
    'line': ('acnn_ros.app.line_cli',
             'the running line without `ros2`: status, load-model (changeover), set a parameter'),
    'shift': ('acnn_ros.offline.shift_cli',
              "the shift database: `acnn shift export` writes a shift's parts as CSV"),
}

# Old names kept for users' scripts: old -> new. Each prints one line naming the new command.
DEPRECATED_ALIASES = {
    'evaluate': 'eval-checkpoint',
    'eval-bag': 'eval-recording',
}


def deprecation_note(old: str) -> str:
    """Return the one line printed when `acnn <old>` is used."""
    return f'acnn {old} is deprecated: use acnn {DEPRECATED_ALIASES[old]}'


def _add_command(subparsers, name: str, module_name: str, help_text: Optional[str],
                 description: str) -> None:
    # argparse %-formats help strings (not descriptions): '5 %' must be escaped there.
    kwargs = {} if help_text is None else {'help': help_text.replace('%', '%%')}
    sub = subparsers.add_parser(name, description=description, **kwargs)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        sub.set_defaults(unavailable=f'acnn {name} is unavailable: {exc}')
        return
    module.add_arguments(sub)
    sub.set_defaults(run=module.run)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every sub-command whose module imports."""
    parser = argparse.ArgumentParser(prog='acnn', description=__doc__.strip().splitlines()[0])
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        _add_command(subparsers, name, module_name, help_text, help_text)
    for old, new in DEPRECATED_ALIASES.items():
        # Not listed in `acnn --help`; the same arguments as the new command.
        _add_command(subparsers, old, SUBCOMMANDS[new][0], None,
                     f'{deprecation_note(old)}. {SUBCOMMANDS[new][1]}')
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run the CLI; return the process exit status."""
    args = build_parser().parse_args(argv)
    if args.command in DEPRECATED_ALIASES:
        print(deprecation_note(args.command), file=sys.stderr)
    if getattr(args, 'unavailable', None):
        print(f'error: {args.unavailable}', file=sys.stderr)
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
