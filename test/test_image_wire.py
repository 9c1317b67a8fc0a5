# SPDX-License-Identifier: Apache-2.0
"""
The image fast path: rosbags CDR against rclpy's, and raw nodes against plain rclpy over DDS.

core/image_cdr.py must write the bytes rclpy's serialize_message writes (every encoding the
inference node supports, padded rows, the big-endian flag, JPEG / PNG) and read what rclpy
writes; the nodes (raw subscriptions and publications) must interoperate with plain rclpy
publishers and subscribers in other processes.
"""
import struct

from acnn_ros.core.image_cdr import (array_image_cdr, compressed_cdr, image_cdr,
                                     image_from_cdr, ImageWireError, message_cdr, read_header,
                                     typestore, UnreadableImage)
from acnn_ros.core.image_codec import (decode_image_message, encode_image,
                                       SUPPORTED_ENCODINGS)
from acnn_ros.core.messages import (COMPRESSED_IMAGE_TYPE, frame_key, IMAGE_TYPE,
                                    inspect_image_message, stamp_ns)
from acnn_ros.msg import InspectionResult
from acnn_ros.runtime.pipeline import InspectionPipeline
from builtin_interfaces.msg import Time
from contract_model import blob_frame
import cv2
import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.typesys import get_typestore, Stores
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from test_camera_node import Listener, start_camera
import test_inference_node
from test_inference_node import _inspect

pytestmark = pytest.mark.timeout(90)
OK, ERROR = InspectionResult.STATUS_OK, InspectionResult.STATUS_ERROR
STAMP_NS, FRAME_ID = 1_700_000_123_456_789_012, 'line_cam_7'
# The CDR fields in order: Header (sec, nanosec, frame_id), then the message's own.
IMAGE_LAYOUT = ('u32', 'u32', 'str', 'u32', 'u32', 'str', 'u8', 'u32', 'seq')
COMPRESSED_LAYOUT = ('u32', 'u32', 'str', 'str', 'seq')


