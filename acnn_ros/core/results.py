# SPDX-License-Identifier: Apache-2.0
"""Inspection outcome: the ROS-free twin of acnn_ros/msg/InspectionResult."""
from dataclasses import dataclass, field
import enum
from typing import Optional, Tuple


class InspectionStatus(enum.IntEnum):
    """Per-frame status; values equal InspectionResult.STATUS_*."""

    OK = 0
    ERROR = 1
    DROPPED = 2


@dataclass(frozen=True)
class RoiBox:
    """Attention ROI in source image pixels (floating point, not clipped)."""

    center_x: float
    center_y: float
    width: float
    height: float

    def clipped(self, image_width: int, image_height: int) -> Tuple[int, int, int, int]:
        """
        Return (x_offset, y_offset, width, height) in whole pixels, inside the image.

        This is what sensor_msgs/RegionOfInterest can carry. A box entirely outside the image
        gives width = height = 0 at the nearest border.
        """
        x0 = min(max(int(round(self.center_x - self.width / 2.0)), 0), image_width)
        y0 = min(max(int(round(self.center_y - self.height / 2.0)), 0), image_height)
        x1 = min(max(int(round(self.center_x + self.width / 2.0)), 0), image_width)
        y1 = min(max(int(round(self.center_y + self.height / 2.0)), 0), image_height)
        return x0, y0, x1 - x0, y1 - y0


@dataclass(frozen=True)
class StageTimes:
    """Milliseconds spent per stage for one frame."""

    preprocess_ms: float = 0.0
    inference_ms: float = 0.0
    postprocess_ms: float = 0.0
    # Decode to verdict inside the pipeline; InspectionResult.total_ms is the node's longer span.
    pipeline_ms: float = 0.0


@dataclass(frozen=True)
class InspectionOutcome:
    """What the pipeline concluded for one frame."""

    status: InspectionStatus
    detail: str = ''
    class_id: int = -1
    class_name: str = ''
    confidence: float = 0.0
    class_scores: Tuple[float, ...] = field(default_factory=tuple)
    roi: Optional[RoiBox] = None
    image_width: int = 0
    image_height: int = 0
    model_id: str = ''
    times: StageTimes = field(default_factory=StageTimes)

    @classmethod
    def error(cls, detail: str, model_id: str = '', **kwargs) -> 'InspectionOutcome':
        """Build an ERROR outcome with a human-readable reason."""
        return cls(status=InspectionStatus.ERROR, detail=detail, model_id=model_id, **kwargs)

    @classmethod
    def dropped(cls, detail: str, model_id: str = '') -> 'InspectionOutcome':
        """Build a DROPPED outcome (frame skipped under overload)."""
        return cls(status=InspectionStatus.DROPPED, detail=detail, model_id=model_id)
