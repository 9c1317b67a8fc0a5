# SPDX-License-Identifier: Apache-2.0
"""
DROPPED_FRAME rejects of the first parts after each start of the 3-process line (issue 19.6).

One start = fresh inference_node and reject_actuator_node (actuator: topic) processes, then a
fresh camera_node (synthetic frames, `--rate-hz`), each `python -m acnn_ros.nodes.<name>` with
its tree's config/inspect.yaml, like `ros2 run`. This process observes `reject` (one
RejectEvent per part) and counts the reasons of parts 1..`--parts`; camera_node is started
once this process sees the `reject` and `inspection` publishers, so that no event of part 1
is lost to discovery (camera_node's own start gate waits for `part` and `image`). With
`--before REF` every start is run twice, first with the package as it was at git REF
(extracted with `git archive` into a temporary folder), then with this checkout, so both see
the same machine load; `--json PATH` writes each start's reasons (test/test_startup_no_drops.py):

    python -m benchmarks.startup_drops_benchmark --starts 20 --before ccc6e20
"""
import argparse
from collections import Counter
import json
import os
from pathlib import Path
import random
import signal
import subprocess
import sys
import tempfile
import time
from typing import Dict, NamedTuple, Optional

from benchmarks.common import keep_dds_local

REPO_DIR = Path(__file__).resolve().parents[1]

REASON_DROPPED_FRAME = 5        # RejectEvent.REASON_DROPPED_FRAME
REASON_NO_RESULT = 6            # RejectEvent.REASON_NO_RESULT
NODES = ('inference_node', 'reject_actuator_node', 'camera_node')


class StartResult(NamedTuple):
    """The reasons of the first parts of one start (part id -> RejectEvent reason)."""

    reasons: Dict[int, int]
    parts: int
    load1: float

    @property
    def dropped(self) -> int:
        """Return the parts rejected DROPPED_FRAME."""
        return sum(r == REASON_DROPPED_FRAME for r in self.reasons.values())

    @property
    def no_result(self) -> int:
        """Return the parts rejected NO_RESULT (answered too late or not at all)."""
        return sum(r == REASON_NO_RESULT for r in self.reasons.values())

    @property
    def unobserved(self) -> int:
        """Return the parts whose RejectEvent this process did not see."""
        return self.parts - len(self.reasons)

    def summary(self) -> dict:
        """Return the start as JSON-ready values: reasons by part, parts dropped, unobserved."""
        return {'reasons': {str(part): reason for part, reason in sorted(self.reasons.items())},
                'dropped': sorted(p for p, r in self.reasons.items() if r == REASON_DROPPED_FRAME),
                'unobserved': self.unobserved, 'load1': self.load1}

    def line(self) -> str:
        """Return the counts on one line."""
        return (f'dropped {self.dropped:2d}  no_result {self.no_result:2d}  unobserved '
                f'{self.unobserved:2d}')


