# SPDX-License-Identifier: Apache-2.0
"""Reject actuator parameters: the YAML section, validation and the run-time subset."""
from acnn_ros.core.params_file import load_params_file, node_parameters
from acnn_ros.core.reject.config import (PARAMETERS, parse_class_thresholds, RejectActuatorConfig,
                                         RUNTIME_PARAMETERS)
from acnn_ros.core.reject.counters import (counter_values, Delivery, LEVEL_ERROR, LEVEL_OK,
                                           LEVEL_WARN, line_health, LineTally)
from acnn_ros.core.reject.decision import RejectReason
from acnn_ros.nodes.managed_node import AUTOSTART
from conftest import REPO_DIR
import pytest


def yaml_section():
    """Return what the shipped file gives the node: its own section and the shared /** one."""
    return node_parameters(load_params_file(REPO_DIR / 'config' / 'inspect.yaml'),
                           'reject_actuator_node')


def test_yaml_section_sets_every_parameter_and_validates():
    values = yaml_section()
    # The node's own parameters and the managed-node one (autostart, shared in /**).
    assert set(values) == {spec.name for spec in PARAMETERS} | {AUTOSTART.name}
    config = RejectActuatorConfig.from_values(values)
    assert config.policy.reject_classes == ('p1069', 'p1071')
    assert config.policy.min_confidence == 0.6 and config.max_fire_lateness_s == 0.05
    assert config.actuator == 'modbus' and config.inspection_window_s < config.reject_delay_s


def test_only_thresholds_change_at_run_time():
    assert RUNTIME_PARAMETERS == {'accept_classes', 'reject_classes', 'min_confidence',
                                  'min_confidence_per_class'}


@pytest.mark.parametrize('override, message', [
    ({'inspection_window_s': 0.6, 'reject_delay_s': 0.5}, 'must be shorter than'),
    ({'actuator': 'plc'}, 'actuator must be one of'),
    ({'timing': 'encoder'}, 'timing must be one of'),
    ({'plc_heartbeat_register': 2}, 'overlaps the decision registers'),
    ({'pulse_width_s': 0.0}, 'pulse_width_s must be in'),
    ({'min_confidence': 1.5}, 'min_confidence must be in'),
    ({'accept_classes': ['a'], 'reject_classes': ['a']}, 'both accepted and rejected'),
    ({'min_confidence_per_class': ['p1069:0.8']}, "is not 'name=value'"),
])
def test_bad_values_get_a_clear_error(override, message):
    values = dict(yaml_section(), **override)
    with pytest.raises(ValueError, match=message):
        RejectActuatorConfig.from_values(values)


def test_without_triggers_the_window_is_not_constrained():
    config = RejectActuatorConfig.from_values(
        {'use_part_trigger': False, 'inspection_window_s': 1.0, 'reject_delay_s': 0.5})
    assert not config.use_part_trigger


def test_class_thresholds_parse():
    thresholds = parse_class_thresholds(['', 'p1069 = 0.8', 'p3707=0.95'])
    assert thresholds == {'p1069': 0.8, 'p3707': 0.95}


def test_counters_reconcile_and_report_a_broken_identity():
    counters = LineTally()
    counters.count(False, RejectReason.NONE, Delivery.NOT_REQUIRED)
    counters.count(True, RejectReason.NO_RESULT, Delivery.FIRED)
    counters.count(True, RejectReason.REJECT_CLASS, Delivery.MISSED)
    counters.count(True, RejectReason.ERROR_RESULT, Delivery.LATE)
    counters.count(False, RejectReason.NONE, Delivery.LATE)
    assert counters.discrepancies() == []
    assert (counters.inspected, counters.accepted, counters.rejected) == (5, 2, 3)
    assert (counters.fired, counters.missed, counters.late, counters.accepted_late) == \
        (1, 1, 2, 1)
    counters.fired += 1
    assert len(counters.discrepancies()) == 1
    counters.reset(123.0)
    assert counters.inspected == 0 and counters.since == 123.0 and not counters.discrepancies()


def test_line_health_levels():
    quiet = LineTally()
    busy = quiet.snapshot()
    busy.count(True, RejectReason.REJECT_CLASS, Delivery.FIRED)
    assert line_health(quiet, busy, True, 'PLC connected') == (LEVEL_OK, 'PLC connected')
    assert line_health(quiet, busy, False, 'PLC down')[0] == LEVEL_ERROR
    missed = busy.snapshot()
    missed.count(True, RejectReason.NO_RESULT, Delivery.MISSED)
    assert line_health(busy, missed, True, 'ok') == (LEVEL_ERROR, '1 missed rejects; ok')
    late = busy.snapshot()
    late.late_results += 1
    assert line_health(busy, late, True, 'ok')[0] == LEVEL_WARN
    values = counter_values(missed)
    assert values['rejected_no_result'] == 1 and values['missed'] == 1 and 'since' not in values


def test_gpio_backend_without_gpiod_fails_with_a_clear_error():
    try:
        import gpiod  # noqa: F401
        pytest.skip('gpiod is installed here: the GPIO backend would try real hardware')
    except ImportError:
        pass
    from acnn_ros.core.plc.protocols import make_actuator
    actuator = make_actuator(RejectActuatorConfig(actuator='gpio'))
    with pytest.raises(ValueError, match='libgpiod'):
        actuator.start()
    assert not actuator.status().ok
