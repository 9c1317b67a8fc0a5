# SPDX-License-Identifier: Apache-2.0
"""reject_actuator_node: inspection results + part triggers in, one RejectEvent per part out."""
import collections
import logging
import sys
import threading

from acnn_ros.core.image_codec import decode_image
from acnn_ros.core.plc.actuators import make_actuator
from acnn_ros.core.reject.archive import part_record_dict, RejectArchive
from acnn_ros.core.reject.config import (PARAMETERS, policy_from_values, RejectActuatorConfig,
                                         RUNTIME_PARAMETERS)
from acnn_ros.core.reject.counters import counter_values, line_health
from acnn_ros.core.reject.scheduler import FrameKey, RejectScheduler, SchedulerSettings
from acnn_ros.core.results import InspectionOutcome, InspectionStatus, RoiBox
from acnn_ros.core.ros_env import describe_dds, ensure_local_dds
from acnn_ros.msg import InspectionResult, LineCounters, PartTrigger, RejectEvent
from acnn_ros.nodes.ros_parameters import declare_parameters, EXIT_BAD_CONFIGURATION
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

FRAMES_KEPT = 64   # frames held for the archive until their part's outcome is known
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


def _stamp(seconds) -> Time:
    if not seconds:
        return Time()
    nanoseconds = int(round(seconds * 1e9))
    return Time(sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9)


def _key(header) -> FrameKey:
    return FrameKey(header.stamp.sec * 10**9 + header.stamp.nanosec, header.frame_id)


class _RosLogHandler(logging.Handler):
    """Forward the core's Python logging to the node's ROS logger."""

    def __init__(self, logger):
        super().__init__()
        self._logger = logger

    def emit(self, record):
        # rclpy wants one severity per call site: one call per level.
        text = self.format(record)
        if record.levelno >= logging.ERROR:
            self._logger.error(text)
        elif record.levelno >= logging.WARNING:
            self._logger.warning(text)
        else:
            self._logger.info(text)


