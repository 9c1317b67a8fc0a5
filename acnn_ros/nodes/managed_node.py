# SPDX-License-Identifier: Apache-2.0
"""
The base of the package's managed (lifecycle) nodes: autostart and configuration errors.

A managed node declares its parameters in `__init__` (so they can be set before it is
configured), builds what it needs in `on_configure` (model, PLC link, camera source), starts
consuming and publishing in `on_activate`, stops in `on_deactivate` and releases everything in
`on_cleanup` / `on_shutdown`. A line's lifecycle manager (or `ros2 lifecycle set`) drives it;
with the `autostart` parameter (default true, the `/**` section of config/inspect.yaml) the node
configures and activates itself, so a plain `ros2 run` or a launch file without a manager
starts a working node.

Subclasses call `super().on_*()` last in each transition callback that succeeds: rclpy's
default callbacks switch the node's lifecycle publishers on and off.
"""
import traceback
from typing import List, Optional, Tuple, Type

from acnn_ros.core.parameter_spec import ParameterSpec
from acnn_ros.nodes.acknowledgements import wait_for_acknowledgements
from acnn_ros.nodes.ros_parameters import declare_parameters, warn_unknown_parameters
from lifecycle_msgs.msg import State
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

AUTOSTART = ParameterSpec(
    'autostart', True, 'configure and activate at start-up (false: wait for a lifecycle '
    'manager or `ros2 lifecycle set`)')

# How long a node being destroyed waits, in all, for its subscribers to acknowledge what it
# published on reliable topics. Destroying a publisher drops the samples a reader has not
# acknowledged, and the line publishes its last parts' results and reject events just before
# it stops: a sample lost on the way is sent again only after the writer's next heartbeat
# (Fast DDS: every 3 s), so the wait covers one heartbeat period. Healthy readers ack in ms.
ACK_WAIT_S = 3.5

# The lifecycle_msgs/State ids of the primary states, by label.
PRIMARY_STATES = {State.PRIMARY_STATE_UNCONFIGURED: 'unconfigured',
                  State.PRIMARY_STATE_INACTIVE: 'inactive',
                  State.PRIMARY_STATE_ACTIVE: 'active',
                  State.PRIMARY_STATE_FINALIZED: 'finalized'}


