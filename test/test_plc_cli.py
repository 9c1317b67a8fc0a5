# SPDX-License-Identifier: Apache-2.0
"""`acnn plc` against the real pymodbus and asyncua simulators on 127.0.0.1 (recording writes)."""
import subprocess
import sys

from acnn_ros.cli import main
from acnn_ros.core.plc.loop_server import free_port
from acnn_ros.core.plc.modbus.client import decision_registers, ModbusActuator
from acnn_ros.core.plc.modbus.config import ModbusConfig
from acnn_ros.core.plc.modbus.simulator import PlcSimulator, SilentTcpServer
from acnn_ros.core.plc.opcua.simulator import OpcUaSimulator
from actuator_reports import wait_until
from conftest import REPO_DIR
from pymodbus.client import ModbusTcpClient
import pytest
import yaml

DECISION, COIL, HEARTBEAT = 100, 7, 120


def params_file(tmp_path, **values):
    """Write a params file whose reject_actuator_node section holds `values`."""
    base = {'actuator': 'modbus', 'plc_host': '127.0.0.1', 'plc_decision_register': DECISION,
            'plc_reject_coil': COIL, 'plc_heartbeat_register': HEARTBEAT,
            'pulse_width_s': 0.05, 'plc_heartbeat_period_s': 0.2}
    base.update(values)
    path = tmp_path / 'line.yaml'
    path.write_text(yaml.safe_dump({'/**/reject_actuator_node': {'ros__parameters': base}}))
    return str(path)


