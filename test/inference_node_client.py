# SPDX-License-Identifier: Apache-2.0
"""inference_node for tests: start it in its own process, talk to it over real DDS."""
import array
import os
from typing import Dict, List, Optional, Tuple

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.image_codec import encode_image
from acnn_ros.core.messages import frame_key
from acnn_ros.msg import InspectionResult
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_client import RosClient
from ros_processes import NodeProcess
from sensor_msgs.msg import CompressedImage, Image

NODE = 'inference_node'


def start_inference_node(parameters: Dict[str, str],
                         extra_args: Tuple[str, ...] = ()) -> NodeProcess:
    """Start `python -m acnn_ros.nodes.inference_node` with parameters (stop: interrupt(10.0))."""
    # extra_args (a --params-file) first: later -p values override the file's.
    args = list(extra_args)
    for name, value in parameters.items():
        args += ['-p', f'{name}:={value}']
    return NodeProcess.node(NODE, *args)


class InferenceClient(RosClient):
    """Publishes images and collects results, overlays and diagnostics in this process."""

    def __init__(self, name: str = 'inference_test_client', node_name: str = NODE,
                 model_prefix: str = ''):
        # Frames carry a frame_id of this process and only results with it are collected, and
        # only diagnostics of a model id starting with model_prefix: another test run that
        # happens to share the DDS domain cannot disturb the counts.
        self.frame_prefix = f'test{os.getpid()}_'
        self.model_prefix = model_prefix
        super().__init__(name)
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

    def set_parameters(self, **values):
        """Set the node's parameters in one call; return rcl_interfaces SetParametersResults."""
        request = SetParameters.Request(parameters=[
            Parameter(name, value=value).to_parameter_msg() for name, value in values.items()])
        return self.call(SetParameters, f'/{self.node_name}/set_parameters', request,
                         timeout_s=30.0).results
