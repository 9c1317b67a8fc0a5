# SPDX-License-Identifier: Apache-2.0
"""
Inference latency and throughput at 640x480, in one run: model, core pipeline, node over DDS.

Stages (same model, same thread settings):
1. model only: ONNX Runtime session.run on a preprocessed tensor;
2. core pipeline: InspectionPipeline.inspect_image (decode + preprocess + infer + postprocess)
   on the fields of a bgr8 sensor_msgs/Image;
3. node end to end (inference_node_driver.py): inference_node in its own process; this
   process publishes a sensor_msgs/Image and waits for its InspectionResult over real DDS
   (one frame in flight), then publishes as fast as results come back (sustained fps), then
   paces a 60 fps camera.
Node RSS is read from /proc. Results are printed and, with --write-docs, replace this
benchmark's section of docs/BENCHMARKS.md.

    python -m benchmarks.inference_benchmark --write-docs
"""
import argparse
import array
import json
import os
from pathlib import Path
import platform
import subprocess
import sys
import tempfile
import time

from acnn_ros.app.proc_status import rss_mib
from acnn_ros.core.stats import percentiles
from benchmarks.common import report_section
from benchmarks.inference_node_driver import NodeDriver
import numpy as np

REPO_DIR = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'
SECTION = '<!-- section:inference -->'


UNTRAINED_EXPORT = """
import sys
import torch
from acnn_ros.core.model_card import ModelCard
from acnn_ros.model.acnn import build_model
from acnn_ros.model.export import export_onnx
torch.manual_seed(0)
card = ModelCard(name='acnn_opt_untrained', class_names=('p1069', 'p1071', 'p3707', 'p3709'),
                 variant='opt')
export_onnx(build_model('opt', 4), card, sys.argv[1])
"""


def untrained_model(directory: Path) -> Path:
    """
    Export an untrained 'opt' A-CNN (same graph, hence same speed, as a trained one).

    In a child process, so that torch's threads and memory stay out of the measurements.
    """
    path = directory / 'acnn_opt_untrained.onnx'
    subprocess.run([sys.executable, '-W', 'ignore', '-c', UNTRAINED_EXPORT, str(path)],
                   cwd=str(REPO_DIR), check=True)
    return path


def test_frame(seed: int = 0) -> np.ndarray:
    """Return a 640x480 BGR frame: textured background with a small printed-code-like patch."""
    rng = np.random.default_rng(seed)
    frame = rng.integers(60, 120, (480, 640, 3), dtype=np.uint8)
    frame[300:320, 400:432] = rng.integers(0, 255, (20, 32, 3), dtype=np.uint8)
    return frame


def _p50_p99(values_ms):
    stats = percentiles(values_ms)
    return stats['p50'], stats['p99']


def bench_in_process(pipeline, frame, iterations):
    """
    Time engine.run alone and the whole core pipeline, alternating frame by frame.

    Alternating makes both see the same background load, so their ratio holds on a shared
    machine even when the absolute numbers drift.
    """
    from acnn_ros.core.preprocess import preprocess
    tensor, _ = preprocess(frame, pipeline.card.input_width, pipeline.card.input_height)
    data = array.array('B', frame.tobytes())
    model_ms, pipeline_ms = [], []
    for _ in range(iterations):
        start = time.perf_counter()
        pipeline.engine.run(tensor)
        middle = time.perf_counter()
        outcome, _ = pipeline.inspect_image('bgr8', 640, 480, 1920, data)
        end = time.perf_counter()
        model_ms.append((middle - start) * 1000.0)
        pipeline_ms.append((end - middle) * 1000.0)
    assert outcome.status == 0, outcome.detail
    return model_ms, pipeline_ms


