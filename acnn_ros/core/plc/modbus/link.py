# SPDX-License-Identifier: Apache-2.0
"""Commissioning link to the PLC over Modbus TCP (`acnn plc`): the configured addresses only."""
from typing import List

from acnn_ros.core.plc.commissioning import (check_reachable, COMMISSIONING_VALIDITY_MS,
                                             MapEntry, PlcDecisionBlock, PlcLink, PlcLinkError)
from acnn_ros.core.plc.modbus.client import decision_registers
from acnn_ros.core.plc.modbus.config import ModbusConfig
from acnn_ros.core.plc.validity import words_ms
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

# Modbus exception codes a PLC answers with, for the integrator.
MODBUS_EXCEPTIONS = {1: 'illegal function', 2: 'illegal data address', 3: 'illegal data value',
                     4: 'device failure', 6: 'device busy', 10: 'gateway path unavailable',
                     11: 'gateway target device failed to respond'}


class ModbusLink(PlcLink):
    """The PLC over Modbus TCP (pymodbus' synchronous client), configured addresses only."""

    backend = 'modbus'

    def __init__(self, config: ModbusConfig, timeout_s: float = 1.0):
        self.config = config
        self.timeout_s = timeout_s
        self.has_coil = config.reject_coil >= 0
        self.has_heartbeat = config.heartbeat_register >= 0
        self._client = ModbusTcpClient(config.host, port=config.port, timeout=timeout_s,
                                       retries=0, reconnect_delay=0)

    def where(self) -> str:
        """Return host:port and unit."""
        return f'{self.config.host}:{self.config.port} unit {self.config.unit}'

    def connect(self) -> None:
        """Connect, or raise PlcLinkError saying why not."""
        check_reachable(self.config.host, self.config.port, self.timeout_s,
                        'plc_host / plc_port')
        if not self._client.connect():
            raise PlcLinkError(f'cannot connect to the PLC at {self.where()} (Modbus TCP)')

    def close(self) -> None:
        """Close the connection."""
        self._client.close()

    def _call(self, what: str, request, address: int, **kwargs):
        try:
            response = request(address, device_id=self.config.unit, **kwargs)
        except ModbusException as exc:
            raise PlcLinkError(f'{what}: no answer from the PLC at {self.where()} within '
                               f'{self.timeout_s:g} s ({exc})') from None
        if response.isError():
            code = getattr(response, 'exception_code', None)
            text = MODBUS_EXCEPTIONS.get(code, f'exception code {code}')
            raise PlcLinkError(f'{what}: the PLC at {self.where()} refused the request '
                               f'({text}); is address {address} mapped on unit '
                               f'{self.config.unit}?')
        return response

    def read_heartbeat(self) -> int:
        """Return the heartbeat register's value."""
        if not self.has_heartbeat:
            raise PlcLinkError('no heartbeat register configured (plc_heartbeat_register -1)')
        address = self.config.heartbeat_register
        return self._call(f'read heartbeat register {address}',
                          self._client.read_holding_registers, address, count=1).registers[0]

    def write_decision(self, decision: PlcDecisionBlock) -> None:
        """
        Write the decision block in one request (function 16), as the actuator.

        With a PLC clock register the block carries a valid-until stamp like the actuator's:
        the PLC's counter now + COMMISSIONING_VALIDITY_MS (a hand-made decision is looked at
        for a while, not acted on at a part's due time).
        """
        address = self.config.decision_register
        stamp = None
        if self.config.clock_register >= 0:
            clock = self.config.clock_register
            words = self._call(f'read PLC clock registers {clock}..{clock + 1}',
                               self._client.read_holding_registers, clock, count=2).registers
            stamp = words_ms(*words) + COMMISSIONING_VALIDITY_MS
        values = decision_registers(*decision, stamp)
        self._call(f'write decision registers {address}..{address + len(values) - 1}',
                   self._client.write_registers, address, values=values)

    def read_decision(self) -> PlcDecisionBlock:
        """Read the 4 decision registers back."""
        address = self.config.decision_register
        words = self._call(f'read decision registers {address}..{address + 3}',
                           self._client.read_holding_registers, address, count=4).registers
        return PlcDecisionBlock((words[0] << 16) | words[1], words[2], words[3])

    def set_coil(self, on: bool) -> None:
        """Write the reject coil (function 5, as the actuator)."""
        if not self.has_coil:
            raise PlcLinkError('no reject coil configured (plc_reject_coil -1)')
        self._call(f'write reject coil {self.config.reject_coil}', self._client.write_coil,
                   self.config.reject_coil, value=bool(on))

    def read_coil(self) -> bool:
        """Return the reject coil's state."""
        if not self.has_coil:
            raise PlcLinkError('no reject coil configured (plc_reject_coil -1)')
        return bool(self._call(f'read reject coil {self.config.reject_coil}',
                               self._client.read_coils, self.config.reject_coil,
                               count=1).bits[0])


def register_map(plc: ModbusConfig, pulse_width_s: float) -> List[MapEntry]:
    """Return what reject_actuator_node writes (and reads) with `plc`."""
    base = plc.decision_register
    block = 'once per part, one request (function 16)'
    entries = [
        MapEntry('holding register', str(base), 'uint16', block, 'part id, high 16 bits'),
        MapEntry('holding register', str(base + 1), 'uint16', block, 'part id, low 16 bits'),
        MapEntry('holding register', str(base + 2), 'uint16', block,
                 'verdict: 1 accept, 2 reject (0: no verdict yet)'),
        MapEntry('holding register', str(base + 3), 'uint16', block,
                 'reason: RejectEvent.REASON_* (0 none ... 6 no result)')]
    if plc.clock_register >= 0:
        entries += [
            MapEntry('holding register', str(base + 4), 'uint16', block,
                     'valid until (PLC clock ms), high 16 bits: ignore the block after it'),
            MapEntry('holding register', str(base + 5), 'uint16', block,
                     'valid until (PLC clock ms), low 16 bits'),
            MapEntry('holding register', f'{plc.clock_register}..{plc.clock_register + 1}',
                     'uint32', 'read by vision (function 3)',
                     "PLC's free-running millisecond counter, high word first (PLC writes)")]
    if plc.reject_coil >= 0:
        entries.append(MapEntry('coil', str(plc.reject_coil), 'bool',
                                'per reject, fixed_delay timing (function 5)',
                                f'ejector: ON at the due time, OFF {pulse_width_s:g} '
                                's later'))
    if plc.heartbeat_register >= 0:
        entries.append(MapEntry('holding register', str(plc.heartbeat_register), 'uint16',
                                f'every {plc.heartbeat_period_s:g} s (function 6)',
                                'heartbeat: toggles 0 / 1 while vision runs'))
    return entries
