# SPDX-License-Identifier: Apache-2.0
"""
Synthesis on real backgrounds: print every class's code onto a handful of real frames.

A new product starts with a few real frames, each with its code's box (seed format). For each
one `RealBackground.load` measures the code's look (`code_renderer.measure_code`) and removes
the code: the bright print mostly inside the box is filled from the bottle around it (never
from the label's other print). `render_real_frame` then prints a class's code in that box with
the frame's own measured height, width (condensation), slant, angle, blur and ink tone
(jittered; the label's other print takes the code's contrast), moves the whole frame (label
position, scale, small rotation; reflected borders), and applies photometry (gain, gamma,
glare), optics (defocus, motion blur) and a simulated device (colour cast, noise; JPEG when
written). `generate_real_dataset` writes the seed format, train from device 0 and a
device-shifted test split from device 1 (`synthetic.DEVICES`), optionally mixed with fully
synthetic frames. Deterministic from the seed.
"""
from dataclasses import dataclass
import math
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from acnn_ros.core.dataset.code_renderer import (CodeAppearance, FONT_FILES, measure_code,
                                                 natural_aspect, render_code_ink)
from acnn_ros.core.dataset.labels import read_yolo_label, roi_to_yolo_box
from acnn_ros.core.dataset.seed_format import CLASSES_FILE, folder_images
from acnn_ros.core.dataset.synthetic import code_text, DEFAULT_CLASSES, DEVICES, render_frame
from acnn_ros.core.results import RoiBox
import cv2
import numpy as np

_INK_LEVEL = 0.5           # ink coverage (of its peak) above which a pixel is in the label box
_PRINT_KERNEL = np.ones((11, 11), np.uint8)     # print is bright and thinner than this
# How a print may differ from the one measured on its background. The real sample prints of
# one product differ by 3x in ink contrast (worn or thin ink) and by 1.5x in code height (the
# bottle's distance): one frame's measurement says little about the next print's.
FONT_WEIGHTS = (0.3, 0.35, 0.35)        # FONT_FILES: heavy, regular, light
CONTRAST_SCALE = (0.4, 1.6)             # x the measured ink-paper contrast, the whole label's
# x the code's contrast relative to its label's other print: the four real codes are 0.79-1.18
# x as bright as the label's text beside them (top-hat, 95th percentile), so each
# background's own ratio must reach the others' (since recipe H).
CODE_TO_LABEL = (0.65, 1.5)
FRAME_SCALE = (0.8, 1.3)                # the whole frame, about the code
RESHOOT_SCALE = (0.85, 1.2)             # `reshoot`: fixed, recipes compare on the same re-shots
# Where the code's centre lands, (x, y) fractions of the frame. A real code sits at 0.89 of the
# width, at the edge of the 0.1-0.9 drawn until recipe H; the range now reaches past it (it did
# not move that frame's ROI, 28 px off in both: the edge was not why it missed).
FRAME_REACH = ((0.04, 0.96), (0.06, 0.94))
RESHOOT_REACH = ((0.1, 0.9), (0.15, 0.85))      # `reshoot`: fixed, as its scale


@dataclass(frozen=True)
class RealBackground:
    """One real frame with its code removed, and the measured look of that code."""

    name: str                       # file stem of the real frame
    class_name: str                 # the class printed on the real frame
    original: np.ndarray            # the real frame (BGR uint8)
    clean: np.ndarray               # the frame with its code removed
    box: Tuple[float, float, float, float]       # the labelled code box (cx, cy, w, h), px
    look: CodeAppearance
    condense: float                 # measured ink width / the font's natural width
    label_print: np.ndarray         # the clean frame's bright thin print (float32 BGR top-hat)

    @classmethod
    def load(cls, image_path: Path, class_names: Sequence[str]) -> 'RealBackground':
        """Read a labelled real frame, measure its code and remove the code."""
        frame = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        if frame is None:
            raise ValueError(f'cannot read image {image_path}')
        h, w = frame.shape[:2]
        label = read_yolo_label(Path(image_path), len(class_names))
        if label is None or label.box is None:
            raise ValueError(f'{image_path}: a real background needs a label with a box')
        cx, cy, bw, bh = label.box
        box = (cx * w, cy * h, bw * w, bh * h)
        look = measure_code(frame, box)
        clean = remove_code(frame, box)
        return cls(name=Path(image_path).stem, class_name=class_names[label.class_id],
                   original=frame, clean=clean, box=box, look=look,
                   condense=look.ink_width / (look.ink_height * natural_aspect(
                       code_text(class_names[label.class_id]))),
                   label_print=cv2.morphologyEx(clean.astype(np.float32), cv2.MORPH_TOPHAT,
                                                _PRINT_KERNEL))

    def with_print_contrast(self, contrast: float) -> np.ndarray:
        """
        Return the clean frame (float32) with its label's print at `contrast` x its own.

        One ink under one light: a dim code comes with a dim label. A code dimmed alone
        beside the label's bright text was a combination no real frame shows (the dim real
        print's whole label is dim) and a cue that held-out frame broke.
        """
        return self.clean.astype(np.float32) + (contrast - 1.0) * self.label_print


