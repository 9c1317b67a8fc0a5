# SPDX-License-Identifier: Apache-2.0
"""
The message types of a bag: this package's messages in the project's typestore, and builders.

The project has one `rosbags` typestore (core/image_cdr.typestore: the ROS 2 Kilted types, also
the image wire's); `project_typestore` registers this package's messages into it from their
.msg files, so bags holding InspectionResult, RejectEvent, PartTrigger or LineCounters read
and write without ROS. The builders take their field values from `acnn_ros.core.messages`
(the one conversion between messages and core types), pixels from core/image_codec
(`encode_image`) and headers and image messages from core/image_cdr (`make_header`,
`make_image`, `make_compressed`).
"""
import functools
from pathlib import Path
from typing import Optional

from acnn_ros.core.image_cdr import make_compressed, make_header, make_image, typestore
from acnn_ros.core.image_codec import encode_image
from acnn_ros.core.messages import result_fields
from acnn_ros.core.results import InspectionOutcome, InspectionStatus, RoiBox
import numpy as np
from rosbags.typesys import get_types_from_msg
from rosbags.typesys.store import Typestore

PACKAGE = 'acnn_ros'
INSPECTION_RESULT_TYPE = 'acnn_ros/msg/InspectionResult'
PART_TRIGGER_TYPE = 'acnn_ros/msg/PartTrigger'
REJECT_EVENT_TYPE = 'acnn_ros/msg/RejectEvent'
LINE_COUNTERS_TYPE = 'acnn_ros/msg/LineCounters'
GROUND_TRUTH_MODEL_ID = 'ground_truth'


class BagError(RuntimeError):
    """A bag cannot be opened, read or written; the message names the bag and the reason."""


def project_msg_dir() -> Path:
    """Return the directory holding this package's .msg files (source tree, else install)."""
    source = Path(__file__).resolve().parents[3] / 'msg'   # <repo>/acnn_ros/core/replay/
    if source.is_dir():
        return source
    try:
        from ament_index_python.packages import get_package_share_directory
        installed = Path(get_package_share_directory(PACKAGE)) / 'msg'
    except (ImportError, LookupError, ValueError) as exc:
        raise BagError(f'cannot find the {PACKAGE} message definitions: {exc}') from exc
    if not installed.is_dir():
        raise BagError(f'cannot find the {PACKAGE} message definitions in {installed}')
    return installed


@functools.lru_cache(maxsize=1)
def project_typestore() -> Typestore:
    """
    Return the project's typestore (core/image_cdr) with this package's messages registered.

    The ROS 2 Kilted types plus acnn_ros/msg/*: the same store object the image wire uses.
    """
    store = typestore()
    types = {}
    for path in sorted(project_msg_dir().glob('*.msg')):
        types.update(get_types_from_msg(path.read_text(encoding='utf-8'),
                                        f'{PACKAGE}/msg/{path.stem}'))
    store.register(types)
    return store


def image_message(bgr: np.ndarray, stamp_ns: int, frame_id: str, encoding: str = 'bgr8'):
    """
    Build a sensor_msgs/Image (rosbags class) from a BGR uint8 frame.

    `encoding` is any of core/image_codec.SUPPORTED_ENCODINGS (`encode_image` converts).
    """
    step, data = encode_image(bgr, encoding)
    height, width = bgr.shape[:2]
    return make_image(stamp_ns, frame_id, encoding, width, height, step, data)


def compressed_image_message(jpeg_bytes: bytes, stamp_ns: int, frame_id: str,
                             fmt: str = 'jpeg'):
    """Build a sensor_msgs/CompressedImage (rosbags class) from encoded bytes."""
    return make_compressed(stamp_ns, frame_id, fmt, jpeg_bytes)


def inspection_result_message(stamp_ns: int, frame_id: str, outcome: InspectionOutcome,
                              total_ms: float = 0.0):
    """Build the acnn_ros/InspectionResult (rosbags class) of an outcome, as the node does."""
    types = project_typestore().types
    fields, roi = result_fields(outcome, total_ms)
    fields['class_scores'] = np.asarray(fields['class_scores'], dtype=np.float32)
    return types[INSPECTION_RESULT_TYPE](
        header=make_header(stamp_ns, frame_id),
        roi=types['sensor_msgs/msg/RegionOfInterest'](**roi), **fields)


def ground_truth_message(stamp_ns: int, frame_id: str, class_id: int, class_name: str,
                         roi: Optional[RoiBox], image_width: int, image_height: int):
    """
    Build the ground truth of one frame as an acnn_ros/InspectionResult (rosbags class).

    Ground truth travels in the bag on its own topic with the image's header: status OK,
    the true class with confidence 1, the true ROI (width 0 when the frame has no box) and
    model_id 'ground_truth'.
    """
    truth = InspectionOutcome(status=InspectionStatus.OK, class_id=int(class_id),
                              class_name=class_name, confidence=1.0, roi=roi,
                              image_width=image_width, image_height=image_height,
                              model_id=GROUND_TRUTH_MODEL_ID)
    return inspection_result_message(stamp_ns, frame_id, truth)
