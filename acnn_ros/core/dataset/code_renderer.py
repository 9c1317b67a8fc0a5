# SPDX-License-Identifier: Apache-2.0
"""
Measure how a real printed product code looks, and print any code with that look.

`measure_code` reads one labelled real frame: the code's ink (Otsu inside the labelled box, ink
brighter than the bottle), its tone and the tone around it, the ink's height, width and the
label padding around it, the stroke (ink fraction of the ink box), the text line's angle (the
principal axis of the bright text left of the box: "MADE IN KOREA"), the slant of the
near-vertical strokes and the blur (edge contrast over peak gradient: a step edge blurred by a
Gaussian of sigma s has a peak slope of contrast / (s * sqrt(2 pi))).

`render_code_ink` draws a code's text with a TrueType font (matplotlib's bundled DejaVu Sans
and Computer Modern Sans, via Pillow; no network, no system fonts) at a given ink height,
horizontal condensation, stroke, slant and angle, and returns a coverage map (0..1) for alpha
compositing. Fonts rather than glyphs cut from the frames: a held-out class's code must still
be printable.
"""
from dataclasses import dataclass
from functools import lru_cache
import math
from pathlib import Path
from typing import Tuple

import cv2
import numpy as np

_SUPERSAMPLE = 4
# Heavy, regular and light (Computer Modern Sans: thin, narrow strokes like the real print's).
FONT_FILES = ('DejaVuSans-Bold.ttf', 'DejaVuSans.ttf', 'cmss10.ttf')


@dataclass(frozen=True)
class CodeAppearance:
    """The look of one real printed code, measured from its frame (pixels of that frame)."""

    ink_bgr: Tuple[float, float, float]      # colour of the ink's core (85th percentile)
    paper_bgr: Tuple[float, float, float]    # median colour around the ink inside the box
    ink_height: float                        # ink rows of the code, px
    ink_width: float                         # ink columns of the code, px
    ink_x0: float                            # left edge of the ink, frame px
    ink_cy: float                            # vertical centre of the ink, frame px
    pad_x: float                             # label box minus ink box, per side, px
    pad_y: float
    stroke: float                            # ink fraction of the ink's bounding box
    angle_deg: float                         # text line angle (positive: falls to the right)
    slant: float                             # lean of the vertical strokes, >0 right
    blur_sigma: float                        # Gaussian sigma of the print edges, px


