# SPDX-License-Identifier: Apache-2.0
"""The OPC UA PLC client against a real asyncua server (and a hung one) on 127.0.0.1."""
import json
import signal
import subprocess
import sys
import time

from acnn_ros.core.plc.contract import ActuationCommand
from acnn_ros.core.plc.loop_server import free_port
from acnn_ros.core.plc.modbus.simulator import SilentTcpServer
from acnn_ros.core.plc.opcua.client import decision_values, OpcUaActuator
from acnn_ros.core.plc.opcua.config import OpcUaConfig
from acnn_ros.core.plc.opcua.simulator import OpcUaSimulator
from acnn_ros.core.plc.protocols import make_actuator
from acnn_ros.core.reject.config import RejectActuatorConfig
from actuator_reports import Reports, wait_until
import pytest
from ros_processes import NodeProcess, REPO_DIR


def command(part_id, reject=True, reason=1, in_s=0.0, budget_s=0.5):
    now = time.time()
    return ActuationCommand(part_id, reject, reason if reject else 0, now + in_s,
                            now + in_s + budget_s, reject, 0.02)


def opcua_config(endpoint, **kwargs):
    values = {'endpoint': endpoint, 'heartbeat_period_s': 0.2, 'timeout_s': 0.2,
              'reconnect_max_s': 0.2}
    values.update(kwargs)
    return OpcUaConfig(**values)


@pytest.fixture(scope='module')
def simulator():
    # One server for the module (it takes ~1 s to start); tests that stop it restart it.
    sim = OpcUaSimulator().start()
    yield sim
    sim.stop()


def test_decision_values_have_the_plc_types():
    part_id, verdict, reason = decision_values(0x1_0000_0007, 2, 6)
    assert (part_id.Value.Value, part_id.Value.VariantType.name) == (7, 'UInt32')
    assert (verdict.Value.Value, verdict.Value.VariantType.name) == (2, 'UInt16')
    assert (reason.Value.Value, reason.Value.VariantType.name) == (6, 'UInt16')
    assert part_id.SourceTimestamp is None   # PLC servers may refuse client timestamps


def test_decisions_arrive_in_one_write_and_the_heartbeat_toggles(simulator):
    simulator.clear()
    actuator = OpcUaActuator(opcua_config(simulator.endpoint))
    actuator.start()
    try:
        assert wait_until(lambda: actuator.status().ok), actuator.status()
        reports = Reports()
        actuator.actuate(command(70001, reject=True, reason=3), reports)
        actuator.actuate(command(70002, reject=False), reports)
        actuator.actuate(command(0xFFFFFFFF, reject=True, reason=6), reports)
        got = reports.wait_for(3)
        assert [r.delivered for r in got] == [True, True, True], got
        assert all(r.fire_time is not None for r in got)
        assert wait_until(lambda: len(simulator.heartbeat_toggles()) >= 3, 3.0), \
            simulator.writes()
    finally:
        actuator.stop()
    decisions = simulator.decisions()
    assert sorted((d.part_id, d.verdict, d.reason) for d in decisions) == \
        [(70001, 2, 3), (70002, 1, 0), (0xFFFFFFFF, 2, 6)]
    # Nothing but the decision (with its ValidUntil) and the heartbeat was ever written, each
    # in its own request: the part id never travels without its verdict and its deadline.
    shapes = {tuple(name for name, _ in w.values) for w in simulator.writes()}
    assert shapes == {('Vision.PartId', 'Vision.Verdict', 'Vision.Reason', 'Vision.ValidUntil'),
                      ('Vision.Heartbeat',)}, shapes
    assert [d.valid for d in decisions] == [True, True, True]   # fresh at receipt
    assert all(w.good for w in simulator.writes())
    assert actuator.stats['heartbeats'] >= 3 and actuator.stats['writes'] == 3


def test_a_repeated_decision_is_harmless(simulator):
    simulator.clear()
    actuator = OpcUaActuator(opcua_config(simulator.endpoint, heartbeat_node=''))
    actuator.start()
    try:
        assert wait_until(lambda: actuator.status().ok), actuator.status()
        reports = Reports()
        actuator.actuate(command(9, reason=2), reports)
        actuator.actuate(command(9, reason=2), reports)
        assert [r.delivered for r in reports.wait_for(2)] == [True, True]
    finally:
        actuator.stop()
    assert [(d.part_id, d.verdict, d.reason) for d in simulator.decisions()] == [(9, 2, 2)] * 2
    assert not simulator.heartbeat_toggles()


