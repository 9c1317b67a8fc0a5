# SPDX-License-Identifier: Apache-2.0
"""
Base of the PLC backends (Modbus TCP, OPC UA) whose I/O runs on an asyncio loop of its own.

The caller's side never blocks: `actuate` hands the command to the loop thread and returns.
Every command is reported exactly once: when the backend's `_send_decision` returns or fails,
or with delivered=False when the loop is not running or stops before the command was done.
"""
import asyncio
import concurrent.futures
import logging
import threading
import time
from typing import Callable, List, Optional, Set

from acnn_ros.core.plc.contract import (ActuationCommand, ActuationReport, Actuator,
                                        ActuatorStatus, DoneCallback)

# Consecutive failed requests after which the connection is dropped and made again (a PLC
# that keeps the socket open but stopped answering is not "connected" in any useful sense).
FAILURES_BEFORE_RECONNECT = 3


class PlcUnavailable(Exception):
    """The PLC could not take a request before its deadline (or refused it)."""


class OnceCallback:
    """The `done` of one command, called at most once whichever thread gets there first."""

    def __init__(self, done: DoneCallback, part_id: int, pending: Set['OnceCallback'],
                 lock: threading.Lock):
        self._done = done
        self.part_id = part_id
        self._pending = pending
        self._lock = lock
        self.called = False

    def __call__(self, report: ActuationReport) -> None:
        """Report `report` unless this command was reported already."""
        with self._lock:
            if self.called:
                return
            self.called = True
            self._pending.discard(self)
        self._done(report)


