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
- heartbeat register `heartbeat_register`: toggled 0/1 every `heartbeat_period_s`; the PLC
  treats a heartbeat that stops changing as "vision down" and rejects every part.

Everything runs on an asyncio loop in a thread of its own, so a PLC that accepts TCP and never
answers costs missed decisions, never a blocked caller. pymodbus does not retry a *first* failed
connect, so the connection is kept by our own bounded exponential back-off loop (pymodbus's own
reconnection is switched off to have one mechanism only).
"""
import asyncio
from dataclasses import dataclass
import logging
import threading
import time
from typing import Callable, Optional

from acnn_ros.core.actuators import (ActuationCommand, ActuationReport, Actuator, ActuatorStatus,
                                     DoneCallback)
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

# Consecutive failed requests after which the connection is dropped and made again (a PLC
# that accepts TCP but stopped answering is not "connected" in any useful sense).
FAILURES_BEFORE_RECONNECT = 3


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


class _Unavailable(Exception):
    """The PLC could not take the request before the deadline."""


class ModbusActuator(Actuator):
    """Write decisions, the reject pulse and the heartbeat to a PLC over Modbus TCP."""

    name = 'modbus'
    sends_accepts = True

    def __init__(self, config: PlcConfig, clock: Callable[[], float] = time.time,
                 logger: Optional[logging.Logger] = None):
        self.config = config
        self._clock = clock
        self._log = logger or logging.getLogger('acnn_ros.plc')
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._started = threading.Event()
        self._client: Optional[AsyncModbusTcpClient] = None
        self._connected: Optional[asyncio.Event] = None
        self._stopping: Optional[asyncio.Event] = None
        self._pulse_generation = 0
        self._coil_on = False
        self._coil_lock: Optional[asyncio.Lock] = None   # one coil edge sequence at a time
        self._failures = 0
        self.stats = {'connects': 0, 'connect_failures': 0, 'writes': 0, 'write_failures': 0,
                      'heartbeats': 0, 'heartbeat_failures': 0}
        self.last_error = ''
        # None until the PLC answered or failed a request; a new connection does not clear a
        # False (a PLC that accepts TCP but never answers reconnects fine).
        self.responding: Optional[bool] = None

    # -- life cycle (caller's thread) ----------------------------------------------------

    def start(self) -> None:
        """Start the PLC thread; returns at once (the connection is made in the background)."""
        self._thread = threading.Thread(target=self._run, name='plc-modbus', daemon=True)
        self._thread.start()
        self._started.wait(5.0)

    def stop(self) -> None:
        """Stop the PLC thread (at most ~2 s even with a hung PLC)."""
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=2.0 + self.config.timeout_s)

    def actuate(self, command: ActuationCommand, done: DoneCallback) -> None:
        """Queue the command on the PLC thread; never blocks."""
        loop = self._loop
        if loop is None or not loop.is_running():
            done(ActuationReport(command.part_id, False, None, 'PLC client not running'))
            return
        asyncio.run_coroutine_threadsafe(self._deliver(command, done), loop)

    def status(self) -> ActuatorStatus:
        """Return connection health (for diagnostics)."""
        where = f'{self.config.host}:{self.config.port} unit {self.config.unit}'
        connected = self._client is not None and self._client.connected
        if not connected:
            return ActuatorStatus(False, f'PLC {where} not connected: {self.last_error}')
        if self.responding is False:
            return ActuatorStatus(False, f'PLC {where} not answering: {self.last_error}')
        return ActuatorStatus(True, f'PLC {where} connected')

    # -- PLC thread ------------------------------------------------------------------------

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._connected = asyncio.Event()
        self._stopping = asyncio.Event()
        self._coil_lock = asyncio.Lock()
        # reconnect_delay=0: pymodbus does not reconnect by itself; _keep_connected does.
        self._client = AsyncModbusTcpClient(
            self.config.host, port=self.config.port, timeout=self.config.timeout_s,
            retries=0, reconnect_delay=0)
        self._started.set()
        tasks = [asyncio.create_task(self._keep_connected())]
        if self.config.heartbeat_register >= 0:
            tasks.append(asyncio.create_task(self._heartbeat()))
        await self._stopping.wait()
        # Everything still queued is given up (reported missed); then the ejector is released.
        tasks += [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
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
                raise _Unavailable(self.last_error or 'deadline passed')
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
                    raise _Unavailable(self.last_error)
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
        except _Unavailable as exc:
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
            except _Unavailable as exc:
                self._log.error(f'could not clear reject coil {self.config.reject_coil}: {exc}')

    async def _heartbeat(self) -> None:
        value = 0
        period = self.config.heartbeat_period_s
        while True:
            await asyncio.sleep(period)
            if not self._connected.is_set():
                continue
            value ^= 1
            try:
                await self._request(lambda: self._client.write_register(
                    self.config.heartbeat_register, value, device_id=self.config.unit),
                    self._clock() + min(self.config.timeout_s, period / 2.0))
                self.stats['heartbeats'] += 1
            except _Unavailable:
                self.stats['heartbeat_failures'] += 1