def test_unknown_namespace_and_refused_write_are_reported(simulator):
    actuator = OpcUaActuator(opcua_config(simulator.endpoint, namespace='urn:not:there'))
    actuator.start()
    try:
        assert wait_until(lambda: actuator.stats['connect_failures'] >= 1)
        assert 'urn:not:there' in actuator.status().detail and not actuator.status().ok
    finally:
        actuator.stop()
    # A verdict node of the wrong type (a Boolean): the server answers BadTypeMismatch.
    actuator = OpcUaActuator(opcua_config(simulator.endpoint, verdict_node='s=Vision.Heartbeat',
                                          heartbeat_node=''))
    actuator.start()
    try:
        assert wait_until(lambda: actuator.status().ok), actuator.status()
        reports = Reports()
        started = time.time()
        actuator.actuate(command(11, budget_s=2.0), reports)
        got = reports.wait_for(1)
        assert got and not got[0].delivered and 'BadTypeMismatch' in got[0].detail, got
        assert reports.times[0] - started < 1.0   # refused at once, not at the deadline
        assert actuator.status().ok               # the server answers: the link is fine
    finally:
        actuator.stop()


def test_restart_delivers_a_queued_decision_on_time_and_misses_a_late_one(simulator):
    actuator = OpcUaActuator(opcua_config(simulator.endpoint))
    actuator.start()
    try:
        assert wait_until(lambda: actuator.status().ok), actuator.status()
        simulator.stop()
        assert wait_until(lambda: not actuator.status().ok, 3.0), actuator.stats
        simulator.clear()
        reports = Reports()
        actuator.actuate(command(1, budget_s=0.3), reports)    # gives up before the restart
        actuator.actuate(command(2, budget_s=6.0), reports)    # still on time after it
        time.sleep(0.4)
        simulator.start()   # ~1 s or more on a busy machine: not part of the client's time
        restarted = time.time()
        got = {r.part_id: r for r in reports.wait_for(2, timeout_s=6.0)}
        delivered_after_s = reports.times[-1] - restarted
    finally:
        actuator.stop()
    assert not got[1].delivered and got[1].detail.startswith('OPC UA: '), got[1]
    assert got[2].delivered, got[2]
    # Back-off capped at 0.2 s here, connect sequence a few ms.
    assert delivered_after_s < 1.5, delivered_after_s
    assert [d.part_id for d in simulator.decisions()] == [2]
    assert actuator.stats['connects'] >= 2


def test_an_expired_session_is_made_again_and_the_decision_still_delivered(simulator):
    simulator.clear()
    actuator = OpcUaActuator(opcua_config(simulator.endpoint, heartbeat_node=''))
    actuator.start()
    try:
        assert wait_until(lambda: actuator.status().ok), actuator.status()
        assert simulator.expire_sessions() == 1
        reports = Reports()
        actuator.actuate(command(21, budget_s=4.0), reports)
        got = reports.wait_for(1)
    finally:
        actuator.stop()
    assert got and got[0].delivered, got
    assert actuator.stats['connects'] == 2
    assert [d.part_id for d in simulator.decisions()] == [21]


def test_a_server_that_stops_answering_costs_the_deadline_then_recovers(simulator):
    simulator.clear()
    actuator = OpcUaActuator(opcua_config(simulator.endpoint, timeout_s=0.1))
    actuator.start()
    try:
        assert wait_until(lambda: actuator.status().ok), actuator.status()
        simulator.freeze(1.5)
        reports = Reports()
        started = time.time()
        actuator.actuate(command(31, budget_s=0.3), reports)
        actuator.actuate(command(32, budget_s=5.0), reports)
        assert time.time() - started < 0.2   # blocking would wait for the frozen server
        first = reports.wait_for(1, timeout_s=1.0)
        assert first and first[0].part_id == 31 and not first[0].delivered, first
        assert reports.times[0] - started < 0.3 + 0.25
        assert not actuator.status().ok
        got = {r.part_id: r for r in reports.wait_for(2, timeout_s=6.0)}
        assert got[32].delivered, got
        assert wait_until(lambda: actuator.status().ok, 3.0), actuator.status()
    finally:
        actuator.stop()
    assert 32 in [d.part_id for d in simulator.decisions()]


