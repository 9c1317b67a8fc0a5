# SPDX-License-Identifier: Apache-2.0
"""Start inference_node in its own process and talk to it over real DDS, for tests."""
import array
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.image_codec import encode_image
from acnn_ros.core.messages import frame_key
from acnn_ros.msg import InspectionResult
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
import numpy as np
from rcl_interfaces.srv import SetParameters
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

REPO_DIR = Path(__file__).resolve().parents[1]


class NodeProcess:
    """`python -m acnn_ros.nodes.inference_node` with parameters; output goes to a file."""

    def __init__(self, parameters: Dict[str, str], extra_args: Tuple[str, ...] = ()):
        self.log = tempfile.NamedTemporaryFile('w+', suffix='.log', delete=False)
        # extra_args (a --params-file) first: later -p values override the file's.
        args = [sys.executable, '-m', 'acnn_ros.nodes.inference_node', '--ros-args']
        args += list(extra_args)
        for name, value in parameters.items():
            args += ['-p', f'{name}:={value}']
        self._final_output = None
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                        cwd=str(REPO_DIR), env=dict(os.environ))

    def output(self) -> str:
        """Return everything the node printed so far."""
        if self._final_output is not None:
            return self._final_output
        return Path(self.log.name).read_text(encoding='utf-8', errors='replace')

    def wait_for_log(self, text: str, timeout_s: float = 20.0) -> bool:
        """Wait until `text` appears in the node's output (False if it exits or times out)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if text in self.output():
                return True
            if self.process.poll() is not None:
                return text in self.output()
            time.sleep(0.05)
        return False

    def stop(self) -> int:
        """Interrupt the node (SIGINT, as Ctrl-C) and return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._final_output is None:
            self._final_output = self.output()
            self.log.close()
            os.unlink(self.log.name)
        return self.process.returncode


