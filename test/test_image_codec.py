# SPDX-License-Identifier: Apache-2.0
"""Image decoding: every encoding to BGR, from rclpy and rosbags messages, and every bad input."""
import array

from acnn_ros.core.image_codec import decode_compressed, decode_image, encode_image, \
    ImageDecodeError, SUPPORTED_ENCODINGS
import cv2
import numpy as np
import pytest

# Four flat colour quadrants: a wrong channel order or Bayer phase changes every one of them.
QUADRANTS_BGR = [(200, 100, 50), (10, 220, 120), (90, 30, 240), (250, 250, 250)]


def quadrant_frame(width=64, height=48):
    frame = np.zeros((height, width, 3), np.uint8)
    half_w, half_h = width // 2, height // 2
    for index, colour in enumerate(QUADRANTS_BGR):
        y, x = divmod(index, 2)
        frame[y * half_h:(y + 1) * half_h, x * half_w:(x + 1) * half_w] = colour
    return frame


def interior(image):
    """Quadrant interiors only: demosaicing and chroma subsampling blur the borders."""
    h, w = image.shape[:2]
    keep_y = [y for y in range(h) if 3 < y % (h // 2) < h // 2 - 3]
    keep_x = [x for x in range(w) if 3 < x % (w // 2) < w // 2 - 3]
    return image[np.ix_(keep_y, keep_x)].astype(int)


@pytest.mark.parametrize('encoding', SUPPORTED_ENCODINGS)
def test_every_encoding_decodes_to_the_original_colours(encoding):
    frame = quadrant_frame()
    step, data = encode_image(frame, encoding)
    bgr = decode_image(encoding, 64, 48, step, data)
    assert bgr.dtype == np.uint8 and bgr.shape == (48, 64, 3)
    if encoding.startswith('mono'):
        expected = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    else:
        expected = frame
    tolerance = 3 if encoding in ('yuv422', 'uyvy', 'yuyv', 'yuv422_yuy2') else 1
    assert np.abs(interior(bgr) - interior(expected)).max() <= tolerance


@pytest.mark.parametrize('encoding', ['bgr8', 'mono8', 'mono16', 'bayer_grbg8', 'yuv422'])
def test_row_padding_in_step_is_removed(encoding):
    frame = quadrant_frame()
    step, data = encode_image(frame, encoding)
    rows = np.frombuffer(data, np.uint8).reshape(48, step)
    padded = np.pad(rows, ((0, 0), (0, 12)), constant_values=255)
    assert np.array_equal(decode_image(encoding, 64, 48, step + 12, padded.tobytes()),
                          decode_image(encoding, 64, 48, step, data))


def test_big_endian_mono16_is_byte_swapped():
    values = np.array([[0, 65535], [256 * 128, 257 * 64]], '>u2')
    bgr = decode_image('mono16', 2, 2, 4, values.tobytes(), is_bigendian=True)
    assert bgr[:, :, 0].tolist() == [[0, 255], [127, 64]]


def test_fields_of_rclpy_and_rosbags_messages_decode_alike():
    from rosbags.typesys import get_typestore, Stores
    from sensor_msgs.msg import Image
    frame = quadrant_frame()
    step, data = encode_image(frame, 'rgb8')
    rclpy_msg = Image(height=48, width=64, encoding='rgb8', step=step,
                      data=array.array('B', data))
    store = get_typestore(Stores.LATEST)
    header = store.types['std_msgs/msg/Header'](
        stamp=store.types['builtin_interfaces/msg/Time'](sec=1, nanosec=2), frame_id='cam')
    bag_msg = store.types['sensor_msgs/msg/Image'](
        header=header, height=48, width=64, encoding='rgb8', is_bigendian=0, step=step,
        data=np.frombuffer(data, np.uint8))
    for msg in (rclpy_msg, bag_msg):
        bgr = decode_image(msg.encoding, msg.width, msg.height, msg.step, msg.data,
                           msg.is_bigendian)
        assert np.array_equal(bgr, frame)


@pytest.mark.parametrize('extension, fmt', [('.png', 'png'), ('.jpg', 'jpeg'),
                                            ('.jpg', 'rgb8; jpeg compressed bgr8')])
def test_compressed_images_decode(extension, fmt):
    frame = quadrant_frame()
    ok, data = cv2.imencode(extension, frame)
    bgr = decode_compressed(fmt, data.tobytes())
    assert bgr.shape == frame.shape
    assert np.abs(interior(bgr) - interior(frame)).max() <= (0 if extension == '.png' else 12)


@pytest.mark.parametrize('fields, message', [
    (('h264', 64, 48, 192, bytes(9216)), "unsupported image encoding 'h264'"),
    (('bgr8', 0, 48, 0, b''), 'empty image: 0x48'),
    (('bgr8', 64, 0, 192, b''), 'empty image: 64x0'),
    (('bgr8', 64, 48, 100, bytes(9216)), 'step 100 is shorter than one row'),
    (('bgr8', 64, 48, 192, bytes(9215)), 'image data has 9215 bytes'),
    (('mono16', 64, 48, 128, bytes(128 * 47)), 'needs 6144'),
    (('yuv422', 63, 48, 126, bytes(126 * 48)), 'width must be even'),
    (('bgr8', 1 << 17, 1, 3 << 17, b''), 'implausible image size'),
])
def test_inconsistent_images_raise_a_clear_error(fields, message):
    with pytest.raises(ImageDecodeError, match=message):
        decode_image(*fields)


@pytest.mark.parametrize('fmt, data, message', [
    ('jpeg', b'', 'has no data'),
    ('jpeg', b'\xff\xd8\xff garbage', 'cannot decode'),
    ('png', bytes(100), 'cannot decode'),
    ('16UC1; compressedDepth', b'\x00' * 20, 'compressed depth'),
    ('tiff', b'II*\x00', "unsupported compressed format 'tiff'"),
])
def test_bad_compressed_images_raise_a_clear_error(fmt, data, message):
    with pytest.raises(ImageDecodeError, match=message):
        decode_compressed(fmt, data)
