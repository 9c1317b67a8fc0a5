# SPDX-License-Identifier: Apache-2.0
"""
camera_node: the built-in camera driver (V4L2, video file, image folder, GStreamer, synthetic).

Publishes `image` (sensor_msgs/Image bgr8), `camera_info` (when a calibration file is given) and
`part` (acnn_ros/PartTrigger: the same header and a part id that increases by one per frame,
starting at 1), plus /diagnostics. A vanished source is reopened with back-off; the node stays
up. A managed node (docs/CAMERA.md, "Lifecycle"): frames flow only while active. The
`~/enable` service (std_srvs/SetBool) and the `enabled` parameter are kept as a capture gate
inside the active state: capture runs while active AND enabled. Start-up ordering: after each
activation capture waits until the line is matched (`line_wait_s`, core/camera/start_gate.py);
diagnostics report the achieved rate against `frame_rate_hz` (WARN below 95 %).
"""
import sys
import time
from typing import Callable

from acnn_ros.core.camera.config import (CameraConfig, CameraConfigError, load_calibration,
                                         PARAMETERS)
from acnn_ros.core.camera.source import CameraSourceError, create_source, FrameSource
from acnn_ros.core.camera.start_gate import missing_topics, READY, StartGate
from acnn_ros.core.camera.supervisor import capture_health, CaptureSupervisor
from acnn_ros.core.health import LEVEL_OK, LEVEL_WARN
from acnn_ros.core.rate_monitor import rated_speed_check, RateMonitor
from acnn_ros.core.ros_env import describe_dds
from acnn_ros.msg import PartTrigger
from acnn_ros.nodes.clean_shutdown import spin_until_interrupted
from acnn_ros.nodes.diagnostics import publish_status
from acnn_ros.nodes.image_topics import image_bytes
from acnn_ros.nodes.line_qos import PER_PART_PUBLISHER_QOS, PER_PART_QOS
from acnn_ros.nodes.managed_node import ManagedNode
from acnn_ros.nodes.node_main import run_node
from acnn_ros.nodes.ros_logging import log_at
from acnn_ros.nodes.ros_parameters import declare_parameters
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.duration import Duration
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from std_srvs.srv import SetBool