class RejectActuatorNode(Node):
    """Decide every part, fire the ejector at the part's due time, count and archive."""

    def __init__(self, **kwargs):
        super().__init__('reject_actuator_node', **kwargs)
        self._values = declare_parameters(self, PARAMETERS)
        self.config = config = RejectActuatorConfig.from_values(self._values)
        if 0 < config.python_switch_interval_s < sys.getswitchinterval():
            # Process-wide: other Python threads (nodes of a one-process line) would otherwise
            # hold the GIL for up to 5 ms per hand-over, and rejects would miss their time
            # (measured in docs/BENCHMARKS.md, section line).
            sys.setswitchinterval(config.python_switch_interval_s)
        self._py_log = logging.getLogger(f'acnn_ros.{self.get_name()}.{id(self)}')
        self._py_log.setLevel(logging.INFO)
        self._py_log.addHandler(_RosLogHandler(self.get_logger()))
        self._py_log.propagate = False
        clock = self._now
        self.actuator = make_actuator(config, clock, logger=self._py_log)
        self.scheduler = RejectScheduler(SchedulerSettings.from_config(config), config.policy,
                                         self.actuator, self._on_record, clock, self._py_log)
        self.archive = (RejectArchive(config.archive_dir, config.archive_max_items, self._py_log)
                        if config.archive_dir else None)
        self._frames = collections.OrderedDict()
        self._frames_lock = threading.Lock()
        self._rejects = self.create_publisher(RejectEvent, 'reject', RELIABLE)
        self._counters = self.create_publisher(LineCounters, '~/counters', QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_subscription(InspectionResult, 'inspection', self._on_result, RELIABLE)
        if config.use_part_trigger:
            self.create_subscription(PartTrigger, 'part', self._on_trigger, RELIABLE)
        if self.archive is not None:
            self.create_subscription(Image, 'image', self._on_image, qos_profile_sensor_data)
        self.create_service(Trigger, '~/reset_counters', self._on_reset)
        self.add_on_set_parameters_callback(self._on_parameters)
        self.create_timer(config.counters_period_s, self._publish_status)
        self._last = self.scheduler.counters_snapshot()
        self.actuator.start()
        self.scheduler.start()
        self.get_logger().info(
            f'{config.actuator} actuator, {config.timing}, delay {config.reject_delay_s} s, '
            f'window {config.inspection_window_s} s, triggers {config.use_part_trigger}, '
            f'archive {config.archive_dir or "off"}; {describe_dds()}')

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_trigger(self, msg: PartTrigger) -> None:
        self.scheduler.add_trigger(_key(msg.header), msg.part_id)

    def _on_result(self, msg: InspectionResult) -> None:
        if msg.status not in set(InspectionStatus):   # garbage in: reject, say why, stay up
            self.scheduler.add_result(_key(msg.header), InspectionOutcome.error(
                f'unknown InspectionResult status {msg.status}: {msg.detail}'))
            return
        has_roi = msg.status == InspectionResult.STATUS_OK and msg.roi.width > 0
        outcome = InspectionOutcome(
            status=InspectionStatus(msg.status), detail=msg.detail, class_id=msg.class_id,
            class_name=msg.class_name, confidence=float(msg.confidence),
            class_scores=tuple(float(s) for s in msg.class_scores), model_id=msg.model_id,
            roi=RoiBox(msg.roi_center_x, msg.roi_center_y, float(msg.roi.width),
                       float(msg.roi.height)) if has_roi else None)
        self.scheduler.add_result(_key(msg.header), outcome)

    def _on_image(self, msg: Image) -> None:
        with self._frames_lock:
            self._frames[_key(msg.header)] = msg
            while len(self._frames) > FRAMES_KEPT:
                self._frames.popitem(last=False)

    def _on_record(self, record) -> None:
        """Publish one final part outcome (scheduler or PLC thread)."""
        decision, outcome = record.decision, record.outcome
        msg = RejectEvent(part_id=record.part_id, reason=int(decision.reason),
                          reason_detail=decision.detail, fail_safe=decision.fail_safe,
                          delivery=int(record.delivery), actuator=record.actuator,
                          decision=RejectEvent.DECISION_REJECT if decision.reject
                          else RejectEvent.DECISION_ACCEPT,
                          due_time=_stamp(record.due_time), fire_time=_stamp(record.fire_time))
        # The exact source header (stamp to the nanosecond), not a float round trip.
        msg.header.stamp = Time(sec=record.key.stamp_ns // 10**9,
                                nanosec=record.key.stamp_ns % 10**9)
        msg.header.frame_id = record.key.frame_id
        msg.class_id = outcome.class_id if outcome is not None else -1
        msg.class_name = outcome.class_name if outcome is not None else ''
        msg.confidence = float(outcome.confidence) if outcome is not None else 0.0
        self._rejects.publish(msg)
        if decision.reject and self.archive is not None:
            with self._frames_lock:
                frame = self._frames.pop(record.key, None)
            self.archive.submit(part_record_dict(record), None if frame is None else (
                lambda: decode_image(frame.encoding, frame.width, frame.height, frame.step,
                                     frame.data, bool(frame.is_bigendian))))

    def _on_reset(self, request, response):
        before = self.scheduler.reset_counters()
        self._last = self.scheduler.counters_snapshot()
        self._py_log.warning(f'AUDIT: counters reset by service call; before: {before.summary()}')
        response.success, response.message = True, f'reset; before: {before.summary()}'
        self._publish_status()
        return response

    def _on_parameters(self, parameters) -> SetParametersResult:
        changed = {p.name: p.value for p in parameters if p.name in RUNTIME_PARAMETERS}
        if not changed:
            return SetParametersResult(successful=True)
        try:
            policy = policy_from_values(dict(self._values, **changed))
        except ValueError as exc:
            self._py_log.warning(f'AUDIT: rejected parameter change {changed}: {exc}')
            return SetParametersResult(successful=False, reason=str(exc))
        for name, value in changed.items():
            self._py_log.warning(f'AUDIT: parameter {name} changed from '
                                 f'{self._values[name]!r} to {value!r}')
        self._values.update(changed)
        self.scheduler.set_policy(policy)
        return SetParametersResult(successful=True)

    def _publish_status(self) -> None:
        counters = self.scheduler.counters_snapshot()
        values = counter_values(counters)
        msg = LineCounters(since=_stamp(counters.since), **{
            name: values[name] for name in LineCounters.get_fields_and_field_types()
            if name in values})
        msg.header.stamp = self.get_clock().now().to_msg()
        self._counters.publish(msg)
        health = self.actuator.status()
        level, text = line_health(self._last, counters, health.ok, health.detail)
        self._last = counters
        diagnostics = DiagnosticArray(status=[DiagnosticStatus(
            level=bytes([level]), name=f'{self.get_name()}: reject actuator', message=text,
            hardware_id=self.config.actuator,
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])])
        diagnostics.header.stamp = msg.header.stamp
        self._diagnostics.publish(diagnostics)

    def destroy_node(self):
        """Stop the scheduler, the actuator and the archive, then the node."""
        self.scheduler.stop()
        self.actuator.stop()
        if self.archive is not None:
            self.archive.close()
        return super().destroy_node()


def main(args=None) -> int:
    """Run reject_actuator_node until shutdown; return 2 on a configuration error."""
    ensure_local_dds()
    rclpy.init(args=args)
    node = None
    try:
        node = RejectActuatorNode()
        rclpy.spin(node)
    except ValueError as exc:
        rclpy.logging.get_logger('reject_actuator_node').fatal(f'cannot start: {exc}')
        return EXIT_BAD_CONFIGURATION
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
