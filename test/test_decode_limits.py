# SPDX-License-Identifier: Apache-2.0
"""
Bounded decoding (issue 19 item 3): a frame's declared size is checked before it is decoded.

A 20000x20000 PNG of zeros is a few hundred KB; decoded it is 1.2 GB of BGR. The size in its
header (PNG IHDR, JPEG SOFn) is read first and the frame refused when a side is over 65536 px
or width x height over the pixel budget (inference_node's max_image_pixels), on the raw path
too. The last test sends the bomb to a real inference_node over DDS.
"""
import io
from pathlib import Path
import struct
import time
import zlib

from acnn_ros.core.image_codec import (compressed_size, decode_compressed, decode_image,
                                       DEFAULT_MAX_PIXELS, ImageDecodeError,
                                       MAX_UNREAD_HEADER_BYTES)
from acnn_ros.core.messages import frame_key
from acnn_ros.msg import InspectionResult
from acnn_ros.runtime.inference_config import (ConfigError, INACTIVE_ONLY_PARAMETERS,
                                               InferenceConfig, PARAMETER_SPECS)
from contract_model import blob_frame, export_contract_model
import cv2
from inference_node_client import InferenceClient, start_inference_node
import numpy as np
from PIL import Image
import pytest

OK, ERROR = InspectionResult.STATUS_OK, InspectionResult.STATUS_ERROR
BOMB_SIDE = 20000
BOMB_DETAIL = 'image 20000x20000 = 400 MP over max_image_pixels'


@pytest.fixture(scope='module')
def png_bomb():
    """Return a real 20000x20000 PNG of zeros (a few hundred KB, 1.2 GB once decoded)."""
    ok, data = cv2.imencode('.png', np.zeros((BOMB_SIDE, BOMB_SIDE), np.uint8))
    assert ok and data.size < 1_000_000
    return data.tobytes()


def _jpeg(width, height, **options) -> bytes:
    out = io.BytesIO()
    Image.new('L', (width, height)).save(out, 'JPEG', **options)
    return out.getvalue()


def _png_header(width, height) -> bytes:
    """Return a PNG signature and IHDR chunk declaring width x height (no image data)."""
    body = b'IHDR' + struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + struct.pack('>I', 13) + body + \
        struct.pack('>I', zlib.crc32(body))


# ---- the header check

def test_the_png_bomb_is_refused_from_its_header_in_microseconds(png_bomb):
    assert compressed_size(png_bomb) == ('PNG', (BOMB_SIDE, BOMB_SIDE))
    started = time.perf_counter()
    with pytest.raises(ImageDecodeError, match=f'{BOMB_DETAIL} 50 MP \\(PNG header\\)'):
        decode_compressed('png', png_bomb)
    assert time.perf_counter() - started < 0.05
    # Truncated after its header, it is still refused for its size, not decoded.
    with pytest.raises(ImageDecodeError, match=BOMB_DETAIL):
        decode_compressed('png', png_bomb[:1000])


def test_a_large_jpeg_is_refused_from_its_sof_marker():
    data = _jpeg(12000, 9000)            # 108 MP
    assert compressed_size(data) == ('JPEG', (12000, 9000))
    with pytest.raises(ImageDecodeError, match='image 12000x9000 = 108 MP over '
                                               'max_image_pixels 50 MP \\(JPEG header\\)'):
        decode_compressed('jpeg', data)


@pytest.mark.parametrize('options', [{}, {'progressive': True},
                                     {'exif': b'Exif\x00\x00' + bytes(60000),
                                      'icc_profile': bytes(20000)},
                                     {'quality': 20, 'subsampling': 2}])
def test_jpeg_size_is_found_behind_any_segments(options):
    # Progressive: SOF2; 80 KB of EXIF and ICC segments put the SOF behind the first 64 KiB.
    data = _jpeg(640, 480, **options)
    assert compressed_size(data) == ('JPEG', (640, 480))
    assert decode_compressed('jpeg', data).shape == (480, 640, 3)


def test_jpeg_fill_bytes_and_stray_bytes_before_a_marker_are_skipped_as_libjpeg_does():
    data = _jpeg(64, 48)
    # After SOI: 0xFF fill bytes before the next marker, then stray bytes before another.
    app0_length = struct.unpack('>H', data[4:6])[0]
    after_app0 = 4 + app0_length
    patched = data[:2] + b'\xff\xff' + data[2:after_app0] + b'\x00\x17' + data[after_app0:]
    assert compressed_size(patched) == ('JPEG', (64, 48))


def test_the_budget_and_the_side_limit_are_exact():
    data = cv2.imencode('.png', np.zeros((48, 64, 3), np.uint8))[1].tobytes()
    assert decode_compressed('png', data, max_pixels=64 * 48).shape == (48, 64, 3)
    with pytest.raises(ImageDecodeError, match='image 64x48 = 0.003072 MP over '
                                               'max_image_pixels 0.003071 MP'):
        decode_compressed('png', data, max_pixels=64 * 48 - 1)
    assert decode_compressed('png', data, max_pixels=None).shape == (48, 64, 3)
    with pytest.raises(ImageDecodeError, match='implausible image size 70000x1'):
        decode_compressed('png', _png_header(70000, 1), max_pixels=None)
    with pytest.raises(ImageDecodeError, match='empty image: 0x48'):
        decode_compressed('png', _png_header(0, 48))


