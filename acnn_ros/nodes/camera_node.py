# SPDX-License-Identifier: Apache-2.0
"""
camera_node: the built-in camera driver (V4L2, video file, image folder, GStreamer, synthetic).

Publishes `image` (sensor_msgs/Image bgr8), `camera_info` (when a calibration file is given) and
`part` (acnn_ros/PartTrigger: the same header and a part id that increases by one per frame,
starting at 1), plus /diagnostics. A vanished source is reopened with back-off; the node stays
up. Capture is switched on and off with the `~/enable` service (std_srvs/SetBool).
"""
import sys
import time
from typing import Callable

from acnn_ros.core.camera.config import CameraConfig, load_calibration, PARAMETERS
from acnn_ros.core.camera.source import create_source, FrameSource
from acnn_ros.core.camera.supervisor import CaptureSupervisor
from acnn_ros.core.ros_env import describe_dds
from acnn_ros.msg import PartTrigger
from acnn_ros.nodes.node_main import run_node
from acnn_ros.nodes.ros_parameters import declare_parameters
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from std_srvs.srv import SetBool


class CameraNode(Node):
    """Publishes captured frames with their part triggers."""

    def __init__(self, source_factory: Callable[[CameraConfig], FrameSource] = create_source,
                 **kwargs):
        """
        Declare the parameters and open nothing yet (the first capture connects the source).

        `source_factory` builds the frame source from the node's configuration; an application
        that composes the node in its process may wrap the source (the demo records ground
        truth this way). The other keyword arguments go to rclpy's Node.
        """
        super().__init__('camera_node', **kwargs)
        self.config = CameraConfig(**declare_parameters(self, PARAMETERS))
        self.calibration = (load_calibration(self.config.camera_info_file)
                            if self.config.camera_info_file else None)
        self.supervisor = CaptureSupervisor(source_factory(self.config),
                                            self.config.reconnect_initial_s,
                                            self.config.reconnect_max_s)
        self.part_id = 0
        self._enabled = self.config.enabled
        self._reported = set()
        self._diag_frames, self._diag_time = 0, time.monotonic()
        image_qos = qos_profile_sensor_data if self.config.image_qos == 'sensor_data' else \
            QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._image_pub = self.create_publisher(Image, 'image', image_qos)
        self._info_pub = (self.create_publisher(CameraInfo, 'camera_info', image_qos)
                          if self.calibration else None)
        self._part_pub = self.create_publisher(PartTrigger, 'part', QoSProfile(depth=100))
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_service(SetBool, '~/enable', self._on_enable)
        self.create_timer(self.config.period_s, self._on_capture,
                          callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(self.config.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(
            f'capturing from {self.supervisor.source.description} at '
            f'{self.config.frame_rate_hz:g} Hz, frame_id {self.config.frame_id}, image QoS '
            f'{self.config.image_qos}; {describe_dds()}')

    def set_enabled(self, enabled: bool) -> None:
        """Switch capture on or off (what the ~/enable service does)."""
        self._enabled = bool(enabled)

    def _on_enable(self, request, response):
        self.set_enabled(request.data)
        response.success = True
        response.message = f'capture {"enabled" if self._enabled else "disabled"}, ' \
                           f'{self.part_id} frames so far, source {self.supervisor.state}'
        self.get_logger().info(response.message)
        return response

    @property
    def limit_reached(self) -> bool:
        """Return True once max_frames frames were published."""
        return 0 < self.config.max_frames <= self.part_id

    def _on_capture(self):
        if not self._enabled or self.limit_reached:
            return
        event = self.supervisor.step()
        log = self.get_logger()
        if event.kind == 'frame':
            self._publish(event.frame)
            if event.recovered_after_s:
                log.info(f'camera source is back after {event.recovered_after_s:.1f} s: '
                         f'resumed at part {self.part_id}')
            if self.limit_reached:
                log.info(f'max_frames={self.config.max_frames} reached; capture stopped')
        elif event.kind == 'lost':
            log.error(f'camera source lost: {event.message}; reopening in '
                      f'{event.retry_in_s:.2f} s')
        elif event.kind == 'retry_failed':
            log.warn(f'camera source unavailable: {event.message}; next attempt in '
                     f'{event.retry_in_s:.2f} s')
        elif event.kind == 'bad_frame':
            log.warn(f'frame skipped: {event.message}')
        elif event.kind in ('ended', 'failed') and event.kind not in self._reported:
            self._reported.add(event.kind)
            (log.info if event.kind == 'ended' else log.error)(
                f'capture stopped: {event.message}')

    def _publish(self, frame):
        age = Duration(nanoseconds=time.monotonic_ns() - frame.grab_monotonic_ns)
        header = Header(stamp=(self.get_clock().now() - age).to_msg(),
                        frame_id=self.config.frame_id)
        self.part_id += 1
        # The trigger goes first so that the reject actuator knows the part before any result.
        self._part_pub.publish(PartTrigger(header=header, part_id=self.part_id))
        height, width = frame.bgr.shape[:2]
        self._image_pub.publish(Image(header=header, height=height, width=width,
                                      encoding='bgr8', is_bigendian=0, step=width * 3,
                                      data=frame.bgr.tobytes()))
        if self._info_pub is not None:
            self._publish_camera_info(header, width, height)

    def _publish_camera_info(self, header, width, height):
        cal = self.calibration
        if (width, height) != (cal.image_width, cal.image_height) and 'size' not in \
                self._reported:
            self._reported.add('size')
            self.get_logger().warn(f'calibration is for {cal.image_width}x{cal.image_height}, '
                                   f'frames are {width}x{height}')
        self._info_pub.publish(CameraInfo(
            header=header, width=cal.image_width, height=cal.image_height,
            distortion_model=cal.distortion_model, d=list(cal.d), k=list(cal.k),
            r=list(cal.r), p=list(cal.p)))

    def _publish_diagnostics(self):
        sup, now = self.supervisor, time.monotonic()
        fps = (sup.frames - self._diag_frames) / max(now - self._diag_time, 1e-6)
        self._diag_frames, self._diag_time = sup.frames, now
        if sup.state in ('waiting', 'failed'):
            level, message = DiagnosticStatus.ERROR, f'source unavailable: {sup.last_error}'
        elif not self._enabled or self.limit_reached or sup.state == 'ended':
            level, message = DiagnosticStatus.WARN, 'capture stopped (disabled, ' \
                'max_frames reached or end of stream)'
        else:
            level, message = DiagnosticStatus.OK, f'capturing at {fps:.1f} fps'
        values = {'source': sup.source.description, 'state': sup.state,
                  'enabled': self._enabled, 'last_part_id': self.part_id,
                  'fps': f'{fps:.2f}', 'bad_frames': sup.bad_frames,
                  'disconnects': sup.disconnects, 'reconnects': sup.reconnects,
                  'failed_attempts': sup.failed_attempts, 'last_error': sup.last_error}
        status = DiagnosticStatus(level=level, name=f'{self.get_name()}: camera',
                                  message=message, hardware_id=sup.source.description,
                                  values=[KeyValue(key=k, value=str(v))
                                          for k, v in values.items()])
        self._diag_pub.publish(DiagnosticArray(header=Header(
            stamp=self.get_clock().now().to_msg()), status=[status]))

    def destroy_node(self):
        """Release the camera, then the node."""
        self.supervisor.close()
        return super().destroy_node()


def main(args=None) -> int:
    """Run camera_node until shutdown; return the exit status (acnn_ros.nodes.node_main)."""
    return run_node('camera_node', CameraNode, args)


if __name__ == '__main__':
    sys.exit(main())