class InferenceClient:
    """Publishes images and collects results, overlays and diagnostics in this process."""

    def __init__(self, name: str = 'inference_test_client', node_name: str = 'inference_node',
                 model_prefix: str = ''):
        # Frames carry a frame_id of this process and only results with it are collected, and
        # only diagnostics of a model id starting with model_prefix: another test run that
        # happens to share the DDS domain cannot disturb the counts.
        self.frame_prefix = f'test{os.getpid()}_'
        self.model_prefix = model_prefix
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        reliable = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
        self.images = self.node.create_publisher(Image, 'image', reliable)
        self.compressed = self.node.create_publisher(CompressedImage, 'image/compressed',
                                                     reliable)
        self.results: List[InspectionResult] = []
        self.diagnostics: List[DiagnosticArray] = []
        self.overlays: List[Image] = []
        self.node.create_subscription(InspectionResult, 'inspection', self._on_result,
                                      QoSProfile(depth=1000,
                                                 reliability=ReliabilityPolicy.RELIABLE))
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics.append,
                                      50)
        self.node_name = node_name
        self.overlay_topic = f'/{node_name}/overlay'
        self._overlay_sub = None
        self._stamp = 0

    def _on_result(self, msg) -> None:
        if msg.header.frame_id.startswith(self.frame_prefix):
            self.results.append(msg)

    def close(self) -> None:
        """Destroy the node and shut this test's context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)

    def spin_for(self, seconds: float) -> None:
        """Process callbacks for a while."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)

    def spin_until(self, predicate, timeout_s: float = 10.0) -> bool:
        """Process callbacks until predicate() is true; return whether it became true."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if predicate():
                return True
            self.executor.spin_once(timeout_sec=0.02)
        return predicate()

    def wait_connected(self, compressed: bool = False, timeout_s: float = 20.0) -> bool:
        """Wait until the node subscribes to our images and publishes results to us."""
        publisher = self.compressed if compressed else self.images
        return self.spin_until(lambda: publisher.get_subscription_count() > 0
                               and self.node.count_publishers('inspection') > 0, timeout_s)

    def subscribe_overlay(self, subscribe: bool = True) -> None:
        """Start or stop receiving the node's overlay image."""
        if subscribe and self._overlay_sub is None:
            self._overlay_sub = self.node.create_subscription(
                Image, self.overlay_topic, self.overlays.append, 10)
        elif not subscribe and self._overlay_sub is not None:
            self.node.destroy_subscription(self._overlay_sub)
            self._overlay_sub = None

    def next_header(self, frame_id: str = 'camera'):
        """Return a header with a stamp no other frame of this client has."""
        self._stamp += 1
        header = Image().header
        header.stamp.sec, header.stamp.nanosec = 1000 + self._stamp, 1000 * self._stamp
        header.frame_id = self.frame_prefix + frame_id
        return header

    def publish_fields(self, encoding: str, width: int, height: int, step: int, data: bytes,
                       is_bigendian: bool = False, frame_id: str = 'camera') -> FrameKey:
        """Publish a raw Image with exactly these fields; return its frame key."""
        msg = Image(header=self.next_header(frame_id), encoding=encoding, width=width,
                    height=height, step=step, is_bigendian=is_bigendian,
                    data=array.array('B', data))
        self.images.publish(msg)
        return frame_key(msg.header)

    def publish_bgr(self, bgr: np.ndarray, encoding: str = 'bgr8', pad: int = 0,
                    frame_id: str = 'camera') -> FrameKey:
        """Publish a BGR frame converted to `encoding`, rows padded by `pad` bytes."""
        step, data = encode_image(bgr, encoding)
        if pad:
            rows = np.frombuffer(data, np.uint8).reshape(bgr.shape[0], step)
            data = np.pad(rows, ((0, 0), (0, pad))).tobytes()
            step += pad
        return self.publish_fields(encoding, bgr.shape[1], bgr.shape[0], step, data,
                                   frame_id=frame_id)

    def publish_compressed(self, fmt: str, data: bytes, frame_id: str = 'camera') -> FrameKey:
        """Publish a CompressedImage; return its frame key."""
        msg = CompressedImage(header=self.next_header(frame_id), format=fmt,
                              data=array.array('B', data))
        self.compressed.publish(msg)
        return frame_key(msg.header)

    def result_for(self, key: FrameKey, timeout_s: float = 10.0) -> Optional[InspectionResult]:
        """Wait for the result of one frame."""
        found = []

        def arrived():
            found[:] = [r for r in self.results if frame_key(r.header) == key]
            return bool(found)
        self.spin_until(arrived, timeout_s)
        return found[0] if found else None

    def latest_status(self, timeout_s: float = 5.0, after: int = 0, until=None):
        """
        Wait for a /diagnostics array from inference_node after index `after`.

        With `until`, wait for a status that satisfies it (the latest one is returned either
        way, so the caller's assertion shows what was last reported).
        """
        def ours():
            return [a for a in self.diagnostics[after:]
                    if any(s.name.startswith('/inference_node: ')
                           and s.hardware_id.startswith(self.model_prefix) for s in a.status)]

        def wanted():
            return [a for a in ours() if until is None or until(a.status[0])]
        self.spin_until(lambda: bool(wanted()), timeout_s)
        arrays = wanted() or ours()
        return arrays[-1].status[0] if arrays else None

    def call(self, service_type, name: str, request, timeout_s: float = 30.0):
        """Call the node's service `name` (e.g. 'change_state'); return the response."""
        client = self.node.create_client(service_type, f'/{self.node_name}/{name}')
        try:
            assert client.wait_for_service(timeout_sec=20.0), f'no service {client.srv_name}'
            future = client.call_async(request)
            assert self.spin_until(future.done, timeout_s), f'{client.srv_name}: no answer'
            return future.result()
        finally:
            self.node.destroy_client(client)

    def get_state(self) -> str:
        """Return the node's lifecycle state label (lifecycle_msgs/srv/GetState)."""
        return self.call(GetState, 'get_state', GetState.Request()).current_state.label

    def change_state(self, transition_id: int) -> bool:
        """Run a lifecycle transition (lifecycle_msgs/msg/Transition id) with ChangeState."""
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return self.call(ChangeState, 'change_state', request).success

    def set_parameters(self, **values):
        """Set the node's parameters in one call; return rcl_interfaces SetParametersResults."""
        request = SetParameters.Request(parameters=[
            Parameter(name, value=value).to_parameter_msg() for name, value in values.items()])
        return self.call(SetParameters, 'set_parameters', request).results
