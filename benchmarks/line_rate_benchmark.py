# SPDX-License-Identifier: Apache-2.0
"""
Highest camera rate the inspection graph keeps up with, ros2_benchmark style (issue 11).

For each configuration (the default `config/inspect.yaml`, and `intra_op_threads` 0):
1. model only, in this process: `InspectionPipeline` engine latency on the benchmark frame;
   model-only rate = 1 / p50;
2. DDS path: inference_node in its own process, started like `ros2 run` with the params file;
   this process is the camera driver: it serializes the frame ONCE, then for every frame
   writes the capture stamp into the CDR header and publishes the bytes
   (`publisher.publish(raw_bytes)`, SensorDataQoS, as a C++ driver would). Probes at a fixed
   rate (bounded frames and seconds) count frames answered OK and the end-to-end latency
   capture stamp -> InspectionResult received; a binary search (rate_search.py) finds the
   highest rate with < 1 % of frames not answered OK. CPU and RSS of both processes per probe.

    python -m benchmarks.line_rate_benchmark --write-docs
"""
import argparse
import gc
import json
import os
from pathlib import Path
import platform
import struct
import subprocess
import sys
import tempfile
import time

from acnn_ros.app.bench import rate_search
from acnn_ros.app.bench.line_rate_report import markdown, rated_rate_yaml, SECTION
from acnn_ros.app.bench.rate_search import find_max_rate, Probe, ProcessUsage
from acnn_ros.core.messages import stamp_ns
from acnn_ros.core.stats import percentiles
from benchmarks.common import keep_dds_local, report_section
from benchmarks.inference_benchmark import test_frame
from benchmarks.line_process_probe import line_probe
import numpy as np

REPO_DIR = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'
PARAMS_FILE = REPO_DIR / 'config' / 'inspect.yaml'
STAMP_OFFSET = 4  # CDR: 4-byte encapsulation header, then header.stamp (int32 sec, uint32 ns)


def model_only(model: Path, threads: int, frame: np.ndarray, iterations: int) -> dict:
    """Time the engine alone and the core pipeline in this process, alternating per frame."""
    from acnn_ros.core.preprocess import preprocess
    from acnn_ros.runtime.pipeline import InspectionPipeline
    pipeline = InspectionPipeline.from_model_path(model, intra_op_threads=threads,
                                                  warmup_runs=10)
    tensor, _ = preprocess(frame, pipeline.card.input_width, pipeline.card.input_height)
    engine_ms, pipeline_ms = [], []
    for _ in range(iterations):
        start = time.perf_counter()
        pipeline.engine.run(tensor)
        middle = time.perf_counter()
        outcome = pipeline.inspect(frame)
        engine_ms.append((middle - start) * 1000.0)
        pipeline_ms.append((time.perf_counter() - middle) * 1000.0)
    assert outcome.status == 0, outcome.detail
    result = {'model': percentiles(engine_ms), 'pipeline': percentiles(pipeline_ms),
              'provider': pipeline.provider_report, 'model_id': pipeline.model_id}
    result['rate_hz'] = 1000.0 / result['model']['p50']
    del pipeline  # its ONNX Runtime threads must not compete with the node's
    gc.collect()
    return result


