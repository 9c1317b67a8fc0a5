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
- a second result for a decided part is ignored (counted as a duplicate);
- with triggers, a result whose trigger never comes (a stray publisher on `image`, a bag played
  into a live line) is no part: counted (`results_without_trigger`), said once per episode with
  its frame_id, never decided, so nothing about it reaches the PLC (part id 0 is never sent with
  a verdict).

With several cameras (`settings.cameras`) a part is every frame of its trigger's stamp (one per
frame_id), decided by `fuse_views` (core/reject/fusion.py) once all are in or at its window.

Faults that repeat part after part (undelivered, no result, late, no trigger) are said once per
episode (core/reject/fault_episodes.py; `active_faults()` for the diagnostics). Each part is its
own entry keyed by its frame: consecutive bad parts are each rejected (a naive shift register
that stores "reject the next part" collapses them).

Without triggers (`use_part_trigger=False`) part ids are assigned in result arrival order and a
part whose result never arrives cannot be rejected by vision: the PLC-side default "no verdict =
reject" is then the only safeguard.

`RejectScheduler` is a state machine: no thread, no lock, no clock. Every input carries the
time it happened (`now`, seconds on the clock of the capture stamps) and returns the part record
it made final, if any; `advance(now)` runs the timers due by `now` and returns the actuation
commands to issue and the records they made final; `next_due()` says when to advance next; the
outcome of each command comes back through `on_report`. The thread, the lock, the clock and the
actuator belong to the driver, core/reject/scheduler_thread.py.
"""
import heapq
import itertools
import logging
from typing import Dict, List, Optional

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.plc.contract import ActuationCommand, ActuationReport, NOT_READY_PART_ID
from acnn_ros.core.reject.counters import Delivery, LineTally
from acnn_ros.core.reject.decision import decide, Decision, RejectPolicy, RejectReason
from acnn_ros.core.reject.fault_episodes import FaultEpisode
from acnn_ros.core.reject.fusion import CameraCounters, fuse_views
from acnn_ros.core.reject.scheduler_contract import (Actuation, Due, PartRecord,
                                                     SchedulerSettings)
from acnn_ros.core.results import InspectionOutcome

# Decided frame keys remembered to recognise duplicate results.
REMEMBERED_PARTS = 20000
FAULT_SETTLE_S = 1.0    # a fault episode ends once things worked this long (fault_episodes)


class _Part:
    __slots__ = ('part_id', 'key', 'header', 'outcome', 'views', 'triggered', 'decision',
                 'decided_time', 'issued')

    def __init__(self, key: FrameKey, part_id: int = 0):
        self.key = key
        self.header = key          # the trigger's key with several cameras
        self.views = {}            # camera -> outcome (several cameras), then the ViewRecords
        self.part_id = part_id
        self.outcome: Optional[InspectionOutcome] = None
        self.triggered = False
        self.decision: Optional[Decision] = None
        self.decided_time = 0.0
        self.issued = False        # its command went to the actuator (a report will come)


class RejectScheduler:
    """Join, decide, schedule and count: the state machine of the reject line (not thread-safe)."""

    def __init__(self, settings: SchedulerSettings, policy: RejectPolicy, actuator_name: str,
                 sends_accepts: bool, now: float, logger: Optional[logging.Logger] = None):
        self.settings = settings
        self._policy = policy
        self._actuator_name = actuator_name
        self._sends_accepts = sends_accepts    # accepted parts get a command too
        self._log = logger or logging.getLogger('acnn_ros.reject_scheduler')
        self._timers = []                       # heap of (time, seq, action, key)
        self._seq = itertools.count()
        self._parts: Dict[FrameKey, _Part] = {}  # not yet decided, or awaiting actuation
        # Decided keys -> whether a result was seen (insertion ordered, bounded).
        self._decided: Dict[FrameKey, bool] = {}
        self._next_part_id = 1
        self.counters = LineTally(since=now)
        self.camera_counters = CameraCounters(tuple(settings.cameras))
        log = self._log
        settle = {'settle_s': FAULT_SETTLE_S}
        self.undelivered = FaultEpisode(log, 'PLC not taking decisions', **settle)
        self.no_result = FaultEpisode(
            log, 'NO RESULT from inference_node (down, hung or deactivated?)', **settle)
        self.late = FaultEpisode(log, 'LATE: decided after the part passed the ejector', **settle)
        self.orphans = FaultEpisode(
            log, 'results without a part trigger ignored (another publisher on image?)',
            level=logging.WARNING, quiet_s=5.0)
        if not settings.use_part_trigger:
            self._log.warning(
                'use_part_trigger is false: part ids follow result arrival order and a part '
                'whose result never arrives CANNOT be rejected by vision; the PLC must reject '
                'parts without a verdict')

    # -- policy and counters -----------------------------------------------------------------

    @property
    def policy(self) -> RejectPolicy:
        """Return the policy in force."""
        return self._policy

    def set_policy(self, policy: RejectPolicy) -> None:
        """Apply a new policy to every decision made from now on."""
        self._policy = policy

    def counters_snapshot(self) -> LineTally:
        """Return an independent copy of the counters."""
        return self.counters.snapshot()

    def reset_counters(self, now: float) -> LineTally:
        """Zero the counters (since `now`); return their values before the reset."""
        before = self.counters.snapshot()
        self.counters.reset(now)
        self.camera_counters = CameraCounters(tuple(self.settings.cameras))
        return before

    def active_faults(self) -> List[str]:
        """Return a line for each open fault episode (empty: none)."""
        return [e.summary() for e in (self.undelivered, self.no_result, self.late, self.orphans)
                if e.active]

    def close_faults(self, now: float, why: str) -> None:
        """Sum up every open fault episode (the line stops): its counts are said, once."""
        for episode in (self.undelivered, self.no_result, self.late, self.orphans):
            episode.end(now, f' ({why})')

    def poll_faults(self, now: float) -> None:
        """End the episodes that settled, or ended by silence (results without trigger)."""
        for episode in (self.undelivered, self.no_result, self.late, self.orphans):
            episode.poll(now)

    def in_actuator(self) -> int:
        """Return how many rejects were issued to the actuator and are not reported yet."""
        return sum(1 for part in self._parts.values() if part.issued)

    def abandon_pending(self, now: float, detail: str,
                        include_issued: bool = False) -> List[PartRecord]:
        """
        Give up every unfinished part (the line stops): one fail-safe record each.

        An undecided part becomes a NO_RESULT reject; every reject not yet actuated is final
        as MISSED with `detail` (the PLC's "no verdict = reject" default ejects it). Rejects
        already issued to the actuator are left to its report unless `include_issued`.
        Accepted parts whose PLC write was still to come were reported already; they are
        counted as `accepts_undelivered`. Timers are cleared.
        """
        records = []
        for part in list(self._parts.values()):
            if part.issued and not include_issued:
                continue
            if part.decision is None:
                part.decision = self._judge(part, None)
                part.decided_time = now
                self._decided[part.key] = False
            if not part.decision.reject:
                self._parts.pop(part.key, None)
                self.counters.accepts_undelivered += 1
                continue
            records.append(self._finish(part, Delivery.MISSED, None, detail, quiet=True))
        self._timers = [timer for timer in self._timers if timer[3] in self._parts]
        heapq.heapify(self._timers)
        if records:
            self._log.warning(f'{len(records)} pending parts reported as fail-safe rejects '
                              f'(MISSED): {detail}')
        return records

    # -- inputs ------------------------------------------------------------------------------

    def add_trigger(self, key: FrameKey, part_id: int, now: float) -> Optional[PartRecord]:
        """Register a captured part and start its inspection window."""
        if not self.settings.use_part_trigger:
            return None
        if part_id <= NOT_READY_PART_ID:
            self._log.warning(f'PartTrigger with part id {part_id} ({key}) ignored: part ids '
                              f'start at 1, {NOT_READY_PART_ID} means "vision not ready" to '
                              'the PLC')
            return None
        header, key = key, self._part_key(key)
        if key in self._decided or (key in self._parts and self._parts[key].triggered):
            self._log.warning(f'duplicate trigger for part {part_id} ({header}): ignored')
            return None
        part = self._parts.setdefault(key, _Part(key))
        part.part_id = part_id
        part.header = header
        part.triggered = True
        if self._complete(part):
            return self._decide(part, part.outcome, now)
        self._add_timer(key.capture_time + self.settings.inspection_window_s, 'window', key)
        return None

    def add_result(self, key: FrameKey, outcome: InspectionOutcome,
                   now: float) -> Optional[PartRecord]:
        """Take the inspection result of the frame `key` (decides its part when known)."""
        if now > key.capture_time + self.settings.reject_delay_s:
            self.counters.late_results += 1
            self.late.fault(None, now, f'LATE RESULT: frame {key} came '
                            f'{now - key.capture_time:.3f} s after capture (reject_delay_s '
                            f'{self.settings.reject_delay_s})',
                            'late results')
        frame, key = key, self._part_key(key)
        if self.settings.cameras and frame.frame_id not in self.settings.cameras:
            self.counters.results_without_trigger += 1
            self.orphans.fault(None, now, f'result of frame_id {frame.frame_id!r} ignored: not '
                               f'one of the cameras {list(self.settings.cameras)}', 'results')
            return None
        if key in self._decided:
            if self._decided[key]:
                self.counters.duplicate_results += 1
                self._log.warning(f'second result for the part of frame {frame}: ignored '
                                  '(exactly one decision per part)')
            else:
                self._decided[key] = not self.settings.cameras   # more late views may come
                self.no_result.fault(None, now, f'result for frame {frame} came after its '
                                     'inspection window: the part was already rejected',
                                     'results after the window')
            return None
        if self.settings.cameras:
            return self._add_view(key, frame.frame_id, outcome, now)
        if not self.settings.use_part_trigger:
            part = _Part(key, self._next_part_id)
            self._next_part_id += 1
            self._parts[key] = part
            return self._decide(part, outcome, now)
        part = self._parts.setdefault(key, _Part(key))
        if part.outcome is not None:
            self.counters.duplicate_results += 1
            return None
        part.outcome = outcome
        if part.triggered:
            return self._decide(part, outcome, now)
        # The result overtook its trigger (two topics): wait for it a while.
        self._add_timer(key.capture_time + self.settings.inspection_window_s, 'orphan', key)
        return None

    def on_report(self, actuation: Actuation, report: ActuationReport) -> Optional[PartRecord]:
        """Take the actuator's report of one command; a reject is final with it."""
        part = actuation.part
        if part.decision.reject and self._parts.get(part.key) is not part:
            return None   # given up by abandon_pending(): reported already
        now = report.fire_time if report.fire_time is not None else part.decided_time
        if report.delivered:
            self.undelivered.recovered(now)
        if not part.decision.reject:
            if not report.delivered:
                self.counters.accepts_undelivered += 1
                self.undelivered.fault(part.part_id, now, f'accept verdict of part '
                                       f'{part.part_id} not delivered: {report.detail} (the '
                                       'PLC rejects it by its default)', 'accepts not delivered')
            return None
        delivery = Delivery.FIRED if report.delivered else Delivery.MISSED
        return self._finish(part, delivery, report.fire_time, report.detail)

    # -- timers ------------------------------------------------------------------------------

    def next_due(self) -> Optional[float]:
        """Return when `advance` has work next (None: nothing scheduled)."""
        return self._timers[0][0] if self._timers else None

    def advance(self, now: float) -> Due:
        """Run every timer due by `now`: close inspection windows, issue due commands."""
        due = Due([], [])
        while self._timers and self._timers[0][0] <= now:
            _, _, action, key = heapq.heappop(self._timers)
            part = self._parts.get(key)
            if part is None:
                continue
            record = None
            if action == 'window' and part.decision is None:
                record = self._decide(part, None, now)
            elif action == 'orphan' and not part.triggered and part.decision is None:
                # Not a part the camera announced: never a decision, never a PLC write.
                self._parts.pop(key, None)
                self.counters.results_without_trigger += 1
                self.orphans.fault(None, now, f'result of frame_id {part.header.frame_id!r} '
                                   f'({part.header}) had no PartTrigger within '
                                   'inspection_window_s', 'results')
            elif action == 'fire':
                due.actuations.append(self._fire(part))
            if record is not None:
                due.records.append(record)
        return due

    def _add_timer(self, when: float, action: str, key: FrameKey) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), action, key))

    # -- several cameras ---------------------------------------------------------------------

    def _part_key(self, key: FrameKey) -> FrameKey:
        """Return the key of the part of a frame: the frame's, or its stamp (several cameras)."""
        return FrameKey(key.stamp_ns, '') if self.settings.cameras else key

    def _complete(self, part: _Part) -> bool:
        if self.settings.cameras:
            return len(part.views) == len(self.settings.cameras)
        return part.outcome is not None

    def _add_view(self, key: FrameKey, camera: str, outcome: InspectionOutcome,
                  now: float) -> Optional[PartRecord]:
        part = self._parts.setdefault(key, _Part(key))
        if not part.triggered and not part.views:   # its header until the trigger comes
            part.header = FrameKey(key.stamp_ns, camera)
        if camera in part.views:
            self.counters.duplicate_results += 1
            return None
        part.views[camera] = outcome
        if part.triggered:
            return self._decide(part, None, now) if self._complete(part) else None
        if len(part.views) == 1:   # views before their trigger: wait for it a while
            self._add_timer(key.capture_time + self.settings.inspection_window_s, 'orphan', key)
        return None

    # -- decisions ---------------------------------------------------------------------------

    def _decide(self, part: _Part, outcome: Optional[InspectionOutcome],
                now: float) -> Optional[PartRecord]:
        complete = self._complete(part) if outcome is None else True
        part.decision = decision = self._judge(part, outcome)
        part.decided_time = now
        self._decided[part.key] = complete
        while len(self._decided) > REMEMBERED_PARTS:
            del self._decided[next(iter(self._decided))]
        due = part.key.capture_time + self.settings.reject_delay_s
        if not complete:
            missing = ', '.join(view.camera for view in part.views if view.outcome is None)
            self.no_result.fault(part.part_id, now, f'part {part.part_id}: no result within '
                                 f'inspection_window_s ({self.settings.inspection_window_s} s), '
                                 f'rejected fail-safe{f" (camera {missing})" if missing else ""}',
                                 'parts rejected')
        elif decision.reason != RejectReason.NO_RESULT:
            self.no_result.recovered(now)
        if now > self._deadline(due):
            self.late.fault(part.part_id, now, f'LATE DECISION: part {part.part_id} decided '
                            f'{now - due:.3f} s after its due time ({decision.reason.name})',
                            'late decisions')
            return self._finish(part, Delivery.LATE, None,
                                'decided after the part passed the ejector')
        self.late.recovered(now)
        if decision.reject or self._sends_accepts:
            fire_at = due if self.settings.timing == 'fixed_delay' else now
            self._add_timer(fire_at, 'fire', part.key)
        if not decision.reject:
            # Accepted parts are final when decided (their PLC write, if any, follows).
            return self._finish(part, Delivery.NOT_REQUIRED, None, '', keep=self._sends_accepts)
        return None

    def _judge(self, part: _Part, outcome: Optional[InspectionOutcome]) -> Decision:
        """Return the decision for the part: its outcome's, or its views' fused (counted)."""
        if not self.settings.cameras:
            return decide(outcome, self._policy)
        fused = fuse_views(self.settings.cameras, part.views, self._policy, self.settings.fusion)
        self.camera_counters.count(fused)
        part.outcome, part.views = fused.outcome, fused.views
        return fused.decision

    def _deadline(self, due: float) -> float:
        if self.settings.timing == 'fixed_delay':
            return due + self.settings.max_fire_lateness_s
        return due

    def _fire(self, part: _Part) -> Actuation:
        decision = part.decision
        due = part.key.capture_time + self.settings.reject_delay_s
        command = ActuationCommand(
            part.part_id, decision.reject, int(decision.reason), due, self._deadline(due),
            pulse=decision.reject and self.settings.timing == 'fixed_delay',
            pulse_width_s=self.settings.pulse_width_s)
        part.issued = True
        if not decision.reject:
            self._parts.pop(part.key, None)
        return Actuation(command, part)

    def _finish(self, part: _Part, delivery: Delivery, fire_time: Optional[float],
                detail: str, keep: bool = False, quiet: bool = False) -> PartRecord:
        if not keep:
            self._parts.pop(part.key, None)
        decision = part.decision
        self.counters.count(decision.reject, decision.reason, delivery)
        if decision.reject and delivery == Delivery.MISSED and not quiet:
            self.undelivered.fault(part.part_id, part.decided_time, f'MISSED REJECT: part '
                                   f'{part.part_id} ({decision.reason.name}): {detail}',
                                   'rejects missed')
        return PartRecord(
            part.part_id, part.header, decision, part.outcome,
            part.key.capture_time + self.settings.reject_delay_s, part.decided_time, delivery,
            fire_time, self._actuator_name, detail,
            part.views if self.settings.cameras else ())
