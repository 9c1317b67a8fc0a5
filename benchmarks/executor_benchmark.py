# SPDX-License-Identifier: Apache-2.0
"""
Why inference_node collapsed on an idle machine: executor and worker, A/B in one run.

Runs inference_node (the checkout's, with the default `intra_op_threads: 1`) in its own process
once per configuration and drives it over real DDS with the inference benchmark's NodeDriver:
latency with one frame in flight, as fast as results come back (2 in flight), a 60 fps and a
30 fps camera. Configurations (`--configs`):
- `single`: the node as shipped (SingleThreadedExecutor, nodes/clean_shutdown.py; staged worker,
  runtime/staged_worker.py);
- `single-seq`: the same with the previous one-thread worker (prepare, engine, publish in turn);
- `multi-seq`: the previous main(): rclpy MultiThreadedExecutor(num_threads=2) + one-thread
  worker;
- `multi-seq-1ms`: the same with sys.setswitchinterval(0.001) (what reject_actuator_node sets).
For each, the CPU time of the node's main (executor) thread per second of the 60 fps stage,
from /proc: the executor's own cost, busy-looping or not.

    python -m benchmarks.executor_benchmark
"""
import argparse
import array
import os
from pathlib import Path
import subprocess
import sys
import threading
import time

from acnn_ros.core.stats import percentiles
from benchmarks import inference_node_driver as driver_module

REPO_DIR = Path(__file__).resolve().parents[1]
CONFIGS = ('multi-seq', 'single-seq', 'single', 'multi-seq-1ms')


class SequentialWorker:
    """The previous worker: one thread takes a frame, prepares, runs the engine, publishes."""

    def __init__(self, slot, prepare, finish, name='inference'):
        self._thread = threading.Thread(target=self._run, args=(slot, prepare, finish),
                                        daemon=True, name=f'{name}_worker')
        self._thread.start()

    def _run(self, slot, prepare, finish):
        while True:
            frame = slot.take(0.2)
            if frame is not None:
                try:
                    result, error = prepare(frame)(), None
                except Exception as exc:  # as the node: the frame still gets its result
                    result, error = None, exc
                finish(frame, result, error)
            elif slot.closed:
                return

    def join(self, timeout=None):
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def is_alive(self):
        return self._thread.is_alive()


def run_node(config: str) -> int:
    """Run inference_node (in this process) in configuration `config`."""
    from acnn_ros.nodes import inference_node
    from acnn_ros.nodes.node_main import run_node as node_main
    from rclpy.executors import MultiThreadedExecutor
    if '-seq' in config:
        inference_node.StagedWorker = SequentialWorker
    if config.endswith('-1ms'):
        sys.setswitchinterval(0.001)
    if not config.startswith('multi'):
        return inference_node.main()

    def spin_multi(node) -> int:
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(node)
        executor.spin()
        return 0
    return node_main('inference_node', inference_node.InferenceNode, None, run=spin_multi)


def thread_cpu_s(pid: int, tid: int) -> float:
    """Return user + system CPU seconds of one thread, from /proc."""
    fields = Path(f'/proc/{pid}/task/{tid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def measure(config: str, model: Path, frames: int, seconds: float) -> dict:
    """Drive one node process in `config`; return its numbers."""
    real_popen = subprocess.Popen

    def popen(command, **kwargs):
        index = command.index('-m')
        command = (command[:index] + ['-m', 'benchmarks.executor_benchmark', '--node', config]
                   + command[index + 2:])
        kwargs['env'] = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(REPO_DIR), os.environ.get('PYTHONPATH', '')]))
        return real_popen(command, **kwargs)
    driver_module.subprocess.Popen = popen
    try:
        driver = driver_module.NodeDriver(model, 1)
    finally:
        driver_module.subprocess.Popen = real_popen
    try:
        driver.wait_ready()
        from benchmarks.inference_benchmark import test_frame
        data = array.array('B', test_frame().tobytes())
        driver.latency(data, 20)
        e2e, total, model_ms = driver.latency(data, frames)
        sustained = driver.throughput(data, seconds)
        pid = driver.process.pid
        cpu_before, wall_before = thread_cpu_s(pid, pid), time.monotonic()
        camera60 = driver.throughput(data, seconds, period_s=1 / 60.0)
        main_cpu = (thread_cpu_s(pid, pid) - cpu_before) / (time.monotonic() - wall_before)
        camera30 = driver.throughput(data, seconds, period_s=1 / 30.0)
    finally:
        driver.close()
    return {'config': config, 'e2e': e2e, 'model': model_ms, 'total': total,
            'sustained': sustained, 'camera60': camera60, 'camera30': camera30,
            'main_cpu': main_cpu}


def row(r: dict) -> str:
    """Return one markdown table row."""
    model, e2e = percentiles(r['model']), percentiles(r['e2e'])
    s, c60, c30 = r['sustained'], r['camera60'], r['camera30']
    return (f'| {r["config"]} | {model["p50"]:.2f} | {e2e["p50"]:.2f} / '
            f'{e2e["p99"]:.1f} | {s["fps"]:.0f} | '
            f'{c60["ok"]}/{c60["published"]} ({c60["results"]}) | '
            f'{c30["ok"]}/{c30["published"]} ({c30["results"]}) | {r["main_cpu"] * 100:.0f} % |')


def main(argv=None) -> int:
    """Parse arguments, run every configuration, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--node', help=argparse.SUPPRESS)
    parser.add_argument('--configs', nargs='+', default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument('--model', default=str(REPO_DIR / 'resource' / 'models'
                                               / 'acnn_demo.onnx'))
    parser.add_argument('--frames', type=int, default=150)
    parser.add_argument('--seconds', type=float, default=4.0)
    args, rest = parser.parse_known_args(argv)
    if args.node:
        sys.argv = [sys.argv[0]] + rest
        return run_node(args.node)
    load = ' '.join(f'{v:.1f}' for v in os.getloadavg())
    rows = [measure(config, Path(args.model), args.frames, args.seconds)
            for config in args.configs]
    print(f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, load average {load} at '
          f'the start, intra_op_threads 1\n')
    print('| configuration | model p50 ms | e2e p50 / p99 ms | sustained ok fps | 60 fps: ok / '
          'published (answered) | 30 fps: ok / published (answered) | executor thread CPU '
          'at 60 fps |')
    print('|---|---|---|---|---|---|---|')
    for result in rows:
        print(row(result))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
