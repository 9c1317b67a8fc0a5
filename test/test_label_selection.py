# SPDX-License-Identifier: Apache-2.0
"""`acnn label`'s choice of frames and its session files (core/dataset, no server)."""
from collections import Counter
import json

from acnn_ros.core.dataset.label_selection import (allocate, position_cell,
                                                   select_for_labelling, target_count)
from acnn_ros.core.dataset.label_session import (clamp_box, dataset_items, LabelSession,
                                                 SESSION_FILE)
from acnn_ros.core.dataset.labels import read_yolo_label
import cv2
import numpy as np
import pytest


def test_allocate_gives_every_class_one_then_shares_in_proportion():
    quotas = allocate({0: 100, 1: 50, 2: 2, 3: 1}, 20, seed=0)
    assert sum(quotas.values()) == 20
    assert all(q >= 1 for q in quotas.values())
    assert quotas[0] > quotas[1] > quotas[2] >= quotas[3] == 1
    assert quotas[2] <= 2
    # Fewer picks than classes: the largest classes get one each.
    assert allocate({0: 5, 1: 50, 2: 9}, 2) == {0: 0, 1: 1, 2: 1}
    # More picks than frames: every frame.
    assert allocate({0: 3, 1: 2}, 10) == {0: 3, 1: 2}


def test_selection_is_seeded_covers_classes_and_skips_unknown_classes():
    rng = np.random.default_rng(1)
    classes = list(rng.integers(0, 4, 400)) + [-1] * 20
    picked = select_for_labelling(classes, 20, seed=7)
    assert picked == select_for_labelling(classes, 20, seed=7)
    assert picked != select_for_labelling(classes, 20, seed=8)
    assert len(picked) == 20 == len(set(picked)) and picked == sorted(picked)
    assert {classes[i] for i in picked} == {0, 1, 2, 3}
    assert all(i < 400 for i in picked)


def test_selection_spreads_over_positions():
    # 90 frames of one class: 80 with the object top-left, 10 bottom-right. A random 9 would
    # miss the bottom-right cell most of the time; round-robin over cells takes it.
    positions = [(0.1, 0.1)] * 80 + [(0.9, 0.9)] * 10
    picked = select_for_labelling([0] * 90, 9, seed=0, positions=positions, grid=3)
    cells = Counter(position_cell(positions[i], 3) for i in picked)
    assert cells == {0: 5, 8: 4} or cells == {0: 4, 8: 5}
    assert position_cell(None, 3) == -1 and position_cell((0.99, 0.5), 3) == 5
    with pytest.raises(ValueError):
        select_for_labelling([0, 1], 1, positions=[(0.5, 0.5)])


def test_target_count_rounds_and_bounds():
    assert target_count(3000, 0.05) == 150
    assert target_count(10, 0.05) == 1
    assert target_count(0, 0.05) == 0
    with pytest.raises(ValueError):
        target_count(10, 0.0)


def test_clamp_box_keeps_the_box_inside_the_frame():
    assert clamp_box((0.99, 0.01, 0.1, 0.2)) == pytest.approx((0.95, 0.1, 0.1, 0.2))
    assert clamp_box((0.5, 0.5, 2.0, 0.1)) == pytest.approx((0.5, 0.5, 1.0, 0.1))


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((48, 64, 3), np.uint8))


def test_classes_come_from_label_folder_or_file_name(tmp_path):
    (tmp_path / 'classes.txt').write_text('good\nbad\n')
    train = tmp_path / 'images' / 'train'
    for rel in ('good/a.jpg', 'bad/b.jpg', 'good_003.jpg', 'x_1.jpg', 'c.png'):
        _image(train / rel)
    labels = tmp_path / 'labels' / 'train'
    labels.mkdir(parents=True)
    (labels / 'c.txt').write_text('1 0.5 0.5 0.2 0.2\n')
    (labels / 'x_1.txt').write_text('0\n')
    items, names = dataset_items(tmp_path)
    assert names == ['good', 'bad']
    by_stem = {item.stem: item for item in items}
    assert by_stem['a'].class_id == 0 and by_stem['b'].class_id == 1
    assert by_stem['good_003'].class_id == 0 and by_stem['x_1'].class_id == 0
    assert by_stem['c'].class_id == 1 and by_stem['c'].box == pytest.approx((0.5, 0.5, .2, .2))
    assert by_stem['a'].box is None


def test_session_writes_labels_and_resumes(tmp_path):
    _image(tmp_path / 'images' / 'train' / 'p1_0.jpg')
    session = LabelSession(tmp_path, ['images/train/p1_0.jpg'])
    box = session.write_box('images/train/p1_0.jpg', 3, (0.99, 0.5, 0.1, 0.1))
    assert box == pytest.approx((0.95, 0.5, 0.1, 0.1))
    label = read_yolo_label(tmp_path / 'images' / 'train' / 'p1_0.jpg')
    assert label.class_id == 3 and label.box == pytest.approx(box, abs=1e-6)
    assert not [p for p in (tmp_path / 'labels' / 'train').iterdir() if p.name.startswith('.')]
    saved = json.loads((tmp_path / SESSION_FILE).read_text())
    assert saved['chosen'] == ['images/train/p1_0.jpg'] and saved['split'] == 'train'
    again = LabelSession.load(tmp_path)
    assert again.status('images/train/p1_0.jpg') == 'done'
    assert again.done['images/train/p1_0.jpg'] == pytest.approx(box, abs=1e-6)
    assert LabelSession.load(tmp_path / 'images') is None
