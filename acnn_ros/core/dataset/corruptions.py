# SPDX-License-Identifier: Apache-2.0
"""
What real printers and cameras do to a frame, at severities 1-5 (issue 25; ImageNet-C style).

Two kinds, one registry (`CORRUPTIONS`, name -> Corruption):
- `render`: the label printed another way (core/dataset/text_style.py: another font or
  renderer, spacing, glyph placement, stroke weight, the code off its place); the frame is
  rendered again with that style, so the code box stays exact;
- `image`: the camera's side, applied to a rendered frame: label scale and rotation about the
  code (the box follows), defocus, motion blur, sensor noise, gamma, contrast, JPEG, glare on
  the code, and the code's edge occluded.

Each is deterministic for a given (frame, severity, seed). Severity 0 is the clean frame.
`apply_image_corruption` and `text_style_for` are what the corruption benchmark, training
augmentation and `acnn eval-bag --corrupt` share.
"""
from dataclasses import dataclass
import time
from typing import Callable, Dict, Optional, Tuple

from acnn_ros.core.dataset.text_style import TextStyle
from acnn_ros.core.results import RoiBox
import cv2
import numpy as np

SEVERITIES = (1, 2, 3, 4, 5)
Box = Optional[RoiBox]


@dataclass(frozen=True)
class Corruption:
    """One perturbation: its kind (render | image), what it models, and how."""

    name: str
    kind: str
    description: str
    style: Optional[Callable[[int], TextStyle]] = None                 # render kind
    image: Optional[Callable[[np.ndarray, Box, int, np.random.Generator],
                             Tuple[np.ndarray, Box]]] = None          # image kind


def _level(values, severity: int):
    return values[min(max(severity, 1), len(values)) - 1]


def _warp_about_code(bgr: np.ndarray, box: Box, angle_deg: float, scale: float):
    h, w = bgr.shape[:2]
    centre = (box.center_x, box.center_y) if box is not None else (w / 2.0, h / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, angle_deg, scale)
    out = cv2.warpAffine(bgr, matrix, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)
    if box is None:
        return out, None
    # The box's centre stays; its size scales (a small rotation keeps the box's size).
    return out, RoiBox(box.center_x, box.center_y, box.width * scale, box.height * scale)


def _label_scale(bgr, box, severity, rng):
    return _warp_about_code(bgr, box, 0.0, _level((1.04, 0.92, 1.12, 0.86, 1.20), severity))


def _rotation(bgr, box, severity, rng):
    return _warp_about_code(bgr, box, _level((1.0, -2.0, 3.0, -4.0, 5.0), severity), 1.0)


def _defocus(bgr, box, severity, rng):
    return cv2.GaussianBlur(bgr, (0, 0), _level((0.6, 0.9, 1.2, 1.6, 2.2), severity)), box


def _motion_blur(bgr, box, severity, rng):
    length = _level((3, 5, 7, 9, 11), severity)
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length          # the conveyor moves horizontally
    return cv2.filter2D(bgr, -1, kernel), box


def _sensor_noise(bgr, box, severity, rng):
    sigma = _level((4.0, 7.0, 10.0, 14.0, 20.0), severity)
    noisy = bgr.astype(np.float32) + rng.standard_normal(bgr.shape, np.float32) * sigma
    return np.clip(noisy, 0, 255).astype(np.uint8), box


def _gamma(bgr, box, severity, rng):
    gamma = _level((0.85, 1.2, 0.7, 1.4, 0.55), severity)
    curve = (255.0 * np.power(np.arange(256) / 255.0, gamma)).astype(np.uint8)
    return cv2.LUT(bgr, curve), box


def _contrast(bgr, box, severity, rng):
    factor = _level((0.8, 0.65, 0.5, 0.4, 0.3), severity)
    mean = bgr.reshape(-1, 3).mean(axis=0)
    return np.clip((bgr - mean) * factor + mean, 0, 255).astype(np.uint8), box


def _jpeg(bgr, box, severity, rng):
    quality = _level((70, 50, 30, 20, 10), severity)
    ok, data = cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return (cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else bgr), box


def _glare(bgr, box, severity, rng):
    h, w = bgr.shape[:2]
    cx, cy = (box.center_x, box.center_y) if box is not None else (w / 2.0, h / 2.0)
    layer = np.zeros((h, w), np.float32)
    for _ in range(severity):
        centre = (int(cx + rng.uniform(-40, 40)), int(cy + rng.uniform(-15, 15)))
        axes = (int(rng.uniform(8, 22)), int(rng.uniform(3, 8)))
        cv2.ellipse(layer, centre, axes, float(rng.uniform(-15, 15)), 0, 360,
                    (60.0 + 30.0 * severity) / 255.0, -1, cv2.LINE_AA)
    layer = cv2.GaussianBlur(layer, (0, 0), 3.0)
    glared = bgr.astype(np.float32) + layer[:, :, None] * np.array([200.0, 230.0, 255.0])
    return np.clip(glared, 0, 255).astype(np.uint8), box


