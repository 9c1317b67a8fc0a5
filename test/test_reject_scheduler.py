# SPDX-License-Identifier: Apache-2.0
"""
The reject scheduler's state machine on a fake clock: no sleeps, no wall-clock tolerance.

`FakeLine` drives it as SchedulerThread does (core/reject/scheduler_thread.py), waking exactly at
each due time unless a test wakes it late on purpose, with the real topic actuator (on the fake
clock) or a stand-in for a PLC that sends accepts and reports when the test says so. The driver
itself and the real PLC are tested in test_reject_scheduler_thread.py.
"""
import functools
import logging

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.plc.contract import ActuationReport, Actuator
from acnn_ros.core.plc.local import TopicActuator
from acnn_ros.core.reject import scheduler as scheduler_module
from acnn_ros.core.reject.config import RejectActuatorConfig
from acnn_ros.core.reject.counters import Delivery
from acnn_ros.core.reject.decision import RejectPolicy, RejectReason
from acnn_ros.core.reject.scheduler import RejectScheduler, SchedulerSettings
from acnn_ros.core.results import InspectionOutcome, InspectionStatus
import pytest

POLICY = RejectPolicy(accept_classes=('good',), reject_classes=('bad',), min_confidence=0.6)
START = 1000.0


def ok(name, confidence=0.9):
    return InspectionOutcome(InspectionStatus.OK, class_name=name, confidence=confidence,
                             class_id=0 if name == 'good' else 1)


def settings(**overrides):
    values = {'reject_delay_s': 0.3, 'inspection_window_s': 0.15, 'pulse_width_s': 0.01,
              'max_fire_lateness_s': 0.1}
    return SchedulerSettings.from_config(RejectActuatorConfig(**dict(values, **overrides)))


class PlcStandIn(Actuator):
    """Sends accepts like a PLC; holds each command until the test reports it (or at once)."""

    name = 'plc'
    sends_accepts = True

    def __init__(self, clock, report_at_once=True):
        self._clock = clock
        self._report_at_once = report_at_once
        self.held = []

    def actuate(self, command, done):
        if self._report_at_once:
            done(ActuationReport(command.part_id, True, self._clock(), 'written'))
        else:
            self.held.append((command, done))


class FakeLine:
    """The state machine, its actuator and the records it made final, on a fake clock."""

    def __init__(self, line_settings=None, policy=POLICY, make_actuator=TopicActuator):
        self.now = START
        self.actuator = make_actuator(clock=lambda: self.now)
        self.scheduler = RejectScheduler(line_settings or settings(), policy, self.actuator.name,
                                         self.actuator.sends_accepts, self.now)
        self.records = []
        self.commands = []   # (time issued, command)

    @property
    def counters(self):
        return self.scheduler.counters

    def capture(self, frame_id='camera', ago_s=0.0):
        return FrameKey(round((self.now - ago_s) * 1e9), frame_id)

    def trigger(self, key, part_id):
        return self._keep(self.scheduler.add_trigger(key, part_id, self.now))

    def result(self, key, outcome):
        return self._keep(self.scheduler.add_result(key, outcome, self.now))

    def run_until(self, t):
        """Let the clock reach `t`, running every timer exactly at its due time."""
        while self.scheduler.next_due() is not None and self.scheduler.next_due() <= t:
            self.wake_at(max(self.now, self.scheduler.next_due()))
        self.now = max(self.now, t)

    def run(self, seconds):
        self.run_until(self.now + seconds)

    def wake_at(self, t):
        """Advance at `t` (a driver that woke late when t is past the next due time)."""
        self.now = t
        due = self.scheduler.advance(t)
        for actuation in due.actuations:
            self.commands.append((t, actuation.command))
            self.actuator.actuate(actuation.command, functools.partial(self._report, actuation))
        for record in due.records:
            self._keep(record)

    def by_part(self):
        return {r.part_id: r for r in self.records}

    def _report(self, actuation, report):
        self._keep(self.scheduler.on_report(actuation, report))

    def _keep(self, record):
        if record is not None:
            self.records.append(record)
        return record


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.WARNING, logger='acnn_ros.reject_scheduler')
    return caplog


