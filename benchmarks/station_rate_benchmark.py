# SPDX-License-Identifier: Apache-2.0
"""
A station's highest sustained part rate: 1, 2 and 4 cameras, batched and unbatched (issue 21.7).

inference_node runs in its own process with config/inspect.yaml and `image_topics`
cam0/image .. cam<N-1>/image; this process is the station's cameras (benchmarks/
line_rate_benchmark.RawCameraDriver: every part N pre-serialized frames with one stamp). A
probe publishes parts at a fixed rate; a part passes when all its N frames were answered OK;
a binary search (app/bench/rate_search.py) finds the highest part rate with < 1 % of parts
failing. Batched = the frames of a part in one engine call (`batch_window_s` 0.01, the yaml's);
unbatched = the same node and window with a copy of the model whose batch axis is fixed at 1,
which inference_node runs frame by frame (one engine call per frame, as N single-camera
pipelines would). Per-camera end-to-end latency (capture stamp -> InspectionResult here) at
half the best rate, CPU and RSS.

    python -m benchmarks.station_rate_benchmark --cameras 1 2 4 [--write-docs]
"""
import argparse
import os
from pathlib import Path
import tempfile
import time

from acnn_ros.app.bench.rate_search import find_max_rate
from acnn_ros.core.stats import percentiles
from benchmarks.common import report_section
from benchmarks.inference_benchmark import test_frame
from benchmarks.line_rate_benchmark import DEFAULT_MODEL, RawCameraDriver

SECTION = '<!-- section: station rate -->'
BATCHED_WINDOW_S = 0.01


def fixed_batch_copy(model: Path, folder: Path) -> Path:
    """Return a copy of the model (and its card) whose batch axis is fixed at 1."""
    from dataclasses import replace
    from acnn_ros.core.model_card import card_path_for, file_hash, ModelCard
    import onnx
    graph = onnx.load(str(model))
    for value in list(graph.graph.input) + list(graph.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = 1
    copy = folder / f'{model.stem}_batch1.onnx'
    onnx.save(graph, str(copy))
    replace(ModelCard.load(card_path_for(model)), content_hash=file_hash(copy)).save(
        card_path_for(copy))
    return copy


def station_run(model: Path, cameras: int, batched: bool, args) -> dict:
    """Search the highest part rate of one configuration; return its figures."""
    topics = '[' + ', '.join(f'cam{i}/image' for i in range(cameras)) + ']'
    driver = RawCameraDriver(model if batched else args.batch1_model, 1, test_frame(),
                             cameras=cameras, extra_args=(
                                 '-p', f'image_topics:={topics}',
                                 '-p', f'batch_window_s:={BATCHED_WINDOW_S}'))
    try:
        driver.wait_ready()
        driver.probe(5.0, 1.0, 10, 10)      # warm-up: discovery, first allocations

        def probe(rate_hz):
            return driver.probe(rate_hz, args.seconds, args.min_frames, args.max_frames)
        search = find_max_rate(probe, args.low_hz, args.high_hz / cameras,
                               max_probes=args.max_probes)
        half = probe(0.5 * search.best_hz) if search.best_hz else None
    finally:
        rss = driver.close()
    latency = {name: percentiles(values) for name, values in (
        half.e2e_ms_by_camera.items() if half else [])}
    return {'cameras': cameras, 'batched': batched, 'best_hz': search.best_hz,
            'e2e_ms_at_half': latency, 'cpu_percent': half.cpu_percent if half else {},
            'rss_mib': rss}


def table(runs, seconds: float) -> str:
    """Return the docs section: rates, the batched / unbatched ratio, latency, CPU, RSS."""
    lines = [SECTION, '',
             f'`python -m benchmarks.station_rate_benchmark` ({time.strftime("%Y-%m-%d")}, '
             f'{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, {seconds:.0f} s): the '
             'shipped model on CPU ONNX Runtime, 1 intra-op thread; highest part rate with '
             '< 1 % of parts not answered OK on every camera; latency = capture stamp -> '
             'result, per camera, at half that rate.', '',
             '| cameras | engine calls | best parts/s | frames/s | batched / unbatched | '
             'e2e p50 / p99 ms (per camera) | CPU node % | RSS node MiB |',
             '|---|---|---|---|---|---|---|---|']
    unbatched = {r['cameras']: r['best_hz'] for r in runs if not r['batched']}
    for r in runs:
        ratio = (f'{r["best_hz"] / unbatched[r["cameras"]]:.2f}x'
                 if r['batched'] and unbatched.get(r['cameras']) else '')
        latency = ', '.join(f'{v["p50"]:.1f} / {v["p99"]:.1f}'
                            for v in r['e2e_ms_at_half'].values())
        calls = 'one per part' if r['batched'] else 'one per frame'
        lines.append(f'| {r["cameras"]} | {calls} | {r["best_hz"]:.1f} | '
                     f'{r["best_hz"] * r["cameras"]:.1f} | {ratio} | {latency} | '
                     f'{r["cpu_percent"].get("inference_node", 0):.0f} | '
                     f'{r["rss_mib"]["inference_node"]:.0f} |')
    return '\n'.join(lines) + '\n'


def main() -> int:
    """Run every configuration; print (optionally write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--model', type=Path, default=DEFAULT_MODEL)
    parser.add_argument('--cameras', type=int, nargs='+', default=[1, 2, 4])
    parser.add_argument('--seconds', type=float, default=3.0, help='length of one probe')
    parser.add_argument('--min-frames', type=int, default=60)
    parser.add_argument('--max-frames', type=int, default=300)
    parser.add_argument('--max-probes', type=int, default=6)
    parser.add_argument('--low-hz', type=float, default=2.0)
    parser.add_argument('--high-hz', type=float, default=200.0,
                        help='search up to this many frames/s (divided by the cameras)')
    parser.add_argument('--write-docs', action='store_true')
    args = parser.parse_args()
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        args.batch1_model = fixed_batch_copy(args.model, Path(folder))
        runs = [station_run(args.model, cameras, batched, args) for cameras in args.cameras
                for batched in (False, True)]
    report_section(SECTION, table(runs, time.monotonic() - start), args.write_docs)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
