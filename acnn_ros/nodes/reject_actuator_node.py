# SPDX-License-Identifier: Apache-2.0
"""
reject_actuator_node: inspection results + part triggers in, one RejectEvent per part out.

A managed node (nodes/managed_node.py): vision is "ready" for the PLC only while active
(heartbeat on); deactivate, shutdown and Ctrl-C tell the PLC "not ready"
(docs/LINE_INTEGRATION.md, "Vision ready").
"""
import sys

from acnn_ros.core.health import LEVEL_ERROR, LEVEL_WARN
from acnn_ros.core.image_codec import decode_image_message
from acnn_ros.core.messages import (frame_key, header_fields, outcome_from_result,
                                    reject_event_fields, seconds_stamp_fields,
                                    view_result_fields)
from acnn_ros.core.plc.protocols import make_actuator
from acnn_ros.core.reject.archive import RejectArchive
from acnn_ros.core.reject.config import (PARAMETERS, policy_from_values, RejectActuatorConfig,
                                         RUNTIME_PARAMETERS)
from acnn_ros.core.reject.counters import (counter_values, decided_on_result_rate, line_health,
                                           PartsWithoutInference)
from acnn_ros.core.reject.part_ids import InactiveParts
from acnn_ros.core.reject.realtime import IsolationSettings
from acnn_ros.core.reject.scheduler import SchedulerSettings
from acnn_ros.core.reject.scheduler_thread import SchedulerThread
from acnn_ros.core.ros_env import describe_dds
from acnn_ros.msg import InspectionResult, LineCounters, PartTrigger, RejectEvent, ViewResult
from acnn_ros.nodes.clean_shutdown import spin_until_interrupted
from acnn_ros.nodes.diagnostics import publish_status
from acnn_ros.nodes.line_qos import PER_PART_PUBLISHER_QOS, PER_PART_QOS
from acnn_ros.nodes.managed_node import ManagedNode
from acnn_ros.nodes.node_main import run_node
from acnn_ros.nodes.ros_logging import core_logger
from acnn_ros.nodes.ros_parameters import declare_parameters
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, RegionOfInterest
from std_msgs.msg import Header
from std_srvs.srv import Trigger


def _stamp(seconds) -> Time:
    return Time(**seconds_stamp_fields(seconds))


