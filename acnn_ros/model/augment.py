# SPDX-License-Identifier: Apache-2.0
"""
Training inputs: uint8 frames -> float RGB tensors, with photometric augmentation.

Frames are decoded once into a uint8 array (see `dataset.load_frames`); each batch is turned
into float RGB in [0, 1] on the fly and, for training, photometrically augmented (gain, gamma,
colour cast, blur, conveyor motion blur, JPEG, noise) so the model does not learn one camera's
look. Motion blur was added because the corruption benchmark (benchmarks/corruption_benchmark.py)
measured it as the camera-side effect the demo model read worst (34 % at a 7-px smear).
"""
from typing import Optional

import cv2
import numpy as np
import torch


def to_input(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """Return float32 [N, 3, H, W] RGB in [0, 1] from uint8 [N, H, W, 3]."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return tensor.permute(0, 3, 1, 2).float().div_(255.0)


class Augmenter:
    """
    Random per-image gain, gamma, colour cast, optics and motion blur, JPEG and sensor noise.

    Together they stand in for another camera: a model trained on one device must read codes
    that are darker, softer and more compressed on the next (the digits differ by a few pixels).

    Gain, gamma and cast are one 256-entry lookup table per image and channel, and the noise is a
    randomly shifted window of a fixed noise field: the same effect as per-pixel maths at a
    fraction of its cost on a CPU (full-resolution frames are large).
    """

    def __init__(self, height: int, width: int, seed: int, margin: int = 64):
        generator = torch.Generator().manual_seed(seed)
        self.height, self.width, self.margin = height, width, margin
        self.noise = torch.randn(height + margin, width + margin, 3, generator=generator)
        self.levels = torch.arange(256, dtype=torch.float32) / 255.0

    def __call__(self, images: np.ndarray, generator: torch.Generator,
                 out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        Return augmented float32 [N, 3, H, W] RGB in [0, 1] from uint8 [N, H, W, 3].

        `out`, a float32 [N, H, W, 3] buffer, receives the pixels (the result is a view of it):
        the training loop passes the same one every step, since a fresh 118 MB batch costs more
        in page faults than all of the augmentation's arithmetic.
        """
        n = images.shape[0]

        def uniform(low, high, *shape):
            return torch.rand(n, *shape, generator=generator) * (high - low) + low

        gain, gamma = uniform(0.65, 1.25, 1, 1), uniform(0.8, 1.35, 1, 1)
        cast, sigma = uniform(0.8, 1.2, 3, 1), uniform(0.0, 0.03)
        lut = (self.levels.view(1, 1, -1) * gain).clamp(0, 1).pow(gamma) * cast   # [N, 3, 256]
        # uint8 like a camera's output: every step below then moves a quarter of the bytes.
        lut = (lut * 255.0 + 0.5).clamp(0, 255).to(torch.uint8)
        lut = lut.permute(0, 2, 1).contiguous().numpy()                            # [N, 256, 3]
        offsets = torch.randint(0, self.margin, (n, 2), generator=generator)
        blur = uniform(0.0, 1.0)                      # extra optics blur, sigma in px
        # Horizontal smear of 3-9 px on a third of the frames (the conveyor moves along x).
        smear = torch.randint(3, 10, (n,), generator=generator)
        smeared = torch.rand(n, generator=generator) < 1.0 / 3.0
        quality = torch.randint(65, 96, (n,), generator=generator)
        recompress = torch.rand(n, generator=generator) < 0.5
        if out is None or out.shape != (n, images.shape[1], images.shape[2], 3):
            out = torch.empty(n, images.shape[1], images.shape[2], 3)
        for i in range(n):
            oy, ox = int(offsets[i, 0]), int(offsets[i, 1])
            noise = self.noise[oy:oy + images.shape[1], ox:ox + images.shape[2]]
            image = cv2.LUT(images[i], lut[i].reshape(256, 1, 3))
            if float(blur[i]) > 0.2:
                image = cv2.GaussianBlur(image, (0, 0), float(blur[i]))
            if bool(smeared[i]):
                length = int(smear[i])
                image = cv2.blur(image, (length, 1))
            if bool(recompress[i]):
                _, data = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, int(quality[i])])
                image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
            # To float, noise and clamp one image at a time, while it is in the cache.
            out[i].copy_(torch.from_numpy(image)).mul_(1.0 / 255.0)
            out[i].add_(noise, alpha=float(sigma[i])).clamp_(0, 1)
        return out.permute(0, 3, 1, 2)
