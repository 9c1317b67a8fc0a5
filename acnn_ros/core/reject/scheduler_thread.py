# SPDX-License-Identifier: Apache-2.0
"""
The thread that drives the reject scheduler on a real clock and hands its output out.

`RejectScheduler` (core/reject/scheduler.py) is a state machine that reads no clock and calls
nobody. `SchedulerThread` owns the lock, the clock, the timer thread and the actuator: inputs,
timers and actuator reports go into the state machine under the lock, and what comes out
(actuation commands, final part records) is handed out after the lock is released. So an
actuator that reports from inside `actuate` (topic) or from its own thread (PLC), and a record
consumer that calls back in, never wait for the lock against each other. Records are handed out
in the thread whose input made them final, as commands are by the timer thread: accepted parts
in the caller of `add_result`, fired or missed rejects in the actuator's reporting thread.
Actuators never block the timer thread (see core/plc/actuators.py).

The timer thread and the actuator's I/O threads are the firing path: `start()` isolates them
from the vision load as `isolation` asks (real-time policy, CPU affinity:
core/reject/realtime.py); a refusal by the OS is logged once as a warning and changes nothing
else.
"""
import functools
import logging
import threading
import time
from typing import Callable, List, Optional

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.plc.contract import ActuationReport, Actuator
from acnn_ros.core.reject.counters import LineTally
from acnn_ros.core.reject.decision import RejectPolicy
from acnn_ros.core.reject.fusion import CameraCounters
from acnn_ros.core.reject.realtime import (isolate_executor, isolate_threads,
                                           IsolationResult, IsolationSettings)
from acnn_ros.core.reject.scheduler import (Actuation, Due, PartRecord, RejectScheduler,
                                            SchedulerSettings)
from acnn_ros.core.results import InspectionOutcome


class SchedulerThread:
    """Run a RejectScheduler on `clock` with `actuator`; thread-safe."""

    def __init__(self, settings: SchedulerSettings, policy: RejectPolicy, actuator: Actuator,
                 on_record: Optional[Callable[[PartRecord], None]] = None,
                 clock: Callable[[], float] = time.time,
                 logger: Optional[logging.Logger] = None,
                 isolation: Optional[IsolationSettings] = None):
        self._actuator = actuator
        self._isolation = isolation
        self.isolation_result: Optional[IsolationResult] = None
        self._isolation_warned = False
        self._on_record = on_record or (lambda record: None)
        self._clock = clock
        self._log = logger or logging.getLogger('acnn_ros.reject_scheduler')
        # Not reentrant on purpose: nothing outside this class runs while it is held.
        self._lock = threading.Condition(threading.Lock())
        self._scheduler = RejectScheduler(settings, policy, actuator.name,
                                          actuator.sends_accepts, clock(), self._log)
        self._running = False
        self._thread: Optional[threading.Thread] = None

    # -- control -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the timer thread."""
        with self._lock:
            self._running = True
        self._thread = threading.Thread(target=self._run, name='reject-scheduler', daemon=True)
        self._thread.start()
        if self._isolation is not None and self._isolation.requested:
            # The caller of start() is the node's executor (it runs the activate transition).
            self.isolation_result = result = isolate_threads(
                self._isolation, self.timing_threads()) + isolate_executor(
                self._isolation, threading.get_native_id())
            if result.ok:
                self._log.info(f'firing path isolated: {result.summary}')
            elif not self._isolation_warned:   # once, not at every activation
                self._isolation_warned = True
                self._log.warning(result.warning)

    def timing_threads(self) -> List[int]:
        """Return the native ids of the firing path: the timer thread, the actuator's I/O."""
        thread = self._thread
        own = [thread.native_id] if thread is not None and thread.is_alive() else []
        return own + self._actuator.timing_threads()

    def stop(self) -> None:
        """Stop the timer thread; pending parts stay (`report_pending` gives them up)."""
        with self._lock:
            self._running = False
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def report_pending(self, detail: str, wait_s: float = 1.0) -> int:
        """
        After `stop()`: report every unfinished part fail-safe (one record each); return them.

        Rejects already with the actuator get up to `wait_s` for its report (their deadline is
        near), then are given up too.
        """
        with self._lock:
            records = self._scheduler.abandon_pending(self._clock(), detail)
            end = time.monotonic() + wait_s
            while self._scheduler.in_actuator() and time.monotonic() < end:
                self._lock.wait(0.02)
            records += self._scheduler.abandon_pending(self._clock(), detail,
                                                       include_issued=True)
        for record in records:
            self._emit(record)
        return len(records)

    def set_policy(self, policy: RejectPolicy) -> None:
        """Apply a new policy to every decision made from now on."""
        with self._lock:
            self._scheduler.set_policy(policy)

    def counters_snapshot(self) -> LineTally:
        """Return a consistent copy of the counters."""
        with self._lock:
            return self._scheduler.counters_snapshot()

    def camera_counters_snapshot(self) -> CameraCounters:
        """Return a consistent copy of the per-camera counters (none with one camera)."""
        with self._lock:
            return self._scheduler.camera_counters.snapshot()

    def active_faults(self) -> List[str]:
        """Return a line for each open fault episode; end those that end by silence."""
        with self._lock:
            self._scheduler.poll_faults(self._clock())
            return self._scheduler.active_faults()

    def close_faults(self, why: str) -> None:
        """Sum up the open fault episodes once (the line stops)."""
        with self._lock:
            self._scheduler.close_faults(self._clock(), why)

    def reset_counters(self) -> LineTally:
        """Zero the counters; return their values before the reset."""
        with self._lock:
            return self._scheduler.reset_counters(self._clock())

    # -- inputs ------------------------------------------------------------------------------

    def add_trigger(self, key: FrameKey, part_id: int) -> None:
        """Register a captured part and start its inspection window."""
        with self._lock:
            record = self._scheduler.add_trigger(key, part_id, self._clock())
            self._lock.notify_all()
        self._emit(record)

    def add_result(self, key: FrameKey, outcome: InspectionOutcome) -> None:
        """Take the inspection result of the frame `key` (decides its part when known)."""
        with self._lock:
            record = self._scheduler.add_result(key, outcome, self._clock())
            self._lock.notify_all()
        self._emit(record)

    def _on_report(self, actuation: Actuation, report: ActuationReport) -> None:
        # From inside actuate() (topic) or from the actuator's own thread (PLC).
        with self._lock:
            record = self._scheduler.on_report(actuation, report)
            self._lock.notify_all()
        self._emit(record)

    # -- output ------------------------------------------------------------------------------

    def _emit(self, record: Optional[PartRecord]) -> None:
        if record is None:
            return
        try:
            self._on_record(record)
        except Exception:  # a faulty consumer must not stop the line
            self._log.exception('record consumer failed')

    # -- timer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                due = self._wait_for_due()
            if due is None:
                return
            for actuation in due.actuations:
                self._actuator.actuate(actuation.command,
                                       functools.partial(self._on_report, actuation))
            for record in due.records:
                self._emit(record)

    def _wait_for_due(self) -> Optional[Due]:
        """With the lock held: wait until a timer is due and run it; None once stopped."""
        while self._running:
            now = self._clock()
            next_due = self._scheduler.next_due()
            if next_due is not None and next_due <= now:
                return self._scheduler.advance(now)
            # Re-read the clock at least every second (an input notifies at once).
            self._lock.wait(None if next_due is None else min(next_due - now, 1.0))
        return None
