# SPDX-License-Identifier: Apache-2.0
"""
A compact anchor-free single-stage detector in the YOLOv8 style, with ASSN as a switch.

    frame -> normalise (+ per-image contrast) -> CSP backbone (C2f stages, SPPF) -> P3, P4, P5
    P3..P5 -> PAN neck (top-down then bottom-up, C2f fusion) -> N3, N4, N5
    [ASSN: N3 <- N3 + attention-fused scale sequence of (N3, N4, N5)]      (seed 001)
    every level -> decoupled head: box branch (l, t, r, b distances) | class branch (C logits)
    all cells -> best detection = argmax over cells of the top class logit (argmax + gather)

The forward returns `DetectorOutput`: the best detection as ``logits`` [N, C] (its class
logits) and ``roi`` [N, 4] (its box, cx cy w h normalised), i.e. the fields of
`output.ModelOutput` (the same contract as the A-CNN), plus the dense outputs that
`detector_loss.detection_loss` trains on. Every box is a distance from its cell centre
(softplus, in strides), no anchors and no DFL.

Hyperparameters: `DetectorConfig`; named variants `det_n` (plain) and `det_n_assn` (ASSN),
both in the model registry (`registry.create_model`).
"""
from dataclasses import asdict, dataclass, replace
from typing import Any, Dict, List, NamedTuple, Tuple

from acnn_ros.model.assn import ASSN
from acnn_ros.model.blocks import Normalize, standardize
from acnn_ros.model.config import INPUT_MEAN, INPUT_STD
from acnn_ros.model.registry import register_model
import torch
from torch import nn
import torch.nn.functional as F

STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class DetectorConfig:
    """Hyperparameters of one detector (widths are channels per stage / level)."""

    num_classes: int = 4
    input_width: int = 640
    input_height: int = 480
    stem_channels: Tuple[int, ...] = (8, 16)        # stride 2, stride 4
    stage_channels: Tuple[int, ...] = (32, 48, 64)  # P3 (stride 8), P4 (16), P5 (32)
    stage_depth: Tuple[int, ...] = (1, 1, 1)        # bottlenecks per C2f stage
    neck_channels: Tuple[int, ...] = (32, 48, 64)   # N3, N4, N5
    head_channels: int = 32
    assn: bool = False
    assn_channels: int = 32
    standardize: bool = True       # same per-image contrast normalisation as the A-CNN ROI
    unboxed_class_weight: float = 1.0  # image-level class loss of images without a box

    def to_dict(self) -> Dict[str, Any]:
        """Return a JSON-friendly dict (tuples become lists)."""
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


DETECTORS: Dict[str, DetectorConfig] = {
    'det_n': DetectorConfig(),
    'det_n_assn': DetectorConfig(assn=True),
}


class ConvBNSiLU(nn.Sequential):
    """k x k convolution, batch norm, SiLU (the YOLOv5/v8 'Conv')."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                      bias=False),
            nn.BatchNorm2d(out_channels),
            nn.SiLU(inplace=True))


class Bottleneck(nn.Module):
    """Two 3x3 convs with an optional residual."""

    def __init__(self, channels: int, shortcut: bool = True):
        super().__init__()
        self.body = nn.Sequential(ConvBNSiLU(channels, channels), ConvBNSiLU(channels, channels))
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return body(x) (+ x)."""
        y = self.body(x)
        return x + y if self.shortcut else y


