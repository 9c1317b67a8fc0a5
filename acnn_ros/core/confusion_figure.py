# SPDX-License-Identifier: Apache-2.0
"""THE confusion-matrix drawing: the evaluation report's and the training run's pictures."""
from typing import Sequence

import numpy as np


def draw_confusion(ax, matrix, rows: Sequence[str], columns: Sequence[str]) -> None:
    """
    Draw a confusion matrix on matplotlib axes: counts, shaded by the share of their row.

    Rows are the true classes, columns the predicted ones (a report may add a `(no verdict)`
    column); both axes carry the class names.
    """
    counts = np.asarray(matrix, dtype=np.float64)
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    ax.imshow(shown, cmap='Blues', vmin=0.0, vmax=1.0)
    for r in range(counts.shape[0]):
        for c in range(counts.shape[1]):
            ax.text(c, r, f'{int(counts[r, c])}', ha='center', va='center',
                    color='white' if shown[r, c] > 0.5 else 'black', fontsize=10)
    ax.set_xticks(range(len(columns)), list(columns), rotation=30, ha='right')
    ax.set_yticks(range(len(rows)), list(rows))
    ax.set_xlabel('predicted')
    ax.set_ylabel('true')
