# SPDX-License-Identifier: Apache-2.0
"""
What the demo sees of the line: its topics, and the ground truth of the frames it captured.

`LineObserver` is a node of its own that subscribes to the line's `part`, `inspection` and
`reject` topics, as any other process could. `GroundTruth` wraps the camera's frame source
(camera_node takes a `source_factory`): the synthetic generator and YOLO-labelled image
folders know the class of each frame they deliver, and camera_node publishes every delivered
frame as the next part (part ids 1, 2, ... in delivery order), so the n-th recorded class is
the truth of part n.
"""
import threading
from typing import List, Optional, Sequence

from acnn_ros.core.camera.config import CameraConfig
from acnn_ros.core.camera.source import CameraSourceError, create_source, Frame, FrameSource
from acnn_ros.core.messages import frame_key
from acnn_ros.core.reject.reconciliation import CapturedPart, LineLedger, RejectEventRecord
from acnn_ros.msg import InspectionResult, PartTrigger, RejectEvent
from rclpy.node import Node
from rclpy.qos import QoSProfile


class GroundTruth:
    """The ground-truth class of every frame the camera's source delivered, in order."""

    def __init__(self, class_names: Sequence[str] = ()):
        self.class_names = list(class_names)     # a truth class id indexes these
        self._class_ids: List[Optional[int]] = []
        self.stopped = ''     # why the source ended for good (end of stream, config error)

    def source_factory(self, config: CameraConfig) -> FrameSource:
        """Build the source camera_node would build, wrapped to record (camera_node's factory)."""
        return _RecordingSource(create_source(config), self)

    @property
    def frames(self) -> int:
        """Return how many frames the source delivered (= the last part id published)."""
        return len(self._class_ids)

    def record(self, frame: Frame) -> None:
        """Record the next delivered frame's class."""
        self._class_ids.append(frame.truth_class_id)

    def class_name(self, part_id: int) -> Optional[str]:
        """Return the ground-truth class of a part, None when it is unknown."""
        if not 1 <= part_id <= len(self._class_ids):
            return None
        truth = self._class_ids[part_id - 1]
        return self.class_names[truth] if truth is not None and \
            0 <= truth < len(self.class_names) else None


class _RecordingSource(FrameSource):
    """A frame source that tells a GroundTruth about every frame and permanent failure."""

    def __init__(self, source: FrameSource, truth: GroundTruth):
        self.source = source
        self.truth = truth
        self.description = source.description

    def connect(self) -> None:
        """Open the wrapped source."""
        try:
            self.source.connect()
        except CameraSourceError as exc:
            self._note(exc)
            raise

    def read(self) -> Frame:
        """Read the wrapped source and record the frame's ground truth."""
        try:
            frame = self.source.read()
        except CameraSourceError as exc:
            self._note(exc)
            raise
        self.truth.record(frame)
        return frame

    def close(self) -> None:
        """Release the wrapped source."""
        self.source.close()

    def _note(self, exc: CameraSourceError) -> None:
        if not exc.retryable:    # end of stream or a configuration error: no more frames
            self.truth.stopped = str(exc)


class LineObserver(Node):
    """Subscribes to the line's topics and keeps the ledger of one run."""

    def __init__(self, truth: GroundTruth, **kwargs):
        super().__init__('demo_monitor', **kwargs)
        self.truth = truth
        self._lock = threading.Lock()
        self._parts = []          # (part id, frame key) of each PartTrigger
        self._results = []        # (frame key, status) of each InspectionResult
        self._decisions = []      # RejectEventRecord of each RejectEvent
        qos = QoSProfile(depth=1000)
        self.create_subscription(PartTrigger, 'part', self._on_part, qos)
        self.create_subscription(InspectionResult, 'inspection', self._on_result, qos)
        self.create_subscription(RejectEvent, 'reject', self._on_decision, qos)

    def _on_part(self, msg):
        with self._lock:
            self._parts.append((int(msg.part_id), frame_key(msg.header)))

    def _on_result(self, msg):
        with self._lock:
            self._results.append((frame_key(msg.header), int(msg.status)))

    def _on_decision(self, msg):
        with self._lock:
            self._decisions.append(RejectEventRecord(
                int(msg.part_id), frame_key(msg.header), msg.decision == msg.DECISION_REJECT,
                int(msg.reason), int(msg.delivery)))

    def ledger(self) -> LineLedger:
        """Return a copy of what was seen so far (captured parts with their ground truth)."""
        with self._lock:
            parts, results = list(self._parts), list(self._results)
            decisions = list(self._decisions)
        captured = [CapturedPart(part_id, key, self.truth.class_name(part_id))
                    for part_id, key in parts]
        return LineLedger(captured, results, decisions)
