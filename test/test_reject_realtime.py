# SPDX-License-Identifier: Apache-2.0
"""
Isolation of the firing path (core/reject/realtime.py) with the real system calls.

The settings are applied to real threads and read back with os.sched_getscheduler /
os.sched_getaffinity on those threads; refusals are real refusals of this kernel (a CPU the
process may not use, a priority out of range, a child process without CAP_SYS_NICE).
"""
import logging
import os
import shutil
import subprocess
import sys
import threading
import time

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.plc.local import TopicActuator
from acnn_ros.core.plc.modbus.client import ModbusActuator
from acnn_ros.core.plc.modbus.config import ModbusConfig
from acnn_ros.core.plc.modbus.simulator import PlcSimulator
from acnn_ros.core.reject.config import RejectActuatorConfig
from acnn_ros.core.reject.decision import RejectPolicy
from acnn_ros.core.reject.realtime import (HOW_TO_ALLOW, isolate_threads, IsolationSettings,
                                           thread_scheduling)
from acnn_ros.core.reject.scheduler import SchedulerSettings
from acnn_ros.core.reject.scheduler_thread import SchedulerThread
from acnn_ros.core.results import InspectionOutcome, InspectionStatus
from actuator_reports import wait_until
import pytest
from ros_processes import CLIENTS_DIR, REPO_DIR

IMPOSSIBLE_CPU = 4095   # beyond any machine these tests run on


class IdleThread:
    """A real thread that only waits, as the timer thread does between parts."""

    def __init__(self):
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.stop.wait, daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        self.thread.join(2.0)


def realtime_allowed() -> bool:
    """Return whether this process may use SCHED_FIFO (root, CAP_SYS_NICE or an rtprio limit)."""
    idle = IdleThread()
    try:
        return isolate_threads(IsolationSettings('fifo', 1, (), False), [idle.thread.native_id]).ok
    finally:
        idle.close()


needs_realtime = pytest.mark.skipif(not realtime_allowed(),
                                    reason='this process may not use SCHED_FIFO')


def test_config_validates_policy_and_cpus_and_defaults_to_fifo():
    config = RejectActuatorConfig()
    settings = IsolationSettings.from_config(config)
    assert (settings.policy, settings.priority, settings.cpu_affinity, settings.executor) == \
        ('fifo', 40, (), False)
    assert settings.requested
    assert not IsolationSettings('none', 40, (), False).requested
    assert IsolationSettings('none', 40, (1,), False).requested
    # ROS has no empty integer array default: [-1] is "unchanged", as in config/inspect.yaml.
    assert RejectActuatorConfig.from_values({'cpu_affinity': [-1]}).cpu_affinity == ()
    assert RejectActuatorConfig.from_values({'cpu_affinity': [1, 3]}).cpu_affinity == (1, 3)
    with pytest.raises(ValueError, match='realtime_policy must be one of'):
        RejectActuatorConfig(realtime_policy='deadline')
    with pytest.raises(ValueError, match='cpu_affinity: CPU numbers are >= 0'):
        RejectActuatorConfig.from_values({'cpu_affinity': [-2]})
    with pytest.raises(ValueError, match='realtime_priority must be in'):
        RejectActuatorConfig(realtime_priority=0)


@needs_realtime
@pytest.mark.parametrize('policy', ['fifo', 'rr'])
def test_policy_priority_and_affinity_are_set_on_the_given_thread_only(policy):
    cpu = max(os.sched_getaffinity(0))
    idle = IdleThread()
    tid = idle.thread.native_id
    before_self = thread_scheduling(threading.get_native_id())
    try:
        result = isolate_threads(IsolationSettings(policy, 33, (cpu,), False), [tid])
        assert result.ok and result.warning == '', result
        assert f'realtime_policy {policy} priority 33 on 1 timing thread' in result.summary
        assert thread_scheduling(tid) == (policy, 33, frozenset({cpu}))
        # The calling thread is not touched.
        assert thread_scheduling(threading.get_native_id()) == before_self
    finally:
        idle.close()


def test_refusals_say_why_and_change_nothing_else():
    idle = IdleThread()
    tid = idle.thread.native_id
    before = thread_scheduling(tid)
    try:
        result = isolate_threads(IsolationSettings('none', 40, (IMPOSSIBLE_CPU,), False), [tid])
        assert not result.ok
        assert f'cpu_affinity [{IMPOSSIBLE_CPU}] refused by the OS (EINVAL' in result.warning
        assert f'CPUs this process may use: {sorted(os.sched_getaffinity(0))}' in result.warning
        assert 'The node keeps running' in result.warning
        # The config refuses priorities outside 1..99; the OS does too.
        result = isolate_threads(IsolationSettings('fifo', 120, (), False), [tid])
        assert 'realtime_policy fifo priority 120 refused by the OS (EINVAL' in result.warning
        assert 'priority must be in 1..99' in result.warning
        assert thread_scheduling(tid) == before
    finally:
        idle.close()


