# SPDX-License-Identifier: Apache-2.0
"""Parameter and FLOP counts (torch.utils.flop_counter; one multiply-add = 2 FLOPs)."""
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    """Return the number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: nn.Module, width: int = 640, height: int = 480) -> int:
    """Return the FLOPs of one forward pass at batch 1 (eval mode)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, 3, height, width))
        return int(counter.get_total_flops())
    finally:
        model.train(was_training)