def test_rejects_fire_at_capture_plus_delay_and_accepts_are_final_at_once():
    line = FakeLine()
    keys = []
    for part_id, name in enumerate(['good', 'bad', 'good', 'bad'], start=1):
        key = line.capture()
        keys.append(key)
        line.trigger(key, part_id)
        record = line.result(key, ok(name))
        assert (record is not None) == (name == 'good')   # an accept is final when decided
        line.run(0.02)
    line.run_until(keys[1].capture_time + 0.3 - 1e-6)
    assert line.commands == []                            # never before the due time
    line.run(1.0)
    parts = line.by_part()
    assert parts[1].delivery == parts[3].delivery == Delivery.NOT_REQUIRED
    for part_id in (2, 4):
        record = parts[part_id]
        assert record.decision.reason == RejectReason.REJECT_CLASS
        assert record.delivery == Delivery.FIRED
        assert record.due_time == pytest.approx(keys[part_id - 1].capture_time + 0.3)
        assert record.fire_time == record.due_time
    # The topic actuator sends no accepts; rejects pulse, with the line's width and budget.
    assert [(t, c.part_id) for t, c in line.commands] == [
        (parts[2].due_time, 2), (parts[4].due_time, 4)]
    for _, command in line.commands:
        assert command.pulse and command.pulse_width_s == 0.01
        assert command.deadline == pytest.approx(command.due_time + 0.1)
    assert line.counters.discrepancies() == []


def test_missing_error_and_dropped_results_are_fail_safe_rejects():
    line = FakeLine()
    assert line.scheduler.next_due() is None
    keys = [line.capture(f'cam{i}') for i in range(4)]
    for part_id, key in enumerate(keys, start=1):
        line.trigger(key, part_id)
    assert line.scheduler.next_due() == pytest.approx(keys[0].capture_time + 0.15)
    line.result(keys[0], InspectionOutcome.error('engine failed'))
    line.result(keys[1], InspectionOutcome.dropped('busy'))
    line.result(keys[2], ok('good', confidence=0.3))
    # keys[3]: no result at all
    line.run_until(keys[3].capture_time + 0.15 - 1e-6)
    assert line.records == []                             # the window is still open
    line.run(1.0)
    got = line.by_part()
    assert got[1].decision.reason == RejectReason.ERROR_RESULT and got[1].decision.fail_safe
    assert got[2].decision.reason == RejectReason.DROPPED_FRAME and got[2].decision.fail_safe
    assert got[3].decision.reason == RejectReason.LOW_CONFIDENCE
    assert got[4].decision.reason == RejectReason.NO_RESULT and got[4].decision.fail_safe
    # The no-result part was decided when its window closed, and still fired on time.
    assert got[4].decided_time - keys[3].capture_time == pytest.approx(0.15)
    assert got[4].fire_time == got[4].due_time
    assert all(r.delivery == Delivery.FIRED for r in got.values())
    counters = line.counters
    assert counters.rejected_by_reason[RejectReason.NO_RESULT] == 1
    assert counters.rejected == counters.fired == 4 and counters.discrepancies() == []


def test_duplicate_results_and_results_before_their_trigger():
    line = FakeLine()
    early = line.capture('a')
    line.result(early, ok('bad'))                         # overtakes its trigger
    line.trigger(early, 1)
    twice = line.capture('b')
    line.trigger(twice, 2)
    line.result(twice, ok('good'))
    assert line.result(twice, ok('bad')) is None          # must not create a second decision
    line.run(1.0)
    assert len(line.records) == 2
    parts = line.by_part()
    assert parts[1].decision.reject and parts[1].delivery == Delivery.FIRED
    assert not parts[2].decision.reject
    assert line.counters.duplicate_results == 1


def test_duplicate_triggers_are_ignored(log):
    line = FakeLine()
    key = line.capture()
    line.trigger(key, 1)
    line.trigger(key, 9)                                  # same frame, part still open
    line.result(key, ok('good'))
    line.trigger(key, 10)                                 # same frame, part decided
    line.run(1.0)
    assert [r.part_id for r in line.records] == [1]
    assert 'duplicate trigger for part 9' in log.text
    assert 'duplicate trigger for part 10' in log.text
    assert line.counters.inspected == 1 and line.counters.duplicate_results == 0


