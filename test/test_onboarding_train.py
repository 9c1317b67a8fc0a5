# SPDX-License-Identifier: Apache-2.0
"""
The traps of `acnn train` / `acnn export` a newcomer met walking docs/TUTORIAL.md (issue 24.5).

`--epochs 0` is an argparse error (exit 2, no run folder, no checkpoint named); training says
how many boxes the labelled fraction left out, and warns when no box is left; the console says
"not measured" instead of `None px`; curves.png has a validation loss, a chance line and no
empty ROI panel; the export raises no TracerWarning, refuses a --metrics file that does not
exist, and its card (.md) holds no raw floats, None or Python dicts. Tiny data, one epoch.
"""
import json
from pathlib import Path
import re
import warnings

from acnn_ros.cli import main as acnn
from acnn_ros.core.dataset.synthetic import generate_dataset
from acnn_ros.model.history import curves_figure
import cv2
import numpy as np
import pytest


def _strip_boxes(root: Path) -> None:
    for label in (root / 'labels').rglob('*.txt'):
        label.write_text(''.join(line.split()[0] + '\n' for line in
                                 label.read_text().splitlines() if line.strip()))


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """One epoch on 16 frames (12 train + 4 carved val), 5 % boxes: (dataset, run, its log)."""
    root = tmp_path_factory.mktemp('onboarding')
    data = root / 'data'
    generate_dataset(data, 16, 4, seed=3)
    out = root / 'run'
    assert acnn(['train', str(data), '--out', str(out), '--epochs', '1', '--batch-size', '16',
                 '--val-fraction', '0.25', '--no-progress', '--no-augment']) == 0
    return data, out, (out / 'train.log').read_text()


@pytest.mark.parametrize('epochs', ['0', '-3'])
def test_train_refuses_no_epochs_before_doing_anything(tmp_path, capsys, epochs):
    with pytest.raises(SystemExit) as stop:
        acnn(['train', str(tmp_path / 'nowhere'), '--out', str(tmp_path / 'run'),
              '--epochs', epochs])
    assert stop.value.code == 2
    printed = capsys.readouterr()
    assert 'argument --epochs: must be at least 1' in printed.err
    assert 'last.pt' not in printed.out + printed.err
    assert not (tmp_path / 'run').exists()


def test_train_says_how_many_boxes_the_fraction_left_out(run):
    _, out, printed = run
    assert 'note: 11 of the 12 boxes in train are not used: --labeled-fraction 0.05 keeps 1' \
        in printed
    assert 'no training image has a box' not in printed
    assert re.search(r'ROI centre error mean \d+\.\d px, median', printed)


def test_train_without_boxes_warns_and_says_not_measured(tmp_path, capsys):
    data = tmp_path / 'data'
    generate_dataset(data, 8, 4, seed=4)
    _strip_boxes(data)
    assert acnn(['train', str(data), '--out', str(tmp_path / 'run'), '--epochs', '1',
                 '--batch-size', '8', '--val-fraction', '0.25', '--no-progress',
                 '--no-augment']) == 0
    printed = capsys.readouterr().out
    assert 'warning: no training image has a box' in printed
    assert 'val_accuracy=' in printed and 'None' not in printed
    assert 'ROI centre error not measured (no frame with a box)' in printed


def test_curves_show_validation_loss_chance_and_no_empty_roi_panel(run):
    _, out, _ = run
    assert (out / 'curves.png').is_file()
    history = [{'epoch': e, 'train_loss': 2.0 / e, 'train_cls_loss': 1.5 / e,
                'train_loc_loss': 0.5 / e, 'train_accuracy': 0.3 * e, 'val_cls_loss': 1.4 / e,
                'val_accuracy': 0.25 * e, 'val_roi_center_error_px_mean': None}
               for e in (1, 2, 3)]
    figure = curves_figure(history, best_epoch=3, num_classes=4)
    titles = [axes.get_title() for axes in figure.axes]
    assert titles == ['loss', 'accuracy']                   # no ROI panel without boxes
    labels = {line.get_label() for axes in figure.axes for line in axes.get_lines()}
    assert {'validation classification', 'chance (1/4)'} <= labels
    chance = [line for line in figure.axes[1].get_lines() if line.get_label() == 'chance (1/4)']
    assert list(chance[0].get_ydata()) == [0.25, 0.25]
    history[1]['val_roi_center_error_px_mean'] = 12.0
    figure = curves_figure(history, best_epoch=3, num_classes=4)
    assert [axes.get_title() for axes in figure.axes][-1] == 'ROI centre error (px)'


def test_export_without_tracer_warning_and_a_readable_card(run, tmp_path):
    _, out, _ = run
    onnx = tmp_path / 'models' / 'm.onnx'
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert acnn(['export', str(out / 'best.pt'), str(onnx)]) == 0
    assert not [w for w in caught if 'TracerWarning' in w.category.__name__], \
        [str(w.message) for w in caught]
    card = onnx.with_suffix('.md').read_text()
    assert 'None' not in card and '{' not in card
    assert not re.search(r'\d\.\d{5,}', card), card         # no raw floats
    assert '## Training' in card and '- labeled fraction: 0.05' in card


def test_export_refuses_a_metrics_file_that_does_not_exist(run, tmp_path, capsys):
    _, out, _ = run
    onnx = tmp_path / 'm.onnx'
    assert acnn(['export', str(out / 'best.pt'), str(onnx), '--metrics',
                 str(tmp_path / 'nope.json')]) == 2
    assert 'nope.json: no such file' in capsys.readouterr().err
    assert not onnx.exists()


def test_a_split_without_usable_images_is_one_short_error(tmp_path, capsys):
    images = tmp_path / 'data' / 'images' / 'train'
    images.mkdir(parents=True)
    (tmp_path / 'data' / 'classes.txt').write_text('p1069\np1071\n')
    for i in range(57):
        cv2.imwrite(str(images / f'frame_{i:03d}.png'), np.zeros((48, 64, 3), np.uint8))
    assert acnn(['train', str(tmp_path / 'data'), '--out', str(tmp_path / 'run'),
                 '--no-progress']) == 2
    printed = capsys.readouterr()
    assert 'warning' not in printed.out + printed.err
    lines = printed.err.strip().splitlines()
    assert lines[0].startswith('error: ') and 'no usable images' in lines[0]
    assert len(lines) <= 6, lines
    assert '57 file(s) in all: no label file' in printed.err


def test_a_finished_run_draws_the_test_confusion_matrix_and_its_failures(run):
    _, out, log = run
    result = json.loads((out / 'test_metrics.json').read_text())
    confusion = cv2.imread(str(out / 'confusion.png'))
    assert confusion is not None and confusion.shape[0] > 200
    assert 'confusion.png' in log
    wrong = result['num_images'] - round(result['accuracy'] * result['num_images'])
    assert (out / 'failures.png').is_file() == (wrong > 0)
    if wrong:
        assert cv2.imread(str(out / 'failures.png')) is not None and 'failures.png' in log
