# SPDX-License-Identifier: Apache-2.0
"""
A RejectEvent as a row of the shift database (duck-typed on msg/RejectEvent.msg's fields).

Fields a newer RejectEvent may carry are read if present: the cameras of a multi-view part
from its `views` (ViewResult.camera each), else the header's frame_id; the model id from a
`model_id` field, else from the caller (hmi_node keeps it from the part's InspectionResult).
"""
from typing import Dict, Optional

from acnn_ros.core.messages import DECISION_REJECT, stamp_ns
from acnn_ros.core.reject.counters import Delivery
from acnn_ros.core.reject.decision import RejectReason


def _name(enum_cls, value) -> str:
    try:
        return enum_cls(int(value)).name
    except ValueError:
        return f'UNKNOWN_{int(value)}'


def cameras_of(event) -> str:
    """Return the comma-separated cameras of a RejectEvent: its views', else its frame_id."""
    cameras = [str(getattr(view, 'camera', '')) for view in getattr(event, 'views', None) or ()]
    return ','.join(cameras) if any(cameras) else str(event.header.frame_id)


def part_row(event, shift_id: int, model_id: Optional[str] = None) -> Dict:
    """Return the `parts` row (without station_id) of one RejectEvent."""
    return {
        'shift_id': shift_id,
        'part_id': int(event.part_id),
        'stamp_ns': stamp_ns(event.header.stamp),
        'frame_id': str(event.header.frame_id),
        'class_id': int(event.class_id),
        'class_name': str(event.class_name),
        'confidence': float(event.confidence),
        'decision': 'reject' if int(event.decision) == DECISION_REJECT else 'accept',
        'reason': _name(RejectReason, event.reason),
        'reason_detail': str(event.reason_detail),
        'fail_safe': bool(event.fail_safe),
        'cameras': cameras_of(event),
        'model_id': str(getattr(event, 'model_id', '') or model_id or ''),
        'delivery': _name(Delivery, event.delivery),
        'actuator': str(event.actuator),
        'due_ns': stamp_ns(event.due_time),
        'fire_ns': stamp_ns(event.fire_time),
    }
