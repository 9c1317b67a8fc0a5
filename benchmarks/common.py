# SPDX-License-Identifier: Apache-2.0
"""
What the benchmarks share: DDS on loopback, docs/BENCHMARKS.md sections, wall time.

Percentiles are acnn_ros.core.stats.percentiles and process memory is acnn_ros.app.proc_status,
as for the package itself.
"""
import argparse
import os
from pathlib import Path
import statistics
import time
from typing import List, Sequence

REPO_DIR = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = REPO_DIR / 'docs' / 'BENCHMARKS.md'
MARKER_PREFIX = '<!-- section:'


def keep_dds_local(default_domain: int) -> None:
    """
    Keep DDS on loopback in `default_domain`, unless the caller's environment says otherwise.

    A project tool like scripts/env.sh and test/conftest.py: ROS_AUTOMATIC_DISCOVERY_RANGE=
    LOCALHOST (ROS_LOCALHOST_ONLY=1 on Humble) and ROS_DOMAIN_ID are only set where they are
    unset, and child processes inherit them.
    """
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.setdefault('ROS_DOMAIN_ID', str(default_domain))
    if os.environ.get('ROS_DISTRO') == 'humble':
        os.environ.setdefault('ROS_LOCALHOST_ONLY', '1')


def replace_section(marker: str, text: str, path: Path = BENCHMARKS_MD) -> None:
    """
    Replace the section that starts at `marker`, up to the next marker, with `text`.

    The one writer of docs/BENCHMARKS.md sections for every benchmark. `text` is the section
    with or without its marker line (added when missing). A section that is not in the file
    yet is appended at its end.
    """
    if not text.startswith(marker):
        text = marker + '\n' + text
    content = path.read_text(encoding='utf-8')
    if marker not in content:
        path.write_text(content.rstrip('\n') + '\n\n' + text.rstrip('\n') + '\n',
                        encoding='utf-8')
        return
    start = content.index(marker)
    following = content.find(MARKER_PREFIX, start + len(marker))
    rest = content[following:] if following >= 0 else ''
    path.write_text(content[:start] + text.rstrip('\n') + '\n' + ('\n' + rest if rest else ''),
                    encoding='utf-8')


def report_section(marker: str, text: str, write_docs: bool) -> None:
    """Print a benchmark's section; with `write_docs`, also put it into docs/BENCHMARKS.md."""
    print(text)
    if write_docs:
        replace_section(marker, text)


def wall_times_ms(function, runs: int, warmup: int = 2) -> List[float]:
    """Return the wall time of each of `runs` calls of `function()` in ms, after `warmup`."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def latency_ms(function, repeats: int) -> float:
    """Return the median wall time of `function()` in ms after two warm-up calls."""
    return statistics.median(wall_times_ms(function, repeats))


def training_parser(doc: str, data: str, runs: str, rows: Sequence[str],
                    default_rows: str = '') -> argparse.ArgumentParser:
    """Return the options every train-and-measure benchmark has (data, runs, rows, docs)."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument('--rows', default=default_rows,
                        help=f'comma-separated subset of: {", ".join(rows)} (default: '
                        f'{default_rows or "all"})')
    parser.add_argument('--data', type=Path, default=Path(data), help='generated dataset')
    parser.add_argument('--runs', type=Path, default=Path(runs), help='checkpoints, results')
    parser.add_argument('--max-train', type=int, default=None,
                        help='a fixed random subset of N training images (CPU budget)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--repeats', type=int, default=30, help='latency repeats per row')
    parser.add_argument('--measure-only', default='',
                        help='comma-separated rows to measure (params, FLOPs, latency) '
                             'without training them')
    parser.add_argument('--write-docs', action='store_true')
    parser.add_argument('--no-progress', action='store_true')
    return parser