def run(args, threads: int):
    """Run every stage with `threads` intra-op threads and return the measurements."""
    from acnn_ros.runtime.pipeline import InspectionPipeline
    load = os.getloadavg()
    model = Path(args.model)
    note = ''
    if not model.is_file():
        model = untrained_model(Path(tempfile.mkdtemp(prefix='acnn_bench_')))
        note = (f'{args.model} was not present: measured an untrained `opt` A-CNN exported '
                'by acnn_ros.model.export (same graph, so the same speed)')
    pipeline = InspectionPipeline.from_model_path(model, providers=args.providers,
                                                  intra_op_threads=threads, warmup_runs=5)
    frame = test_frame()
    model_ms, pipeline_ms = bench_in_process(pipeline, frame, args.iterations)
    bench_rss = rss_mib(os.getpid())
    driver = NodeDriver(model, threads, args.providers)
    try:
        driver.wait_ready()
        data = array.array('B', frame.tobytes())
        driver.latency(data, 20)  # warm-up: discovery, first allocations
        e2e_ms, node_ms, node_model_ms = driver.latency(data, args.iterations)
        node_stages = {name: percentiles(values, (50,))['p50']
                       for name, values in driver.stage_ms.items()}
        sustained = driver.throughput(data, args.seconds)
        camera60 = driver.throughput(data, args.seconds, period_s=1 / 60.0)
    finally:
        node_rss = driver.close()
    model_p50, model_p99 = _p50_p99(model_ms)
    pipe_p50, pipe_p99 = _p50_p99(pipeline_ms)
    e2e_p50, e2e_p99 = _p50_p99(e2e_ms)
    inside_p50, inside_p99 = _p50_p99(node_ms)
    node_model_p50, node_model_p99 = _p50_p99(node_model_ms)
    return {
        'model': f'{pipeline.model_id} ({pipeline.card.variant or "?"}, input '
                 f'{pipeline.card.input_width}x{pipeline.card.input_height})',
        'note': note, 'provider': pipeline.provider_report, 'threads': threads,
        'providers': list(args.providers),
        'iterations': args.iterations, 'frames_e2e': len(e2e_ms),
        'model_p50_ms': model_p50, 'model_p99_ms': model_p99,
        'pipeline_p50_ms': pipe_p50, 'pipeline_p99_ms': pipe_p99,
        'node_inside_p50_ms': inside_p50, 'node_inside_p99_ms': inside_p99,
        'node_model_p50_ms': node_model_p50, 'node_model_p99_ms': node_model_p99,
        'e2e_p50_ms': e2e_p50, 'e2e_p99_ms': e2e_p99,
        'pipeline_overhead': (pipe_p50 - model_p50) / model_p50,
        'node_overhead': node_stages['hand-off and publish'] / node_model_p50,
        'non_model_overhead': (inside_p50 - node_model_p50) / node_model_p50,
        'dds_overhead': (e2e_p50 - node_model_p50) / node_model_p50,
        'sustained': sustained, 'camera_60fps': camera60, 'node_stages_p50_ms': node_stages,
        'node_rss_mib': node_rss[0], 'node_peak_rss_mib': node_rss[1],
        'benchmark_rss_mib': bench_rss,
        'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
        'load_average': ' '.join(f'{v:.1f}' for v in load),
        'machine': f'{platform.node()}: {os.cpu_count()} cores, {platform.machine()}, '
                   f'Python {platform.python_version()}',
    }


