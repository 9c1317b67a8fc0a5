# SPDX-License-Identifier: Apache-2.0
"""The one parameter mechanism: spec -> descriptor -> declared on a real rclpy node."""
from dataclasses import dataclass
from typing import Tuple

from acnn_ros.core.parameter_spec import field_spec, ParameterSpec
from acnn_ros.nodes.ros_parameters import declare_parameters, descriptor
import pytest
import rclpy
from rclpy.exceptions import InvalidParameterValueException
from rclpy.parameter import Parameter


@dataclass(frozen=True)
class _Config:
    rate_hz: float = 10.0
    topics: Tuple[str, ...] = ()


SPECS = (
    ParameterSpec('rate_hz', 10.0, 'capture rate', 0.1, 100.0),
    ParameterSpec('depth', 5, 'queue depth', 1, 1000, runtime=True),
    ParameterSpec('enabled', True, 'capture at start-up', 0, 1),
    ParameterSpec('mode', 'fast', 'pace', choices=('fast', 'slow')),
)


def test_descriptor_carries_ranges_choices_and_read_only():
    rate, depth, enabled, mode = (descriptor(spec) for spec in SPECS)
    assert rate.read_only and not depth.read_only
    assert (rate.floating_point_range[0].from_value, rate.floating_point_range[0].to_value) == \
        (0.1, 100.0) and not rate.integer_range
    assert (depth.integer_range[0].from_value, depth.integer_range[0].to_value,
            depth.integer_range[0].step) == (1, 1000, 1) and not depth.floating_point_range
    assert not enabled.integer_range and not enabled.floating_point_range   # bool: no range
    assert mode.description == 'pace (one of: fast, slow)' and mode.name == 'mode'


def test_field_spec_takes_the_dataclass_default_and_declares_empty_arrays_as_blank():
    assert field_spec(_Config, 'rate_hz', 'rate', 0.1, 100.0) == \
        ParameterSpec('rate_hz', 10.0, 'rate', 0.1, 100.0)
    assert field_spec(_Config, 'topics', 'topics').default == ['']
    assert field_spec(_Config, 'rate_hz', 'rate', choices=('a',), runtime=True) == \
        ParameterSpec('rate_hz', 10.0, 'rate', choices=('a',), runtime=True)
    assert ParameterSpec('x', 1, '', 0, 2).in_range(2) and not \
        ParameterSpec('x', 1, '', 0, 2).in_range(3) and ParameterSpec('x', 1, '').in_range(-9)


def test_declared_values_overrides_and_ranges_are_enforced_by_rclpy():
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('parameters_test', context=context,
                                 parameter_overrides=[Parameter('depth', value=7)])
        values = declare_parameters(node, SPECS)
        assert values == {'rate_hz': 10.0, 'depth': 7, 'enabled': True, 'mode': 'fast'}
        assert not node.set_parameters([Parameter('depth', value=5000)])[0].successful
        assert not node.set_parameters([Parameter('rate_hz', value=20.0)])[0].successful
        assert node.set_parameters([Parameter('depth', value=9)])[0].successful
        with pytest.raises(InvalidParameterValueException):
            declare_parameters(rclpy.create_node(
                'parameters_test_bad', context=context,
                parameter_overrides=[Parameter('rate_hz', value=500.0)]), SPECS)
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