def test_without_triggers_ids_follow_result_order_and_late_results_are_counted(log):
    line = FakeLine(settings(reject_delay_s=0.2, inspection_window_s=0.1,
                             max_fire_lateness_s=0.02, use_part_trigger=False))
    assert 'use_part_trigger is false' in log.text
    assert line.trigger(line.capture('ignored'), 7) is None
    line.result(line.capture('a'), ok('bad'))
    line.result(line.capture('b'), ok('good'))
    stale = line.capture('c', ago_s=0.5)                       # part already passed
    line.result(stale, ok('bad'))
    line.run(1.0)
    parts = line.by_part()
    assert sorted(parts) == [1, 2, 3]
    assert parts[1].delivery == Delivery.FIRED
    assert parts[2].delivery == Delivery.NOT_REQUIRED
    assert parts[3].delivery == Delivery.LATE and parts[3].fire_time is None
    counters = line.counters
    assert (counters.late, counters.late_results, counters.fired) == (1, 1, 1)
    assert counters.discrepancies() == []
    # One fault episode for both (said once, issue 19): the late result opened it.
    assert 'LATE RESULT' in log.text and log.text.count('what follows of this fault') == 1


def test_a_driver_that_wakes_late_makes_late_decisions_and_missed_rejects(log):
    line = FakeLine()                                     # max_fire_lateness_s 0.1
    on_time = line.capture('a')                           # due at START + 0.3
    early = line.capture('b', ago_s=0.06)                 # due at START + 0.24
    silent = line.capture('c', ago_s=0.06)                # no result: window closes at + 0.09
    line.trigger(silent, 1)
    for part_id, key in ((2, early), (3, on_time)):
        line.trigger(key, part_id)
        line.result(key, ok('bad'))
    line.wake_at(START + 0.35)                            # the timer thread slept too long
    parts = line.by_part()
    assert parts[3].delivery == Delivery.FIRED            # 0.05 s late: within the budget
    assert parts[3].fire_time == pytest.approx(START + 0.35)
    assert parts[2].delivery == Delivery.MISSED and parts[2].fire_time is None   # 0.11 s late
    assert 'after its due time' in parts[2].delivery_detail
    assert parts[1].decision.reason == RejectReason.NO_RESULT
    assert parts[1].delivery == Delivery.LATE and parts[1].fire_time is None
    assert [c.part_id for _, c in line.commands] == [2, 3]
    counters = line.counters
    assert (counters.late, counters.missed, counters.fired) == (1, 1, 1)
    assert counters.discrepancies() == []
    assert 'LATE DECISION: part 1' in log.text and 'MISSED REJECT: part 2' in log.text


def test_policy_changes_apply_to_the_next_decisions_and_counters_reset():
    line = FakeLine()
    first = line.capture('a')
    line.trigger(first, 1)
    line.result(first, ok('good', 0.7))
    line.scheduler.set_policy(RejectPolicy(accept_classes=('good',), min_confidence=0.8))
    assert line.scheduler.policy.min_confidence == 0.8
    second = line.capture('b')
    line.trigger(second, 2)
    line.result(second, ok('good', 0.7))
    snapshot = line.scheduler.counters_snapshot()
    line.run(1.0)
    assert (snapshot.inspected, snapshot.rejected) == (1, 0)   # a copy, not a view
    before = line.scheduler.reset_counters(line.now)
    parts = line.by_part()
    assert not parts[1].decision.reject
    assert parts[2].decision.reason == RejectReason.LOW_CONFIDENCE
    assert (before.inspected, before.accepted, before.rejected) == (2, 1, 1)
    assert line.counters.inspected == 0 and line.counters.discrepancies() == []
    assert line.counters.since == line.now


def test_every_part_is_written_once_at_its_due_time_and_accepts_only_if_sent():
    line = FakeLine(make_actuator=PlcStandIn)
    verdicts = ['bad', 'bad', 'bad', 'good', 'bad', 'good', 'good', 'bad', 'bad', 'bad']
    for part_id, name in enumerate(verdicts, start=1):
        key = line.capture()
        line.trigger(key, part_id)
        if part_id != 6:                                  # part 6: no result -> fail-safe
            line.result(key, ok(name))
        line.run(0.08)
    line.run(1.0)
    defective = {i for i, name in enumerate(verdicts, start=1) if name == 'bad'} | {6}
    written = [c.part_id for _, c in line.commands if c.reject]
    assert written == sorted(defective)                   # each exactly once, in order
    assert [c.part_id for _, c in line.commands if not c.reject] == [4, 7]
    parts = line.by_part()
    for issued, command in line.commands:
        assert issued == command.due_time == parts[command.part_id].due_time
        assert command.pulse == command.reject            # accepts drive no output
    assert line.counters.fired == len(defective) and line.counters.accepted == 2
    assert line.counters.discrepancies() == []


