# SPDX-License-Identifier: Apache-2.0
"""
The evaluation report's ROI zoom shows what the model looked at (issue 24.5).

A frame whose predicted ROI is far from the true box: `draw_frame` (report.py, the worst-frames
sheet and `acnn compare`) centres its zoom on the predicted ROI - the true box only when the
model gave none - so a wrong localization is seen, not hidden behind the right place.
"""
from acnn_ros.core.dataset.labels import GroundTruth
from acnn_ros.core.reject.decision import decide, RejectPolicy
from acnn_ros.core.replay.metrics import FrameEvaluation, FrameRef
from acnn_ros.core.results import InspectionOutcome, InspectionStatus, RoiBox
from acnn_ros.offline.report import draw_frame
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import numpy as np

PREDICTED = RoiBox(500.0, 380.0, 64.0, 48.0)
TRUE = RoiBox(120.0, 100.0, 32.0, 20.0)


def _zoom_centre(outcome: InspectionOutcome):
    truth = GroundTruth(0, 'a', TRUE)
    evaluation = FrameEvaluation(FrameRef(0), outcome, decide(outcome, RejectPolicy()), truth)
    figure = Figure()
    FigureCanvasAgg(figure)
    full, zoom = figure.subplots(1, 2)
    draw_frame(full, zoom, np.zeros((480, 640, 3), np.uint8), evaluation)
    (x0, x1), (y1, y0) = zoom.get_xlim(), zoom.get_ylim()
    return (x0 + x1) / 2, (y0 + y1) / 2


def test_the_zoom_is_centred_on_the_predicted_roi_not_the_true_box():
    outcome = InspectionOutcome(status=InspectionStatus.OK, class_name='a', class_id=0,
                                confidence=0.9, roi=PREDICTED)
    cx, cy = _zoom_centre(outcome)
    assert abs(cx - PREDICTED.center_x) <= 1.0 and abs(cy - PREDICTED.center_y) <= 1.0


def test_without_a_predicted_roi_the_zoom_shows_the_true_box():
    outcome = InspectionOutcome(status=InspectionStatus.ERROR, detail='engine failed')
    cx, cy = _zoom_centre(outcome)
    assert abs(cx - TRUE.center_x) <= 1.0 and abs(cy - TRUE.center_y) <= 1.0