def remove_code(frame: np.ndarray, box: Tuple[float, float, float, float],
                grow: Tuple[int, int] = (1, 3), reach_px: int = 16) -> np.ndarray:
    """
    Return the frame with the bright print inside `box` removed (`grow`: right, up/down).

    The code is the bright print inside the box; it is filled from the bottle around it within
    `reach_px`, never from other print. Inpainting from every neighbour (Telea) smeared
    the label's text and the sign beside the code into the box: a bright blob beside every
    synthetic code and beside no real one.
    """
    h, w = frame.shape[:2]
    cx, cy, bw, bh = box
    gx, gy = grow           # little to the right: the 12M sign is close
    x0, x1 = max(0, int(cx - bw / 2)), min(w, int(math.ceil(cx + bw / 2)) + gx)
    y0, y1 = max(0, int(cy - bh / 2) - gy), min(h, int(math.ceil(cy + bh / 2)) + gy)
    rx0, rx1 = max(0, x0 - reach_px), min(w, x1 + reach_px)
    ry0, ry1 = max(0, y0 - reach_px), min(h, y1 + reach_px)
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    tophat = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, _PRINT_KERNEL)
    threshold, _ = cv2.threshold(tophat[y0:y1, x0:x1], 0, 255,
                                 cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = np.zeros((h, w), np.uint8)
    bright[ry0:ry1, rx0:rx1] = tophat[ry0:ry1, rx0:rx1] > threshold * 0.6
    # The code: the bright print inside the box, grown by the blur around its strokes; not a
    # sign that reaches into the box (a stroke mostly outside it, at the Otsu level itself).
    code = np.zeros((h, w), np.uint8)
    code[y0:y1, x0:x1] = bright[y0:y1, x0:x1]
    code = cv2.dilate(code, np.ones((3, 3), np.uint8), iterations=2)
    strokes = np.zeros((h, w), np.uint8)
    strokes[ry0:ry1, x0:rx1] = tophat[ry0:ry1, x0:rx1] > threshold
    count, blobs, stats, _ = cv2.connectedComponentsWithStats(strokes, connectivity=8)
    inside = np.bincount(blobs[y0:y1, x0:x1].ravel(), minlength=count)
    outside = np.nonzero(inside < 0.5 * stats[:, cv2.CC_STAT_AREA])[0]
    sign = cv2.dilate(np.isin(blobs, outside[outside > 0]).astype(np.uint8),
                      np.ones((3, 3), np.uint8))
    code[sign > 0] = 0
    # Nothing left of the box: the label's text ends there ("KOREA(1069)"). A mask grown into
    # the "A" cut its leg off in every synthetic frame and never in a real one.
    code[:, :x0] = 0
    # Fill from the bottle only: a normalised blur of the pixels that are no print, plus the
    # bottle's own grain so that the fill is no smooth patch either.
    paper = 1.0 - cv2.dilate(np.maximum(bright, code), np.ones((3, 3), np.uint8))
    paper = paper.astype(np.float32)
    region = (slice(ry0, ry1), slice(rx0, rx1))
    image = frame[region].astype(np.float32)
    fill, near = _paper_fill(image, paper[region], 4.0)
    # Deep inside a large code the near bottle is far: the wider average there.
    fill = np.where(near[:, :, None] > 0.2, fill, _paper_fill(image, paper[region], 12.0)[0])
    around = paper[region] > 0
    grain = float(np.std((image - fill)[around])) if around.any() else 0.0
    noise = np.random.default_rng(0).standard_normal(image.shape).astype(np.float32)
    fill = fill + noise * min(grain, 6.0)
    out = frame.copy()
    mask = code[region] > 0
    out[region][mask] = np.clip(fill[mask], 0, 255).astype(np.uint8)
    return out


def _paper_fill(image: np.ndarray, paper: np.ndarray,
                sigma: float) -> Tuple[np.ndarray, np.ndarray]:
    """Gaussian average (`sigma` px) of an image's paper pixels only, and the paper's share."""
    weight = cv2.GaussianBlur(paper, (0, 0), sigma)
    total = cv2.GaussianBlur(image * paper[:, :, None], (0, 0), sigma)
    return total / np.maximum(weight, 1e-6)[:, :, None], weight


def load_backgrounds(folder: Path, class_names: Sequence[str] = DEFAULT_CLASSES,
                     hold_out: Sequence[str] = ()) -> List[RealBackground]:
    """Load every labelled frame of a folder (seed format or plain) except the held-out stems."""
    held = set(hold_out)
    images = [p for p in folder_images(Path(folder)) if p.stem not in held]
    missing = held - {p.stem for p in folder_images(Path(folder))}
    if missing:
        raise ValueError(f'--hold-out names no frame of {folder}: {sorted(missing)}')
    if not images:
        raise ValueError(f'no real backgrounds left in {folder}')
    return [RealBackground.load(p, class_names) for p in images]


def _ink_box(coverage: np.ndarray, pad_x: float, pad_y: float) -> RoiBox:
    """Label box of the printed code: its ink (half its peak coverage or more) + padding."""
    ys, xs = np.nonzero(coverage > _INK_LEVEL * float(coverage.max()))
    x0, x1 = xs.min() - pad_x, xs.max() + 1 + pad_x
    y0, y1 = ys.min() - pad_y, ys.max() + 1 + pad_y
    return RoiBox(center_x=float(x0 + x1) / 2, center_y=float(y0 + y1) / 2,
                  width=float(x1 - x0), height=float(y1 - y0))


def print_code(rng: np.random.Generator, background: RealBackground, text: str,
               contrast: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
    """
    Print `text` where the background's code was, with its measured look (jittered).

    `contrast`: the label's print (code and the rest) x its measured contrast (default: drawn
    from `CONTRAST_SCALE`); the code's own x `CODE_TO_LABEL` more, within `CONTRAST_SCALE`.
    Returns (frame float32 BGR, ink coverage 0..1 in frame pixels), before any camera effect.
    """
    if contrast is None:
        contrast = rng.uniform(*CONTRAST_SCALE)
    return _print_on(rng, background, background.with_print_contrast(contrast), text, contrast)


def _print_on(rng: np.random.Generator, background: RealBackground, lit: np.ndarray, text: str,
              contrast: float) -> Tuple[np.ndarray, np.ndarray]:
    """`print_code` on `lit`, the background's clean frame at `contrast` (made once per frame)."""
    look = background.look
    height = look.ink_height * rng.uniform(0.92, 1.08)
    width = height * natural_aspect(text) * background.condense * rng.uniform(0.92, 1.08)
    font = FONT_FILES[int(rng.choice(len(FONT_FILES), p=FONT_WEIGHTS))]
    coverage, (ccx, ccy) = render_code_ink(
        text, height, width, slant=look.slant + rng.uniform(-0.08, 0.08),
        angle_deg=look.angle_deg + rng.uniform(-1.5, 1.5), font_name=font,
        stroke_px=rng.uniform(0.0, 0.35))
    # The measured blur includes the camera's; the camera below adds its own again.
    sigma = max(0.3, look.blur_sigma * rng.uniform(0.5, 1.0))
    coverage = cv2.GaussianBlur(coverage, (0, 0), sigma)
    h, w = background.clean.shape[:2]
    # The new code starts where the old one did (the labelled box's centre less half the old
    # ink's width: right after "KOREA"), on the same text line.
    x = background.box[0] - look.ink_width / 2 + width / 2 + rng.uniform(-1.5, 1.5)
    y = look.ink_cy + rng.uniform(-1.0, 1.0)
    shift = np.array([[1.0, 0.0, x - ccx], [0.0, 1.0, y - ccy]], np.float32)
    layer = cv2.warpAffine(coverage, shift, (w, h), flags=cv2.INTER_LINEAR)
    paper = np.array(look.paper_bgr, np.float32)
    # The measured ink-paper contrast, scaled: 0.4 x a bright real print is the dimmest one.
    # The code's own ratio on top, within the same bounds: never dimmer than the dimmest print.
    code_contrast = np.clip(contrast * rng.uniform(*CODE_TO_LABEL), *CONTRAST_SCALE)
    ink = paper + (np.array(look.ink_bgr, np.float32) - paper) * code_contrast \
        + rng.uniform(-8, 8, 3)
    alpha = layer[:, :, None] * rng.uniform(0.85, 1.0)
    frame = lit * (1 - alpha) + ink.astype(np.float32) * alpha
    return frame, layer


def _camera(rng: np.random.Generator, frame: np.ndarray, device: int) -> np.ndarray:
    """Photometry, optics and device of one shot (float BGR in, uint8 out; JPEG later)."""
    h, w = frame.shape[:2]
    profile = DEVICES[device]
    glare = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(0, 3))):
        centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        axes = (int(rng.uniform(8, 40)), int(rng.uniform(3, 10)))
        cv2.ellipse(glare, centre, axes, float(rng.uniform(-20, 20)), 0, 360,
                    float(rng.uniform(0.2, 0.8)), -1, cv2.LINE_AA)
    frame = frame + cv2.GaussianBlur(glare, (0, 0), rng.uniform(2, 8))[:, :, None] * np.array(
        [200.0, 225.0, 255.0], np.float32)
    frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.01, 0.8))          # defocus
    if rng.random() < 0.3:                                                    # motion blur
        length = int(rng.integers(2, 6))
        kernel = np.zeros((length * 2 + 1, length * 2 + 1), np.float32)
        angle = rng.uniform(0, math.pi)
        for t in np.linspace(-length, length, 4 * length + 1):
            kernel[int(round(length + t * math.sin(angle))),
                   int(round(length + t * math.cos(angle)))] = 1.0
        frame = cv2.filter2D(frame, -1, kernel / kernel.sum())
    frame = np.clip(frame * rng.uniform(0.6, 1.45) * rng.uniform(*profile.gain), 0, 255)
    gamma = rng.uniform(0.75, 1.3) * rng.uniform(*profile.gamma)
    frame = 255.0 * np.power(frame / 255.0, gamma)
    cast = np.array(profile.cast_bgr, np.float32) * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    frame = frame * cast
    frame += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(
        rng.uniform(*profile.noise_sigma))
    return np.clip(frame, 0, 255).astype(np.uint8)


