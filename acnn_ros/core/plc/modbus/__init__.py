# SPDX-License-Identifier: Apache-2.0
"""
Modbus TCP: the protocol's entry points for the registry (core/plc/protocols.py).

config.py (ModbusConfig, parameters plc_*), client.py (ModbusActuator, pymodbus), link.py
(`acnn plc` commissioning), simulator.py (a PLC stand-in on 127.0.0.1 applying the contract).
pymodbus is imported only when an actuator or a link is made.
"""
from typing import Callable, List

from acnn_ros.core.plc.modbus.config import ModbusConfig, PARAMETERS, PREFIX

CONFIG = ModbusConfig
__all__ = ['CONFIG', 'PARAMETERS', 'PREFIX', 'make_actuator', 'open_link', 'register_map']


def make_actuator(config: ModbusConfig, clock: Callable[[], float], logger):
    """Return the Modbus actuator of `config`."""
    from acnn_ros.core.plc.modbus.client import ModbusActuator
    return ModbusActuator(config, clock=clock, logger=logger)


def open_link(config: ModbusConfig, timeout_s: float):
    """Return a commissioning link (not connected yet)."""
    from acnn_ros.core.plc.modbus.link import ModbusLink
    return ModbusLink(config, timeout_s)


def register_map(config: ModbusConfig, pulse_width_s: float) -> List:
    """Return what the actuator writes with `config`."""
    from acnn_ros.core.plc.modbus.link import register_map as entries
    return entries(config, pulse_width_s)
