# SPDX-License-Identifier: Apache-2.0
"""Multi-task loss and a tiny end-to-end training run."""
from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES, render_frame
from acnn_ros.model.acnn import build_model
from acnn_ros.model.dataset import FrameSet
from acnn_ros.model.losses import localization_loss, multitask_loss
from acnn_ros.model.train import (Augmenter, evaluate, load_checkpoint, model_from_checkpoint,
                                  train, TrainConfig, training_stages)
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


@pytest.mark.timeout(60)
def test_tiny_training_run_reduces_the_loss_and_resumes(tmp_path):
    frames = _frames(12, seed=0)
    config = TrainConfig(variant='opt', epochs=4, batch_size=4, lr=5e-3,
                         labeled_fraction=1.0, augment=False, seed=0)
    state = train(config, frames, None, tmp_path, log=lambda _: None, progress=False)
    losses = [h['train_loss'] for h in state['history']]
    assert len(losses) == 4
    assert all(a > b for a, b in zip(losses, losses[1:])) and losses[-1] < 0.9 * losses[0]
    assert (tmp_path / 'last.pt').is_file()
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


@pytest.mark.timeout(60)
def test_a_second_stage_records_the_stage_it_started_from(tmp_path):
    frames = _frames(4, seed=1)
    first = TrainConfig(variant='opt', epochs=2, batch_size=4, augment=False)
    train(first, frames, None, tmp_path / 'one', command='stage one', log=lambda _: None,
          progress=False)
    second = TrainConfig(variant='opt', epochs=1, batch_size=4, augment=False,
                         init_from=str(tmp_path / 'one' / 'last.pt'),
                         overrides={'roi_output_width': 64, 'roi_output_height': 48})
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
