# SPDX-License-Identifier: Apache-2.0
"""
Fault injection on the real processes (issue 19): what the PLC got, what the log said.

Each scenario builds a `FaultRig` (app/fault_rig.py), injects one fault, and returns a
`ScenarioResult`: named checks (each True or False with what was seen) and the numbers behind
them. The tests (test/test_line_faults.py) assert every check; the benchmark
(`python -m benchmarks.fault_injection_benchmark`) runs them all and writes the table in
docs/BENCHMARKS.md.
"""
from dataclasses import dataclass, field
import signal
import time
from typing import Callable, Dict, List, Tuple

from acnn_ros.app.fault_rig import (FaultRig, image_message, MAX_FIRE_LATENESS_S, NodeProcess,
                                    REJECT_DELAY_S, stamp_msg)
from acnn_ros.app.proc_status import memory_mib
from acnn_ros.core.dataset.synthetic import render_frame
from acnn_ros.core.plc.modbus.simulator import free_port
from acnn_ros.msg import RejectEvent
import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage

# A PLC receipt this much after the deadline still counts as on time (loopback transit).
RECEIPT_MARGIN_S = 0.02


@dataclass
class ScenarioResult:
    """The checks of one scenario and the numbers behind them."""

    name: str
    checks: List[Tuple[str, bool, str]] = field(default_factory=list)
    numbers: Dict[str, object] = field(default_factory=dict)

    def check(self, what: str, ok: bool, seen: object = '') -> None:
        """Record one check."""
        self.checks.append((what, bool(ok), str(seen)[:2000]))

    @property
    def passed(self) -> bool:
        """Return whether every check held."""
        return all(ok for _, ok, _ in self.checks)

    def failures(self) -> str:
        """Return the failed checks with what was seen."""
        return '\n'.join(f'FAILED {what}: {seen}' for what, ok, seen in self.checks if not ok)


def _frames() -> List[np.ndarray]:
    return [render_frame(np.random.default_rng(seed), seed % 4)[0] for seed in range(4)]


def _one_event_per_part(result: ScenarioResult, rig: FaultRig) -> None:
    events = rig.observer.event_by_part()
    published = set(rig.observer.published)
    doubles = {p: len(e) for p, e in events.items() if len(e) != 1}
    result.check('every part published has exactly one RejectEvent',
                 set(events) == published and not doubles,
                 f'missing {sorted(published - set(events))[:20]}, extra '
                 f'{sorted(set(events) - published)[:20]}, repeated {doubles}')


def _plc_records(rig: FaultRig) -> Tuple[list, list, list]:
    """Return what the PLC received, applied, and the ejector pulses it fired (OPC UA: none)."""
    plc = rig.plc
    pulses = plc.applied_pulses() if hasattr(plc, 'applied_pulses') else []
    return plc.decisions(), plc.applied_decisions(), pulses


def stray_publisher(parts: int = 20, rate_hz: float = 4.0) -> ScenarioResult:
    """Run a second publisher on `image` (frame_id debug_tool) next to the camera."""
    result = ScenarioResult('stray publisher on image')
    rig = FaultRig(inference=True)
    observer = rig.observer
    try:
        result.check('line came up', observer.wait_for_actuator(inference=True),
                     rig.actuator.lines)
        frames = _frames()
        for i in range(parts):
            observer.part(image=frames[i % 4])
            observer.spin_for(0.5 / rate_hz)
            observer.stray.publish(image_message(frames[0], time.time(), 'debug_tool'))
            observer.spin_for(0.5 / rate_hz)
        observer.spin_until(lambda: len(observer.events) >= parts, 30.0)
        observer.spin_for(1.5)    # every stray result's window closes
        decisions, applied, pulses = _plc_records(rig)
    finally:
        result.numbers['exit'] = rig.close()
    _one_event_per_part(result, rig)
    verdicts = [d for d in decisions if d.verdict]
    result.check('no decision with part id 0 (or any part not announced) reached the PLC',
                 {d.part_id for d in verdicts} <= set(observer.published),
                 [d for d in verdicts if d.part_id not in observer.published][:5])
    rejects = [e.part_id for e in observer.events
               if e.decision == RejectEvent.DECISION_REJECT
               and e.delivery == RejectEvent.DELIVERY_FIRED]
    result.check('one ejector pulse per fired reject, none for stray frames',
                 sorted(p for _, p in pulses) == sorted(rejects), (pulses, rejects))
    said = rig.actuator.matching('without a part trigger', 'debug_tool')
    result.check('stray results said once, with their frame_id', len(said) == 1, said)
    values = observer.actuator_values()
    result.numbers.update(parts=parts, stray_frames=parts, plc_blocks=len(verdicts),
                          results_without_trigger=values[-1].get('results_without_trigger')
                          if values else None)
    return result


