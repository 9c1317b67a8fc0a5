# SPDX-License-Identifier: Apache-2.0
"""
The image fast path, measured in one run: rclpy vs rosbags CDR, and the node round trip.

1. In this process: serialize / deserialize a 640x480 bgr8 sensor_msgs/Image with rclpy
   (`serialize_message` of an Image built from the frame, `deserialize_message`) and with
   core/image_cdr (rosbags' serde), plus copying the frame's bytes as the floor.
2. Round trip frame -> inference_node (its own process, over DDS) -> InspectionResult, one frame
   in flight: the node of this checkout (raw subscription, rosbags) against the node of git
   `--before` (default HEAD; rclpy message subscription), both fed the same pre-serialized
   frames (as a camera_node of this checkout or a C++ driver sends them), alternately.

    python -m benchmarks.image_wire_benchmark [--frames 150] [--model resource/...onnx]
"""
import argparse
import os
from pathlib import Path
import platform
import subprocess
import sys
import tempfile
import time

from benchmarks.common import wall_times_ms
from benchmarks.inference_node_driver import NodeDriver
import numpy as np

REPO_DIR = Path(__file__).resolve().parents[1]
MODEL = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'


def timed(function, runs: int):
    """Return the median and p90 wall time of `function()` in ms."""
    times = wall_times_ms(function, runs, warmup=1)
    return float(np.median(times)), float(np.percentile(times, 90))


def serde_rows(runs: int):
    """Return (label, median ms, p90 ms) of each conversion of one 640x480 bgr8 frame."""
    from acnn_ros.core.image_cdr import array_image_cdr, image_from_cdr
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image
    bgr = np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8)

    def rclpy_message():
        return Image(height=480, width=640, encoding='bgr8', step=1920, data=bgr.tobytes())
    raw = serialize_message(rclpy_message())
    return [
        ('copy the frame (bgr.tobytes)', *timed(bgr.tobytes, runs)),
        ('rclpy: build Image + serialize_message', *timed(
            lambda: serialize_message(rclpy_message()), runs)),
        ('rosbags: array_image_cdr (build + serialize)', *timed(
            lambda: array_image_cdr(bgr, 'bgr8', 1, 'camera'), runs)),
        ('rclpy: deserialize_message', *timed(lambda: deserialize_message(raw, Image), runs)),
        ('rosbags: image_from_cdr (pixels as a view)', *timed(
            lambda: image_from_cdr(raw), runs)),
    ]


