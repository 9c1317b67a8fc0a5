# SPDX-License-Identifier: Apache-2.0
"""Multi-task loss, tiny training runs, validation, best.pt, early stopping, resume."""
import csv
from dataclasses import replace
import json

from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES, render_frame
from acnn_ros.model.acnn import build_model
from acnn_ros.model.dataset import FrameSet, validation_blocks
from acnn_ros.model.history import HISTORY_COLUMNS, is_better
from acnn_ros.model.losses import localization_loss, multitask_loss
from acnn_ros.model.registry import list_models
from acnn_ros.model.train import (Augmenter, evaluate, load_checkpoint, model_from_checkpoint,
                                  train, TrainConfig, training_stages)
import cv2
import numpy as np
import pytest
import torch


def test_localization_loss_ignores_images_without_a_box():
    model = build_model('opt', 4)
    out = model(torch.rand(4, 3, 480, 640))
    boxes = torch.rand(4, 4) * 0.5 + 0.25
    none = torch.zeros(4, dtype=torch.bool)
    assert float(localization_loss(out.heatmap, out.roi, boxes, none)) == 0.0
    some = torch.tensor([True, False, True, False])
    loss_a = localization_loss(out.heatmap, out.roi, boxes, some)
    moved = boxes.clone()
    moved[[1, 3]] = torch.tensor([0.9, 0.1, 0.05, 0.05])   # change only the unlabelled ones
    loss_b = localization_loss(out.heatmap, out.roi, moved, some)
    assert float(loss_a) > 0 and torch.allclose(loss_a, loss_b)
    total, parts = multitask_loss(out, torch.tensor([0, 1, 2, 3]), boxes, none)
    assert parts['loc'] == 0.0 and torch.allclose(total, torch.tensor(parts['cls']))


def _frames(count: int, seed: int) -> FrameSet:
    rng = np.random.default_rng(seed)
    images, labels, boxes = [], [], []
    for k in range(count):
        bgr, box = render_frame(rng, k % 4)
        images.append(bgr[:, :, ::-1])
        labels.append(k % 4)
        boxes.append((box.center_x / 640, box.center_y / 480, box.width / 640,
                      box.height / 480))
    return FrameSet(images=np.stack(images), labels=np.array(labels),
                    boxes=np.array(boxes, np.float32), has_box=np.ones(count, bool),
                    paths=[], class_names=list(DEFAULT_CLASSES))


@pytest.mark.timeout(180)     # 640x480 frames; 28 s alone, over 60 s with 7 engineers' jobs
def test_tiny_training_run_reduces_the_loss_and_resumes(tmp_path):
    frames = _frames(12, seed=0)
    config = TrainConfig(variant='opt', epochs=4, batch_size=4, lr=5e-3,
                         labeled_fraction=1.0, augment=False, seed=0, val_fraction=0.0)
    state = train(config, frames, None, tmp_path, log=lambda _: None, progress=False)
    losses = [h['train_loss'] for h in state['history']]
    assert len(losses) == 4
    assert all(a > b for a, b in zip(losses, losses[1:])) and losses[-1] < 0.9 * losses[0]
    assert (tmp_path / 'last.pt').is_file()
    assert not (tmp_path / 'best.pt').exists()     # no validation split: nothing to select on
    # A finished run resumes to the same state; a changed config is refused.
    again = train(config, frames, None, tmp_path, resume=True, log=lambda _: None,
                  progress=False)
    assert again['history'] == state['history']
    with pytest.raises(ValueError, match='different configuration'):
        train(TrainConfig(variant='opt', epochs=5, batch_size=4, labeled_fraction=1.0),
              frames, None, tmp_path, resume=True, log=lambda _: None, progress=False)
    model = model_from_checkpoint(load_checkpoint(tmp_path / 'last.pt'))
    metrics = evaluate(model, frames, progress=False)
    assert 0.0 <= metrics['accuracy'] <= 1.0 and metrics['num_boxes'] == 12


