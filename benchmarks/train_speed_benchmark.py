# SPDX-License-Identifier: Apache-2.0
"""
Training speed on the line PC's CPU: ms per frame by phase, against the machine's FLOP limit.

One training step of `acnn_ros.model.train` taken apart (issue 24, item 1): augmentation
(`Augmenter`, into the loop's reused buffer where the trainer has one), forward, backward and
the optimizer step, each timed per frame (median of `--steps` batches after two warm-up
batches), on synthetic frames held in memory like the trainer holds a dataset. Beside them:

- the training FLOPs per frame (torch.utils.flop_counter over forward + backward),
- the machine's fp32 matrix-multiply rate with the same threads (2048^3, best of 5),
- so the floor: FLOPs / rate, the time the step would take if every FLOP ran at matmul speed.

The same script runs against an older checkout (`cd <checkout> && python -m
benchmarks.train_speed_benchmark`) to give the before row: it uses what the checkout has.

    python -m benchmarks.train_speed_benchmark [--batch-size 32] [--steps 8] [--label after]
"""
import argparse
import inspect
import os
import platform
import statistics
import sys
import time
from typing import Dict, List

from acnn_ros.core.dataset.synthetic import render_frame
from acnn_ros.model.acnn import build_model
from acnn_ros.model.augment import Augmenter
from acnn_ros.model.train import model_loss
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

PHASES = ('augment', 'forward', 'backward', 'optimizer')


def matmul_gflops(threads: int, size: int = 2048) -> float:
    """Return the best fp32 matrix-multiply rate of 5 runs, GFLOP/s."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float('inf')
    for _ in range(5):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def training_flops(model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor,
                   boxes: torch.Tensor, has_box: torch.Tensor) -> float:
    """Return the FLOPs of one forward + backward per frame."""
    with FlopCounterMode(display=False) as counter:
        loss, _ = model_loss(model, model(x), labels, boxes, has_box, 5.0)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / x.shape[0]


def main(argv=None) -> int:
    """Time the phases of a training step; print one Markdown row and the floor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--variant', default='opt')
    parser.add_argument('--roi-output', default='64x48', help='as `acnn train --roi-output`')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--frames', type=int, default=96, help='distinct frames in memory')
    parser.add_argument('--steps', type=int, default=8, help='timed batches')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--label', default='this checkout')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.roi_output.split('x'))
    rng = np.random.default_rng(0)
    # RGB frames, as dataset.load_frames holds them.
    images = np.ascontiguousarray(np.stack(
        [render_frame(rng, i % 4)[0][..., ::-1] for i in range(args.frames)]))
    labels = torch.arange(args.frames) % 4
    boxes, has_box = torch.zeros(args.frames, 4), torch.zeros(args.frames, dtype=torch.bool)
    model = build_model(args.variant, 4, roi_output_width=width, roi_output_height=height)
    # What this checkout's trainer does with the model and the input buffer.
    to_channels_last = getattr(sys.modules['acnn_ros.model.train'], 'to_channels_last', None)
    channels_last = to_channels_last is not None
    if channels_last:
        model = to_channels_last(model)
    reuses_buffer = 'out' in inspect.signature(Augmenter.__call__).parameters
    buffer = torch.empty(args.batch_size, *images.shape[1:])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    augmenter, generator = Augmenter(images.shape[1], images.shape[2], 0), torch.Generator()
    model.train()

    def step(k: int) -> List[float]:
        index = np.arange(k * args.batch_size, (k + 1) * args.batch_size) % args.frames
        marks = [time.perf_counter()]
        x = (augmenter(images[index], generator, buffer) if reuses_buffer
             else augmenter(images[index], generator))
        marks.append(time.perf_counter())
        loss, _ = model_loss(model, model(x), labels[index], boxes[index], has_box[index], 5.0)
        marks.append(time.perf_counter())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        marks.append(time.perf_counter())
        optimizer.step()
        marks.append(time.perf_counter())
        return [(b - a) * 1000.0 / args.batch_size for a, b in zip(marks, marks[1:])]

    load_before = os.getloadavg()[0]
    for k in range(2):
        step(k)
    times = [step(k) for k in range(2, 2 + args.steps)]
    ms: Dict[str, float] = {p: statistics.median(t[i] for t in times)
                            for i, p in enumerate(PHASES)}
    total = statistics.median(sum(t) for t in times)
    load_after = os.getloadavg()[0]
    x = augmenter(images[:args.batch_size], generator)
    flops = training_flops(model, x, labels[:args.batch_size], boxes[:args.batch_size],
                           has_box[:args.batch_size])
    rate = matmul_gflops(args.threads)
    floor_ms = flops / (rate * 1e9) * 1000.0
    print(f'{platform.machine()}, {args.threads} torch threads, torch {torch.__version__}, '
          f'batch {args.batch_size}, {args.variant} ROI {args.roi_output}; channels_last '
          f'{channels_last}, reused input buffer {reuses_buffer}')
    print('| checkout | augment | forward | backward | optimizer | step ms/frame | '
          'train GFLOP/frame | matmul GFLOP/s | floor ms/frame | step / floor | '
          'load before / after |')
    print(f'| {args.label} | ' + ' | '.join(f'{ms[p]:.2f}' for p in PHASES) +
          f' | {total:.2f} | {flops / 1e9:.3f} | {rate:.0f} | {floor_ms:.2f} | '
          f'{total / floor_ms:.1f}x | {load_before:.2f} / {load_after:.2f} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
