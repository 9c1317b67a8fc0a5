# SPDX-License-Identifier: Apache-2.0
"""
hmi_node: the operator's page of the line, and the shift's history in a database.

Subscribes `reject` (one RejectEvent per part: a row in the shift database and the live
counters), `inspection` (the model id of each part), the reject actuator's `~/counters`
(LineCounters) and `/diagnostics`, and asks the watched nodes for their lifecycle state; the page
(core/hmi) is served from configure on, so an inactive hmi_node still shows its state. The
gallery's pictures come from reject_actuator_node's archive (parameter `archive_dir`, the same
folder). A managed node (nodes/managed_node.py).
"""
import collections
import sys
import time

from acnn_ros.core.hmi.archive_images import ArchiveImages
from acnn_ros.core.hmi.config import HmiConfig, PARAMETERS
from acnn_ros.core.hmi.live_state import in_namespace, LiveState
from acnn_ros.core.hmi.operator_actions import OperatorActions
from acnn_ros.core.hmi.web_server import HmiWebServer
from acnn_ros.core.messages import frame_key
from acnn_ros.core.shift.recorder import ShiftRecorder
from acnn_ros.core.shift.rows import part_row
from acnn_ros.core.shift.store import ShiftStore
from acnn_ros.core.shift.tally import ShiftTally
from acnn_ros.msg import InspectionResult, LineCounters, RejectEvent
from acnn_ros.nodes.clean_shutdown import spin_until_interrupted
from acnn_ros.nodes.line_qos import PER_PART_QOS
from acnn_ros.nodes.managed_node import ManagedNode, PRIMARY_STATES
from acnn_ros.nodes.node_main import run_node
from acnn_ros.nodes.ros_logging import core_logger
from acnn_ros.nodes.ros_parameters import declare_parameters
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.srv import GetState
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_srvs.srv import Trigger

MODEL_IDS_KEPT = 512      # frames whose model id waits for their part's RejectEvent
COUNTERS_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)


class HmiNode(ManagedNode):
    """Serve the operator's page; record every part of the shift."""

    configuration_errors = (ValueError, OSError)   # a bad value, a port taken, a database away

    def __init__(self, **kwargs):
        super().__init__('hmi_node', **kwargs)
        self.config = self.store = self.recorder = self.state = self.server = None
        self._line_subscriptions = []
        self._state_timer = None
        self._state_clients = {}
        self._reset_client = None
        self._pending_states = {}
        self._model_ids = collections.OrderedDict()
        self._values = declare_parameters(self, PARAMETERS)
        self._py_log = core_logger(self)

    def configure(self) -> None:
        """Open the database, rebuild the shift's counters, serve the page."""
        self.config = config = HmiConfig.from_values(self._values)
        self.store = ShiftStore(config.database_url, config.station_id)
        shift = self.store.current_shift(time.time())
        self.state = LiveState(ShiftTally.from_store(self.store, shift, config.gallery_size))
        self.state.set_node_state('inactive')
        self.recorder = ShiftRecorder(self.store, logger=self._py_log)
        self._reset_client = self.create_client(Trigger, config.reset_service)
        self._state_clients = {name: self.create_client(GetState, f'{name}/get_state')
                               for name in config.watched_nodes}
        actions = OperatorActions(self.store, self.state, config.gallery_size, self._py_log,
                                  after_reset=self._reset_actuator_counters)
        self.server = HmiWebServer(self.state, ArchiveImages(config.archive_dir), actions,
                                   config.bind_address, config.port, config.token,
                                   config.push_period_s, self._py_log)
        url = self.server.start()
        counters = self.state.tally.counters()
        self.get_logger().info(
            f'page on {url} (token {"required" if config.token else "off: loopback only"}); '
            f'station {config.station_id}, shift {shift}: {counters["parts"]} parts so far; '
            f'database {self.store.url.split("@")[-1]}; images from '
            f'{config.archive_dir or "nowhere (archive_dir empty)"}')

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the line; start asking the watched nodes for their state."""
        self._line_subscriptions = [
            self.create_subscription(RejectEvent, 'reject', self._on_reject, PER_PART_QOS),
            self.create_subscription(InspectionResult, 'inspection', self._on_result,
                                     PER_PART_QOS),
            self.create_subscription(LineCounters, self.config.counters_topic,
                                     self._on_counters, COUNTERS_QOS),
            self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 50)]
        self._state_timer = self.create_timer(self.config.state_period_s, self._ask_states)
        self.state.set_node_state('active')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop following the line; the page stays up and says so."""
        self._unsubscribe()
        self.state.set_node_state('inactive')
        return super().on_deactivate(state)

    def _unsubscribe(self) -> None:
        for subscription in self._line_subscriptions:
            self.destroy_subscription(subscription)
        self._line_subscriptions = []
        if self._state_timer is not None:
            self.destroy_timer(self._state_timer)
            self._state_timer = None

    def release(self) -> None:
        """Stop the page, write the queued rows, close the database (idempotent)."""
        self._unsubscribe()
        for client in [self._reset_client, *self._state_clients.values()]:
            if client is not None:
                self.destroy_client(client)
        self._reset_client, self._state_clients, self._pending_states = None, {}, {}
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def _on_result(self, msg: InspectionResult) -> None:
        self._model_ids[frame_key(msg.header)] = msg.model_id
        while len(self._model_ids) > MODEL_IDS_KEPT:
            self._model_ids.popitem(last=False)

    def _on_reject(self, msg: RejectEvent) -> None:
        row = part_row(msg, self.state.shift_id, self._model_ids.pop(frame_key(msg.header), ''))
        self.recorder.submit(row)
        self.state.add_part(row)

    def _on_counters(self, msg: LineCounters) -> None:
        self.state.set_actuator_counters({
            name: int(getattr(msg, name)) for name, kind in msg.get_fields_and_field_types()
            .items() if kind == 'uint64'})

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if not in_namespace(status.name, self.get_namespace()):
                continue
            level = status.level[0] if isinstance(status.level, bytes) else int(status.level)
            self.state.set_status(status.name, level, status.message, status.hardware_id,
                                  {kv.key: kv.value for kv in status.values})

    def _ask_states(self) -> None:
        for name, client in self._state_clients.items():
            if name in self._pending_states:
                continue
            if not client.service_is_ready():
                self.state.set_lifecycle(name, 'unreachable')
                continue
            future = client.call_async(GetState.Request())
            self._pending_states[name] = future
            future.add_done_callback(lambda done, node=name: self._on_state(node, done))

    def _on_state(self, name: str, future) -> None:
        self._pending_states.pop(name, None)
        response = future.result()
        label = 'unreachable' if response is None else PRIMARY_STATES.get(
            response.current_state.id, response.current_state.label)
        self.state.set_lifecycle(name, label)

    def _reset_actuator_counters(self) -> str:
        """Ask reject_actuator_node to reset its counters too (web thread; not awaited)."""
        if not self._reset_client.service_is_ready():
            return f'{self.config.reset_service} not reachable'
        self._reset_client.call_async(Trigger.Request())
        return f'{self.config.reset_service} called'


def main(args=None) -> int:
    """Run hmi_node until shutdown; return the exit status (nodes.node_main)."""
    return run_node('hmi_node', HmiNode, args, run=spin_until_interrupted)


if __name__ == '__main__':
    sys.exit(main())
