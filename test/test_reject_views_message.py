# SPDX-License-Identifier: Apache-2.0
"""
RejectEvent.views (issue 21): a station's per-camera results on the wire and in bags.

A fused part record becomes a RejectEvent whose `views` say, per camera, status, class,
confidence and ROI, with the deciding view marked; it survives rclpy serialization; a bag
recorded before the field existed (its RejectEvent definition without `views`) still reads,
and a bag recorded with it reads back the views.
"""
import dataclasses
from pathlib import Path

from acnn_ros.core import messages
from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.reject.counters import Delivery
from acnn_ros.core.reject.decision import RejectPolicy
from acnn_ros.core.reject.fusion import fuse_views, ViewStatus
from acnn_ros.core.reject.scheduler import PartRecord
from acnn_ros.core.replay import bag_io
from acnn_ros.core.replay.bag_messages import project_typestore, REJECT_EVENT_TYPE
from acnn_ros.core.replay.bag_writer import BagWriter
from acnn_ros.core.results import InspectionOutcome, InspectionStatus, RoiBox
from acnn_ros.msg import RejectEvent, ViewResult
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.typesys import get_types_from_msg
from rosbags.typesys.stores import get_typestore, Stores
from sensor_msgs.msg import RegionOfInterest
from std_msgs.msg import Header

MSG_DIR = Path(__file__).resolve().parents[1] / 'msg'
KEY = FrameKey(1_700_000_000_123_456_789, 'station')
POLICY = RejectPolicy(accept_classes=('good',), reject_classes=('bad',))
CAMERAS = ('cam0', 'cam1', 'cam2')


def _ok(name, confidence, roi=None):
    return InspectionOutcome(InspectionStatus.OK, class_id=0 if name == 'good' else 1,
                             class_name=name, confidence=confidence, roi=roi,
                             image_width=640, image_height=480)


def _record(outcomes, fusion='best_view') -> PartRecord:
    fused = fuse_views(CAMERAS, outcomes, POLICY, fusion)
    return PartRecord(7, KEY, fused.decision, fused.outcome, KEY.capture_time + 0.5, 0.0,
                      Delivery.FIRED if fused.decision.reject else Delivery.NOT_REQUIRED,
                      None, 'topic', '', fused.views)


def _event(record) -> RejectEvent:
    """Build the RejectEvent as reject_actuator_node does."""
    fields, times = messages.reject_event_fields(record)
    stamp, frame_id = messages.header_fields(record.key)
    return RejectEvent(header=Header(stamp=Time(**stamp), frame_id=frame_id),
                       due_time=Time(**times['due_time']), fire_time=Time(**times['fire_time']),
                       views=[ViewResult(roi=RegionOfInterest(**roi), **view)
                              for view, roi in messages.view_result_fields(record)], **fields)


def test_a_fused_part_carries_every_view_with_the_deciding_one_marked():
    record = _record({'cam0': _ok('bad', 0.4), 'cam1': _ok('good', 0.95, RoiBox(100, 50, 40, 20)),
                      'cam2': InspectionOutcome.error('engine failed')})
    event = deserialize_message(serialize_message(_event(record)), RejectEvent)
    assert event.reason == RejectEvent.REASON_ERROR_RESULT and event.fail_safe
    assert [(v.camera, v.status, v.deciding) for v in event.views] == [
        ('cam0', ViewResult.STATUS_OK, False), ('cam1', ViewResult.STATUS_OK, False),
        ('cam2', ViewResult.STATUS_ERROR, False)]
    assert event.class_id == -1                  # a fail-safe reject: no deciding view
    assert (event.views[1].class_name, event.views[1].class_id) == ('good', 0)
    assert abs(event.views[1].confidence - 0.95) < 1e-6
    roi = event.views[1].roi
    assert (roi.x_offset, roi.y_offset, roi.width, roi.height) == (80, 40, 40, 20)
    assert (event.views[2].class_id, event.views[2].confidence) == (-1, 0.0)
    record = _record({'cam0': _ok('bad', 0.4), 'cam1': _ok('good', 0.95)})
    event = _event(record)
    assert event.reason == RejectEvent.REASON_NO_RESULT
    assert event.views[2].status == ViewResult.STATUS_MISSING == ViewStatus.MISSING
    record = _record({'cam0': _ok('bad', 0.4), 'cam1': _ok('good', 0.95),
                      'cam2': _ok('good', 0.7)})
    event = _event(record)
    assert event.decision == RejectEvent.DECISION_ACCEPT
    assert [v.deciding for v in event.views] == [False, True, False]
    assert (event.class_name, round(event.confidence, 3)) == ('good', 0.95)


def test_one_camera_publishes_no_views():
    record = dataclasses.replace(_record({c: _ok('good', 0.9) for c in CAMERAS}), views=())
    assert list(_event(record).views) == []


def _old_typestore():
    """Return a typestore with RejectEvent as it was before `views` (an old bag's)."""
    store = get_typestore(Stores.ROS2_KILTED)
    text = (MSG_DIR / 'RejectEvent.msg').read_text(encoding='utf-8')
    old = '\n'.join(line for line in text.splitlines() if 'ViewResult[] views' not in line)
    assert old != text
    store.register(get_types_from_msg(old, REJECT_EVENT_TYPE))
    return store


def _write_event(store, path, **extra):
    types = store.types
    time = types['builtin_interfaces/msg/Time']
    event = types[REJECT_EVENT_TYPE](
        header=bag_io.make_header(KEY.stamp_ns, KEY.frame_id), part_id=3, decision=1,
        reason=6, reason_detail='no inspection result in time', fail_safe=True, class_id=-1,
        class_name='', confidence=0.0, due_time=time(sec=1, nanosec=0),
        fire_time=time(sec=0, nanosec=0), delivery=1, actuator='topic', **extra)
    with BagWriter(path, typestore=store) as writer:
        writer.write('reject', event, KEY.stamp_ns)


def test_a_bag_recorded_before_views_still_reads(tmp_path):
    _write_event(_old_typestore(), tmp_path / 'old')
    [message] = list(bag_io.iter_messages(tmp_path / 'old', ['/reject']))
    assert (message.msg.part_id, message.msg.reason, message.msg.actuator) == (3, 6, 'topic')
    assert list(getattr(message.msg, 'views', [])) == []


def test_a_bag_recorded_with_views_reads_them_back(tmp_path):
    store = project_typestore()
    types = store.types
    view = types['acnn_ros/msg/ViewResult'](
        camera='cam2', status=3, deciding=False, class_id=-1, class_name='', confidence=0.0,
        roi=types['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, width=0,
                                                      height=0, do_rectify=False))
    _write_event(store, tmp_path / 'new', views=[view])
    [message] = list(bag_io.iter_messages(tmp_path / 'new', ['/reject']))
    assert [(v.camera, v.status) for v in message.msg.views] == [('cam2', 3)]
