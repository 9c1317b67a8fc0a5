# SPDX-License-Identifier: Apache-2.0
"""
OPC UA: the protocol's entry points for the registry (core/plc/protocols.py).

config.py (OpcUaConfig, parameters opcua_*), client.py (OpcUaActuator, asyncua), link.py
(`acnn plc` commissioning), simulator.py (a PLC stand-in on 127.0.0.1 applying the contract).
asyncua is imported only when an actuator or a link is made.
"""
from typing import Callable, List

from acnn_ros.core.plc.opcua.config import OpcUaConfig, PARAMETERS, PREFIX

CONFIG = OpcUaConfig
__all__ = ['CONFIG', 'PARAMETERS', 'PREFIX', 'make_actuator', 'open_link', 'register_map']


def make_actuator(config: OpcUaConfig, clock: Callable[[], float], logger):
    """Return the OPC UA actuator of `config`."""
    from acnn_ros.core.plc.opcua.client import OpcUaActuator
    return OpcUaActuator(config, clock=clock, logger=logger)


def open_link(config: OpcUaConfig, timeout_s: float):
    """Return a commissioning link (not connected yet)."""
    from acnn_ros.core.plc.opcua.link import OpcUaLink
    return OpcUaLink(config, timeout_s)


def register_map(config: OpcUaConfig, pulse_width_s: float) -> List:
    """Return what the actuator writes with `config`."""
    from acnn_ros.core.plc.opcua.link import register_map as entries
    return entries(config, pulse_width_s)