@pytest.mark.skipif(shutil.which('setpriv') is None, reason='needs setpriv (util-linux)')
def test_without_cap_sys_nice_the_warning_says_what_to_set():
    # A process without CAP_SYS_NICE (dropped by setpriv) and this shell's rtprio limit: what a
    # line PC's normal user gets. Skipped where that user may use real-time scheduling anyway.
    child = subprocess.run(
        ['setpriv', '--inh-caps=-sys_nice', '--bounding-set=-sys_nice', sys.executable,
         str(CLIENTS_DIR / 'realtime_refused.py')], capture_output=True, text=True,
        cwd=str(REPO_DIR), timeout=60)
    assert child.returncode == 0, child.stderr
    first, warning = child.stdout.splitlines()[:2]
    if first.startswith('OK'):
        pytest.skip('an rtprio limit allows real-time scheduling without CAP_SYS_NICE here')
    assert first == 'REFUSED none', child.stdout
    assert 'EPERM' in warning and HOW_TO_ALLOW in warning, warning
    for remedy in ('limits.conf', 'ulimit -r', 'LimitRTPRIO=', 'CPUSchedulingPolicy=',
                   '--cap-add SYS_NICE --ulimit rtprio=99', 'jetson_clocks', 'nvpmodel'):
        assert remedy in warning, remedy


def scheduler(actuator, isolation, records=None):
    settings = SchedulerSettings.from_config(RejectActuatorConfig(
        reject_delay_s=0.2, inspection_window_s=0.1, max_fire_lateness_s=0.05))
    collect = records.append if records is not None else None
    return SchedulerThread(settings, RejectPolicy(reject_classes=('bad',)), actuator, collect,
                           isolation=isolation, logger=logging.getLogger('test.realtime'))


@needs_realtime
def test_scheduler_thread_isolates_its_timer_and_the_plc_io_thread():
    sim = PlcSimulator().start()
    actuator = ModbusActuator(ModbusConfig(port=sim.port, heartbeat_register=-1))
    actuator.start()
    line = scheduler(actuator, IsolationSettings('fifo', 41, (), False))
    try:
        line.start()
        timer_tid, plc_tid = line.timing_threads()
        assert thread_scheduling(timer_tid)[:2] == ('fifo', 41)
        assert thread_scheduling(plc_tid)[:2] == ('fifo', 41)
        assert thread_scheduling(threading.get_native_id())[0] == 'none'
        assert line.isolation_result.ok
    finally:
        line.stop()
        actuator.stop()
        sim.stop()


@needs_realtime
def test_realtime_executor_puts_the_activating_thread_one_priority_below():
    # start() runs in the node's executor thread (the activate transition): here a thread of
    # the test's own, so pytest's thread keeps its policy.
    line = scheduler(TopicActuator(), IsolationSettings('fifo', 40, (), True))
    activating = {}

    def activate():
        line.start()
        activating['tid'] = threading.get_native_id()
        activating['scheduling'] = thread_scheduling(activating['tid'])

    thread = threading.Thread(target=activate)
    thread.start()
    thread.join(5.0)
    try:
        assert activating['scheduling'][:2] == ('fifo', 39)
        [timer_tid] = line.timing_threads()
        assert thread_scheduling(timer_tid)[:2] == ('fifo', 40)
        assert 'realtime_policy fifo priority 39 on 1 executor thread' in \
            line.isolation_result.summary
    finally:
        line.stop()
    # Without realtime_executor the activating thread keeps its policy.
    line = scheduler(TopicActuator(), IsolationSettings('fifo', 40, (), False))
    thread = threading.Thread(target=activate)
    thread.start()
    thread.join(5.0)
    try:
        assert activating['scheduling'][0] == 'none'
    finally:
        line.stop()


def test_a_refused_isolation_warns_once_and_the_line_runs_on(caplog):
    records = []
    line = scheduler(TopicActuator(), IsolationSettings('none', 40, (IMPOSSIBLE_CPU,), False),
                     records)
    caplog.set_level(logging.INFO, logger='test.realtime')
    try:
        for _ in range(2):   # deactivate / activate: one warning, not one per activation
            line.start()
            line.stop()
        line.start()
        key = FrameKey(time.time_ns(), 'camera')
        line.add_trigger(key, 1)
        line.add_result(key, InspectionOutcome(InspectionStatus.OK, class_name='bad',
                                               confidence=0.9))
        assert wait_until(lambda: records, 3.0)
    finally:
        line.stop()
    warnings = [r for r in caplog.records if 'NOT isolated' in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING, caplog.text
    assert records[0].delivery.name == 'FIRED' and records[0].decision.reject