class RejectActuatorNode(ManagedNode):
    """
    Decide every part, fire the ejector at the part's due time, count and archive.

    Managed: configure builds the actuator (connects the PLC), the scheduler and the archive;
    activate subscribes, starts the scheduler and the heartbeat; deactivate stops consuming,
    reports the parts still pending fail-safe and tells the PLC that vision is not ready;
    cleanup and shutdown disconnect and release.
    """

    def __init__(self, **kwargs):
        super().__init__('reject_actuator_node', **kwargs)
        # Set before declaring: a refused parameter destroys the half-built node (release).
        self.config = None
        self.actuator = None
        self.scheduler = None
        self.archive = None
        # Not `_subscriptions`: rclpy's Node keeps its own list under that name.
        self._line_subscriptions = []
        self._status_timer = None
        self._last = None
        # Parts announced while no publisher of `inspection` was matched (start-up before
        # discovery completed, inference down): decided fail-safe, counted here (issue 12).
        self.without_inference = PartsWithoutInference()
        # Parts announced while this node was inactive (nobody decided them; issue 19).
        self.inactive_parts = InactiveParts()
        self._switch_interval_before = None   # restored at release (process-wide setting)
        self._values = declare_parameters(self, PARAMETERS)
        self._py_log = core_logger(self)
        self._rejects = self.create_lifecycle_publisher(RejectEvent, 'reject',
                                                        PER_PART_PUBLISHER_QOS)
        self._counters = self.create_lifecycle_publisher(LineCounters, '~/counters', QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL))
        # Not managed: diagnostics say "inactive" too.
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_service(Trigger, '~/reset_counters', self._on_reset)
        self.add_on_set_parameters_callback(self._on_parameters)

    # -- lifecycle ---------------------------------------------------------------------------

    def configure(self) -> None:
        """Read the configuration, connect the PLC, build the scheduler and the archive."""
        self.config = config = RejectActuatorConfig.from_values(self._values)
        if 0 < config.python_switch_interval_s < sys.getswitchinterval():
            # Process-wide: other Python threads (nodes of a one-process line) would otherwise
            # hold the GIL for up to 5 ms per hand-over, and rejects would miss their time
            # (measured in docs/BENCHMARKS.md, section line). It changes every thread of the
            # process, so it is said, and given back at cleanup / shutdown.
            self._switch_interval_before = sys.getswitchinterval()
            sys.setswitchinterval(config.python_switch_interval_s)
            self.get_logger().info(
                f'python_switch_interval_s: this process switches threads every '
                f'{config.python_switch_interval_s * 1e3:g} ms (was '
                f'{self._switch_interval_before * 1e3:g} ms) until cleanup')
        clock = self._now
        self.actuator = make_actuator(config, clock, logger=self._py_log)
        self.actuator.set_ready(False)   # no heartbeat before activate
        self.actuator.start()
        self.scheduler = SchedulerThread(SchedulerSettings.from_config(config), config.policy,
                                         self.actuator, self._on_record, clock, self._py_log,
                                         IsolationSettings.from_config(config))
        self.archive = (RejectArchive(config.archive_dir, config.archive_max_items, self._py_log)
                        if config.archive_dir else None)
        self._last = self.scheduler.counters_snapshot()
        self._status_timer = self.create_timer(config.counters_period_s, self._publish_status)
        self.get_logger().info(
            f'{config.actuator} actuator, {config.timing}, delay {config.reject_delay_s} s, '
            f'window {config.inspection_window_s} s, triggers {config.use_part_trigger}, '
            f'archive {config.archive_dir or "off"}; {self._station(config)}{describe_dds()}')

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the scheduler and the heartbeat, subscribe to parts and results."""
        self.actuator.set_ready(True)
        self.inactive_parts.activated()
        self.scheduler.start()
        self._line_subscriptions = [self.create_subscription(
            InspectionResult, 'inspection', self._on_result, PER_PART_QOS)]
        if self.config.use_part_trigger:
            self._line_subscriptions.append(self.create_subscription(
                PartTrigger, 'part', self._on_trigger, PER_PART_QOS))
        if self.archive is not None:   # a station's cameras: <camera>/image each
            self._line_subscriptions += [self.create_subscription(
                Image, topic, self._on_image, qos_profile_sensor_data)
                for topic in [f'{c}/image' for c in self.config.cameras] or ['image']]
        self.get_logger().info('active: vision ready, heartbeat on')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop consuming, report pending parts fail-safe, tell the PLC: vision not ready."""
        self._stop_line('vision deactivated')
        return super().on_deactivate(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """From any state: stop the line as deactivate does, then release everything."""
        if state.label == 'active':
            self._stop_line('vision shutting down')
        return super().on_shutdown(state)

    def _stop_line(self, why: str) -> None:
        for subscription in self._line_subscriptions:
            self.destroy_subscription(subscription)
        self._line_subscriptions = []
        self.scheduler.stop()
        # Before the not-ready write, so that no decision reaches the PLC after it.
        pending = self.scheduler.report_pending(
            f'{why}: not actuated, the PLC rejects it by its default')
        self.scheduler.close_faults(f'open until {why}')
        ready_told = self.actuator.set_ready(False)
        self._publish_status()
        self.get_logger().info(
            f'{why}: {pending} pending parts reported fail-safe; PLC told "vision not ready": '
            f'{"yes" if ready_told else "no (its heartbeat watchdog covers it)"}')

    def release(self) -> None:
        """Stop the scheduler, disconnect the actuator, close the archive (idempotent)."""
        for subscription in self._line_subscriptions:
            self.destroy_subscription(subscription)
        self._line_subscriptions = []
        if self._status_timer is not None:
            self.destroy_timer(self._status_timer)
            self._status_timer = None
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        if self.actuator is not None:
            self.actuator.stop()
            self.actuator = None
        if self.archive is not None:
            self.archive.close()
            self.archive = None
        if self._switch_interval_before is not None:
            sys.setswitchinterval(self._switch_interval_before)
            self._switch_interval_before = None

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    @staticmethod
    def _station(config: RejectActuatorConfig) -> str:
        if not config.cameras:
            return ''
        return f'cameras {", ".join(config.cameras)} fused by {config.fusion}; '

    def _on_trigger(self, msg: PartTrigger) -> None:
        self.without_inference.note(self._line_subscriptions[0].get_publisher_count() > 0)
        gap = self.inactive_parts.part(msg.part_id)
        if gap is not None:
            self._py_log.warning(gap)
        self.scheduler.add_trigger(frame_key(msg.header), msg.part_id)

    def _on_result(self, msg: InspectionResult) -> None:
        # An unknown status becomes an ERROR outcome: the part is rejected, the node stays up.
        self.scheduler.add_result(frame_key(msg.header), outcome_from_result(msg))

    def _on_image(self, msg: Image) -> None:
        # Decoded only if its part is rejected.
        self.archive.keep_frame(frame_key(msg.header), lambda: decode_image_message(msg))

    def _on_record(self, record) -> None:
        """Publish one final part outcome (scheduler or PLC thread)."""
        fields, times = reject_event_fields(record)
        stamp, frame_id = header_fields(record.key)   # the exact source header, to the ns
        self._rejects.publish(RejectEvent(
            header=Header(stamp=Time(**stamp), frame_id=frame_id),
            due_time=Time(**times['due_time']), fire_time=Time(**times['fire_time']),
            views=[ViewResult(roi=RegionOfInterest(**roi), **view)
                   for view, roi in view_result_fields(record)], **fields))
        if self.archive is not None:
            self.archive.add_part(record)

    def _on_reset(self, request, response):
        if self.scheduler is None:
            response.success, response.message = False, f'not configured ({self.lifecycle_state})'
            return response
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
        if self.scheduler is not None:
            self.scheduler.set_policy(policy)
        return SetParametersResult(successful=True)

    def _publish_status(self) -> None:
        counters = self.scheduler.counters_snapshot()
        values = dict(counter_values(counters),
                      parts_without_inference=self.without_inference.count,
                      parts_while_inactive=self.inactive_parts.count,
                      **self.scheduler.camera_counters_snapshot().values())
        msg = LineCounters(since=_stamp(counters.since), **{
            name: values[name] for name in LineCounters.get_fields_and_field_types()
            if name in values})
        msg.header.stamp = self.get_clock().now().to_msg()
        self._counters.publish(msg)
        health = self.actuator.status()
        level, text = line_health(self._last, counters, health.ok, health.detail)
        rate = decided_on_result_rate(self._last, counters, self.config.counters_period_s)
        values.update(parts_hz=f'{rate.target_hz:.2f}', on_result_hz=f'{rate.achieved_hz:.2f}')
        if rate.level > level:
            level, text = rate.level, f'{rate.message}; {text}'
        faults = self.scheduler.active_faults()
        if faults:
            level, text = LEVEL_ERROR, '; '.join(faults + [text])
        self._last = counters
        if self.lifecycle_state != 'active':
            level = max(level, LEVEL_WARN)
            text = f'{self.lifecycle_state}: vision not ready (PLC rejects by default); {text}'
        publish_status(self, self._diagnostics, 'reject actuator', level, text,
                       self.config.actuator, values)


def main(args=None) -> int:
    """Run reject_actuator_node until shutdown; return the exit status (nodes.node_main)."""
    return run_node('reject_actuator_node', RejectActuatorNode, args,
                    run=spin_until_interrupted)


if __name__ == '__main__':
    raise SystemExit(main())
