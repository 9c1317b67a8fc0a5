# SPDX-License-Identifier: Apache-2.0
"""
The one conversion between the package's messages and the core types.

Duck-typed on the field names of msg/*.msg and the standard messages, so the same functions
serve rclpy messages (nodes, demo) and rosbags messages (bag I/O, offline evaluation). The core
imports no message package: functions that build a message return its fields as keyword
arguments (`InspectionResult(header=..., roi=RegionOfInterest(**roi), **fields)`), and the
caller supplies the classes of its own message library.

Rules kept here and nowhere else:
- a frame is identified by its header: `frame_key(header)`;
- an InspectionResult carries an ROI when it is OK and its `roi` has a non-zero width and height;
- a status or reason value outside the enums is garbage: it becomes an ERROR outcome that names
  the value (fail-safe), never an exception;
- an image message is inspected through the pipeline's decoder of its kind (raw or
  compressed: core/image_codec.is_compressed); image messages are rclpy or rosbags messages
  alike (core/image_cdr: the nodes' raw path; core/image_codec decodes their fields);
- a RejectEvent carries the exact header of its frame (from the frame key, not a float time).

The enums of the core (InspectionStatus, RejectReason, Delivery) equal the .msg constants by
value, so fields are plain `int(enum)`; test/test_message_conversion.py keeps them equal.
"""
from typing import Dict, List, Optional, Tuple

from acnn_ros.core.frame_key import FrameKey, NS_PER_S
from acnn_ros.core.image_codec import DEFAULT_MAX_PIXELS, is_compressed
from acnn_ros.core.results import InspectionOutcome, InspectionStatus, RoiBox

IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE_TYPE = 'sensor_msgs/msg/CompressedImage'
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)
# RejectEvent.decision: the core's decision is a bool (`Decision.reject`).
DECISION_ACCEPT = 0
DECISION_REJECT = 1
# The bound of an ROI whose image size is not known (an outcome read back from a message).
UNKNOWN_IMAGE_SIZE = 1 << 30


