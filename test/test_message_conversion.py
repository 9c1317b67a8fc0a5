# SPDX-License-Identifier: Apache-2.0
"""
The one conversion between messages and core types (core/messages.py), on both libraries.

The core's enums must equal the .msg constants (as written in msg/*.msg and as generated for
rclpy); an outcome must survive the trip through an InspectionResult built by the inference
node (rclpy) and by the bag tools (rosbags); a header gives the same FrameKey in both.
"""
import dataclasses
from pathlib import Path
import re

from acnn_ros.core import messages
from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.reject.counters import Delivery
from acnn_ros.core.reject.decision import Decision, RejectReason
from acnn_ros.core.reject.fusion import ViewStatus
from acnn_ros.core.reject.scheduler import PartRecord
from acnn_ros.core.replay import bag_io
from acnn_ros.core.results import InspectionOutcome, InspectionStatus, RoiBox, StageTimes
from acnn_ros.msg import InspectionResult, RejectEvent, ViewResult
from builtin_interfaces.msg import Time
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import RegionOfInterest
from std_msgs.msg import Header

MSG_DIR = Path(__file__).resolve().parents[1] / 'msg'
# A constant line of a .msg file: `uint8 STATUS_OK=0  # comment`.
CONSTANT = re.compile(r'^\s*[\w/]+\s+([A-Z][A-Z0-9_]*)\s*=\s*(-?\d+)\s*$')

# (Python values by name, message, constant prefix): every constant group of msg/*.msg.
ENUMS = {
    'InspectionStatus': ({s.name: s.value for s in InspectionStatus}, 'InspectionResult',
                         'STATUS_'),
    'RejectReason': ({r.name: r.value for r in RejectReason}, 'RejectEvent', 'REASON_'),
    'Delivery': ({d.name: d.value for d in Delivery}, 'RejectEvent', 'DELIVERY_'),
    'decision': ({'ACCEPT': messages.DECISION_ACCEPT, 'REJECT': messages.DECISION_REJECT},
                 'RejectEvent', 'DECISION_'),
    'ViewStatus': ({s.name: s.value for s in ViewStatus}, 'ViewResult', 'STATUS_'),
}
RCLPY_CLASSES = {'InspectionResult': InspectionResult, 'RejectEvent': RejectEvent,
                 'ViewResult': ViewResult}


def msg_file_constants(text: str):
    """Return {name: value} of the constants of a .msg text (comments ignored)."""
    found = {}
    for line in text.splitlines():
        match = CONSTANT.match(line.split('#', 1)[0])
        if match:
            found[match.group(1)] = int(match.group(2))
    return found


def _group(constants, prefix):
    return {name[len(prefix):]: value for name, value in constants.items()
            if name.startswith(prefix)}


def test_the_msg_parser_reads_constants_and_skips_fields_and_comments():
    text = ('# STATUS_X=9 in a comment\nuint8 STATUS_OK=0   # ok\nint32 class_id  # -1 = none\n'
            'std_msgs/Header header\nint8 MODE_SLOW=-1\n')
    assert msg_file_constants(text) == {'STATUS_OK': 0, 'MODE_SLOW': -1}


@pytest.mark.parametrize('enum_name', sorted(ENUMS))
def test_every_python_enum_equals_its_msg_constants(enum_name):
    values, message, prefix = ENUMS[enum_name]
    written = msg_file_constants((MSG_DIR / f'{message}.msg').read_text(encoding='utf-8'))
    assert _group(written, prefix) == values, f'{enum_name} vs msg/{message}.msg {prefix}*'
    generated = RCLPY_CLASSES[message]
    assert {name[len(prefix):]: getattr(generated, name) for name in dir(generated)
            if name.startswith(prefix)} == values, f'{enum_name} vs acnn_ros.msg.{message}'


def test_every_msg_constant_belongs_to_a_python_enum():
    covered = {(message, prefix) for _, message, prefix in ENUMS.values()}
    for path in sorted(MSG_DIR.glob('*.msg')):
        for name in msg_file_constants(path.read_text(encoding='utf-8')):
            assert any(path.stem == message and name.startswith(prefix)
                       for message, prefix in covered), \
                f'{path.name}: {name} has no Python enum (add it and to ENUMS here)'


# ------------------------------------------------------------ outcome <-> InspectionResult