class ManagedNode(LifecycleNode):
    """A lifecycle node with `autostart` and a readable reason when configuring fails."""

    # Errors that mean "this configuration cannot work" (bad file, bad value, engine refused
    # the model): configure fails with the reason logged instead of raising.
    configuration_errors: Tuple[Type[BaseException], ...] = (ValueError,)

    def __init__(self, node_name: str, **kwargs):
        super().__init__(node_name, **kwargs)
        self.configure_error: Optional[str] = None
        # True during start_up(): its caller reports a configure error (run_node's one fatal
        # line), so configure_or_report does not log it a second time.
        self._caller_reports_errors = False
        self._refuse_unavailable_transitions()
        self.autostart = bool(declare_parameters(self, [AUTOSTART])['autostart'])

    def _refuse_unavailable_transitions(self) -> None:
        """
        Answer `success: false` to a ChangeState request the current state does not allow.

        Kilted's rclpy does; Humble's and Jazzy's raise RCLError out of the service callback,
        which ends the node's executor (`ros2 lifecycle set inference_node activate` on an
        unconfigured node would kill it).
        """
        service = getattr(self, '_service_change_state', None)
        if service is None:
            return
        handle = service.callback

        def guarded(request, response):
            try:
                return handle(request, response)
            except _rclpy.RCLError as exc:
                self.get_logger().error(
                    f'transition {request.transition.label or request.transition.id} refused '
                    f'in state {self.lifecycle_state}: {exc}')
                response.success = False
                return response
        service.callback = guarded

    @property
    def lifecycle_state(self) -> str:
        """Return the label of the current primary state ('active', 'inactive', ...)."""
        state_id, label = self._state_machine.current_state
        return PRIMARY_STATES.get(state_id, label)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Run the node's `configure()`; on a configuration error release what it built."""
        warn_unknown_parameters(self)   # every parameter is declared by now (once per name)
        result = self.configure_or_report(self.configure)
        if result != TransitionCallbackReturn.SUCCESS:
            self.release()
            return result
        return super().on_configure(state)

    def configure(self) -> None:
        """Build what the node needs (subclasses override); raise a configuration error if not."""

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything configure built."""
        self.release()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything, from any state (the node's release() stops what runs first)."""
        self.release()
        return super().on_shutdown(state)

    def configure_or_report(self, configure) -> TransitionCallbackReturn:
        """
        Run `configure()` (the node's own set-up); FAILURE with the reason on a config error.

        On success the caller continues its on_configure; on failure the node stays
        unconfigured and keeps the reason in `configure_error`; it logs it too unless it is
        configuring itself in `start_up()` (run_node then prints the reason in its one fatal
        line, exit status 2). Any other exception is logged with its
        traceback (rclpy would swallow it) and returns ERROR: on_error releases what
        `configure()` built and the node is unconfigured again.
        """
        self.configure_error = None
        try:
            configure()
        except self.configuration_errors as exc:
            self.configure_error = str(exc)
            if not self._caller_reports_errors:
                self.get_logger().error(f'configure failed: {exc}')
            return TransitionCallbackReturn.FAILURE
        except Exception as exc:  # a bug, not a configuration: say where, then release
            self.configure_error = f'{type(exc).__name__}: {exc}'
            self.get_logger().error(f'configure raised:\n{traceback.format_exc()}')
            return TransitionCallbackReturn.ERROR
        return TransitionCallbackReturn.SUCCESS

    def configure_for_caller(self) -> bool:
        """
        Run the configure transition; return False, with configure_error, on failure.

        The caller reports `configure_error` (one fatal line), so it is not logged here.
        """
        self._caller_reports_errors = True
        try:
            configured = self.trigger_configure()
        finally:
            self._caller_reports_errors = False
        if configured != TransitionCallbackReturn.SUCCESS:
            self.configure_error = self.configure_error or 'configure transition failed'
            return False
        return True

    def start_up(self) -> bool:
        """
        Configure and activate (autostart); return False, with configure_error, on failure.

        A configuration error is not logged here: the caller reports `configure_error`.
        """
        if not self.configure_for_caller():
            return False
        if self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            self.configure_error = self.configure_error or 'activate transition failed'
            return False
        return True

    def shut_down(self) -> None:
        """
        Run the shutdown transition from any primary state but finalized (idempotent).

        After Ctrl-C rclpy has already shut the context down, and rcl cannot start a transition
        then (it fails to publish the transition event, logs an error and leaves the state
        machine in `shuttingdown` without calling on_shutdown): `release()` directly instead.
        """
        if self.lifecycle_state not in ('unconfigured', 'inactive', 'active'):
            return
        if self.context.ok():
            self.trigger_shutdown()
        else:
            self.release()

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release what a failed transition left behind, then go back to unconfigured."""
        self.get_logger().error(f'transition from {state.label} raised: releasing resources')
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self):
        """Release what is still held, let subscribers ack the last messages, then destroy."""
        self.release()
        unacknowledged = self.wait_for_acknowledgements(ACK_WAIT_S)
        if unacknowledged:
            self.get_logger().warning(
                f'destroyed before every subscriber acknowledged {", ".join(unacknowledged)} '
                f'(waited {ACK_WAIT_S:g} s): their last messages may be lost to them')
        return super().destroy_node()

    def wait_for_acknowledgements(self, timeout_s: float) -> List[str]:
        """Wait, at most `timeout_s`, for every reliable publisher's acks; return the rest."""
        return wait_for_acknowledgements(self.publishers, timeout_s)

    def release(self) -> None:
        """Release everything configure built; subclasses override (must be idempotent)."""
