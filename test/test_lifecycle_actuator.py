# SPDX-License-Identifier: Apache-2.0
"""
reject_actuator_node's lifecycle over real DDS, against real PLC simulators (Modbus, OPC UA).

The node runs in its own process with `autostart:=false`; this test drives every transition
with lifecycle_msgs/srv/ChangeState, reads the state with GetState, publishes parts and
results, and checks what the simulated PLC received: no heartbeat before activate, "vision not
ready" (decision block part id 0, verdict 0) and a silent heartbeat after deactivate, the
heartbeat again after activate, and the part pending at deactivate reported fail-safe.
"""
import time

from acnn_ros.core.plc.modbus.simulator import PlcSimulator
from acnn_ros.core.plc.opcua.simulator import OpcUaSimulator
from acnn_ros.msg import InspectionResult, PartTrigger, RejectEvent
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_client import RosClient
from ros_processes import NodeProcess, REPO_DIR

pytestmark = pytest.mark.timeout(120)

RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
HEARTBEAT_S = 0.2
NODE = 'reject_actuator_node'


def start_simulator(backend):
    if backend == 'modbus':
        sim = PlcSimulator().start()
        return sim, ['-p', 'actuator:=modbus', '-p', f'plc_port:={sim.port}']
    sim = OpcUaSimulator().start()
    return sim, ['-p', 'actuator:=opcua', '-p', f'opcua_endpoint:={sim.endpoint}']


def toggles_after(sim, since: float) -> int:
    return sum(1 for t in sim.heartbeat_toggles() if t > since)