OK_WITH_ROI = InspectionOutcome(
    status=InspectionStatus.OK, class_id=2, class_name='p3707', confidence=0.875,
    class_scores=(0.0625, 0.0625, 0.875), roi=RoiBox(100.5, 80.25, 32.0, 20.0),
    image_width=640, image_height=480, model_id='acnn@1234abcd',
    times=StageTimes(preprocess_ms=1.5, inference_ms=2.25, postprocess_ms=0.5))
OK_WITHOUT_ROI = dataclasses.replace(OK_WITH_ROI, roi=None)
ERROR = InspectionOutcome.error('bad image: empty image', model_id='acnn@1234abcd')
DROPPED = InspectionOutcome.dropped('dropped: a newer frame arrived', 'acnn@1234abcd')
OUTCOMES = {'ok_roi': OK_WITH_ROI, 'ok_no_roi': OK_WITHOUT_ROI, 'error': ERROR,
            'dropped': DROPPED}
KEY = FrameKey(1_700_000_000_123_456_789, 'camera_optical')


def _carried(outcome: InspectionOutcome) -> InspectionOutcome:
    """Return what an InspectionResult carries back: no image size, no stage times."""
    return dataclasses.replace(outcome, image_width=0, image_height=0, times=StageTimes())


def _rclpy_result(outcome: InspectionOutcome, total_ms: float = 4.5) -> InspectionResult:
    """Build the InspectionResult the way inference_node does."""
    stamp, frame_id = messages.header_fields(KEY)
    fields, roi = messages.result_fields(outcome, total_ms)
    return InspectionResult(header=Header(stamp=Time(**stamp), frame_id=frame_id),
                            roi=RegionOfInterest(**roi), **fields)


def _through_rosbags(raw: bytes):
    store = bag_io.project_typestore()
    return store.deserialize_cdr(raw, bag_io.INSPECTION_RESULT_TYPE)


@pytest.mark.parametrize('name', sorted(OUTCOMES))
def test_outcome_round_trips_through_an_rclpy_inspection_result(name):
    outcome = OUTCOMES[name]
    received = deserialize_message(serialize_message(_rclpy_result(outcome)), InspectionResult)
    assert messages.outcome_from_result(received) == _carried(outcome)
    assert received.total_ms == 4.5 and received.inference_ms == outcome.times.inference_ms
    # The same bytes read by the bag tools give the same outcome.
    assert messages.outcome_from_result(
        _through_rosbags(serialize_message(received))) == _carried(outcome)


@pytest.mark.parametrize('name', sorted(OUTCOMES))
def test_outcome_round_trips_through_a_rosbags_inspection_result(name):
    outcome = OUTCOMES[name]
    store = bag_io.project_typestore()
    built = bag_io.inspection_result_message(KEY.stamp_ns, KEY.frame_id, outcome, 4.5)
    raw = bytes(store.serialize_cdr(built, bag_io.INSPECTION_RESULT_TYPE))
    assert messages.outcome_from_result(_through_rosbags(raw)) == _carried(outcome)
    # rclpy reads the bytes the bag tools write, field for field as the node would send them.
    assert deserialize_message(raw, InspectionResult) == _rclpy_result(outcome)


def test_roi_is_clipped_to_the_image_and_its_centre_kept():
    outcome = dataclasses.replace(OK_WITH_ROI, roi=RoiBox(630.0, 10.0, 40.0, 30.0))
    result = _rclpy_result(outcome)
    assert (result.roi.x_offset, result.roi.y_offset, result.roi.width, result.roi.height) == \
        (610, 0, 30, 25)
    assert messages.roi_from_result(result) == RoiBox(630.0, 10.0, 30.0, 25.0)


@pytest.mark.parametrize('status', [InspectionStatus.ERROR, InspectionStatus.DROPPED])
def test_only_an_ok_result_carries_an_roi(status):
    result = _rclpy_result(OK_WITH_ROI)
    result.status = int(status)
    assert result.roi.width > 0 and messages.roi_from_result(result) is None
    assert messages.outcome_from_result(result).roi is None


def test_an_empty_roi_box_is_no_roi():
    result = _rclpy_result(OK_WITH_ROI)
    result.roi.height = 0
    assert messages.roi_from_result(result) is None


