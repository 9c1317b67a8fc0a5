# SPDX-License-Identifier: Apache-2.0
"""
PLC client over Modbus TCP (pymodbus 3.16.1, pinned: the client API changed across 3.x).

Register map (protocol addresses, all configurable, nothing else is ever written):

- decision block, 4 holding registers from `decision_register`:
  part id high word, part id low word, verdict (1 accept, 2 reject), reason (RejectEvent.REASON_*),
  written in ONE write (function 16), so the PLC never sees a part id with another part's verdict.
  Writing the same block twice has the same effect as once (idempotent, keyed by part id): a
  write whose reply was lost is simply written again.
- reject coil `reject_coil`: set at the due time of a reject, cleared `pulse_width_s` later
  (fixed-delay timing only). Every reject is its own rising edge: a reject due while the
  previous pulse is still on clears the coil for one request round trip and sets it again, so
  a PLC counting edges counts every reject (an ejector valve does not react to a ~1 ms gap).
- heartbeat register `heartbeat_register`: toggled 0/1 every `heartbeat_period_s` while vision
  is ready; the PLC treats a heartbeat that stops changing as "vision down" and rejects every
  part.
- vision not ready (`set_ready(False)`: node deactivated or shutting down): the heartbeat
  stops and the decision block is written back to its power-up values, part id 0 (never a
  part), verdict 0 (no verdict), reason 0; `set_ready(True)` restarts the heartbeat.

Everything runs on an asyncio loop in a thread of its own, so a PLC that accepts TCP and never
answers costs missed decisions, never a blocked caller. pymodbus does not retry a *first* failed
connect, so the connection is kept by our own bounded exponential back-off loop (pymodbus's own
reconnection is switched off to have one mechanism only).
"""
import asyncio
from dataclasses import dataclass
import logging
import time
from typing import Callable, Optional

from acnn_ros.core.plc.actuators import (ActuationCommand, ActuationReport, ActuatorStatus,
                                         DoneCallback, NOT_READY_PART_ID, VERDICT_NONE)
from acnn_ros.core.plc.loop_actuator import (FAILURES_BEFORE_RECONNECT, LoopThreadActuator,
                                             PlcUnavailable)
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException


@dataclass(frozen=True)
class PlcConfig:
    """Where the PLC is and which addresses belong to the vision system."""

    host: str = '127.0.0.1'
    port: int = 502
    unit: int = 1
    decision_register: int = 0
    reject_coil: int = 0                 # -1: no coil
    heartbeat_register: int = 10         # -1: no heartbeat
    heartbeat_period_s: float = 1.0
    timeout_s: float = 0.1
    reconnect_min_s: float = 0.05
    reconnect_max_s: float = 2.0

    @classmethod
    def from_reject_config(cls, config) -> 'PlcConfig':
        """Take the plc_* fields of a RejectActuatorConfig."""
        return cls(host=config.plc_host, port=config.plc_port, unit=config.plc_unit,
                   decision_register=config.plc_decision_register,
                   reject_coil=config.plc_reject_coil,
                   heartbeat_register=config.plc_heartbeat_register,
                   heartbeat_period_s=config.plc_heartbeat_period_s,
                   timeout_s=config.plc_timeout_s, reconnect_max_s=config.plc_reconnect_max_s)


def decision_registers(part_id: int, verdict: int, reason: int):
    """Return the 4 register values of one decision."""
    part_id &= 0xFFFFFFFF
    return [part_id >> 16, part_id & 0xFFFF, verdict, reason]


