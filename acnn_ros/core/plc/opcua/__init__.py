# SPDX-License-Identifier: Apache-2.0
"""
OPC UA, as the registry (core/plc/protocols.py) finds it.

config.py (OpcUaConfig, parameters opcua_* and the shared plc_* timing), client.py
(OpcUaActuator, asyncua), link.py (`acnn plc` commissioning and the variable map),
simulator.py (an asyncua server on 127.0.0.1 applying the contract). asyncua loads when an
actuator or a link is made.
"""
from acnn_ros.core.plc.opcua.config import OpcUaConfig, PARAMETERS, PREFIX

CONFIG = OpcUaConfig
ACTUATOR = 'OpcUaActuator'   # in client.py
LINK = 'OpcUaLink'           # in link.py, beside register_map
__all__ = ['ACTUATOR', 'CONFIG', 'LINK', 'PARAMETERS', 'PREFIX']
