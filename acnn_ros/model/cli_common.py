# SPDX-License-Identifier: Apache-2.0
"""Options shared by `acnn train` and `acnn eval-checkpoint` (dataset reading)."""
import argparse
import shlex
import sys
from typing import Optional

from acnn_ros.model.dataset import DEFAULT_CLASS_PATTERN


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the dataset options."""
    parser.add_argument('data_dir', help='dataset root with images/{train,test} and labels/')
    parser.add_argument('--classes', default=None,
                        help='comma-separated class names (default: classes.txt in the dataset, '
                             'else the file-name prefixes)')
    parser.add_argument('--class-pattern', default=DEFAULT_CLASS_PATTERN,
                        help='regex with a (?P<cls>...) group: class of an image without a '
                             'label file, from its file name (default %(default)r); a '
                             'sub-folder of images/<split>/ named after a class works too')
    parser.add_argument('--on-error', choices=('skip', 'fail'), default='skip',
                        help='bad files (corrupt image, malformed label, box outside the '
                             'frame): report and skip, or fail the run (default %(default)s)')
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    parser.add_argument('--no-progress', action='store_true', help='hide progress bars')


def class_list(text: Optional[str]):
    """Return the --classes value as a list, or None."""
    if not text:
        return None
    return [c.strip() for c in text.split(',') if c.strip()]


def command_line() -> str:
    """Return the command that is running, as a user would type it."""
    args = ' '.join(shlex.quote(a) for a in sys.argv[1:])
    return f'python -m acnn_ros.cli {args}'.strip()
