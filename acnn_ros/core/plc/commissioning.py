# SPDX-License-Identifier: Apache-2.0
"""
Commissioning access to the line PLC (`acnn plc`): read-back and test writes.

A `PlcLink` reaches the addresses of a RejectActuatorConfig - the decision block, the reject
coil, the heartbeat - and nothing else: no method takes an address from its caller. A test
decision is encoded by the actuators' own functions (`modbus.decision_registers`,
`opcua.decision_values`) and written in the same single request, so it is what the line
writes. Every failure (unreachable PLC, refused request, no answer) is a `PlcLinkError` whose
message is meant for the integrator. The OPC UA link is in `opcua_commissioning.py` (asyncua
is imported only where OPC UA is used).
"""
from dataclasses import dataclass
import socket
import time
from typing import Callable, List, NamedTuple, Optional, Tuple

from acnn_ros.core.plc.actuators import (NOT_READY_PART_ID, VERDICT_ACCEPT, VERDICT_NONE,
                                         VERDICT_REJECT)
from acnn_ros.core.plc.modbus import decision_registers, PlcConfig
from acnn_ros.core.plc.validity import words_ms
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

VERDICT_NAMES = {VERDICT_NONE: 'none', VERDICT_ACCEPT: 'accept', VERDICT_REJECT: 'reject'}
# Modbus exception codes a PLC answers with, for the integrator.
MODBUS_EXCEPTIONS = {1: 'illegal function', 2: 'illegal data address', 3: 'illegal data value',
                     4: 'device failure', 6: 'device busy', 10: 'gateway path unavailable',
                     11: 'gateway target device failed to respond'}


# How long a decision written by hand stays valid for the PLC (its clock, milliseconds).
COMMISSIONING_VALIDITY_MS = 10_000


class PlcLinkError(Exception):
    """The PLC cannot be reached, did not answer, or refused a request."""


class Decision(NamedTuple):
    """A decision as written to / read back from the PLC."""

    part_id: int
    verdict: int
    reason: int

    @property
    def not_ready(self) -> bool:
        """Return whether these are the power-up / "vision not ready" values."""
        return (self.part_id, self.verdict) == (NOT_READY_PART_ID, VERDICT_NONE)


@dataclass(frozen=True)
class MapEntry:
    """One register, coil or variable the vision system writes."""

    kind: str        # holding register | coil | variable
    address: str     # protocol address or node id
    data_type: str
    written: str     # when reject_actuator_node writes it
    meaning: str


class PlcLink:
    """Connection to the configured PLC for read-back and test writes; a context manager."""

    backend = ''
    has_coil = False
    has_heartbeat = False

    def where(self) -> str:
        """Return where the PLC is (for messages)."""
        raise NotImplementedError

    def connect(self) -> None:
        """Connect; raise PlcLinkError with the reason when the PLC cannot be reached."""

    def close(self) -> None:
        """Disconnect."""

    def __enter__(self) -> 'PlcLink':
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read_heartbeat(self):
        """Return the heartbeat's current value."""
        raise NotImplementedError

    def write_decision(self, decision: Decision) -> None:
        """Write one decision exactly as the actuator does (one request)."""
        raise NotImplementedError

    def read_decision(self) -> Decision:
        """Read the decision block / variables back."""
        raise NotImplementedError

    def set_coil(self, on: bool) -> None:
        """Set or clear the reject coil."""
        raise PlcLinkError(f'backend {self.backend} has no reject coil')

    def read_coil(self) -> bool:
        """Return the reject coil's state."""
        raise PlcLinkError(f'backend {self.backend} has no reject coil')


