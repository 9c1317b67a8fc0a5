# SPDX-License-Identifier: Apache-2.0
"""
PLC client over Modbus TCP (pymodbus 3.16.1, pinned: the client API changed across 3.x).

Register map (protocol addresses, all configurable, nothing else is ever written):

- decision block, 6 holding registers from `decision_register`:
  part id high word, part id low word, verdict (1 accept, 2 reject), reason (RejectEvent.REASON_*),
  valid-until high word, low word (the decision's deadline in the PLC's own millisecond
  counter, read from `clock_register`: core/plc/validity.py), written in ONE write (function
  16), so the PLC never sees a part id with another part's verdict or validity. With
  `clock_register` -1 the block is the first 4 registers only (no stale-decision protection).
  Writing the same block twice has the same effect as once (idempotent, keyed by part id): a
  write whose reply was lost is simply written again.
- reject coil `reject_coil`: set at the due time of a reject, cleared `pulse_width_s` later
  (fixed-delay timing only). Every reject is its own rising edge: a reject due while the
  previous pulse is still on clears the coil for one request round trip and sets it again, so
  a PLC counting edges counts every reject (an ejector valve does not react to a ~1 ms gap).
- PLC clock `clock_register` (read only): 2 holding registers, the PLC's free-running
  millisecond counter (high word first), read at every connection (a connection counts as up
  only once the PLC answered it) and every heartbeat period to map vision time to PLC time.
- heartbeat register `heartbeat_register`: toggled 0/1 every `heartbeat_period_s` while vision
  is ready; the PLC treats a heartbeat that stops changing as "vision down" and rejects every
  part.
- vision not ready (`set_ready(False)`: node deactivated or shutting down): the heartbeat
  stops and the decision block is written back to its power-up values, part id 0 (never a
  part), verdict 0 (no verdict), reason 0; `set_ready(True)` restarts the heartbeat.

Everything runs on an asyncio loop in a thread of its own, so a PLC that accepts TCP and never
answers costs missed decisions, never a blocked caller. pymodbus does not retry a *first* failed
connect, so the connection is kept by our own bounded exponential back-off loop (pymodbus's own
reconnection is switched off to have one mechanism only). A request that got no answer in time
drops the connection at once: a stalled PLC buffers what it is sent, so nothing more is sent
into that connection (the validity stamp makes what it still holds harmless).
"""
import asyncio
import logging
import time
from typing import Callable, Optional

from acnn_ros.core.plc.contract import (ActuationCommand, NOT_READY_PART_ID,
                                        VERDICT_NONE)
from acnn_ros.core.plc.loop_actuator import (FAILURES_BEFORE_RECONNECT, LoopThreadActuator,
                                             PlcUnavailable)
from acnn_ros.core.plc.modbus.config import ModbusConfig
from acnn_ros.core.plc.validity import clock_words, PlcClock, words_ms
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

# pymodbus logs its own 'Failed to connect' / 'Repeating....' lines and frame dumps; every
# consequence is said by this client in the node's log instead (once per outage).
logging.getLogger('pymodbus').setLevel(logging.CRITICAL)


def decision_registers(part_id: int, verdict: int, reason: int,
                       valid_until_ms: Optional[int] = None):
    """Return the register values of one decision: 4, or 6 with a validity stamp."""
    part_id &= 0xFFFFFFFF
    words = [part_id >> 16, part_id & 0xFFFF, verdict, reason]
    return words if valid_until_ms is None else words + list(clock_words(valid_until_ms))