class CameraNode(ManagedNode):
    """
    Publishes captured frames with their part triggers; a managed node.

    configure: read the configuration and the calibration, open the source (a source that can
    never work fails the transition; one that is not there yet is retried with back-off);
    activate: capture and publish; deactivate: stop capturing (part ids continue where they
    stopped); cleanup / shutdown: close the source.
    """

    def __init__(self, source_factory: Callable[[CameraConfig], FrameSource] = create_source,
                 node_name: str = 'camera_node', **kwargs):
        """
        Declare the parameters; configure opens the source.

        `source_factory` builds the frame source from the node's configuration; an application
        that composes the node in its process may wrap the source (the demo records ground
        truth this way); `node_name` names each camera of a station composed in one process.
        The other keyword arguments go to rclpy's Node.
        """
        super().__init__(node_name, **kwargs)
        # Set before declaring: a refused parameter destroys the half-built node (release).
        self._source_factory = source_factory
        self._frame_consumers = []      # in-process consumers (add_frame_consumer)
        self.config = None
        self.calibration = None
        self.supervisor = None
        self._image_pub = self._info_pub = self._part_pub = None
        self._capture_timer = self._diag_timer = self._trigger_sub = None
        self._values = declare_parameters(self, PARAMETERS)
        # Never reset in the life of the node (deactivate, cleanup): a part id names one part.
        self.part_id = 0
        self._enabled = bool(self._values['enabled'])
        self._reported = set()
        self._diag_frames, self._diag_time = 0, time.monotonic()
        self.gate = self.rate = None
        self._capture_group = MutuallyExclusiveCallbackGroup()
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_service(SetBool, '~/enable', self._on_enable)

    # -- lifecycle ---------------------------------------------------------------------------

    def configure(self) -> None:
        """Read the configuration and calibration, open the source, create the publishers."""
        self.config = config = CameraConfig(**self._values)
        self.calibration = (load_calibration(config.camera_info_file)
                            if config.camera_info_file else None)
        self.supervisor = CaptureSupervisor(self._source_factory(config),
                                            config.reconnect_initial_s, config.reconnect_max_s)
        try:
            self.supervisor.source.connect()
            self.supervisor.state = 'open'
        except CameraSourceError as exc:
            if not exc.retryable:
                raise CameraConfigError(f'camera source cannot work: {exc}') from exc
            self.get_logger().warning(f'camera source not there yet: {exc}; capture retries it')
        image_qos = qos_profile_sensor_data if config.image_qos == 'sensor_data' else \
            QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._image_pub = self.create_lifecycle_publisher(Image, 'image', image_qos)
        # The first image serialized in a process costs ~80 ms (rosbags generates its CDR
        # code): paid here, not by part 1, which would then leave bunched with part 2 and one
        # of them be dropped by inference (docs/INFERENCE.md, "Start-up").
        warmup_start = time.perf_counter()
        image_bytes(Header(), np.zeros((1, 1, 3), np.uint8))
        warmup_ms = (time.perf_counter() - warmup_start) * 1000.0
        self._info_pub = (self.create_lifecycle_publisher(CameraInfo, 'camera_info', image_qos)
                          if self.calibration else None)
        # A station camera (trigger: part) follows the station's trigger: it announces nothing.
        self._part_pub = (self.create_lifecycle_publisher(PartTrigger, 'part',
                                                          PER_PART_PUBLISHER_QOS)
                          if config.trigger == 'timer' else None)
        self._diag_frames, self._diag_time = 0, time.monotonic()
        self._diag_timer = self.create_timer(config.diagnostics_period_s,
                                             self._publish_diagnostics)
        self.gate = StartGate(config.line_wait_s)
        self.rate = RateMonitor(config.frame_rate_hz, max(5.0, config.diagnostics_period_s))
        self.get_logger().info(
            f'configured: {self.supervisor.source.description} at {config.frame_rate_hz:g} Hz, '
            f'frame_id {config.frame_id}, image QoS {config.image_qos}, image serializer warmed '
            f'up in {warmup_ms:.0f} ms; {describe_dds()}')
        level, line = rated_speed_check(config.frame_rate_hz, config.rated_rate_hz,
                                        config.rated_rate_source)
        log_at(self.get_logger(), level, line)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start capturing and publishing."""
        if self.config.trigger == 'timer':
            self._capture_timer = self.create_timer(self.config.period_s, self._on_capture,
                                                    callback_group=self._capture_group)
        else:
            self._trigger_sub = self.create_subscription(
                PartTrigger, 'part', self._on_trigger, PER_PART_QOS,
                callback_group=self._capture_group)
        self.gate.arm()         # timed from the first capture attempt (~/enable may come later)
        self.rate.restart(time.monotonic())
        self.get_logger().info(
            f'active: capturing from part {self.part_id + 1}'
            + ('' if self._enabled else ' once ~/enable is true')
            + (f', once the line is matched (at most {self.gate.wait_s:g} s)'
               if not self.gate.is_open else ''))
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop capturing; the source stays open."""
        self._stop_capture()
        self.get_logger().info(f'inactive: capture stopped after part {self.part_id}')
        return super().on_deactivate(state)

    def _stop_capture(self) -> None:
        if self._capture_timer is not None:
            self.destroy_timer(self._capture_timer)
            self._capture_timer = None
        if self._trigger_sub is not None:
            self.destroy_subscription(self._trigger_sub)
            self._trigger_sub = None

    def release(self) -> None:
        """Stop capturing, close the source, remove publishers and timers (idempotent)."""
        self._stop_capture()
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        for publisher in (self._image_pub, self._info_pub, self._part_pub):
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
        self._image_pub = self._info_pub = self._part_pub = None
        if self.supervisor is not None:
            self.supervisor.close()
            self.supervisor = None

    def add_frame_consumer(self, consumer: Callable[[Header, np.ndarray], None]) -> None:
        """
        Hand every captured frame to `consumer(header, bgr)` in this process (composition).

        For an application that composes nodes in one process (nodes/inspection_line): the
        consumer gets the part's header and a read-only view of the frame itself (no copy, no
        serialization), in the capture callback after the part trigger was published; it must
        not block. While a consumer is attached, `image` is published only while it has a
        subscriber (rviz, a recorder).
        """
        self._frame_consumers.append(consumer)

    def _hand_over(self, header: Header, bgr: np.ndarray) -> bool:
        """Give the frame to the in-process consumers; return whether to publish `image`."""
        if not self._frame_consumers:
            return True
        view = bgr.view()
        view.flags.writeable = False
        for consume in self._frame_consumers:
            consume(header, view)
        return self._image_pub.get_subscription_count() > 0

    def set_enabled(self, enabled: bool) -> None:
        """Switch capture on or off (what the ~/enable service does)."""
        if enabled and not self._enabled and self.rate is not None:
            self.rate.restart(time.monotonic())      # the rate window starts with capture
        self._enabled = bool(enabled)

    def _on_enable(self, request, response):
        self.set_enabled(request.data)
        response.success = True
        response.message = f'capture {"enabled" if self._enabled else "disabled"}, ' \
                           f'{self.part_id} frames so far, node {self.lifecycle_state}, source ' \
                           f'{self.supervisor.state if self.supervisor else "not configured"}'
        self.get_logger().info(response.message)
        return response

    @property
    def limit_reached(self) -> bool:
        """Return True once max_frames frames were published."""
        return self.config is not None and 0 < self.config.max_frames <= self.part_id

    def _line_matched(self) -> bool:
        """Return True once the start gate is open (update it from the subscriber counts)."""
        if self.gate.is_open or self._part_pub is None:   # a station camera: the trigger gates
            return True
        event = self.gate.update(missing_topics(
            self._part_pub.get_subscription_count(), self._image_pub.get_subscription_count(),
            image_needed=not self._frame_consumers,
            min_part_subscribers=self.config.min_part_subscribers), time.monotonic())
        if event is not None:
            line = f'{event.message}; first part {self.part_id + 1}'
            log_at(self.get_logger(), LEVEL_OK if event.state == READY else LEVEL_WARN, line)
            self.rate.restart(time.monotonic())
        return self.gate.is_open

    def _on_capture(self):
        if not self._enabled or self.limit_reached or self._capture_timer is None \
                or not self._line_matched():
            return
        self.supervisor.source.cue(self.part_id + 1)
        self._capture(None, self.part_id + 1)

    def _on_trigger(self, trigger: PartTrigger):
        """Capture the part the station's trigger announced, stamped with its stamp."""
        if not self._enabled or self.limit_reached or self._trigger_sub is None:
            return
        self.supervisor.source.cue(trigger.part_id)
        self._capture(trigger.header.stamp, trigger.part_id)

    def _capture(self, stamp, part_id: int):
        event = self.supervisor.step()
        log = self.get_logger()
        if event.kind == 'frame':
            self._publish(event.frame, stamp, part_id)
            if event.recovered_after_s:
                log.info(f'camera source is back after {event.recovered_after_s:.1f} s: '
                         f'resumed at part {self.part_id}')
            if self.limit_reached:
                log.info(f'max_frames={self.config.max_frames} reached; capture stopped')
        elif event.kind == 'lost':
            log.error(f'camera source lost: {event.message}; reopening in '
                      f'{event.retry_in_s:.2f} s')
        elif event.kind == 'retry_failed':
            log.warning(f'camera source unavailable: {event.message}; next attempt in '
                        f'{event.retry_in_s:.2f} s')
        elif event.kind == 'bad_frame':
            log.warning(f'frame skipped: {event.message}')
        elif event.kind in ('ended', 'failed') and event.kind not in self._reported:
            self._reported.add(event.kind)
            (log.info if event.kind == 'ended' else log.error)(
                f'capture stopped: {event.message}')

    def _publish(self, frame, stamp, part_id: int):
        if stamp is None:   # this camera triggers: the part is stamped when it was grabbed
            age = Duration(nanoseconds=time.monotonic_ns() - frame.grab_monotonic_ns)
            stamp = (self.get_clock().now() - age).to_msg()
        header = Header(stamp=stamp, frame_id=self.config.frame_id)
        self.part_id = part_id
        self.rate.tick(time.monotonic())
        if self._part_pub is not None:
            # The trigger goes first: the reject actuator knows the part before any result.
            self._part_pub.publish(PartTrigger(header=header, part_id=part_id))
        height, width = frame.bgr.shape[:2]
        if self._hand_over(header, frame.bgr):
            self._image_pub.publish(image_bytes(header, frame.bgr))   # serialized by rosbags
        if self._info_pub is not None:
            self._publish_camera_info(header, width, height)

    def _publish_camera_info(self, header, width, height):
        cal = self.calibration
        if (width, height) != (cal.image_width, cal.image_height) and 'size' not in \
                self._reported:
            self._reported.add('size')
            self.get_logger().warning(
                f'calibration is for {cal.image_width}x{cal.image_height}, '
                f'frames are {width}x{height}')
        self._info_pub.publish(CameraInfo(
            header=header, width=cal.image_width, height=cal.image_height,
            distortion_model=cal.distortion_model, d=list(cal.d), k=list(cal.k),
            r=list(cal.r), p=list(cal.p)))

    def _publish_diagnostics(self):
        sup, now = self.supervisor, time.monotonic()
        fps = (sup.frames - self._diag_frames) / max(now - self._diag_time, 1e-6)
        self._diag_frames, self._diag_time = sup.frames, now
        capturing = self._enabled and not self.limit_reached and (
            self._capture_timer is not None or self._trigger_sub is not None)
        level, message = capture_health(sup.state, sup.last_error, capturing, self.gate.is_open,
                                        self.rate.report(now, 'capturing at'))
        values = {'source': sup.source.description, 'state': sup.state,
                  'lifecycle': self.lifecycle_state, 'enabled': self._enabled,
                  'last_part_id': self.part_id,
                  'fps': f'{fps:.2f}', 'target_hz': self.config.frame_rate_hz,
                  'rated_hz': self.config.rated_rate_hz,
                  'start_gate': f'{self.gate.state} ({self.gate.waited_s:.2f} s)',
                  'bad_frames': sup.bad_frames,
                  'disconnects': sup.disconnects, 'reconnects': sup.reconnects,
                  'failed_attempts': sup.failed_attempts, 'last_error': sup.last_error}
        publish_status(self, self._diag_pub, 'camera', level, message,
                       sup.source.description, values)


def main(args=None) -> int:
    """Run camera_node until shutdown; return the exit status (acnn_ros.nodes.node_main)."""
    return run_node('camera_node', CameraNode, args, run=spin_until_interrupted)


if __name__ == '__main__':
    sys.exit(main())