def plc_stall(mode: str = 'stop', stall_s: float = 3.0, rate_hz: float = 20.0) -> ScenarioResult:
    """Stall the PLC: SIGSTOP / SIGCONT, kill and restart (Modbus), or freeze (OPC UA)."""
    names = {'stop': 'PLC SIGSTOP/SIGCONT', 'kill': 'PLC killed',
             'freeze': 'OPC UA server frozen'}
    result = ScenarioResult(f'{names[mode]} {stall_s:g} s')
    rig = FaultRig(protocol='opcua' if mode == 'freeze' else 'modbus')
    observer = rig.observer

    def classes(i):
        return 'p1071' if i % 2 else 'p3707'
    try:
        result.check('line came up', observer.wait_for_actuator(), rig.actuator.lines)
        observer.run_parts(int(1.5 * rate_hz), rate_hz, class_name=classes)
        if mode == 'freeze':
            rig.plc.freeze(stall_s)
        else:
            rig.signal_plc(signal.SIGSTOP if mode == 'stop' else signal.SIGKILL)
        stalled_from = observer.part_id + 1
        observer.run_parts(int(stall_s * rate_hz), rate_hz, class_name=classes)
        if mode == 'stop':
            rig.signal_plc(signal.SIGCONT)
        elif mode == 'kill':
            rig.start_plc()
        stalled_to = observer.part_id
        observer.run_parts(int(2.0 * rate_hz), rate_hz, class_name=classes)
        observer.spin_until(lambda: len(observer.events) >= observer.part_id, 20.0)
        observer.spin_for(1.0)
        decisions, applied, pulses = _plc_records(rig)
    finally:
        result.numbers['exit'] = rig.close()
    _one_event_per_part(result, rig)
    due = {p: stamp + REJECT_DELAY_S for p, stamp in observer.published.items()}
    limit = MAX_FIRE_LATENESS_S + RECEIPT_MARGIN_S
    stale_applied = [(d.part_id, round(d.time - due[d.part_id], 3)) for d in applied
                     if d.verdict and d.time > due[d.part_id] + limit]
    result.check('no decision the PLC applied was stale (received after its part passed)',
                 not stale_applied, stale_applied[:10])
    late_pulses = [(p, round(t - due[p], 3)) for t, p in pulses if t > due[p] + limit]
    result.check('no ejector pulse the PLC applied was stale', not late_pulses, late_pulses[:10])
    where = rig.plc.endpoint if mode == 'freeze' else f'127.0.0.1:{rig.plc_port}'
    lost = rig.actuator.matching(where, ' lost: ')
    back = rig.actuator.matching(where, 'answering again after')
    result.check('the outage said once: lost, then back with its cost',
                 len(lost) == 1 and len(back) == 1, lost + back)
    flood = rig.actuator.matching('MISSED REJECT')
    result.check('no line per part during the outage', len(flood) <= 2, flood[:5])
    levels = [v['level'] for v in observer.actuator_values()]
    result.check('diagnostics at ERROR during the outage', 2 in levels, sorted(set(levels)))
    result.numbers.update(
        parts=observer.part_id, parts_during_stall=stalled_to - stalled_from + 1,
        plc_blocks_received=len([d for d in decisions if d.verdict]),
        stale_blocks_ignored=len([d for d in decisions if d.valid is False]),
        applied_blocks=len([d for d in applied if d.verdict]), pulses=len(pulses),
        lines=back[:1])
    return result