@pytest.mark.parametrize('backend', ['modbus', 'opcua'])
def test_every_transition_and_what_the_plc_sees(backend, own_domain_env):
    # A domain of this test's own (the client context below reads it too).
    env = own_domain_env
    sim, plc_args = start_simulator(backend)
    node = NodeProcess.node(
        NODE, '--params-file', str(REPO_DIR / 'config' / 'inspect.yaml'), *plc_args,
        '-p', 'autostart:=false', '-p', f'plc_heartbeat_period_s:={HEARTBEAT_S}',
        '-p', 'reject_delay_s:=1.5', '-p', 'inspection_window_s:=1.0',
        '-p', 'max_fire_lateness_s:=0.1', '-p', 'counters_period_s:=0.2', env=env)
    client = RosClient()
    try:
        events = client.record(RejectEvent, 'reject', RELIABLE)
        parts = client.node.create_publisher(PartTrigger, 'part', RELIABLE)
        results = client.node.create_publisher(InspectionResult, 'inspection', RELIABLE)

        def publish_part(part_id, class_name=None):
            trigger = PartTrigger(part_id=part_id)
            trigger.header.stamp = client.node.get_clock().now().to_msg()
            trigger.header.frame_id = 'camera_optical_frame'
            parts.publish(trigger)
            if class_name is not None:
                results.publish(InspectionResult(header=trigger.header, status=0, class_id=0,
                                                 class_name=class_name, confidence=0.95))

        def events_of(part_id):
            return [e for e in events if e.part_id == part_id]

        # Unconfigured: nothing built, nothing written to the PLC.
        assert client.get_state(NODE) == 'unconfigured', node.output
        assert client.change_state(NODE, 'activate') is False   # not from unconfigured
        client.spin_for(3 * HEARTBEAT_S)
        assert sim.writes() == []
        # Configured (inactive): connected, but no heartbeat: vision is not ready yet.
        assert client.change_state(NODE, 'configure'), node.output
        assert client.get_state(NODE) == 'inactive'
        configured_at = time.time()
        client.spin_for(5 * HEARTBEAT_S)
        assert toggles_after(sim, configured_at) == 0, sim.heartbeat_toggles()
        # Active: heartbeat, parts in, decisions out.
        assert client.change_state(NODE, 'activate'), node.output
        assert client.get_state(NODE) == 'active'
        activated_at = time.time()
        assert client.spin_until(lambda: toggles_after(sim, activated_at) >= 2, 10), \
            node.output
        assert client.spin_until(lambda: client.node.count_subscribers('part') > 0
                                 and client.node.count_subscribers('inspection') > 0, 10)
        publish_part(1, 'p3707')
        assert client.spin_until(lambda: events_of(1), 10), node.output
        assert events_of(1)[0].decision == 0
        assert client.spin_until(lambda: any(d.part_id == 1 for d in sim.decisions()), 5)
        # A part whose result has not come yet is pending when the node is deactivated.
        publish_part(2)
        client.spin_for(0.3)
        assert not events_of(2)
        assert client.change_state(NODE, 'deactivate'), node.output
        assert client.get_state(NODE) == 'inactive'
        assert client.spin_until(lambda: events_of(2), 5), node.output
        (pending,) = events_of(2)
        # NO_RESULT (6), fail-safe, MISSED (2): the PLC's default rejects it.
        assert (pending.decision, pending.reason, pending.fail_safe, pending.delivery) == (
            1, 6, True, 2), pending
        not_ready = sim.decisions()[-1]
        assert (not_ready.part_id, not_ready.verdict, not_ready.reason) == (0, 0, 0), \
            sim.decisions()
        client.spin_for(5 * HEARTBEAT_S)
        assert toggles_after(sim, not_ready.time) == 0, 'heartbeat after deactivate'
        # Inactive: parts are not consumed.
        publish_part(3, 'p1069')
        client.spin_for(1.0)
        assert not events_of(3)
        assert all(d.part_id != 3 for d in sim.decisions())
        # Active again: the heartbeat comes back, a reject is fired.
        assert client.change_state(NODE, 'activate'), node.output
        reactivated_at = time.time()
        assert client.spin_until(lambda: toggles_after(sim, reactivated_at) >= 2, 10)
        assert client.spin_until(lambda: client.node.count_subscribers('part') > 0, 10)
        client.spin_for(0.3)
        publish_part(4, 'p1069')
        assert client.spin_until(lambda: events_of(4), 10), node.output
        assert (events_of(4)[0].decision, events_of(4)[0].reason,
                events_of(4)[0].delivery) == (1, 1, 1)
        assert (4, 2) in [(d.part_id, d.verdict) for d in sim.decisions()]
        # deactivate -> cleanup -> unconfigured -> shutdown -> finalized.
        assert client.change_state(NODE, 'deactivate')
        assert client.change_state(NODE, 'cleanup')
        assert client.get_state(NODE) == 'unconfigured'
        assert client.change_state(NODE, 'shutdown')
        assert client.get_state(NODE) == 'finalized'
    finally:
        client.close()
        code = node.interrupt()
        sim.stop()
    assert code == 0, node.output
    assert 'Traceback' not in node.output and 'context is invalid' not in node.output, \
        node.output
    assert len(events) == 3, [(e.part_id, e.decision) for e in events]   # parts 1, 2, 4
    assert '1 pending parts reported fail-safe' in node.output, node.output
    assert [(d.part_id, d.verdict) for d in sim.decisions()].count((0, 0)) == 2, \
        sim.decisions()   # at each deactivate


def test_each_activation_subscribes_once_and_deactivate_removes_every_subscription():
    # In process: the node's own subscription list must not replace rclpy's (Node keeps its
    # subscriptions in `_subscriptions`); a clash doubled entries and left some undestroyed.
    import rclpy
    from acnn_ros.nodes.reject_actuator_node import RejectActuatorNode
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter
    context = rclpy.Context()
    rclpy.init(context=context)
    node = RejectActuatorNode(context=context, parameter_overrides=[
        Parameter('autostart', value=False), Parameter('actuator', value='topic'),
        Parameter('archive_dir', value='')])
    try:
        topics = lambda: sorted(s.topic_name for s in node.subscriptions)  # noqa: E731
        assert topics() == []
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        for _ in range(2):
            assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
            assert topics() == ['/inspection', '/part']
            assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
            assert topics() == []
    finally:
        node.shut_down()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
