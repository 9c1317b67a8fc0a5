# SPDX-License-Identifier: Apache-2.0
"""The shipped demo model: card matches the file, and it reads synthetic device-1 frames."""
from pathlib import Path

from acnn_ros.core.dataset.synthetic import render_frame
from acnn_ros.core.model_card import file_hash, ModelCard
import cv2
import numpy as np
import onnxruntime as ort
import pytest

MODEL = Path(__file__).resolve().parents[1] / 'resource' / 'models' / 'acnn_demo.onnx'


@pytest.fixture(scope='module')
def session():
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(MODEL), options, providers=['CPUExecutionProvider'])


def _input(bgr: np.ndarray) -> np.ndarray:
    return (bgr[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0)


def test_card_describes_the_shipped_file():
    card = ModelCard.load(MODEL.with_suffix('.json'))
    assert card.content_hash == file_hash(MODEL)
    assert (card.input_width, card.input_height) == (640, 480)
    assert card.class_names == ('p1069', 'p1071', 'p3707', 'p3709')
    assert 'acnn_ros.cli train' in card.reproduce and 'acnn_ros.cli export' in card.reproduce
    assert MODEL.stat().st_size < 5e6
    assert MODEL.with_suffix('.md').is_file()


def test_demo_model_classifies_unseen_device_one_frames(session):
    # Seeds far from the generator's dataset streams: frames the model never saw.
    rng = np.random.default_rng(424242)
    correct, errors_px = 0, []
    for k in range(16):
        bgr, box = render_frame(rng, k % 4, device=1)
        probs, roi = session.run(['probs', 'roi'], {'image': _input(bgr)})
        correct += int(probs[0].argmax() == k % 4)
        errors_px.append(np.hypot(roi[0, 0] * 640 - box.center_x, roi[0, 1] * 480 - box.center_y))
    assert correct >= 15
    assert np.median(errors_px) < 12.0


def test_demo_model_runs_on_the_real_frames(session, aoi_samples_dir):
    for path in sorted((aoi_samples_dir / 'images' / 'train').glob('*.jpg')):
        bgr = cv2.imread(str(path))
        probs, roi = session.run(['probs', 'roi'], {'image': _input(bgr)})
        assert probs.shape == (1, 4) and abs(float(probs.sum()) - 1.0) < 1e-4
        assert np.all((roi[0, :2] >= 0) & (roi[0, :2] <= 1))