def inference_killed(rate_hz: float = 4.0) -> ScenarioResult:
    """Kill inference_node (SIGKILL) while parts keep coming, then start it again."""
    result = ScenarioResult('inference_node SIGKILL and restart')
    rig = FaultRig(inference=True)
    observer = rig.observer
    frames = _frames()
    try:
        result.check('line came up', observer.wait_for_actuator(inference=True),
                     rig.actuator.lines)
        observer.run_parts(8, rate_hz, image=lambda i: frames[i % 4])
        rig.inference.process.kill()
        rig.inference.process.wait()
        dead_from = observer.part_id + 1
        observer.run_parts(12, rate_hz, image=lambda i: frames[i % 4])
        observer.spin_for(1.0)
        levels_dead = [(v['level'], v['message']) for v in observer.actuator_values()[-5:]]
        rig.inference = NodeProcess('inference_node', {})
        observer.spin_until(lambda: observer.images.get_subscription_count() > 1, 60.0)
        observer.spin_for(2.0)
        observer.run_parts(8, rate_hz, image=lambda i: frames[i % 4])
        observer.spin_until(lambda: len(observer.events) >= observer.part_id, 20.0)
        observer.spin_for(1.0)
    finally:
        result.numbers['exit'] = rig.close()
    _one_event_per_part(result, rig)
    opened = rig.actuator.matching('NO RESULT from inference_node', 'what follows')
    ended = rig.actuator.matching('NO RESULT from inference_node', 'ended after')
    result.check('the outage said once at its first part and once at its end, with the count',
                 len(opened) == 1 and len(ended) == 1 and f'part {dead_from}' in opened[0],
                 opened + ended)
    result.check('diagnostics ERROR naming it while inference is down',
                 any(level == 2 and 'NO RESULT' in text for level, text in levels_dead),
                 levels_dead)
    no_result = [e.part_id for e in observer.events
                 if e.reason == RejectEvent.REASON_NO_RESULT]
    result.numbers.update(parts=observer.part_id, no_result_parts=len(no_result),
                          lines=ended[:1])
    return result


def plc_unreachable(host: str = '127.0.0.1') -> ScenarioResult:
    """Configure a PLC that does not exist (no listener, or a name that does not resolve)."""
    result = ScenarioResult(f'PLC unreachable at start ({host})')
    port = free_port()
    rig = FaultRig(plc=False, plc_port=port, actuator={'plc_host': host})
    observer = rig.observer
    try:
        result.check('actuator came up', observer.wait_for_actuator(), rig.actuator.lines)
        observer.spin_for(3.0)
        observer.run_parts(5, 10.0, class_name='p1071')
        observer.spin_for(1.0)
        if host == '127.0.0.1':
            rig.start_plc()
            observer.spin_until(lambda: rig.actuator.matching('answering again'), 15.0)
    finally:
        result.numbers['exit'] = rig.close()
    said = rig.actuator.matching(f'{host}:{port} unreachable')
    result.check('unreachable said once, with host and port', len(said) == 1, said)
    raw = rig.actuator.matching('Failed to connect') + rig.actuator.matching('Repeating')
    result.check('no raw pymodbus lines', not raw, raw[:5])
    lying = rig.actuator.matching('connected and answering')
    result.check('never said connected while unreachable', not lying, lying)
    if host == '127.0.0.1':
        back = rig.actuator.matching('answering again after')
        result.check('said when the PLC appears, with the decisions not delivered',
                     len(back) == 1 and '5 decisions not delivered' in back[0], back)
        result.numbers['lines'] = said[:1] + back[:1]
    else:
        result.numbers['lines'] = said[:1]
    return result