@pytest.mark.timeout(180)
def test_every_registered_model_trains_an_epoch_through_the_trainer(tmp_path):
    # The trainer's model preparation (channels_last) must suit every variant: ASSN's Conv3d
    # has a 5-D weight, which Module.to(memory_format=channels_last) refuses.
    frames = _frames(4, seed=3)
    for variant in list_models():
        config = TrainConfig(variant=variant, epochs=1, batch_size=4, augment=False,
                             labeled_fraction=1.0, val_fraction=0.0)
        state = train(config, frames, None, tmp_path / variant, log=lambda _: None,
                      progress=False)
        assert np.isfinite(state['history'][0]['train_loss']), variant


@pytest.mark.timeout(60)
def test_a_second_stage_records_the_stage_it_started_from(tmp_path):
    frames = _frames(4, seed=1)
    roi = {'roi_output_width': 64, 'roi_output_height': 48}    # a stage keeps the geometry
    first = TrainConfig(variant='opt', epochs=2, batch_size=4, augment=False, overrides=roi)
    train(first, frames, None, tmp_path / 'one', command='stage one', log=lambda _: None,
          progress=False)
    second = TrainConfig(variant='opt', epochs=1, batch_size=4, augment=False,
                         init_from=str(tmp_path / 'one' / 'last.pt'), overrides=roi)
    state = train(second, frames, None, tmp_path / 'two', command='stage two',
                  log=lambda _: None, progress=False)
    assert training_stages(state) == [
        {'command': 'stage one', 'epochs': 2, 'num_train': 4},
        {'command': 'stage two', 'epochs': 1, 'num_train': 4}]
    (tmp_path / 'one' / 'last.pt').unlink()
    assert training_stages(state)[0] == {'missing': str(tmp_path / 'one' / 'last.pt')}


def test_augmentation_is_reproducible_and_changes_the_frames():
    frames = _frames(6, seed=2)
    augment = Augmenter(480, 640, seed=0)
    first = augment(frames.images, torch.Generator().manual_seed(5))
    again = augment(frames.images, torch.Generator().manual_seed(5))
    other = augment(frames.images, torch.Generator().manual_seed(6))
    assert first.shape == (6, 3, 480, 640) and first.dtype == torch.float32
    assert 0.0 <= float(first.min()) and float(first.max()) <= 1.0
    assert torch.equal(first, again)      # a resumed run sees the same augmentation
    assert not torch.equal(first, other)
    plain = torch.from_numpy(frames.images).permute(0, 3, 1, 2).float() / 255.0
    assert float((first - plain).abs().mean()) > 0.01


# --- validation, best.pt, early stopping (small 160x120 frames: seconds on a shared CPU) ---

SMALL = {'input_width': 160, 'input_height': 120}


def _small(frames: FrameSet) -> FrameSet:
    images = np.stack([cv2.resize(i, (160, 120), interpolation=cv2.INTER_AREA)
                       for i in frames.images])
    return FrameSet(images=images, labels=frames.labels, boxes=frames.boxes,
                    has_box=frames.has_box, paths=list(frames.paths),
                    class_names=frames.class_names)


class ScriptedValidation:
    """Validation scores given epoch by epoch; keeps a copy of the weights it was shown."""

    def __init__(self, scores):
        self.scores = list(scores)
        self.weights = []

    def __call__(self, model, frames):
        self.weights.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        accuracy, error = self.scores.pop(0)
        return {'accuracy': accuracy, 'roi_center_error_px_mean': error,
                'roi_center_error_px_p95': error}