def test_first_failed_connect_is_retried_until_the_server_appears():
    sim = OpcUaSimulator(port=free_port())
    actuator = OpcUaActuator(opcua_config(sim.endpoint, heartbeat_node=''))
    actuator.start()
    try:
        assert wait_until(lambda: actuator.stats['connect_failures'] >= 2, 3.0)
        assert not actuator.status().ok and 'connect to' in actuator.status().detail
        reports = Reports()
        actuator.actuate(command(5, budget_s=6.0), reports)
        sim.start()
        got = reports.wait_for(1, timeout_s=6.0)
        assert got and got[0].delivered, got
    finally:
        actuator.stop()
        sim.stop()
    assert [d.part_id for d in sim.decisions()] == [5]


def test_hung_server_reports_missed_by_the_deadline_without_blocking_the_caller():
    silent = SilentTcpServer()
    actuator = OpcUaActuator(opcua_config(f'opc.tcp://127.0.0.1:{silent.port}/',
                                          heartbeat_period_s=0.1))
    actuator.start()
    try:
        assert wait_until(lambda: silent.accepted >= 1)
        reports = Reports()
        started = time.time()
        for part_id in range(1, 21):
            actuator.actuate(command(part_id, budget_s=0.3), reports)
        call_s = time.time() - started
        assert call_s < 0.25, f'actuate() blocked for {call_s:.3f} s'   # blocking: >= 0.3 s each
        got = reports.wait_for(20, timeout_s=3.0)
        assert len(got) == 20 and not any(r.delivered for r in got)
        assert all(r.detail.startswith('OPC UA: ') for r in got), got[0]
        assert max(reports.times) - started < 0.3 + 0.25, max(reports.times) - started
        assert not actuator.status().ok
    finally:
        stop_started = time.time()
        actuator.stop()
        stop_s = time.time() - stop_started
        silent.close()
    assert stop_s < 2.5, f'stop() took {stop_s:.2f} s'


def test_every_command_is_reported_once_even_around_stop(simulator):
    actuator = OpcUaActuator(opcua_config(simulator.endpoint, heartbeat_node=''))
    reports = Reports()
    actuator.actuate(command(1), reports)          # before start: reported at once
    actuator.start()
    assert wait_until(lambda: actuator.status().ok), actuator.status()
    for part_id in range(2, 12):
        actuator.actuate(command(part_id, in_s=0.0, budget_s=5.0), reports)
    actuator.stop()
    actuator.actuate(command(99), reports)         # after stop: reported at once
    got = reports.wait_for(12, timeout_s=3.0)
    time.sleep(0.1)
    assert sorted(r.part_id for r in reports.items) == [1] + list(range(2, 12)) + [99]
    assert not got[0].delivered and 'not running' in got[0].detail


@pytest.mark.parametrize('override, message', [
    ({'endpoint': 'http://127.0.0.1:4840'}, "must look like 'opc.tcp://"),
    ({'endpoint': 'opc.tcp://127.0.0.1'}, "must look like 'opc.tcp://"),
    ({'endpoint': 'opc.tcp://127.0.0.1:70000'}, 'Port out of range'),
    ({'part_id_node': 'x=Vision.PartId'}, 'is not an OPC UA node id'),
    ({'verdict_node': 's='}, 'is not an OPC UA node id'),
    ({'namespace': '', 'reason_node': 's=Vision.Reason'}, "has no 'ns='"),
    ({'heartbeat_node': 's=Vision.PartId'}, 'must differ'),
])
def test_bad_config_gives_a_clear_error(override, message):
    with pytest.raises(ValueError, match=message):
        OpcUaConfig(**override)


def test_reject_config_accepts_opcua_and_rejects_a_malformed_endpoint():
    config = RejectActuatorConfig.from_values({
        'actuator': 'opcua', 'opcua_endpoint': 'opc.tcp://10.0.0.5:4840/ua',
        'opcua_namespace': '', 'opcua_part_id_node': 'ns=3;s="DB".PartId',
        'opcua_verdict_node': 'ns=3;i=1002', 'opcua_reason_node': 'ns=3;i=1003',
        'opcua_heartbeat_node': '', 'opcua_valid_until_node': 'ns=3;i=1004'})
    actuator = make_actuator(config)
    assert isinstance(actuator, OpcUaActuator) and actuator.sends_accepts
    assert actuator.config.endpoint == 'opc.tcp://10.0.0.5:4840/ua'
    with pytest.raises(ValueError, match='opcua_endpoint'):
        RejectActuatorConfig.from_values({'actuator': 'opcua',
                                          'opcua_endpoint': 'opc.tcp//127.0.0.1:4840'})