class ModbusActuator(LoopThreadActuator):
    """Write decisions, the reject pulse and the heartbeat to a PLC over Modbus TCP."""

    name = 'modbus'
    label = 'PLC'
    thread_name = 'plc-modbus'
    sends_accepts = True

    def __init__(self, config: PlcConfig, clock: Callable[[], float] = time.time,
                 logger: Optional[logging.Logger] = None):
        super().__init__(clock, logger or logging.getLogger('acnn_ros.plc'),
                         stop_timeout_s=2.0 + config.timeout_s,
                         heartbeat_period_s=config.heartbeat_period_s,
                         request_timeout_s=config.timeout_s)
        self.config = config
        self._client: Optional[AsyncModbusTcpClient] = None
        self._pulse_generation = 0
        self._coil_on = False
        self._coil_lock: Optional[asyncio.Lock] = None   # one coil edge sequence at a time

    def status(self) -> ActuatorStatus:
        """Return connection health (for diagnostics)."""
        where = f'{self.config.host}:{self.config.port} unit {self.config.unit}'
        connected = self._client is not None and self._client.connected
        if not connected:
            return ActuatorStatus(False, f'PLC {where} not connected: {self.last_error}')
        if self.responding is False:
            return ActuatorStatus(False, f'PLC {where} not answering: {self.last_error}')
        return ActuatorStatus(True, f'PLC {where} connected')

    # -- loop thread -----------------------------------------------------------------------

    async def _open(self) -> None:
        self._coil_lock = asyncio.Lock()
        # reconnect_delay=0: pymodbus does not reconnect by itself; _keep_connected does.
        self._client = AsyncModbusTcpClient(
            self.config.host, port=self.config.port, timeout=self.config.timeout_s,
            retries=0, reconnect_delay=0)

    def _heartbeat_enabled(self) -> bool:
        return self.config.heartbeat_register >= 0

    async def _close(self) -> None:
        # The ejector must not stay on after the vision system went away.
        if self._coil_on and self._client.connected:
            try:
                await asyncio.wait_for(self._client.write_coil(
                    self.config.reject_coil, False, device_id=self.config.unit),
                    self.config.timeout_s)
            except (asyncio.TimeoutError, ModbusException, OSError) as exc:
                self._log.error(f'could not clear reject coil at shutdown: {exc}')
        self._client.close()

    async def _keep_connected(self) -> None:
        delay = self.config.reconnect_min_s
        while True:
            if self._client.connected and self._failures < FAILURES_BEFORE_RECONNECT:
                await asyncio.sleep(0.02)
                continue
            if self._client.connected:
                self._log.error(f'PLC stopped answering ({self._failures} failed requests): '
                                f'reconnecting in {delay:.2f} s')
                self._client.close()
                self._connected.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2.0, self.config.reconnect_max_s)
            self._connected.clear()
            if await self._client.connect():
                self.stats['connects'] += 1
                self._failures = 0
                if self.responding is not False:   # a PLC that answers again resets the back-off
                    delay = self.config.reconnect_min_s
                self._log.info(f'PLC {self.config.host}:{self.config.port} connected')
                self._connected.set()
            else:
                self.stats['connect_failures'] += 1
                self.last_error = f'connect to {self.config.host}:{self.config.port} failed'
                await asyncio.sleep(delay)
                delay = min(delay * 2.0, self.config.reconnect_max_s)

    async def _request(self, call, deadline: float):
        """Run one Modbus call within min(timeout_s, time left); retry until the deadline."""
        while True:
            left = deadline - self._clock()
            if left <= 0:
                raise PlcUnavailable(self.last_error or 'deadline passed')
            try:
                await asyncio.wait_for(self._connected.wait(), timeout=left)
                left = deadline - self._clock()
                response = await asyncio.wait_for(call(), timeout=min(self.config.timeout_s,
                                                                      max(left, 0.0)))
                if response.isError():
                    raise ModbusException(f'PLC answered with an error: {response}')
            except (asyncio.TimeoutError, ModbusException, OSError) as exc:
                self._failures += 1
                self.responding = False
                self.last_error = f'{type(exc).__name__}: {exc}'.strip(': ')
                if not self._client.connected:
                    self._connected.clear()
                if self._clock() >= deadline:
                    raise PlcUnavailable(self.last_error)
                await asyncio.sleep(0.005)
                continue
            self._failures = 0
            self.responding = True
            return response

    async def _deliver(self, command: ActuationCommand, done: DoneCallback) -> None:
        unit = self.config.unit
        values = decision_registers(command.part_id, command.verdict, command.reason)
        try:
            await self._request(lambda: self._client.write_registers(
                self.config.decision_register, values, device_id=unit), command.deadline)
            fire_time = self._clock()
            if command.pulse and self.config.reject_coil >= 0:
                async with self._coil_lock:   # rejects due together still get an edge each
                    if self._coil_on:
                        await self._request(lambda: self._client.write_coil(
                            self.config.reject_coil, False, device_id=unit), command.deadline)
                    self._coil_on = True   # also when the write fails: clear it at shutdown
                    await self._request(lambda: self._client.write_coil(
                        self.config.reject_coil, True, device_id=unit), command.deadline)
                    fire_time = self._clock()
                    self._pulse_generation += 1
                    asyncio.get_running_loop().create_task(
                        self._end_pulse(self._pulse_generation, command.pulse_width_s))
        except PlcUnavailable as exc:
            self.stats['write_failures'] += 1
            done(ActuationReport(command.part_id, False, None, f'PLC: {exc}'))
            return
        except asyncio.CancelledError:
            done(ActuationReport(command.part_id, False, None, 'PLC client stopped'))
            raise
        self.stats['writes'] += 1
        done(ActuationReport(command.part_id, True, fire_time, 'written to the PLC'))

    async def _end_pulse(self, generation: int, width_s: float) -> None:
        await asyncio.sleep(width_s)
        async with self._coil_lock:
            if generation != self._pulse_generation:
                return   # a newer reject pulse holds the ejector on; it ends the pulse itself
            try:
                # The coil must not stay on: keep trying for a while past the pulse.
                await self._request(lambda: self._client.write_coil(
                    self.config.reject_coil, False, device_id=self.config.unit),
                    self._clock() + max(1.0, 10 * self.config.timeout_s))
                self._coil_on = False
            except PlcUnavailable as exc:
                self._log.error(f'could not clear reject coil {self.config.reject_coil}: {exc}')

    async def _write_not_ready(self, deadline: float) -> None:
        values = decision_registers(NOT_READY_PART_ID, VERDICT_NONE, 0)
        await self._request(lambda: self._client.write_registers(
            self.config.decision_register, values, device_id=self.config.unit), deadline)

    async def _write_heartbeat(self, value: bool, deadline: float) -> None:
        await self._request(lambda: self._client.write_register(
            self.config.heartbeat_register, int(value), device_id=self.config.unit), deadline)