class Observer:
    """RejectEvents of one ROS domain, seen from this process."""

    def __init__(self, domain_id: int):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile
        from acnn_ros.msg import RejectEvent
        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node('startup_drops_observer', context=self.context)
        self.events = []
        self.node.create_subscription(RejectEvent, 'reject', self.events.append,
                                      QoSProfile(depth=1000))
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, condition, timeout_s: float) -> bool:
        """Spin until `condition()` or the timeout; return condition()."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and not condition():
            self.executor.spin_once(timeout_sec=0.02)
        return condition()

    def graph_ready(self) -> bool:
        """Return True once `reject` and `inspection` have a publisher."""
        return all(self.node.count_publishers(t) > 0 for t in ('reject', 'inspection'))

    def close(self) -> None:
        """Destroy the node and shut the context down."""
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)


def start_node(tree: Path, name: str, env: dict, log, *parameters: str) -> subprocess.Popen:
    """Start `python -m acnn_ros.nodes.<name>` of `tree` with its config/inspect.yaml."""
    args = [sys.executable, '-m', f'acnn_ros.nodes.{name}', '--ros-args', '--params-file',
            str(tree / 'config' / 'inspect.yaml')]
    for parameter in parameters:
        args += ['-p', parameter]
    log.write(f'--- {name} from {tree} at {time.strftime("%H:%M:%S")}\n')
    log.flush()
    return subprocess.Popen(args, cwd=str(tree), stdout=log, stderr=subprocess.STDOUT,
                            env=env)


def stop(processes) -> None:
    """Ctrl-C every process, then wait (kill after 20 s)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_start(tree: Path, rate_hz: float, parts: int, log_path: Path,
              domain_id: Optional[int] = None, timeout_s: float = 60.0) -> StartResult:
    """Bring the line up from `tree` once; return the reasons of its parts 1..`parts`."""
    domain_id = random.randint(150, 229) if domain_id is None else domain_id
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONUNBUFFERED='1')
    observer = Observer(domain_id)
    processes = []
    try:
        with open(log_path, 'a', encoding='utf-8') as log:
            processes.append(start_node(tree, 'inference_node', env, log))
            processes.append(start_node(tree, 'reject_actuator_node', env, log,
                                        'actuator:=topic'))
            if not observer.spin_until(observer.graph_ready, timeout_s):
                raise RuntimeError(f'inference / actuator did not come up; see {log_path}')
            observer.spin_until(lambda: False, 0.5)     # let the writers match this reader
            processes.append(start_node(
                tree, 'camera_node', env, log, 'source:=synthetic',
                'synthetic_pool_size:=20', f'frame_rate_hz:={float(rate_hz)}'))

            def first_parts():
                return {e.part_id: e.reason for e in observer.events if e.part_id <= parts}
            observer.spin_until(lambda: len(first_parts()) >= parts, timeout_s)
            load1 = os.getloadavg()[0]
            stop(processes)
    finally:
        stop(processes)
        observer.close()
    return StartResult(first_parts(), parts, load1)


def extract_tree(ref: str, into: Path) -> Path:
    """Write the files of git `ref` into `into` (git archive); return it."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(['git', 'archive', ref], cwd=str(REPO_DIR), check=True,
                             capture_output=True).stdout
    subprocess.run(['tar', '-x', '-C', str(into)], input=archive, check=True)
    return into


def parse_args(argv=None):
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--starts', type=int, default=20, help='line starts')
    parser.add_argument('--parts', type=int, default=10, help='first parts counted per start')
    parser.add_argument('--rate-hz', type=float, default=30.0, help='camera frame rate')
    parser.add_argument('--before', default='', help='git ref of the "before" package')
    parser.add_argument('--log', default='', help='node output (default: a temporary file)')
    parser.add_argument('--json', default='', help='write every start (per tree) to this file')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Run the starts; print the counts per start and the totals; 1 if any part was dropped."""
    args = parse_args(argv)
    keep_dds_local(63)
    with tempfile.TemporaryDirectory(prefix='startup_drops_') as tmp:
        log_path = Path(args.log or Path(tmp) / 'nodes.log')
        trees = {'after': REPO_DIR}
        if args.before:
            trees = {'before': extract_tree(args.before, Path(tmp) / 'before'), **trees}
        totals = {name: Counter() for name in trees}
        starts = {name: [] for name in trees}
        print(f'{args.starts} starts, camera {args.rate_hz:g} Hz, first {args.parts} parts each, '
              f'{os.cpu_count()} CPUs; before = {args.before or "-"}, after = {REPO_DIR}')
        for start in range(1, args.starts + 1):
            cells = []
            for name, tree in trees.items():
                result = run_start(tree, args.rate_hz, args.parts, log_path)
                starts[name].append(result.summary())
                totals[name].update(dropped=result.dropped, no_result=result.no_result,
                                    unobserved=result.unobserved, parts=args.parts)
                cells.append(f'{name}: {result.line()}  (load {result.load1:.2f})')
            print(f'start {start:2d}  ' + '  |  '.join(cells), flush=True)
        for name, total in totals.items():
            print(f'{name:6s} total: {total["dropped"]} DROPPED_FRAME, {total["no_result"]} '
                  f'NO_RESULT, {total["unobserved"]} unobserved of {total["parts"]} parts')
        print(f'load average at the end: {" ".join(f"{v:.2f}" for v in os.getloadavg())}')
    if args.json:
        Path(args.json).write_text(json.dumps(starts, indent=1), encoding='utf-8')
    return 1 if totals['after']['dropped'] else 0


if __name__ == '__main__':
    sys.exit(main())