def test_actuator_node_over_dds_writes_every_decision_to_the_opcua_server(
        simulator, own_domain_env):
    simulator.clear()
    node = NodeProcess.node(
        'reject_actuator_node', '--params-file', str(REPO_DIR / 'config' / 'inspect.yaml'),
        '-p', 'actuator:=opcua', '-p', f'opcua_endpoint:={simulator.endpoint}',
        '-p', 'reject_delay_s:=0.6', '-p', 'inspection_window_s:=0.3',
        '-p', 'max_fire_lateness_s:=0.1', '-p', 'plc_heartbeat_period_s:=0.2')
    try:
        client = NodeProcess.script('opcua_reject_client')
        client_out = client.finish(timeout_s=40)
    finally:
        node.interrupt(timeout_s=10, sig=signal.SIGTERM)
        node_out = node.output
    assert client.returncode == 0, client_out + '\n--- node ---\n' + node_out
    events = [json.loads(line[6:]) for line in client_out.splitlines()
              if line.startswith('EVENT ')]
    # REJECT_CLASS = 1, NO_RESULT = 6; delivery FIRED = 1 for the rejects.
    assert sorted((e['part_id'], e['decision'], e['reason']) for e in events) == \
        [(1, 0, 0), (2, 1, 1), (3, 1, 6)], client_out
    assert all(e['actuator'] == 'opcua' for e in events)
    assert [e['delivery'] for e in events if e['decision'] == 1] == [1, 1], client_out
    # SIGTERM: the node exits 0 after telling the server "vision not ready" (0, 0, 0).
    assert node.returncode == 0 and 'Traceback' not in node_out, node_out
    decisions = simulator.decisions()
    assert (decisions[-1].part_id, decisions[-1].verdict, decisions[-1].reason) == (0, 0, 0)
    assert sorted((d.part_id, d.verdict, d.reason) for d in decisions[:-1]) == \
        [(1, 1, 0), (2, 2, 1), (3, 2, 6)], node_out
    assert len(simulator.heartbeat_toggles()) >= 2
    assert 'OPC UA' in node_out and 'connected' in node_out, node_out


def test_simulator_command_line_prints_every_write():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, '-m', 'acnn_ros.core.plc.opcua.simulator', '--port', str(port)],
        cwd=str(REPO_DIR), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert 'listening on opc.tcp://127.0.0.1' in process.stdout.readline()
        actuator = OpcUaActuator(opcua_config(f'opc.tcp://127.0.0.1:{port}/acnn_ros/',
                                              heartbeat_node=''))
        actuator.start()
        reports = Reports()
        actuator.actuate(command(42, reason=1), reports)
        assert reports.wait_for(1)[0].delivered
        line = process.stdout.readline().strip()
        actuator.stop()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert 'ok Vision.PartId=42, Vision.Verdict=2, Vision.Reason=1, Vision.ValidUntil=' in line


def test_a_condemned_session_is_made_again_even_when_another_request_answered_after_it(
        simulator):
    # As for Modbus (test_plc_client.py): a write unanswered for timeout_s condemns the
    # session; an answer to another request just after it must not leave it condemned and
    # never made again.
    import asyncio
    simulator.clear()
    actuator = OpcUaActuator(opcua_config(simulator.endpoint, heartbeat_node=''))
    actuator.start()
    try:
        first = Reports()
        actuator.actuate(command(30, budget_s=4.0), first)
        assert first.wait_for(1)[0].delivered

        def race():
            actuator._unanswered(asyncio.TimeoutError(), actuator.config.timeout_s)
            actuator._answered()
        actuator._loop.call_soon_threadsafe(race)
        time.sleep(0.3)
        reports = Reports()
        for part_id in (31, 32):
            actuator.actuate(command(part_id, budget_s=4.0), reports)
        got = reports.wait_for(2, timeout_s=6.0)
    finally:
        actuator.stop()
    assert all(r.delivered for r in got), [(r.part_id, r.detail) for r in got]
    assert [d.part_id for d in simulator.decisions()] == [30, 31, 32]
    assert actuator.stats['connects'] >= 2
