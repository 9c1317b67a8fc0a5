# SPDX-License-Identifier: Apache-2.0
"""
ASSN (seed 001): an attention-based scale sequence feature fused into the P3 branch.

ssFPN treats the pyramid levels as a sequence along a scale axis: P3, P4 and P5 are brought to
one channel width (1x1 conv), resized to P3's resolution, stacked as a depth axis
[N, C, 3, H, W] and mixed by a 3-D convolution, then pooled over the scale axis. The result
carries, at P3's resolution, what the coarse levels saw of each location (context) next to the
fine detail of P3, which is what small objects lack.

ASSN adds attention to the fusion: channel attention re-weights P3, a spatial attention map is
computed from the re-weighted P3, and the same map gates both P3 and the scale-sequence
feature before they are concatenated and projected back to P3's width (with a shortcut, so a
zero-initialised projection starts as plain P3). Written for this package from the papers'
descriptions (public ASSN / ssFPN repositories read for the structure, no code taken).
"""
from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F


class ScaleSequence(nn.Module):
    """P3..P5 -> one feature at P3's resolution via a 3-D convolution over the scale axis."""

    def __init__(self, in_channels: Sequence[int], channels: int):
        super().__init__()
        self.align = nn.ModuleList(nn.Conv2d(c, channels, 1, bias=False) for c in in_channels)
        depth = len(in_channels)
        # Kernel 3 along the scale axis (neighbouring levels mixed), 1x1 in space.
        self.conv3d = nn.Conv3d(channels, channels, (3, 1, 1), padding=(1, 0, 0), bias=False)
        self.bn = nn.BatchNorm3d(channels)
        self.act = nn.LeakyReLU(0.1, inplace=True)
        self.pool = nn.MaxPool3d((depth, 1, 1))

    def forward(self, levels: Sequence[torch.Tensor]) -> torch.Tensor:
        """Return [N, channels, H3, W3] from the list of levels, finest first."""
        size = levels[0].shape[-2:]
        stack = []
        for conv, level in zip(self.align, levels):
            x = conv(level)
            if x.shape[-2:] != size:
                x = F.interpolate(x, size=size, mode='nearest')
            stack.append(x.unsqueeze(2))
        sequence = torch.cat(stack, dim=2)                   # [N, C, depth, H, W]
        return self.pool(self.act(self.bn(self.conv3d(sequence)))).squeeze(2)


class ChannelGate(nn.Module):
    """Channel attention from average- and max-pooled statistics (shared MLP)."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.SiLU(),
                                 nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return x re-weighted per channel."""
        avg = torch.mean(x, dim=(2, 3), keepdim=True)
        peak = torch.amax(x, dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.mlp(avg) + self.mlp(peak))


class SpatialGate(nn.Module):
    """A spatial attention map in (0, 1) from channel-pooled maps (7x7 conv + BN)."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the map [N, 1, H, W] (not applied)."""
        pooled = torch.cat([torch.mean(x, dim=1, keepdim=True),
                            torch.amax(x, dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.bn(self.conv(pooled)))


class ASSN(nn.Module):
    """Fuse the scale sequence into P3 under channel + spatial attention; return new P3."""

    def __init__(self, in_channels: Sequence[int], channels: int):
        super().__init__()
        p3 = in_channels[0]
        self.sequence = ScaleSequence(in_channels, channels)
        self.channel = ChannelGate(p3)
        self.spatial = SpatialGate()
        self.project = nn.Sequential(nn.Conv2d(p3 + channels, p3, 1, bias=False),
                                     nn.BatchNorm2d(p3))
        # Shortcut start: the fused branch adds nothing until it has learnt something.
        nn.init.zeros_(self.project[1].weight)

    def forward(self, levels: Sequence[torch.Tensor]) -> torch.Tensor:
        """Return the attended P3 [N, C3, H3, W3] from (P3, P4, P5)."""
        p3 = levels[0]
        sequence = self.sequence(levels)
        attended = self.channel(p3)
        gate = self.spatial(attended)
        fused = torch.cat([attended * gate, sequence * gate], dim=1)
        return p3 + self.project(fused)
