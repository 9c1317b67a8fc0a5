# SPDX-License-Identifier: Apache-2.0
"""Small named building blocks shared by the A-CNN and the baselines."""
import torch
from torch import nn


class ConvBNReLU(nn.Sequential):
    """3x3 (or k x k) convolution, batch norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 kernel_size: int = 3, dilation: int = 1):
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                      dilation=dilation, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True))


class ChannelAttention(nn.Module):
    """Re-weight channels from pooled statistics (squeeze-excitation with avg + max pooling)."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return x scaled by a per-channel gate in (0, 1)."""
        avg = torch.mean(x, dim=(2, 3), keepdim=True)
        peak = torch.amax(x, dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.mlp(avg) + self.mlp(peak))


class SpatialAttention(nn.Module):
    """Re-weight positions from channel-pooled maps (a 7x7 conv over mean and max)."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return x scaled by a per-position gate in (0, 1)."""
        pooled = torch.cat([torch.mean(x, dim=1, keepdim=True),
                            torch.amax(x, dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class AttentionMap(nn.Sequential):
    """Seed 002 attention-map block: channel attention, then spatial attention."""

    def __init__(self, channels: int):
        super().__init__(ChannelAttention(channels), SpatialAttention())


class Normalize(nn.Module):
    """Map RGB in [0, 1] to the network's input statistics (part of the exported graph)."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return (x - mean) / std."""
        return (x - self.mean) / self.std

    def zero_padded_sample(self, sample: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
        """
        Return what sampling the normalised frame with zero padding gives, from the raw sample.

        `sample` is grid_sample of the raw frame (zeros outside it), `inside` the share of each
        sample's bilinear weight that fell inside the frame ([N, 1, h, w]): sampling is linear,
        so sample(normalised) = (sample(raw) - mean * inside) / std, exactly, at the ROI's size
        instead of the frame's (normalising the whole frame cost a third of a training step).
        """
        return (sample - self.mean * inside) / self.std


def standardize(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """
    Return each image of the batch shifted to zero mean and scaled to unit variance.

    The printed code is dim and its contrast changes with gain, gamma and glare; scaling every
    ROI to the same contrast is what lets a small classifier read it (without it the classifier
    of the synthetic task stays at chance for many epochs).
    """
    mean = torch.mean(x, dim=(1, 2, 3), keepdim=True)
    centred = x - mean
    variance = torch.mean(centred * centred, dim=(1, 2, 3), keepdim=True)
    return centred / torch.sqrt(variance + eps)


def classifier_trunk(in_channels: int, channels, attention_maps: bool) -> nn.Sequential:
    """
    Return a VGG-like trunk: per stage a (strided after the first) conv and a second conv.

    With attention_maps an AttentionMap block follows each stage (seed 002 ablation).
    """
    layers = []
    previous = in_channels
    for index, width in enumerate(channels):
        layers.append(ConvBNReLU(previous, width, stride=1 if index == 0 else 2))
        layers.append(ConvBNReLU(width, width))
        if attention_maps:
            layers.append(AttentionMap(width))
        previous = width
    return nn.Sequential(*layers)
