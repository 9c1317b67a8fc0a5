# SPDX-License-Identifier: Apache-2.0
"""
`timing: plc_tracking` deadlines of the reject scheduler, on the fake clock (FakeLine).

With plc_tracking the PLC times the ejector and needs the verdict before the part reaches it:
the deadline is the due time itself. The end-to-end form (node process, DDS, Modbus and OPC UA
simulators) is test_plc_tracking_line.py.
"""
import logging

from acnn_ros.core.plc.contract import ActuationReport
from acnn_ros.core.reject.counters import Delivery
from acnn_ros.core.reject.decision import RejectReason
import pytest
from test_reject_scheduler import FakeLine, ok, PlcStandIn, settings, START


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.WARNING, logger='acnn_ros.reject_scheduler')
    return caplog


def test_plc_tracking_deadline_is_the_due_time_not_due_plus_lateness(log):
    # fixed_delay may fire up to max_fire_lateness_s after the due time (the ejector still
    # reaches the part); with plc_tracking the PLC needs the verdict BEFORE the part reaches
    # the ejector, so a decision at due + 0.01 s is too late there and on time with fixed_delay.
    outcomes = {}
    for timing in ('fixed_delay', 'plc_tracking'):
        line = FakeLine(settings(reject_delay_s=0.5, inspection_window_s=0.2,
                                 max_fire_lateness_s=0.1, timing=timing),
                        make_actuator=PlcStandIn)
        key = line.capture(ago_s=0.51)           # the vision process stalled: both arrive late
        line.trigger(key, 21)
        line.result(key, ok('bad'))
        line.run(0.0)
        outcomes[timing] = (line.records, line.commands, line.counters)
    records, commands, counters = outcomes['fixed_delay']
    assert [r.delivery for r in records] == [Delivery.FIRED] and len(commands) == 1
    records, commands, counters = outcomes['plc_tracking']
    [record] = records
    assert record.delivery == Delivery.LATE and record.decision.reject
    assert record.fire_time is None and commands == []     # nothing written: PLC default
    assert (counters.late, counters.late_results, counters.fired, counters.missed) == \
        (1, 1, 0, 0)
    assert counters.discrepancies() == []
    assert 'LATE RESULT' in log.text   # the late decision is the same episode: counted


def test_plc_tracking_writes_the_fail_safe_reject_at_the_window_with_the_due_deadline():
    line = FakeLine(settings(reject_delay_s=0.5, inspection_window_s=0.2, timing='plc_tracking'),
                    make_actuator=lambda clock: PlcStandIn(clock, report_at_once=False))
    key = line.capture()
    line.trigger(key, 31)
    line.run(0.201)                              # window closes: fail-safe NO_RESULT reject
    [(issued, command)] = line.commands
    assert issued == pytest.approx(START + 0.2) and command.deadline == pytest.approx(START + 0.5)
    line.result(key, ok('good'))                 # after the window: changes nothing
    command, done = line.actuator.held[0]
    line.run(0.288)                              # the PLC answers 10 ms before the part arrives
    done(ActuationReport(31, True, line.now, 'written'))
    [record] = line.records
    assert (record.decision.reason, record.delivery) == (RejectReason.NO_RESULT, Delivery.FIRED)
    assert (line.counters.late, line.counters.late_results) == (0, 0)
    assert line.counters.discrepancies() == []
