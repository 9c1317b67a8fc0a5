# SPDX-License-Identifier: Apache-2.0
"""
Synthetic AOI frames modelled on the A-CNN paper's task (numpy + OpenCV only, no torch).

Each 640x480 frame shows a dark cosmetic bottle on a conveyor under glare. The bottle label
carries class-independent text lines and, after "MADE IN KOREA", a small printed product code
such as ``(1069)``: about 32x20 px, under 0.3 % of the frame. The code is the ONLY thing that
depends on the class, so a whole-frame CNN on a downscaled image has to read a few blurred
pixels, while an attention model that crops the code at full resolution does not.

Two simulated cameras ("devices") differ in gain, gamma, colour cast, blur, noise, glare and
JPEG quality; `generate_dataset` renders train from device 0 and test from device 1, so the
test split measures generalisation across a device shift, like the paper's dataset.

Everything is deterministic from the seed: the same arguments give byte-identical files.
"""
from dataclasses import dataclass
import json
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from acnn_ros.core.dataset.labels import roi_to_yolo_box
from acnn_ros.core.dataset.seed_format import CLASSES_FILE
from acnn_ros.core.dataset.text_style import random_text_style, renderer_versions, TextStyle
from acnn_ros.core.results import RoiBox
import cv2
import numpy as np

FRAME_WIDTH = 640
FRAME_HEIGHT = 480
DEFAULT_CLASSES: Tuple[str, ...] = ('p1069', 'p1071', 'p3707', 'p3709')
GENERATOR_FILE = 'generator.json'     # the generator's settings and the versions that drew it

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_SUPERSAMPLE = 2             # the label is drawn at 2x and downsampled: anti-aliased small text
_CODE_FONT_SCALE = 0.6       # at 2x: about 31x8 px of ink at 1x
_CODE_PAD_X = 2              # label box = ink bounds + padding (about 34x20 px like the paper)
_CODE_PAD_Y = 6
_FILLER_WORDS = ('SKIN', 'CARE', 'CREAM', 'TONER', 'SERUM', 'LOTION', 'HYDRA', 'ESSENCE',
                 'REPAIR', 'BALANCE', 'MOIST', 'ACTIVE', 'DAILY', 'NIGHT', 'PURE', 'VITAL')


@dataclass(frozen=True)
class DeviceProfile:
    """Photometric character of one simulated camera."""

    gain: Tuple[float, float]          # multiplicative exposure range
    gamma: Tuple[float, float]         # output = input ** gamma
    cast_bgr: Tuple[float, float, float]
    blur_sigma: Tuple[float, float]    # Gaussian blur (focus), pixels
    noise_sigma: Tuple[float, float]   # additive sensor noise, grey levels
    glare_count: Tuple[int, int]       # number of specular blobs (inclusive range)
    glare_strength: Tuple[float, float]
    jpeg_quality: int


DEVICES: Dict[int, DeviceProfile] = {
    0: DeviceProfile(gain=(0.9, 1.1), gamma=(0.95, 1.05), cast_bgr=(1.0, 1.0, 1.0),
                     blur_sigma=(0.3, 0.7), noise_sigma=(2.0, 4.0), glare_count=(1, 3),
                     glare_strength=(80.0, 160.0), jpeg_quality=92),
    1: DeviceProfile(gain=(0.75, 1.0), gamma=(1.05, 1.25), cast_bgr=(0.85, 1.0, 1.15),
                     blur_sigma=(0.5, 0.9), noise_sigma=(4.0, 7.0), glare_count=(2, 4),
                     glare_strength=(120.0, 220.0), jpeg_quality=82),
}


@dataclass(frozen=True)
class CodeView:
    """Where one camera sees the code: its x in the frame, its width factor (0: hidden)."""

    code_x: float
    squeeze: float


def code_text(class_name: str) -> str:
    """Return the printed code for a class name: 'p1069' -> '(1069)'."""
    digits = class_name[1:] if class_name[:1].lower() == 'p' else class_name
    return f'({digits})'