def _check_reachable(host: str, port: int, timeout_s: float, what: str) -> None:
    """Open and close a TCP connection, to tell the integrator why a connect fails."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except socket.gaierror as exc:
        raise PlcLinkError(f'cannot reach the PLC: host {host!r} not found ({exc.strerror}); '
                           f'check {what}') from None
    except socket.timeout:
        raise PlcLinkError(f'cannot reach the PLC at {host}:{port}: no answer within '
                           f'{timeout_s:g} s (host down, firewall or wrong network?); '
                           f'check {what}') from None
    except OSError as exc:
        raise PlcLinkError(f'cannot reach the PLC at {host}:{port}: '
                           f'{exc.strerror or exc}; check {what}') from None


class ModbusLink(PlcLink):
    """The PLC over Modbus TCP (pymodbus' synchronous client), configured addresses only."""

    backend = 'modbus'

    def __init__(self, config: PlcConfig, timeout_s: float = 1.0):
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
        _check_reachable(self.config.host, self.config.port, self.timeout_s,
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

    def write_decision(self, decision: Decision) -> None:
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

    def read_decision(self) -> Decision:
        """Read the 4 decision registers back."""
        address = self.config.decision_register
        words = self._call(f'read decision registers {address}..{address + 3}',
                           self._client.read_holding_registers, address, count=4).registers
        return Decision((words[0] << 16) | words[1], words[2], words[3])

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


def register_map(config) -> List[MapEntry]:
    """Return what reject_actuator_node writes with `config` (a RejectActuatorConfig)."""
    if config.actuator == 'modbus':
        plc = PlcConfig.from_reject_config(config)
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
                                    f'ejector: ON at the due time, OFF {config.pulse_width_s:g} '
                                    's later'))
        if plc.heartbeat_register >= 0:
            entries.append(MapEntry('holding register', str(plc.heartbeat_register), 'uint16',
                                    f'every {plc.heartbeat_period_s:g} s (function 6)',
                                    'heartbeat: toggles 0 / 1 while vision runs'))
        return entries
    if config.actuator == 'opcua':
        from acnn_ros.core.plc.opcua import OpcUaConfig
        opc = OpcUaConfig.from_reject_config(config)
        block = 'once per part, one Write request'
        entries = [
            MapEntry('variable', opc.part_id_node, 'UInt32', block, 'part id'),
            MapEntry('variable', opc.verdict_node, 'UInt16', block, 'verdict: 1 accept, 2 reject'),
            MapEntry('variable', opc.reason_node, 'UInt16', block,
                     'reason: RejectEvent.REASON_* (0 none ... 6 no result)')]
        if opc.valid_until_node:
            entries.append(MapEntry('variable', opc.valid_until_node, 'UtcTime', block,
                                    'valid until: ignore the decision after it'))
        if opc.heartbeat_node:
            entries.append(MapEntry('variable', opc.heartbeat_node, 'Boolean',
                                    f'every {opc.heartbeat_period_s:g} s',
                                    'heartbeat: toggles while vision runs'))
        return entries
    return []


NOT_READY_NOTE = ('vision not ready (reject_actuator_node deactivated or shutting down): the '
                  'heartbeat stops and the decision is set to part id 0, verdict 0, reason 0')


def open_link(config, timeout_s: float = 1.0) -> PlcLink:
    """Return a link (not connected yet) to the PLC of `config` (a RejectActuatorConfig)."""
    if config.actuator == 'modbus':
        return ModbusLink(PlcConfig.from_reject_config(config), timeout_s)
    if config.actuator == 'opcua':
        from acnn_ros.core.plc.opcua import OpcUaConfig
        from acnn_ros.core.plc.opcua_commissioning import OpcUaLink
        return OpcUaLink(OpcUaConfig.from_reject_config(config), timeout_s)
    raise PlcLinkError(f'actuator {config.actuator!r} has no PLC (set actuator: modbus or '
                       'opcua in the params file, or -p actuator=modbus)')


# -- heartbeat -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeartbeatWatch:
    """Heartbeat values read over a while, and what they say."""

    samples: Tuple[Tuple[float, object], ...]   # (clock seconds, value)
    period_s: float                               # the configured toggle period

    @property
    def span_s(self) -> float:
        """Return the time between the first and the last read."""
        return self.samples[-1][0] - self.samples[0][0] if self.samples else 0.0

    @property
    def changes(self) -> int:
        """Return how often the value changed between consecutive reads."""
        values = [value for _, value in self.samples]
        return sum(1 for a, b in zip(values, values[1:]) if a != b)

    def verdict(self) -> Tuple[bool, str]:
        """Return (heartbeat seen and sane, explanation for the integrator)."""
        values = [value for _, value in self.samples]
        foreign = sorted({int(v) for v in values} - {0, 1})
        if foreign:
            return False, (f'value {foreign[0]} is not 0/1: something other than the vision '
                           'heartbeat writes this address')
        expected = self.span_s / self.period_s
        changes = self.changes
        if changes == 0:
            return False, (f'no change in {self.span_s:.1f} s (value {values[-1]}): nobody '
                           'writes the heartbeat, so the PLC watchdog sees vision DOWN (is '
                           'reject_actuator_node running and active, not deactivated?)')
        seen = (f'{changes} changes in {self.span_s:.1f} s, about {expected:.1f} expected '
                f'at the configured {self.period_s:g} s period')
        if changes > 1.5 * expected + 1:
            return False, (f'{seen}: faster than configured - more than one writer (a second '
                           'vision PC, or a PLC program writing this address)?')
        if changes < 0.5 * expected:
            return False, (f'{seen}: slower than configured - a PLC watchdog of 3 periods '
                           'may trip')
        return True, (f"{seen}: a heartbeat is being written (the vision system's if "
                      'reject_actuator_node is active; if it is not, someone else writes '
                      'this address)')


def watch_heartbeat(read: Callable[[], object], duration_s: float, interval_s: float,
                    period_s: float, clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep,
                    on_sample: Optional[Callable[[float, object], None]] = None
                    ) -> HeartbeatWatch:
    """Read the heartbeat every `interval_s` from 0 up to `duration_s` (at least 2 reads)."""
    reads = max(2, int(duration_s / interval_s + 1e-9) + 1)
    samples = []
    start = clock()
    for index in range(reads):
        if index:
            sleep(interval_s)
        now = clock()
        value = read()
        samples.append((now, value))
        if on_sample is not None:
            on_sample(now - start, value)
    return HeartbeatWatch(tuple(samples), period_s)
