# SPDX-License-Identifier: Apache-2.0
"""Dataset reading: classes from labels/names/folders, bad files reported by name."""
from pathlib import Path

from acnn_ros.cli import main as acnn_main
from acnn_ros.core.dataset.synthetic import generate_dataset
from acnn_ros.model.dataset import DatasetError, keep_box_labels, load_split, parse_label
import numpy as np
import pytest


@pytest.fixture(scope='module')
def small_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('ds')
    generate_dataset(root, 6, 2, seed=3)
    return root


def _copy(src: Path, dst: Path) -> Path:
    import shutil
    shutil.copytree(src, dst)
    return dst


def test_loads_frames_labels_and_boxes(small_dataset):
    frames = load_split(small_dataset, 'train', progress=False)
    assert frames.images.shape == (6, 480, 640, 3)
    assert frames.has_box.all()
    assert frames.class_names == ['p1069', 'p1071', 'p3707', 'p3709']
    for path, label in zip(frames.paths, frames.labels):
        assert frames.class_names[label] == path.name.split('_')[0]


@pytest.mark.parametrize('text, reason', [
    ('', 'empty'),
    ('0 0.5 abc 0.1 0.1', 'not numbers'),
    ('0 0.5 0.5 0.1', 'found 4 fields'),
    ('x', 'not an integer'),
    ('7 0.5 0.5 0.1 0.1', 'outside 0..3'),
    ('0 0.99 0.5 0.1 0.1', 'outside the frame'),
    ('0 0.5 0.5 0 0.1', 'not positive'),
])
def test_malformed_labels_give_a_clear_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_label(text, 4)


def test_bad_files_are_named_then_skipped_or_fatal(small_dataset, tmp_path):
    root = _copy(small_dataset, tmp_path / 'bad')
    images = sorted((root / 'images' / 'train').glob('*.jpg'))
    images[0].write_bytes(b'not a jpeg at all')                     # corrupt image
    (root / 'labels' / 'train' / f'{images[1].stem}.txt').write_text('0 1.2 0.5 0.1 0.1\n')
    reports = []
    frames = load_split(root, 'train', progress=False, report=reports.append)
    assert len(frames) == 4
    assert any(images[0].name in r and 'cannot decode' in r for r in reports)
    assert any(f'{images[1].stem}.txt' in r and 'outside the frame' in r for r in reports)
    with pytest.raises(DatasetError) as info:
        load_split(root, 'train', on_error='fail', progress=False)
    assert f'{images[1].stem}.txt' in str(info.value)


def test_class_without_label_file_comes_from_name_or_folder(small_dataset, tmp_path):
    root = _copy(small_dataset, tmp_path / 'nolabels')
    for label in (root / 'labels' / 'train').glob('*.txt'):
        label.unlink()
    frames = load_split(root, 'train', progress=False)
    assert not frames.has_box.any()
    assert [frames.class_names[k] for k in frames.labels] == [
        p.name.split('_')[0] for p in frames.paths]
    # Folder layout with names that do not match the default pattern.
    folder_root = tmp_path / 'folders'
    for class_name in ('good', 'bad'):
        target = folder_root / 'images' / 'train' / class_name
        target.mkdir(parents=True)
        for k, src in enumerate(sorted((root / 'images' / 'train').glob('*.jpg'))[:2]):
            (target / f'img{k}.jpg').write_bytes(src.read_bytes())
    frames = load_split(folder_root, 'train', class_names=['good', 'bad'], progress=False)
    folders = [p.parent.name for p in frames.paths]
    assert [frames.class_names[k] for k in frames.labels] == folders


def test_keep_box_labels_keeps_the_requested_fraction():
    has_box = np.ones(200, bool)
    kept = keep_box_labels(has_box, 0.05, seed=1)
    assert kept.sum() == 10
    assert np.array_equal(kept, keep_box_labels(has_box, 0.05, seed=1))
    assert keep_box_labels(np.zeros(5, bool), 0.5, seed=0).sum() == 0


def test_train_cli_reports_a_missing_dataset_without_a_traceback(tmp_path, capsys):
    status = acnn_main(['train', str(tmp_path / 'nothing'), '--out', str(tmp_path / 'run'),
                        '--no-progress'])
    err = capsys.readouterr().err
    assert status == 2
    assert 'error:' in err and 'does not exist' in err and 'Traceback' not in err


def test_limit_takes_a_fixed_subset_across_classes(small_dataset):
    full = load_split(small_dataset, 'train', progress=False)
    first = load_split(small_dataset, 'train', limit=4, progress=False)
    again = load_split(small_dataset, 'train', limit=4, progress=False)
    assert len(first) == 4 and first.paths == again.paths
    assert set(first.paths) <= set(full.paths)


def test_a_subset_copies_the_chosen_frames_with_their_labels_and_paths(small_dataset):
    frames = load_split(small_dataset, 'train', progress=False)
    part = frames.subset(np.array([4, 1]))
    assert len(part) == 2 and part.paths == [frames.paths[4], frames.paths[1]]
    assert np.array_equal(part.images[0], frames.images[4])
    assert part.labels.tolist() == [frames.labels[4], frames.labels[1]]
    part.images[0] = 0                      # a copy: the training set is not touched
    assert frames.images[4].any()
