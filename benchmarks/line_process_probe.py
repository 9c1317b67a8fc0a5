# SPDX-License-Identifier: Apache-2.0
"""
One rate probe of the one-process line (nodes.inspection_line, frames in memory) for the benchmark.

camera_node (a source that returns the benchmark frame, captured by the node's own timer at
`frame_rate_hz`) and inference_node in one process with the parameters of
`config/inspect.yaml`; the reject actuator is left out (`actuator=False`: a line may run it in
a process of its own, and it adds nothing to capture -> verdict). An observer node in the same
executor records every `inspection` result: capture -> verdict = result received minus the
capture stamp of its header; `part` triggers give the capture stamps. A camera that falls
behind its rate counts as losing frames: `sent` is the frames a camera at the probe rate
delivers between the first and the last capture.
"""
import os
import threading
import time

from acnn_ros.app.bench.rate_search import cpu_percent, Probe, ProcessUsage
from acnn_ros.core.camera.source import Frame, FrameSource
from acnn_ros.core.messages import stamp_ns
from acnn_ros.core.params_file import load_params_file, node_parameters

WARMUP_FRAMES = 5  # first captures of a fresh line, not counted (first inference runs)


class RepeatSource(FrameSource):
    """The same frame at every read, stamped when read (the camera node paces it)."""

    description = 'benchmark frame'

    def __init__(self, frame):
        self.frame = frame
        self.count = 0

    def connect(self) -> None:
        """Nothing to open."""

    def read(self) -> Frame:
        """Return the frame, grabbed now."""
        self.count += 1
        return Frame(self.frame, time.monotonic_ns(), name=str(self.count))


def line_probe(params_file, model, threads: int, frame, rate_hz: float, frames: int) -> Probe:
    """Run the one-process line for `frames` captures at `rate_hz`; count OK verdicts."""
    from acnn_ros.nodes.inspection_line import Line
    from acnn_ros.msg import InspectionResult, PartTrigger
    from rclpy.node import Node
    from rclpy.qos import QoSProfile

    sections = load_params_file(params_file)
    camera = node_parameters(sections, 'camera_node')
    camera.update(source='synthetic', frame_rate_hz=float(rate_hz),
                  max_frames=int(frames) + WARMUP_FRAMES, enabled=False)
    inference = node_parameters(sections, 'inference_node')
    inference.update(model_path=str(model), intra_op_threads=int(threads))
    line = Line({'camera_node': camera, 'inference_node': inference}, 'line_rate',
                camera_source_factory=lambda config: RepeatSource(frame), in_memory=True,
                actuator=False)
    lock = threading.Lock()
    results, captures = [], []
    try:
        observer = line.add_node(Node('line_rate_observer', **line.node_arguments()))
        qos = QoSProfile(depth=2000)

        def on_result(msg):
            with lock:
                results.append((time.time_ns(), stamp_ns(msg.header.stamp), msg.status,
                                msg.inference_ms))

        def on_part(msg):
            with lock:
                captures.append(stamp_ns(msg.header.stamp))
        observer.create_subscription(InspectionResult, 'inspection', on_result, qos)
        observer.create_subscription(PartTrigger, 'part', on_part, qos)
        line.start()
        end = time.monotonic() + 30.0
        while not (line.inference.count_subscribers('inspection')
                   and line.camera.count_subscribers('part')):
            if time.monotonic() > end:
                raise RuntimeError('one-process line: observer not matched')
            time.sleep(0.02)
        usage = ProcessUsage(os.getpid())
        cpu, start = usage.cpu_seconds(), time.monotonic()
        line.camera.set_enabled(True)
        end = start + frames / rate_hz * 3.0 + 3.0
        while time.monotonic() < end:
            with lock:
                if len(results) >= frames + WARMUP_FRAMES:
                    break
            time.sleep(0.05)
        wall = time.monotonic() - start
        time.sleep(0.3)
        used = cpu_percent(cpu, usage.cpu_seconds(), wall)
        rss = usage.rss_mib()
    finally:
        line.stop()
    with lock:
        captures = sorted(captures)[WARMUP_FRAMES:]
        results = [r for r in results if captures and r[1] >= captures[0]]
    expected = max(frames, round((captures[-1] - captures[0]) * rate_hz / 1e9) + 1) \
        if captures else frames
    ok = [r for r in results if r[2] == 0]
    probe = Probe(rate_hz, expected, len(ok), [(r[0] - r[1]) / 1e6 for r in ok],
                  answered=len(results))
    probe.model_ms = [r[3] for r in ok]
    probe.cpu_percent = {'line process': used}
    probe.captured = len(captures)
    probe.rss_mib = rss
    print(f'  line probe {rate_hz:7.1f} Hz: {probe.ok}/{probe.sent} ok (captured '
          f'{probe.captured}), cpu {used:.0f} %', flush=True)
    return probe
