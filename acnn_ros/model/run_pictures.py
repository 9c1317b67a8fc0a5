# SPDX-License-Identifier: Apache-2.0
"""
The pictures of a finished training run, from its one test evaluation (`acnn train`).

    confusion.png   the test split's confusion matrix with the class names
    failures.png    up to `max_failures` misclassified test frames: true and predicted class,
                    the ROI the model looked at (red) and the true box (green) where known

Matplotlib's Agg canvas directly (no pyplot state, no display); nothing is written where
matplotlib is not installed.
"""
from pathlib import Path
from typing import List, Sequence

from acnn_ros.core.confusion_figure import draw_confusion
import numpy as np

PRED_COLOUR = '#e0201b'
TRUE_COLOUR = '#22c322'


def _rectangle(box: Sequence[float], width: int, height: int, colour: str):
    from matplotlib.patches import Rectangle
    cx, cy, w, h = (float(v) for v in box)
    return Rectangle(((cx - w / 2) * width, (cy - h / 2) * height), w * width, h * height,
                     fill=False, edgecolor=colour, linewidth=1.5)


def write_test_pictures(out_dir: Path, frames, predicted: np.ndarray, roi: np.ndarray,
                        max_failures: int = 8) -> List[Path]:
    """Write confusion.png (and failures.png when a test frame is wrong); return the paths."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return []
    names = list(frames.class_names)
    matrix = np.zeros((len(names), len(names)), np.int64)
    np.add.at(matrix, (frames.labels, predicted), 1)
    figure = Figure(figsize=(1.4 + 0.9 * len(names), 1.2 + 0.8 * len(names)), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    draw_confusion(axes, matrix, names, names)
    correct = int(np.trace(matrix))
    axes.set_title(f'test split: accuracy {correct / max(len(predicted), 1) * 100:.1f} % '
                   f'({correct}/{len(predicted)}), chance {100 / max(len(names), 1):.0f} %',
                   fontsize=9)
    figure.tight_layout()
    written = [Path(out_dir) / 'confusion.png']
    figure.savefig(written[0], format='png')
    wrong = np.flatnonzero(predicted != frames.labels)[:max_failures]
    if not len(wrong):
        return written
    columns = min(4, len(wrong))
    rows = (len(wrong) + columns - 1) // columns
    figure = Figure(figsize=(3.2 * columns, 2.7 * rows), dpi=100)
    FigureCanvasAgg(figure)
    height, width = frames.images.shape[1:3]
    for k, index in enumerate(wrong):
        axes = figure.add_subplot(rows, columns, k + 1)
        axes.imshow(frames.images[index])
        axes.add_patch(_rectangle(roi[index], width, height, PRED_COLOUR))
        if frames.has_box[index]:
            axes.add_patch(_rectangle(frames.boxes[index], width, height, TRUE_COLOUR))
        name = Path(frames.paths[index]).name if index < len(frames.paths) else f'#{index}'
        axes.set_title(f'{name}\ntrue {names[frames.labels[index]]}, '
                       f'predicted {names[predicted[index]]}', fontsize=7)
        axes.set_xticks([])
        axes.set_yticks([])
    figure.suptitle(f'{len(wrong)} misclassified test frame(s) (red: the ROI the model looked '
                    'at, green: the true box)', fontsize=9)
    figure.tight_layout()
    written.append(Path(out_dir) / 'failures.png')
    figure.savefig(written[1], format='png')
    return written