def _same_weights(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_validation_blocks_are_whole_blocks_of_each_class_drawn_from_the_seed():
    labels = np.repeat(np.arange(4), 40)          # sorted file list: class prefix, then time
    chosen = validation_blocks(labels, 0.2, 4, seed=3)
    assert np.bincount(labels[chosen], minlength=4).tolist() == [8, 8, 8, 8]
    for class_id in range(4):
        members = np.flatnonzero(labels == class_id)
        in_val = np.isin(members, chosen)
        blocks = in_val.reshape(-1, 4)            # position // 4 within the class
        assert (blocks.all(axis=1) | ~blocks.any(axis=1)).all()   # no block straddles
    assert np.array_equal(chosen, validation_blocks(labels, 0.2, 4, seed=3))
    assert not np.array_equal(chosen, validation_blocks(labels, 0.2, 4, seed=4))
    assert validation_blocks(labels, 0.0, 4, seed=3).size == 0
    # A class too small for two blocks keeps all its frames for training.
    assert validation_blocks(np.array([0, 1, 1, 1, 1]), 0.5, 1, seed=0).tolist() in (
        [1, 2], [1, 3], [1, 4], [2, 3], [2, 4], [3, 4])
    with pytest.raises(ValueError):
        validation_blocks(labels, 1.0, 4, seed=0)


def test_is_better_prefers_accuracy_then_the_lower_roi_error():
    assert is_better({'accuracy': 0.5, 'roi_center_error_px_mean': None}, None)
    assert is_better({'accuracy': 0.6, 'roi_center_error_px_mean': 90.0},
                     {'accuracy': 0.5, 'roi_center_error_px_mean': 1.0})
    assert is_better({'accuracy': 0.5, 'roi_center_error_px_mean': 2.0},
                     {'accuracy': 0.5, 'roi_center_error_px_mean': 3.0})
    assert not is_better({'accuracy': 0.5, 'roi_center_error_px_mean': 3.0},
                         {'accuracy': 0.5, 'roi_center_error_px_mean': 3.0})
    assert not is_better({'accuracy': 0.5, 'roi_center_error_px_mean': None},
                         {'accuracy': 0.5, 'roi_center_error_px_mean': 3.0})


@pytest.mark.timeout(120)
def test_best_pt_keeps_the_best_validation_epoch_beside_last_pt(tmp_path):
    frames, val = _small(_frames(8, seed=4)), _small(_frames(4, seed=5))
    config = TrainConfig(epochs=5, batch_size=8, augment=False, labeled_fraction=1.0,
                         overrides=SMALL)
    # Epoch 4 ties epoch 2 on accuracy and wins on ROI error; epoch 5 only equals epoch 4.
    scores = ScriptedValidation([(0.25, 30.0), (0.75, 20.0), (0.5, 10.0), (0.75, 15.0),
                                 (0.75, 15.0)])
    last = train(config, frames, None, tmp_path, val_frames=val, validate=scores,
                 log=lambda _: None, progress=False)
    best = load_checkpoint(tmp_path / 'best.pt')
    assert best['epoch'] + 1 == 4 and last['epoch'] + 1 == 5
    assert _same_weights(best['model'], scores.weights[3])
    assert _same_weights(load_checkpoint(tmp_path / 'last.pt')['model'], scores.weights[4])
    assert not _same_weights(best['model'], scores.weights[4])
    assert [h['best_epoch'] for h in last['history']] == [1, 2, 2, 4, 4]
    assert [h['epoch'] for h in best['history']] == [1, 2, 3, 4]
    assert 'optimizer' not in best and best['validation']['source'] == 'val split'
    assert len(training_stages(best)) == 1 and training_stages(best)[0]['epochs'] == 4
    with open(tmp_path / 'history.csv', newline='', encoding='utf-8') as stream:
        rows = list(csv.DictReader(stream))
    assert tuple(rows[0].keys()) == HISTORY_COLUMNS and len(rows) == 5
    assert [float(r['val_accuracy']) for r in rows] == [0.25, 0.75, 0.5, 0.75, 0.75]
    assert [float(r['train_loss']) for r in rows] == [h['train_loss'] for h in last['history']]
    png = cv2.imread(str(tmp_path / 'curves.png'))
    assert png is not None and png.shape[0] > 200 and png.shape[1] > 600


@pytest.mark.timeout(180)
def test_early_stopping_and_resume_keep_best_and_patience_and_test_once(
        tmp_path, monkeypatch):
    import acnn_ros.model.train as train_module

    frames, val = _small(_frames(8, seed=6)), _small(_frames(4, seed=7))
    test = _small(_frames(4, seed=8))
    tested = []

    def counting_evaluate(model, evaluated, *args, **kwargs):
        tested.append(evaluated is test)
        return evaluate(model, evaluated, *args, **kwargs)

    monkeypatch.setattr(train_module, 'evaluate', counting_evaluate)
    config = TrainConfig(epochs=6, batch_size=8, augment=False, labeled_fraction=1.0,
                         patience=2, overrides=SMALL)
    script = [(0.5, 9.0), (0.75, 9.0), (0.5, 9.0), (0.5, 9.0), (0.9, 1.0), (0.9, 1.0)]
    logs = []
    whole = train(config, frames, test, tmp_path / 'whole', val_frames=val,
                  validate=ScriptedValidation(script), log=logs.append, progress=False)
    assert [h['epoch'] for h in whole['history']] == [1, 2, 3, 4]   # 2 epochs after the best
    assert whole['finished'] and any('early stop after epoch 4' in line for line in logs)
    assert tested == [True]                                         # test split, once, at the end
    result = json.loads((tmp_path / 'whole' / 'test_metrics.json').read_text())
    assert (result['checkpoint'], result['epoch'], result['num_images']) == ('best.pt', 2, 4)
    assert result['accuracy'] == whole['test_metrics']['accuracy']
    again = train(config, frames, test, tmp_path / 'whole', resume=True, val_frames=val,
                  validate=ScriptedValidation([]), log=lambda _: None, progress=False)
    assert len(again['history']) == 4 and tested == [True]          # nothing trained or tested

    # The same run paused after epoch 3 (best 2, one epoch without improvement) and resumed.
    first = train(config, frames, test, tmp_path / 'paused', val_frames=val, stop_after=3,
                  validate=ScriptedValidation(script[:3]), log=lambda _: None, progress=False)
    assert first['best'] == {'patience': 2, 'best_epoch': 2, 'epochs_since_best': 1,
                             'best_metrics': {'accuracy': 0.75,
                                              'roi_center_error_px_mean': 9.0}}
    assert not first['finished'] and 'test_metrics' not in first and tested == [True]
    assert not (tmp_path / 'paused' / 'test_metrics.json').exists()
    resumed = train(config, frames, test, tmp_path / 'paused', resume=True, val_frames=val,
                    validate=ScriptedValidation(script[3:]), log=lambda _: None,
                    progress=False)
    assert [h['epoch'] for h in resumed['history']] == [1, 2, 3, 4] and resumed['finished']
    assert tested == [True, True]
    for a, b in zip(resumed['history'], whole['history']):
        assert a['best_epoch'] == b['best_epoch'] and a['val_accuracy'] == b['val_accuracy']
        assert a['train_loss'] == pytest.approx(b['train_loss'], rel=1e-4)
    assert resumed['best'] == whole['best']
    paused_best = load_checkpoint(tmp_path / 'paused' / 'best.pt')['model']
    whole_best = load_checkpoint(tmp_path / 'whole' / 'best.pt')['model']
    assert all(torch.allclose(paused_best[k].float(), whole_best[k].float(), atol=1e-6)
               for k in whole_best)

    # A run stopped early goes on when resumed with another patience: the patience decides
    # when to stop, not what the epochs so far learned (a refused resume would throw them away).
    more = train(replace(config, patience=0), frames, test, tmp_path / 'whole', resume=True,
                 val_frames=val, validate=ScriptedValidation(script[4:]), log=lambda _: None,
                 progress=False)
    assert [h['epoch'] for h in more['history']] == [1, 2, 3, 4, 5, 6]
    assert more['best']['best_epoch'] == 5 and more['finished']
    with pytest.raises(ValueError, match='different configuration'):    # anything else: refused
        train(replace(config, lr=config.lr * 2), frames, test, tmp_path / 'whole', resume=True,
              val_frames=val, log=lambda _: None, progress=False)


def test_early_stopping_needs_a_validation_split(tmp_path):
    frames = _small(_frames(4, seed=9))
    with pytest.raises(ValueError, match='needs a validation split'):
        train(TrainConfig(epochs=2, patience=1, val_fraction=0.0, overrides=SMALL), frames,
              None, tmp_path, log=lambda _: None, progress=False)


@pytest.mark.timeout(120)
def test_a_new_run_without_validation_tests_last_pt_not_an_old_best_pt(tmp_path):
    frames, test = _small(_frames(4, seed=10)), _small(_frames(4, seed=11))
    (tmp_path / 'best.pt').write_bytes(b'from an earlier run in this folder')
    (tmp_path / 'test_metrics.json').write_text('{}')
    state = train(TrainConfig(epochs=1, batch_size=4, val_fraction=0.0, overrides=SMALL),
                  frames, test, tmp_path, log=lambda _: None, progress=False)
    assert not (tmp_path / 'best.pt').exists()
    result = json.loads((tmp_path / 'test_metrics.json').read_text())
    assert (result['checkpoint'], result['epoch']) == ('last.pt', 1)
    assert state['test_metrics']['num_images'] == 4
