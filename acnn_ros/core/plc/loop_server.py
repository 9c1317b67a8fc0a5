# SPDX-License-Identifier: Apache-2.0
"""
Base of the PLC simulators (Modbus, OPC UA): a server on its own asyncio loop and thread.

Start, stop and restart from any thread; the record of writes survives a restart, so a test
can stop the "PLC", start it again and read everything it received.
"""
import asyncio
import socket
import threading
import time
from typing import Any, List, NamedTuple, Optional


class ReceivedDecision(NamedTuple):
    """A simulator's record of one decision the vision system wrote (part id + verdict code)."""

    time: float
    part_id: int
    verdict: Optional[int]   # the verdict code (contract VERDICT_*); OPC UA: None when absent
    reason: Optional[int]    # the reject reason code; OPC UA: None when absent
    # The contract's check at receipt: None without a valid-until stamp (Modbus: a 4-register
    # block; OPC UA: no ValidUntil in the request), else whether it had not passed (False: a
    # stale decision, ignored by the PLC).
    valid: Optional[bool] = None


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class LoopThreadServer:
    """
    A server whose `_serve()` coroutine runs on an asyncio loop in a thread of its own.

    Subclasses set `label` and `thread_name` and implement `_serve()`: it creates `self._stop`
    (an asyncio.Event), sets `self._ready` once listening, returns after `self._stop` is set, and
    hands every write received to `_add_write`.
    """

    label = 'server'
    thread_name = 'loop-server'
    start_timeout_s = 5.0
    stop_timeout_s = 5.0

    def __init__(self, port: int, host: str = '127.0.0.1'):
        self.host = host
        self.port = port
        self._writes: List[Any] = []
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._stop: Optional[asyncio.Event] = None
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None
        self.on_write = None   # optional callable(write), called on the server thread

    def where(self) -> str:
        """Return where clients connect (for messages)."""
        return f'{self.host}:{self.port}'

    # -- control -----------------------------------------------------------------------------

    def start(self, timeout_s: Optional[float] = None) -> 'LoopThreadServer':
        """Start serving in a background thread; return once listening."""
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s or self.start_timeout_s) or self._error is not None:
            self.stop()
            raise RuntimeError(f'{self.label} did not start on {self.where()}: {self._error}')
        return self

    def stop(self) -> None:
        """Stop serving (client connections are closed); the record of writes is kept."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:   # the loop already ended
                pass
        self._thread.join(timeout=self.stop_timeout_s)
        self._thread = None

    def serve_until_interrupted(self) -> None:
        """Block until Ctrl-C, then stop (the command-line simulators' main loop)."""
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def restart(self) -> 'LoopThreadServer':
        """Stop and start again on the same port."""
        self.stop()
        return self.start()

    def __enter__(self) -> 'LoopThreadServer':
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- records -----------------------------------------------------------------------------

    def writes(self) -> List[Any]:
        """Return every write received so far, oldest first."""
        with self._lock:
            return list(self._writes)

    def clear(self) -> None:
        """Forget the writes received so far."""
        with self._lock:
            self._writes.clear()

    def _add_write(self, write) -> None:
        with self._lock:
            self._writes.append(write)
        if self.on_write is not None:
            self.on_write(write)

    # -- server thread -----------------------------------------------------------------------

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        raise NotImplementedError