def _uniform(rng: np.random.Generator, bounds: Tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _background(rng: np.random.Generator) -> np.ndarray:
    """Dark scene: vertical/horizontal gradient, low-frequency mottling and a conveyor."""
    h, w = FRAME_HEIGHT, FRAME_WIDTH
    base = np.array([rng.uniform(25, 45), rng.uniform(25, 40), rng.uniform(20, 35)], np.float32)
    yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    xx = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    frame = base * (0.6 + 0.5 * yy * rng.uniform(0.2, 1.0) + 0.3 * xx * rng.uniform(-1, 1))
    mottle = rng.normal(0.0, 1.0, (12, 16)).astype(np.float32)
    mottle = cv2.resize(mottle, (w, h), interpolation=cv2.INTER_CUBIC)
    frame = frame + mottle[:, :, None] * rng.uniform(4.0, 10.0)
    # Conveyor: a bright rail and a zig-zag belt edge in the lower part of the frame.
    rail_y = int(rng.uniform(0.72, 0.86) * h)
    rail_colour = tuple(float(v) for v in rng.uniform(90, 150, 3))
    cv2.line(frame, (0, rail_y), (w, rail_y + int(rng.uniform(-15, 15))), rail_colour, 2,
             cv2.LINE_AA)
    step = int(rng.uniform(40, 80))
    for x in range(-step, w + step, step):
        top = rail_y - int(rng.uniform(15, 30))
        cv2.line(frame, (x, rail_y), (x + step // 2, top), rail_colour, 1, cv2.LINE_AA)
        cv2.line(frame, (x + step // 2, top), (x + step, rail_y), rail_colour, 1, cv2.LINE_AA)
    frame[rail_y + 8:] *= rng.uniform(0.5, 0.8)
    return frame


def _draw_text(canvas: np.ndarray, text: str, x: float, y: float, scale: float,
               colour: int, style: Optional[TextStyle] = None) -> None:
    """Draw text at 2x supersampling on a 1-channel canvas (OpenCV Hershey, or `style`)."""
    s = _SUPERSAMPLE
    if style is not None:
        style.draw(canvas, text, x, y, scale, colour, s)
        return
    thickness = 1 if scale < 0.9 else 2
    cv2.putText(canvas, text, (int(round(x * s)), int(round(y * s))), _FONT, scale, colour,
                thickness, cv2.LINE_AA)


def _label_layers(rng: np.random.Generator, code: str, width: int, height: int,
                  code_x: float, code_y: float,
                  style: Optional[TextStyle] = None) -> Tuple[np.ndarray, np.ndarray]:
    """
    Render the printed label (filler + code) and the code alone, both 1-channel float 0..1.

    (code_x, code_y) is the baseline-left corner of the code text in frame pixels. Filler text
    is laid out relative to it, as on a real label, so where the code is follows from the
    layout a low-resolution view can see.
    """
    s = _SUPERSAMPLE
    label = np.zeros((height * s, width * s), np.uint8)    # putText draws on 8-bit only
    code_ink = np.zeros_like(label)
    line_gap = rng.uniform(13.0, 17.0)
    made_w = (cv2.getTextSize('MADE IN KOREA ', _FONT, _CODE_FONT_SCALE, 1)[0][0]
              if style is None else style.width('MADE IN KOREA ', _CODE_FONT_SCALE, s))
    left = code_x - made_w / s
    _draw_text(label, 'MADE IN KOREA', left, code_y, _CODE_FONT_SCALE, 255, style)
    if style is not None:       # the code printed off its place on the line
        code_x, code_y = code_x + style.code_dx_px, code_y + style.code_dy_px
    _draw_text(code_ink, code, code_x, code_y, _CODE_FONT_SCALE, 255, style)
    volume = int(rng.choice([30, 50, 60, 80, 100, 120, 150]))
    lines_above = [f'{volume} mL / {volume / 29.57:.2f} fl. oz.',
                   ' '.join(rng.choice(_FILLER_WORDS, size=2)),
                   ' '.join(rng.choice(_FILLER_WORDS, size=int(rng.integers(2, 4))))]
    for i, text in enumerate(lines_above):
        scale = 0.9 if i == 0 else _CODE_FONT_SCALE + rng.uniform(0.0, 0.2)
        _draw_text(label, text, left + rng.uniform(-10, 10), code_y - line_gap * (i + 1),
                   scale, 255, style)
    below = ' '.join(rng.choice(_FILLER_WORDS, size=2))
    _draw_text(label, below, left + rng.uniform(-5, 15), code_y + line_gap, 0.5, 200, style)
    # A round icon (the real labels carry a recycling mark and a jar pictogram).
    icon = (int((code_x + rng.uniform(45, 60)) * s), int((code_y - rng.uniform(5, 25)) * s))
    cv2.circle(label, icon, int(rng.uniform(7, 11) * s), 255, 2, cv2.LINE_AA)
    size = (width, height)
    label = cv2.resize(label, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    code_ink = cv2.resize(code_ink, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return np.maximum(label, code_ink), code_ink


def _code_box(code_ink: np.ndarray) -> RoiBox:
    """Return the padded bounding box of the code's ink."""
    ys, xs = np.nonzero(code_ink > 0.2)
    x0, x1 = xs.min() - _CODE_PAD_X, xs.max() + 1 + _CODE_PAD_X
    y0, y1 = ys.min() - _CODE_PAD_Y, ys.max() + 1 + _CODE_PAD_Y
    return RoiBox(center_x=float(x0 + x1) / 2.0, center_y=float(y0 + y1) / 2.0,
                  width=float(x1 - x0), height=float(y1 - y0))


def _bottle(rng: np.random.Generator, frame: np.ndarray, code_x: float,
            code_y: float) -> None:
    """Paint a dark amber bottle body around the label area (in place)."""
    h, w = frame.shape[:2]
    x0 = int(code_x - rng.uniform(120, 200))
    x1 = int(code_x + rng.uniform(110, 200))
    y0 = int(code_y - rng.uniform(150, 260))
    y1 = int(code_y + rng.uniform(80, 170))
    mask = np.zeros((h, w), np.float32)
    cv2.rectangle(mask, (x0, y0), (x1, y1), 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(8, 20))
    amber = np.array([rng.uniform(10, 25), rng.uniform(30, 50), rng.uniform(45, 75)], np.float32)
    frame *= (1.0 - 0.6 * mask[:, :, None])
    frame += mask[:, :, None] * amber
    # Reflections off the glass: a few thin bright streaks inside the body.
    for _ in range(int(rng.integers(1, 4))):
        yy = int(rng.uniform(y0, y1))
        cv2.line(frame, (x0 + 10, yy), (x0 + int(rng.uniform(30, 120)), yy + 3),
                 tuple(float(v) for v in rng.uniform(60, 140, 3)), 2, cv2.LINE_AA)


def _glare(rng: np.random.Generator, frame: np.ndarray, profile: DeviceProfile) -> None:
    """Add specular blobs (in place): elongated, blurred, warm-white."""
    h, w = frame.shape[:2]
    count = int(rng.integers(profile.glare_count[0], profile.glare_count[1] + 1))
    layer = np.zeros((h, w), np.float32)
    for _ in range(count):
        centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h * 0.9)))
        axes = (int(rng.uniform(10, 45)), int(rng.uniform(4, 12)))
        cv2.ellipse(layer, centre, axes, float(rng.uniform(-10, 10)), 0, 360,
                    _uniform(rng, profile.glare_strength) / 255.0, -1, cv2.LINE_AA)
    layer = cv2.GaussianBlur(layer, (0, 0), rng.uniform(3, 8))
    frame += layer[:, :, None] * np.array([200.0, 230.0, 255.0], np.float32)


def render_frame(rng: np.random.Generator, class_id: int, device: int = 0,
                 class_names: Sequence[str] = DEFAULT_CLASSES,
                 view: Optional[CodeView] = None,
                 style: Optional[TextStyle] = None) -> Tuple[np.ndarray, Optional[RoiBox]]:
    """
    Render one synthetic AOI frame; return (BGR uint8 480x640x3, code box in pixels).

    The frame depends only on the generator state, class_id and device: pass
    `np.random.default_rng(seed)` for a reproducible frame. The box is the padded bounding box
    of the printed code, the YOLO label of the frame. `view` places the code as one camera of a
    station sees it (core/dataset/multiview.py): foreshortened, or hidden (box None); `style`
    prints the label's text another way (core/dataset/text_style.py; None: OpenCV as always).
    """
    if not 0 <= class_id < len(class_names):
        raise ValueError(f'class_id {class_id} outside 0..{len(class_names) - 1}')
    if device not in DEVICES:
        raise ValueError(f'unknown device {device}; known: {sorted(DEVICES)}')
    profile = DEVICES[device]
    h, w = FRAME_HEIGHT, FRAME_WIDTH
    frame = _background(rng)
    # Code position: anywhere the whole label fits (the paper: the code moves between frames).
    code_x = rng.uniform(0.18, 0.86) * w
    code_y = rng.uniform(0.12, 0.62) * h
    if view is not None:
        code_x = view.code_x
    _bottle(rng, frame, code_x, code_y)
    code = code_text(class_names[class_id]) if view is None or view.squeeze > 0 else ''
    label, code_ink = _label_layers(rng, code, w, h, code_x, code_y, style)
    if view is not None and 0 < view.squeeze < 1:
        # The label on a round bottle turned away from the camera: narrower about the code.
        squeeze = np.float32([[view.squeeze, 0, code_x * (1 - view.squeeze)], [0, 1, 0]])
        label, code_ink = (cv2.warpAffine(layer, squeeze, (w, h), flags=cv2.INTER_LINEAR)
                           for layer in (label, code_ink))
    ink = np.array([rng.uniform(170, 235)] * 3, np.float32) + rng.uniform(-10, 10, 3)
    alpha = label[:, :, None] * rng.uniform(0.75, 0.95)
    frame = frame * (1.0 - alpha) + ink.astype(np.float32) * alpha
    _glare(rng, frame, profile)
    # Camera: optics blur, exposure, response curve, colour cast, sensor noise, JPEG later.
    frame = cv2.GaussianBlur(frame, (0, 0), _uniform(rng, profile.blur_sigma))
    exposed = np.clip(frame * _uniform(rng, profile.gain), 0, 255).astype(np.uint8)
    curve = 255.0 * np.power(np.arange(256) / 255.0, _uniform(rng, profile.gamma))
    frame = cv2.LUT(exposed, curve.astype(np.uint8)).astype(np.float32)
    frame *= np.array(profile.cast_bgr, np.float32)
    noise = rng.standard_normal(frame.shape, dtype=np.float32)
    frame += noise * np.float32(_uniform(rng, profile.noise_sigma))
    bgr = np.clip(frame, 0, 255).astype(np.uint8)
    return bgr, (_code_box(code_ink) if code else None)


def generate_dataset(out_dir: Path, num_train: int, num_test: int, seed: int = 0,
                     labeled_fraction: float = 1.0,
                     class_names: Sequence[str] = DEFAULT_CLASSES,
                     progress: Optional[object] = None,
                     style_mix: float = 0.0) -> Dict[str, int]:
    """
    Write a dataset in the seed format and return the number of images per split.

    Layout: ``images/{train,test}/<class>_<index>.jpg`` and ``labels/{train,test}/<same>.txt``
    with one YOLO line ``class cx cy w h``; train is rendered by device 0, test by device 1.
    A fraction ``1 - labeled_fraction`` of the TRAIN images gets a label file holding only the
    class field (the trainer's ``--labeled-fraction`` can drop boxes too; test keeps all boxes).
    ``classes.txt`` lists the class names, one per line. ``progress`` is an optional callable
    taking the number of images just written (e.g. a tqdm ``update``). ``style_mix``: the
    fraction of TRAIN frames whose label is printed in a random style (text_style.
    random_text_style: robustness augmentation; 0 draws every frame as before).
    """
    if not 0.0 <= labeled_fraction <= 1.0:
        raise ValueError(f'labeled_fraction must be in [0, 1], got {labeled_fraction}')
    if not 0.0 <= style_mix <= 1.0:
        raise ValueError(f'style_mix must be in [0, 1], got {style_mix}')
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / CLASSES_FILE).write_text('\n'.join(class_names) + '\n', encoding='utf-8')
    # What made these frames: the same seed gives the same files only with the same renderer
    # versions (OpenCV 5.1.0 places the label's glyphs differently from 5.0.0; issue 25).
    (out_dir / GENERATOR_FILE).write_text(json.dumps({
        'generator': __name__, 'seed': seed, 'num_train': num_train, 'num_test': num_test,
        'labeled_fraction': labeled_fraction, 'classes': list(class_names),
        'text': 'OpenCV Hershey SIMPLEX (core/dataset/text_style.py: None)',
        'train_style_mix': style_mix,
        'versions': renderer_versions()}, indent=1) + '\n', encoding='utf-8')
    counts = {}
    # One independent stream per split and per image: a frame does not change when the split
    # sizes change, and test frames never share draws with train frames.
    root = np.random.SeedSequence(seed)
    split_seeds = root.spawn(2)
    for split, count, device, split_seed in (('train', num_train, 0, split_seeds[0]),
                                             ('test', num_test, 1, split_seeds[1])):
        image_dir = out_dir / 'images' / split
        label_dir = out_dir / 'labels' / split
        image_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        keep_rng = np.random.default_rng(split_seed.spawn(1)[0])
        keep_box = keep_rng.random(count) < (labeled_fraction if split == 'train' else 1.0)
        # Styles from a stream of their own: with style_mix 0 no frame changes.
        style_rng = np.random.default_rng([seed, 25, count])
        for index, image_seed in enumerate(split_seed.spawn(count)):
            rng = np.random.default_rng(image_seed)
            class_id = int(rng.integers(len(class_names)))
            style = (random_text_style(style_rng) if split == 'train' and style_mix > 0
                     and style_rng.random() < style_mix else None)
            bgr, box = render_frame(rng, class_id, device=device, class_names=class_names,
                                    style=style)
            stem = f'{class_names[class_id]}_{index:05d}'
            quality = DEVICES[device].jpeg_quality
            cv2.imwrite(str(image_dir / f'{stem}.jpg'), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if keep_box[index]:
                line = '{} {:.6f} {:.6f} {:.6f} {:.6f}\n'.format(
                    class_id, *roi_to_yolo_box(box, FRAME_WIDTH, FRAME_HEIGHT))
            else:
                line = f'{class_id}\n'
            (label_dir / f'{stem}.txt').write_text(line, encoding='utf-8')
            if progress is not None:
                progress(1)
        counts[split] = count
    return counts