class RoundTrip(NodeDriver):
    """One inference_node process (a script path) and a raw publisher of frames to it."""

    def __init__(self, label, script: Path, model: Path):
        super().__init__(model, script=script)
        self.label = label
        self.wait_ready(90.0)
        self.spin_for(1.0)      # discovery completes per endpoint pair

    def spin_for(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.spin(0.01)

    def one(self, bgr):
        """Serialize + publish one frame, wait for its result; (e2e ms, result) or None."""
        from acnn_ros.core.image_cdr import array_image_cdr
        self._sequence += 1
        key = self._sequence * 10**9
        start = time.perf_counter()
        self.publisher.publish(array_image_cdr(bgr, 'bgr8', key, 'bench'))
        end = time.monotonic() + 5.0
        while key not in self.received and time.monotonic() < end:
            self.spin(0.05)
        if key not in self.received:
            return None
        arrived, msg = self.received[key]
        return (arrived - start) * 1000.0, msg


SUBSCRIBER = r"""
import sys, time
import numpy as np
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from acnn_ros.core.image_cdr import image_from_cdr
from acnn_ros.core.messages import stamp_ns
raw_path = sys.argv[1] == 'raw'
rclpy.init()
node = rclpy.create_node('image_wire_' + sys.argv[1])
delays = []

def pixels_of(msg):
    return np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3)

def on_image(msg):
    frame = image_from_cdr(msg) if raw_path else msg
    pixels = pixels_of(frame)
    delays.append((time.time_ns() - stamp_ns(frame.header.stamp)) / 1e6)
    assert pixels.shape == (480, 640, 3)
    if len(delays) >= int(sys.argv[2]):
        print(' '.join(f'{d:.4f}' for d in delays), flush=True)
        raise SystemExit(0)

node.create_subscription(Image, 'wire_image', on_image, QoSProfile(
    depth=10, reliability=ReliabilityPolicy.RELIABLE), raw=raw_path)
try:
    rclpy.spin(node)
except SystemExit:
    pass
"""


def receive_rows(frames: int, rate_hz: float = 20.0):
    """
    Return rows (label, p50, p90): publish -> the subscriber's callback has the pixels, ms.

    One publisher of pre-serialized frames (wall-clock stamp in the header), two subscriber
    processes on the same publication: rclpy messages, and raw bytes + image_from_cdr.
    """
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from acnn_ros.core.image_cdr import array_image_cdr
    env = dict(os.environ, PYTHONPATH=f'{REPO_DIR}:' + os.environ.get('PYTHONPATH', ''))
    subscribers = {kind: subprocess.Popen(
        [sys.executable, '-c', SUBSCRIBER, kind, str(frames)], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env=env) for kind in ('rclpy', 'raw')}
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('image_wire_publisher', context=context)
    publisher = node.create_publisher(Image, 'wire_image', QoSProfile(
        depth=10, reliability=ReliabilityPolicy.RELIABLE))
    end = time.monotonic() + 60.0
    while publisher.get_subscription_count() < 2 and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(1.0)
    bgr = np.random.default_rng(2).integers(0, 256, (480, 640, 3), np.uint8)
    for _ in range(frames + 20):
        if all(p.poll() is not None for p in subscribers.values()):
            break
        publisher.publish(array_image_cdr(bgr, 'bgr8', time.time_ns(), 'bench'))
        time.sleep(1.0 / rate_hz)
    rows = []
    for kind, process in subscribers.items():
        output = process.communicate(timeout=30)[0]
        delays = np.array([float(v) for v in output.split()[-frames:]])
        label = {'rclpy': 'rclpy Image subscription (deserialize_message)',
                 'raw': 'raw subscription + image_from_cdr'}[kind]
        rows.append((label, len(delays), float(np.median(delays)),
                     float(np.percentile(delays, 90))))
    node.destroy_node()
    rclpy.shutdown(context=context)
    return rows


def round_trip_rows(before: str, model: Path, frames: int):
    """Return rows (label, e2e p50, e2e p90, model p50, node total p50, non-model p50)."""
    scratch = Path(tempfile.mkdtemp(prefix='image_wire_before_'))
    old = scratch / 'inference_node_before.py'
    old.write_text(subprocess.run(['git', 'show', f'{before}:acnn_ros/nodes/inference_node.py'],
                                  cwd=REPO_DIR, check=True, capture_output=True,
                                  text=True).stdout)
    new = REPO_DIR / 'acnn_ros' / 'nodes' / 'inference_node.py'
    bgr = np.random.default_rng(1).integers(0, 256, (480, 640, 3), np.uint8)
    rows = []
    for label, script in ((f'before ({before}): rclpy Image subscription', old),
                          ('after: raw subscription + rosbags', new)):
        trip = RoundTrip(label, script, model)
        try:
            for _ in range(10):
                trip.one(bgr)
            samples = [s for s in (trip.one(bgr) for _ in range(frames)) if s is not None]
        finally:
            trip.close()
        e2e = np.array([s[0] for s in samples])
        model_ms = np.array([s[1].inference_ms for s in samples])
        node_ms = np.array([s[1].total_ms for s in samples])
        rows.append((label, len(samples), float(np.median(e2e)), float(np.percentile(e2e, 90)),
                     float(np.median(model_ms)), float(np.median(node_ms)),
                     float(np.median(e2e - model_ms))))
    return rows


def main(argv=None) -> int:
    """Run both measurements and print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--runs', type=int, default=200, help='conversions per serde row')
    parser.add_argument('--frames', type=int, default=150, help='frames per round-trip row')
    parser.add_argument('--model', type=Path, default=MODEL)
    parser.add_argument('--before', default='HEAD', help='git revision of the "before" node')
    args = parser.parse_args(argv)
    print(f'machine: {platform.machine()}, {os.cpu_count()} CPUs, Python '
          f'{platform.python_version()}; {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}')
    print('\n| 640x480 bgr8 Image | median ms | p90 ms |\n|---|---|---|')
    for label, median, p90 in serde_rows(args.runs):
        print(f'| {label} | {median:.3f} | {p90:.3f} |')
    print('\n| 640x480 bgr8 at 20 Hz, one publisher, two subscriber processes | frames | '
          'publish -> pixels in the callback p50 ms | p90 ms |\n|---|---|---|---|')
    for label, count, p50, p90 in receive_rows(args.frames):
        print(f'| {label} | {count} | {p50:.2f} | {p90:.2f} |')
    print('\n| inference_node, one frame in flight | frames | e2e p50 ms | e2e p90 ms | '
          'model p50 ms | node total_ms p50 | e2e - model p50 ms |\n|---|---|---|---|---|---|---|')
    for label, count, p50, p90, model_ms, node_ms, rest in round_trip_rows(
            args.before, args.model, args.frames):
        print(f'| {label} | {count} | {p50:.2f} | {p90:.2f} | {model_ms:.2f} | {node_ms:.2f} | '
              f'{rest:.2f} |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
