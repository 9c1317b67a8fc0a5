# SPDX-License-Identifier: Apache-2.0
"""
Run every fault-injection scenario on the real processes and write the table (issue 19).

The scenarios are acnn_ros/app/fault_scenarios.py, the same the tests run
(test/test_line_faults.py): reject_actuator_node (+ inference_node) as real processes with
config/inspect.yaml, a Modbus PLC simulator process applying the PLC contract, an observer.

    python -m benchmarks.fault_injection_benchmark [--only NAME ...] [--no-docs]
"""
import argparse
import os
from pathlib import Path
import sys
import time

from benchmarks.common import keep_dds_local, report_section

REPO_DIR = Path(__file__).resolve().parents[1]

MARKER = '## Fault injection on the real processes (issue 19)'
# Measured once on the code before issue 19 (commit ccc6e20, same scenarios, this machine,
# 2026-12-06): what each check caught then. Kept beside the table as its baseline.
BASELINE = (
    'Before issue 19 (commit ccc6e20, the same scenarios on this machine, 2026-12-06) they '
    "failed: the stray publisher's 20 frames reached the PLC as 20 decisions of part 0 with a "
    'verdict and a reject pulse each; after a 3-s SIGSTOP the PLC applied 6 decision blocks '
    '0.7-3.0 s after their parts were due and fired 10 ejector pulses 0.4-4.1 s late, with a '
    "log line per part; a PLC with no listener printed pymodbus's raw `Failed to connect` / "
    '`Repeating....` and never its own line; a killed inference_node left 12 NO_RESULT rejects '
    'with no log line and diagnostics at WARN; 20 parts while the actuator was inactive were '
    'not accounted.')


def _cell(value) -> str:
    return str(value).replace('|', '/').replace('\n', ' ')


def table(results, seconds) -> str:
    """Return the Markdown section of `results` ({name: (ScenarioResult, seconds)})."""
    load = ', '.join(f'{x:.2f}' for x in os.getloadavg())
    lines = [MARKER, '',
             f'`python -m benchmarks.fault_injection_benchmark`, {time.strftime("%Y-%m-%d")}, '
             f'this machine (2 cores, no GPU), load average at the end {load}, '
             f'{seconds:.0f} s in all. Each row is one scenario of '
             '`acnn_ros/app/fault_scenarios.py` (also `test/test_line_faults.py`); "checks" '
             'counts the assertions that held. The PLC simulator applies the PLC contract of '
             'docs/LINE_INTEGRATION.md ("What protects the PLC from a stale or phantom '
             'decision").', '',
             '| scenario | checks | s | numbers |', '|---|---|---|---|']
    for name, (result, took) in results.items():
        held = sum(ok for _, ok, _ in result.checks)
        numbers = {k: v for k, v in result.numbers.items() if k not in ('lines', 'exit')}
        lines.append(f'| {_cell(result.name)} | {held}/{len(result.checks)}'
                     f'{"" if result.passed else " FAIL"} | {took:.0f} | {_cell(numbers)} |')
    lines += ['', BASELINE, '', 'What the actuator said (one line each):', '']
    for name, (result, _) in results.items():
        for line in result.numbers.get('lines', []):
            lines.append(f'- {name}: `{line.split("]: ", 1)[-1]}`')
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    """Run the scenarios; print and (unless --no-docs) write the table; 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--only', nargs='*', default=None, help='scenario names to run')
    parser.add_argument('--no-docs', action='store_true', help='do not write BENCHMARKS.md')
    args = parser.parse_args(argv)
    keep_dds_local(67)
    from acnn_ros.app.fault_scenarios import SCENARIOS
    names = args.only or list(SCENARIOS)
    results, start = {}, time.monotonic()
    for name in names:
        began = time.monotonic()
        result = SCENARIOS[name]()
        results[name] = (result, time.monotonic() - began)
        print(f'{name}: {"PASS" if result.passed else "FAIL"} {result.numbers}', flush=True)
        if not result.passed:
            print(result.failures(), flush=True)
    text = table(results, time.monotonic() - start)
    report_section(MARKER, text, not args.no_docs)
    return 0 if all(r.passed for r, _ in results.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
