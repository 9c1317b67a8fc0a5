# SPDX-License-Identifier: Apache-2.0
"""
Parts still pending when the line stops (deactivate, shutdown) are reported fail-safe, once.

The state machine on a fake clock (test_reject_scheduler.FakeLine), and SchedulerThread's
report_pending with a PLC stand-in that holds its commands.
"""
import threading

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.plc.contract import ActuationReport
from acnn_ros.core.reject.counters import Delivery
from acnn_ros.core.reject.decision import RejectReason
from acnn_ros.core.reject.scheduler_thread import SchedulerThread
from test_reject_scheduler import FakeLine, ok, PlcStandIn, POLICY, settings


def test_abandon_reports_each_unfinished_part_once_and_leaves_issued_ones_to_the_plc():
    line = FakeLine(make_actuator=lambda clock: PlcStandIn(clock, report_at_once=False))
    issued = line.capture()
    line.trigger(issued, 1)
    line.result(issued, ok('bad'))
    line.run(0.31)                           # part 1's reject went to the PLC, no report yet
    assert [c.part_id for _, c in line.commands] == [1]
    undecided, waiting, accepted = line.capture('a'), line.capture('b'), line.capture('c')
    line.trigger(undecided, 2)               # no result yet
    line.trigger(waiting, 3)
    line.result(waiting, ok('bad'))          # reject, not due yet
    line.trigger(accepted, 4)
    line.result(accepted, ok('good'))        # final already; its PLC write is still to come
    assert sorted(r.part_id for r in line.records) == [4]

    records = line.scheduler.abandon_pending(line.now, 'vision deactivated')
    assert {r.part_id: (r.decision.reason, r.decision.fail_safe, r.delivery) for r in records} \
        == {2: (RejectReason.NO_RESULT, True, Delivery.MISSED),
            3: (RejectReason.REJECT_CLASS, False, Delivery.MISSED)}
    assert all(r.delivery_detail == 'vision deactivated' for r in records)
    assert line.scheduler.next_due() is None and line.scheduler.in_actuator() == 1
    counters = line.counters
    assert (counters.inspected, counters.rejected, counters.missed,
            counters.accepts_undelivered) == (3, 2, 2, 1)
    # The PLC's report of the issued reject still counts, once.
    command, done = line.actuator.held[0]
    done(ActuationReport(command.part_id, True, line.now, 'written'))
    assert line.records[-1].part_id == 1 and line.records[-1].delivery == Delivery.FIRED
    assert line.scheduler.abandon_pending(line.now, 'again', include_issued=True) == []
    assert (counters.inspected, counters.fired) == (4, 1)
    assert counters.inspected == counters.accepted + counters.rejected


def test_an_issued_reject_given_up_is_not_counted_again_when_its_report_comes():
    line = FakeLine(make_actuator=lambda clock: PlcStandIn(clock, report_at_once=False))
    key = line.capture()
    line.trigger(key, 1)
    line.result(key, ok('bad'))
    line.run(0.31)
    (record,) = line.scheduler.abandon_pending(line.now, 'stopped', include_issued=True)
    assert record.delivery == Delivery.MISSED
    command, done = line.actuator.held[0]
    done(ActuationReport(command.part_id, True, line.now, 'written late'))
    assert line.records == [] and line.counters.inspected == 1


def test_report_pending_waits_for_the_actuator_then_gives_up():
    clock = [100.0]
    plc = PlcStandIn(lambda: clock[0], report_at_once=False)
    records = []
    thread = SchedulerThread(settings(), POLICY, plc, records.append, lambda: clock[0])
    issued, undecided = FrameKey(100_000_000_000, 'x'), FrameKey(100_300_000_000, 'y')
    thread.add_trigger(issued, 1)
    thread.add_result(issued, ok('bad'))     # due at 100.3
    thread.add_trigger(undecided, 2)         # no result; its window closes at 100.45
    thread.start()
    clock[0] = 100.35                        # the timer thread sees it within 0.3 s
    for _ in range(300):
        if plc.held:
            break
        threading.Event().wait(0.01)
    assert [c.part_id for c, _ in plc.held] == [1]
    thread.stop()
    # The PLC reports part 1 while report_pending waits for it.
    command, done = plc.held[0]
    threading.Timer(0.1, done, (ActuationReport(1, True, clock[0], 'written'),)).start()
    assert thread.report_pending('vision deactivated', wait_s=2.0) == 1
    assert sorted((r.part_id, r.delivery) for r in records) == [
        (1, Delivery.FIRED), (2, Delivery.MISSED)]
    assert thread.report_pending('again', wait_s=0.0) == 0


def test_report_pending_gives_up_a_report_that_never_comes():
    clock = [100.0]
    plc = PlcStandIn(lambda: clock[0], report_at_once=False)
    records = []
    thread = SchedulerThread(settings(), POLICY, plc, records.append, lambda: clock[0])
    key = FrameKey(100_000_000_000, 'x')
    thread.add_trigger(key, 1)
    thread.add_result(key, ok('bad'))
    thread.start()
    clock[0] = 100.35
    for _ in range(300):
        if plc.held:
            break
        threading.Event().wait(0.01)
    assert len(plc.held) == 1
    thread.stop()
    assert thread.report_pending('vision shutting down', wait_s=0.1) == 1
    assert [(r.part_id, r.delivery) for r in records] == [(1, Delivery.MISSED)]
    plc.held[0][1](ActuationReport(1, True, clock[0], 'written too late'))
    assert len(records) == 1 and thread.counters_snapshot().inspected == 1
