# SPDX-License-Identifier: Apache-2.0
"""Test support of the operator's page: reject archive records as the actuator writes them."""
import numpy as np

ROI = {'center_x': 320.0, 'center_y': 240.0, 'width': 32.0, 'height': 20.0}


def archive_record(part_id: int, stamp_ns: int, reason: str = 'REJECT_CLASS') -> dict:
    """Return the archive's JSON record of one reject (core/reject/archive.part_record_dict)."""
    return {'part_id': part_id, 'verdict': 'reject', 'reason': reason, 'class_name': 'p1069',
            'confidence': 0.97, 'roi': dict(ROI), 'capture_time': stamp_ns * 1e-9,
            'model_id': 'test-model'}


def frame(part_id: int) -> np.ndarray:
    """Return a 640x480 BGR frame with a bright box where ROI is (the part's code)."""
    image = np.full((480, 640, 3), 40 + part_id % 100, np.uint8)
    image[230:250, 304:336] = (255, 255, 255)
    return image
