# SPDX-License-Identifier: Apache-2.0
"""
Reject timing: how far from its due time (capture + reject_delay_s) each command reaches the PLC.

Runs the real reject scheduler against the real pymodbus PLC simulator on 127.0.0.1 (Modbus
backend: time the simulator *received* the coil write) and with the topic backend (time the
command was issued). Writes its table into docs/BENCHMARKS.md under `<!-- section:line -->`:

    python -m benchmarks.reject_timing_benchmark --parts 200 --rate 25 --write-docs

The same path in the real node process while camera + inference saturate the cores, with the
firing path isolated or not: benchmarks/reject_load_benchmark.py (section line-load).
"""
import argparse
import logging
import multiprocessing
import os
from pathlib import Path
import platform
import sys
import threading
import time

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.plc.local import TopicActuator
from acnn_ros.core.plc.modbus.client import ModbusActuator
from acnn_ros.core.plc.modbus.config import ModbusConfig
from acnn_ros.core.plc.modbus.simulator import PlcSimulator
from acnn_ros.core.reject.config import RejectActuatorConfig
from acnn_ros.core.reject.decision import RejectPolicy
from acnn_ros.core.reject.scheduler import SchedulerSettings
from acnn_ros.core.reject.scheduler_thread import SchedulerThread
from acnn_ros.core.results import InspectionOutcome, InspectionStatus
from acnn_ros.core.stats import percentiles
from benchmarks.common import report_section
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

    settings = SchedulerSettings.from_config(RejectActuatorConfig(
        reject_delay_s=delay_s, inspection_window_s=delay_s / 2,
        pulse_width_s=min(0.01, 0.4 / rate_hz), max_fire_lateness_s=0.05))
    scheduler = SchedulerThread(settings, RejectPolicy(reject_classes=('bad',)), actuator,
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
    return dict(percentiles(errors), max=float(errors.max()))


def _serve(connection, register_map) -> None:
    # The PLC is another machine: its simulator runs in a process of its own so that its
    # replies do not compete with the vision process for the GIL.
    sim = PlcSimulator(register_map=register_map).start()
    connection.send(sim.port)
    connection.recv()
    sim.stop()
    connection.send((sim.decisions(), sim.coil_pulses()))


def measure_modbus(args):
    """Run the Modbus backend against a simulator process; return (coil errors, counters)."""
    context = multiprocessing.get_context('spawn')
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, ModbusConfig()), daemon=True)
    process.start()
    port = parent.recv()
    actuator = ModbusActuator(ModbusConfig(port=port, heartbeat_period_s=1.0, timeout_s=0.1))
    actuator.start()
    time.sleep(0.3)
    records, counters = run(actuator, args.parts, args.rate, args.delay, args.reject_every)
    actuator.stop()
    parent.send('stop')
    decisions, pulses = parent.recv()
    process.join(5)
    due = {r.part_id: r.due_time for r in records}
    errors = []
    for on, _ in pulses:
        # A rising edge belongs to the reject block written just before it.
        block = [d for d in decisions if d.verdict == 2 and d.time <= on][-1]
        errors.append(on - due[block.part_id])
    return errors, counters


def measure_topic(args):
    """Run the topic backend; return (fire errors, counters)."""
    records, counters = run(TopicActuator(), args.parts, args.rate, args.delay,
                            args.reject_every)
    return [r.fire_time - r.due_time for r in records if r.fire_time], counters


def _burn(stop: threading.Event) -> None:
    # Pure-Python work that holds the GIL, like other nodes of a one-process line.
    while not stop.is_set():
        sum(range(1000))


def main(argv=None) -> int:
    """Run both backends under each load scenario; print (and optionally record) the errors."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--parts', type=int, default=200)
    parser.add_argument('--rate', type=float, default=25.0, help='parts per second')
    parser.add_argument('--delay', type=float, default=0.3, help='reject_delay_s')
    parser.add_argument('--reject-every', type=int, default=2)
    parser.add_argument('--write-docs', action='store_true')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)

    scenarios = [('idle process', 0, 0.005), ('2 busy Python threads', 2, 0.005),
                 ('2 busy Python threads', 2, 0.001)]
    rows = []
    default_interval = sys.getswitchinterval()
    for label, threads, interval in scenarios:
        sys.setswitchinterval(interval)
        stop = threading.Event()
        burners = [threading.Thread(target=_burn, args=(stop,), daemon=True)
                   for _ in range(threads)]
        for burner in burners:
            burner.start()
        for backend, measure in (('modbus (PLC received the coil write)', measure_modbus),
                                 ('topic (command issued)', measure_topic)):
            errors, counters = measure(args)
            rows.append((label, interval, backend, stats_ms(errors), counters))
        stop.set()
        for burner in burners:
            burner.join()
    sys.setswitchinterval(default_interval)

    machine = f'{platform.node()} ({platform.processor() or platform.machine()}, ' \
              f'{len(os.sched_getaffinity(0))} cores, shared with other jobs, load average ' \
              f'{os.getloadavg()[0]:.1f})'
    lines = [
        MARKER,
        '## Line: reject timing (benchmarks/reject_timing_benchmark.py)',
        '',
        f'`python -m benchmarks.reject_timing_benchmark --parts {args.parts} --rate '
        f'{args.rate:g} --delay {args.delay:g} --reject-every {args.reject_every} '
        f'--write-docs` on {machine}, {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}.',
        '',
        'Real reject scheduler and PLC client; real pymodbus 3.16.1 server (PlcSimulator) on '
        '127.0.0.1 in a process of its own. Error = time the PLC received the coil write (or the '
        'topic command was issued) minus the due time (capture stamp + reject_delay_s); '
        f'{args.parts} parts at {args.rate:g} parts/s, 1 in {args.reject_every} rejected, '
        'max_fire_lateness_s 0.05. "Busy Python threads" stand for the other nodes of the '
        'one-process demo; the switch interval is `sys.setswitchinterval` (Python default 5 ms; '
        'reject_actuator_node sets `python_switch_interval_s`, 1 ms by default).',
        '',
        '| load | switch interval ms | backend | n | p50 ms | p99 ms | max ms | fired | missed |',
        '|---|---|---|---|---|---|---|---|---|',
    ]
    for label, interval, backend, stats, counters in rows:
        lines.append(f'| {label} | {interval * 1000:g} | {backend} | {stats["n"]} | '
                     f'{stats["p50"]:.2f} | {stats["p99"]:.2f} | {stats["max"]:.2f} | '
                     f'{counters.fired} | {counters.missed} |')
    text = '\n'.join(lines) + '\n'
    report_section(MARKER, text, args.write_docs)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
