# SPDX-License-Identifier: Apache-2.0
"""The OPC 40100-1 vision state machine, pure: states, transitions, methods allowed where."""
from acnn_ros.core.vision_system.state_machine import (
    CONTINUOUS_EXECUTION, ERROR, HALTED, INITIALIZED, MethodNotAllowed, OPERATIONAL,
    PREOPERATIONAL, READY, SINGLE_EXECUTION, STATE_METHODS, VisionStateMachine)
import pytest


def _walk(machine, *methods):
    return [machine.call(method).number if machine.allowed(method) else None
            for method in methods]


def test_power_up_is_preoperational_without_automatic_state():
    machine = VisionStateMachine()
    assert machine.current is PREOPERATIONAL and machine.automatic is None
    assert machine.path == (PREOPERATIONAL,)


def test_the_issue_walk_numbers_every_transition():
    machine = VisionStateMachine()
    assert machine.call('SelectModeAutomatic').number == 151
    assert machine.path == (OPERATIONAL, INITIALIZED)
    assert machine.call('PrepareRecipe').number == 561 and machine.current is READY
    assert machine.call('PrepareRecipe') is None and machine.current is READY   # changeover
    assert machine.call('StartContinuous').number == 681
    assert machine.current is CONTINUOUS_EXECUTION
    assert machine.call('Stop').number == 861 and machine.current is READY
    assert machine.call('StartSingleJob').number == 671 and machine.current is SINGLE_EXECUTION
    assert machine.part_done().number == 760 and machine.current is READY
    assert machine.part_done() is None
    assert machine.call('StartSingleJob').number == 671
    assert machine.call('Abort').number == 762
    assert machine.call('UnprepareRecipe').number == 651 and machine.current is INITIALIZED
    assert machine.call('Halt').number == 421 and machine.path == (HALTED,)
    assert machine.call('Reset').number == 211 and machine.current is PREOPERATIONAL


# Which state methods each state allows (the rest answer Bad_InvalidState).
ALLOWED = {
    PREOPERATIONAL: {'SelectModeAutomatic', 'Halt', 'Reset'},
    HALTED: {'Halt', 'Reset'},
    ERROR: {'Halt', 'Reset'},
    INITIALIZED: {'Halt', 'Reset', 'PrepareRecipe', 'UnprepareRecipe'},
    READY: {'Halt', 'Reset', 'PrepareRecipe', 'UnprepareRecipe', 'StartSingleJob',
            'StartContinuous'},
    SINGLE_EXECUTION: {'Halt', 'Reset', 'Stop', 'Abort'},
    CONTINUOUS_EXECUTION: {'Halt', 'Reset', 'Stop', 'Abort'},
}
ROUTES = {
    PREOPERATIONAL: (), HALTED: ('Halt',), ERROR: None,
    INITIALIZED: ('SelectModeAutomatic',), READY: ('SelectModeAutomatic', 'PrepareRecipe'),
    SINGLE_EXECUTION: ('SelectModeAutomatic', 'PrepareRecipe', 'StartSingleJob'),
    CONTINUOUS_EXECUTION: ('SelectModeAutomatic', 'PrepareRecipe', 'StartContinuous'),
}


@pytest.mark.parametrize('state', list(ALLOWED), ids=lambda s: s.name)
def test_each_state_allows_exactly_its_methods(state):
    machine = VisionStateMachine()
    if ROUTES[state] is None:
        machine.observe_line(all_active=False, failed=True)
    else:
        for method in ROUTES[state]:
            machine.call(method)
    assert machine.current is state
    assert {m for m in STATE_METHODS if machine.allowed(m)} == ALLOWED[state]
    refused = sorted(set(STATE_METHODS) - ALLOWED[state])
    for method in refused:
        with pytest.raises(MethodNotAllowed):
            machine.call(method)
        assert machine.current is state     # a refused method changes nothing


def test_reset_from_operational_and_error_and_halt_from_error():
    machine = VisionStateMachine()
    _walk(machine, 'SelectModeAutomatic', 'PrepareRecipe', 'StartContinuous')
    assert machine.call('Reset').number == 411 and machine.path == (PREOPERATIONAL,)
    machine.observe_line(all_active=False, failed=True)
    assert machine.call('Halt').number == 321 and machine.current is HALTED
    machine.call('Reset')
    machine.observe_line(all_active=False, failed=True)
    assert machine.call('Reset').number == 311 and machine.current is PREOPERATIONAL


def test_the_line_drives_the_automatic_transitions():
    machine = VisionStateMachine()
    assert machine.observe_line(all_active=False, failed=False) == ()
    assert [t.number for t in machine.observe_line(True, False)] == [150]
    assert machine.path == (OPERATIONAL, INITIALIZED)
    machine.call('PrepareRecipe')
    assert [t.number for t in machine.observe_line(True, True)] == [430]
    assert machine.current is ERROR and machine.automatic is None
    assert machine.observe_line(True, True) == ()                 # still failed: stays
    # the node is back and every node active: Error -> Preoperational -> Operational
    assert [t.number for t in machine.observe_line(True, False)] == [310, 150]
    assert [t.number for t in machine.observe_line(False, False)] == [410]
    assert [t.number for t in machine.observe_line(False, True)] == [130]


def test_halted_stays_halted_whatever_the_line_does():
    machine = VisionStateMachine()
    machine.call('Halt')
    assert machine.observe_line(True, False) == () and machine.current is HALTED
    assert machine.observe_line(False, True) == () and machine.current is HALTED