class C2f(nn.Module):
    """CSP block, YOLOv8 flavour: split, chain of bottlenecks, concatenate every output."""

    def __init__(self, in_channels: int, out_channels: int, depth: int = 1,
                 shortcut: bool = True):
        super().__init__()
        self.hidden = out_channels // 2
        self.cv1 = ConvBNSiLU(in_channels, 2 * self.hidden, 1)
        self.blocks = nn.ModuleList(Bottleneck(self.hidden, shortcut) for _ in range(depth))
        self.cv2 = ConvBNSiLU((2 + depth) * self.hidden, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the fused features."""
        parts = list(torch.split(self.cv1(x), self.hidden, dim=1))
        for block in self.blocks:
            parts.append(block(parts[-1]))
        return self.cv2(torch.cat(parts, dim=1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 max pools, concatenated."""

    def __init__(self, channels: int):
        super().__init__()
        hidden = channels // 2
        self.cv1 = ConvBNSiLU(channels, hidden, 1)
        self.pool = nn.MaxPool2d(5, 1, 2)
        self.cv2 = ConvBNSiLU(hidden * 4, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return features with receptive fields of 5, 9 and 13 cells mixed in."""
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.pool(y[-1]))
        return self.cv2(torch.cat(y, dim=1))


class Backbone(nn.Module):
    """Stem convs to stride 4, then one strided conv + C2f per level (SPPF on the last)."""

    def __init__(self, config: DetectorConfig):
        super().__init__()
        s0, s1 = config.stem_channels
        self.stem = nn.Sequential(ConvBNSiLU(3, s0, stride=2), ConvBNSiLU(s0, s1, stride=2),
                                  C2f(s1, s1, 1))
        stages, previous = [], s1
        for index, (width, depth) in enumerate(zip(config.stage_channels, config.stage_depth)):
            layers = [ConvBNSiLU(previous, width, stride=2), C2f(width, width, depth)]
            if index == len(config.stage_channels) - 1:
                layers.append(SPPF(width))
            stages.append(nn.Sequential(*layers))
            previous = width
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Return [P3, P4, P5]."""
        x = self.stem(x)
        levels = []
        for stage in self.stages:
            x = stage(x)
            levels.append(x)
        return levels


def _resize_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Nearest-resize x to like's spatial size (odd sizes: 416x312, 224x168 give 39 / 21 rows)."""
    return F.interpolate(x, size=like.shape[-2:], mode='nearest')


class PAN(nn.Module):
    """Path aggregation neck: top-down (P5 -> P3) then bottom-up (N3 -> N5)."""

    def __init__(self, config: DetectorConfig):
        super().__init__()
        p3, p4, p5 = config.stage_channels
        n3, n4, n5 = config.neck_channels
        self.top4 = C2f(p5 + p4, n4, 1, shortcut=False)
        self.top3 = C2f(n4 + p3, n3, 1, shortcut=False)
        self.down3 = ConvBNSiLU(n3, n3, stride=2)
        self.out4 = C2f(n3 + n4, n4, 1, shortcut=False)
        self.down4 = ConvBNSiLU(n4, n4, stride=2)
        self.out5 = C2f(n4 + p5, n5, 1, shortcut=False)

    def forward(self, levels: List[torch.Tensor]) -> List[torch.Tensor]:
        """Return [N3, N4, N5]."""
        p3, p4, p5 = levels
        t4 = self.top4(torch.cat([_resize_to(p5, p4), p4], dim=1))
        n3 = self.top3(torch.cat([_resize_to(t4, p3), p3], dim=1))
        n4 = self.out4(torch.cat([self.down3(n3), t4], dim=1))
        n5 = self.out5(torch.cat([self.down4(n4), p5], dim=1))
        return [n3, n4, n5]


def cell_centres(h: int, w: int, stride: int, like: torch.Tensor) -> torch.Tensor:
    """Return [h*w, 2] cell centres (x, y) in input pixels, row-major (like the flattened map)."""
    xs = (torch.arange(w, dtype=like.dtype, device=like.device) + 0.5) * stride
    ys = (torch.arange(h, dtype=like.dtype, device=like.device) + 0.5) * stride
    return torch.stack([xs.view(1, -1).expand(h, w).reshape(-1),
                        ys.view(-1, 1).expand(h, w).reshape(-1)], dim=1)


class DecoupledHead(nn.Module):
    """Per level: a box branch (4 distances) and a class branch (C logits), no shared convs."""

    def __init__(self, in_channels: int, hidden: int, num_classes: int, stride: int):
        super().__init__()
        self.box = nn.Sequential(ConvBNSiLU(in_channels, hidden), ConvBNSiLU(hidden, hidden),
                                 nn.Conv2d(hidden, 4, 1))
        self.cls = nn.Sequential(ConvBNSiLU(in_channels, hidden), ConvBNSiLU(hidden, hidden),
                                 nn.Conv2d(hidden, num_classes, 1))
        # Prior: a cell holds an object with probability ~1 % (focal-loss style bias init), and
        # a box starts about 2 strides wide.
        nn.init.constant_(self.cls[-1].bias, -4.6)
        nn.init.constant_(self.box[-1].bias, 0.5)
        self.stride = stride

    def forward(self, x: torch.Tensor):
        """Return (class logits [N, h*w, C], boxes xyxy in input px [N, h*w, 4])."""
        n, _, h, w = x.shape
        centres = cell_centres(h, w, self.stride, x)
        cx, cy = centres[:, 0].view(1, -1), centres[:, 1].view(1, -1)
        dist = F.softplus(self.box(x)).reshape(n, 4, h * w) * self.stride
        boxes = torch.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]],
                            dim=2)
        logits = self.cls(x).reshape(n, -1, h * w).transpose(1, 2)
        return logits, boxes