def _placement(rng: np.random.Generator, centre: Tuple[float, float], size: Tuple[int, int],
               scale_range: Tuple[float, float],
               reach: Tuple[Tuple[float, float], Tuple[float, float]]) -> Tuple[np.ndarray, float]:
    """
    Draw a move: scale and rotate (+-4 deg) about `centre`, which lands anywhere in `reach`.

    `reach`: ((x0, x1), (y0, y1)), fractions of a `size` (w, h) frame. Returns (2x3 matrix,
    scale).
    """
    w, h = size
    scale, angle = rng.uniform(*scale_range), rng.uniform(-4.0, 4.0)
    target = (rng.uniform(*reach[0]) * w, rng.uniform(*reach[1]) * h)
    matrix = cv2.getRotationMatrix2D(centre, angle, scale)
    matrix[:, 2] += np.array(target) - np.array(centre)
    return matrix, scale


def _move(image: np.ndarray, code_free: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Warp a float32 frame by `matrix`; its uncovered borders: `code_free`, reflected."""
    h, w = image.shape[:2]
    # Not the frame itself reflected: that would add a mirrored, unlabelled copy of the code.
    valid = cv2.warpAffine(np.ones((h, w), np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR)
    border = cv2.warpAffine(code_free.astype(np.float32), matrix, (w, h),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    moved = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR)
    return moved + border * (1.0 - valid[:, :, None])


def render_real_frame(rng: np.random.Generator, background: RealBackground, text: str,
                      device: int = 0) -> Tuple[np.ndarray, RoiBox]:
    """
    Render one frame: `text` printed on a real background, moved and shot by a camera.

    Returns (BGR uint8 frame of the background's size, the code's label box in pixels).
    The whole frame is scaled (`FRAME_SCALE`), rotated (+-4 deg) and shifted so the code lands
    anywhere in `FRAME_REACH` (the central 92 % x 88 % of the frame; borders reflected).
    """
    contrast = rng.uniform(*CONTRAST_SCALE)
    lit = background.with_print_contrast(contrast)         # the label, and the borders below
    frame, layer = _print_on(rng, background, lit, text, contrast)
    h, w = frame.shape[:2]
    # Moved about the labelled box centre, whatever the text: classes differ only in the code.
    code = (float(background.box[0]), float(background.box[1]))
    matrix, scale = _placement(rng, code, (w, h), FRAME_SCALE, FRAME_REACH)
    frame = _move(frame, lit, matrix)
    layer = cv2.warpAffine(layer, matrix, (w, h), flags=cv2.INTER_LINEAR)
    look = background.look
    box = _ink_box(layer, look.pad_x * scale, look.pad_y * scale)
    return _camera(rng, frame, device), box


def reshoot(rng: np.random.Generator, frame: np.ndarray, box: Tuple[float, float, float, float],
            device: int = 1, code_free: Optional[np.ndarray] = None) -> Tuple[np.ndarray, RoiBox]:
    """
    Move a real frame as it is (its own printed code) and shoot it with a simulated camera.

    The geometry of `render_real_frame` (scaled by `RESHOOT_SCALE`, placed in `RESHOOT_REACH`;
    rotation, code-free reflected borders) and its camera, for evaluating on a held-out real
    frame under other conditions.
    `code_free`: the frame with its code removed, for the borders (default `remove_code`).
    Returns (BGR uint8 frame, the labelled box moved with it).
    """
    h, w = frame.shape[:2]
    cx, cy, bw, bh = box
    if code_free is None:
        code_free = remove_code(frame, box)
    matrix, _ = _placement(rng, (cx, cy), (w, h), RESHOOT_SCALE, RESHOOT_REACH)
    moved = _move(frame.astype(np.float32), code_free, matrix)
    corners = np.array([[cx - bw / 2, cy - bh / 2, 1], [cx + bw / 2, cy - bh / 2, 1],
                        [cx - bw / 2, cy + bh / 2, 1], [cx + bw / 2, cy + bh / 2, 1]])
    points = corners @ matrix.T
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    return _camera(rng, moved, device), RoiBox(center_x=float(x0 + x1) / 2,
                                               center_y=float(y0 + y1) / 2,
                                               width=float(x1 - x0), height=float(y1 - y0))


def generate_real_dataset(out_dir: Path, backgrounds: Sequence[RealBackground], num_train: int,
                          num_test: int, seed: int = 0, synthetic_fraction: float = 0.0,
                          class_names: Sequence[str] = DEFAULT_CLASSES,
                          codes: Optional[Mapping[str, str]] = None,
                          progress: Optional[object] = None) -> Dict[str, int]:
    """
    Write a seed-format dataset printed on real backgrounds; return images per split.

    Same layout as `synthetic.generate_dataset` (train device 0, test device 1, every label
    with its box). Each image draws its class uniformly and its background uniformly; a
    `synthetic_fraction` of the images is a fully synthetic frame instead. `codes` maps a class
    to its printed text (default `code_text`: 'p3707' -> '(3707)').
    """
    if not backgrounds:
        raise ValueError('no real backgrounds')
    if not 0.0 <= synthetic_fraction <= 1.0:
        raise ValueError(f'synthetic_fraction must be in [0, 1], got {synthetic_fraction}')
    texts = [dict(codes or {}).get(name, code_text(name)) for name in class_names]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / CLASSES_FILE).write_text('\n'.join(class_names) + '\n', encoding='utf-8')
    counts = {}
    split_seeds = np.random.SeedSequence(seed).spawn(2)
    for split, count, device, split_seed in (('train', num_train, 0, split_seeds[0]),
                                             ('test', num_test, 1, split_seeds[1])):
        image_dir, label_dir = out_dir / 'images' / split, out_dir / 'labels' / split
        image_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        for index, image_seed in enumerate(split_seed.spawn(count)):
            rng = np.random.default_rng(image_seed)
            class_id = int(rng.integers(len(class_names)))
            if rng.random() < synthetic_fraction:
                bgr, box = render_frame(rng, class_id, device=device, class_names=class_names)
                source = 'syn'
            else:
                background = backgrounds[int(rng.integers(len(backgrounds)))]
                bgr, box = render_real_frame(rng, background, texts[class_id], device=device)
                source = 'real'
            stem = f'{class_names[class_id]}_{index:05d}_{source}'
            quality = int(rng.integers(70, 96)) if device == 0 else DEVICES[device].jpeg_quality
            cv2.imwrite(str(image_dir / f'{stem}.jpg'), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
            height, width = bgr.shape[:2]
            line = '{} {:.6f} {:.6f} {:.6f} {:.6f}\n'.format(
                class_id, *roi_to_yolo_box(box, width, height))
            (label_dir / f'{stem}.txt').write_text(line, encoding='utf-8')
            if progress is not None:
                progress(1)
        counts[split] = count
    return counts
