# SPDX-License-Identifier: Apache-2.0
"""
Replay benchmark: offline evaluation throughput and replay-through-the-graph throughput.

    python -m benchmarks.replay_benchmark [--model M] [--frames 200] [--write-docs]

1. Offline: `acnn eval-recording`'s work on a synthetic bag (bag read + decode + pipeline +
   policy), frames per second, and the whole command including the report (plots, tables).
2. Live: bag_player_node -> inference_node (separate processes, real DDS) in lockstep pace:
   frames per second with zero dropped or missing results; then the same bag at `fast` pace
   (no waiting) to show what the inference node drops when frames come faster than it runs;
   then the line's default best-effort image QoS without and with
   config/fastdds_large_images.xml.

The model defaults to resource/models/acnn_demo.onnx, else the contract test model
(test/contract_model.py, a tiny network: the numbers then measure the plumbing, not the A-CNN).
`--write-docs` replaces the replay section of docs/BENCHMARKS.md.
"""
import argparse
import json
import os
from pathlib import Path
import platform
import subprocess
import sys
import tempfile
import time

from benchmarks.common import keep_dds_local, report_section

REPO_DIR = Path(__file__).resolve().parents[1]
SECTION = '<!-- section:replay -->'
DEMO_MODEL = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'


def ensure_model(model, work: Path) -> Path:
    """Return the model to use: the given one, else the shipped demo model."""
    if model:
        return Path(model)
    if DEMO_MODEL.is_file():
        return DEMO_MODEL
    raise SystemExit(f'no model: {DEMO_MODEL} is missing; pass --model PATH.onnx')


def make_bag(path: Path, frames: int, seed: int) -> Path:
    """Write a synthetic bag of `frames` 640x480 bgr8 frames with ground truth."""
    from acnn_ros.offline.make_bag_cli import synthetic_items, write_image_bag
    write_image_bag(path, synthetic_items(frames, seed), rate_hz=10.0)
    return path


def offline(model: Path, bag: Path, out: Path) -> dict:
    """Time the evaluation loop, then the whole `acnn eval-recording` command."""
    from acnn_ros.core.reject.decision import RejectPolicy
    from acnn_ros.runtime.pipeline import InspectionPipeline
    from acnn_ros.offline.evaluation import BagSource, run_pipeline
    pipeline = InspectionPipeline.from_model_path(model, providers=('cpu',))
    source = BagSource(bag)
    start = time.perf_counter()
    verdicts = run_pipeline(pipeline, source.frames(), RejectPolicy(), progress=False)
    loop_s = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([sys.executable, '-m', 'acnn_ros.cli', 'eval-recording', '--model', str(model),
                    '--bag', str(bag), '--out', str(out), '--no-progress'], cwd=REPO_DIR,
                   check=True, capture_output=True)
    command_s = time.perf_counter() - start
    return {'frames': len(verdicts), 'loop_fps': len(verdicts) / loop_s,
            'command_s': command_s, 'model_id': pipeline.model_id}


PROFILE = REPO_DIR / 'config' / 'fastdds_large_images.xml'


def _node(name: str, params: dict, log: Path, env: dict) -> subprocess.Popen:
    command = [sys.executable, '-m', f'acnn_ros.nodes.{name}', '--ros-args']
    for key, value in params.items():
        command += ['-p', f'{key}:={json.dumps(value) if isinstance(value, list) else value}']
    with open(log, 'w') as stream:
        return subprocess.Popen(command, cwd=REPO_DIR, stdout=stream, stderr=subprocess.STDOUT,
                                env=env)


def replay(model: Path, bag: Path, work: Path, name: str, pace: str = 'lockstep',
           image_qos: str = 'reliable', profile: bool = False, max_frames: int = 0,
           result_timeout_s: float = 2.0) -> dict:
    """Play the bag into a running inference_node; return the player's statistics."""
    env = dict(os.environ)
    env.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)
    if profile:
        env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(PROFILE)
    log = work / f'inference_{name}.log'
    inference = _node('inference_node', {'model_path': str(model), 'providers': ['cpu'],
                                         'image_qos': image_qos}, log, env)
    try:
        deadline = time.monotonic() + 60.0
        while 'inspecting' not in log.read_text() and time.monotonic() < deadline:
            if inference.poll() is not None:
                raise RuntimeError(f'inference_node exited: {log.read_text()}')
            time.sleep(0.1)
        summary = work / f'replay_{name}.json'
        player = _node('bag_player_node', {
            'bag_path': str(bag), 'pace': pace, 'summary_path': str(summary),
            'max_frames': max_frames, 'result_timeout_s': result_timeout_s},
            work / f'player_{name}.log', env)
        player.wait(timeout=600)
        return json.loads(summary.read_text())
    finally:
        inference.terminate()
        inference.wait(timeout=30)


