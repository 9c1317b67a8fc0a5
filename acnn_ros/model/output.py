# SPDX-License-Identifier: Apache-2.0
"""
ModelOutput: what every model of this package returns from its forward.

The A-CNN variants and the plain baselines return it as is; the detectors return
`detector.DetectorOutput`, whose first three fields are these (same names, same shapes) and
whose further fields are the dense outputs their loss trains on. The ONNX export
(`export.ContractWrapper`) reads `logits` and `roi` only.
"""
from typing import NamedTuple

import torch


class ModelOutput(NamedTuple):
    """What every model of this package returns."""

    logits: torch.Tensor        # [N, C]
    roi: torch.Tensor           # [N, 4] (cx, cy, w, h) normalised to the input frame
    heatmap: torch.Tensor       # [N, h, w] localization scores (logits); [N, 0, 0] for others