def stamp_ns(stamp) -> int:
    """Return a builtin_interfaces/Time as integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def stamp_fields(nanoseconds: int) -> Dict[str, int]:
    """Return builtin_interfaces/Time fields for integer nanoseconds."""
    return {'sec': int(nanoseconds // NS_PER_S), 'nanosec': int(nanoseconds % NS_PER_S)}


def seconds_stamp_fields(seconds: Optional[float]) -> Dict[str, int]:
    """Return Time fields for a time in float seconds; 0 (the "no time" stamp) for None or 0."""
    if not seconds:
        return stamp_fields(0)
    return stamp_fields(int(round(seconds * 1e9)))


def frame_key(header) -> FrameKey:
    """Return the identity of the frame a std_msgs/Header belongs to."""
    return FrameKey(stamp_ns(header.stamp), header.frame_id)


def header_fields(key: FrameKey) -> Tuple[Dict[str, int], str]:
    """Return (stamp fields, frame_id) that rebuild the exact header of a frame key."""
    return stamp_fields(key.stamp_ns), key.frame_id


def roi_from_result(msg) -> Optional[RoiBox]:
    """Return the ROI an InspectionResult carries in source pixels, None when it has none."""
    if msg.status != InspectionStatus.OK or msg.roi.width == 0 or msg.roi.height == 0:
        return None
    return RoiBox(float(msg.roi_center_x), float(msg.roi_center_y), float(msg.roi.width),
                  float(msg.roi.height))


def outcome_from_result(msg) -> InspectionOutcome:
    """Return the core twin of an InspectionResult; an unknown status becomes an ERROR."""
    if msg.status not in set(InspectionStatus):   # garbage in: reject, say why
        return InspectionOutcome.error(
            f'unknown InspectionResult status {msg.status}: {msg.detail}')
    return InspectionOutcome(
        status=InspectionStatus(msg.status), detail=msg.detail, class_id=int(msg.class_id),
        class_name=msg.class_name, confidence=float(msg.confidence),
        class_scores=tuple(float(s) for s in msg.class_scores), model_id=msg.model_id,
        roi=roi_from_result(msg))


def result_fields(outcome: InspectionOutcome, total_ms: float) -> Tuple[Dict, Dict]:
    """
    Return (fields, roi fields) of the InspectionResult for an outcome.

    `total_ms` is the node's span, reception of the image to publication of the result; the
    ROI is clipped to the image as sensor_msgs/RegionOfInterest requires. `class_scores` is a
    list of floats (what rclpy takes; rosbags wants `np.float32` arrays: wrap it there).
    """
    roi = roi_fields(outcome)
    center = (0.0, 0.0)
    if outcome.roi is not None:
        center = (float(outcome.roi.center_x), float(outcome.roi.center_y))
    fields = {
        'status': int(outcome.status), 'detail': outcome.detail,
        'class_id': int(outcome.class_id), 'class_name': outcome.class_name,
        'confidence': float(outcome.confidence),
        'class_scores': [float(s) for s in outcome.class_scores],
        'roi_center_x': center[0], 'roi_center_y': center[1], 'model_id': outcome.model_id,
        'preprocess_ms': float(outcome.times.preprocess_ms),
        'inference_ms': float(outcome.times.inference_ms),
        'postprocess_ms': float(outcome.times.postprocess_ms), 'total_ms': float(total_ms)}
    return fields, roi


def roi_fields(outcome: Optional[InspectionOutcome]) -> Dict:
    """
    Return the sensor_msgs/RegionOfInterest fields of an outcome's ROI (zero: none).

    Clipped to the image; an outcome read back from an InspectionResult carries no image size
    (its box was clipped when it was published): its box is kept as it is.
    """
    roi = {'x_offset': 0, 'y_offset': 0, 'width': 0, 'height': 0, 'do_rectify': False}
    if outcome is not None and outcome.roi is not None:
        x, y, w, h = outcome.roi.clipped(outcome.image_width or UNKNOWN_IMAGE_SIZE,
                                         outcome.image_height or UNKNOWN_IMAGE_SIZE)
        roi.update(x_offset=x, y_offset=y, width=w, height=h)
    return roi


def view_result_fields(record) -> List[Tuple[Dict, Dict]]:
    """
    Return (fields, roi fields) of each ViewResult of a part record (RejectEvent.views).

    One per camera of a station, in the order of its `cameras`; none with one camera. A view
    without an OK result has class -1 and confidence 0.
    """
    views = []
    for view in record.views:
        outcome = view.outcome if int(view.status) == InspectionStatus.OK else None
        views.append(({
            'camera': view.camera, 'status': int(view.status),
            'deciding': bool(view.deciding),
            'class_id': int(outcome.class_id) if outcome is not None else -1,
            'class_name': outcome.class_name if outcome is not None else '',
            'confidence': float(outcome.confidence) if outcome is not None else 0.0},
            roi_fields(outcome)))
    return views


def reject_event_fields(record) -> Tuple[Dict, Dict[str, Dict[str, int]]]:
    """
    Return (fields, time fields) of the RejectEvent for a part record (core/reject/scheduler).

    The time fields are `due_time` and `fire_time` (0 when the part was not fired); the header
    is `header_fields(record.key)`. Without an outcome (no result in time) the class is -1.
    """
    decision, outcome = record.decision, record.outcome
    fields = {
        'part_id': int(record.part_id),
        'decision': DECISION_REJECT if decision.reject else DECISION_ACCEPT,
        'reason': int(decision.reason), 'reason_detail': decision.detail,
        'fail_safe': bool(decision.fail_safe), 'delivery': int(record.delivery),
        'actuator': record.actuator,
        'class_id': int(outcome.class_id) if outcome is not None else -1,
        'class_name': outcome.class_name if outcome is not None else '',
        'confidence': float(outcome.confidence) if outcome is not None else 0.0}
    times = {'due_time': seconds_stamp_fields(record.due_time),
             'fire_time': seconds_stamp_fields(record.fire_time)}
    return fields, times


def inspect_image_message(pipeline, msg, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS):
    """
    Inspect an Image or CompressedImage with an InspectionPipeline: (outcome, BGR or None).

    The pipeline decodes the message's fields itself (`inspect_compressed` / `inspect_image`),
    so the decode time counts in preprocess_ms and an undecodable image is an ERROR outcome,
    the same in the inference node and in offline evaluation. An image over `max_pixels`
    (core/image_codec) is such an ERROR, refused before it is decoded. A message that
    arrived as bytes that did not deserialize (core/image_cdr.UnreadableImage: header and
    reason) is an ERROR.
    """
    if hasattr(msg, 'unreadable'):
        return InspectionOutcome.error(f'bad image message: {msg.unreadable}',
                                       model_id=pipeline.model_id), None
    if is_compressed(msg):
        return pipeline.inspect_compressed(msg.format, msg.data, max_pixels=max_pixels)
    return pipeline.inspect_image(msg.encoding, int(msg.width), int(msg.height), int(msg.step),
                                  msg.data, bool(msg.is_bigendian), max_pixels=max_pixels)
