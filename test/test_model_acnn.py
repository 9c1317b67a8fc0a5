# SPDX-License-Identifier: Apache-2.0
"""A-CNN shapes, identity start, ROI geometry and variant sizes."""
from acnn_ros.model.acnn import ACNN, build_model, inside_weight, roi_sampling_grid
from acnn_ros.model.blocks import AttentionMap
from acnn_ros.model.config import variant_config
from acnn_ros.model.flops import count_flops, count_parameters
import pytest
import torch
import torch.nn.functional as F


@pytest.mark.parametrize('variant', ['base', 'best', 'opt', 'plain_small', 'plain_full'])
def test_output_shapes_and_ranges(variant):
    model = build_model(variant, 5).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 480, 640))
    assert out.logits.shape == (2, 5)
    assert out.roi.shape == (2, 4)
    assert torch.all((out.roi >= 0) & (out.roi <= 1))


def test_stn_starts_at_the_identity_transform_centre_of_frame():
    model = build_model('opt', 4).eval()
    with torch.no_grad():
        out = model(torch.rand(3, 3, 480, 640))
    expected = torch.tensor([0.5, 0.5, 64 / 640, 48 / 480])
    assert torch.allclose(out.roi, expected.expand(3, 4), atol=1e-6)


def test_sampling_grid_equals_affine_grid():
    centre = torch.tensor([[0.2, 0.7], [0.9, 0.1]])
    grid = roi_sampling_grid(centre, 64, 48, 640, 480, 40, 30)
    theta = torch.zeros(2, 2, 3)
    theta[:, 0, 0] = 64 / 640
    theta[:, 1, 1] = 48 / 480
    theta[:, 0, 2] = 2 * centre[:, 0] - 1
    theta[:, 1, 2] = 2 * centre[:, 1] - 1
    reference = F.affine_grid(theta, (2, 3, 30, 40), align_corners=False)
    assert torch.allclose(grid, reference, atol=1e-6)


def test_known_object_at_known_place_gives_the_right_crop():
    # A 20x10 white bar at x 300..320, y 100..110 in a random frame; ROI 64x48 at 1:1 scale
    # centred on pixel-grid-aligned (310, 105) must equal the plain array slice.
    model = ACNN(variant_config('opt', 4, roi_output_width=64, roi_output_height=48))
    frame = torch.rand(1, 3, 480, 640)
    frame[:, :, 100:110, 300:320] = 1.0
    centre = torch.tensor([[310 / 640, 105 / 480]])
    crop = model.sample_roi(frame, centre)
    expected = frame[:, :, 105 - 24:105 + 24, 310 - 32:310 + 32]
    assert crop.shape == (1, 3, 48, 64)
    assert torch.allclose(crop, expected, atol=1e-5)
    assert torch.all(crop[:, :, 19:29, 22:42] == 1.0)           # the bar sits in the middle


def test_normalising_the_sample_equals_sampling_the_normalised_frame_edges_included():
    # ROIs across every edge and corner (half or more of the ROI outside the frame), at 1:1 and
    # at a non-integer scale: the zero padding of the normalised frame is where they differ.
    model = ACNN(variant_config('opt', 4, roi_width=90, roi_height=70, roi_output_width=48,
                                roi_output_height=36))
    frame = torch.rand(9, 3, 120, 160)
    centre = torch.tensor([[x, y] for x in (0.0, 0.5, 0.99) for y in (0.01, 0.5, 1.0)])
    grid = model.roi_grid(frame, centre)
    reference = F.grid_sample(model.normalize(frame), grid, align_corners=False)
    sampled = model.normalized_roi(frame, centre)
    assert torch.allclose(sampled, reference, atol=1e-5)
    inside = inside_weight(grid, 160, 120)
    assert inside.min() == 0.0 and inside.max() == 1.0      # some samples wholly outside


def test_the_model_is_the_function_of_normalising_the_whole_frame_first():
    torch.manual_seed(0)
    model = build_model('opt', 4).eval()
    torch.nn.init.normal_(model.localization.score.weight, std=30.0)   # ROI off-centre
    frame = torch.rand(4, 3, 480, 640)
    with torch.no_grad():
        out = model(frame)
        x = model.normalize(frame)
        centre, heatmap = model.localization(x, torch.nn.Identity())
        roi = F.grid_sample(x, model.roi_grid(frame, centre), align_corners=False)
        from acnn_ros.model.blocks import standardize
        logits = model.classification(standardize(roi))
    assert (centre - 0.5).abs().max() > 0.01
    assert torch.allclose(out.roi[:, :2], centre, atol=1e-6)
    assert torch.allclose(out.heatmap, heatmap, atol=1e-4)
    assert torch.allclose(out.logits, logits, atol=1e-4)


def test_variants_have_paper_sized_params_and_ordered_flops():
    flops = {}
    for variant in ('base', 'best', 'opt'):
        model = build_model(variant, 4)
        assert 0.5e6 < count_parameters(model) < 0.8e6
        flops[variant] = count_flops(model)
    assert flops['base'] > flops['best'] > flops['opt']
    assert 1.5e9 < flops['base'] < 2.6e9 and 0.2e9 < flops['opt'] < 0.5e9


def test_attention_map_switch_adds_channel_and_spatial_attention():
    plain = build_model('opt', 4)
    attention = build_model('opt', 4, attention_maps=True)
    assert not any(isinstance(m, AttentionMap) for m in plain.modules())
    assert sum(isinstance(m, AttentionMap) for m in attention.modules()) == 4
    with torch.no_grad():
        assert attention.eval()(torch.rand(1, 3, 480, 640)).logits.shape == (1, 4)


def test_standardize_gives_zero_mean_unit_variance_per_image():
    from acnn_ros.model.blocks import standardize
    x = torch.rand(3, 3, 36, 48) * torch.tensor([0.5, 1.0, 5.0]).view(3, 1, 1, 1) + 2.0
    y = standardize(x)
    assert torch.allclose(y.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(y.var(dim=(1, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)
