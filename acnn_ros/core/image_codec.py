# SPDX-License-Identifier: Apache-2.0
"""
The image codec: sensor_msgs/Image and CompressedImage fields <-> BGR uint8 arrays.

The one place that decodes camera images (`decode_image`, `decode_compressed`, and
`decode_image_message` for a whole message) and encodes a BGR frame in an Image encoding
(`encode_image`: bag writers, simulated cameras, tests). The decoders take the primitive message
fields (or a duck-typed message), so they serve rclpy messages in the nodes and rosbags messages
in the offline tools alike; CDR bytes are core/image_cdr's. Colour conversion is done
by rosbags-image (which uses OpenCV); this module adds what it leaves to the caller: checking
that the fields are consistent (a padded `step`, short data, a zero size or an unknown encoding
would otherwise give a garbled image or a numpy exception) and a clear `ImageDecodeError`.

Decoding is bounded: a frame is refused before any pixel is allocated when a side exceeds
MAX_SIDE_PX or width x height exceeds the pixel budget (`max_pixels`, the inference node's
`max_image_pixels`). A raw image declares its size in its fields; a JPEG or PNG in its header
(PNG IHDR, JPEG SOFn), read here in pure Python before OpenCV decodes it, so a 389 KB PNG that
inflates to 20000x20000 costs microseconds and no memory. A payload that is neither JPEG nor PNG
is refused (OpenCV would pick another decoder by its signature: WebP, JPEG 2000 or AVIF declare
256 MP in 1 to 10 KB, so no byte count bounds them); a JPEG / PNG whose size field cannot be read
is decoded as before only up to MAX_UNREAD_HEADER_BYTES.
"""
import struct
from types import SimpleNamespace
from typing import Dict, Optional, Tuple

import cv2
import numpy as np
from rosbags.image import image_to_cvimage, ImageError

# encoding -> (bytes per channel, channels, width must be even). The encodings rosbags-image
# converts to bgr8 and that cameras on a line actually send.
ENCODINGS: Dict[str, Tuple[int, int, bool]] = {
    'mono8': (1, 1, False),
    'mono16': (2, 1, False),
    'bgr8': (1, 3, False),
    'rgb8': (1, 3, False),
    'bgra8': (1, 4, False),
    'rgba8': (1, 4, False),
    'bgr16': (2, 3, False),
    'rgb16': (2, 3, False),
    'bayer_rggb8': (1, 1, False),
    'bayer_bggr8': (1, 1, False),
    'bayer_gbrg8': (1, 1, False),
    'bayer_grbg8': (1, 1, False),
    'bayer_rggb16': (2, 1, False),
    'bayer_bggr16': (2, 1, False),
    'bayer_gbrg16': (2, 1, False),
    'bayer_grbg16': (2, 1, False),
    # Packed 4:2:2, two bytes per pixel: ROS `yuv422` is UYVY; `yuv422_yuy2` (alias yuyv) YUYV.
    'yuv422': (1, 2, True),
    'uyvy': (1, 2, True),
    'yuv422_yuy2': (1, 2, True),
    'yuyv': (1, 2, True),
}
SUPPORTED_ENCODINGS = tuple(sorted(ENCODINGS))
COMPRESSED_FORMATS = ('jpeg', 'png')
# Larger images are certainly a corrupt header, not a camera (64k x 64k).
MAX_SIDE_PX = 1 << 16
# Default pixel budget of one frame (inference_node's max_image_pixels): 50 MP, above every
# line camera; decoded BGR is 3 bytes per pixel (150 MB at the budget).
DEFAULT_MAX_PIXELS = 50_000_000
# A JPEG / PNG whose size field cannot be read (truncated, garbled) is decoded only up to this
# size; libjpeg and libpng need that same field, so such a stream normally fails to decode.
MAX_UNREAD_HEADER_BYTES = 64 * 1024
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
JPEG_SIGNATURE = b'\xff\xd8\xff'      # SOI and the next marker: what OpenCV recognises
# JPEG start-of-frame markers (they carry the frame size); 0xC4 DHT, 0xC8 JPG, 0xCC DAC do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM and RST0..7.
_JPEG_STANDALONE = frozenset((0x01,) + tuple(range(0xD0, 0xD8)))


class ImageDecodeError(ValueError):
    """An image message cannot be decoded; the message says which field is wrong."""