def padding_positions(raw: bytes, layout) -> set:
    """Return the alignment padding bytes of a little-endian CDR buffer (undefined content)."""
    pos, pads = 4, set()
    for kind in layout:
        if kind == 'u8':
            pos += 1
            continue
        aligned = 4 + -(-(pos - 4) // 4) * 4
        pads |= set(range(pos, aligned))
        pos = aligned + 4
        if kind in ('str', 'seq'):
            pos += struct.unpack_from('<I', raw, aligned)[0]
    assert pos == len(raw), 'layout does not match the buffer'
    return pads


def assert_same_cdr(ours: bytes, rclpy_bytes: bytes, layout) -> None:
    """Equal byte for byte, except padding: rclpy leaves garbage there, rosbags zeros."""
    assert len(ours) == len(rclpy_bytes)
    pads = padding_positions(ours, layout)
    assert pads == padding_positions(rclpy_bytes, layout)
    mask = np.ones(len(ours), bool)
    mask[list(pads)] = False
    a, b = np.frombuffer(ours, np.uint8), np.frombuffer(rclpy_bytes, np.uint8)
    assert np.array_equal(a[mask], b[mask])
    assert not a[~mask].any(), 'rosbags padding is not zero'


def ros_header() -> Header:
    return Header(stamp=Time(sec=STAMP_NS // 10**9, nanosec=STAMP_NS % 10**9),
                  frame_id=FRAME_ID)


def encoded(encoding: str, pad: int, width: int = 38, height: int = 21):
    """Return (step, data) of a random frame in `encoding` with `pad` bytes after each row."""
    rng = np.random.default_rng(SUPPORTED_ENCODINGS.index(encoding))
    bgr = rng.integers(0, 256, (height, width, 3), np.uint8)
    step, data = encode_image(bgr, encoding)
    rows = np.frombuffer(data, np.uint8).reshape(height, step)
    return step + pad, np.pad(rows, ((0, 0), (0, pad)), constant_values=0xAB).tobytes()


@pytest.mark.parametrize('is_bigendian', [False, True])
@pytest.mark.parametrize('pad', [0, 3])
@pytest.mark.parametrize('encoding', SUPPORTED_ENCODINGS)
def test_image_bytes_equal_rclpy_both_ways(encoding, pad, is_bigendian):
    step, data = encoded(encoding, pad)
    msg = Image(header=ros_header(), height=21, width=38, encoding=encoding,
                is_bigendian=is_bigendian, step=step, data=data)
    theirs = serialize_message(msg)
    ours = image_cdr(STAMP_NS, FRAME_ID, encoding, 38, 21, step, data, is_bigendian)
    assert_same_cdr(ours, theirs, IMAGE_LAYOUT)
    assert deserialize_message(ours, Image) == msg               # rclpy reads ours
    frame = image_from_cdr(theirs)                               # we read rclpy's
    assert bytes(typestore().serialize_cdr(frame, IMAGE_TYPE)) == ours   # rosbags' own bytes
    assert (frame.encoding, frame.width, frame.height, frame.step, frame.is_bigendian) == (
        encoding, 38, 21, step, int(is_bigendian))
    assert frame_key(frame.header) == frame_key(msg.header)
    assert frame.data.base is not None and bytes(frame.data) == data  # a view, same pixels
    if not is_bigendian:
        assert np.array_equal(decode_image_message(frame), decode_image_message(msg))


@pytest.mark.parametrize('fmt', ['jpeg', 'png', 'bgr8; jpeg compressed bgr8'])
def test_compressed_bytes_equal_rclpy_both_ways(fmt):
    bgr = blob_frame(64, 48, 20, 30, 'green', radius=6)
    payload = cv2.imencode('.png' if fmt == 'png' else '.jpg', bgr)[1].tobytes()
    msg = CompressedImage(header=ros_header(), format=fmt, data=payload)
    theirs = serialize_message(msg)
    ours = compressed_cdr(STAMP_NS, FRAME_ID, fmt, payload)
    assert_same_cdr(ours, theirs, COMPRESSED_LAYOUT)
    assert deserialize_message(ours, CompressedImage) == msg
    frame = image_from_cdr(theirs, COMPRESSED_IMAGE_TYPE)
    assert bytes(typestore().serialize_cdr(frame, COMPRESSED_IMAGE_TYPE)) == ours
    assert frame.format == fmt and bytes(frame.data) == payload
    assert np.array_equal(decode_image_message(frame), decode_image_message(msg))


def test_array_image_cdr_is_the_camera_frame_and_every_distribution_agrees():
    bgr = np.random.default_rng(1).integers(0, 256, (480, 640, 3), np.uint8)
    ours = array_image_cdr(bgr, 'bgr8', STAMP_NS, FRAME_ID)
    msg = Image(header=ros_header(), height=480, width=640, encoding='bgr8', step=1920,
                data=bgr.tobytes())
    assert_same_cdr(ours, serialize_message(msg), IMAGE_LAYOUT)
    # Humble, Jazzy and Kilted define the image types alike: same bytes from each typestore.
    for store in (Stores.ROS2_HUMBLE, Stores.ROS2_JAZZY, Stores.ROS2_KILTED):
        other = get_typestore(store)
        assert bytes(other.serialize_cdr(image_from_cdr(ours), IMAGE_TYPE)) == ours
        for msgtype in (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE, 'std_msgs/msg/Header'):
            assert other.fielddefs[msgtype] == typestore().fielddefs[msgtype], (store, msgtype)


def test_a_restamped_bag_message_serializes_like_rosbags():
    bgr = np.random.default_rng(4).integers(0, 256, (5, 7, 3), np.uint8)
    for msgtype, raw in ((IMAGE_TYPE, array_image_cdr(bgr, 'rgb8', STAMP_NS, FRAME_ID)),
                         (COMPRESSED_IMAGE_TYPE, compressed_cdr(STAMP_NS, FRAME_ID, 'png',
                                                                cv2.imencode('.png', bgr)[1]))):
        message = image_from_cdr(raw, msgtype)
        message.header.stamp.sec += 17
        assert message_cdr(message, msgtype) == bytes(typestore().serialize_cdr(message,
                                                                                msgtype))
        assert image_from_cdr(message_cdr(message, msgtype), msgtype).header.stamp.sec == \
            STAMP_NS // 10**9 + 17


def test_big_endian_cdr_is_read_too():
    little = image_from_cdr(array_image_cdr(np.arange(12, dtype=np.uint8).reshape(2, 2, 3),
                                            'bgr8', STAMP_NS, FRAME_ID))
    big = bytes(typestore().serialize_cdr(little, IMAGE_TYPE, little_endian=False))
    assert big[1] == 0 and big != bytes(typestore().serialize_cdr(little, IMAGE_TYPE))
    header = read_header(big)
    assert stamp_ns(header.stamp) == STAMP_NS and header.frame_id == FRAME_ID
    frame = image_from_cdr(big)
    assert frame_key(frame.header) == frame_key(little.header)
    assert np.array_equal(decode_image_message(frame), decode_image_message(little))


def test_a_corrupt_buffer_is_an_error_that_keeps_the_header_when_it_can():
    raw = array_image_cdr(np.zeros((4, 6, 3), np.uint8), 'bgr8', STAMP_NS, FRAME_ID)
    header_end = 16 + len(FRAME_ID) + 1
    for cut in range(len(raw)):
        with pytest.raises(ImageWireError) as caught:
            image_from_cdr(raw[:cut])
        header = caught.value.header
        if cut >= header_end:
            assert header is not None and header.frame_id == FRAME_ID
            assert stamp_ns(header.stamp) == STAMP_NS
        else:
            assert header is None
    rng = np.random.default_rng(7)
    for _ in range(300):           # junk never escapes as another exception type
        junk = rng.integers(0, 256, int(rng.integers(0, 80)), np.uint8).tobytes()
        read_header(junk)
        try:
            image_from_cdr(junk)
        except ImageWireError:
            pass
    with pytest.raises(ValueError, match='bad image message: cannot deserialize'):
        decode_image_message(UnreadableImage(read_header(raw), 'cannot deserialize'))


# ---- over DDS, between processes

# The node under test is test_inference_node's (same parameters: both transports, reliable
# images): its module-scoped fixtures, one node per module as before.
model_path = test_inference_node.model_path
node = test_inference_node.node
client = test_inference_node.client


def test_plain_rclpy_images_give_the_results_of_decoding_the_rclpy_message(
        node, client, model_path):
    local = InspectionPipeline.from_model_path(model_path, warmup_runs=0)
    frame = blob_frame(640, 480, 210, 330, 'blue', radius=8)
    for encoding in SUPPORTED_ENCODINGS:
        step, data = encode_image(frame, encoding)
        rows = np.frombuffer(data, np.uint8).reshape(480, step)
        data, step = np.pad(rows, ((0, 0), (0, 5))).tobytes(), step + 5   # odd padded step
        msg = Image(header=client.next_header(), height=480, width=640, encoding=encoding,
                    step=step, data=data)
        client.images.publish(msg)
        result = _inspect(client, frame_key(msg.header), node)
        expected, _ = inspect_image_message(local, msg)
        assert result.status == OK == int(expected.status), (encoding, result.detail)
        assert (result.class_id, result.class_name) == (expected.class_id, expected.class_name)
        x, y, w, h = expected.roi.clipped(640, 480)
        assert (result.roi.x_offset, result.roi.y_offset, result.roi.width,
                result.roi.height) == (x, y, w, h), encoding
        assert abs(result.roi_center_x - expected.roi.center_x) < 1e-3
        assert np.allclose(result.class_scores, expected.class_scores, atol=1e-5)


def test_compressed_from_plain_rclpy_and_bad_buffers_get_one_error(node, client):
    bgr = blob_frame(640, 480, 300, 200, 'red', radius=8)
    msg = CompressedImage(header=client.next_header(), format='png',
                          data=cv2.imencode('.png', bgr)[1].tobytes())
    client.compressed.publish(msg)
    assert _inspect(client, frame_key(msg.header), node).class_name == 'red'
    # A truncated body with a readable header: one ERROR result for that frame.
    header = client.next_header()
    raw = array_image_cdr(bgr, 'bgr8', stamp_ns(header.stamp), header.frame_id)
    client.images.publish(raw[:len(raw) // 2])
    result = _inspect(client, frame_key(header), node)
    assert result.status == ERROR and 'bad image message: cannot deserialize' in result.detail
    # No readable header: nothing to answer; logged and counted; the node stays up.
    before = len(client.results)
    client.images.publish(b'\x07\x07 not CDR at all')
    status = client.latest_status(
        timeout_s=10, after=len(client.diagnostics),
        until=lambda s: {v.key: v.value for v in s.values}.get('unreadable_images') == '1')
    assert status is not None and {v.key: v.value for v in status.values}[
        'unreadable_images'] == '1', node.output
    assert 'no header: the frame cannot be answered' in node.output
    key = client.publish_bgr(bgr)
    assert _inspect(client, key, node).status == OK
    assert len(client.results) == before + 1


def test_overlay_reaches_a_plain_rclpy_subscriber(node, client):
    client.subscribe_overlay(True)
    assert client.spin_until(lambda: client.node.count_subscribers(client.overlay_topic) > 0)
    client.spin_for(0.5)
    frame = blob_frame(640, 480, 500, 100, 'green', radius=8)
    key = client.publish_bgr(frame)
    assert client.spin_until(lambda: any(frame_key(o.header) == key for o in client.overlays))
    overlay = [o for o in client.overlays if frame_key(o.header) == key][0]
    client.subscribe_overlay(False)
    assert (overlay.width, overlay.height, overlay.encoding, overlay.step,
            overlay.is_bigendian, len(overlay.data)) == (640, 480, 'bgr8', 1920, 0, 1920 * 480)
    pixels = np.frombuffer(overlay.data, np.uint8).reshape(480, 640, 3)
    assert (pixels == frame).all(axis=2).mean() > 0.95     # the frame, under a box and text
    assert not np.array_equal(pixels, frame)


def test_camera_frames_reach_a_plain_rclpy_subscriber_unchanged(tmp_path):
    folder = tmp_path / 'frames'
    folder.mkdir()
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (47, 63, 3), np.uint8) for _ in range(3)]   # odd sizes
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f'{index}.png'), frame)
    listener = Listener()
    camera = start_camera('-p', f'source:={folder}', '-p', 'frame_rate_hz:=20.0',
                          '-p', 'frame_id:=wire_cam')
    try:
        assert listener.spin_until(lambda: len(listener.images) >= 6, 20), camera.output
    finally:
        assert camera.interrupt(timeout_s=10.0) == 0, camera.output
        listener.close()
    parts = {frame_key(p.header): p.part_id for p in listener.parts}
    checked = 0
    for image in listener.images:
        assert (image.width, image.height, image.encoding, image.step, image.is_bigendian) == (
            63, 47, 'bgr8', 189, 0) and image.header.frame_id == 'wire_cam'
        pixels = np.frombuffer(image.data, np.uint8).reshape(47, 63, 3)
        if frame_key(image.header) in parts:
            expected = frames[(parts[frame_key(image.header)] - 1) % 3]
            assert np.array_equal(pixels, expected)
            checked += 1
        else:
            assert any(np.array_equal(pixels, f) for f in frames)
    assert checked >= 1
