# SPDX-License-Identifier: Apache-2.0
"""
The shipped demo model on device-1 frames drawn by the other OpenCV (issue 25).

`pip install .` on Python 3.10 or 3.12 takes OpenCV 5.1 instead of the pinned 5.0, and the same
generator with the same seed then draws the label text a few pixels differently (about 1 % of
the pixels, all inside the label). scripts/setup.sh installs that OpenCV in .venv-renderer
(requirements-renderer.txt). This test renders the device-shift test frames there and here with
`acnn synth` (same seed), checks that they differ as described, and runs `acnn eval-recording`
with the shipped model on both: at least 98 % on each (issue 25's target for the other
renderer; the previous demo model read 86 % of those frames).
"""
import json
import os
from pathlib import Path
import subprocess
import sys

import cv2
import numpy as np
import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
RENDERER = REPO_DIR / '.venv-renderer' / 'bin' / 'python'
MODEL = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'
FRAMES = 200


def _acnn(python: Path, *args: str, timeout: float = 600) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_DIR))
    done = subprocess.run([str(python), '-m', 'acnn_ros.cli', *args], cwd=str(REPO_DIR),
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _test_frames(folder: Path):
    return sorted((folder / 'images' / 'test').rglob('*.jpg'))


@pytest.mark.timeout(900)
def test_the_demo_model_reads_the_labels_the_other_opencv_draws(tmp_path):
    assert RENDERER.is_file(), f'{RENDERER} missing: scripts/setup.sh installs it'
    for name, python in (('other', RENDERER), ('here', Path(sys.executable))):
        _acnn(python, 'synth', str(tmp_path / name), '--num-train', '0', '--num-test',
              str(FRAMES), '--seed', '0')
    versions = {name: json.loads((tmp_path / name / 'generator.json').read_text())['versions']
                for name in ('other', 'here')}
    assert versions['here']['opencv'] == cv2.__version__
    assert versions['other']['opencv'] != versions['here']['opencv']
    other, here = _test_frames(tmp_path / 'other'), _test_frames(tmp_path / 'here')
    assert [p.name for p in other] == [p.name for p in here] and len(here) == FRAMES
    changed = [float((np.abs(cv2.imread(str(a)).astype(int) - cv2.imread(str(b)).astype(int))
                      .max(axis=2) > 8).mean()) for a, b in zip(other, here)]
    # Every frame differs, by a few pixels of the label (about 1 % of the frame at most).
    assert min(changed) > 0 and max(changed) < 0.03
    accuracy = {}
    for name in ('other', 'here'):
        _acnn(Path(sys.executable), 'eval-recording', '--model', str(MODEL), '--images',
              str(tmp_path / name), '--split', 'test', '--out', str(tmp_path / f'eval_{name}'),
              '--no-progress')
        summary = json.loads((tmp_path / f'eval_{name}' / 'summary.json').read_text())
        assert summary['labelled'] == FRAMES
        accuracy[name] = summary['correct'] / FRAMES
    assert accuracy['here'] >= 0.98, accuracy
    assert accuracy['other'] >= 0.98, accuracy
