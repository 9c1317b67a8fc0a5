# SPDX-License-Identifier: Apache-2.0
"""
Near-duplicate frames: a small grey thumbnail compared with the previous kept frame.

A recorded shift holds runs of almost identical frames (the conveyor stopped, the same part
seen twice, a camera at a higher rate than the parts). Keeping them all inflates the dataset
without adding information, and lets the same part sit in training and test. `DuplicateFilter`
keeps a frame only when its thumbnail differs from the last KEPT frame's by more than a
threshold: the mean absolute difference of a 32x24 grey thumbnail (INTER_AREA, 0..255 levels).

Threshold (`DEFAULT_MAX_DIFF` = 2.0 grey levels): the thumbnail averages 20x20 source pixels, so
sensor noise of sigma 4 (the synthetic camera's worst) leaves about 0.2 level between two shots
of an unchanged scene, and a repeated frame re-encoded as JPEG stays under 1; a new part, a
shifted bottle or a changed exposure moves it by 5-40 levels (measured on the synthetic frames
in test/test_dataset_core.py). Compare with the last kept frame, not the last seen one, so a
slow drift still produces a new frame once it has drifted far enough.
"""
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

THUMBNAIL_SIZE = (32, 24)          # width, height: the 4:3 frame at 1/20
DEFAULT_MAX_DIFF = 2.0             # mean |difference| in grey levels at or below: duplicate


def thumbnail(bgr: np.ndarray, size=THUMBNAIL_SIZE) -> np.ndarray:
    """Return the grey float32 thumbnail of a BGR (or grey) uint8 frame."""
    grey = bgr if bgr.ndim == 2 else cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)


def thumbnail_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Return the mean absolute difference of two thumbnails, in grey levels."""
    return float(np.mean(np.abs(a - b)))


@dataclass
class DuplicateFilter:
    """Say for each frame in order whether it repeats the last kept frame."""

    max_diff: float = DEFAULT_MAX_DIFF
    _last: Optional[np.ndarray] = None

    def __post_init__(self):
        if self.max_diff < 0:
            raise ValueError(f'near-duplicate threshold must be >= 0, got {self.max_diff}')

    def is_duplicate(self, bgr: np.ndarray) -> bool:
        """Return True (and keep nothing) when `bgr` is a near-duplicate; else remember it."""
        thumb = thumbnail(bgr)
        if self._last is not None and self._last.shape == thumb.shape \
                and thumbnail_difference(thumb, self._last) <= self.max_diff:
            return True
        self._last = thumb
        return False

    def reset(self) -> None:
        """Forget the last kept frame (e.g. at a class change: the next frame is kept)."""
        self._last = None
