# SPDX-License-Identifier: Apache-2.0
"""
Plain-CNN baselines of the benchmark: no attention, the whole frame is classified.

- ``plain_small``: the frame average-pooled by 4 (160x120), FLOPs close to A-CNN 'opt'.
- ``plain_full``: the full 640x480 frame, strided early (about 4x the FLOPs of 'opt').
Both return the whole frame as their "ROI" so they obey the same ONNX contract.
"""
from dataclasses import asdict, dataclass, replace
from typing import Any, Dict, Tuple

from acnn_ros.model.blocks import classifier_trunk, ConvBNReLU, Normalize, standardize
from acnn_ros.model.config import INPUT_MEAN, INPUT_STD
from acnn_ros.model.output import ModelOutput
from acnn_ros.model.registry import register_model
import torch
from torch import nn


@dataclass(frozen=True)
class PlainCNNConfig:
    """Hyperparameters of a whole-frame CNN."""

    num_classes: int = 4
    input_width: int = 640
    input_height: int = 480
    downscale: int = 4                           # average-pool factor applied to the frame
    stem_channels: int = 24
    channels: Tuple[int, ...] = (32, 64, 128, 192)
    attention_maps: bool = False
    standardize: bool = True          # same per-image contrast normalisation as the A-CNN ROI
    dropout: float = 0.2

    def to_dict(self) -> Dict[str, Any]:
        """Return a JSON-friendly dict."""
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


BASELINES: Dict[str, PlainCNNConfig] = {
    'plain_small': PlainCNNConfig(downscale=4, stem_channels=32, channels=(48, 96, 128, 160)),
    'plain_full': PlainCNNConfig(downscale=1, stem_channels=8, channels=(16, 48, 96, 160)),
}


class PlainCNN(nn.Module):
    """Stem (stride 2), VGG-like trunk, global average pooling, linear classifier."""

    def __init__(self, config: PlainCNNConfig):
        super().__init__()
        self.config = config
        self.normalize = Normalize(INPUT_MEAN, INPUT_STD)
        self.view = nn.AvgPool2d(config.downscale) if config.downscale > 1 else nn.Identity()
        self.stem = ConvBNReLU(3, config.stem_channels, stride=2)
        # The trunk's first stage is strided too: the stem alone does not shrink enough.
        self.trunk = nn.Sequential(nn.MaxPool2d(2), classifier_trunk(
            config.stem_channels, config.channels, config.attention_maps))
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(config.channels[-1], config.num_classes)

    def forward(self, image: torch.Tensor) -> ModelOutput:
        """Classify RGB frames in [0, 1]; the ROI is the whole frame."""
        x = self.normalize(self.view(image))      # pooling is linear: normalise the small view
        if self.config.standardize:
            x = standardize(x)
        x = self.stem(x)
        logits = self.fc(self.dropout(torch.mean(self.trunk(x), dim=(2, 3))))
        roi = logits.new_tensor([0.5, 0.5, 1.0, 1.0]).expand(logits.shape[0], 4)
        return ModelOutput(logits, roi, logits.new_zeros((logits.shape[0], 0, 0)))


def build_baseline(name: str, num_classes: int, **overrides: Any) -> PlainCNN:
    """Return a named plain-CNN baseline."""
    if name not in BASELINES:
        raise ValueError(f'unknown baseline {name!r}; known: {sorted(BASELINES)}')
    return PlainCNN(replace(BASELINES[name], num_classes=num_classes, **overrides))


@register_model('plain_small')
def plain_small(num_classes: int, **overrides: Any) -> PlainCNN:
    """Return the plain CNN on the frame pooled by 4 (FLOPs close to A-CNN 'opt')."""
    return build_baseline('plain_small', num_classes, **overrides)


@register_model('plain_full')
def plain_full(num_classes: int, **overrides: Any) -> PlainCNN:
    """Return the plain CNN on the full frame, strided early (about 4x the FLOPs of 'opt')."""
    return build_baseline('plain_full', num_classes, **overrides)