def test_the_raw_path_has_the_same_budget_checked_before_the_data():
    # No data at all: the size alone refuses it (the budget comes before the length check).
    with pytest.raises(ImageDecodeError, match='image 8000x7000 = 56 MP over max_image_pixels '
                                               '50 MP \\(mono8\\)'):
        decode_image('mono8', 8000, 7000, 8000, b'')
    frame = bytes(64 * 48 * 3)
    assert decode_image('bgr8', 64, 48, 192, frame, max_pixels=64 * 48).shape == (48, 64, 3)
    with pytest.raises(ImageDecodeError, match='over max_image_pixels'):
        decode_image('bgr8', 64, 48, 192, frame, max_pixels=64 * 48 - 1)


def test_truncated_streams_are_errors_never_large_decodes():
    good = cv2.imencode('.png', blob_frame(640, 480, 100, 100, 'red'))[1].tobytes()
    with pytest.raises(ImageDecodeError, match='corrupt or truncated'):
        decode_compressed('png', good[:len(good) // 2])      # size readable: decoded, fails
    assert compressed_size(good[:20]) == ('PNG', None)
    with pytest.raises(ImageDecodeError, match='cannot decode 20 bytes'):
        decode_compressed('png', good[:20])                   # no size: small, decoded, fails
    jpeg = _jpeg(640, 480)
    sof = jpeg.index(b'\xff\xc0')
    assert compressed_size(jpeg[:sof + 4]) == ('JPEG', None)
    with pytest.raises(ImageDecodeError, match='cannot decode'):
        decode_compressed('jpeg', jpeg[:sof + 4])
    # A JPEG stream whose size cannot be read and that is over MAX_UNREAD_HEADER_BYTES: refused.
    comment = b'\xff\xfe\xff\xff' + bytes(0xFFFD)
    big = b'\xff\xd8' + comment * 2
    assert len(big) > MAX_UNREAD_HEADER_BYTES and compressed_size(big) == ('JPEG', None)
    with pytest.raises(ImageDecodeError, match='cannot read the image size in the JPEG header'):
        decode_compressed('jpeg', big)


def test_a_payload_that_is_neither_jpeg_nor_png_is_refused():
    # OpenCV would decode it by its own signature: WebP declares 256 MP in about 10 KB.
    webp = cv2.imencode('.webp', np.zeros((16, 16, 3), np.uint8))[1].tobytes()
    assert compressed_size(webp) == ('', None)
    with pytest.raises(ImageDecodeError, match="as 'jpeg': not a JPEG or PNG stream "
                                               '\\(starts with 52 49 46 46'):
        decode_compressed('jpeg', webp)


def test_max_image_pixels_is_a_validated_parameter_read_at_activate():
    spec = {s.name: s for s in PARAMETER_SPECS}['max_image_pixels']
    assert spec.default == InferenceConfig().max_image_pixels == DEFAULT_MAX_PIXELS
    assert (spec.low, spec.high) == (1, 65536 * 65536) and spec.description
    assert 'max_image_pixels' in INACTIVE_ONLY_PARAMETERS
    assert InferenceConfig.from_values({'max_image_pixels': 1000}).max_image_pixels == 1000
    with pytest.raises(ConfigError, match='max_image_pixels=0 is outside'):
        InferenceConfig.from_values({'max_image_pixels': 0})


# ---- the bomb on a real inference_node over DDS

def _rss_mb(pid: int) -> float:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024.0
    raise AssertionError('no VmRSS')


@pytest.mark.timeout(120)
def test_the_bomb_on_the_compressed_topic_is_one_error_and_the_node_stays_small(
        tmp_path_factory, png_bomb):
    model = export_contract_model(tmp_path_factory.mktemp('decode_limits_model'))
    # A budget below 1280x960 (1.2 MP) shows the parameter reaches the raw path too.
    node = start_inference_node({'model_path': str(model), 'image_transport': 'both',
                                 'image_qos': 'reliable', 'warmup_runs': '1',
                                 'max_image_pixels': '1000000'})
    try:
        assert node.wait_for_log('inspecting both images'), node.output
        client = InferenceClient(name='decode_limits_client', model_prefix='contract@')
        try:
            assert client.wait_connected() and client.wait_connected(compressed=True), \
                node.output
            normal = cv2.imencode('.png', blob_frame(640, 480, 100, 380, 'blue'))[1].tobytes()
            for _ in range(3):     # warm: the first frames allocate the working buffers
                first = client.result_for(client.publish_compressed('png', normal))
                assert first is not None and first.status == OK, node.output
            rss_before = _rss_mb(node.process.pid)
            sent = time.perf_counter()
            bomb = client.publish_compressed('png', png_bomb)
            result = client.result_for(bomb)
            answer_s = time.perf_counter() - sent
            assert result is not None, node.output
            assert result.status == ERROR and result.class_id == -1, result.detail
            assert f'{BOMB_DETAIL} 1 MP (PNG header)' in result.detail, result.detail
            after = client.result_for(client.publish_compressed('png', normal))
            assert after is not None and after.status == OK and after.class_name == 'blue'
            client.spin_for(0.3)
            assert [frame_key(r.header) for r in client.results].count(bomb) == 1
            rss_after = _rss_mb(node.process.pid)
            print(f'inference_node VmRSS {rss_before:.0f} MB before the bomb, '
                  f'{rss_after:.0f} MB after; bomb answered in {answer_s * 1000:.0f} ms '
                  f'(detail: {result.detail})')
            assert rss_after < 600 and rss_after - rss_before < 50, (rss_before, rss_after)
            raw = client.publish_bgr(blob_frame(1280, 960, 600, 400, 'red'))
            refused = client.result_for(raw)
            assert refused is not None and refused.status == ERROR
            assert 'image 1280x960 = 1.229 MP over max_image_pixels 1 MP (bgr8)' \
                in refused.detail, refused.detail
            assert node.process.poll() is None
        finally:
            client.close()
    finally:
        assert node.interrupt(timeout_s=10.0) == 0, node.output
