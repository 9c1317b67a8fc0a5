# SPDX-License-Identifier: Apache-2.0
"""
Configuration of the A-CNN variants (dataclass per model, factory defaults per variant).

Names follow the seed paper: *base*, *best* and *opt* trade localization resolution and width
for FLOPs at a 640x480 input (measured: see docs/MODEL.md; ~0.6-0.7 M parameters each).
"""
from dataclasses import asdict, dataclass, replace
from typing import Any, Dict, Tuple

# Input normalisation applied INSIDE the network (the ONNX input is RGB in [0, 1]).
INPUT_MEAN = (0.5, 0.5, 0.5)
INPUT_STD = (0.25, 0.25, 0.25)


@dataclass(frozen=True)
class ACNNConfig:
    """Hyperparameters of one A-CNN."""

    num_classes: int = 4
    input_width: int = 640
    input_height: int = 480
    # Localization network: sees the frame average-pooled by loc_downscale, predicts a heatmap
    # whose soft-argmax is the ROI centre.
    loc_downscale: int = 4
    loc_channels: Tuple[int, ...] = (16, 32, 48)
    loc_context_dilation: int = 2
    # ROI sampled from the full-resolution frame (pixels of the input frame), resized for the
    # classifier (roi_output_*). Both are hyperparameters of the paper.
    roi_width: int = 64
    roi_height: int = 48
    roi_output_width: int = 64
    roi_output_height: int = 48
    # Classification network on the resized ROI.
    cls_channels: Tuple[int, ...] = (24, 48, 96, 160)
    roi_standardize: bool = True       # zero-mean unit-variance ROI before the classifier
    attention_maps: bool = False       # seed 002: channel + spatial attention blocks
    dropout: float = 0.2

    def to_dict(self) -> Dict[str, Any]:
        """Return a JSON-friendly dict (tuples become lists)."""
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'ACNNConfig':
        """Build from `to_dict` output."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


VARIANTS: Dict[str, ACNNConfig] = {
    # Localization at half resolution: most FLOPs, finest ROI centre.
    'base': ACNNConfig(loc_downscale=2, loc_channels=(32, 64, 80)),
    # Quarter-resolution localization; the ROI is upsampled so the classifier sees the code
    # at 1.25x.
    'best': ACNNConfig(loc_downscale=4, loc_channels=(32, 64, 80), roi_output_width=80,
                       roi_output_height=60),
    # Quarter resolution, narrow localization, ROI resized down to 48x36 (fewest FLOPs). The
    # shipped model (resource/models/acnn_demo.md) is this variant trained with
    # `--roi-output 64x48`: the ROI is not resized at all.
    'opt': ACNNConfig(loc_downscale=4, loc_channels=(16, 32, 48), roi_output_width=48,
                      roi_output_height=36),
}


def variant_config(variant: str, num_classes: int, **overrides: Any) -> ACNNConfig:
    """Return the config of a named variant with the class count and any overrides."""
    if variant not in VARIANTS:
        raise ValueError(f'unknown A-CNN variant {variant!r}; known: {sorted(VARIANTS)}')
    return replace(VARIANTS[variant], num_classes=num_classes, **overrides)
