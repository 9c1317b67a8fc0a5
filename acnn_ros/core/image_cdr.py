# SPDX-License-Identifier: Apache-2.0
"""
The project's rosbags typestore and the wire format of camera images (CDR bytes).

One typestore (`typestore()`: ROS 2 Kilted types) serves the image wire and the bags; the bag
subsystem registers this package's messages into that same store (core/replay/bag_messages:
`project_typestore`), so the image path needs no .msg file. `stamp_message` / `make_header`
are the one builder of builtin_interfaces/Time and std_msgs/Header (rosbags classes);
`make_image` / `make_compressed` build sensor_msgs/Image / CompressedImage from their fields.

rclpy converts a 640x480 bgr8 Image between its Python object and CDR in ~2 ms each way;
`rosbags`' CDR serde does it in ~0.03 ms and hands the pixels over as a numpy view of the
received buffer (docs/BENCHMARKS.md, "Image fast path"). The nodes
therefore publish and subscribe images *serialized* (rclpy `publish(bytes)`, `raw=True`
subscriptions) and convert here. The wire stays sensor_msgs/Image / CompressedImage: the bytes
equal rclpy's `serialize_message` except in CDR's alignment padding, which the standard leaves
undefined (rclpy leaves whatever was in its buffer there, rosbags writes zeros); a plain rclpy
publisher or subscriber on the other side sees the same message (test/test_image_wire.py).

The frame type is rosbags' message dataclass of the type (ROS-free): `header.stamp.sec /
.nanosec`, `header.frame_id`, `encoding`, `width`, `height`, `step`, `is_bigendian`, `data` (a
read-only uint8 numpy view of the received bytes), or `format` and `data` for a
CompressedImage. `core/messages.py` (frame_key, inspect_image_message) and
`core/image_codec.py` (decode_image_message) take it like an rclpy message.

sensor_msgs/Image, CompressedImage, std_msgs/Header and builtin_interfaces/Time are the same
on Humble, Jazzy and Kilted, so one typestore (Kilted) serves every distribution.
"""
import dataclasses
import functools
import struct
from typing import NamedTuple, Optional

from acnn_ros.core.messages import COMPRESSED_IMAGE_TYPE, IMAGE_TYPE, IMAGE_TYPES, stamp_fields
import numpy as np
from rosbags.typesys import get_typestore, Stores
from rosbags.typesys.store import Typestore

# The byte after the first of the CDR encapsulation header: 0 big endian, 1 little endian.
_LITTLE_ENDIAN = 1
_NO_DATA = np.empty(0, np.uint8)


class WireStamp(NamedTuple):
    """builtin_interfaces/Time as read from a buffer whose message did not deserialize."""

    sec: int
    nanosec: int


class WireHeader(NamedTuple):
    """std_msgs/Header as read from a buffer whose message did not deserialize."""

    stamp: WireStamp
    frame_id: str


class UnreadableImage(NamedTuple):
    """
    An image message that did not deserialize but whose header did: the frame to answer.

    core/messages.py inspects it as an ERROR outcome with `unreadable` (the reason) as detail.
    """

    header: WireHeader
    unreadable: str


class ImageWireError(ValueError):
    """
    A buffer is not a serialized image message; the message says why.

    `header` is the frame's std_msgs/Header when the start of the buffer still holds one (a
    truncated or corrupt image body), so the frame can be answered; None when it does not.
    """

    def __init__(self, detail: str, header: Optional[WireHeader] = None):
        super().__init__(detail)
        self.header = header


@functools.lru_cache(maxsize=1)
def typestore() -> Typestore:
    """
    Return the project's one rosbags typestore: the ROS 2 Kilted types.

    The image types are the same on Humble, Jazzy and Kilted. core/replay/bag_messages
    registers this package's messages into this same store (`project_typestore`).
    """
    return get_typestore(Stores.ROS2_KILTED)


