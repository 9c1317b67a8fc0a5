# SPDX-License-Identifier: Apache-2.0
"""
The registry of the ejector outputs: one line per PLC protocol, one place that switches.

A PLC protocol is a sub-package of core/plc (modbus/, opcua/) whose `__init__` names its
settings (`CONFIG`, a LinkTiming dataclass; `PARAMETERS` with their `PREFIX`), its actuator
class in `client.py` (`ACTUATOR`) and its commissioning link class in `link.py` (`LINK`, with
`register_map` beside it); client and link are imported only when used (their libraries with
them). Adding a protocol is a new folder and one line in `PROTOCOLS`. The outputs without a
PLC (topic, GPIO) are core/plc/local.py.
"""
import importlib
import time
from typing import Any, Callable, Dict, List, Mapping, Tuple

from acnn_ros.core.parameter_spec import ParameterSpec
from acnn_ros.core.plc.commissioning import MapEntry, PlcLink, PlcLinkError
from acnn_ros.core.plc.contract import Actuator
from acnn_ros.core.plc.protocol_config import config_from_values

# Protocol name (the `actuator` parameter) -> its package.
PROTOCOLS: Dict[str, str] = {
    'modbus': 'acnn_ros.core.plc.modbus',
    'opcua': 'acnn_ros.core.plc.opcua',
}
LOCAL_OUTPUTS = ('gpio', 'topic')
ACTUATORS = tuple(PROTOCOLS) + LOCAL_OUTPUTS


def protocol(name: str):
    """Return the package of PLC protocol `name` (KeyError for an output without a PLC)."""
    return importlib.import_module(PROTOCOLS[name])


def _part(name: str, module: str):
    return importlib.import_module(f'{PROTOCOLS[name]}.{module}')


def parameters() -> Tuple[ParameterSpec, ...]:
    """Return every protocol's parameters, each name once (the shared timing is in all)."""
    specs: Dict[str, ParameterSpec] = {}
    for name in PROTOCOLS:
        for spec in protocol(name).PARAMETERS:
            specs.setdefault(spec.name, spec)
    return tuple(specs.values())


def config_of(name: str, values: Mapping[str, Any]):
    """Return the settings of protocol `name` from parameter values (validated)."""
    package = protocol(name)
    return config_from_values(package.CONFIG, package.PREFIX, package.PARAMETERS, values)


def make_actuator(config, clock: Callable[[], float] = time.time, logger=None) -> Actuator:
    """Build the output named by `config.actuator` (a RejectActuatorConfig)."""
    if config.actuator == 'topic':
        from acnn_ros.core.plc.local import TopicActuator
        return TopicActuator(clock)
    if config.actuator == 'gpio':
        from acnn_ros.core.plc.local import GpioActuator
        return GpioActuator(config.gpio_chip, config.gpio_line, clock)
    client = _part(config.actuator, 'client')
    return getattr(client, protocol(config.actuator).ACTUATOR)(config.plc, clock=clock,
                                                               logger=logger)


def open_link(config, timeout_s: float = 1.0) -> PlcLink:
    """Return a commissioning link (not connected yet) to the PLC of `config`."""
    if config.actuator not in PROTOCOLS:
        raise PlcLinkError(f'actuator {config.actuator!r} has no PLC (set actuator: '
                           f'{" or ".join(PROTOCOLS)} in the params file, or -p '
                           'actuator:=modbus)')
    link = _part(config.actuator, 'link')
    return getattr(link, protocol(config.actuator).LINK)(config.plc, timeout_s)


def register_map(config) -> List[MapEntry]:
    """Return what reject_actuator_node writes with `config` (empty without a PLC)."""
    if config.actuator not in PROTOCOLS:
        return []
    return _part(config.actuator, 'link').register_map(config.plc, config.pulse_width_s)
