# SPDX-License-Identifier: Apache-2.0
"""
A new product in minutes on the line PC's CPU: transfer from the demo model (issue 24, item 2).

A new 4-class product (other printed codes than the demo model's) is generated with `acnn
synth`, then trained twice with the same budget: from the shipped demo model (`acnn train
--init-from resource/models/acnn_demo.onnx`: localization and trunk reused, the class layer
learned again) and from scratch. Each row reports the wall time of the training command (2
cores, the load average beside it) and the device-shift test accuracy the trainer measured once
at the end (test_metrics.json). Each step is the `acnn` command a user runs; reruns reuse
finished steps (delete --runs to redo).

    python -m benchmarks.transfer_benchmark [--epochs 4] [--num-train 1000] [--write-docs]
"""
import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
import time

from benchmarks.common import REPO_DIR, report_section

SECTION = '<!-- section: transfer -->'
PRODUCT = ('p5120', 'p5127', 'p7301', 'p7309')     # codes the demo model never saw
DEMO = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'


def run_step(name: str, args, out: Path) -> dict:
    """Run one `acnn` command unless its output exists; return wall time and load."""
    stamp = out / f'{name}.json'
    if stamp.is_file():
        return json.loads(stamp.read_text())
    command = [sys.executable, '-m', 'acnn_ros.cli', *args]
    print('$', ' '.join(command), flush=True)
    load = os.getloadavg()[0]
    start = time.monotonic()
    subprocess.run(command, check=True, cwd=REPO_DIR)
    shown = ' '.join(['acnn', *args]).replace(f'{REPO_DIR}/', '')     # paths as in the docs
    record = {'command': shown, 'wall_s': time.monotonic() - start,
              'load_before': round(load, 2), 'load_after': round(os.getloadavg()[0], 2)}
    stamp.write_text(json.dumps(record, indent=1))
    return record


def main(argv=None) -> int:
    """Generate the product, train both rows, print (and write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--runs', type=Path, default=REPO_DIR / 'runs' / 'transfer')
    parser.add_argument('--num-train', type=int, default=1000)
    parser.add_argument('--num-test', type=int, default=500)
    parser.add_argument('--epochs', type=int, default=4)
    parser.add_argument('--freeze-localization-epochs', type=int, default=1)
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--rows', default='transfer,scratch')
    parser.add_argument('--write-docs', action='store_true')
    args = parser.parse_args(argv)
    args.runs.mkdir(parents=True, exist_ok=True)
    data = args.runs / 'data'
    steps = {'synth': run_step('synth', [
        'synth', str(data), '--num-train', str(args.num_train), '--num-test', str(args.num_test),
        '--seed', '11', '--classes', ','.join(PRODUCT)], args.runs)}
    common = ['train', str(data), '--variant', 'opt', '--roi-output', '64x48', '--epochs',
              str(args.epochs), '--lr', str(args.lr), '--no-progress']
    rows = {'transfer': ['--init-from', str(DEMO), '--freeze-localization-epochs',
                         str(args.freeze_localization_epochs)],
            'scratch': []}
    results = {}
    for row in args.rows.split(','):
        out = args.runs / row
        steps[row] = run_step(row, [*common, *rows[row], '--out', str(out)], args.runs)
        results[row] = json.loads((out / 'test_metrics.json').read_text())
    lines = [SECTION, '',
             f'`python -m benchmarks.transfer_benchmark --epochs {args.epochs} --num-train '
             f'{args.num_train}` ({time.strftime("%Y-%m-%d")}, {os.cpu_count()} CPUs, no GPU): '
             f'a new product ({", ".join(PRODUCT)}; codes the demo model never saw), '
             f'{args.num_train} training frames (device 0, 5 % with a box), device-shift test '
             f'{args.num_test} frames (device 1). Generating it took '
             f'{steps["synth"]["wall_s"]:.0f} s.', '',
             '| row | command | training wall time | load before / after | test accuracy | '
             'ROI centre error mean px |', '|---|---|---|---|---|---|']
    for row, metrics in results.items():
        step = steps[row]
        lines.append(f'| {row} | `{step["command"]}` | {step["wall_s"] / 60:.1f} min | '
                     f'{step["load_before"]:.2f} / {step["load_after"]:.2f} | '
                     f'{metrics["accuracy"] * 100:.2f} % | '
                     f'{metrics.get("roi_center_error_px_mean") or float("nan"):.1f} |')
    report_section(SECTION, '\n'.join(lines) + '\n', args.write_docs)
    return 0


if __name__ == '__main__':
    sys.exit(main())
