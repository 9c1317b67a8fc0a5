# SPDX-License-Identifier: Apache-2.0
"""
The soak test's verdict: exact part accounting across restarts, and flat memory.

Pure functions of what the soak recorded (no ROS), so the rules are tested without a soak.
With the PLC simulator and inference_node restarted during the run, "one verdict per frame"
cannot hold for the frames captured while inference was down; those parts must be decided
fail-safe (no result) instead. Every identity is exact:

    every part id 1..N captured once, decided once, with the capture header;
    every frame has one result, or its part was rejected fail-safe for lack of a result;
    every PLC decision block matches the part's decision (a repeat: same verdict, idempotent);
    decisions == PLC writes + decisions not written, each of those counted missed (a reject) or
    not delivered (an accept) by the actuator (a write given up at its deadline may still reach
    the PLC: a late write, reported);
    rejects fired + missed + late == rejected.
"""
from collections import Counter
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from acnn_ros.app.bench.rate_search import Probe
from acnn_ros.core.plc.contract import VERDICT_REJECT
from acnn_ros.core.reject.counters import Delivery
from acnn_ros.core.reject.decision import RejectReason
from acnn_ros.core.reject.reconciliation import Check, LineLedger
from acnn_ros.core.results import InspectionStatus

RSS_FLAT_MIB = 8.0        # growth after warm-up (median of the last third - first third)
RSS_FLAT_RATIO = 0.05     # ... or this share of the process's RSS, whichever is larger


def _ids(items) -> str:
    items = sorted(items)
    return ', '.join(str(i) for i in items[:5]) + (' ...' if len(items) > 5 else '')


def soak_checks(ledger: LineLedger, accepts_undelivered: int) -> Tuple[List[Check], Dict]:
    """Return the accounting checks of a soak run and its counts."""
    parts = {}
    repeated = [p.part_id for p in ledger.captured if p.part_id in parts
                or parts.setdefault(p.part_id, p) is not p]
    ids = sorted(parts)
    results = Counter(key for key, _ in ledger.results)
    decisions = {}
    for d in ledger.decisions:
        decisions.setdefault(d.part_id, []).append(d)
    once = {pid: ds[0] for pid, ds in decisions.items() if len(ds) == 1}
    checks = [Check('part ids 1..N, each once', ids == list(range(1, len(ids) + 1))
                    and not repeated, f'{len(ids)} frames captured')]
    missing = set(ids) - set(decisions)
    extra = set(decisions) - set(ids)
    twice = {pid for pid, ds in decisions.items() if len(ds) > 1}
    checks.append(Check('one decision per part', not (missing or extra or twice),
                        f'{len(ids)} parts, {len(ledger.decisions)} decisions'
                        + (f'; missing {_ids(missing)}' if missing else '')
                        + (f'; unexpected {_ids(extra)}' if extra else '')
                        + (f'; twice {_ids(twice)}' if twice else '')))
    wrong_header = [pid for pid, d in once.items() if pid in parts and
                    d.header != parts[pid].header]
    checks.append(Check('decisions carry the capture header', not wrong_header,
                        f'{len(wrong_header)} mismatched'))
    unseen = [pid for pid in ids if results[parts[pid].header] == 0]
    # A decision made on a result proves the result (the actuator received it) when this
    # observer missed it: its reader matches a restarted inference_node a moment after the
    # actuator's does (volatile topic). Counted apart; the line lost nothing there.
    observer_missed = [pid for pid in unseen if pid in once and
                       once[pid].reason != RejectReason.NO_RESULT]
    no_result = [pid for pid in unseen if pid not in observer_missed]
    unexplained = [pid for pid in no_result if pid in once and not (
        once[pid].reject and once[pid].reason == RejectReason.NO_RESULT)]
    answered_twice = [key for key, n in results.items() if n > 1]
    checks.append(Check('one verdict per frame, or rejected fail-safe (no result)',
                        not unexplained and not answered_twice,
                        f'{len(ledger.results)} verdicts seen + {len(observer_missed)} proven '
                        f'by their decision, {len(no_result)} frames without one (inference '
                        f'down), {len(unexplained)} of them not rejected'
                        + (f' ({_ids(unexplained)})' if unexplained else '')
                        + (f'; {len(answered_twice)} frames answered twice'
                           if answered_twice else '')))
    plc = Counter(pid for pid, _ in ledger.plc_decisions)
    # The decision write is idempotent (part id + verdict, docs/LINE_INTEGRATION.md): a write
    # repeated after a reconnect is allowed when it carries the same verdict.
    repeated = [pid for pid, n in plc.items() if n > 1]
    wrong_verdict = {pid for pid, verdict in ledger.plc_decisions if pid not in once
                     or (verdict == VERDICT_REJECT) != once[pid].reject}
    checks.append(Check("each PLC decision block matches its part's decision",
                        not wrong_verdict,
                        f'{len(ledger.plc_decisions)} PLC decision writes for {len(plc)} parts'
                        + (f'; {len(repeated)} repeated with the same verdict (idempotent '
                           f'retry after a reconnect: {_ids(repeated)})' if repeated else '')
                        + (f'; not matching {_ids(wrong_verdict)}' if wrong_verdict else '')))
    rejects = [d for d in once.values() if d.reject]
    delivery = Counter(Delivery(d.delivery).name.lower() for d in rejects)
    fired = [d.part_id for d in rejects if d.delivery == Delivery.FIRED]
    unwritten = [pid for pid in fired if pid not in plc]
    checks.append(Check('every fired reject written to the PLC', not unwritten,
                        f'{len(fired)} fired, {len(unwritten)} not in the PLC record'))
    missed = delivery.get('missed', 0) + delivery.get('late', 0)
    # A write given up at its deadline (PLC going away) may still reach the PLC: counted
    # missed / not delivered by the actuator AND present in the PLC record ("late writes").
    unwritten_rejects = [d.part_id for d in rejects if d.part_id not in plc]
    unexcused = [pid for pid in unwritten_rejects if once[pid].delivery == Delivery.FIRED]
    unwritten_accepts = sum(1 for d in once.values() if not d.reject and d.part_id not in plc)
    late_writes = missed + accepts_undelivered - len(unwritten_rejects) - unwritten_accepts
    ok = not unexcused and unwritten_accepts <= accepts_undelivered and late_writes >= 0
    checks.append(Check('decisions = PLC writes + decisions not written (missed, not delivered)',
                        ok and len(once) == len(plc) + len(unwritten_rejects) + unwritten_accepts,
                        f'{len(once)} decisions = {len(plc)} PLC writes + '
                        f'{len(unwritten_rejects)} rejects + {unwritten_accepts} accepts not '
                        f'written; the actuator counted {missed} missed + {accepts_undelivered} '
                        f'not delivered ({late_writes} of them reached the PLC late)'))
    checks.append(Check('rejects fired + missed = rejected',
                        len(fired) + missed == len(rejects),
                        f'{len(fired)} fired + {missed} missed = {len(rejects)} rejected'))
    not_ok = not_ok_part_ids(ledger)
    counts = {'frames': len(ids), 'verdicts': len(ledger.results),
              'decisions': len(ledger.decisions), 'plc_writes': len(ledger.plc_decisions),
              'rejected': len(rejects), 'fired': len(fired), 'missed': missed,
              'accepts_undelivered': accepts_undelivered, 'late_plc_writes': late_writes,
              'repeated_plc_writes': len(repeated),
              'frames_without_verdict': len(no_result),
              'verdicts_observer_missed': len(observer_missed),
              'frames_not_answered_ok': len(not_ok),
              'rejects_by_reason': dict(Counter(RejectReason(d.reason).name.lower()
                                                for d in rejects))}
    return checks, counts


