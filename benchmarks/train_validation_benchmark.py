# SPDX-License-Identifier: Apache-2.0
"""
What validated training costs: validation pass and per-epoch bookkeeping vs a training epoch.

Measures, on synthetic 640x480 frames with the `opt` A-CNN on the CPU (2 torch threads):
the training time per frame (one epoch, no augmentation, so the ratio is a worst case for
validation), the validation time per frame (`train.evaluate`), and the fixed bookkeeping of an
epoch (`history.csv` + `curves.png` of a 16-epoch history + writing `best.pt`). Prints the ratio
of validation to training time for a validation fraction and the bookkeeping in seconds.

    nice -n 10 python -m benchmarks.train_validation_benchmark --frames 64
"""
import argparse
from pathlib import Path
import sys
import tempfile
import time

from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES, render_frame
from acnn_ros.model.dataset import FrameSet
from acnn_ros.model.history import plot_curves, write_history_csv
from acnn_ros.model.train import (evaluate, model_from_checkpoint,
                                  save_checkpoint, train, TrainConfig)
import numpy as np
import torch

REPO_DIR = Path(__file__).resolve().parents[1]


def synthetic_frames(count: int, seed: int) -> FrameSet:
    """Return `count` synthetic frames (RGB, classes in turn) with their boxes."""
    rng = np.random.default_rng(seed)
    images, boxes = [], []
    for k in range(count):
        bgr, box = render_frame(rng, k % len(DEFAULT_CLASSES))
        images.append(bgr[:, :, ::-1])
        boxes.append((box.center_x / 640, box.center_y / 480, box.width / 640,
                      box.height / 480))
    return FrameSet(images=np.stack(images), labels=np.arange(count) % len(DEFAULT_CLASSES),
                    boxes=np.array(boxes, np.float32), has_box=np.ones(count, bool), paths=[],
                    class_names=list(DEFAULT_CLASSES))


def main() -> int:
    """Run the measurement and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--frames', type=int, default=64, help='training frames (one epoch)')
    parser.add_argument('--val-fraction', type=float, default=0.1)
    args = parser.parse_args()
    torch.set_num_threads(2)
    frames = synthetic_frames(args.frames, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(epochs=1, batch_size=32, augment=False, val_fraction=0.0)
        started = time.perf_counter()
        state = train(config, frames, None, Path(tmp) / 'run', log=lambda _: None,
                      progress=False)
        train_s = (time.perf_counter() - started) / len(frames)
        model = model_from_checkpoint(state)
        started = time.perf_counter()
        evaluate(model, frames, 32, progress=False)
        val_s = (time.perf_counter() - started) / len(frames)
        history = [dict(state['history'][0], epoch=e, val_accuracy=0.5,
                        val_roi_center_error_px_mean=3.0, best_epoch=1, epochs_since_best=0)
                   for e in range(1, 17)]
        best = {k: v for k, v in state.items() if k not in ('optimizer', 'scheduler')}
        started = time.perf_counter()
        write_history_csv(Path(tmp) / 'history.csv', history)
        plot_curves(Path(tmp) / 'curves.png', history, best_epoch=8)
        save_checkpoint(Path(tmp) / 'best.pt', best)
        bookkeeping_s = time.perf_counter() - started
    fraction = args.val_fraction
    ratio = fraction * val_s / ((1 - fraction) * train_s)
    print(f'training (incl. model build, one epoch of {len(frames)} frames): '
          f'{train_s * 1000:.0f} ms/frame')
    print(f'validation (evaluate): {val_s * 1000:.0f} ms/frame '
          f'({val_s / train_s:.2f} x a training frame)')
    print(f'validation at fraction {fraction:g}: +{ratio:.1%} of a training epoch')
    print(f'bookkeeping per epoch (CSV + PNG of 16 epochs + best.pt): {bookkeeping_s:.2f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