def actuator_inactive(rate_hz: float = 20.0, inactive_parts: int = 20) -> ScenarioResult:
    """Deactivate reject_actuator_node for a while as parts keep coming."""
    result = ScenarioResult('reject_actuator_node deactivated')
    rig = FaultRig()
    observer = rig.observer
    try:
        result.check('line came up', observer.wait_for_actuator(), rig.actuator.lines)
        observer.run_parts(10, rate_hz, class_name='p3707')
        observer.spin_until(lambda: len(observer.events) >= 10, 10.0)
        result.check('deactivated', observer.change_state('reject_actuator_node', 'deactivate'))
        observer.run_parts(inactive_parts, rate_hz, class_name='p3707')
        result.check('activated', observer.change_state('reject_actuator_node', 'activate'))
        observer.wait_for_actuator()
        observer.run_parts(10, rate_hz, class_name='p3707')
        observer.spin_until(lambda: len(observer.events) >= 20, 10.0)
        observer.spin_for(1.0)
    finally:
        result.numbers['exit'] = rig.close()
    said = rig.actuator.matching(f'{inactive_parts} parts (11..{10 + inactive_parts})',
                                 'while this node was inactive')
    result.check('the parts of the inactive time said in one line', len(said) == 1,
                 rig.actuator.matching('inactive'))
    values = observer.actuator_values()
    counted = int(values[-1].get('parts_while_inactive', -1)) if values else -1
    result.check('counted in the diagnostics', counted == inactive_parts, counted)
    result.check('every part accounted: decided or counted inactive',
                 len(observer.events) + counted == observer.part_id,
                 (len(observer.events), counted, observer.part_id))
    result.numbers.update(parts=observer.part_id, decided=len(observer.events),
                          parts_while_inactive=counted, lines=said[:1])
    return result


def _png_bomb() -> bytes:
    side = 20000
    ok, data = cv2.imencode('.png', np.zeros((side, side), np.uint8),
                            [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return data.tobytes()


def bomb_frame(rate_hz: float = 4.0) -> ScenarioResult:
    """Send one part's frame as a 20000x20000 PNG of a few hundred KB on image/compressed."""
    result = ScenarioResult('decompression bomb on image/compressed')
    rig = FaultRig(inference=True, inference_parameters={'image_transport': 'both'})
    observer = rig.observer
    frames = _frames()
    bomb = _png_bomb()
    try:
        result.check('line came up', observer.wait_for_actuator(inference=True),
                     rig.actuator.lines)
        observer.run_parts(6, rate_hz, image=lambda i: frames[i % 4])
        bomb_part = observer.part()
        message = CompressedImage(format='png', data=bomb)
        message.header.stamp = stamp_msg(observer.published[bomb_part])
        message.header.frame_id = 'camera'
        observer.compressed.publish(message)
        started = time.monotonic()
        observer.spin_for(1.0 / rate_hz)
        observer.run_parts(10, rate_hz, image=lambda i: frames[i % 4])
        observer.spin_until(lambda: len(observer.events) >= observer.part_id, 20.0)
        answered_s = time.monotonic() - started
        rss_mb = memory_mib(rig.inference.process.pid).get('VmRSS', float('nan'))
    finally:
        result.numbers['exit'] = rig.close()
    _one_event_per_part(result, rig)
    by_part = observer.event_by_part()
    bomb_event = by_part.get(bomb_part, [None])[0]
    result.check('the bomb part is one ERROR_RESULT reject',
                 bomb_event is not None and bomb_event.reason == RejectEvent.REASON_ERROR_RESULT,
                 bomb_event)
    after = [by_part[p][0].reason for p in range(bomb_part + 1, observer.part_id + 1)
             if p in by_part]
    failed = [r for r in after if r in (RejectEvent.REASON_NO_RESULT,)]
    result.check('no part after it lost its result', not failed, after)
    result.check('inference_node memory stays bounded (< 600 MB)', rss_mb < 600, rss_mb)
    result.numbers.update(parts=observer.part_id, bomb_bytes=len(bomb), rss_mb=rss_mb,
                          seconds_to_drain=round(answered_s, 2))
    return result


SCENARIOS: Dict[str, Callable[[], ScenarioResult]] = {
    'stray_publisher': stray_publisher,
    'plc_sigstop': lambda: plc_stall('stop'),
    'plc_killed': lambda: plc_stall('kill'),
    'opcua_frozen': lambda: plc_stall('freeze'),
    'bomb_frame': bomb_frame,
    'inference_killed': inference_killed,
    'plc_unreachable': plc_unreachable,
    'plc_unresolvable': lambda: plc_unreachable('plc.invalid'),
    'actuator_inactive': actuator_inactive,
}
