# SPDX-License-Identifier: Apache-2.0
"""
`acnn label`'s traps (issue 24.5): data whose classes it cannot tell, a resumed session.

On frames without any class it can tell, `acnn label` says so, exits 2 and saves no session
(it used to save an empty one, and every later run resumed "0 frames to box"); such an old
empty session is chosen again; `--count` on a resumed session is said to be ignored. The real
LabelServer and the real CLI on real files; the serving loop ends by a Ctrl-C (the test's
sleep raises KeyboardInterrupt, as the person's Ctrl-C does).
"""
import json
import types

from acnn_ros.cli import main as acnn
from acnn_ros.core.dataset.label_session import SESSION_FILE
from acnn_ros.core.dataset.synthetic import generate_dataset
from acnn_ros.offline import label_cli
from acnn_ros.offline.label_server import LabelServer
import cv2
import numpy as np
import pytest


def _ctrl_c(_seconds):
    raise KeyboardInterrupt


@pytest.fixture
def served_once(monkeypatch):
    """Make `acnn label` stop serving at its first wait, as after a Ctrl-C."""
    monkeypatch.setattr(label_cli, 'time', types.SimpleNamespace(sleep=_ctrl_c))


@pytest.fixture
def class_only(tmp_path):
    """Return a dataset of 16 train frames whose labels carry the class only."""
    root = tmp_path / 'data'
    generate_dataset(root, 16, 0, seed=6, labeled_fraction=0.0)
    return root


def test_frames_of_unknown_class_are_said_and_no_session_is_saved(tmp_path, capsys,
                                                                  served_once):
    root = tmp_path / 'frames'
    (root / 'images' / 'train').mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(root / 'images' / 'train' / f'frame_{i:03d}.png'),
                    np.full((48, 64, 3), 40 * i, np.uint8))
    assert acnn(['label', str(root), '--no-browser']) == 2
    printed = capsys.readouterr().out
    assert 'the class of none of the 4 frames' in printed and 'no session saved' in printed
    assert 'no frames need a box' not in printed
    assert not (root / SESSION_FILE).exists()


def test_an_old_empty_session_is_chosen_again(class_only):
    (class_only / SESSION_FILE).write_text(json.dumps(
        {'version': 1, 'split': 'train', 'chosen': [], 'done': {}, 'skipped': []}))
    server = LabelServer(class_only, count=3)
    assert not server.resumed and server.state()['total'] == 3
    assert len(json.loads((class_only / SESSION_FILE).read_text())['chosen']) == 3


def test_count_on_a_resumed_session_is_said_to_be_ignored(class_only, capsys, served_once):
    assert acnn(['label', str(class_only), '--count', '3', '--no-browser']) == 0
    printed = capsys.readouterr().out
    assert printed.startswith('new session') and '3 frames to box' in printed
    assert 'is ignored' not in printed
    assert acnn(['label', str(class_only), '--count', '5', '--no-browser']) == 0
    printed = capsys.readouterr().out
    assert printed.startswith('resumed session') and '3 frames to box' in printed
    assert 'note: --count 5 is ignored: the resumed session keeps its 3 frames' in printed
    assert acnn(['label', str(class_only), '--count', '3', '--no-browser']) == 0
    assert 'is ignored' not in capsys.readouterr().out
