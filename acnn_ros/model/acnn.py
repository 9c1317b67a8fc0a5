# SPDX-License-Identifier: Apache-2.0
"""
The A-CNN: a spatial-transformer attention module in front of a small classifier.

    frame (full resolution) --avg-pool--> cheap view --normalise--> localization net --> heatmap
    heatmap --soft-argmax--> ROI centre (cx, cy)            (identity transform at init)
    frame --grid_sample around (cx, cy), ROI size fixed--> resized ROI --normalise-->
    resized ROI --standardise (zero mean, unit variance)--> classifier --> logits

The localization network scores every cell of a coarse grid; the soft-argmax (expected cell
position under the softmax of the scores) is the ROI centre, so the whole model is
differentiable end to end and the classification loss alone can move the ROI. A zero-initialised
score head gives a uniform softmax, i.e. the centre of the frame: the STN starts at the identity
translation. The ROI is sampled with the affine-grid convention of `acnn_ros.core.roi`
(align_corners=False, tx = 2 * cx - 1) from the full-resolution frame.

The input normalisation is applied after the pooling and after the sampling, to 1/16 of the
frame and to the ROI: both are linear, so the function is that of normalising the frame first
(`test_model_acnn` checks it, zero padding at the frame's edge included), at a third less
compute per training step (docs/BENCHMARKS.md, "Training speed").
"""
from typing import Any

from acnn_ros.model.blocks import classifier_trunk, ConvBNReLU, Normalize, standardize
from acnn_ros.model.config import ACNNConfig, INPUT_MEAN, INPUT_STD, variant_config
from acnn_ros.model.output import ModelOutput
from acnn_ros.model.registry import create_model, register_model
import torch
from torch import nn
import torch.nn.functional as F


def roi_sampling_grid(centre: torch.Tensor, roi_width: int, roi_height: int,
                      input_width: int, input_height: int, output_width: int,
                      output_height: int) -> torch.Tensor:
    """
    Return the grid_sample grid [N, out_h, out_w, 2] of an axis-aligned ROI.

    Identical to ``F.affine_grid(theta, align_corners=False)`` with
    theta = [[roi_w / W, 0, 2 cx - 1], [0, roi_h / H, 2 cy - 1]] (a test checks it), but built
    from plain arithmetic so it exports to ONNX opset 17 (AffineGrid needs opset 20).
    """
    dtype, device = centre.dtype, centre.device
    base_x = (torch.arange(output_width, dtype=dtype, device=device) * 2 + 1) / output_width - 1
    base_y = (torch.arange(output_height, dtype=dtype, device=device) * 2 + 1) / output_height - 1
    tx = (2 * centre[:, 0] - 1).view(-1, 1, 1)
    ty = (2 * centre[:, 1] - 1).view(-1, 1, 1)
    grid_x = base_x.view(1, 1, -1) * (roi_width / input_width) + tx
    grid_y = base_y.view(1, -1, 1) * (roi_height / input_height) + ty
    grid_x = grid_x.expand(-1, output_height, output_width)
    grid_y = grid_y.expand(-1, output_height, output_width)
    return torch.stack([grid_x, grid_y], dim=-1)


