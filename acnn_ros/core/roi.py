# SPDX-License-Identifier: Apache-2.0
"""
ROI geometry shared by the model (training targets) and the runtime (results).

Conventions used across the project:
- A *normalised* ROI is (cx, cy, w, h) as fractions of the model input frame, the YOLO label
  convention; the ONNX output `roi` uses it.
- The spatial transformer works in the affine-grid convention: (tx, ty) in [-1, 1], with
  align_corners=False, so tx = 2 * cx - 1.
- Source pixels are the camera image's pixels; the preprocessing maps a source frame onto the
  model input by a plain resize (stretch), so the mapping back is a scale per axis.
"""
from dataclasses import dataclass

from acnn_ros.core.results import RoiBox


@dataclass(frozen=True)
class FrameMapping:
    """Maps between a source image and the model input it was resized to."""

    source_width: int
    source_height: int
    input_width: int
    input_height: int

    @property
    def scale_x(self) -> float:
        """Source pixels per model-input pixel along x."""
        return self.source_width / float(self.input_width)

    @property
    def scale_y(self) -> float:
        """Source pixels per model-input pixel along y."""
        return self.source_height / float(self.input_height)

    def normalised_to_source(self, cx: float, cy: float, w: float, h: float) -> RoiBox:
        """Convert a normalised (cx, cy, w, h) ROI to a box in source pixels."""
        return RoiBox(center_x=cx * self.source_width, center_y=cy * self.source_height,
                      width=w * self.source_width, height=h * self.source_height)


def center_error_px(predicted: RoiBox, target: RoiBox) -> float:
    """Euclidean distance between two box centres, in the boxes' pixel units."""
    return ((predicted.center_x - target.center_x) ** 2
            + (predicted.center_y - target.center_y) ** 2) ** 0.5
