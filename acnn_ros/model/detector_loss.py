# SPDX-License-Identifier: Apache-2.0
"""
Loss of the YOLOv8-style detector (`detector.Detector.training_loss`).

Assignment (no task-aligned assigner; one object per frame makes it unnecessary): a cell is
positive when its centre lies inside the ground-truth box, on any level; the cell nearest to
the box centre on the finest level (stride 8, whose cells fit the ~32x20 px code) is always
positive, so even a box smaller than a stride has one.

- classification: binary cross-entropy over classes on every cell of every boxed frame
  (positives: one-hot of the frame's class; all other cells: background, all zeros), summed
  and divided by the number of positives (the YOLOv8 normalisation);
- box: 1 - GIoU of each positive cell's box with the ground truth, averaged over positives,
  times the training loop's `loc_weight`;
- frames WITHOUT a box (the 5 % regime): no dense term at all - not background, because the
  code is in every frame, so "no box" means "not annotated", not "nothing here"; teaching
  background there would teach the head to suppress the very object it must find. What such a
  frame does carry is its class: cross-entropy of the best detection's class logits against
  it (weight `unboxed_class_weight`, 0 = ignore the frame), the same image-level supervision
  the A-CNN gets on those frames. Its gradient reaches only the selected cell.
"""
from typing import Dict, Tuple

import torch
import torch.nn.functional as F


def box_to_xyxy(boxes: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Return [N, 4] xyxy pixels from [N, 4] (cx, cy, w, h) normalised."""
    cx, cy, w, h = boxes.unbind(dim=1)
    return torch.stack([(cx - w / 2) * width, (cy - h / 2) * height,
                        (cx + w / 2) * width, (cy + h / 2) * height], dim=1)


def generalized_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Return the GIoU of matching rows of two [..., 4] xyxy box tensors."""
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(0)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter + eps
    cw = torch.maximum(a[..., 2], b[..., 2]) - torch.minimum(a[..., 0], b[..., 0])
    ch = torch.maximum(a[..., 3], b[..., 3]) - torch.minimum(a[..., 1], b[..., 1])
    hull = cw * ch + eps
    return inter / union - (hull - union) / hull


def assign_positives(gt: torch.Tensor, centres: torch.Tensor,
                     strides: torch.Tensor) -> torch.Tensor:
    """
    Return the [N, A] positive mask for ground-truth boxes gt [N, 4] xyxy px.

    Positive: the cell centre is inside the box (any level), or the cell is the finest level's
    nearest to the box centre.
    """
    x, y = centres[:, 0].view(1, -1), centres[:, 1].view(1, -1)
    inside = ((x > gt[:, 0:1]) & (x < gt[:, 2:3]) & (y > gt[:, 1:2]) & (y < gt[:, 3:4]))
    gx = (gt[:, 0:1] + gt[:, 2:3]) / 2
    gy = (gt[:, 1:2] + gt[:, 3:4]) / 2
    distance = (x - gx) ** 2 + (y - gy) ** 2
    finest = (strides == strides.min()).view(1, -1)
    distance = torch.where(finest, distance, torch.full_like(distance, float('inf')))
    nearest = F.one_hot(distance.argmin(dim=1), centres.shape[0]).bool()
    return inside | nearest


def detection_loss(output, labels: torch.Tensor, boxes: torch.Tensor, has_box: torch.Tensor,
                   loc_weight: float = 1.0, unboxed_class_weight: float = 1.0
                   ) -> Tuple[torch.Tensor, Dict[str, float]]:
    """Return (total loss, {'cls': ..., 'loc': ...}) for a `DetectorOutput` batch."""
    n = labels.shape[0]
    zero = output.dense_logits.sum() * 0.0           # keeps the graph when a term is empty
    cls_loss, box_loss, unboxed_loss = zero, zero, zero
    if bool(has_box.any()):
        logits = output.dense_logits[has_box]          # [M, A, C]
        predicted = output.dense_boxes[has_box]        # [M, A, 4]
        height, width = output.frame_size      # boxes, centres and strides are in input px
        gt = box_to_xyxy(boxes[has_box], width, height)
        positive = assign_positives(gt, output.centres, output.strides)     # [M, A]
        target = torch.zeros_like(logits)
        one_hot = F.one_hot(labels[has_box], logits.shape[2]).to(logits.dtype)   # [M, C]
        target = torch.where(positive.unsqueeze(2), one_hot.unsqueeze(1), target)
        num_positive = positive.sum().clamp(min=1).to(logits.dtype)
        cls_loss = F.binary_cross_entropy_with_logits(logits, target,
                                                      reduction='sum') / num_positive
        matched = gt.unsqueeze(1).expand_as(predicted)[positive]
        box_loss = (1.0 - generalized_iou(predicted[positive], matched)).mean()
    unboxed = ~has_box
    if unboxed_class_weight > 0 and bool(unboxed.any()):
        unboxed_loss = F.cross_entropy(output.logits[unboxed], labels[unboxed],
                                       reduction='sum') / n
    total = cls_loss + loc_weight * box_loss + unboxed_class_weight * unboxed_loss
    cls_part = cls_loss + unboxed_class_weight * unboxed_loss
    return total, {'cls': float(cls_part.detach()), 'loc': float(box_loss.detach())}
