# SPDX-License-Identifier: Apache-2.0
"""
How the synthetic label's text is drawn: the engine, the font and the printer's small errors.

The generator drew every label with OpenCV's Hershey font, and the shipped model learned that
one renderer's exact glyph placement (issue 25: OpenCV 5.1.0 places the glyphs a few pixels
differently and the model then misreads ~10 % of frames). `TextStyle` draws the same text
lines another way: with Pillow and a TrueType face (matplotlib's bundled DejaVu family; no
system fonts, nothing downloaded), with extra letter spacing (kerning), per-glyph placement
jitter (another rasteriser, a worn print head), heavier or lighter strokes, and the code
moved on its label line. `None` (the default everywhere) draws exactly as before.

Sizes match OpenCV's: a Hershey SIMPLEX capital at `fontScale` s is about 22 s pixels tall;
a TrueType face is sized so its capitals are as tall (DejaVu capitals: 0.73 em).
"""
from dataclasses import dataclass
from functools import lru_cache
import platform
from typing import Dict, Tuple

import cv2
import numpy as np

ENGINES = ('opencv', 'pillow')
HERSHEY = cv2.FONT_HERSHEY_SIMPLEX
HERSHEY_CAP_PX = 22.0        # cap height of HERSHEY at fontScale 1
DEJAVU_CAP_EM = 0.73


@dataclass(frozen=True)
class TextStyle:
    """One way of printing the label's text (see the module docstring)."""

    engine: str = 'opencv'
    font: str = 'DejaVuSans-Bold.ttf'   # pillow engine only
    kerning_px: float = 0.0             # extra space after every glyph, frame pixels
    glyph_jitter_px: float = 0.0        # random offset of each glyph, frame pixels (max)
    stroke_px: float = 0.0              # > 0 bolder, < 0 thinner strokes, frame pixels
    code_dx_px: float = 0.0             # the code moved along its line / across it
    code_dy_px: float = 0.0
    size_factor: float = 1.0            # all text larger (> 1) or smaller
    seed: int = 0                       # the jitter's own stream (the frame's is untouched)

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise ValueError(f'engine must be one of {ENGINES}, got {self.engine!r}')

    def width(self, text: str, scale: float, supersample: int) -> float:
        """Return the advance of `text` in canvas pixels (for laying out the next words)."""
        return self._prefix(text, scale) + self.kerning_px * supersample * len(text)

    def draw(self, canvas: np.ndarray, text: str, x: float, y: float, scale: float,
             colour: int, supersample: int) -> None:
        """Draw `text` with its baseline-left corner at frame pixel (x, y) on a 2x canvas."""
        rng = np.random.default_rng([self.seed, sum(map(ord, text)), int(x), int(y)])
        layer = np.zeros_like(canvas)
        for index, ch in enumerate(text):
            # Each glyph where the engine itself puts it in the whole string, then moved.
            pen = self._prefix(text[:index], scale) - (self.engine == 'opencv' and index > 0)
            dx, dy = rng.uniform(-1.0, 1.0, 2) * self.glyph_jitter_px * supersample
            self._glyph(layer, ch, x * supersample + pen + index * self.kerning_px *
                        supersample + dx, y * supersample + dy, scale, colour)
        if abs(self.stroke_px) * supersample >= 1.0:
            size = int(round(abs(self.stroke_px) * supersample)) * 2 + 1
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
            layer = cv2.dilate(layer, kernel) if self.stroke_px > 0 else cv2.erode(layer, kernel)
        np.maximum(canvas, layer, out=canvas)

    def _prefix(self, text: str, scale: float) -> float:
        """Return the engine's own advance of `text` (OpenCV: getTextSize of the string)."""
        if not text:
            return 0.0
        scale *= self.size_factor
        if self.engine == 'opencv':
            return float(cv2.getTextSize(text, HERSHEY, scale, _thickness(scale))[0][0])
        return float(_font(self.font, _pixel_size(scale)).getlength(text))

    def _glyph(self, layer, ch: str, x: float, y: float, scale: float, colour: int) -> None:
        scale *= self.size_factor
        if self.engine == 'opencv':
            cv2.putText(layer, ch, (int(round(x)), int(round(y))), HERSHEY, scale, colour,
                        _thickness(scale), cv2.LINE_AA)
            return
        ink, (left, top) = _pillow_glyph(ch, self.font, _pixel_size(scale))
        x0, y0 = int(round(x + left)), int(round(y + top))
        h, w = ink.shape
        ys, xs = slice(max(y0, 0), min(y0 + h, layer.shape[0])), \
            slice(max(x0, 0), min(x0 + w, layer.shape[1]))
        if ys.start >= ys.stop or xs.start >= xs.stop:
            return
        part = ink[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
        region = layer[ys, xs]
        np.maximum(region, (part * (colour / 255.0)).astype(np.uint8), out=region)


def _thickness(scale: float) -> int:
    return 1 if scale < 0.9 else 2      # as synthetic._draw_text


def _pixel_size(scale: float) -> int:
    return max(4, int(round(HERSHEY_CAP_PX * scale / DEJAVU_CAP_EM)))


@lru_cache(maxsize=64)
def _font(name: str, size: int):
    from acnn_ros.core.dataset.code_renderer import font_path
    from PIL import ImageFont
    return ImageFont.truetype(str(font_path(name)), size)


@lru_cache(maxsize=512)
def _pillow_glyph(ch: str, font_name: str, size: int) -> Tuple[np.ndarray, Tuple[int, int]]:
    """Return a glyph's ink (uint8) and its offset from the pen at the baseline."""
    from PIL import Image, ImageDraw
    font = _font(font_name, size)
    left, top, right, bottom = font.getbbox(ch, anchor='ls')
    if right <= left or bottom <= top:
        return np.zeros((1, 1), np.uint8), (0, 0)
    image = Image.new('L', (right - left, bottom - top), 0)
    ImageDraw.Draw(image).text((-left, -top), ch, fill=255, font=font, anchor='ls')
    return np.asarray(image, np.uint8), (left, top)


def renderer_versions() -> Dict[str, str]:
    """Return the versions that decide how a frame's text is drawn (dataset metadata)."""
    import PIL
    return {'opencv': cv2.__version__, 'numpy': np.__version__, 'pillow': PIL.__version__,
            'python': platform.python_version()}


AUGMENT_FONTS = ('DejaVuSans-Bold.ttf', 'DejaVuSans.ttf', 'DejaVuSansMono-Bold.ttf')


def random_text_style(rng: np.random.Generator) -> TextStyle:
    """
    Draw a print style for training augmentation: up to the benchmark's severity 3.

    The ranges stop where core/dataset/corruptions.py's severity 3 is (kerning 1 px, glyph
    jitter 0.35 px, stroke +1 px, the code 4.5 px off), so the corruption benchmark still
    measures severities 4-5 on styles no training frame had; half the frames use Pillow.
    """
    pillow = rng.random() < 0.5
    return TextStyle(engine='pillow' if pillow else 'opencv',
                     font=str(rng.choice(AUGMENT_FONTS)),
                     kerning_px=float(rng.uniform(0.0, 1.0)),
                     glyph_jitter_px=float(rng.uniform(0.0, 0.35)),
                     stroke_px=float(rng.choice([0.0, 0.5, 1.0])),
                     code_dx_px=float(rng.uniform(-4.5, 4.5)),
                     code_dy_px=float(rng.uniform(-1.5, 1.5)),
                     size_factor=float(rng.uniform(0.94, 1.06)),
                     seed=int(rng.integers(2**31)))
