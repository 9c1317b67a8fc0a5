# SPDX-License-Identifier: Apache-2.0
"""
The shift store's writer: part rows queued by the caller, written in batches on a thread.

The caller (hmi_node's subscription callback) never waits for the database. Rows are written
in one transaction per batch (up to `BATCH_ROWS`, or what arrived within `batch_s`); a batch
that fails (a plant server restarting) is retried after `retry_s` with the same rows, which the
store's conflict rule keeps from being stored twice. The queue is bounded (`max_queued`): a
database away for longer than that many parts loses rows, counted in `dropped` and logged.
"""
import logging
import queue
import threading
import time
from typing import Dict, Optional

from acnn_ros.core.shift.store import ShiftStore

BATCH_ROWS = 500


class ShiftRecorder:
    """Write part rows to a ShiftStore from a thread of its own; `submit` never blocks."""

    def __init__(self, store: ShiftStore, batch_s: float = 0.2, retry_s: float = 1.0,
                 max_queued: int = 100_000, logger: Optional[logging.Logger] = None):
        self.store = store
        self.batch_s = batch_s
        self.retry_s = retry_s
        self._log = logger or logging.getLogger('acnn_ros.shift_recorder')
        self._queue: 'queue.Queue' = queue.Queue(maxsize=max_queued)
        self.written = 0
        self.dropped = 0
        self.failures = 0
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name='shift-recorder', daemon=True)
        self._thread.start()

    def submit(self, row: Dict) -> bool:
        """Queue one part row; False (counted, logged) when the queue is full."""
        try:
            self._queue.put_nowait(row)
            return True
        except queue.Full:
            self.dropped += 1
            self._log.error(f'shift database behind: part {row.get("part_id")} not recorded '
                            f'({self.dropped} lost)')
            return False

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every row submitted so far is written; return whether it was."""
        done = threading.Event()
        self._queue.put(done, timeout=timeout_s)
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued (as far as the database lets), then stop the writer."""
        self.flush(timeout_s)
        self._closing.set()
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch, markers = [], []
            deadline = time.monotonic() + self.batch_s
            while True:
                if isinstance(item, threading.Event):
                    markers.append(item)
                    break                  # a flush: write what came before it now
                if item is None:
                    self._queue.put(None)  # seen after this batch
                    break
                batch.append(item)
                if len(batch) >= BATCH_ROWS:
                    break
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            self._write(batch)
            for marker in markers:
                marker.set()

    def _write(self, batch) -> None:
        while batch:
            try:
                self.store.add_parts(batch)
                self.written += len(batch)
                return
            except Exception as exc:   # the database away: keep the rows, try again
                self.failures += 1
                self._log.error(f'shift database write failed ({len(batch)} parts kept, '
                                f'retry in {self.retry_s:g} s): {exc}')
                if self._closing.is_set():
                    return
                time.sleep(self.retry_s)
