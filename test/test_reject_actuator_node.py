# SPDX-License-Identifier: Apache-2.0
"""
reject_actuator_node in its own process over real DDS, driving a real pymodbus PLC simulator.

A client process (test/clients/reject_client.py) publishes PartTrigger + InspectionResult
(+ Image for the archive) for a handful of parts and reads back RejectEvent and ~/counters; the
test checks what the simulated PLC received, the archive on disk, the audit log of a run-time
threshold change and the counter reset service.
"""
import json
import signal

from acnn_ros.core.plc.modbus.simulator import PlcSimulator
from ros_processes import NodeProcess, REPO_DIR


def test_actuator_node_over_dds_writes_each_reject_to_the_plc(tmp_path, own_domain_env):
    # A domain of this test's own: other runs on this machine use the default ones.
    sim = PlcSimulator().start()
    archive = tmp_path / 'archive'
    node = NodeProcess.node(
        'reject_actuator_node', '--params-file', str(REPO_DIR / 'config' / 'inspect.yaml'),
        '-p', 'actuator:=modbus', '-p', f'plc_port:={sim.port}', '-p', 'reject_delay_s:=0.6',
        '-p', 'inspection_window_s:=0.3', '-p', 'pulse_width_s:=0.01',
        '-p', 'counters_period_s:=0.2', '-p', 'max_fire_lateness_s:=0.1',
        '-p', 'plc_heartbeat_period_s:=0.2', '-p', f'archive_dir:={archive}')
    try:
        client = NodeProcess.script('reject_client')
        client_out = client.finish(timeout_s=60)
    finally:
        node.interrupt(timeout_s=10, sig=signal.SIGTERM)
        node_out = node.output
        sim.stop()
    assert client.returncode == 0, client_out + '\n--- node ---\n' + node_out
    lines = client_out.splitlines()
    assert 'SET True' in lines and 'RESET True' in lines, client_out
    assert 'DIAG 0 modbus 5' in lines, client_out
    events = {e['part_id']: e for e in (json.loads(line[6:]) for line in lines
                                        if line.startswith('EVENT '))}
    # part: (decision, reason, fail_safe); REJECT_CLASS=1 LOW_CONFIDENCE=2 ERROR=4 NO_RESULT=6
    expected = {1: (0, 0, False), 2: (1, 1, False), 3: (1, 1, False), 4: (1, 6, True),
                5: (1, 4, True), 6: (0, 0, False), 7: (1, 2, False)}
    assert {k: (e['decision'], e['reason'], e['fail_safe']) for k, e in events.items()} == \
        expected, client_out
    for part_id, event in events.items():
        assert abs(event['due_minus_capture'] - 0.6) < 1e-6
        if event['decision'] == 1:
            assert event['delivery'] == 1 and event['actuator'] == 'modbus'
            assert 0.0 <= event['fire_minus_due'] < 0.1, event
    counters = json.loads(next(line[9:] for line in lines if line.startswith('COUNTERS')))
    assert counters == {'inspected': 7, 'accepted': 2, 'rejected': 5,
                        'rejected_reject_class': 2, 'rejected_low_confidence': 1,
                        'rejected_error_result': 1, 'rejected_no_result': 1, 'fired': 5,
                        'missed': 0, 'late': 0}
    # The PLC got every part once, with its verdict; one reject pulse per defective part.
    # SIGTERM ends the node cleanly, and its last decision-block write says "vision not ready"
    # (part id 0, verdict 0).
    assert node.returncode == 0 and 'Traceback' not in node_out, node_out
    decisions = sim.decisions()
    assert (decisions[-1].part_id, decisions[-1].verdict) == (0, 0), decisions
    assert sorted((d.part_id, d.verdict) for d in decisions[:-1]) == [
        (1, 1), (2, 2), (3, 2), (4, 2), (5, 2), (6, 1), (7, 2)]
    assert len(sim.coil_pulses()) == 5
    assert len(sim.heartbeat_toggles()) >= 3
    assert 'AUDIT: parameter min_confidence changed from 0.6 to 0.85' in node_out, node_out
    assert 'AUDIT: counters reset' in node_out
    # Every reject archived with its frame and record.
    records = [json.loads(p.read_text()) for p in sorted(archive.glob('*.json'))]
    assert sorted(r['part_id'] for r in records) == [2, 3, 4, 5, 7]
    assert all(r['image'] for r in records), records
    assert len(list(archive.glob('*.png'))) == 5


def test_hung_plc_does_not_block_the_node(tmp_path, own_domain_env):
    from acnn_ros.core.plc.modbus.simulator import SilentTcpServer
    silent = SilentTcpServer()
    node = NodeProcess.node(
        'reject_actuator_node', '--params-file', str(REPO_DIR / 'config' / 'inspect.yaml'),
        '-p', f'plc_port:={silent.port}', '-p', 'counters_period_s:=0.2',
        '-p', 'reject_delay_s:=0.5', '-p', 'inspection_window_s:=0.2')
    try:
        client = NodeProcess.script('hung_plc_client')
        client_out = client.finish(timeout_s=60)
    finally:
        node.interrupt(timeout_s=10, sig=signal.SIGTERM)
        node_out = node.output
        silent.close()
    assert client.returncode == 0, client_out + '\n--- node ---\n' + node_out
    lines = client_out.splitlines()
    service = next(line.split() for line in lines if line.startswith('SERVICE_S'))
    assert float(service[1]) < 1.0 and service[2] == 'True', client_out
    # Five fail-safe (NO_RESULT = 6) rejects, each MISSED (2): the PLC never answered.
    assert 'EVENTS [(1, 6, 2), (2, 6, 2), (3, 6, 2), (4, 6, 2), (5, 6, 2)]' in lines, \
        client_out + node_out
    assert 'LEVELS 2' in lines, client_out
    assert 'MISSED REJECT' in node_out
