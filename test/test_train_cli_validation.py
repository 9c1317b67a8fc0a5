# SPDX-License-Identifier: Apache-2.0
"""`acnn train` on a real seed-format dataset: validation split, run files, test once, export."""
import csv
import json
from pathlib import Path
import shutil

from acnn_ros.cli import main as acnn_main
from acnn_ros.core.dataset.synthetic import generate_dataset
from acnn_ros.model.checkpoint import load_checkpoint
from acnn_ros.model.history import HISTORY_COLUMNS
import cv2
import pytest


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('train_ds')
    generate_dataset(root, 16, 4, seed=3)          # 4 frames per class in train, 1 in test
    return root


def _run_files(run: Path):
    return sorted(p.name for p in run.iterdir())


@pytest.mark.timeout(400)
def test_acnn_train_validates_on_train_blocks_tests_once_and_exports_best(
        dataset, tmp_path, capsys):
    run = tmp_path / 'run'
    status = acnn_main(['train', str(dataset), '--out', str(run), '--epochs', '2',
                        '--batch-size', '16', '--val-fraction', '0.25', '--no-progress',
                        '--no-augment', '--labeled-fraction', '1.0'])
    assert status == 0
    # (failures.png only where a test frame was misclassified)
    assert [f for f in _run_files(run) if f != 'failures.png'] == [
        'best.pt', 'confusion.png', 'curves.png', 'history.csv', 'last.pt', 'test_metrics.json',
        'train.log']
    last = load_checkpoint(run / 'last.pt')
    validation = last['validation']
    assert validation['source'].startswith('carved from train (0.25')
    val_paths = {Path(p) for p in validation['paths']}
    train_images = set((dataset / 'images' / 'train').iterdir())
    test_images = set((dataset / 'images' / 'test').iterdir())
    assert len(val_paths) == 4 and val_paths <= train_images and not val_paths & test_images
    assert last['num_train'] == 12
    assert sorted(p.name.split('_')[0] for p in val_paths) == [
        'p1069', 'p1071', 'p3707', 'p3709']                      # every class validated
    with open(run / 'history.csv', newline='', encoding='utf-8') as stream:
        rows = list(csv.DictReader(stream))
    assert tuple(rows[0].keys()) == HISTORY_COLUMNS and [r['epoch'] for r in rows] == ['1', '2']
    assert all(0.0 <= float(r['val_accuracy']) <= 1.0 for r in rows)
    assert not any('test' in key for key in last['history'][0])  # no per-epoch test peeking
    png = cv2.imread(str(run / 'curves.png'))
    assert png is not None and png.ndim == 3
    result = json.loads((run / 'test_metrics.json').read_text(encoding='utf-8'))
    best = load_checkpoint(run / 'best.pt')
    assert result['checkpoint'] == 'best.pt' and result['epoch'] == best['epoch'] + 1
    assert result['num_images'] == 4 and result['epoch'] == last['best']['best_epoch']
    log = (run / 'train.log').read_text(encoding='utf-8')
    assert log.count('test split (evaluated once') == 1
    assert 'test accuracy' in capsys.readouterr().out

    onnx = tmp_path / 'model.onnx'
    assert acnn_main(['export', str(run / 'best.pt'), str(onnx)]) == 0
    card = json.loads(onnx.with_suffix('.json').read_text(encoding='utf-8'))
    assert card['metrics']['accuracy'] == result['accuracy']
    assert card['extra']['training']['epochs'] == result['epoch']
    assert card['extra']['training']['validation']['num_images'] == 4
    # last.pt was not what the test split measured: its card does not borrow those numbers.
    assert acnn_main(['export', str(run / 'last.pt'), str(tmp_path / 'last.onnx')]) == 0
    if last['best']['best_epoch'] != last['epoch'] + 1:
        card = json.loads((tmp_path / 'last.json').read_text(encoding='utf-8'))
        assert 'accuracy' not in card['metrics']


@pytest.mark.timeout(300)
def test_acnn_train_uses_the_dataset_val_split_when_there_is_one(dataset, tmp_path):
    data = tmp_path / 'with_val'
    shutil.copytree(dataset, data)
    moved = []
    for name in ('p1069', 'p1071', 'p3707', 'p3709'):      # the first frame of each class
        image = sorted((data / 'images' / 'train').glob(f'{name}_*.jpg'))[0]
        for kind, suffix in (('images', '.jpg'), ('labels', '.txt')):
            target = data / kind / 'val'
            target.mkdir(parents=True, exist_ok=True)
            shutil.move(str(data / kind / 'train' / (image.stem + suffix)), target)
        moved.append(data / 'images' / 'val' / image.name)
    assert len(moved) == 4
    run = tmp_path / 'run'
    assert acnn_main(['train', str(data), '--out', str(run), '--epochs', '1', '--batch-size',
                      '16', '--no-progress', '--no-augment']) == 0
    last = load_checkpoint(run / 'last.pt')
    assert last['validation']['source'] == 'val split'
    assert sorted(Path(p) for p in last['validation']['paths']) == sorted(moved)
    assert last['num_train'] == 12
    # A resumed run must validate on the same frames: refused when the split changed.
    shutil.rmtree(data / 'images' / 'val')
    assert acnn_main(['train', str(data), '--out', str(run), '--epochs', '1', '--batch-size',
                      '16', '--no-progress', '--no-augment', '--resume']) == 2