def markdown(r, first: bool = True) -> str:
    """Return the BENCHMARKS.md text for one run (with the section header when first)."""
    from acnn_ros.runtime.inference_config import InferenceConfig

    s, c = r['sustained'], r['camera_60fps']
    lines = [SECTION, '## Inference (inference_node, 640x480)', '',
             'Command: `python -m benchmarks.inference_benchmark --write-docs'
             + (f' --providers {" ".join(r["providers"])}' if r['providers'] != ['cpu'] else '')
             + f' --threads {" ".join(str(t) for t in r["thread_runs"])}`: one complete run '
             'per thread setting, all stages of a run back to back.', ''] if first else []
    lines += [
        f'### intra_op_threads={r["threads"]}'
        + (' (the default)' if r['threads'] == InferenceConfig().intra_op_threads
           else ' (one per core)' if r['threads'] == 0 else ''),
        '',
        f'{r["iterations"]} frames per latency stage. Machine: {r["machine"]}, {r["date"]}; '
        f'shared with other jobs (load average {r["load_average"]} at the start), so expect '
        'noise.',
        f'Model: `{r["model"]}`; {r["provider"]}.',
    ]
    if r['note']:
        lines.append(f'**Note:** {r["note"]}.')
    lines += [
        '',
        'In-process stages alternate frame by frame; node ratios compare times of the same '
        'frames (the node reports `inference_ms` and `total_ms` in every result), so each '
        'ratio holds although the shared machine makes absolute numbers drift.',
        '',
        '| stage | p50 ms | p99 ms |',
        '|---|---|---|',
        f'| model only (ONNX Runtime `session.run`, in process) | {r["model_p50_ms"]:.2f} | '
        f'{r["model_p99_ms"]:.2f} |',
        f'| core pipeline (decode + preprocess + infer + postprocess, in process) | '
        f'{r["pipeline_p50_ms"]:.2f} | {r["pipeline_p99_ms"]:.2f} |',
        f'| model inside the node (`inference_ms` of the results) | '
        f'{r["node_model_p50_ms"]:.2f} | {r["node_model_p99_ms"]:.2f} |',
        f'| inside the node (image callback -> result published, `total_ms`) | '
        f'{r["node_inside_p50_ms"]:.2f} | {r["node_inside_p99_ms"]:.2f} |',
        f'| end to end over DDS (publish Image -> InspectionResult received, other process) | '
        f'{r["e2e_p50_ms"]:.2f} | {r["e2e_p99_ms"]:.2f} |',
        '',
        '| ratio (p50, same frames) | value |',
        '|---|---|',
        f'| core pipeline overhead over the model | {r["pipeline_overhead"] * 100:.1f} % |',
        '| node overhead: what the ROS node adds to the core pipeline (hand-off to the '
        'inference thread, result message, publish) over its model time (target <= 15 %) | '
        f'{r["node_overhead"] * 100:.1f} % |',
        '| all non-model work in the node (decode, preprocess, postprocess and the above; '
        f'`total_ms` vs `inference_ms`) | {r["non_model_overhead"] * 100:.1f} % |',
        '| non-model work in the node, by stage (p50 ms) | '
        + ', '.join(f'{k} {v:.2f}' for k, v in r['node_stages_p50_ms'].items()) + ' |',
        "| end to end over DDS vs the node's model time (adds serialisation, transport, the "
        f'client process) | {r["dds_overhead"] * 100:.1f} % |',
        '',
        '| throughput | published | results (= frames the node received) | ok | dropped | '
        'ok fps |',
        '|---|---|---|---|---|---|',
        f'| as fast as results come back (2 frames in flight) | {s["published"]} | '
        f'{s["results"]} | {s["ok"]} | {s["dropped"]} | {s["fps"]:.1f} |',
        f'| 60 fps camera | {c["published"]} | {c["results"]} | {c["ok"]} | {c["dropped"]} | '
        f'{c["fps"]:.1f} |',
        '',
        'Every frame the node received got exactly one result (ok or dropped). Frames published '
        'but never answered were lost before the node (image QoS keep-last 10: DDS replaces the '
        "oldest unread sample when the node's executor falls behind).",
        '',
        f'Memory: inference_node RSS {r["node_rss_mib"]:.0f} MiB (peak '
        f'{r["node_peak_rss_mib"]:.0f} MiB); the benchmark process after the in-process '
        f'stages {r["benchmark_rss_mib"]:.0f} MiB.',
        '',
    ]
    return '\n'.join(lines)


def main(argv=None) -> int:
    """Parse arguments, run, print and optionally write the docs section."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default=str(DEFAULT_MODEL),
                        help='.onnx with its card (default: the shipped demo model)')
    parser.add_argument('--threads', type=int, nargs='+', default=[0, 1],
                        help='ONNX Runtime intra-op thread settings, one run each '
                             '(0 = one per core)')
    parser.add_argument('--providers', nargs='+', default=['cpu'],
                        help='ONNX Runtime providers, e.g. tensorrt cuda cpu on a Jetson')
    parser.add_argument('--iterations', type=int, default=300)
    parser.add_argument('--seconds', type=float, default=5.0,
                        help='duration of each throughput stage')
    parser.add_argument('--write-docs', action='store_true',
                        help='replace the inference section of docs/BENCHMARKS.md')
    args = parser.parse_args(argv)
    texts = []
    for index, threads in enumerate(args.threads):
        results = run(args, threads)
        results['thread_runs'] = list(args.threads)
        print(json.dumps(results, indent=2))
        texts.append(markdown(results, first=index == 0))
    text = '\n'.join(texts)
    report_section(SECTION, text, args.write_docs)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
