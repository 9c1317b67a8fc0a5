# SPDX-License-Identifier: Apache-2.0
"""
Modbus TCP, as the registry (core/plc/protocols.py) finds it.

config.py (ModbusConfig, parameters plc_*), client.py (ModbusActuator, pymodbus), link.py
(`acnn plc` commissioning and the register map), simulator.py (a PLC stand-in on 127.0.0.1
applying the contract). Only config.py is imported here: pymodbus loads when an actuator or a
link is made.
"""
from acnn_ros.core.plc.modbus.config import ModbusConfig, PARAMETERS, PREFIX

CONFIG = ModbusConfig
ACTUATOR = 'ModbusActuator'   # in client.py
LINK = 'ModbusLink'           # in link.py, beside register_map
__all__ = ['ACTUATOR', 'CONFIG', 'LINK', 'PARAMETERS', 'PREFIX']
