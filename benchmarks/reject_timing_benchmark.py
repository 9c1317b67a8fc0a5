# SPDX-License-Identifier: Apache-2.0
"""
Reject timing: how far from its due time (capture + reject_delay_s) each command reaches the PLC.

Runs the real reject scheduler against the real pymodbus PLC simulator on 127.0.0.1 (Modbus
backend: time the simulator *received* the coil write) and with the topic backend (time the
command was issued). Writes its table into docs/BENCHMARKS.md under `<!-- section:line -->`:

    python benchmarks/reject_timing_benchmark.py --parts 300 --rate 25 --write-docs
"""
import argparse
import logging
import os
from pathlib import Path
import platform
import threading
import time

from acnn_ros.core.actuators import TopicActuator
from acnn_ros.core.decision import RejectPolicy
from acnn_ros.core.plc import ModbusActuator, PlcConfig
from acnn_ros.core.reject_scheduler import FrameKey, RejectScheduler, SchedulerSettings
from acnn_ros.core.results import InspectionOutcome, InspectionStatus
from acnn_ros.tools.plc_simulator import PlcSimulator
import numpy as np

DOCS = Path(__file__).resolve().parents[1] / 'docs' / 'BENCHMARKS.md'
MARKER = '<!-- section:line -->'


def run(actuator, parts: int, rate_hz: float, delay_s: float, reject_every: int):
    """Feed `parts` parts at `rate_hz`; return the scheduler's records."""
    records, done = [], threading.Event()

    def collect(record):
        records.append(record)
        if len(records) == parts:
            done.set()

    settings = SchedulerSettings(reject_delay_s=delay_s, inspection_window_s=delay_s / 2,
                                 pulse_width_s=min(0.01, 0.4 / rate_hz),
                                 max_fire_lateness_s=0.05)
    scheduler = RejectScheduler(settings, RejectPolicy(reject_classes=('bad',)), actuator,
                                collect)
    scheduler.start()
    start = time.time()
    for index in range(parts):
        time.sleep(max(0.0, start + index / rate_hz - time.time()))
        key = FrameKey(time.time_ns(), 'camera')
        scheduler.add_trigger(key, index + 1)
        name = 'bad' if index % reject_every == 0 else 'good'
        time.sleep(0.002)   # a result shortly after capture
        scheduler.add_result(key, InspectionOutcome(InspectionStatus.OK, class_name=name,
                                                    confidence=0.9))
    done.wait(delay_s + 10.0)
    time.sleep(delay_s + 0.2)   # accepted parts are final at once; their PLC writes follow
    scheduler.stop()
    return records, scheduler.counters_snapshot()


def stats_ms(errors_s):
    """Return p50/p99/max of errors in milliseconds."""
    errors = np.asarray(errors_s) * 1000.0
    return {'n': len(errors), 'p50': float(np.percentile(errors, 50)),
            'p99': float(np.percentile(errors, 99)), 'max': float(errors.max())}


def main(argv=None) -> int:
    """Run both backends and print (and optionally record) the fire-time errors."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--parts', type=int, default=300)
    parser.add_argument('--rate', type=float, default=25.0, help='parts per second')
    parser.add_argument('--delay', type=float, default=0.3, help='reject_delay_s')
    parser.add_argument('--reject-every', type=int, default=2)
    parser.add_argument('--write-docs', action='store_true')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    rows = []
    sim = PlcSimulator().start()
    actuator = ModbusActuator(PlcConfig(port=sim.port, heartbeat_period_s=1.0, timeout_s=0.1))
    actuator.start()
    time.sleep(0.3)
    records, counters = run(actuator, args.parts, args.rate, args.delay, args.reject_every)
    actuator.stop()
    sim.stop()
    due = {r.part_id: r.due_time for r in records}
    coil_on = [on for on, _ in sim.coil_pulses()]
    rejects = [d for d in sim.decisions() if d.verdict == 2]
    # The n-th rising edge belongs to the n-th reject decision block (one pulse per reject).
    plc_rx = [on - due[d.part_id] for d, on in zip(rejects, coil_on)]
    block_rx = [d.time - due[d.part_id] for d in sim.decisions()]
    rows.append(('modbus: coil write received by the PLC', stats_ms(plc_rx), counters))
    rows.append(('modbus: decision block received by the PLC', stats_ms(block_rx), counters))

    records, counters = run(TopicActuator(), args.parts, args.rate, args.delay,
                            args.reject_every)
    topic = [r.fire_time - r.due_time for r in records if r.fire_time]
    rows.append(('topic: command issued', stats_ms(topic), counters))

    machine = f'{platform.node()} ({platform.processor() or platform.machine()}, ' \
              f'{len(os.sched_getaffinity(0))} cores, shared)'
    lines = [
        MARKER,
        '## Line: reject timing (benchmarks/reject_timing_benchmark.py)',
        '',
        f'`python benchmarks/reject_timing_benchmark.py --parts {args.parts} --rate '
        f'{args.rate:g} --delay {args.delay:g} --reject-every {args.reject_every} '
        f'--write-docs` on {machine}, {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}.',
        'Real reject scheduler, real pymodbus 3.16.1 server on 127.0.0.1 (PlcSimulator). Error = '
        'time the PLC received the write (or the command was issued) minus the due time '
        '(capture stamp + reject_delay_s).',
        '',
        '| what | n | p50 ms | p99 ms | max ms | fired | missed | late |',
        '|---|---|---|---|---|---|---|---|',
    ]
    for name, stats, counters in rows:
        lines.append(f'| {name} | {stats["n"]} | {stats["p50"]:.2f} | {stats["p99"]:.2f} | '
                     f'{stats["max"]:.2f} | {counters.fired} | {counters.missed} | '
                     f'{counters.late} |')
    text = '\n'.join(lines) + '\n'
    print(text)
    if args.write_docs:
        write_section(text)
    return 0


def write_section(text: str) -> None:
    """Replace this benchmark's section (marker up to the next marker) in BENCHMARKS.md."""
    doc = DOCS.read_text(encoding='utf-8')
    start = doc.index(MARKER)
    end = doc.find('<!-- section:', start + len(MARKER))
    end = len(doc) if end < 0 else end
    DOCS.write_text(doc[:start] + text + '\n' + doc[end:], encoding='utf-8')


if __name__ == '__main__':
    raise SystemExit(main())