def sample_grid(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Return grid_sample of `image` with the conventions `inside_weight` assumes."""
    return F.grid_sample(image, grid, mode='bilinear', padding_mode='zeros', align_corners=False)


def inside_weight(grid: torch.Tensor, input_width: int, input_height: int) -> torch.Tensor:
    """
    Return [N, 1, h, w]: the share of each bilinear sample's weight that lies inside the frame.

    For grid_sample(align_corners=False, padding_mode='zeros'): a sample whose four taps are
    all inside has 1, one half outside the frame's edge 0.5, one beyond it 0.
    """
    def along(coords: torch.Tensor, size: int) -> torch.Tensor:
        pixel = ((coords + 1) * size - 1) / 2
        low = torch.floor(pixel)
        high_weight = pixel - low
        low_inside = ((low >= 0) & (low <= size - 1)).to(coords.dtype)
        high_inside = ((low >= -1) & (low <= size - 2)).to(coords.dtype)
        return (1 - high_weight) * low_inside + high_weight * high_inside

    return (along(grid[..., 0], input_width) * along(grid[..., 1], input_height)).unsqueeze(1)


class LocalizationNet(nn.Module):
    """Score a coarse grid over the downscaled frame; the soft-argmax is the ROI centre."""

    def __init__(self, config: ACNNConfig):
        super().__init__()
        c0, c1, c2 = config.loc_channels
        self.view = nn.AvgPool2d(config.loc_downscale) if config.loc_downscale > 1 else None
        self.features = nn.Sequential(
            ConvBNReLU(3, c0, stride=2),
            ConvBNReLU(c0, c1, stride=2),
            ConvBNReLU(c1, c2),
            ConvBNReLU(c2, c2, dilation=config.loc_context_dilation),
            ConvBNReLU(c2, c2, dilation=2 * config.loc_context_dilation))
        self.score = nn.Conv2d(c2, 1, 1)
        # Identity transform at start: all scores equal -> the ROI is the frame centre.
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)

    def forward(self, x: torch.Tensor, normalize: nn.Module):
        """Return (centre [N, 2] normalised, heatmap logits [N, h, w]) of frames x."""
        if self.view is not None:
            x = self.view(x)
        x = normalize(x)     # after the pooling: the same view, 1/loc_downscale^2 of the work
        scores = self.score(self.features(x))[:, 0]
        n, h, w = scores.shape
        weights = torch.softmax(scores.reshape(n, h * w), dim=1).reshape(n, h, w)
        xs = (torch.arange(w, dtype=x.dtype, device=x.device) + 0.5) / w
        ys = (torch.arange(h, dtype=x.dtype, device=x.device) + 0.5) / h
        cx = torch.sum(weights.sum(dim=1) * xs, dim=1)
        cy = torch.sum(weights.sum(dim=2) * ys, dim=1)
        return torch.stack([cx, cy], dim=1), scores


class ClassificationNet(nn.Module):
    """VGG-like classifier of the resized ROI (optionally with attention-map blocks)."""

    def __init__(self, config: ACNNConfig):
        super().__init__()
        self.trunk = classifier_trunk(3, config.cls_channels, config.attention_maps)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(config.cls_channels[-1], config.num_classes)

    def forward(self, roi: torch.Tensor) -> torch.Tensor:
        """Return class logits [N, C]."""
        features = torch.mean(self.trunk(roi), dim=(2, 3))
        return self.fc(self.dropout(features))


class ACNN(nn.Module):
    """Attention-based CNN: localize, crop at full resolution, classify."""

    def __init__(self, config: ACNNConfig):
        super().__init__()
        self.config = config
        self.normalize = Normalize(INPUT_MEAN, INPUT_STD)
        self.localization = LocalizationNet(config)
        self.classification = ClassificationNet(config)

    def roi_grid(self, image: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
        """Return the sampling grid of the ROI around each centre."""
        c = self.config
        return roi_sampling_grid(centre, c.roi_width, c.roi_height, image.shape[3],
                                 image.shape[2], c.roi_output_width, c.roi_output_height)

    def sample_roi(self, image: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
        """Return the resized ROI [N, 3, out_h, out_w] of `image` around each centre."""
        return sample_grid(image, self.roi_grid(image, centre))

    def normalized_roi(self, image: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
        """Return the ROI of the normalised frame, sampled from the raw frame `image`."""
        grid = self.roi_grid(image, centre)
        inside = inside_weight(grid, image.shape[3], image.shape[2])
        return self.normalize.zero_padded_sample(sample_grid(image, grid), inside)

    def roi_boxes(self, centre: torch.Tensor, width: int, height: int) -> torch.Tensor:
        """Return [N, 4] (cx, cy, w, h) normalised to a width x height frame."""
        size = centre.new_tensor([self.config.roi_width / width, self.config.roi_height / height])
        return torch.cat([centre, size.expand(centre.shape[0], 2)], dim=1)

    def forward(self, image: torch.Tensor) -> ModelOutput:
        """Classify RGB frames in [0, 1], [N, 3, H, W]; return logits, ROI and heatmap."""
        centre, heatmap = self.localization(image, self.normalize)
        roi = self.normalized_roi(image, centre)
        if self.config.roi_standardize:
            roi = standardize(roi)
        logits = self.classification(roi)
        return ModelOutput(logits, self.roi_boxes(centre, image.shape[3], image.shape[2]),
                           heatmap)


@register_model('base')
def acnn_base(num_classes: int, **overrides: Any) -> ACNN:
    """Return the A-CNN 'base': localization at half resolution (most FLOPs)."""
    return ACNN(variant_config('base', num_classes, **overrides))


@register_model('best')
def acnn_best(num_classes: int, **overrides: Any) -> ACNN:
    """Return the A-CNN 'best': quarter-resolution localization, ROI upsampled 1.25x."""
    return ACNN(variant_config('best', num_classes, **overrides))


@register_model('opt')
def acnn_opt(num_classes: int, **overrides: Any) -> ACNN:
    """Return the A-CNN 'opt': quarter resolution, narrow localization (fewest FLOPs)."""
    return ACNN(variant_config('opt', num_classes, **overrides))


def build_model(variant: str, num_classes: int, **overrides: Any) -> nn.Module:
    """
    Return a registered model by name: `registry.create_model` under the name callers use.

    A-CNN 'base' / 'best' / 'opt', baselines 'plain_*', detectors 'det_*' (`list_models()`).
    Overrides replace config fields, e.g. ``attention_maps=True`` (seed 002 ablation) or
    ``roi_width=80``.
    """
    return create_model(variant, num_classes, **overrides)
