# SPDX-License-Identifier: Apache-2.0
"""
Multi-task loss: classification on every image, localization only where a box is kept.

The localization term supervises the heatmap (cross-entropy against a Gaussian around the box
centre, which gives a strong signal from few boxes) and the soft-argmax centre (L1 in
normalised units). Images without a box contribute nothing to it.
"""
from typing import Dict, Tuple

import torch
import torch.nn.functional as F


def heatmap_target(boxes: torch.Tensor, height: int, width: int,
                   sigma_cells: float = 1.0) -> torch.Tensor:
    """Return [N, h, w] probability maps: a Gaussian around each box centre."""
    xs = (torch.arange(width, dtype=boxes.dtype, device=boxes.device) + 0.5) / width
    ys = (torch.arange(height, dtype=boxes.dtype, device=boxes.device) + 0.5) / height
    dx = (xs.view(1, 1, -1) - boxes[:, 0].view(-1, 1, 1)) * width
    dy = (ys.view(1, -1, 1) - boxes[:, 1].view(-1, 1, 1)) * height
    logits = -(dx ** 2 + dy ** 2) / (2 * sigma_cells ** 2)
    return torch.softmax(logits.reshape(len(boxes), -1), dim=1).reshape(-1, height, width)


def localization_loss(heatmap: torch.Tensor, roi: torch.Tensor, boxes: torch.Tensor,
                      has_box: torch.Tensor) -> torch.Tensor:
    """Return the mean localization loss over images with a box (0 when there are none)."""
    if heatmap.numel() == 0 or not bool(has_box.any()):
        return roi.sum() * 0.0          # keeps the graph; contributes nothing
    heatmap, roi, boxes = heatmap[has_box], roi[has_box], boxes[has_box]
    n, h, w = heatmap.shape
    target = heatmap_target(boxes, h, w)
    log_probs = F.log_softmax(heatmap.reshape(n, -1), dim=1)
    heat_term = -(target.reshape(n, -1) * log_probs).sum(dim=1).mean()
    centre_term = F.l1_loss(roi[:, :2], boxes[:, :2]) * 10.0
    return heat_term + centre_term


def multitask_loss(output, labels: torch.Tensor, boxes: torch.Tensor, has_box: torch.Tensor,
                   loc_weight: float = 1.0) -> Tuple[torch.Tensor, Dict[str, float]]:
    """Return (total loss, {'cls': ..., 'loc': ...}) for a ModelOutput."""
    cls = F.cross_entropy(output.logits, labels)
    loc = localization_loss(output.heatmap, output.roi, boxes, has_box)
    total = cls + loc_weight * loc
    return total, {'cls': float(cls.detach()), 'loc': float(loc.detach())}