class DetectorOutput(NamedTuple):
    """The best detection (the model contract) and the dense outputs the loss needs."""

    logits: torch.Tensor       # [N, C] class logits of the best detection
    roi: torch.Tensor          # [N, 4] its box (cx, cy, w, h) normalised to the input frame
    heatmap: torch.Tensor      # [N, 0, 0]: no localization heatmap
    dense_logits: torch.Tensor  # [N, A, C] every cell of every level
    dense_boxes: torch.Tensor  # [N, A, 4] xyxy in input pixels
    centres: torch.Tensor      # [A, 2] cell centres in input pixels
    strides: torch.Tensor      # [A] stride of each cell's level
    frame_size: Tuple[int, int]  # (height, width) of the input frame in px


class Detector(nn.Module):
    """YOLOv8-style anchor-free detector reporting its best detection."""

    def __init__(self, config: DetectorConfig):
        super().__init__()
        self.config = config
        self.normalize = Normalize(INPUT_MEAN, INPUT_STD)
        self.backbone = Backbone(config)
        self.neck = PAN(config)
        self.assn = ASSN(config.neck_channels, config.assn_channels) if config.assn else None
        self.heads = nn.ModuleList(
            DecoupledHead(c, config.head_channels, config.num_classes, s)
            for c, s in zip(config.neck_channels, STRIDES))

    def forward(self, image: torch.Tensor) -> DetectorOutput:
        """Detect on RGB frames in [0, 1] [N, 3, H, W]; return the best detection per frame."""
        height, width = image.shape[2], image.shape[3]
        x = self.normalize(image)
        if self.config.standardize:
            x = standardize(x)
        levels = self.neck(self.backbone(x))
        if self.assn is not None:
            levels = [self.assn(levels)] + levels[1:]
        all_logits, all_boxes, centres, strides = [], [], [], []
        for head, level in zip(self.heads, levels):
            logits, boxes = head(level)
            all_logits.append(logits)
            all_boxes.append(boxes)
            h, w = level.shape[-2:]
            centres.append(cell_centres(h, w, head.stride, x))
            strides.append(torch.full((h * w,), float(head.stride), device=x.device))
        dense_logits = torch.cat(all_logits, dim=1)
        dense_boxes = torch.cat(all_boxes, dim=1)
        logits, roi = best_detection(dense_logits, dense_boxes, width, height)
        return DetectorOutput(logits, roi, logits.new_zeros((logits.shape[0], 0, 0)),
                              dense_logits, dense_boxes, torch.cat(centres),
                              torch.cat(strides), (height, width))

    def training_loss(self, output: DetectorOutput, labels: torch.Tensor, boxes: torch.Tensor,
                      has_box: torch.Tensor, loc_weight: float):
        """Return (loss, {'cls', 'loc'}): see `detector_loss.detection_loss`."""
        from acnn_ros.model.detector_loss import detection_loss
        return detection_loss(output, labels, boxes, has_box, loc_weight,
                              self.config.unboxed_class_weight)


def best_detection(dense_logits: torch.Tensor, dense_boxes: torch.Tensor, width: int,
                   height: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Return (logits [N, C], roi [N, 4] cx cy w h normalised) of the highest-scoring cell.

    Exportable: an argmax over the cells' top class logit and two gathers, no Python branch on
    data.
    """
    score = dense_logits.amax(dim=2)                           # [N, A]
    index = score.argmax(dim=1, keepdim=True)                  # [N, 1]
    num_classes = dense_logits.shape[2]
    logits = torch.gather(dense_logits, 1,
                          index.unsqueeze(2).expand(-1, 1, num_classes)).squeeze(1)
    box = torch.gather(dense_boxes, 1, index.unsqueeze(2).expand(-1, 1, 4)).squeeze(1)
    scale = box.new_tensor([width, height, width, height])
    x1, y1, x2, y2 = (box / scale).unbind(dim=1)
    roi = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=1)
    return logits, roi


def build_detector(variant: str, num_classes: int, **overrides: Any) -> Detector:
    """Return a named detector (det_n, det_n_assn) with the class count and any overrides."""
    if variant not in DETECTORS:
        raise ValueError(f'unknown detector {variant!r}; known: {sorted(DETECTORS)}')
    unknown = sorted(set(overrides) - set(DetectorConfig.__dataclass_fields__))
    if unknown:
        raise ValueError(f'{variant} has no option(s) {unknown} (A-CNN options such as the ROI '
                         'size or attention maps do not apply to a detector)')
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return Detector(replace(DETECTORS[variant], num_classes=num_classes, **overrides))


@register_model('det_n')
def det_n(num_classes: int = 4, **overrides: Any) -> Detector:
    """Return the plain compact detector."""
    return build_detector('det_n', num_classes, **overrides)


@register_model('det_n_assn')
def det_n_assn(num_classes: int = 4, **overrides: Any) -> Detector:
    """Return the compact detector with the ASSN scale-sequence attention on P3."""
    return build_detector('det_n_assn', num_classes, **overrides)
