# SPDX-License-Identifier: Apache-2.0
"""
A frame that is not a part never becomes a decision the PLC can act on (issue 19.1).

Any second publisher on `image` (a debug tool, a bag played into a live line) with a current
stamp used to be inferred, decided as part id 0 and written to the PLC as [0, 0, 2, 2] with a
reject pulse between real parts. Its results have no PartTrigger: now they are counted, said
once per episode with their frame_id, and never decided, written or pulsed.
"""
import logging

from acnn_ros.core.reject.decision import RejectReason
import pytest
from test_reject_scheduler import FakeLine, ok


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.WARNING, logger='acnn_ros.reject_scheduler')
    return caplog


def test_a_result_without_trigger_is_no_part_never_decided_nor_actuated(log):
    # A stray publisher on `image` (a debug tool, a bag played into a live line): its results
    # have no PartTrigger. They must never become a decision the PLC can act on (issue 19):
    # no record, no command, no part id 0 with a verdict; counted and said once per episode.
    line = FakeLine()
    bad, good = line.capture('stray_a'), line.capture('stray_b')
    line.result(bad, ok('bad'))
    line.result(good, ok('good'))
    line.run_until(bad.capture_time + 0.15 - 1e-6)
    assert line.records == []                             # its trigger may still come
    line.run(1.0)
    assert line.records == [] and line.commands == []
    assert line.counters.results_without_trigger == 2 and line.counters.inspected == 0
    said = [r for r in log.records if 'without a part trigger' in r.getMessage()]
    assert len(said) == 1 and "frame_id 'stray_a'" in said[0].getMessage()
    assert line.scheduler.active_faults()                 # diagnostics show it while it lasts
    line.trigger(bad, 3)                                  # the real part, very late: fail-safe
    line.run(1.0)
    assert [(r.part_id, r.decision.reason) for r in line.records] == [
        (3, RejectReason.NO_RESULT)]
    assert line.scheduler.orphans.active
    line.scheduler.poll_faults(line.now + 5.0)            # quiet for 5 s: the episode ends
    assert not line.scheduler.orphans.active
    [ended] = [r.getMessage() for r in log.records if 'trigger ignored' in r.getMessage()
               and 'ended' in r.getMessage()]
    assert '2 results' in ended


def test_a_trigger_with_part_id_0_is_refused(log):
    line = FakeLine()
    key = line.capture()
    line.trigger(key, 0)
    line.result(key, ok('bad'))
    line.run(1.0)
    assert line.records == [] and line.commands == []
    assert 'PartTrigger with part id 0' in log.text