class LoopThreadActuator(Actuator):
    """
    An actuator whose requests run on an asyncio loop in a thread of its own.

    Subclasses set `name`, `label` and `target` and implement the coroutines `_open` (create the
    client on the loop), `_keep_connected`, `_write_heartbeat(value, deadline)` (when
    `_heartbeat_enabled()`), `_send_decision(command)` and `_close`; they keep `_connected`,
    `_failures`, `stats`, `last_error` and `responding` up to date for `status()`
    (`_answered` / `_unanswered` after each request).
    """

    label = 'PLC'               # names the backend in reports
    target = 'PLC'              # what a delivered decision was written to
    sends_accepts = True        # the PLC is told every decision, accepts included

    @property
    def thread_name(self) -> str:
        """Name the I/O thread after the protocol (plc-modbus, plc-opcua)."""
        return f'plc-{self.name}'

    def __init__(self, config, clock: Callable[[], float] = time.time,
                 logger: Optional[logging.Logger] = None):
        """Take the protocol's config (its `timeout_s` and `heartbeat_period_s` are used here)."""
        self.config = config
        self._clock = clock
        self._log = logger or logging.getLogger(f'acnn_ros.{self.name}')
        self._stop_timeout_s = 2.0 + config.timeout_s
        self._heartbeat_period_s = config.heartbeat_period_s
        self._request_timeout_s = config.timeout_s
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._started = threading.Event()
        self._connected: Optional[asyncio.Event] = None
        self._stopping: Optional[asyncio.Event] = None
        self._pending: Set[OnceCallback] = set()   # commands not reported yet
        self._lock = threading.Lock()
        self._failures = 0
        self.stats = {'connects': 0, 'connect_failures': 0, 'writes': 0, 'write_failures': 0,
                      'rejects_not_written': 0, 'heartbeats': 0, 'heartbeat_failures': 0}
        self.last_error = ''
        # None until the PLC answered or failed a request; a new connection does not clear a
        # False (a PLC that accepts TCP but never answers reconnects fine).
        self.responding: Optional[bool] = None
        # Vision ready: the heartbeat runs. Not ready: it stops and the not-ready values are
        # written (set_ready); read on the loop thread, set from any thread.
        self._ready = True
        # The link's story, said once each (issue 19): unreachable at start, lost, back.
        self._ever_answered = False
        self._outage_since: Optional[float] = None
        self._back_since: Optional[float] = None   # answering again, not yet for long
        self._outage_stats = dict(self.stats)

    # -- life cycle (caller's thread) ----------------------------------------------------

    def start(self) -> None:
        """Start the loop thread; returns at once (the connection is made in the background)."""
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        self._started.wait(5.0)

    def stop(self) -> None:
        """Stop the loop thread (bounded even with a hung PLC); report what is left missed."""
        loop = self._loop
        if loop is not None and loop.is_running():
            try:
                loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:   # the loop closed meanwhile
                pass
        if self._thread is not None:
            self._thread.join(timeout=self._stop_timeout_s)
        with self._lock:
            pending = list(self._pending)
        for done in pending:   # commands the stopped loop never finished
            done(ActuationReport(done.part_id, False, None, f'{self.label} client stopped'))

    def set_ready(self, ready: bool, timeout_s: float = 1.0) -> bool:
        """
        Start (ready) or stop the heartbeat; not ready also writes the not-ready values.

        Waits up to `timeout_s` for the PLC to take the not-ready write and returns whether it
        did (False also before `start()`: then only the heartbeat stays off). Ready returns at
        once; the heartbeat resumes within one period.
        """
        self._ready = bool(ready)
        loop = self._loop
        if ready:
            return True
        if (loop is None or not loop.is_running() or self._stopping is None
                or self._stopping.is_set()):
            return False
        future = asyncio.run_coroutine_threadsafe(
            self._write_not_ready(self._clock() + timeout_s), loop)
        try:
            future.result(timeout=timeout_s + 0.5)
        except (PlcUnavailable, concurrent.futures.TimeoutError,
                concurrent.futures.CancelledError) as exc:
            self._log.error(f'{self.label}: vision not-ready signal not written ({exc}); the '
                            'stopped heartbeat tells the PLC')
            return False
        self._log.info(f'{self.label}: vision not ready written')
        return True

    def actuate(self, command: ActuationCommand, done: DoneCallback) -> None:
        """Queue the command on the loop thread; never blocks."""
        once = OnceCallback(done, command.part_id, self._pending, self._lock)
        with self._lock:
            self._pending.add(once)
        loop = self._loop
        try:
            if (loop is None or not loop.is_running() or self._stopping is None
                    or self._stopping.is_set()):
                raise RuntimeError('not running')
            asyncio.run_coroutine_threadsafe(self._deliver(command, once), loop)
        except RuntimeError:   # not started, stopping, or the loop closed meanwhile
            once(ActuationReport(command.part_id, False, None,
                                 f'{self.label} client not running'))

    def timing_threads(self) -> List[int]:
        """Return the native id of the I/O loop thread (it writes every decision)."""
        thread = self._thread
        return [thread.native_id] if thread is not None and thread.is_alive() else []

    # -- loop thread -----------------------------------------------------------------------

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._connected = asyncio.Event()
        self._stopping = asyncio.Event()
        await self._open()
        self._started.set()
        tasks = [asyncio.create_task(self._keep_connected())]
        if self._heartbeat_enabled():
            tasks.append(asyncio.create_task(self._heartbeat()))
        await self._stopping.wait()
        # Everything still queued is given up (reported missed), then the connection closed.
        tasks += [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._connected.clear()
        await self._close()
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    async def _heartbeat(self) -> None:
        """Toggle the heartbeat every period while connected; a missed beat is only counted."""
        value = False
        period = self._heartbeat_period_s
        while True:
            await asyncio.sleep(period)
            if not self._connected.is_set() or not self._ready:
                continue
            value = not value
            try:
                await self._write_heartbeat(
                    value, self._clock() + min(self._request_timeout_s, period / 2.0))
                self.stats['heartbeats'] += 1
            except PlcUnavailable as exc:
                self.stats['heartbeat_failures'] += 1
                self._log.debug(f'heartbeat not written: {exc}')

    # -- the link's story (loop thread) ---------------------------------------------------

    def where(self) -> str:
        """Return where the PLC is, for log lines (host:port or endpoint)."""
        return '?'

    def _link_failed(self, reason: str) -> None:
        """Say once per outage that the PLC cannot be reached (at start) or was lost."""
        if self._outage_since is not None:
            self._back_since = None    # it answered but did not hold: the same outage goes on
            return
        self._outage_since = self._clock()
        self._outage_stats = dict(self.stats)
        what = 'lost' if self._ever_answered else 'unreachable'
        self._log.error(f'{self.label} {self.where()} {what}: {reason}; retrying in the '
                        'background; every decision meanwhile is reported not delivered and '
                        'the PLC rejects by its default')

    def _link_up(self) -> None:
        """
        Note that the PLC answers: said at the first connection; after an outage, once it holds.

        A PLC that resumes from a stall is slow for a moment while it works off its backlog: a
        request unanswered right after it came back is the same outage, not a second one.
        """
        if self._outage_since is not None:
            if self._back_since is None:
                self._back_since = self._clock()
            return
        if not self._ever_answered:
            self._log.info(f'{self.label} {self.where()} connected and answering')
        self._ever_answered = True

    def _link_settle(self) -> None:
        """Once the PLC has answered for a heartbeat period: say the outage ended, its cost."""
        back = self._back_since
        if back is None or self._clock() - back < self._heartbeat_period_s:
            return
        lost = {k: self.stats[k] - self._outage_stats[k] for k in self.stats}
        self._log.warning(
            f'{self.label} {self.where()} answering again after '
            f'{back - self._outage_since:.1f} s: {lost["write_failures"]} '
            f'decisions not delivered meanwhile ({lost["rejects_not_written"]} of them '
            f'rejects), {lost["heartbeat_failures"]} heartbeats missed')
        self._outage_since = self._back_since = None
        self._ever_answered = True

    def status(self) -> ActuatorStatus:
        """Return connection health (for diagnostics)."""
        where = self._status_where()
        if not self._is_connected():
            return ActuatorStatus(False, f'{self.label} {where} not connected: {self.last_error}')
        if self.responding is False:
            return ActuatorStatus(False, f'{self.label} {where} not answering: {self.last_error}')
        return ActuatorStatus(True, f'{self.label} {where} connected')

    def _status_where(self) -> str:
        return self.where()

    def _is_connected(self) -> bool:
        return self._connected is not None and self._connected.is_set()

    # -- one request (loop thread) ---------------------------------------------------------

    async def _wait_for_link(self, deadline: float) -> float:
        """Wait until connected; return the time left, or raise PlcUnavailable at the deadline."""
        left = deadline - self._clock()
        if left <= 0:
            raise PlcUnavailable(self.last_error or 'deadline passed')
        try:
            await asyncio.wait_for(self._connected.wait(), timeout=left)
        except asyncio.TimeoutError:
            # No connection until the deadline: nothing was sent, no request is pending.
            raise PlcUnavailable(self.last_error or 'not connected') from None
        return deadline - self._clock()

    def _answered(self) -> None:
        self._failures = 0
        self.responding = True

    def _unanswered(self, exc: BaseException, budget_s: Optional[float] = None) -> None:
        """
        Count a failed request; one the PLC left unanswered condemns the connection.

        `budget_s`: what the request was given. A timeout within less than the PLC's reply
        timeout is the decision's own deadline running out (a 50-ms firing budget on a busy
        PC), not a PLC that stopped answering: the decision is not delivered, the link stays.
        Condemning the link for it dropped and remade a good connection again and again,
        and every decision in between was lost (the soak, issue 26: 15-43 s stretches).
        """
        if isinstance(exc, asyncio.TimeoutError) and budget_s is not None \
                and budget_s < self._request_timeout_s:
            self.last_error = (f'no answer in the {budget_s * 1000:.0f} ms left before the '
                               'deadline')
            return
        self._failures += 1
        self.responding = False
        self.last_error = f'{type(exc).__name__}: {exc}'.strip(': ')
        if isinstance(exc, asyncio.TimeoutError):
            # Unanswered: the PLC may still hold it. Send nothing more on this connection;
            # _keep_connected drops it and makes a new one.
            self.last_error = f'no answer within {self._request_timeout_s:g} s'
            self._failures = FAILURES_BEFORE_RECONNECT
            self._connected.clear()

    async def _deliver(self, command: ActuationCommand, done: DoneCallback) -> None:
        """Send one decision by `_send_decision`; report it exactly once."""
        try:
            fire_time = await self._send_decision(command)
        except PlcUnavailable as exc:
            self.stats['write_failures'] += 1
            if command.reject:
                self.stats['rejects_not_written'] += 1
            done(ActuationReport(command.part_id, False, None, f'{self.label}: {exc}'))
            return
        except asyncio.CancelledError:
            done(ActuationReport(command.part_id, False, None, f'{self.label} client stopped'))
            raise
        self.stats['writes'] += 1
        done(ActuationReport(command.part_id, True, fire_time, f'written to the {self.target}'))

    # -- what a backend implements ---------------------------------------------------------

    async def _open(self) -> None:
        """Create the client objects (on the loop thread)."""

    async def _close(self) -> None:
        """Release the outputs and close the connection (tasks are cancelled already)."""

    def _heartbeat_enabled(self) -> bool:
        return False

    async def _keep_connected(self) -> None:
        raise NotImplementedError

    async def _write_heartbeat(self, value: bool, deadline: float) -> None:
        """Write the heartbeat `value` by `deadline`; raise PlcUnavailable if it cannot."""
        raise NotImplementedError

    async def _send_decision(self, command: ActuationCommand) -> float:
        """Write the decision of `command`; return when it was issued, or raise PlcUnavailable."""
        raise NotImplementedError

    async def _write_not_ready(self, deadline: float) -> None:
        """Write the not-ready values by `deadline`; raise PlcUnavailable if it cannot."""
        raise NotImplementedError