def font_path(name: str) -> Path:
    """Return the path of a font bundled with matplotlib (DejaVu), without importing pyplot."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / 'fonts' / 'ttf' / name
    if not path.is_file():
        raise FileNotFoundError(f'font not found: {path}')
    return path


def _ink_mask(gray: np.ndarray) -> np.ndarray:
    """Return the bright ink of a small grey crop (Otsu), as a boolean mask."""
    threshold, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return gray > threshold


def _line_angle(gray: np.ndarray, x0: int, y0: int, y1: int) -> float:
    """Angle (deg) of the bright text line left of the code, from its principal axis."""
    h, w = gray.shape
    left, top, bottom = max(0, x0 - 110), max(0, y0 - 2), min(h, y1 + 2)
    strip = gray[top:bottom, left:max(left + 1, x0)]
    if strip.size < 200:
        return 0.0
    tophat = cv2.morphologyEx(strip, cv2.MORPH_TOPHAT, np.ones((9, 9), np.uint8))
    ys, xs = np.nonzero(_ink_mask(tophat))
    if len(xs) < 30:
        return 0.0
    points = np.stack([xs, ys], 1).astype(np.float64)
    points -= points.mean(0)
    _, vectors = np.linalg.eigh(points.T @ points)
    vx, vy = vectors[:, -1]
    angle = math.degrees(math.atan2(vy, vx))
    angle = (angle + 90.0) % 180.0 - 90.0
    return float(np.clip(angle, -12.0, 12.0))


def _slant_and_blur(gray: np.ndarray, ink: np.ndarray) -> Tuple[float, float]:
    """Shear of near-vertical edges (dx/dy) and the blur sigma of the edges of a crop."""
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 0.5)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    magnitude = np.hypot(gx, gy)
    vertical = (np.abs(gx) > 2.0 * np.abs(gy)) & (magnitude > np.percentile(magnitude, 70))
    slant = 0.0
    if vertical.sum() >= 10:
        # An edge whose normal is (gx, gy) runs along (-gy, gx): dx/dy = -gy/gx, and a stroke
        # leaning right (top to the right, y down) has dx/dy < 0: the lean is gy/gx.
        slant = float(np.median(gy[vertical] / gx[vertical]))
    contrast = float(gray[ink].mean() - gray[~ink].mean()) if ink.any() and (~ink).any() else 0
    peak = float(np.percentile(magnitude, 97))
    sigma = contrast / (math.sqrt(2.0 * math.pi) * peak) if peak > 1e-3 else 1.0
    return slant, float(np.clip(sigma, 0.3, 2.5))


def measure_code(frame: np.ndarray, box: Tuple[float, float, float, float]) -> CodeAppearance:
    """Measure the printed code inside `box` = (cx, cy, w, h) in pixels of a BGR frame."""
    h, w = frame.shape[:2]
    cx, cy, bw, bh = box
    x0, x1 = max(0, int(round(cx - bw / 2))), min(w, int(round(cx + bw / 2)))
    y0, y1 = max(0, int(round(cy - bh / 2))), min(h, int(round(cy + bh / 2)))
    if x1 - x0 < 4 or y1 - y0 < 4:
        raise ValueError(f'code box {box} too small or outside the frame')
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    crop, colour = gray[y0:y1, x0:x1], frame[y0:y1, x0:x1].reshape(-1, 3)
    ink = _ink_mask(crop)
    rows = np.nonzero(ink.mean(1) > 0.08)[0]
    cols = np.nonzero(ink.any(0))[0]
    if len(rows) == 0 or len(cols) == 0:
        raise ValueError(f'no ink found in the code box {box}')
    ink_h, ink_w = float(rows[-1] - rows[0] + 1), float(cols[-1] - cols[0] + 1)
    stroke = float(ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].mean())
    lean, sigma = _slant_and_blur(crop, ink)
    angle = _line_angle(gray, x0, y0, y1)
    slant = float(np.clip(lean - math.tan(math.radians(angle)), -0.35, 0.35))   # net of angle
    flat = ink.reshape(-1)
    return CodeAppearance(
        ink_bgr=tuple(float(v) for v in np.percentile(colour[flat], 85, axis=0)),
        paper_bgr=tuple(float(v) for v in np.median(colour[~flat], 0)),
        ink_height=ink_h, ink_width=ink_w, ink_x0=float(x0 + cols[0]),
        ink_cy=float(y0 + (rows[0] + rows[-1] + 1) / 2.0),
        pad_x=max(0.0, (bw - ink_w) / 2.0), pad_y=max(0.0, (bh - ink_h) / 2.0),
        stroke=stroke, angle_deg=angle, slant=slant, blur_sigma=sigma)


@lru_cache(maxsize=32)
def _font(name: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(str(font_path(name)), size)


def _raster(text: str, font_name: str, cap_px: int) -> np.ndarray:
    """Text rasterised with its ink rows = the digits' height ~ cap_px; float 0..1, tight."""
    from PIL import Image, ImageDraw

    font = _font(font_name, int(round(cap_px / 0.73)))   # DejaVu digits: 0.73 em tall
    left, top, right, bottom = font.getbbox(text)
    image = Image.new('L', (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(image).text((4 - left, 4 - top), text, fill=255, font=font)
    ink = np.asarray(image, np.float32) / 255.0
    ys, xs = np.nonzero(ink > 0.05)
    return ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def natural_aspect(text: str, font_name: str = FONT_FILES[0]) -> float:
    """Width / height of a text's ink in a font, uncondensed."""
    ink = _raster(text, font_name, 64)
    return ink.shape[1] / ink.shape[0]


def render_code_ink(text: str, height: float, width: float, slant: float = 0.0,
                    angle_deg: float = 0.0, font_name: str = FONT_FILES[0],
                    stroke_px: float = 0.0) -> Tuple[np.ndarray, Tuple[float, float]]:
    """
    Render `text` with ink `height` x `width` px (before rotation) as a coverage map.

    Returns (coverage float32 0..1, (x, y) of the ink's centre inside the map). `slant` shears
    the glyphs (dx per dy, positive leans right), `angle_deg` rotates the whole text (positive
    falls to the right, image coordinates), `stroke_px` thickens (> 0) or thins (< 0) strokes.
    Drawn at 4x and area-downsampled: anti-aliased at 10-px sizes.
    """
    s = _SUPERSAMPLE
    ink = _raster(text, font_name, max(8, int(round(height * s))))
    target_w, target_h = max(2, int(round(width * s))), max(2, int(round(height * s)))
    ink = cv2.resize(ink, (target_w, target_h), interpolation=cv2.INTER_AREA)
    if abs(stroke_px) * s >= 1.0:
        k = int(round(abs(stroke_px) * s)) * 2 + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        ink = cv2.dilate(ink, kernel) if stroke_px > 0 else cv2.erode(ink, kernel)
    margin = int(target_h * (1.0 + abs(slant))) + 8 * s
    canvas = cv2.copyMakeBorder(ink, margin, margin, margin, margin, cv2.BORDER_CONSTANT, 0)
    ch, cw = canvas.shape
    centre = (cw / 2.0, ch / 2.0)
    shear = np.array([[1.0, -slant, slant * centre[1]], [0.0, 1.0, 0.0]], np.float64)
    rotate = cv2.getRotationMatrix2D(centre, -angle_deg, 1.0)
    matrix = rotate @ np.vstack([shear, [0.0, 0.0, 1.0]])
    canvas = cv2.warpAffine(canvas, matrix, (cw, ch), flags=cv2.INTER_LINEAR)
    small = cv2.resize(canvas, (cw // s, ch // s), interpolation=cv2.INTER_AREA)
    return np.clip(small, 0.0, 1.0), (centre[0] / s, centre[1] / s)