class RawCameraDriver:
    """
    inference_node in a subprocess, fed pre-serialized Image bytes from this process.

    `cameras` N > 0 drives a station: every part is N frames with one stamp on cam<i>/image
    (frame_id cam<i>); a part passes when all its frames were answered OK.
    """

    def __init__(self, model: Path, threads: int, frame: np.ndarray, extra_args=(),
                 cameras: int = 0):
        from acnn_ros.msg import InspectionResult
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
        from rclpy.serialization import serialize_message
        from sensor_msgs.msg import Image
        keep_dds_local(42)
        self.log = tempfile.NamedTemporaryFile('w+', suffix='.log', delete=False)
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'acnn_ros.nodes.inference_node', '--ros-args',
             '--params-file', str(PARAMS_FILE), '-p', f'model_path:={model}',
             '-p', f'intra_op_threads:={threads}', *extra_args],
            cwd=str(REPO_DIR), stdout=self.log, stderr=subprocess.STDOUT)
        self.node_usage = ProcessUsage(self.process.pid)
        self.own_usage = ProcessUsage(os.getpid())
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('line_rate_driver', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.cameras = [f'cam{i}' for i in range(cameras)] or ['line_rate_benchmark']
        topics = [f'{name}/image' for name in self.cameras] if cameras else ['image']
        self.publishers = [self.node.create_publisher(Image, topic, qos_profile_sensor_data)
                           for topic in topics]
        self.results = {}
        self.node.create_subscription(InspectionResult, 'inspection', self._on_result,
                                      QoSProfile(depth=1000,
                                                 reliability=ReliabilityPolicy.RELIABLE))
        height, width = frame.shape[:2]
        message = Image(height=height, width=width, encoding='bgr8', step=width * 3,
                        data=frame.tobytes())
        self.cdrs = []
        for name in self.cameras:   # once per camera, as a C++ driver fills a loan
            message.header.frame_id = name
            self.cdrs.append(bytearray(serialize_message(message)))

    def _on_result(self, msg) -> None:
        key = (stamp_ns(msg.header.stamp), msg.header.frame_id)
        self.results[key] = (time.time_ns(), msg.status, msg.inference_ms)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Wait until the node is up and matched both ways."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and self.process.poll() is None:
            if all(p.get_subscription_count() for p in self.publishers) and \
                    self.node.count_publishers('inspection'):
                return
            self.executor.spin_once(timeout_sec=0.05)
        raise RuntimeError('inference_node did not start:\n' + Path(self.log.name).read_text())

    def publish(self) -> int:
        """Stamp the part's frames with the capture time and publish them; return the stamp."""
        now = time.time_ns()
        for publisher, cdr in zip(self.publishers, self.cdrs):
            struct.pack_into('<iI', cdr, STAMP_OFFSET, now // 10**9, now % 10**9)
            publisher.publish(bytes(cdr))
        return now

    def part_answers(self, stamp: int) -> list:
        """Return (time received, status, model ms, camera) of each frame of a part answered."""
        return [self.results[(stamp, name)] + (name,) for name in self.cameras
                if (stamp, name) in self.results]

    def probe(self, rate_hz: float, seconds: float, min_frames: int, max_frames: int) -> Probe:
        """Publish at `rate_hz` for a bounded number of frames; count OK answers."""
        frames = int(min(max(rate_hz * seconds, min_frames), max_frames))
        period_ns = int(1e9 / rate_hz)
        sent = []
        cpu_node, cpu_own = self.node_usage.cpu_seconds(), self.own_usage.cpu_seconds()
        start = time.monotonic_ns()
        next_ns = start
        while len(sent) < frames:
            now = time.monotonic_ns()
            if now >= next_ns:
                sent.append(self.publish())
                next_ns += period_ns
                continue
            # Block in rcl_wait until the next frame is due (results are taken meanwhile).
            self.executor.spin_once(timeout_sec=(next_ns - now) / 1e9)
        wall = (time.monotonic_ns() - start) / 1e9
        end = time.monotonic() + 2.0
        frames = len(self.cameras)
        while time.monotonic() < end and any(len(self.part_answers(key)) < frames
                                             for key in sent):
            self.executor.spin_once(timeout_sec=0.02)
        parts = {key: self.part_answers(key) for key in sent}
        answered = [key for key, answers in parts.items() if len(answers) == frames]
        ok = [key for key in answered if all(a[1] == 0 for a in parts[key])]
        probe = Probe(rate_hz, len(sent), len(ok),
                      [(a[0] - key) / 1e6 for key in ok for a in parts[key]],
                      answered=len(answered))
        probe.model_ms = [a[2] for key in ok for a in parts[key]]
        probe.e2e_ms_by_camera = {name: [(a[0] - key) / 1e6 for key in ok for a in parts[key]
                                         if a[3] == name] for name in self.cameras}
        probe.cpu_percent = {
            'inference_node': rate_search.cpu_percent(cpu_node, self.node_usage.cpu_seconds(),
                                                      wall),
            'driver': rate_search.cpu_percent(cpu_own, self.own_usage.cpu_seconds(), wall)}
        print(f'  probe {rate_hz:7.1f} Hz: {probe.ok}/{probe.sent} ok, answered '
              f'{probe.answered}, e2e p50 {percentiles(probe.latencies_ms)["p50"]:.2f} ms, '
              f'cpu {probe.cpu_percent}', flush=True)
        time.sleep(0.5)  # let the graph drain before the next probe
        return probe

    def close(self) -> dict:
        """Stop the node; return the RSS of both processes in MiB."""
        rss = {'inference_node': self.node_usage.rss_mib(), 'driver': self.own_usage.rss_mib()}
        self.process.send_signal(2)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.executor.shutdown()
        self.node.destroy_node()
        import rclpy
        rclpy.try_shutdown(context=self.context)
        os.unlink(self.log.name)
        return rss


def probe_summary(probe: Probe) -> dict:
    """Return the JSON-able summary of one probe."""
    return {'rate_hz': probe.rate_hz, 'sent': probe.sent, 'answered': probe.answered,
            'ok': probe.ok, 'passed': probe.passed(), 'e2e_ms': percentiles(probe.latencies_ms),
            'model_ms': percentiles(getattr(probe, 'model_ms', [])),
            'cpu_percent': getattr(probe, 'cpu_percent', {}),
            'captured': getattr(probe, 'captured', None)}


def run_dds(args, label: str, threads: int, frame: np.ndarray) -> dict:
    """Model-only rate, then the DDS-path probes and search, for one configuration."""
    print(f'{label}: model only', flush=True)
    alone = model_only(Path(args.model), threads, frame, args.iterations)
    rate = alone['rate_hz']
    driver = RawCameraDriver(Path(args.model), threads, frame)
    try:
        driver.wait_ready()
        driver.probe(20.0, 1.0, 30, 30)  # warm-up: discovery, first allocations

        def probe(rate_hz):
            return driver.probe(rate_hz, args.seconds, args.min_frames, args.max_frames)

        print(f'{label}: model-only rate {rate:.1f} Hz', flush=True)
        half = probe(0.5 * rate)
        at_90 = probe(0.9 * rate)
        search = find_max_rate(probe, args.low * rate, args.high * rate,
                               max_probes=args.max_probes)
    finally:
        rss = driver.close()
    best = search.best_probe
    targets = rate_search.dds_targets(
        percentiles(half.model_ms)['p50'], percentiles(half.latencies_ms)['p50'], rate,
        search.best_hz, at_90.ok == at_90.sent)
    return {'label': label, 'threads': threads, 'model_only': alone,
            'half_rate': probe_summary(half), 'at_90': probe_summary(at_90),
            'best_hz': search.best_hz, 'best': probe_summary(best) if best else None,
            'search': [probe_summary(p) for p in search.probes], 'rss_mib': rss,
            'targets': [vars(t) | {'met': t.met, 'describe': t.describe()} for t in targets]}


def run_line(args, run: dict, frame: np.ndarray) -> dict:
    """Probe and search the one-process line, against the model-only rate of `run`."""
    rate = run['model_only']['rate_hz']
    print(f'{run["label"]}: one-process line', flush=True)

    def probe(rate_hz):
        frames = int(min(max(rate_hz * args.seconds, args.min_frames), args.max_frames))
        return line_probe(PARAMS_FILE, Path(args.model), run['threads'], frame, rate_hz, frames)

    half = probe(0.5 * rate)
    at_90 = probe(0.9 * rate)
    search = find_max_rate(probe, args.low * rate, args.high * rate, max_probes=args.max_probes)
    best = search.best_probe
    target = rate_search.line_target(percentiles(half.model_ms)['p50'],
                                     percentiles(half.latencies_ms)['p50'])
    return {'half_rate': probe_summary(half), 'at_90': probe_summary(at_90),
            'best_hz': search.best_hz, 'best': probe_summary(best) if best else None,
            'search': [probe_summary(p) for p in search.probes],
            'rss_mib': {'benchmark process after the first line probe': half.rss_mib},
            'all_ok_at_90': at_90.ok == at_90.sent,
            'targets': [vars(t) | {'met': t.met, 'describe': t.describe()} for t in [
                target, rate_search.Target('highest sustained rate / model-only rate',
                                           search.best_hz / rate, 0.9, True)]]}


def machine() -> dict:
    """Return what the docs say about the machine and the moment."""
    return {'machine': f'{platform.node()}: {os.cpu_count()} cores, {platform.machine()}, '
                       f'Python {platform.python_version()}',
            'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
            'load_average': ' '.join(f'{v:.1f}' for v in os.getloadavg())}


def main(argv=None) -> int:
    """Parse arguments, run every configuration, print JSON and Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default=str(DEFAULT_MODEL))
    parser.add_argument('--threads', nargs='+', default=['default', '0'],
                        help="configurations: 'default' (config/inspect.yaml) or a number of "
                             'intra-op threads')
    parser.add_argument('--forms', nargs='+', default=['dds', 'line'], choices=['dds', 'line'],
                        help='dds: driver process -> inference_node process; line: the '
                             'one-process line (frames in memory)')
    parser.add_argument('--iterations', type=int, default=300, help='model-only frames')
    parser.add_argument('--seconds', type=float, default=3.0, help='length of one probe')
    parser.add_argument('--min-frames', type=int, default=100)
    parser.add_argument('--max-frames', type=int, default=400)
    parser.add_argument('--max-probes', type=int, default=7, help='probes of one search')
    parser.add_argument('--low', type=float, default=0.1, help='search from low x model rate')
    parser.add_argument('--high', type=float, default=1.1, help='... to high x model rate')
    parser.add_argument('--json', help='write the measurements to this file')
    parser.add_argument('--write-docs', action='store_true')
    args = parser.parse_args(argv)
    from acnn_ros.runtime.inference_config import InferenceConfig
    frame = test_frame()
    report = machine()
    report['command'] = 'python -m benchmarks.line_rate_benchmark ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    report['probe'] = {key: getattr(args, key) for key in (
        'seconds', 'min_frames', 'max_frames', 'low', 'high', 'max_probes')}
    report['runs'] = []
    for setting in args.threads:
        threads = InferenceConfig().intra_op_threads if setting == 'default' else int(setting)
        label = (f'default configuration (intra_op_threads {threads})' if setting == 'default'
                 else f'intra_op_threads {threads}')
        run = run_dds(args, label, threads, frame) if 'dds' in args.forms else {
            'label': label, 'threads': threads,
            'model_only': model_only(Path(args.model), threads, frame, args.iterations)}
        if 'line' in args.forms:
            run['line'] = run_line(args, run, frame)
        report['runs'].append(run)
    print(json.dumps(report, indent=1, default=float))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))
    text = markdown(report)
    report_section(SECTION, text, args.write_docs)
    print(rated_rate_yaml(report))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
