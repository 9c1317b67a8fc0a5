# SPDX-License-Identifier: Apache-2.0
"""
`timing: plc_tracking` end to end, over real DDS, against the Modbus and OPC UA simulators.

The real reject_actuator_node process drives the real simulators on 127.0.0.1.

A client process (test/clients/plc_tracking_client.py) publishes PartTrigger + InspectionResult
like camera_node and inference_node: parts on time (accepts and rejects), one whose result
comes 0.6 s after capture (the window rejects it fail-safe first), and one whose trigger and
result both arrive 0.7 s after capture (the vision process stalled: its part passed the
ejector). The test checks that every verdict on time was written to the PLC exactly once, with
its verdict, before its due time (capture + reject_delay_s) and without a coil pulse; that the
stalled part is LATE once (RejectEvent, `late` counter, `late_results` in the diagnostics) and
never written, so the PLC falls back to its own "no verdict = reject"; and the firing-path
isolation of the node process: real-time threads where allowed, one clear warning and a working
line where the OS refuses.
"""
import json
import os
from pathlib import Path
import shutil
import threading

from acnn_ros.core.plc.modbus.simulator import PlcSimulator
from acnn_ros.core.plc.opcua.simulator import OpcUaSimulator
from acnn_ros.core.reject.realtime import HOW_TO_ALLOW, isolate_threads, IsolationSettings
import pytest
from ros_processes import NodeProcess, REPO_DIR

DELAY_S = 0.5
WINDOW_S = 0.25


def may_use_realtime() -> bool:
    """Return whether processes started by this one may use SCHED_FIFO (probed on a thread)."""
    done = threading.Event()
    thread = threading.Thread(target=done.wait, daemon=True)
    thread.start()
    try:
        return isolate_threads(IsolationSettings('fifo', 1, (), False), [thread.native_id]).ok
    finally:
        done.set()
        thread.join(2.0)


def fifo_threads(pid: int):
    """Return the priorities of the SCHED_FIFO threads of process `pid`."""
    found = []
    for task in Path(f'/proc/{pid}/task').iterdir():
        try:
            if os.sched_getscheduler(int(task.name)) == os.SCHED_FIFO:
                found.append(os.sched_getparam(int(task.name)).sched_priority)
        except OSError:   # the thread ended meanwhile
            pass
    return found


def run_line(backend: str, sim, prefix=(), extra=()):
    """
    Run the node (under `prefix`, e.g. setpriv) and the client; return their outputs.

    The caller's test takes own_domain_env: both processes share a domain of its own.
    """
    plc = (['-p', 'actuator:=modbus', '-p', f'plc_port:={sim.port}'] if backend == 'modbus'
           else ['-p', 'actuator:=opcua', '-p', f'opcua_endpoint:={sim.endpoint}'])
    node = NodeProcess.node(
        'reject_actuator_node', '--params-file', str(REPO_DIR / 'config' / 'inspect.yaml'),
        '-p', 'timing:=plc_tracking', '-p', f'reject_delay_s:={DELAY_S}',
        '-p', f'inspection_window_s:={WINDOW_S}', '-p', 'counters_period_s:=0.2',
        '-p', 'plc_heartbeat_period_s:=0.2', *plc, *extra, prefix=prefix)
    threads = None
    try:
        client = NodeProcess.script('plc_tracking_client')
        client_out = client.finish(timeout_s=90)
        if node.running():
            threads = fifo_threads(node.pid)
    finally:
        node.interrupt(timeout_s=20)
        node_out = node.output
    assert client.returncode == 0, client_out + '\n--- node ---\n' + node_out
    assert node.returncode == 0 and 'Traceback' not in node_out, node_out
    return client_out, node_out, threads


