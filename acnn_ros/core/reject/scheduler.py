# SPDX-License-Identifier: Apache-2.0
"""
The reject scheduler: exactly one decision per part, actuated when the part is at the ejector.

Inputs are capture events (`add_trigger`: frame key + part id, from PartTrigger) and inspection
outcomes (`add_result`: frame key + InspectionOutcome); a frame key is the image header
(stamp in nanoseconds + frame_id). For every part:

- the result is joined with its trigger by key, in either arrival order;
- `decide()` (core/reject/decision.py) turns it into accept / reject + reason;
- no result within `inspection_window_s` of capture -> fail-safe reject (REASON_NO_RESULT);
- the actuation is due at capture stamp + `reject_delay_s`; with fixed-delay timing the command
  is issued at that moment, with PLC tracking it is issued at once (the PLC times the ejector);
- a decision made after the part passed the ejector is LATE (counted, logged as an error);
- a second result for a decided part is ignored (counted as a duplicate).

Each part is its own entry keyed by its frame, so consecutive bad parts are each rejected
(a naive shift register that stores "reject the next part" collapses them).

Without triggers (`use_part_trigger=False`) part ids are assigned in result arrival order and a
part whose result never arrives cannot be rejected by vision: the PLC-side default "no verdict =
reject" is then the only safeguard.

One worker thread runs the timers; actuators never block it (see core/plc/actuators.py).
"""
from dataclasses import dataclass
import heapq
import itertools
import logging
import threading
import time
from typing import Callable, Dict, NamedTuple, Optional

from acnn_ros.core.plc.actuators import ActuationCommand, ActuationReport, Actuator
from acnn_ros.core.reject.counters import Delivery, LineCounters
from acnn_ros.core.reject.decision import decide, Decision, RejectPolicy
from acnn_ros.core.results import InspectionOutcome

# Decided frame keys remembered to recognise duplicate results.
REMEMBERED_PARTS = 20000


class FrameKey(NamedTuple):
    """Identity of a frame: capture stamp (ns) and frame_id, as in its header."""

    stamp_ns: int
    frame_id: str

    @property
    def capture_time(self) -> float:
        """Return the capture stamp in seconds."""
        return self.stamp_ns * 1e-9


@dataclass(frozen=True)
class SchedulerSettings:
    """Timing of the line (see RejectActuatorConfig for the meaning of each)."""

    reject_delay_s: float = 0.5
    pulse_width_s: float = 0.03
    inspection_window_s: float = 0.25
    max_fire_lateness_s: float = 0.01
    use_part_trigger: bool = True
    timing: str = 'fixed_delay'

    @classmethod
    def from_config(cls, config) -> 'SchedulerSettings':
        """Take the timing fields of a RejectActuatorConfig."""
        return cls(config.reject_delay_s, config.pulse_width_s, config.inspection_window_s,
                   config.max_fire_lateness_s, config.use_part_trigger, config.timing)


@dataclass(frozen=True)
class PartRecord:
    """Final outcome of one part: what the node publishes as a RejectEvent."""

    part_id: int
    key: FrameKey
    decision: Decision
    outcome: Optional[InspectionOutcome]
    due_time: float
    decided_time: float
    delivery: Delivery
    fire_time: Optional[float]
    actuator: str
    delivery_detail: str = ''


class _Part:
    __slots__ = ('part_id', 'key', 'outcome', 'triggered', 'decision', 'decided_time')

    def __init__(self, key: FrameKey, part_id: int = 0):
        self.key = key
        self.part_id = part_id
        self.outcome: Optional[InspectionOutcome] = None
        self.triggered = False
        self.decision: Optional[Decision] = None
        self.decided_time = 0.0


