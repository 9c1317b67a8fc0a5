# SPDX-License-Identifier: Apache-2.0
"""Transfer to a new product: weights from a shipped .onnx or a checkpoint, classes by name."""
from pathlib import Path

from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES, render_frame
from acnn_ros.model.acnn import build_model
from acnn_ros.model.dataset import FrameSet
from acnn_ros.model.train import load_checkpoint, train, TrainConfig
from acnn_ros.model.transfer import (CLASS_LAYER, freeze_localization, load_initial_weights,
                                     model_from_onnx, recalibrate_batchnorm)
import numpy as np
import pytest
import torch

DEMO = Path(__file__).resolve().parents[1] / 'resource' / 'models' / 'acnn_demo.onnx'
ROI_64x48 = {'roi_output_width': 64, 'roi_output_height': 48}


def _rgb(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([render_frame(rng, k % 4)[0][:, :, ::-1] for k in range(count)])


def _frames(count: int, seed: int, class_names) -> FrameSet:
    rng = np.random.default_rng(seed)
    images, boxes = [], []
    for k in range(count):
        bgr, box = render_frame(rng, k % 4)
        images.append(bgr[:, :, ::-1])
        boxes.append((box.center_x / 640, box.center_y / 480, box.width / 640,
                      box.height / 480))
    return FrameSet(images=np.stack(images), labels=np.arange(count) % 4,
                    boxes=np.array(boxes, np.float32), has_box=np.ones(count, bool),
                    paths=[], class_names=list(class_names))


def _probs(model, rgb):
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2).float() / 255.0
        return torch.softmax(model(x).logits, 1)


@pytest.fixture(scope='module')
def demo():
    model, card = model_from_onnx(DEMO)
    return model, card, _rgb(8, seed=3)


def test_the_rebuilt_demo_model_equals_onnx_runtime_and_recalibration_keeps_it(demo):
    import onnxruntime
    model, card, rgb = demo
    session = onnxruntime.InferenceSession(str(DEMO), providers=['CPUExecutionProvider'])
    x = (np.ascontiguousarray(rgb).transpose(0, 3, 1, 2) / 255.0).astype(np.float32)
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    reference = next(o for o in outputs if o.shape == (len(rgb), card.num_classes))
    before = _probs(model, rgb)
    assert np.abs(before.numpy() - reference).max() < 1e-4
    recalibrate_batchnorm(model, rgb)
    assert torch.allclose(_probs(model, rgb), before, atol=1e-4)
    # In training mode (batch statistics) it now starts from nearly the same function.
    model.train()
    model.classification.dropout.eval()
    assert (_probs(model, rgb).argmax(1) == before.argmax(1)).float().mean() >= 0.75
    model.eval()


def test_a_new_product_keeps_the_known_classes_rows_and_learns_the_new_ones(demo):
    source, card, rgb = demo
    names = ['p1071', 'p2001', 'p1069', 'p2002']      # two known (reordered), two new
    model = build_model('opt', 4, **ROI_64x48)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    said = []
    load_initial_weights(model, 'opt', DEMO, names, rgb, said.append)
    state, weights = model.state_dict(), source.state_dict()
    fc = CLASS_LAYER + 'weight'
    assert torch.equal(state[fc][0], weights[fc][card.class_names.index('p1071')])
    assert torch.equal(state[fc][2], weights[fc][card.class_names.index('p1069')])
    assert torch.equal(state[fc][1], fresh[fc][1]) and torch.equal(state[fc][3], fresh[fc][3])
    trunk = 'localization.features.0.0.weight'
    assert trunk in state and torch.equal(state[trunk], weights[trunk])
    assert 'class layer learned again for p2001, p2002' in said[0]


def test_a_source_of_another_geometry_is_refused_by_name(demo, tmp_path):
    model = build_model('opt', 4)                       # ROI output 48x36, the demo's is 64x48
    with pytest.raises(ValueError, match='roi_output_width 64 there, 48 here'):
        load_initial_weights(model, 'opt', DEMO, list(DEFAULT_CLASSES), demo[2], print)
    with pytest.raises(ValueError, match='no such file'):
        load_initial_weights(model, 'opt', tmp_path / 'nope.pt', list(DEFAULT_CLASSES),
                             demo[2], print)


@pytest.mark.timeout(180)
def test_training_from_the_demo_model_holds_the_localization_for_the_frozen_epochs(tmp_path):
    names = ['p1069', 'p1071', 'p3707', 'p4242']
    frames = _frames(8, seed=4, class_names=names)
    config = TrainConfig(variant='opt', overrides=ROI_64x48, epochs=2, batch_size=4,
                         augment=False, val_fraction=0.0, init_from=str(DEMO),
                         freeze_localization_epochs=1)
    said = []
    train(config, frames, None, tmp_path / 'one', log=said.append, progress=False,
          stop_after=1)
    start = build_model('opt', 4, **ROI_64x48)
    load_initial_weights(start, 'opt', DEMO, names, frames.images[:8], lambda _: None)
    after = load_checkpoint(tmp_path / 'one' / 'last.pt')['model']
    for name, value in start.state_dict().items():
        if name.startswith('localization.'):
            assert torch.equal(after[name], value), name
    assert not torch.equal(after[CLASS_LAYER + 'weight'], start.state_dict()[
        CLASS_LAYER + 'weight'])
    assert any('learned again for p4242' in line for line in said)
    # The second epoch is not frozen: the localization moves.
    state = train(config, frames, None, tmp_path / 'one', resume=True, log=lambda _: None,
                  progress=False)
    assert any(not torch.equal(state['model'][name], value)
               for name, value in start.state_dict().items()
               if name.startswith('localization.') and value.is_floating_point())


def test_freezing_a_model_without_localization_is_refused():
    model = build_model('plain_small', 4)
    freeze_localization(model, False)
    with pytest.raises(ValueError, match='needs an A-CNN variant'):
        freeze_localization(model, True)
