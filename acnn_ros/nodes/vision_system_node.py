# SPDX-License-Identifier: Apache-2.0
"""
vision_system_node: the line as an OPC UA for Machine Vision (OPC 40100-1) vision system.

Hosts the asyncua server of core/vision_system (one VisionSystemType object) while active, and
maps the graph onto it: the lifecycle states of the line's nodes (get_state, polled every
`line_period_s`) drive the VisionStateMachine (Operational only while every node is active,
Error when one is gone or failed); SelectModeAutomatic / Halt / Reset run their change_state
transitions and PrepareRecipe runs inference_node's load_model; `inspection` and `reject` give
one ResultReadyEvent per part. It only listens to the per-part topics: the reject line does
not wait for it, and an OPC UA client, alive or dead, changes nothing at the ejector.
"""
import sys
import time

from acnn_ros.core.messages import frame_key, outcome_from_result
from acnn_ros.core.reject.decision import RejectReason
from acnn_ros.core.ros_env import describe_dds
from acnn_ros.core.vision_system.config import PARAMETERS, VisionSystemConfig
from acnn_ros.core.vision_system.recipes import recipe_for_model, RecipeBook
from acnn_ros.core.vision_system.results import PartDecision
from acnn_ros.msg import InspectionResult, RejectEvent
from acnn_ros.nodes.clean_shutdown import spin_until_interrupted
from acnn_ros.nodes.lifecycle_line import FAILED_STATES, LifecycleLine
from acnn_ros.nodes.line_qos import PER_PART_QOS
from acnn_ros.nodes.managed_node import ManagedNode
from acnn_ros.nodes.node_main import run_node
from acnn_ros.nodes.ros_parameters import declare_parameters
from acnn_ros.runtime.inference_config import resolve_model_path
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn

STOPPED = 'OPC UA server stopped: '     # the line a demo reports (app/vision_system_process)


def _config_from(values) -> VisionSystemConfig:
    """Return the config of the declared values (string arrays: '' entries dropped)."""
    fields = dict(values)
    for name in ('line_nodes', 'recipes'):
        fields[name] = tuple(v for v in fields[name] if v)
    fields.pop('autostart', None)
    return VisionSystemConfig(**fields)


class VisionSystemNode(ManagedNode):
    """
    The OPC UA vision system server of the line; a managed node.

    configure: read the parameters, the recipes' model cards and the NodeSet2 path, create the
    service clients; activate: start the server, subscribe to `inspection` and `reject`, poll
    the line; deactivate: stop the server (clients are disconnected); cleanup: release.
    """

    def __init__(self, **kwargs):
        """Declare the parameters; configure reads them."""
        super().__init__('vision_system_node', **kwargs)
        self.config = self.line = self.server = self.recipes = None
        self.nodeset_file = ''
        self._server_class = None
        self._timer = None
        self._subscriptions = []
        self._values = declare_parameters(self, PARAMETERS)

    def configure(self) -> None:
        """Check the configuration, load the recipes' cards, create the service clients."""
        self.config = config = _config_from(self._values)
        try:    # asyncua is the `opcua` extra: imported only by the nodes that serve or write
            from acnn_ros.core.vision_system.server import VisionSystemServer
        except ImportError as exc:
            raise ValueError(f'vision_system_node needs asyncua ({exc}): pip install '
                             "'asyncua>=1.1,<3'") from exc
        self._server_class = VisionSystemServer
        try:
            self.nodeset_file = str(resolve_model_path(config.nodeset_file))
        except ValueError as exc:
            raise ValueError(f'MachineVision NodeSet2: {exc} (scripts/setup.sh installs it: npm '
                             'ci in resource/opcua)') from exc
        self.recipes = RecipeBook()
        for name in config.recipes:
            self.recipes.add(recipe_for_model(name, resolve_model_path(name)))
        self.line = LifecycleLine(self, config.line_nodes, config.inference_node,
                                  config.service_timeout_s)
        self.get_logger().info(
            f'configured: {config.endpoint} (security {config.security_mode}, anonymous '
            f'{"allowed" if config.allow_anonymous else "refused"}), line '
            f'{", ".join(config.line_nodes)}, {len(config.recipes)} recipe(s); '
            f'{describe_dds()}')

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the OPC UA server, the result subscriptions and the line poll."""
        config = self.config
        self.server = self._server_class(
            config, self.line, self.recipes, self.nodeset_file,
            model_resolver=lambda name: str(resolve_model_path(name)))
        try:
            self.server.start()
        except RuntimeError as exc:
            self.get_logger().error(str(exc))
            self.server = None
            return TransitionCallbackReturn.FAILURE
        self._subscriptions = [
            self.create_subscription(InspectionResult, 'inspection', self._on_result,
                                     PER_PART_QOS),
            self.create_subscription(RejectEvent, 'reject', self._on_reject, PER_PART_QOS)]
        self._timer = self.create_timer(config.line_period_s, self._poll_line)
        self.get_logger().info(f'active: OPC UA vision system at {self.server.endpoint}')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop the server and the subscriptions."""
        self._stop()
        self.get_logger().info('inactive')
        return super().on_deactivate(state)

    def _stop(self) -> None:
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        for subscription in self._subscriptions:
            self.destroy_subscription(subscription)
        self._subscriptions = []
        if self.server is not None:
            self.server.stop()
            last = self.server.results.latest(1)
            self.get_logger().info(
                f'{STOPPED}{self.server.results.last_id} results served'
                + (f' (the last: part {last[0].part_id})' if last else ''))
            self.server = None

    def release(self) -> None:
        """Stop serving and destroy the service clients (idempotent)."""
        self._stop()
        if self.line is not None:
            self.line.close()
            self.line = None

    # -- the line -> the vision system -------------------------------------------------------

    def _poll_line(self) -> None:
        self.line.poll(self._report_line, time.monotonic(), 2.0 * self.config.line_period_s)

    def _report_line(self, states, started) -> None:
        server = self.server
        if server is None:
            return
        failed = sorted(n for n, s in states.items() if s in FAILED_STATES)
        all_active = all(s == 'active' for s in states.values())
        server.observe_line(all_active, bool(failed), started)

    def _on_result(self, msg: InspectionResult) -> None:
        if self.server is not None:
            self.server.add_outcome(frame_key(msg.header), outcome_from_result(msg),
                                    float(msg.total_ms))

    def _on_reject(self, msg: RejectEvent) -> None:
        if self.server is None:
            return
        decision = 'reject' if msg.decision == RejectEvent.DECISION_REJECT else 'accept'
        self.server.add_decision(PartDecision(
            frame_key(msg.header), int(msg.part_id), decision,
            RejectReason(msg.reason).name.lower(), msg.class_name, float(msg.confidence)))


def main(args=None) -> int:
    """Run vision_system_node until shutdown; return the exit status (nodes/node_main)."""
    return run_node('vision_system_node', VisionSystemNode, args, run=spin_until_interrupted)


if __name__ == '__main__':
    sys.exit(main())