class RejectScheduler:
    """Join, decide, schedule and count; thread-safe."""

    def __init__(self, settings: SchedulerSettings, policy: RejectPolicy, actuator: Actuator,
                 on_record: Optional[Callable[[PartRecord], None]] = None,
                 clock: Callable[[], float] = time.time,
                 logger: Optional[logging.Logger] = None):
        self.settings = settings
        self._policy = policy
        self._actuator = actuator
        self._on_record = on_record or (lambda record: None)
        self._clock = clock
        self._log = logger or logging.getLogger('acnn_ros.reject_scheduler')
        self._lock = threading.Condition()
        self._timers = []                       # heap of (time, seq, action, key)
        self._seq = itertools.count()
        self._parts: Dict[FrameKey, _Part] = {}  # not yet decided, or awaiting actuation
        # Decided keys -> whether a result was seen (insertion ordered, bounded).
        self._decided: Dict[FrameKey, bool] = {}
        self._next_part_id = 1
        self._running = False
        self._thread: Optional[threading.Thread] = None
        self.counters = LineCounters(since=clock())
        if not settings.use_part_trigger:
            self._log.warning(
                'use_part_trigger is false: part ids follow result arrival order and a part '
                'whose result never arrives CANNOT be rejected by vision; the PLC must reject '
                'parts without a verdict')

    # -- control -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the timer thread."""
        with self._lock:
            self._running = True
        self._thread = threading.Thread(target=self._run, name='reject-scheduler', daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the timer thread (pending parts are dropped: the PLC's default covers them)."""
        with self._lock:
            self._running = False
            self._lock.notify_all()
            if self._parts:
                self._log.warning(f'stopping with {len(self._parts)} parts undecided or not yet '
                                  'actuated; the PLC must reject parts without a verdict')
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    @property
    def policy(self) -> RejectPolicy:
        """Return the policy in force."""
        return self._policy

    def set_policy(self, policy: RejectPolicy) -> None:
        """Apply a new policy to every decision made from now on."""
        with self._lock:
            self._policy = policy

    def counters_snapshot(self) -> LineCounters:
        """Return a consistent copy of the counters."""
        with self._lock:
            return self.counters.snapshot()

    def reset_counters(self) -> LineCounters:
        """Zero the counters; return their values before the reset."""
        with self._lock:
            before = self.counters.snapshot()
            self.counters.reset(self._clock())
            return before

    def pending(self) -> int:
        """Return how many parts await a result or an actuation outcome."""
        with self._lock:
            return len(self._parts)

    # -- inputs ------------------------------------------------------------------------------

    def add_trigger(self, key: FrameKey, part_id: int) -> None:
        """Register a captured part and start its inspection window."""
        if not self.settings.use_part_trigger:
            return
        with self._lock:
            if key in self._decided or (key in self._parts and self._parts[key].triggered):
                self._log.warning(f'duplicate trigger for part {part_id} ({key}): ignored')
                return
            part = self._parts.setdefault(key, _Part(key))
            part.part_id = part_id
            part.triggered = True
            if part.outcome is not None:
                self._decide(part, part.outcome)
            else:
                self._add_timer(key.capture_time + self.settings.inspection_window_s,
                                'window', key)
            self._lock.notify_all()

    def add_result(self, key: FrameKey, outcome: InspectionOutcome) -> None:
        """Take the inspection result of the frame `key` (decides its part when known)."""
        with self._lock:
            now = self._clock()
            if now > key.capture_time + self.settings.reject_delay_s:
                self.counters.late_results += 1
                self._log.error(f'LATE RESULT: frame {key} arrived '
                                f'{now - key.capture_time:.3f} s after capture, after its part '
                                f'passed the ejector (reject_delay_s '
                                f'{self.settings.reject_delay_s})')
            if key in self._decided:
                if self._decided[key]:
                    self.counters.duplicate_results += 1
                    self._log.warning(f'second result for the part of frame {key}: ignored '
                                      '(exactly one decision per part)')
                else:
                    self._decided[key] = True
                    self._log.warning(f'result for frame {key} came after its inspection '
                                      'window: the part was already rejected (no result)')
                return
            if not self.settings.use_part_trigger:
                part = _Part(key, self._next_part_id)
                self._next_part_id += 1
                self._parts[key] = part
                self._decide(part, outcome)
            else:
                part = self._parts.setdefault(key, _Part(key))
                if part.outcome is not None:
                    self.counters.duplicate_results += 1
                    return
                part.outcome = outcome
                if part.triggered:
                    self._decide(part, outcome)
                else:
                    # The result overtook its trigger (two topics): wait for it a while.
                    self._add_timer(key.capture_time + self.settings.inspection_window_s,
                                    'orphan', key)
            self._lock.notify_all()

    # -- decisions (called with the lock held) ---------------------------------------------

    def _decide(self, part: _Part, outcome: Optional[InspectionOutcome]) -> None:
        decision = decide(outcome, self._policy)
        now = self._clock()
        part.decision = decision
        part.decided_time = now
        self._decided[part.key] = outcome is not None
        while len(self._decided) > REMEMBERED_PARTS:
            del self._decided[next(iter(self._decided))]
        due = part.key.capture_time + self.settings.reject_delay_s
        deadline = self._deadline(due)
        if now > deadline:
            self._log.error(f'LATE DECISION: part {part.part_id} decided {now - due:.3f} s after '
                            f'its due time ({decision.reason.name}); it has passed the ejector')
            self._finish(part, Delivery.LATE, None, 'decided after the part passed the ejector')
            return
        if decision.reject or self._actuator.sends_accepts:
            fire_at = due if self.settings.timing == 'fixed_delay' else now
            self._add_timer(fire_at, 'fire', part.key)
        if not decision.reject:
            # Accepted parts are final when decided (their PLC write, if any, follows).
            self._finish(part, Delivery.NOT_REQUIRED, None, '', keep=decision.reject or
                         self._actuator.sends_accepts)

    def _deadline(self, due: float) -> float:
        if self.settings.timing == 'fixed_delay':
            return due + self.settings.max_fire_lateness_s
        return due

    def _finish(self, part: _Part, delivery: Delivery, fire_time: Optional[float],
                detail: str, keep: bool = False) -> None:
        if not keep:
            self._parts.pop(part.key, None)
        decision = part.decision
        self.counters.count(decision.reject, decision.reason, delivery)
        if decision.reject and delivery == Delivery.MISSED:
            self._log.error(f'MISSED REJECT: part {part.part_id} ({decision.reason.name}) could '
                            f'not be actuated before it passed the ejector: {detail}')
        record = PartRecord(
            part.part_id, part.key, decision, part.outcome,
            part.key.capture_time + self.settings.reject_delay_s, part.decided_time, delivery,
            fire_time, self._actuator.name, detail)
        self._emit(record)

    def _emit(self, record: PartRecord) -> None:
        try:
            self._on_record(record)
        except Exception:  # a faulty consumer must not stop the line
            self._log.exception('record consumer failed')

    # -- timers ------------------------------------------------------------------------------

    def _add_timer(self, when: float, action: str, key: FrameKey) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), action, key))

    def _run(self) -> None:
        with self._lock:
            while self._running:
                now = self._clock()
                if not self._timers or self._timers[0][0] > now:
                    timeout = None if not self._timers else self._timers[0][0] - now
                    self._lock.wait(timeout if timeout is None else min(timeout, 1.0))
                    continue
                _, _, action, key = heapq.heappop(self._timers)
                part = self._parts.get(key)
                if part is None:
                    continue
                if action == 'window' and part.decision is None:
                    self._decide(part, None)
                elif action == 'orphan' and not part.triggered and part.decision is None:
                    self._log.warning(f'result for frame {key} has no PartTrigger: deciding it '
                                      'with part id 0')
                    self._decide(part, part.outcome)
                elif action == 'fire':
                    self._fire(part)

    def _fire(self, part: _Part) -> None:
        decision = part.decision
        due = part.key.capture_time + self.settings.reject_delay_s
        command = ActuationCommand(
            part.part_id, decision.reject, int(decision.reason), due, self._deadline(due),
            pulse=decision.reject and self.settings.timing == 'fixed_delay',
            pulse_width_s=self.settings.pulse_width_s)
        if not decision.reject:
            self._parts.pop(part.key, None)
        # The actuator may report at once (topic) or from its own thread: release the lock.
        self._lock.release()
        try:
            self._actuator.actuate(command, lambda report: self._on_report(part, report))
        finally:
            self._lock.acquire()

    def _on_report(self, part: _Part, report: ActuationReport) -> None:
        with self._lock:
            if not part.decision.reject:
                if not report.delivered:
                    self.counters.accepts_undelivered += 1
                    self._log.warning(f'accept verdict of part {part.part_id} not delivered: '
                                      f'{report.detail} (the PLC will reject it)')
                return
            delivery = Delivery.FIRED if report.delivered else Delivery.MISSED
            self._finish(part, delivery, report.fire_time, report.detail)
