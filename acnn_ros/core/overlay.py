# SPDX-License-Identifier: Apache-2.0
"""Draw an inspection outcome (ROI box, class, confidence, fps) onto a frame for rviz."""
from typing import Optional

from acnn_ros.core.results import InspectionOutcome, InspectionStatus
import cv2
import numpy as np

GREEN = (0, 200, 0)
ORANGE = (0, 140, 255)
RED = (0, 0, 230)


def draw_overlay(bgr: np.ndarray, outcome: InspectionOutcome, fps: float,
                 min_confidence: float = 0.0,
                 low_confidence: Optional[bool] = None) -> np.ndarray:
    """
    Return a copy of `bgr` annotated with the outcome.

    Green box and label for a trusted verdict, orange for a low-confidence one, a red banner
    for an error; the fps and the model id are printed in the top-left corner. Low confidence
    is `low_confidence` when given (inference_node passes the reject policy's rule,
    core/reject/decision.is_low_confidence, per-class thresholds included), else a confidence
    below the single `min_confidence`.
    """
    canvas = np.ascontiguousarray(bgr).copy()
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(width, height) / 240))
    scale = max(0.4, min(width, height) / 800.0)
    if outcome.status == InspectionStatus.OK and outcome.roi is not None:
        if low_confidence is None:
            low_confidence = outcome.confidence < min_confidence
        colour = ORANGE if low_confidence else GREEN
        x, y, w, h = outcome.roi.clipped(width, height)
        cv2.rectangle(canvas, (x, y), (x + max(w, 1), y + max(h, 1)), colour, thickness)
        label = f'{outcome.class_name} {outcome.confidence:.2f}'
        label_y = y - 4 if y > 20 else min(y + h + int(18 * scale) + 4, height - 2)
        cv2.putText(canvas, label, (x, label_y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour,
                    thickness, cv2.LINE_AA)
    elif outcome.status == InspectionStatus.ERROR:
        cv2.putText(canvas, f'ERROR: {outcome.detail}'[:80], (4, height - 8),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, RED, thickness, cv2.LINE_AA)
    cv2.putText(canvas, f'{fps:.1f} fps  {outcome.model_id}', (4, int(22 * scale) + 2),
                cv2.FONT_HERSHEY_SIMPLEX, scale, GREEN, thickness, cv2.LINE_AA)
    return canvas