def not_ok_part_ids(ledger: LineLedger) -> List[int]:
    """Return the parts whose frame was not answered OK (seen, or proven by the decision)."""
    status = dict(ledger.results)
    reason = {d.part_id: d.reason for d in ledger.decisions}
    failed = (RejectReason.NO_RESULT, RejectReason.DROPPED_FRAME, RejectReason.ERROR_RESULT)
    return [p.part_id for p in ledger.captured if status.get(p.header) != InspectionStatus.OK
            and (p.header in status or reason.get(p.part_id, RejectReason.NO_RESULT) in failed)]


def not_ok_outside(parts_time: Sequence[Tuple[int, float]], not_ok_ids: Sequence[int],
                   outages: Sequence[Tuple[float, float]], settle_s: float) -> Tuple[int, int]:
    """Return (frames, frames not answered OK) captured outside the outages (+ settle_s)."""
    bad = set(not_ok_ids)
    inside = {pid for pid, t in parts_time
              if any(start <= t <= end + settle_s for start, end in outages)}
    outside = [pid for pid, _ in parts_time if pid not in inside]
    return len(outside), sum(1 for pid in outside if pid in bad)


def rss_trends(samples: Sequence[Tuple[float, str, int, float]], warmup_s: float,
               load_start: float = 0.0, not_judged: Sequence[str] = ()) -> List[Dict]:
    """
    Return one row per process (name + pid) of RSS samples (t, name, pid, MiB).

    Samples in the first `warmup_s` of a process's life under load (from the later of its first
    sample and `load_start`, when the line started capturing) are skipped; growth is the median of
    the last third minus the median of the first third; flat when it is below RSS_FLAT_MIB or
    RSS_FLAT_RATIO of the process's RSS (a process with fewer than 6 samples is not judged, nor
    one named in `not_judged`: the soak's own process, whose records grow with every part).
    """
    series: Dict[Tuple[str, int], List[Tuple[float, float]]] = {}
    for t, name, pid, mib in samples:
        series.setdefault((name, pid), []).append((t, mib))
    rows = []
    for (name, pid), points in series.items():
        first = max(points[0][0], load_start)
        kept = [mib for t, mib in points if t >= first + warmup_s]
        row = {'process': name, 'pid': pid, 'samples': len(kept),
               'start_mib': points[0][1], 'max_mib': max(mib for _, mib in points)}
        if len(kept) >= 6:
            third = len(kept) // 3
            head = sorted(kept[:third])[third // 2]
            tail = sorted(kept[-third:])[third // 2]
            growth = tail - head
            row.update(after_warmup_mib=head, end_mib=tail, growth_mib=growth,
                       span_s=points[-1][0] - first - warmup_s,
                       flat=growth < max(RSS_FLAT_MIB, RSS_FLAT_RATIO * head))
            if name in not_judged:
                row.update(flat=None, note='records every part (not judged)')
        else:
            row.update(flat=None)
        rows.append(row)
    return rows


class ReceiptLosses(NamedTuple):
    """What one topic's publisher sequence numbers say a subscriber missed (its own losses)."""

    publishers: int         # publishers heard from (a restarted node is a new one)
    received: int
    before_first: int       # published before the subscriber matched (first number - 1)
    gaps: int               # numbers missing between the first and the last received
    repeated: int           # numbers received more than once

    @property
    def lost(self) -> int:
        """Return the messages missed after the publisher was matched."""
        return self.gaps


def receipt_losses(received: Iterable[Tuple[bytes, Optional[int]]]) -> ReceiptLosses:
    """Return the losses that (publisher gid, publication sequence number) pairs reveal."""
    numbers: Dict[bytes, List[int]] = {}
    count = 0
    for gid, number in received:
        count += 1
        if number is not None:
            numbers.setdefault(gid, []).append(number)
    before = gaps = repeated = 0
    for seen in numbers.values():
        unique = set(seen)
        before += min(unique) - 1
        gaps += max(unique) - min(unique) + 1 - len(unique)
        repeated += len(seen) - len(unique)
    return ReceiptLosses(len(numbers), count, before, gaps, repeated)


def observer_losses(receipts: Dict[str, ReceiptLosses], ledger: LineLedger,
                    camera_published: Optional[int],
                    actuator_decided: Optional[int]) -> Tuple[Check, Dict]:
    """
    Return the observer's own losses, apart from the line's, as one check and its counts.

    The line's own counts say how many messages there were: camera_node's last part id (its
    diagnostics) against the part triggers received, reject_actuator_node's decisions
    (`inspected`) against the RejectEvents received; the publishers' sequence numbers reveal
    the messages missed in between (gaps) and those published before the observer's reader
    matched a (re)started publisher. The result of a frame that the observer missed is proven
    by its decision (soak_checks counts it apart).
    """
    parts = len({p.part_id for p in ledger.captured})
    decided = len({d.part_id for d in ledger.decisions})
    counts = {topic: dict(r._asdict(), lost=r.lost) for topic, r in receipts.items()}
    # None: the node's diagnostics never came, so what it published is unknown (not judged OK).
    counts['parts_missed'] = max((camera_published or 0) - parts, 0)
    counts['decisions_missed'] = max((actuator_decided or 0) - decided, 0)
    counts['camera_published'], counts['actuator_decided'] = camera_published, actuator_decided
    lost = sum(r.lost + r.before_first for r in receipts.values())
    ok = not lost and not counts['parts_missed'] and not counts['decisions_missed'] \
        and camera_published is not None and actuator_decided is not None
    said = {k: '? (no diagnostics)' if v is None else v
            for k, v in (('camera', camera_published), ('actuator', actuator_decided))}
    detail = (f'camera published {said["camera"]} parts, {parts} received; actuator decided '
              f'{said["actuator"]}, {decided} RejectEvents received; sequence gaps ' + ', '.join(
                  f'{topic} {r.gaps}' for topic, r in receipts.items())
              + '; missed before matching a publisher ' + ', '.join(
                  f'{topic} {r.before_first}' for topic, r in receipts.items())
              + '; delivered twice to the observer (kept once) ' + ', '.join(
                  f'{topic} {r.repeated}' for topic, r in receipts.items()))
    return Check("the observer's own losses: none", ok, detail), counts


def line_probe(report: dict, expected_parts: int) -> Probe:
    """
    Return a soak run without restarts as one probe of the whole line's rate (rated rate).

    A part counts OK when its frame was answered OK and its decision reached the PLC; `sent`
    is the parts the camera should have captured at the probe's rate, so a camera that falls
    behind fails the probe too. A run whose accounting does not reconcile, or whose observer
    lost messages, proves nothing: every part counts not OK.
    """
    counts = report['counts']
    sent = max(expected_parts, counts['frames'])
    if not (report['reconciled'] and report['observer']['check']['ok']):
        return Probe(report['rate_hz'], sent, 0, answered=counts['verdicts'])
    not_written = counts['missed'] + counts['accepts_undelivered'] - counts['late_plc_writes']
    ok = counts['frames'] - counts['frames_not_answered_ok'] - max(not_written, 0)
    return Probe(report['rate_hz'], sent, max(ok, 0), answered=counts['verdicts'])