def test_undelivered_commands_are_missed_and_a_hung_plc_delays_no_decision(log):
    line = FakeLine(make_actuator=functools.partial(PlcStandIn, report_at_once=False))
    plc = line.actuator
    keys = [line.capture(f'cam{i}') for i in range(3)]
    for part_id, key in enumerate(keys, start=1):
        line.trigger(key, part_id)
    line.result(keys[0], ok('bad'))
    line.result(keys[1], ok('good'))                      # keys[2]: no result
    line.run(1.0)
    # Nothing reported yet: the accept is final, the no-result part decided on time.
    assert [r.part_id for r in line.records] == [2]
    assert len(plc.held) == 3
    line.trigger(line.capture('later'), 4)                # no result either
    line.run(1.0)
    assert [c.part_id for c, _ in plc.held] == [1, 2, 3, 4]
    for command, done in plc.held:
        done(ActuationReport(command.part_id, False, None, 'PLC: timeout'))
    parts = line.by_part()
    assert parts[1].delivery == parts[3].delivery == parts[4].delivery == Delivery.MISSED
    assert parts[1].fire_time is None and parts[1].delivery_detail == 'PLC: timeout'
    assert parts[3].decision.reason == parts[4].decision.reason == RejectReason.NO_RESULT
    # Decided when their windows closed, although the PLC had answered nothing.
    assert parts[3].decided_time == pytest.approx(START + 0.15)
    assert parts[4].decided_time == pytest.approx(START + 1.0 + 0.15)
    counters = line.counters
    assert (counters.missed, counters.accepts_undelivered) == (3, 1)
    assert counters.discrepancies() == []
    assert 'MISSED REJECT: part 1' in log.text
    # Every undelivered decision of the outage is one episode, said once (issue 19).
    assert log.text.count('PLC not taking decisions: ') == 1


def test_result_after_a_fail_safe_reject_is_counted_late_not_decided_again(log):
    line = FakeLine()
    key = line.capture()
    line.trigger(key, 1)
    line.run_until(key.capture_time + 0.3 + 0.02)
    assert line.result(key, ok('good')) is None           # after the part passed the ejector
    line.run(0.1)
    assert len(line.records) == 1
    assert line.records[0].decision.reason == RejectReason.NO_RESULT
    assert line.records[0].delivery == Delivery.FIRED
    counters = line.counters
    assert (counters.late_results, counters.duplicate_results, counters.late) == (1, 0, 0)
    assert counters.discrepancies() == []
    assert 'NO RESULT from inference_node' in log.text   # the episode the result belongs to
    line.result(key, ok('good'))                          # a second one is a duplicate
    assert counters.duplicate_results == 1 and len(line.records) == 1


def test_plc_tracking_writes_the_verdict_at_once_without_a_pulse():
    line = FakeLine(settings(reject_delay_s=0.5, inspection_window_s=0.2, timing='plc_tracking'),
                    make_actuator=PlcStandIn)
    key = line.capture()
    line.trigger(key, 11)
    line.run(0.05)
    line.result(key, ok('bad'))
    line.run(0.0)
    [(issued, command)] = line.commands
    # Written right after the decision, long before the part reaches the ejector.
    assert (command.part_id, command.reject, command.pulse) == (11, True, False)
    assert issued == line.records[0].decided_time == pytest.approx(START + 0.05)
    assert command.deadline == command.due_time == pytest.approx(START + 0.5)
    assert line.records[0].delivery == Delivery.FIRED


def test_decided_parts_are_remembered_up_to_the_bound(monkeypatch):
    monkeypatch.setattr(scheduler_module, 'REMEMBERED_PARTS', 2)
    line = FakeLine(settings(use_part_trigger=False))
    keys = [line.capture(f'cam{i}') for i in range(3)]
    for key in keys:
        line.result(key, ok('good'))
    line.result(keys[2], ok('good'))                      # remembered: a duplicate
    line.result(keys[0], ok('good'))                      # forgotten: taken as a new part
    assert line.counters.duplicate_results == 1
    assert [r.part_id for r in line.records] == [1, 2, 3, 4]
