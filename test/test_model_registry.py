# SPDX-License-Identifier: Apache-2.0
"""The model registry: every registered name builds, runs and keeps the output contract."""
from acnn_ros.model.acnn import build_model
from acnn_ros.model.baselines import BASELINES
from acnn_ros.model.config import VARIANTS
from acnn_ros.model.detector import DETECTORS
from acnn_ros.model.output import ModelOutput
from acnn_ros.model.registry import create_model, list_models, register_model
import pytest
import torch

BATCH, NUM_CLASSES, WIDTH, HEIGHT = 2, 3, 160, 120


def test_every_variant_defined_is_registered_under_its_name():
    assert list_models() == sorted(set(VARIANTS) | set(BASELINES) | set(DETECTORS))


@pytest.mark.parametrize('name', list_models())
def test_every_registered_model_builds_runs_and_returns_the_model_output(name):
    torch.manual_seed(0)
    model = create_model(name, NUM_CLASSES).eval()
    with torch.no_grad():
        output = model(torch.rand(BATCH, 3, HEIGHT, WIDTH))
    # A-CNNs and baselines return ModelOutput; a detector's DetectorOutput starts with its
    # fields (then its dense outputs for the loss).
    assert type(output)._fields[:len(ModelOutput._fields)] == ModelOutput._fields
    logits, roi, heatmap = ModelOutput(*output[:3])
    assert logits.shape == (BATCH, NUM_CLASSES) and torch.isfinite(logits).all()
    assert roi.shape == (BATCH, 4) and torch.isfinite(roi).all()
    assert heatmap.dim() == 3 and heatmap.shape[0] == BATCH
    if name in VARIANTS:        # A-CNN: localization scores on a coarse grid
        assert isinstance(output, ModelOutput) and heatmap.numel() > 0
        assert ((roi[:, :2] >= 0) & (roi[:, :2] <= 1)).all()
    else:                       # baselines and detectors have no heatmap
        assert heatmap.shape == (BATCH, 0, 0)
    if name in BASELINES:       # the whole frame is their ROI
        assert torch.equal(roi, torch.tensor([[0.5, 0.5, 1.0, 1.0]] * BATCH))


def test_build_model_is_create_model_with_overrides():
    torch.manual_seed(0)
    built = build_model('opt', 4, attention_maps=True)
    torch.manual_seed(0)
    created = create_model('opt', 4, attention_maps=True)
    assert built.config == created.config and built.config.attention_maps
    assert all(torch.equal(a, b) for a, b in zip(built.state_dict().values(),
                                                 created.state_dict().values()))


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError) as error:
        create_model('resnet50', 4)
    message = str(error.value)
    assert "unknown model 'resnet50'" in message
    assert all(name in message for name in list_models())


def test_a_name_taken_by_another_builder_is_refused():
    def opt(num_classes, **overrides):
        return torch.nn.Identity()
    with pytest.raises(ValueError, match="model name 'opt' is already registered"):
        register_model(opt)
    with pytest.raises(ValueError, match="'det_n' is already registered"):
        register_model('det_n')(opt)
    assert type(create_model('opt', 4)).__name__ == 'ACNN'
