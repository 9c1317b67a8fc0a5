# SPDX-License-Identifier: Apache-2.0
"""The synthetic AOI generator: determinism, label geometry, class-only differences, layout."""
import hashlib
from pathlib import Path

from acnn_ros.core.dataset.seed_format import read_class_names
from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES, generate_dataset, render_frame
import numpy as np
import pytest


def test_render_frame_is_deterministic_from_the_generator_state():
    a, box_a = render_frame(np.random.default_rng(7), 2, device=1)
    b, box_b = render_frame(np.random.default_rng(7), 2, device=1)
    c, _ = render_frame(np.random.default_rng(8), 2, device=1)
    assert a.shape == (480, 640, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and box_a == box_b
    assert not np.array_equal(a, c)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_code_box_is_small_and_inside_the_frame(seed):
    _, box = render_frame(np.random.default_rng(seed), seed % 4)
    x, y, w, h = box.clipped(640, 480)
    assert (w, h) == (round(box.width), round(box.height))        # not clipped: inside
    assert 26 <= box.width <= 40 and 16 <= box.height <= 26
    assert box.width * box.height / (640 * 480) < 0.003           # under 0.3 % of the frame


def test_classes_differ_only_around_the_printed_code():
    frames = [render_frame(np.random.default_rng(11), k)[0].astype(int) for k in range(4)]
    _, box = render_frame(np.random.default_rng(11), 0)
    for other in frames[1:]:
        ys, xs = np.nonzero(np.abs(frames[0] - other).max(axis=2) > 0)
        assert len(xs) > 20                                         # the code does change
        # Every changed pixel is in the code box (plus the blur/JPEG-free margin of a few px).
        assert xs.min() >= box.center_x - box.width / 2 - 4
        assert xs.max() <= box.center_x + box.width / 2 + 4
        assert ys.min() >= box.center_y - box.height / 2 - 4
        assert ys.max() <= box.center_y + box.height / 2 + 4


def test_device_one_is_a_different_camera():
    means = {d: np.mean([render_frame(np.random.default_rng(s), 0, device=d)[0].mean(axis=(0, 1))
                         for s in range(4)], axis=0) for d in (0, 1)}
    # Device 1: darker overall and a warmer cast (more red relative to blue, BGR order).
    assert means[1].sum() < means[0].sum()
    assert means[1][2] / means[1][0] > means[0][2] / means[0][0]


def folder_digest(folder: Path) -> str:
    """Return one sha256 of every file's relative path and bytes under `folder`."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob('*')):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_generate_dataset_writes_the_seed_format_deterministically(tmp_path):
    counts = generate_dataset(tmp_path / 'a', 6, 3, seed=5, labeled_fraction=0.5)
    generate_dataset(tmp_path / 'b', 6, 3, seed=5, labeled_fraction=0.5)
    assert counts == {'train': 6, 'test': 3}
    assert folder_digest(tmp_path / 'a') == folder_digest(tmp_path / 'b')
    root = tmp_path / 'a'
    assert read_class_names(root) == list(DEFAULT_CLASSES)
    for split, count in (('train', 6), ('test', 3)):
        images = sorted((root / 'images' / split).glob('*.jpg'))
        assert len(images) == count
        for image in images:
            fields = (root / 'labels' / split / f'{image.stem}.txt').read_text().split()
            assert DEFAULT_CLASSES[int(fields[0])] == image.stem.split('_')[0]
            if split == 'test':
                assert len(fields) == 5                          # test keeps every box
            if len(fields) == 5:
                cx, cy, w, h = map(float, fields[1:])
                assert 0 < cx - w / 2 and cx + w / 2 < 1 and 0 < cy - h / 2 and cy + h / 2 < 1
    train_fields = [len((root / 'labels' / 'train' / f'{p.stem}.txt').read_text().split())
                    for p in (root / 'images' / 'train').glob('*.jpg')]
    assert set(train_fields) <= {1, 5} and 1 in train_fields     # some class-only labels
