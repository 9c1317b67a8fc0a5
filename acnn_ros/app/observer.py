# SPDX-License-Identifier: Apache-2.0
"""
What the demo sees of the line: its topics, and the ground truth of the frames it captured.

`LineObserver` is a node of its own that subscribes to the line's `part`, `inspection` and
`reject` topics, as any other process could, storing the messages as received bytes (decoded
when asked) with their publishers' sequence numbers, so that it keeps up with the line and
reports its own losses apart from the line's. `GroundTruth` wraps the camera's frame source
(camera_node takes a `source_factory`): the synthetic generator and YOLO-labelled image
folders know the class of each frame they deliver, and camera_node publishes every delivered
frame as the next part (part ids 1, 2, ... in delivery order), so the n-th recorded class is
the truth of part n.
"""
import threading
from typing import Dict, List, Optional, Sequence

from acnn_ros.app.bench.soak_accounting import receipt_losses, ReceiptLosses
from acnn_ros.core.camera.config import CameraConfig
from acnn_ros.core.camera.source import CameraSourceError, create_source, Frame, FrameSource
from acnn_ros.core.messages import frame_key
from acnn_ros.core.reject.reconciliation import (CapturedPart, LineLedger, RejectEventRecord,
                                                 ViewRecordSummary)
from acnn_ros.msg import InspectionResult, PartTrigger, RejectEvent
from acnn_ros.nodes.line_qos import LATE_JOINER_QOS
from rclpy.node import Node
from rclpy.serialization import deserialize_message


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
    """
    Records the line's `part`, `inspection` and `reject` messages; decodes them when asked.

    A callback only appends the serialized bytes with the publisher and its sequence number
    (raw subscriptions, PER_PART_QOS), so the observer keeps up with the line at its rated
    rate even in a busy process; `ledger()` decodes what arrived since its last call. The
    sequence numbers tell the observer's own losses apart from the line's (`receipt_losses`).
    """

    TOPICS = (('part', PartTrigger), ('inspection', InspectionResult), ('reject', RejectEvent))

    def __init__(self, truth: GroundTruth, **kwargs):
        super().__init__('demo_monitor', **kwargs)
        self.truth = truth
        self._lock = threading.Lock()
        # topic -> [(bytes, publisher gid, publication sequence number)]; list.append is atomic.
        self._received = {topic: [] for topic, _ in self.TOPICS}
        self._decoded = {topic: 0 for topic, _ in self.TOPICS}
        self._seen = {topic: {} for topic, _ in self.TOPICS}   # publisher -> numbers decoded
        self._parts = []          # (part id, frame key) of each PartTrigger
        self._results = []        # (frame key, status) of each InspectionResult
        self._decisions = []      # RejectEventRecord of each RejectEvent
        for topic, msg_type in self.TOPICS:
            self.create_subscription(msg_type, topic, _Recorder(self._received[topic]),
                                     LATE_JOINER_QOS, raw=True)

    def counts(self) -> Dict[str, int]:
        """Return how many messages of each topic arrived so far (nothing decoded)."""
        return {topic: len(received) for topic, received in self._received.items()}

    def receipt_losses(self) -> Dict[str, ReceiptLosses]:
        """Return, per topic, what the publishers' sequence numbers say this observer missed."""
        return {topic: receipt_losses((gid, seq) for _, gid, seq in list(received))
                for topic, received in self._received.items()}

    def ledger(self) -> LineLedger:
        """Return a copy of what was seen so far (captured parts with their ground truth)."""
        with self._lock:
            self._decode()
            parts, results = list(self._parts), list(self._results)
            decisions = list(self._decisions)
        captured = [CapturedPart(part_id, key, self.truth.class_name(part_id))
                    for part_id, key in parts]
        return LineLedger(captured, results, decisions)

    def _decode(self) -> None:
        for topic, msg_type in self.TOPICS:
            received = self._received[topic]
            end = len(received)
            seen = self._seen[topic]
            for data, gid, number in received[self._decoded[topic]:end]:
                if number is not None:
                    # The same message delivered twice to this reader (a publisher's
                    # transient-local history re-sent when it re-matched): counted by
                    # receipt_losses, not the line's duplicate (which has its own number).
                    numbers = seen.setdefault(gid, set())
                    if number in numbers:
                        continue
                    numbers.add(number)
                msg = deserialize_message(data, msg_type)
                if topic == 'part':
                    self._parts.append((int(msg.part_id), frame_key(msg.header)))
                elif topic == 'inspection':
                    self._results.append((frame_key(msg.header), int(msg.status)))
                else:
                    self._decisions.append(RejectEventRecord(
                        int(msg.part_id), frame_key(msg.header),
                        msg.decision == msg.DECISION_REJECT, int(msg.reason),
                        int(msg.delivery), tuple(ViewRecordSummary(
                            v.camera, int(v.status), v.class_name, float(v.confidence))
                            for v in msg.views)))
            self._decoded[topic] = end


class _Recorder:
    """A raw subscription's callback: keeps the bytes, the publisher and its sequence number."""

    def __init__(self, received: list):
        self.received = received
        self._publishers = {}     # one bytes object per publisher gid (an hour holds millions)

    def __call__(self, data: bytes, info) -> None:
        gid = info.get('publisher_gid')
        gid = bytes(gid['data']) if gid else b''
        self.received.append((data, self._publishers.setdefault(gid, gid),
                              info.get('publication_sequence_number')))