def _uint8(data) -> np.ndarray:
    """View bytes, a memoryview or a numpy array (any shape, contiguous) as flat uint8."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def stamp_message(stamp_ns: int):
    """Build a builtin_interfaces/Time (rosbags class) for a time in nanoseconds."""
    return typestore().types['builtin_interfaces/msg/Time'](**stamp_fields(stamp_ns))


def make_header(stamp_ns: int, frame_id: str):
    """Build a std_msgs/Header (rosbags class) for a capture time in nanoseconds."""
    return typestore().types['std_msgs/msg/Header'](stamp=stamp_message(stamp_ns),
                                                    frame_id=str(frame_id))


def make_image(stamp_ns: int, frame_id: str, encoding: str, width: int, height: int,
               step: int, data, is_bigendian: bool = False):
    """Build a sensor_msgs/Image (rosbags class); `data` (bytes or array) as flat uint8."""
    return typestore().types[IMAGE_TYPE](
        header=make_header(stamp_ns, frame_id), height=int(height), width=int(width),
        encoding=str(encoding), is_bigendian=int(bool(is_bigendian)), step=int(step),
        data=_uint8(data))


def make_compressed(stamp_ns: int, frame_id: str, fmt: str, data):
    """Build a sensor_msgs/CompressedImage (rosbags class; `fmt`: 'jpeg', 'png', ...)."""
    return typestore().types[COMPRESSED_IMAGE_TYPE](
        header=make_header(stamp_ns, frame_id), format=str(fmt), data=_uint8(data))


def _serialize(message, msgtype: str, data) -> bytes:
    """
    Serialize a message whose last field is its (empty) uint8[] `data`, then append `data`.

    rosbags serializes everything up to the sequence (header, sizes, strings, alignment); its
    last 4 bytes are the sequence length, 0, replaced by the real one, and the pixels are
    copied once into the returned bytes. The same bytes as serializing the message with its
    data (test/test_image_wire.py), without rosbags' zero-filled intermediate buffer and its
    second copy (~1 ms for 640x480 bgr8 here, against ~0.03 ms).
    """
    pixels = _uint8(data)
    head = typestore().serialize_cdr(message, msgtype)
    return b''.join((head[:-4], struct.pack('<I', pixels.size), memoryview(pixels)))


def image_cdr(stamp_ns: int, frame_id: str, encoding: str, width: int, height: int, step: int,
              data, is_bigendian: bool = False) -> bytes:
    """
    Return the CDR bytes of a sensor_msgs/Image with these fields (what `publish` takes).

    `data` is bytes or a numpy array holding `step * height` bytes (row padding included); it
    is copied once into the message buffer, never element by element.
    """
    message = make_image(stamp_ns, frame_id, encoding, width, height, step, _NO_DATA,
                         is_bigendian)
    return _serialize(message, IMAGE_TYPE, data)


def array_image_cdr(pixels: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> bytes:
    """
    Return the CDR bytes of a sensor_msgs/Image holding an H x W (x C) array.

    For 8-bit encodings (bgr8 frames, overlays): the step is the array's row length.
    """
    pixels = np.ascontiguousarray(pixels)
    if pixels.ndim not in (2, 3):
        raise ValueError(f'expected an H x W or H x W x C array, got shape {pixels.shape}')
    height, width = pixels.shape[:2]
    return image_cdr(stamp_ns, frame_id, encoding, width, height, pixels.strides[0], pixels)


def compressed_cdr(stamp_ns: int, frame_id: str, fmt: str, data) -> bytes:
    """Return the CDR bytes of a sensor_msgs/CompressedImage (`fmt`: 'jpeg', 'png', ...)."""
    message = make_compressed(stamp_ns, frame_id, fmt, _NO_DATA)
    return _serialize(message, COMPRESSED_IMAGE_TYPE, data)


def message_cdr(message, msgtype: str) -> bytes:
    """Return the CDR bytes of an Image / CompressedImage rosbags message (a restamped one)."""
    if msgtype not in IMAGE_TYPES:
        raise ValueError(f'not an image type: {msgtype!r}; expected one of {IMAGE_TYPES}')
    return _serialize(dataclasses.replace(message, data=_NO_DATA), msgtype, message.data)


def read_header(raw) -> Optional[WireHeader]:
    """
    Return the std_msgs/Header at the start of a serialized message, None if there is none.

    Every image message begins with its header (4-byte encapsulation, int32 sec, uint32
    nanosec, string frame_id), so a buffer whose body is corrupt still names its frame.
    """
    buffer = memoryview(raw).cast('B')
    if len(buffer) < 16 or buffer[0] != 0 or buffer[1] not in (0, _LITTLE_ENDIAN):
        return None
    order = '<' if buffer[1] == _LITTLE_ENDIAN else '>'
    sec, nanosec, length = struct.unpack_from(order + 'iII', buffer, 4)
    end = 16 + length
    if length == 0 or end > len(buffer) or buffer[end - 1] != 0 or nanosec >= 1_000_000_000:
        return None
    try:
        frame_id = bytes(buffer[16:end - 1]).decode('utf-8')
    except UnicodeDecodeError:
        return None
    return WireHeader(WireStamp(sec, nanosec), frame_id)


def image_from_cdr(raw, msgtype: str = IMAGE_TYPE):
    """
    Return the image message (rosbags dataclass, pixels as a view of `raw`) of CDR bytes.

    Raises ImageWireError, carrying the header when the buffer starts with one, for bytes that
    are not a serialized `msgtype`.
    """
    if msgtype not in IMAGE_TYPES:
        raise ValueError(f'not an image type: {msgtype!r}; expected one of {IMAGE_TYPES}')
    try:
        return typestore().deserialize_cdr(raw, msgtype)
    except Exception as exc:  # noqa: B902 (rosbags raises SerdeError, struct and numpy errors)
        raise ImageWireError(f'cannot deserialize {len(raw)} bytes as {msgtype}: {exc}',
                             read_header(raw)) from exc
