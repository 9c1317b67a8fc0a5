# SPDX-License-Identifier: Apache-2.0
"""
Model-only batch scaling on CPU ONNX Runtime: ms per frame at batch 1, 2 and 4 (issue 21).

A station's N cameras see each part at once; inference_node runs a part's frames in one engine
call (runtime/batch_intake.py). This measures what one call of the shipped model costs per
frame as the batch grows, with nothing else of the node: `InspectionPipeline.complete_batch` on
frames preprocessed beforehand (engine + postprocess), the batch sizes interleaved round by
round so that they share the machine's load. The load average is read before and after.

    nice -n 10 python -m benchmarks.batch_scaling_benchmark --rounds 40 --repeats 3 \
        --threads 1 --write-docs

The table goes to stdout and, with --write-docs, into the ``<!-- section:batch-scaling -->``
section of docs/BENCHMARKS.md.
"""
import argparse
from datetime import datetime, timezone
import os
from pathlib import Path
import platform
import statistics
import time

from acnn_ros.core.dataset.synthetic import render_frame
from acnn_ros.core.stats import percentiles
from acnn_ros.runtime.pipeline import InspectionPipeline
from benchmarks.common import REPO_DIR, report_section
import numpy as np

SECTION = '<!-- section:batch-scaling -->'
MODEL = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'
BATCHES = (1, 2, 4)


def load_average() -> str:
    """Return the 1, 5 and 15 minute load averages as /proc/loadavg gives them."""
    return ' '.join(Path('/proc/loadavg').read_text(encoding='utf-8').split()[:3])


def measure(pipeline: InspectionPipeline, frames, rounds: int):
    """Return {batch: [ms per call]} with the batch sizes interleaved round by round."""
    prepared = [pipeline.prepare(frame) for frame in frames]
    times = {batch: [] for batch in BATCHES}
    for batch in BATCHES:                      # warm-up: a first call of each shape
        pipeline.complete_batch(prepared[:batch])
    for _ in range(rounds):
        for batch in BATCHES:
            start = time.perf_counter()
            outcomes = pipeline.complete_batch(prepared[:batch])
            times[batch].append((time.perf_counter() - start) * 1000.0)
            assert len(outcomes) == batch and all(o.status == 0 for o in outcomes)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rounds', type=int, default=40, help='calls per batch size')
    parser.add_argument('--repeats', type=int, default=3,
                        help='measurements of every batch size, one table row each')
    parser.add_argument('--threads', type=int, default=1,
                        help='ONNX Runtime intra-op threads (config/inspect.yaml: 1)')
    parser.add_argument('--write-docs', action='store_true')
    args = parser.parse_args(argv)
    rng = np.random.default_rng(21)
    frames = [render_frame(rng, class_id % 4)[0] for class_id in range(max(BATCHES))]
    pipeline = InspectionPipeline.from_model_path(MODEL, providers=('cpu',),
                                                  intra_op_threads=args.threads)
    rows = ['| repeat (load average) | batch | ms per call (median) | p90 | ms per frame | '
            'per frame vs batch 1 |', '|---|---|---|---|---|---|']
    for repeat in range(1, args.repeats + 1):
        load = load_average()
        times = measure(pipeline, frames, args.rounds)
        base = statistics.median(times[1])
        for batch in BATCHES:
            median = statistics.median(times[batch])
            p90 = percentiles(times[batch], (90,))['p90']
            rows.append(f'| {repeat} ({load}) | {batch} | {median:.1f} | {p90:.1f} | '
                        f'{median / batch:.1f} | {median / batch / base:.2f}x |')
    stamp = datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    text = '\n'.join([
        SECTION,
        '### Model-only batch scaling, CPU ONNX Runtime (issue 21)',
        '',
        f'`nice -n 10 python -m benchmarks.batch_scaling_benchmark --rounds {args.rounds} '
        f'--repeats {args.repeats} --threads {args.threads} --write-docs` ({stamp}; '
        f'{platform.machine()}, {len(os.sched_getaffinity(0))} cores available, shared with '
        'other work: the load average of /proc/loadavg is given beside each repeat).',
        f'{MODEL.name} ({pipeline.card.input_width}x{pipeline.card.input_height}, dynamic batch '
        f'axis), {pipeline.engine.active_provider}, intra-op threads {args.threads}; '
        '`InspectionPipeline.complete_batch` on preprocessed frames (engine + postprocess), '
        f'batch sizes interleaved, {args.rounds} calls each per repeat.',
        '',
        *rows,
        '',
        'Per frame vs batch 1 above 1.00x: a batch costs more per frame than single calls. '
        'On a CPU with one intra-op thread the engine gains little or nothing from a batch; '
        'what inference_node saves with one call per part is the hand-overs around it.',
        ''])
    report_section(SECTION, text, args.write_docs)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