@pytest.mark.parametrize('library', ['rclpy', 'rosbags'])
def test_an_unknown_status_becomes_an_error_outcome_naming_it(library):
    result = _rclpy_result(OK_WITH_ROI)
    result.status = 7
    if library == 'rosbags':
        result = _through_rosbags(serialize_message(result))
    outcome = messages.outcome_from_result(result)
    assert outcome.status == InspectionStatus.ERROR and outcome.roi is None
    assert outcome.detail == 'unknown InspectionResult status 7: '


# ------------------------------------------------------------ RejectEvent and frame keys


def _record(reject: bool, outcome, fire_time) -> PartRecord:
    reason = RejectReason.REJECT_CLASS if reject else RejectReason.NONE
    return PartRecord(part_id=12, key=KEY, decision=Decision(reject, reason, 'why'),
                      outcome=outcome, due_time=KEY.capture_time + 0.5, decided_time=0.0,
                      delivery=Delivery.FIRED if reject else Delivery.NOT_REQUIRED,
                      fire_time=fire_time, actuator='topic')


def _ns(stamp) -> int:
    return stamp.sec * 10**9 + stamp.nanosec


def _rclpy_event(record: PartRecord) -> RejectEvent:
    """Build the RejectEvent the way reject_actuator_node does."""
    fields, times = messages.reject_event_fields(record)
    stamp, frame_id = messages.header_fields(record.key)
    return RejectEvent(header=Header(stamp=Time(**stamp), frame_id=frame_id),
                       due_time=Time(**times['due_time']),
                       fire_time=Time(**times['fire_time']), **fields)


def test_reject_event_of_a_fired_reject():
    event = _rclpy_event(_record(True, OK_WITH_ROI, 1_700_000_000.625))
    assert (event.decision, event.reason, event.delivery, event.fail_safe) == \
        (RejectEvent.DECISION_REJECT, RejectEvent.REASON_REJECT_CLASS,
         RejectEvent.DELIVERY_FIRED, False)
    assert messages.frame_key(event.header) == KEY
    # Due and fire times are float seconds of the scheduler's clock: exact to well under 1 us.
    assert abs(_ns(event.due_time) - (KEY.stamp_ns + 500_000_000)) < 1000
    assert abs(_ns(event.fire_time) - 1_700_000_000_625_000_000) < 1000
    assert (event.class_id, event.class_name, event.confidence) == (2, 'p3707', 0.875)


def test_reject_event_of_an_accept_without_result_fields():
    event = _rclpy_event(_record(False, None, None))
    assert (event.decision, event.reason, event.delivery) == \
        (RejectEvent.DECISION_ACCEPT, RejectEvent.REASON_NONE, RejectEvent.DELIVERY_NOT_REQUIRED)
    assert (event.fire_time.sec, event.fire_time.nanosec) == (0, 0)
    assert (event.class_id, event.class_name, event.confidence) == (-1, '', 0.0)


def test_frame_key_is_the_same_for_an_rclpy_and_a_rosbags_header():
    rclpy_header = Header(stamp=Time(sec=1_700_000_000, nanosec=123_456_789),
                          frame_id='camera_optical')
    rosbags_header = bag_io.make_header(1_700_000_000_123_456_789, 'camera_optical')
    assert messages.frame_key(rclpy_header) == messages.frame_key(rosbags_header) == KEY
    assert hash(messages.frame_key(rclpy_header)) == hash(messages.frame_key(rosbags_header))
    # The header rebuilt from the key is the original, to the nanosecond.
    stamp, frame_id = messages.header_fields(KEY)
    assert Header(stamp=Time(**stamp), frame_id=frame_id) == rclpy_header
    store = bag_io.project_typestore()
    received = store.deserialize_cdr(serialize_message(rclpy_header), 'std_msgs/msg/Header')
    assert messages.frame_key(received) == KEY


def test_message_class_resolves_ros_type_names_and_refuses_others():
    from acnn_ros.nodes.message_types import message_class
    assert message_class('acnn_ros/msg/InspectionResult') is InspectionResult
    assert message_class('sensor_msgs/msg/RegionOfInterest') is RegionOfInterest
    for bad in ('sensor_msgs/RegionOfInterest', 'std_srvs/srv/Trigger', 'Image', 'a/msg/b/c'):
        with pytest.raises(ValueError, match='not a message type name'):
            message_class(bad)