def acnn_plc(capsys, *argv):
    """Run `acnn plc ARGV` in this process; return (status, stdout, stderr)."""
    status = main(['plc', *argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def modbus():
    sim = PlcSimulator(register_map=ModbusConfig(
        decision_register=DECISION, reject_coil=COIL, heartbeat_register=HEARTBEAT)).start()
    yield sim
    sim.stop()


@pytest.fixture(scope='module')
def opcua():
    sim = OpcUaSimulator().start()
    yield sim
    sim.stop()


def table_rows(out):
    """Return the register map rows of `show` as (kind, address) pairs."""
    rows = []
    for line in out.splitlines():
        cells = line.split()
        if line.startswith('  holding register'):
            rows.append(('holding register', cells[2]))
        elif line.startswith('  coil') or line.startswith('  variable'):
            rows.append((cells[0], cells[1]))
    return rows


def test_show_prints_the_map_of_the_params_file_without_connecting(tmp_path, capsys):
    port = free_port()   # nothing listens there: show never connects
    status, out, err = acnn_plc(capsys, 'show', '--params-file',
                                params_file(tmp_path, plc_port=port, plc_unit=3))
    assert status == 0, err
    assert f'Modbus TCP 127.0.0.1:{port} unit 3' in out
    assert table_rows(out) == [('holding register', '100'), ('holding register', '101'),
                               ('holding register', '102'), ('holding register', '103'),
                               ('holding register', '104'), ('holding register', '105'),
                               ('holding register', '12..13'),
                               ('coil', '7'), ('holding register', '120')]
    assert 'OFF 0.05 s later' in out
    assert 'vision not ready' in out and 'part id 0, verdict 0, reason 0' in out


def test_show_of_the_shipped_file_is_what_the_node_uses(capsys):
    status, out, err = acnn_plc(capsys, 'show', '-p', 'plc_host=10.1.2.3')
    assert status == 0, err
    assert str(REPO_DIR / 'config' / 'inspect.yaml') in out
    assert 'Modbus TCP 10.1.2.3:502 unit 1' in out
    assert table_rows(out) == [('holding register', '0'), ('holding register', '1'),
                               ('holding register', '2'), ('holding register', '3'),
                               ('holding register', '4'), ('holding register', '5'),
                               ('holding register', '12..13'),
                               ('coil', '0'), ('holding register', '10')]


def test_show_lists_the_opcua_node_ids(tmp_path, capsys):
    path = params_file(tmp_path, actuator='opcua', opcua_endpoint='opc.tcp://10.0.0.9:4840',
                       opcua_heartbeat_node='')
    status, out, err = acnn_plc(capsys, 'show', '--params-file', path)
    assert status == 0, err
    assert 'OPC UA opc.tcp://10.0.0.9:4840   namespace: urn:acnn_ros:vision' in out
    assert table_rows(out) == [('variable', 's=Vision.PartId'), ('variable', 's=Vision.Verdict'),
                               ('variable', 's=Vision.Reason'),
                               ('variable', 's=Vision.ValidUntil')]


def test_a_test_decision_lands_at_the_configured_registers(modbus, tmp_path, capsys):
    path = params_file(tmp_path, plc_port=modbus.port)
    status, out, err = acnn_plc(capsys, 'test-decision', '--params-file', path,
                                '--part-id', str(0x12345), '--verdict', 'reject',
                                '--reason', 'no_result', '--yes')
    assert status == 0, err
    assert 'before: part id 0, verdict 0 (none), reason 0 (none)  [power-up / vision not ready]' \
        in out
    assert f'read:   part id {0x12345}, verdict 2 (reject), reason 6 (no_result)\n' in out
    assert 'read-back matches' in out
    # One function-16 write of the actuator's own encoding, and nothing else.
    # The block carries a valid-until stamp in the PLC's clock, as the actuator's blocks do.
    [write] = modbus.writes()
    assert (write.function_code, write.address, write.values[:4]) == (
        16, DECISION, tuple(decision_registers(0x12345, 2, 6)))
    assert [(d.part_id, d.verdict, d.reason, d.valid) for d in modbus.decisions()] == [
        (0x12345, 2, 6, True)]
    assert modbus.written_addresses() == ({100, 101, 102, 103, 104, 105}, set())


def test_an_accept_carries_reason_none(modbus, tmp_path, capsys):
    path = params_file(tmp_path, plc_port=modbus.port)
    status, out, err = acnn_plc(capsys, 'test-decision', '--params-file', path,
                                '--part-id', '9', '--verdict', 'accept', '--yes')
    assert status == 0, err
    assert [(d.part_id, d.verdict, d.reason) for d in modbus.decisions()] == [(9, 1, 0)]
    status, out, err = acnn_plc(capsys, 'test-decision', '--params-file', path,
                                '--part-id', '9', '--verdict', 'accept', '--reason', '2',
                                '--yes')
    assert status == 2 and 'reason none' in err
    assert len(modbus.writes()) == 1


def test_pulse_toggles_the_configured_coil_once(modbus, tmp_path, capsys):
    path = params_file(tmp_path, plc_port=modbus.port)
    status, out, err = acnn_plc(capsys, 'pulse', '--params-file', path, '--yes')
    assert status == 0, err
    assert 'set ON, read back ON' in out and 'read back OFF' in out
    assert [(w.function_code, w.address, w.values) for w in modbus.writes()] == [
        (5, COIL, (1,)), (5, COIL, (0,))]
    pulses = modbus.coil_pulses()
    assert len(pulses) == 1
    assert 0.05 <= pulses[0][1] - pulses[0][0] < 1.0, pulses   # pulse_width_s of the file


def test_pulse_leaves_a_coil_that_is_on_alone(modbus, tmp_path, capsys):
    writer = ModbusTcpClient('127.0.0.1', port=modbus.port)
    assert writer.connect()
    writer.write_coil(COIL, True, device_id=1)
    writer.close()
    status, out, err = acnn_plc(capsys, 'pulse', '--params-file',
                                params_file(tmp_path, plc_port=modbus.port), '--yes')
    assert status == 1 and 'ON already' in out
    assert len(modbus.writes()) == 1   # only the test's own write


@pytest.mark.parametrize('argv', [
    ['pulse'],
    ['test-decision', '--part-id', '1', '--verdict', 'reject'],
])
def test_writes_are_refused_without_yes(modbus, tmp_path, capsys, argv):
    status, out, err = acnn_plc(capsys, *argv, '--params-file',
                                params_file(tmp_path, plc_port=modbus.port))
    assert status == 2
    assert '--yes' in err and 'nothing was written' in err
    assert modbus.writes() == []


def test_addresses_cannot_be_overridden_on_the_command_line(modbus, tmp_path, capsys):
    path = params_file(tmp_path, plc_port=modbus.port)
    for override in ('plc_decision_register=200', 'plc_reject_coil=3',
                     'plc_heartbeat_register:=5', 'opcua_part_id_node=s=Other'):
        status, out, err = acnn_plc(capsys, 'pulse', '--params-file', path, '-p', override,
                                    '--yes')
        assert status == 2 and 'addresses come from the params file only' in err, err
    assert modbus.writes() == []


def test_a_refused_address_is_a_clear_error(modbus, tmp_path, capsys):
    # The simulator maps 256 registers: the PLC answers 'illegal data address'.
    path = params_file(tmp_path, plc_port=modbus.port, plc_decision_register=300)
    status, out, err = acnn_plc(capsys, 'test-decision', '--params-file', path,
                                '--part-id', '1', '--verdict', 'reject', '--yes')
    assert status == 2
    assert 'refused the request (illegal data address)' in err, err
    assert modbus.writes() == []


def test_unreachable_plc_exits_2_with_a_clear_message(tmp_path, capsys):
    path = params_file(tmp_path, plc_port=free_port())
    status, out, err = acnn_plc(capsys, 'heartbeat', '--params-file', path)
    assert status == 2
    assert 'cannot reach the PLC at 127.0.0.1:' in err and 'Connection refused' in err
    status, out, err = acnn_plc(capsys, 'heartbeat', '--params-file', path,
                                '-p', 'plc_host=no-such-plc.invalid')
    assert status == 2 and "host 'no-such-plc.invalid' not found" in err, err


def test_a_hung_plc_exits_2_after_the_timeout(tmp_path, capsys):
    silent = SilentTcpServer()
    try:
        status, out, err = acnn_plc(capsys, 'heartbeat', '--params-file',
                                    params_file(tmp_path, plc_port=silent.port),
                                    '--timeout', '0.2')
    finally:
        silent.close()
    assert status == 2
    assert 'no answer from the PLC' in err and 'within 0.2 s' in err


def test_bad_configuration_exits_2_without_a_traceback(tmp_path):
    broken = tmp_path / 'broken.yaml'
    broken.write_text('reject_actuator_node: [not, a, mapping\n')
    cases = [(['heartbeat', '--params-file', str(broken)], 'not valid YAML'),
             (['show', '-p', 'plc_port=70000'], 'plc_port must be in [1, 65535]'),
             (['heartbeat', '-p', 'actuator=topic'], "actuator 'topic' has no PLC"),
             (['heartbeat', '--interval', '0'], '--interval must be a positive number'),
             (['heartbeat', '-p', f'plc_port={free_port()}'], 'Connection refused')]
    for argv, message in cases:
        done = subprocess.run([sys.executable, '-m', 'acnn_ros.cli', 'plc', *argv],
                              capture_output=True, text=True, cwd=REPO_DIR, timeout=60)
        assert done.returncode == 2, (argv, done.stderr)
        assert message in done.stderr, (argv, done.stderr)
        assert 'Traceback' not in done.stderr, done.stderr
        assert done.stderr.startswith('error: '), done.stderr   # our message, nothing else


class LineClock:
    """Injected clock: each sleep advances it and lets a stand-in vision system write."""

    def __init__(self, port, toggle_every=0, values=(0, 1)):
        self.now = 0.0
        self.sleeps = 0
        self.toggle_every = toggle_every
        self.values = values
        self.writer = ModbusTcpClient('127.0.0.1', port=port)
        assert self.writer.connect()

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.sleeps += 1
        if self.toggle_every and self.sleeps % self.toggle_every == 0:
            value = self.values[(self.sleeps // self.toggle_every) % len(self.values)]
            self.writer.write_register(HEARTBEAT, value, device_id=1)


@pytest.mark.parametrize('toggle_every, values, status, message', [
    (4, (0, 1), 0, 'a heartbeat is being written'),           # every period (0.2 s)
    (0, (0, 1), 1, 'nobody writes the heartbeat'),
    (1, (0, 1), 1, 'more than one writer'),                   # 4x the configured rate
    (4, (0, 7), 1, 'value 7 is not 0/1'),
])
def test_heartbeat_verdict_on_an_injected_clock(modbus, tmp_path, capsys, toggle_every, values,
                                                status, message):
    from acnn_ros.cli import build_parser
    from acnn_ros.core.plc.protocols import open_link
    from acnn_ros.offline import plc_cli
    args = build_parser().parse_args(['plc', 'heartbeat', '--params-file',
                                      params_file(tmp_path, plc_port=modbus.port)])
    config = plc_cli.load_config(args)
    line = LineClock(modbus.port, toggle_every, values)
    try:
        with open_link(config) as link:
            got = plc_cli.heartbeat(link, config, args, clock=line.clock, sleep=line.sleep)
    finally:
        line.writer.close()
    out = capsys.readouterr().out
    assert got == status and message in out, out
    assert line.sleeps == 14   # 3.5 periods of 0.2 s read every 0.05 s
    assert all(w.function_code == 6 and w.address == HEARTBEAT for w in modbus.writes())


def test_heartbeat_sees_the_reject_actuators_heartbeat(modbus, tmp_path, capsys):
    actuator = ModbusActuator(ModbusConfig(port=modbus.port, decision_register=DECISION,
                                           reject_coil=COIL, heartbeat_register=HEARTBEAT,
                                           heartbeat_period_s=0.1))
    actuator.start()
    try:
        assert wait_until(lambda: actuator.status().ok), actuator.status()
        status, out, err = acnn_plc(capsys, 'heartbeat', '--duration', '1.0', '--params-file',
                                    params_file(tmp_path, plc_port=modbus.port,
                                                plc_heartbeat_period_s=0.1))
    finally:
        actuator.stop()
    assert status == 0 and 'heartbeat OK' in out, out + err
    assert {(w.function_code, w.address) for w in modbus.writes()} == {(6, HEARTBEAT)}


def opcua_file(tmp_path, sim, **values):
    return params_file(tmp_path, actuator='opcua', opcua_endpoint=sim.endpoint, **values)


def test_opcua_test_decision_is_one_write_of_the_configured_variables(opcua, tmp_path, capsys):
    opcua.clear()
    status, out, err = acnn_plc(capsys, 'test-decision', '--params-file',
                                opcua_file(tmp_path, opcua), '--part-id', '70001',
                                '--verdict', 'reject', '--reason', 'low_confidence', '--yes')
    assert status == 0, err
    assert 'read:   part id 70001, verdict 2 (reject), reason 2 (low_confidence)' in out
    # The same request as the actuator's: the decision and its ValidUntil (10 s ahead).
    [write] = opcua.writes()
    assert write.good and write.values[:3] == (
        ('Vision.PartId', 70001), ('Vision.Verdict', 2), ('Vision.Reason', 2))
    assert [name for name, _ in write.values[3:]] == ['Vision.ValidUntil']
    assert [d.valid for d in opcua.decisions()] == [True]


def test_opcua_heartbeat_and_pulse(opcua, tmp_path, capsys):
    opcua.clear()
    path = opcua_file(tmp_path, opcua)
    status, out, err = acnn_plc(capsys, 'heartbeat', '--params-file', path,
                                '--duration', '0.2', '--interval', '0.1')
    assert status == 1 and 'nobody writes the heartbeat' in out, out + err
    assert '0.00 s  False' in out
    status, out, err = acnn_plc(capsys, 'pulse', '--params-file', path, '--yes')
    assert status == 2 and 'fires the ejector from the decision' in err
    assert opcua.writes() == []


def test_opcua_unreachable_or_wrong_namespace_exits_2(opcua, tmp_path, capsys):
    status, out, err = acnn_plc(capsys, 'heartbeat', '--params-file', opcua_file(
        tmp_path, opcua), '-p', f'opcua_endpoint=opc.tcp://127.0.0.1:{free_port()}/')
    assert status == 2 and 'cannot connect to the OPC UA server' in err, err
    status, out, err = acnn_plc(capsys, 'heartbeat', '--params-file',
                                opcua_file(tmp_path, opcua, opcua_namespace='urn:other'))
    assert status == 2 and "namespace 'urn:other' (opcua_namespace) is not on the server" in err