def machine() -> str:
    """Describe this machine in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    return f'{cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}'


def section(results: dict, args) -> str:
    """Return the BENCHMARKS.md section text (after the marker line)."""
    off, lock, fast = results['offline'], results['lockstep'], results['fast']
    be, bep = results['best_effort'], results['best_effort_profile']
    note = (' (the tiny contract test network, not the A-CNN: these numbers measure bag I/O, '
            'DDS and pipeline plumbing)' if off['model_id'].startswith('contract') else '')
    return '\n'.join([
        '## Replay and offline evaluation (benchmarks/replay_benchmark.py)', '',
        f'Command: `python -m benchmarks.replay_benchmark --frames {args.frames} --write-docs`',
        f'Machine: {machine()}; shared with other jobs, so absolute numbers are noisy.',
        f'Model: `{off["model_id"]}`{note}; bag: {args.frames} synthetic 640x480 bgr8 frames '
        '(sqlite3).', '',
        '| measurement | result |', '|---|---|',
        f'| offline evaluation loop (read + decode + pipeline + policy) | '
        f'{off["loop_fps"]:.1f} frames/s |',
        f'| `acnn eval-recording` whole command incl. start-up and report | '
        f'{off["command_s"]:.1f} s for {off["frames"]} frames |',
        f'| replay through inference_node, lockstep pace | {lock["frames_per_s"]:.1f} frames/s,'
        f' {lock["results"]}/{lock["published"]} results, {lock["dropped"]} dropped, '
        f'{lock["missing"]} missing |',
        f'| same bag at `fast` pace (no waiting) | {fast["frames_per_s"]:.1f} frames/s '
        f'published, {fast["dropped"]} dropped by inference_node, {fast["missing"]} missing |',
        f'| lockstep, inference `image_qos:=sensor_data` (best effort, default), 30 frames | '
        f'{be["results"]}/{be["published"]} results, {be["missing"]} missing |',
        f'| same with `FASTDDS_DEFAULT_PROFILES_FILE=config/fastdds_large_images.xml` | '
        f'{bep["frames_per_s"]:.1f} frames/s, {bep["results"]}/{bep["published"]} results, '
        f'{bep["missing"]} missing |',
        f'| live/offline throughput ratio (lockstep) | '
        f'{lock["frames_per_s"] / off["loop_fps"]:.2f} |', '',
        "Lockstep sends the next frame when the previous result arrived: the graph's own "
        'rate with no drops. At `fast` pace frames come faster than inference runs: the node '
        'keeps the newest frame and answers the others with STATUS_DROPPED, and frames that '
        'overflow its image subscription queue (image_qos_depth) never reach it (missing). '
        'Without the profile a 0.9 MB frame exceeds the 512 KB Fast DDS shared-memory segment and '
        'travels as UDP fragments; a best-effort reader loses it when one fragment is dropped '
        '(docs/REPLAY.md).', ''])


def main(argv=None) -> int:
    """Parse arguments, run, print and optionally write the docs section."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--model', default=None, help='model .onnx (default: demo model)')
    parser.add_argument('--frames', type=int, default=200, help='frames in the bag')
    parser.add_argument('--seed', type=int, default=7)
    parser.add_argument('--write-docs', action='store_true',
                        help='replace the replay section of docs/BENCHMARKS.md')
    args = parser.parse_args(argv)
    keep_dds_local(61)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = ensure_model(args.model, work)
        bag = make_bag(work / 'bag', args.frames, args.seed)
        results = {
            'offline': offline(model, bag, work / 'report'),
            'lockstep': replay(model, bag, work, 'lockstep'),
            'fast': replay(model, bag, work, 'fast', pace='fast'),
            # The line's default best-effort image QoS, without and with the Fast DDS profile
            # (30 frames, short timeout: lost frames would otherwise cost 2 s each).
            'best_effort': replay(model, bag, work, 'best_effort', image_qos='sensor_data',
                                  max_frames=30, result_timeout_s=0.3),
            'best_effort_profile': replay(model, bag, work, 'best_effort_profile',
                                          image_qos='sensor_data', profile=True),
        }
    print(json.dumps(results, indent=1))
    text = section(results, args)
    report_section(SECTION, text, args.write_docs)
    return 0


if __name__ == '__main__':
    sys.exit(main())