class ModbusActuator(LoopThreadActuator):
    """Write decisions, the reject pulse and the heartbeat to a PLC over Modbus TCP."""

    name = 'modbus'
    label = 'PLC'

    def __init__(self, config: ModbusConfig, clock: Callable[[], float] = time.time,
                 logger: Optional[logging.Logger] = None):
        super().__init__(config, clock, logger)
        self._client: Optional[AsyncModbusTcpClient] = None
        self._pulse_generation = 0
        self._coil_on = False
        self._coil_lock: Optional[asyncio.Lock] = None   # one coil edge sequence at a time
        self.plc_clock = PlcClock(max_round_trip_s=config.timeout_s)
        self._clock_read_at = 0.0

    def where(self) -> str:
        """Return host:port of the PLC."""
        return f'{self.config.host}:{self.config.port}'

    def _status_where(self) -> str:
        return f'{self.where()} unit {self.config.unit}'

    def _is_connected(self) -> bool:
        return self._client is not None and self._client.connected

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
            # A request that went unanswered for timeout_s cleared _connected (condemned the
            # connection). Another request answered just after it resets _failures, so the
            # cleared event, not the count, says that a new connection is due: gating on the
            # count alone left the link cleared and never remade (the 60-min soak, issue 26:
            # every decision "no answer within 0.1 s" for 89 and 497 s, heartbeats answered).
            if self._client.connected and self._connected.is_set() \
                    and self._failures < FAILURES_BEFORE_RECONNECT:
                self._link_settle()
                if (self.config.clock_register >= 0 and self._clock() - self._clock_read_at
                        >= self.config.heartbeat_period_s):
                    await self._probe()      # keeps the PLC clock mapping fresh
                await asyncio.sleep(0.02)
                continue
            if self._client.connected:
                self._drop(f'{max(self._failures, 1)} requests unanswered ({self.last_error})')
                await asyncio.sleep(delay)
                delay = min(delay * 2.0, self.config.reconnect_max_s)
            self._connected.clear()
            if await self._client.connect() and await self._probe():
                self.stats['connects'] += 1
                self._failures = 0
                if self.responding is not False:   # a PLC that answers again resets the back-off
                    delay = self.config.reconnect_min_s
                self._link_up()
                self._connected.set()
                continue
            if self._client.connected:
                self._drop(self.last_error)
            else:
                self.last_error = await self._why_no_connection()
            self.stats['connect_failures'] += 1
            self._link_failed(self.last_error)
            await asyncio.sleep(delay)
            delay = min(delay * 2.0, self.config.reconnect_max_s)

    async def _why_no_connection(self) -> str:
        try:
            await asyncio.get_running_loop().getaddrinfo(self.config.host, self.config.port)
        except OSError as exc:   # socket.gaierror: the name does not resolve
            return f'host name {self.config.host!r} does not resolve ({exc})'
        return f'TCP connect to {self.where()} failed (no listener, or refused)'

    def _drop(self, why: str) -> None:
        """Close the connection: nothing more goes into a connection the PLC stopped reading."""
        self._link_failed(why)
        self._connected.clear()
        self._client.close()
        self.plc_clock.forget()

    async def _probe(self) -> bool:
        """Read the PLC clock (or the decision block): the connection is up once it answers."""
        address = (self.config.clock_register if self.config.clock_register >= 0
                   else self.config.decision_register)
        sent = self._clock()
        try:
            response = await asyncio.wait_for(self._client.read_holding_registers(
                address, count=2, device_id=self.config.unit), self.config.timeout_s)
            if response.isError():
                raise ModbusException(f'PLC refused reading register {address}: {response}')
        except (asyncio.TimeoutError, ModbusException, OSError) as exc:
            self._failures += 1
            self.responding = False
            self.last_error = (f'no answer to a read of register {address} within '
                               f'{self.config.timeout_s:g} s' if isinstance(
                                   exc, asyncio.TimeoutError) else f'{type(exc).__name__}: {exc}')
            if isinstance(exc, asyncio.TimeoutError):
                self._failures = FAILURES_BEFORE_RECONNECT
            return False
        answered = self._clock()
        self._clock_read_at = answered
        self.responding = True
        if self.config.clock_register >= 0:
            self.plc_clock.observe(words_ms(*response.registers[:2]), sent, answered)
        return True

    async def _request(self, call, deadline: float):
        """Run one Modbus call within min(timeout_s, time left); retry until the deadline."""
        while True:
            budget = min(self.config.timeout_s, max(await self._wait_for_link(deadline), 0.0))
            try:
                response = await asyncio.wait_for(call(), timeout=budget)
                if response.isError():
                    raise ModbusException(f'PLC answered with an error: {response}')
            except (asyncio.TimeoutError, ModbusException, OSError) as exc:
                self._unanswered(exc, budget)
                if not self._client.connected:
                    self._connected.clear()
                if self._clock() >= deadline:
                    raise PlcUnavailable(self.last_error)
                await asyncio.sleep(0.005)
                continue
            self._answered()
            return response

    async def _send_decision(self, command: ActuationCommand) -> float:
        unit = self.config.unit
        # The block is made once connected: its stamp needs the PLC clock of this link.
        await self._request(lambda: self._client.write_registers(
            self.config.decision_register, self._block(
                command.part_id, command.verdict, command.reason, command.deadline),
            device_id=unit), command.deadline)
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
        return fire_time

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

    def _block(self, part_id: int, verdict: int, reason: int, valid_until: float):
        """Return the decision block, stamped valid until `valid_until` (vision clock)."""
        if self.config.clock_register < 0:
            return decision_registers(part_id, verdict, reason)
        try:
            stamp = self.plc_clock.plc_ms(valid_until)
        except LookupError:
            raise PlcUnavailable('PLC clock not read yet (not connected)') from None
        return decision_registers(part_id, verdict, reason, stamp)

    async def _write_not_ready(self, deadline: float) -> None:
        await self._request(lambda: self._client.write_registers(
            self.config.decision_register, self._block(NOT_READY_PART_ID, VERDICT_NONE, 0,
                                                       deadline),
            device_id=self.config.unit), deadline)

    async def _write_heartbeat(self, value: bool, deadline: float) -> None:
        await self._request(lambda: self._client.write_register(
            self.config.heartbeat_register, int(value), device_id=self.config.unit), deadline)
