# SPDX-License-Identifier: Apache-2.0
"""
inference_node in its own process, driven over real DDS by the inference benchmark.

`NodeDriver` publishes bgr8 sensor_msgs/Image frames and collects the InspectionResults:
latency with one frame in flight, throughput as fast as results come back or paced like a
camera; `close()` reports the node's current and peak memory (acnn_ros.app.proc_status).
"""
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time
from typing import Optional

from acnn_ros.app.proc_status import memory_mib
from benchmarks.common import keep_dds_local

REPO_DIR = Path(__file__).resolve().parents[1]


class NodeDriver:
    """inference_node in a subprocess, driven from this process over DDS."""

    def __init__(self, model: Path, threads: int = 0, providers=('cpu',),
                 script: Optional[Path] = None):
        """Start the node (this checkout's, or the node file `script`) and a client for it."""
        from acnn_ros.core.messages import stamp_ns
        from acnn_ros.msg import InspectionResult
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        keep_dds_local(42)
        self.log = tempfile.NamedTemporaryFile('w+', suffix='.log', delete=False)
        node = ['-m', 'acnn_ros.nodes.inference_node'] if script is None else [str(script)]
        parameters = [f'model_path:={model}', 'image_qos:=reliable', 'image_qos_depth:=10']
        if threads:
            parameters += [f'intra_op_threads:={threads}',
                           f'providers:=[{", ".join(providers)}]']
        # A node file outside the package (an older revision) still imports this checkout's.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [str(REPO_DIR), os.environ.get('PYTHONPATH', '')])))
        self.process = subprocess.Popen(
            [sys.executable, *node, '--ros-args',
             *[word for parameter in parameters for word in ('-p', parameter)]],
            cwd=str(REPO_DIR), stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('inference_benchmark', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.publisher = self.node.create_publisher(Image, 'image', reliable)
        self.received = {}
        self.node.create_subscription(
            InspectionResult, 'inspection',
            lambda msg: self.received.setdefault(stamp_ns(msg.header.stamp),
                                                 (time.perf_counter(), msg)),
            QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
        self.Image = Image
        self._rclpy = rclpy
        self._sequence = 0

    def spin(self, timeout_s=0.01):
        """Process callbacks once."""
        self.executor.spin_once(timeout_sec=timeout_s)

    def wait_ready(self, timeout_s=60.0):
        """Wait until the node is up and matched both ways."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.publisher.get_subscription_count() and self.node.count_publishers(
                    'inspection'):
                return
            if self.process.poll() is not None:
                break
            self.spin(0.05)
        raise RuntimeError('inference_node did not start:\n' + Path(self.log.name).read_text())

    def publish(self, data, sent):
        """Publish one frame with a unique stamp; return its key."""
        self._sequence += 1
        msg = self.Image(height=480, width=640, encoding='bgr8', step=1920, data=data)
        msg.header.stamp.sec, msg.header.stamp.nanosec = self._sequence, 0
        msg.header.frame_id = 'benchmark'
        sent[self._sequence * 10**9] = time.perf_counter()
        self.publisher.publish(msg)
        return self._sequence * 10**9

    def latency(self, data, frames):
        """One frame in flight at a time: publish -> result, per frame."""
        sent, latencies, node_ms, model_ms = {}, [], [], []
        self.stage_ms = {'preprocess': [], 'postprocess': [], 'hand-off and publish': []}
        for _ in range(frames):
            key = self.publish(data, sent)
            end = time.monotonic() + 5.0
            while key not in self.received and time.monotonic() < end:
                self.spin(0.05)  # returns as soon as the result arrives
            if key in self.received:
                arrived, msg = self.received[key]
                latencies.append((arrived - sent[key]) * 1000.0)
                node_ms.append(msg.total_ms)
                model_ms.append(msg.inference_ms)
                self.stage_ms['preprocess'].append(msg.preprocess_ms)
                self.stage_ms['postprocess'].append(msg.postprocess_ms)
                self.stage_ms['hand-off and publish'].append(
                    msg.total_ms - msg.preprocess_ms - msg.inference_ms - msg.postprocess_ms)
        return latencies, node_ms, model_ms

    def throughput(self, data, seconds, period_s=0.0, in_flight=2):
        """Publish for `seconds` (paced at period_s, or keeping `in_flight` frames ahead)."""
        sent = {}
        start = time.perf_counter()
        before = len(self.received)
        next_time = start
        while time.perf_counter() - start < seconds:
            # Block in rcl_wait between events: a busy-polling client would take a core from
            # the node on a 2-core machine.
            done = len(self.received) - before
            if period_s:
                if time.perf_counter() >= next_time:
                    self.publish(data, sent)
                    next_time += period_s
                self.spin(max(0.0, next_time - time.perf_counter()))
            elif len(sent) - done < in_flight:
                self.publish(data, sent)
            else:
                self.spin(0.05)
        end = time.monotonic() + 5.0
        while any(k not in self.received for k in sent) and time.monotonic() < end:
            self.spin(0.01)
        results = [self.received[k][1] for k in sent if k in self.received]
        last = max((self.received[k][0] for k in sent if k in self.received), default=start)
        ok = sum(1 for r in results if r.status == 0)
        dropped = sum(1 for r in results if r.status == 2)
        return {'published': len(sent), 'results': len(results), 'ok': ok, 'dropped': dropped,
                'fps': ok / max(last - start, 1e-6)}

    def close(self):
        """Stop the node and this client; return its (RSS, peak RSS) in MiB just before."""
        memory = memory_mib(self.process.pid)
        rss = memory.get('VmRSS', 0.0), memory.get('VmHWM', 0.0)
        self.process.send_signal(2)
        self.process.wait(timeout=10)
        self.executor.shutdown()
        self.node.destroy_node()
        self._rclpy.shutdown(context=self.context)
        os.unlink(self.log.name)
        return rss