def _occlusion(bgr, box, severity, rng):
    if box is None:
        return bgr, box
    fraction = _level((0.1, 0.15, 0.2, 0.3, 0.4), severity)
    x0, x1 = int(box.center_x - box.width / 2), int(box.center_x + box.width / 2)
    y0, y1 = int(box.center_y - box.height / 2), int(box.center_y + box.height / 2)
    cut = max(1, int(round((x1 - x0) * fraction)))
    out = bgr.copy()
    h, w = out.shape[:2]
    y0, y1 = max(y0, 0), min(y1, h)
    if rng.random() < 0.5:     # a label edge, a finger or a guide rail over one end
        xa, xb = max(x0, 0), min(x0 + cut, w)
    else:
        xa, xb = max(x1 - cut, 0), min(x1, w)
    if xa < xb and y0 < y1:
        patch = out[max(y0 - 6, 0):min(y1 + 6, h), max(x0 - 30, 0):max(x0 - 4, 1)]
        colour = np.median(patch.reshape(-1, 3), axis=0) if patch.size else (0, 0, 0)
        out[y0:y1, xa:xb] = colour
    return out, box


def _styles(name: str, **per_severity) -> Callable[[int], TextStyle]:
    def style(severity: int) -> TextStyle:
        return TextStyle(**{key: _level(values, severity) for key, values in
                            per_severity.items()})
    style.__name__ = f'{name}_style'
    return style


_TABLE = (
    Corruption('font_family', 'render', 'the label printed in another TrueType face (Pillow)',
               style=_styles('font_family', engine=('pillow',) * 5, font=(
                   'DejaVuSans-Bold.ttf', 'DejaVuSans.ttf', 'DejaVuSansMono-Bold.ttf',
                   'DejaVuSerif-Bold.ttf', 'DejaVuSerif.ttf'))),
    Corruption('font_weight', 'render', 'bolder print (ink spread), stroke + px',
               style=_styles('font_weight', stroke_px=(0.5, 0.75, 1.0, 1.25, 1.5))),
    Corruption('kerning', 'render', 'wider letter spacing, px per glyph',
               style=_styles('kerning', kerning_px=(0.25, 0.5, 1.0, 1.5, 2.0))),
    Corruption('glyph_placement', 'render', 'each glyph placed up to N px off (another '
               'rasteriser or OpenCV version, a worn print head)',
               style=_styles('glyph_placement', glyph_jitter_px=(0.1, 0.2, 0.35, 0.5, 0.75))),
    Corruption('pillow_renderer', 'render', 'the text drawn by Pillow instead of OpenCV, '
               'size off by up to 8 %', style=_styles(
                   'pillow_renderer', engine=('pillow',) * 5, font=('DejaVuSans.ttf',) * 5,
                   size_factor=(1.0, 0.96, 1.04, 0.92, 1.08))),
    Corruption('code_position', 'render', 'the code printed off its place on the line, px',
               style=_styles('code_position', code_dx_px=(1.5, 3.0, 4.5, 6.0, 7.5),
                             code_dy_px=(0.5, 1.0, 1.5, 2.0, 2.5))),
    Corruption('label_scale', 'image', 'label scale about the code, up to +-20 %',
               image=_label_scale),
    Corruption('rotation', 'image', 'label rotated about the code, up to 5 deg',
               image=_rotation),
    Corruption('defocus', 'image', 'defocus blur, Gaussian sigma 0.6-2.2 px', image=_defocus),
    Corruption('motion_blur', 'image', 'conveyor motion blur, 3-11 px', image=_motion_blur),
    Corruption('sensor_noise', 'image', 'sensor noise, sigma 4-20 grey levels',
               image=_sensor_noise),
    Corruption('gamma', 'image', 'response curve, gamma 0.55-1.4', image=_gamma),
    Corruption('contrast', 'image', 'contrast down to 30 %', image=_contrast),
    Corruption('jpeg', 'image', 'JPEG quality 70 down to 10', image=_jpeg),
    Corruption('glare', 'image', '1-5 specular spots on and around the code', image=_glare),
    Corruption('occlusion', 'image', '10-40 % of the code covered from one edge',
               image=_occlusion),
)
CORRUPTIONS: Dict[str, Corruption] = {c.name: c for c in _TABLE}


def text_style_for(name: str, severity: int) -> TextStyle:
    """Return the label style of render corruption `name` at `severity` (1-5)."""
    corruption = CORRUPTIONS[name]
    if corruption.kind != 'render':
        raise ValueError(f'{name} is not a render corruption')
    return corruption.style(severity)


def apply_image_corruption(name: str, bgr: np.ndarray, box: Box, severity: int,
                           seed: int = 0) -> Tuple[np.ndarray, Box]:
    """Return the frame (and its code box) with image corruption `name` at `severity`."""
    corruption = CORRUPTIONS.get(name)
    if corruption is None or corruption.kind != 'image':
        known = ', '.join(n for n, c in CORRUPTIONS.items() if c.kind == 'image')
        raise ValueError(f'unknown image corruption {name!r}; known: {known}')
    if severity == 0:
        return bgr, box
    return corruption.image(bgr, box, severity, np.random.default_rng([seed, severity]))


def robustness_entry(results: dict, command: str) -> dict:
    """
    Return a model card's `robustness` from corruption benchmark results.

    `results`: {'clean': {'accuracy': a}, name: [{'accuracy': a} per severity 1-5]}; the entry
    holds the clean accuracy, the worst corruption at severity 3, every one at severity 3, the
    command and the date.
    """
    at_3 = {name: round(results[name][2]['accuracy'], 4) for name in CORRUPTIONS}
    worst = min(at_3, key=at_3.get)
    return {'benchmark': command, 'date': time.strftime('%Y-%m-%d'),
            'clean_accuracy': round(results['clean']['accuracy'], 4),
            'worst_at_severity_3': {'corruption': worst, 'accuracy': at_3[worst]},
            'accuracy_at_severity_3': at_3}