def _buffer(data) -> np.ndarray:
    """View bytes, bytearray, array.array, memoryview or a numpy array as flat uint8."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError):
        return np.asarray(list(data), dtype=np.uint8)


def _megapixels(pixels: int) -> str:
    return f'{pixels / 1e6:.4g} MP'


def check_image_size(width: int, height: int, max_pixels: Optional[int], source: str) -> None:
    """
    Raise ImageDecodeError unless a width x height image may be decoded.

    Refused: a zero side, a side over MAX_SIDE_PX, more than `max_pixels` pixels (None: no
    budget). `source` names where the size comes from (the encoding, 'PNG header', ...).
    """
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f'empty image: {width}x{height} pixels ({source})')
    if width > MAX_SIDE_PX or height > MAX_SIDE_PX:
        raise ImageDecodeError(f'implausible image size {width}x{height} ({source}): a side '
                               f'over {MAX_SIDE_PX} px')
    if max_pixels is not None and width * height > max_pixels:
        raise ImageDecodeError(f'image {width}x{height} = {_megapixels(width * height)} over '
                               f'max_image_pixels {_megapixels(max_pixels)} ({source})')


def _png_size(head: bytes) -> Optional[Tuple[int, int]]:
    # The signature, then IHDR must come first: length 13, 'IHDR', width, height (big endian).
    if len(head) < 24 or head[12:16] != b'IHDR':
        return None
    width, height = struct.unpack('>II', head[16:24])
    return width, height


def _jpeg_size(data: bytes) -> Optional[Tuple[int, int]]:
    # Walk the marker segments after SOI the way libjpeg does (bytes before a marker and 0xFF
    # fill bytes are skipped) up to the first SOFn; SOS, EOI or a new SOI before it: unreadable.
    pos, end = 2, len(data)
    while pos < end:
        pos = data.find(b'\xff', pos)
        if pos < 0:
            return None
        while pos < end and data[pos] == 0xFF:
            pos += 1
        if pos >= end:
            return None
        marker = data[pos]
        pos += 1
        if marker == 0x00 or marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD8, 0xD9, 0xDA) or pos + 2 > end:
            return None
        length = (data[pos] << 8) | data[pos + 1]
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            # length, precision, height, width: a height of 0 (set later by DNL) is unreadable.
            if length < 8 or pos + 7 > end:
                return None
            height, width = struct.unpack('>HH', data[pos + 3:pos + 7])
            return (width, height) if height else None
        pos += length
    return None


def compressed_size(data) -> Tuple[str, Optional[Tuple[int, int]]]:
    """
    Return (kind, (width, height) or None): what a compressed image's header declares.

    `kind` is 'PNG', 'JPEG' (by signature) or '' for anything else; the size is None when the
    header does not say it (truncated, garbled). Reads only the header: no pixel is decoded.
    """
    buffer = _buffer(data)
    if buffer[:len(PNG_SIGNATURE)].tobytes() == PNG_SIGNATURE:
        return 'PNG', _png_size(buffer[:24].tobytes())
    if buffer[:len(JPEG_SIGNATURE)].tobytes() == JPEG_SIGNATURE:
        # SOFn is in the first 64 KiB but behind large EXIF / ICC segments: copy more only then.
        size = _jpeg_size(buffer[:1 << 16].tobytes())
        if size is None and buffer.size > 1 << 16:
            size = _jpeg_size(buffer.tobytes())
        return 'JPEG', size
    return '', None


def decode_image(encoding: str, width: int, height: int, step: int, data,
                 is_bigendian: bool = False,
                 max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """
    Return the image as a BGR uint8 array of shape (height, width, 3).

    Raises ImageDecodeError for an unknown encoding, a zero or absurd size (a side over
    MAX_SIDE_PX, more than `max_pixels` pixels; None: no budget), a step shorter than one row,
    data shorter than step * height, or an odd width for a packed YUV encoding.
    Row padding (step larger than a row) is allowed and removed.
    """
    encoding = str(encoding).strip().lower()
    if encoding not in ENCODINGS:
        raise ImageDecodeError(f'unsupported image encoding {encoding!r}; supported: '
                               f'{", ".join(SUPPORTED_ENCODINGS)}')
    width, height, step = int(width), int(height), int(step)
    check_image_size(width, height, max_pixels, encoding)
    channel_bytes, channels, even_width = ENCODINGS[encoding]
    if even_width and width % 2:
        raise ImageDecodeError(f'{encoding} packs two pixels per 4 bytes: width must be even, '
                               f'got {width}')
    row_bytes = width * channels * channel_bytes
    if step < row_bytes:
        raise ImageDecodeError(f'step {step} is shorter than one row of {width} px '
                               f'{encoding} ({row_bytes} bytes)')
    buffer = _buffer(data)
    needed = step * (height - 1) + row_bytes
    if buffer.size < needed:
        raise ImageDecodeError(f'image data has {buffer.size} bytes, {width}x{height} {encoding} '
                               f'with step {step} needs {step * height}')
    if step != row_bytes:
        # rosbags-image assumes rows without padding: cut the padding off first.
        rows = np.lib.stride_tricks.as_strided(buffer, shape=(height, row_bytes),
                                               strides=(step, 1))
        buffer = np.ascontiguousarray(rows).reshape(-1)
    else:
        buffer = buffer[:row_bytes * height]
    message = SimpleNamespace(encoding=encoding, width=width, height=height, step=row_bytes,
                              data=buffer, is_bigendian=bool(is_bigendian))
    try:
        bgr = image_to_cvimage(message, 'bgr8')
    except (ImageError, cv2.error, ValueError, TypeError) as exc:
        raise ImageDecodeError(f'cannot convert {width}x{height} {encoding} to bgr8: '
                               f'{exc}') from exc
    if bgr.dtype != np.uint8 or bgr.shape != (height, width, 3):
        raise ImageDecodeError(f'{encoding} converted to an unexpected array '
                               f'{bgr.dtype} {bgr.shape}')
    return bgr


def decode_compressed(fmt: str, data,
                      max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """
    Return a JPEG or PNG sensor_msgs/CompressedImage as a BGR uint8 array.

    `fmt` is the message's format field: 'jpeg', 'png' or image_transport's
    '<encoding>; jpeg compressed bgr8'. Raises ImageDecodeError for an empty payload, a format
    that is neither JPEG nor PNG (compressedDepth included), a payload that is not a JPEG or PNG
    stream, a size in its header that check_image_size refuses (before decoding), a header
    without a readable size over MAX_UNREAD_HEADER_BYTES, or bytes OpenCV cannot decode.
    """
    fmt_text = str(fmt).strip().lower()
    if 'compresseddepth' in fmt_text:
        raise ImageDecodeError(f'compressed depth images are not supported (format {fmt!r})')
    if fmt_text and not any(name in fmt_text for name in COMPRESSED_FORMATS + ('jpg',)):
        raise ImageDecodeError(f'unsupported compressed format {fmt!r}; supported: jpeg, png')
    buffer = _buffer(data)
    if buffer.size == 0:
        raise ImageDecodeError(f'compressed image ({fmt!r}) has no data')
    kind, size = compressed_size(buffer)
    if not kind:
        raise ImageDecodeError(f'cannot decode {buffer.size} bytes as {fmt!r}: not a JPEG or '
                               f'PNG stream (starts with {buffer[:8].tobytes().hex(" ")})')
    if size is not None:
        check_image_size(size[0], size[1], max_pixels, f'{kind} header')
    elif buffer.size > MAX_UNREAD_HEADER_BYTES:
        raise ImageDecodeError(f'cannot read the image size in the {kind} header of '
                               f'{buffer.size} bytes; not decoded (over '
                               f'{MAX_UNREAD_HEADER_BYTES} bytes)')
    try:
        bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageDecodeError(f'cannot decode {buffer.size} bytes as {fmt!r}: {exc}') from exc
    if bgr is None or bgr.size == 0:
        raise ImageDecodeError(f'cannot decode {buffer.size} bytes as {fmt!r} '
                               '(corrupt or truncated data)')
    return bgr


def is_compressed(msg) -> bool:
    """Return whether an image message is a sensor_msgs/CompressedImage (it has `format`)."""
    return hasattr(msg, 'format')


def decode_image_message(msg, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """
    Decode a sensor_msgs/Image or CompressedImage into BGR uint8 (ImageDecodeError if not).

    rclpy and rosbags messages alike (duck-typed). An image over `max_pixels` (width x height
    from the fields, or from the JPEG / PNG header before decoding; None: no budget) is
    refused, as is a side over 65536 px; so is a core/image_cdr.UnreadableImage.
    """
    if hasattr(msg, 'unreadable'):
        raise ImageDecodeError(f'bad image message: {msg.unreadable}')
    if is_compressed(msg):
        return decode_compressed(msg.format, msg.data, max_pixels=max_pixels)
    return decode_image(msg.encoding, int(msg.width), int(msg.height), int(msg.step), msg.data,
                        bool(msg.is_bigendian), max_pixels=max_pixels)


def encode_image(bgr: np.ndarray, encoding: str) -> Tuple[int, bytes]:
    """
    Return (step, data) of a BGR uint8 image in `encoding`; the inverse of decode_image.

    For bags, test frames and simulated cameras: Bayer mosaics are sampled from the colour
    image, 16-bit encodings scale 0..255 to 0..65535 (little endian). Raises ValueError for an
    array that is not H x W x 3 uint8, ImageDecodeError (a ValueError) for an unknown encoding.
    """
    if bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f'expected a BGR uint8 HxWx3 array, got {bgr.dtype} {bgr.shape}')
    encoding = str(encoding).strip().lower()
    if encoding not in ENCODINGS:
        raise ImageDecodeError(f'unsupported image encoding {encoding!r}')
    if encoding in ('bgr8', 'bgr16'):
        out = bgr
    elif encoding in ('rgb8', 'rgb16'):
        out = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    elif encoding == 'bgra8':
        out = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    elif encoding == 'rgba8':
        out = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)
    elif encoding in ('mono8', 'mono16'):
        out = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    elif encoding in ('yuv422', 'uyvy'):
        out = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_UYVY)
    elif encoding in ('yuv422_yuy2', 'yuyv'):
        out = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_YUYV)
    else:  # bayer_XXXX8/16: the 2x2 pattern names the colour of each cell, row by row.
        pattern = encoding[len('bayer_'):len('bayer_') + 4]
        channel = {'b': 0, 'g': 1, 'r': 2}
        out = np.empty(bgr.shape[:2], dtype=np.uint8)
        for index, colour in enumerate(pattern):
            dy, dx = divmod(index, 2)
            out[dy::2, dx::2] = bgr[dy::2, dx::2, channel[colour]]
    out = np.ascontiguousarray(out)
    if ENCODINGS[encoding][0] == 2:
        out = (out.astype('<u2') * 257).astype('<u2')
    return out.strides[0], out.tobytes()