def check_plc_tracking(client_out: str, decisions, node_out: str) -> None:
    """Check events, counters and what the PLC received (decisions: part_id/verdict/time)."""
    lines = client_out.splitlines()
    events = {}
    for line in lines:
        if line.startswith('EVENT '):
            event = json.loads(line[6:])
            assert event['part_id'] not in events, f'two events for one part: {line}'
            events[event['part_id']] = event
    assert sorted(events) == list(range(1, 15)), client_out
    # delivery: 0 not required (accept), 1 fired (written), 3 late; reason 1 reject class,
    # 6 no result.
    for part_id in range(1, 13):
        reject = part_id % 3 == 0
        assert (events[part_id]['decision'], events[part_id]['delivery']) == \
            ((1, 1) if reject else (0, 0)), events[part_id]
    assert (events[13]['decision'], events[13]['reason'], events[13]['delivery']) == (1, 6, 1)
    assert (events[14]['decision'], events[14]['reason'], events[14]['delivery']) == (1, 6, 3)
    for event in events.values():
        assert abs(event['due'] - event['capture'] - DELAY_S) < 1e-6
    # The PLC: every part on time written exactly once with its verdict, before its due
    # time; the stalled part 14 never (the PLC rejects it by its own default); last, the
    # not-ready write of the shutdown.
    written = [d for d in decisions if d.part_id != 0]
    assert sorted(d.part_id for d in written) == list(range(1, 14)), decisions
    for d in written:
        event = events[d.part_id]
        assert d.verdict == (2 if event['decision'] == 1 else 1), (d, event)
        assert d.time < event['due'], f'part {d.part_id} written {d.time - event["due"]:.4f} s ' \
                                      'after its due time'
    assert (decisions[-1].part_id, decisions[-1].verdict) == (0, 0)
    diag = json.loads(next(line[5:] for line in lines if line.startswith('DIAG ')))
    assert {k: diag[k] for k in ('inspected', 'rejected', 'fired', 'missed', 'late',
                                 'late_results', 'rejected_no_result')} == {
        'inspected': '14', 'rejected': '6', 'fired': '5', 'missed': '0', 'late': '1',
        'late_results': '2', 'rejected_no_result': '2'}, diag
    # Part 13's late result and part 14's late decision are one fault episode, said once and
    # summed up when the line stops (issue 19: every fault once, with its count).
    assert node_out.count('LATE: decided after the part passed the ejector: LATE RESULT') == 1, \
        node_out
    assert 'LATE DECISION' not in node_out, node_out
    [summed] = [line for line in node_out.splitlines() if 'LATE: decided after' in line
                and 'ended after' in line]
    assert 'late results' in summed and '1 late decisions' in summed, node_out
    assert 'open until vision shutting down' in summed, node_out
    assert 'plc_tracking' in node_out


@pytest.fixture
def modbus_plc():
    sim = PlcSimulator().start()
    yield sim
    sim.stop()


def test_plc_tracking_over_modbus_writes_each_verdict_once_before_its_part_arrives(
        modbus_plc, own_domain_env):
    # realtime_executor: the actuator has this process of its own.
    client_out, node_out, threads = run_line('modbus', modbus_plc,
                                             extra=('-p', 'realtime_executor:=true'))
    check_plc_tracking(client_out, modbus_plc.decisions(), node_out)
    assert modbus_plc.coil_pulses() == []                 # the PLC times the ejector itself
    assert len(modbus_plc.heartbeat_toggles()) >= 3
    # Firing path isolated (inspect.yaml: realtime_policy fifo, priority 40): exactly the
    # timer thread and the PLC I/O thread run SCHED_FIFO 40, the executor (main) thread 39,
    # nothing else of the process (DDS threads, ...).
    if may_use_realtime():
        assert 'firing path isolated: realtime_policy fifo priority 40 on 2 timing threads; ' \
            'realtime_policy fifo priority 39 on 1 executor thread' in node_out, node_out
        assert sorted(threads) == [39, 40, 40], threads
    else:   # a machine that refuses real-time scheduling: the one warning says so
        assert node_out.count('firing path NOT isolated') == 1 and threads == [], node_out


@pytest.mark.skipif(shutil.which('setpriv') is None, reason='needs setpriv (util-linux)')
def test_plc_tracking_over_opcua_without_real_time_rights_warns_once_and_runs(own_domain_env):
    # The node process without CAP_SYS_NICE: what a line PC's normal user gets.
    sim = OpcUaSimulator().start()
    try:
        client_out, node_out, threads = run_line(
            'opcua', sim, prefix=('setpriv', '--inh-caps=-sys_nice', '--bounding-set=-sys_nice'))
        decisions = sim.decisions()
    finally:
        sim.stop()
    check_plc_tracking(client_out, decisions, node_out)
    if 'firing path isolated' in node_out:
        pytest.skip('an rtprio limit allows real-time scheduling without CAP_SYS_NICE here')
    assert node_out.count('firing path NOT isolated') == 1, node_out
    assert 'EPERM' in node_out and HOW_TO_ALLOW in node_out
    assert threads == [], threads
