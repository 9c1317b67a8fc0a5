# SPDX-License-Identifier: Apache-2.0
"""The pure steps of `acnn dataset`: near-duplicates, schedule, time-block split, writer."""
from collections import Counter
import json

from acnn_ros.core.dataset.block_split import (guard_gap, parse_fractions, split_by_time,
                                               SPLITS)
from acnn_ros.core.dataset.dataset_builder import (build_dataset, BuildOptions,
                                                   DatasetExistsError, FrameLabel,
                                                   SKIP_DUPLICATE, SKIP_GAP, SourceFrame)
from acnn_ros.core.dataset.labels import read_yolo_label
from acnn_ros.core.dataset.near_duplicates import (DEFAULT_MAX_DIFF, DuplicateFilter,
                                                   thumbnail, thumbnail_difference)
from acnn_ros.core.dataset.schedule import ProductSchedule, ScheduleError
from acnn_ros.core.dataset.seed_format import folder_images, read_class_names
from acnn_ros.core.dataset.synthetic import render_frame
import cv2
import numpy as np
import pytest

SECOND = 10 ** 9


def _frames(count, seed=0):
    rng = np.random.default_rng(seed)
    return [render_frame(rng, int(rng.integers(4)))[0] for _ in range(count)]


def test_duplicate_threshold_separates_repeats_from_new_parts():
    a, b = _frames(2)
    noisy = np.clip(a.astype(np.float32) + np.random.default_rng(1).normal(0, 4, a.shape),
                    0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode('.jpg', a, [cv2.IMWRITE_JPEG_QUALITY, 80])
    recoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    same = [thumbnail_difference(thumbnail(a), thumbnail(x)) for x in (noisy, recoded)]
    new = thumbnail_difference(thumbnail(a), thumbnail(b))
    # The docstring's claims: a repeat (noise sigma 4, JPEG 80) stays far below the threshold,
    # another part is far above it.
    assert max(same) < DEFAULT_MAX_DIFF / 2
    assert new > 2 * DEFAULT_MAX_DIFF
    shifted = np.roll(a, 12, axis=1)          # the bottle moved 12 px on the conveyor
    assert thumbnail_difference(thumbnail(a), thumbnail(shifted)) > DEFAULT_MAX_DIFF


def test_duplicate_filter_compares_with_the_last_kept_frame():
    a, b = _frames(2, seed=3)
    drift = [np.clip(a.astype(np.int16) + step, 0, 255).astype(np.uint8)
             for step in (1, 2, 3, 4)]           # +1 grey level per frame: slow drift
    flt = DuplicateFilter(2.5)
    kept = [not flt.is_duplicate(f) for f in [a, a] + drift + [b]]
    # Against the last SEEN frame every drift step (1 level) would be a duplicate; against
    # the last KEPT one the drift is kept once it has moved 3 levels.
    assert kept == [True, False, False, False, True, False, True]
    with pytest.raises(ValueError):
        DuplicateFilter(-1)


def test_schedule_csv_yaml_relative_and_errors(tmp_path):
    csv_file = tmp_path / 's.csv'
    csv_file.write_text('# shift 1\nstart,end,class\n2026-11-28T06:00:00Z,2026-11-28T07:00:00Z,'
                        'p3707\n1795849200,1795852800,p1069\n', encoding='utf-8')
    schedule = ProductSchedule.load(csv_file)
    six = 1795845600 * SECOND     # 2026-11-28T06:00:00Z
    assert schedule.class_at(six) == 'p3707'
    assert schedule.class_at(six + 3600 * SECOND - 1) == 'p3707'
    assert schedule.class_at(six + 3600 * SECOND) == 'p1069'     # half-open ranges
    assert schedule.class_at(six - 1) is None
    yaml_file = tmp_path / 's.yaml'
    yaml_file.write_text("batches:\n  - {start: '+0', end: '+10', class: a}\n"
                         "  - {start: '+12', end: '+20', class: b}\n", encoding='utf-8')
    relative = ProductSchedule.load(yaml_file)
    first = 5 * SECOND
    assert relative.class_at(first + 9 * SECOND, first) == 'a'
    assert relative.class_at(first + 11 * SECOND, first) is None   # the changeover
    assert relative.class_at(first + 12 * SECOND, first) == 'b'
    bad = tmp_path / 'bad.csv'
    for text in ('start,end,class\n0,10,a\n5,20,b\n',           # overlap
                 'start,end,class\n10,0,a\n',                    # ends before it starts
                 'start,end,class\n2026-11-28T06:00:00,+1,a\n',  # no zone / mixed
                 'start,end\n0,1\n'):
        bad.write_text(text, encoding='utf-8')
        with pytest.raises(ScheduleError):
            ProductSchedule.load(bad)


def test_block_split_keeps_blocks_whole_covers_classes_and_leaves_a_gap():
    # Two products, one per batch, 10 Hz, 300 s each: 10 blocks of 30 s per product.
    stamps = [i * SECOND // 10 for i in range(6000)]
    classes = ['a' if i < 3000 else 'b' for i in range(6000)]
    fractions = parse_fractions('0.7,0.15,0.15')
    splits = split_by_time(stamps, classes, fractions, block_s=30.0, seed=4, gap_s=1.0)
    blocks = {}
    for t, split in zip(stamps, splits):
        if split is not None:
            blocks.setdefault(t // (30 * SECOND), set()).add(split)
    assert all(len(s) == 1 for s in blocks.values())            # a block is in one split
    for name in 'ab':
        present = {s for s, c in zip(splits, classes) if c == name and s}
        assert present == set(SPLITS)                            # each class in every split
    counts = Counter(s for s in splits if s)
    assert counts['train'] > counts['val'] > 0 and counts['test'] > 0
    # No two frames of different splits closer than the gap, and the gap dropped frames.
    kept = [(t, s) for t, s in zip(stamps, splits) if s]
    assert all(b[0] - a[0] >= SECOND for a, b in zip(kept, kept[1:]) if a[1] != b[1])
    assert splits.count(None) > 0
    again = split_by_time(stamps, classes, fractions, block_s=30.0, seed=4, gap_s=1.0)
    assert again == splits                                       # seeded
    assert split_by_time(stamps, classes, fractions, 30.0, seed=5, gap_s=1.0) != splits


def test_guard_gap_and_fraction_parsing():
    stamps = [0, SECOND, 2 * SECOND, 3 * SECOND]
    assert guard_gap(stamps, ['train', 'train', 'val', 'val'], 1.5) == \
        ['train', None, None, 'val']
    assert guard_gap(stamps, ['train', 'train', 'val', 'val'], 0) == \
        ['train', 'train', 'val', 'val']
    assert parse_fractions('7,2,1') == {'train': 0.7, 'val': 0.2, 'test': 0.1}
    for text in ('0.5,0.5', 'a,b,c', '-1,1,1'):
        with pytest.raises(ValueError):
            parse_fractions(text)


def test_build_dataset_writes_seed_format_and_counts_every_frame(tmp_path):
    images = _frames(40, seed=7)
    frames, labels = [], {}
    for i in range(60):
        # 40 distinct frames; 40..59 repeat 0..19 (duplicates); 30..39 have no label
        bgr = images[i] if i < 40 else images[i - 40]
        frames.append(SourceFrame(i, i * SECOND, bgr, '/image'))
        labels[i] = None if 30 <= i < 40 else ('bad' if i % 2 else 'good')
    order = sorted(frames, key=lambda f: (f.index % 40, f.index))    # repeats follow originals

    def label_of(frame):
        name = labels[frame.index]
        box = (0.5, 0.5, 0.1, 0.05) if frame.index == 0 else None
        return FrameLabel(name, box, '' if name else 'no row')
    options = BuildOptions(block_s=5.0, gap_s=1.5, seed=1)
    summary = build_dataset(order, label_of, tmp_path / 'ds', options)
    assert summary.frames_seen == 60
    assert summary.skipped['no row'] == 10
    assert summary.skipped[SKIP_DUPLICATE] == 20
    assert summary.total_written + sum(summary.skipped.values()) == 60
    assert summary.skipped[SKIP_GAP] > 0
    root = tmp_path / 'ds'
    assert read_class_names(root) == ['bad', 'good']
    written = sum(len(folder_images(root, s)) for s in SPLITS)
    assert written == summary.total_written
    for split in SPLITS:
        for path in folder_images(root, split):
            label = read_yolo_label(path, 2)
            assert ['bad', 'good'][label.class_id] == path.name.split('_')[0]
            index = int(path.stem.split('_')[1])
            assert label.box == ((0.5, 0.5, 0.1, 0.05) if index == 0 else None)
    saved = json.loads((root / 'dataset_summary.json').read_text())
    assert saved['written_total'] == summary.total_written
    assert not (root / 'images' / '.staging').exists()
    assert 'frames read' in summary.text() and 'near-duplicate' in summary.text()
    with pytest.raises(DatasetExistsError):
        build_dataset([], label_of, root, options)


def test_mixed_production_blocks_form_one_pool_split_near_the_shares():
    # Classes change every frame (no batches): no block is one class, so the ten blocks are
    # one pool, and the shares come out as near 0.7 / 0.15 / 0.15 as whole blocks allow.
    rng = np.random.default_rng(0)
    stamps = [i * SECOND // 10 for i in range(300)]
    classes = [str(rng.integers(4)) for _ in stamps]
    for seed in range(3):
        splits = split_by_time(stamps, classes, parse_fractions('0.7,0.15,0.15'), 3.0, seed, 0)
        assert Counter(splits) == {'train': 180, 'val': 60, 'test': 60}
