# SPDX-License-Identifier: Apache-2.0
"""
How a PLC protocol's configuration becomes node parameters and back.

Each protocol keeps its settings in one frozen dataclass (deriving from `LinkTiming`, the link
timing every protocol shares) and lists its parameters with `protocol_spec`: the parameter
name is the protocol's prefix + the field name, the default is the field's (written once, in
the dataclass). `config_from_values` builds the dataclass back from parameter values. The
shared timing parameters keep the prefix `plc_` for every protocol.
"""
from dataclasses import fields
from typing import Any, Mapping, Optional, Sequence, Tuple, Type

from acnn_ros.core.parameter_spec import field_spec, ParameterSpec
from acnn_ros.core.plc.contract import LinkTiming

TIMING_PREFIX = 'plc_'


def protocol_spec(config_cls: Type, prefix: str, name: str, description: str,
                  low: Optional[float] = None, high: Optional[float] = None) -> ParameterSpec:
    """Return the spec of field `name` of `config_cls` as the parameter `prefix` + `name`."""
    spec = field_spec(config_cls, name, description, low, high)
    return ParameterSpec(prefix + name, spec.default, description, low, high)


def field_name(parameter: str, prefix: str) -> str:
    """Return the dataclass field of a protocol parameter (its prefix or plc_ stripped)."""
    head = prefix if parameter.startswith(prefix) else TIMING_PREFIX
    return parameter[len(head):]


def timing_parameters() -> Tuple[ParameterSpec, ...]:
    """Return the link timing parameters every protocol shares."""
    return (
        protocol_spec(LinkTiming, TIMING_PREFIX, 'heartbeat_period_s',
                      'heartbeat toggle period (modbus, opcua)', 0.05, 60.0),
        protocol_spec(LinkTiming, TIMING_PREFIX, 'timeout_s',
                      'longest wait for one PLC reply (shortened to the time left before the '
                      'ejector; modbus, opcua)', 0.005, 10.0),
        protocol_spec(LinkTiming, TIMING_PREFIX, 'reconnect_max_s',
                      'longest back-off between reconnection attempts (modbus, opcua)',
                      0.05, 60.0),
    )


def config_from_values(config_cls: Type, prefix: str, specs: Sequence[ParameterSpec],
                       values: Mapping[str, Any]):
    """Build `config_cls` from parameter values (missing names keep the field defaults)."""
    own = {f.name for f in fields(config_cls)}
    kwargs = {field_name(spec.name, prefix): type(spec.default)(values[spec.name])
              for spec in specs if spec.name in values}
    return config_cls(**{name: value for name, value in kwargs.items() if name in own})


def check_ranges(config, prefix: str, specs: Sequence[ParameterSpec]) -> None:
    """Raise ValueError naming the parameter when a value lies outside its spec's range."""
    for spec in specs:
        value = getattr(config, field_name(spec.name, prefix), None)
        if value is not None and not spec.in_range(value):
            raise ValueError(f'{spec.name} must be in [{spec.low}, {spec.high}], got {value}')
