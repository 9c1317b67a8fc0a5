# SPDX-License-Identifier: Apache-2.0
"""
The whole line's rated rate: the highest part rate the soak's graph sustains (issue 26, item 4).

benchmarks/line_rate_benchmark.py measures the inference path alone (a driver process and
inference_node): 190-200 Hz on this VM. A line also has camera_node drawing synthetic frames,
reject_actuator_node writing every decision to a PLC over Modbus, and the soak's observer, all
on the same two cores. This benchmark runs the soak itself (benchmarks/soak_benchmark.py, the
same processes, config/inspect.yaml, no restarts) for a short probe at a fixed camera rate and
binary-searches the highest rate at which fewer than 1 % of the parts the camera should have
captured were not both answered OK and written to the PLC, with the accounting reconciled and
the observer losing nothing (acnn_ros.app.bench.soak_accounting.line_probe;
acnn_ros.app.bench.rate_search.find_max_rate). That rate is the soak's "rated rate".

    python -m benchmarks.soak_rate_benchmark --low-hz 30 --high-hz 150 --probe-s 60
"""
import argparse
import json
import os
from pathlib import Path
import sys
import time

from acnn_ros.app.bench.rate_search import find_max_rate, Probe
from acnn_ros.app.bench.soak_accounting import line_probe
from benchmarks.common import keep_dds_local
from benchmarks.soak_benchmark import parse_args as soak_args, run_soak


def probe_line(rate_hz: float, args, rows: list) -> Probe:
    """Run one soak probe at `rate_hz` (no restarts) and return it as a rate probe."""
    out = Path(args.out) / f'{rate_hz:.1f}hz'
    load = os.getloadavg()[0]
    report = run_soak(soak_args([
        '--rate-hz', f'{rate_hz:.1f}', '--duration-s', str(args.probe_s), '--plc-every-s', '0',
        '--inference-every-s', '0', '--warmup-s', str(args.probe_s / 3), '--print-s', '30',
        '--out', str(out)]))
    probe = line_probe(report, int(round(rate_hz * report['duration_s'])))
    counts = report['counts']
    rows.append({'rate_hz': round(rate_hz, 1), 'expected': probe.sent, 'ok': probe.ok,
                 'passed': probe.passed(), 'captured': counts['frames'],
                 'not_answered_ok': counts['frames_not_answered_ok'],
                 'not_written': counts['missed'] + counts['accepts_undelivered'],
                 'reconciled': report['reconciled'],
                 'observer_ok': report['observer']['check']['ok'],
                 'cpu_percent': {r['process']: r['percent'] for r in report['cpu_percent']},
                 'load_1min': round(load, 2)})
    print(f'probe {rate_hz:.1f} Hz: {probe.ok} of {probe.sent} parts OK and written, '
          f'{"pass" if probe.passed() else "FAIL"} (load {load:.2f})', flush=True)
    return probe


def markdown(result, rows: list, args) -> str:
    """Return the probes and the rated rate as a docs/BENCHMARKS.md paragraph and table."""
    lines = [f'Rated rate of the whole line: **{result.best_hz:.1f} Hz** '
             f'(`python -m benchmarks.soak_rate_benchmark {" ".join(sys.argv[1:])}`, '
             f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},'
             f' {os.cpu_count()} CPUs; {args.probe_s:g}-s probes, < 1 % of the parts not '
             'answered OK and written to the PLC).', '',
             '| probe Hz | parts expected | captured | OK and written | not answered OK | '
             'decisions not written | reconciled | observer lost nothing | pass | '
             'CPU % (camera / inference / actuator / observer) | load 1 min |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for row in rows:
        cpu = row['cpu_percent']
        lines.append(
            f'| {row["rate_hz"]:g} | {row["expected"]} | {row["captured"]} | {row["ok"]} | '
            f'{row["not_answered_ok"]} | {row["not_written"]} | {row["reconciled"]} | '
            f'{row["observer_ok"]} | {"yes" if row["passed"] else "no"} | '
            + ' / '.join(f'{cpu.get(name, 0):.0f}' for name in (
                'camera_node', 'inference_node', 'reject_actuator_node', 'soak_observer'))
            + f' | {row["load_1min"]:.2f} |')
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    """Search the rated rate; print it and write rated_rate.json / .md under --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--low-hz', type=float, default=30.0, help='lowest rate searched')
    parser.add_argument('--high-hz', type=float, default=150.0, help='highest rate searched')
    parser.add_argument('--probe-s', type=float, default=60.0, help='capture time per probe')
    parser.add_argument('--max-probes', type=int, default=6, help='probes at most')
    parser.add_argument('--out', default='runs/soak_rate', help='report folder')
    args = parser.parse_args(argv)
    keep_dds_local(62)
    rows: list = []
    result = find_max_rate(lambda rate: probe_line(rate, args, rows), args.low_hz,
                           args.high_hz, max_probes=args.max_probes, rel_tolerance=0.05)
    text = markdown(result, rows, args)
    out = Path(args.out)
    (out / 'rated_rate.json').write_text(json.dumps(
        {'rated_rate_hz': result.best_hz, 'probes': rows}, indent=1), encoding='utf-8')
    (out / 'rated_rate.md').write_text(text, encoding='utf-8')
    print(text)
    return 0 if result.best_hz > 0 else 1


if __name__ == '__main__':
    sys.exit(main())
