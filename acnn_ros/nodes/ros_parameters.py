# SPDX-License-Identifier: Apache-2.0
"""Declare a node's parameters from its `ParameterSpec`s (acnn_ros.core.parameter_spec)."""
from typing import Any, Dict, Iterable

from acnn_ros.core.parameter_spec import ParameterSpec
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor


def descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    """Return the descriptor of `spec`: description (with choices), read-only, range."""
    text = spec.description + (f' (one of: {", ".join(spec.choices)})' if spec.choices else '')
    result = ParameterDescriptor(name=spec.name, description=text, read_only=not spec.runtime)
    if spec.low is None:
        return result
    if isinstance(spec.default, float):
        result.floating_point_range = [FloatingPointRange(
            from_value=float(spec.low), to_value=float(spec.high), step=0.0)]
    elif isinstance(spec.default, int) and not isinstance(spec.default, bool):
        result.integer_range = [IntegerRange(
            from_value=int(spec.low), to_value=int(spec.high), step=1)]
    return result


def declare_parameters(node, specs: Iterable[ParameterSpec]) -> Dict[str, Any]:
    """Declare every spec on `node`; return {name: value} as read once after declaring."""
    values = {}
    for spec in specs:
        node.declare_parameter(spec.name, spec.default, descriptor(spec))
        values[spec.name] = node.get_parameter(spec.name).value
    return values
