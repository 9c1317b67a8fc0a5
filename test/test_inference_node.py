# SPDX-License-Identifier: Apache-2.0
"""
inference_node in its own process, driven over real DDS from this test process.

One node serves the whole module (start-up costs a second); each test publishes frames with
stamps of their own and looks for the result with the same header.
"""
from acnn_ros.core.image_codec import SUPPORTED_ENCODINGS
from acnn_ros.core.messages import frame_key
from acnn_ros.msg import InspectionResult
from contract_model import (blob_frame, export_contract_model, INPUT_HEIGHT, INPUT_WIDTH,
                            ROI_HEIGHT_PX, ROI_WIDTH_PX)
import cv2
from inference_node_client import InferenceClient, start_inference_node
import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters

OK, ERROR = InspectionResult.STATUS_OK, InspectionResult.STATUS_ERROR
pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    return export_contract_model(tmp_path_factory.mktemp('inference_node_model'))


@pytest.fixture(scope='module')
def node(model_path):
    process = start_inference_node({'model_path': str(model_path), 'image_transport': 'both',
                                    'image_qos': 'reliable', 'image_qos_depth': '50',
                                    'diagnostics_period_s': '0.5', 'warmup_runs': '1'})
    assert process.wait_for_log('inspecting both images'), process.output
    yield process
    assert process.interrupt(timeout_s=10.0) == 0, process.output


@pytest.fixture(scope='module')
def client(node):
    ros = InferenceClient(model_prefix='contract@')
    assert ros.wait_connected() and ros.wait_connected(compressed=True), node.output
    yield ros
    ros.close()


def _inspect(client, key, node):
    result = client.result_for(key)
    assert result is not None, f'no result for frame {key}\n{node.output}'
    return result


def test_start_up_logs_the_active_provider_once(node, client):
    lines = [line for line in node.output.splitlines() if 'active provider' in line]
    assert len(lines) == 1, node.output
    assert 'active provider CPUExecutionProvider' in lines[0]
    assert 'not in this build: TensorrtExecutionProvider, CUDAExecutionProvider' in lines[0]


@pytest.mark.parametrize('encoding', SUPPORTED_ENCODINGS)
def test_every_encoding_gives_one_ok_result_with_the_roi(node, client, encoding):
    frame = blob_frame(640, 480, 400, 300, 'red', radius=8)
    key = client.publish_bgr(frame, encoding, pad=8 if encoding == 'rgb8' else 0)
    result = _inspect(client, key, node)
    assert result.status == OK, result.detail
    assert frame_key(result.header) == key
    assert abs(result.roi_center_x - 400) < 1.5 and abs(result.roi_center_y - 300) < 1.5
    if not encoding.startswith('mono'):  # a grey image carries no colour to classify
        assert result.class_name == 'red' and result.class_id == 0
        assert result.confidence > 0.9
    assert len(result.class_scores) == 3 and abs(sum(result.class_scores) - 1.0) < 1e-4
    assert result.model_id.startswith('contract@')
    assert result.total_ms >= result.inference_ms > 0


@pytest.mark.parametrize('extension', ['.jpg', '.png'])
def test_compressed_images_are_inspected(node, client, extension):
    frame = blob_frame(640, 480, 100, 380, 'blue', radius=10)
    ok, data = cv2.imencode(extension, frame)
    key = client.publish_compressed('bgr8; jpeg compressed bgr8' if extension == '.jpg'
                                    else 'png', data.tobytes())
    result = _inspect(client, key, node)
    assert result.status == OK, result.detail
    assert result.class_name == 'blue'
    assert abs(result.roi_center_x - 100) < 2 and abs(result.roi_center_y - 380) < 2


@pytest.mark.parametrize('width, height, x, y', [
    (1280, 960, 1000.0, 200.0), (320, 240, 40.0, 220.0), (640, 480, 320.0, 240.0)])
def test_roi_is_published_in_source_pixels_whatever_the_resize(
        node, client, width, height, x, y):
    key = client.publish_bgr(blob_frame(width, height, x, y, 'green', radius=12))
    result = _inspect(client, key, node)
    assert result.status == OK, result.detail
    assert result.class_name == 'green'
    assert result.roi_center_x == pytest.approx(x, abs=1.0)
    assert result.roi_center_y == pytest.approx(y, abs=1.0)
    box_w = ROI_WIDTH_PX * width / INPUT_WIDTH
    box_h = ROI_HEIGHT_PX * height / INPUT_HEIGHT
    assert result.roi.width == pytest.approx(box_w, abs=1)
    assert result.roi.height == pytest.approx(box_h, abs=1)
    assert result.roi.x_offset == pytest.approx(x - box_w / 2, abs=1)
    assert result.roi.y_offset == pytest.approx(y - box_h / 2, abs=1)
    assert result.roi.y_offset + result.roi.height <= height  # clipped to the image


BAD_FRAMES = [
    ('unknown encoding', ('32FC7', 64, 48, 64 * 3, bytes(64 * 48 * 3)), 'unsupported'),
    ('short data', ('bgr8', 64, 48, 64 * 3, bytes(64 * 3 * 10)), 'needs'),
    ('step shorter than a row', ('bgr8', 64, 48, 64, bytes(64 * 48 * 3)), 'step 64'),
    ('zero size', ('mono8', 0, 0, 0, b''), 'empty image'),
    ('odd yuv width', ('yuv422', 63, 48, 126, bytes(126 * 48)), 'even'),
]


def test_bad_images_give_error_results_and_the_node_stays_up(node, client):
    sends = [(lambda fields=fields: client.publish_fields(*fields), expected)
             for _, fields, expected in BAD_FRAMES]
    sends.append((lambda: client.publish_compressed('jpeg', b'\xff\xd8 not a jpeg'),
                  'cannot decode'))
    sends.append((lambda: client.publish_compressed('jpeg', b''), 'no data'))
    for send, expected in sends:  # one at a time: a burst would drop some (tested elsewhere)
        key = send()
        result = _inspect(client, key, node)
        assert result.status == ERROR and expected in result.detail, result.detail
        assert result.class_id == -1 and not result.class_scores
        assert frame_key(result.header) == key

    # Diagnostics are periodic: wait for one that has counted every error sent.
    def errors(status):
        return int({v.key: v.value for v in status.values}['total_errors'])
    status = client.latest_status(after=len(client.diagnostics),
                                  until=lambda s: errors(s) >= len(sends))
    assert status is not None and status.level[0] >= 1, status
    assert errors(status) >= len(sends)
    assert 'unsupported' in node.output or 'bad image' in node.output
    good = client.publish_bgr(blob_frame(640, 480, 50, 50, 'red'))
    assert _inspect(client, good, node).status == OK
    assert node.process.poll() is None


def test_diagnostics_report_backend_provider_and_latency(node, client):
    for _ in range(5):
        _inspect(client, client.publish_bgr(blob_frame(640, 480, 200, 200, 'red')), node)
    status = client.latest_status(after=len(client.diagnostics))
    values = {v.key: v.value for v in status.values}
    assert values['backend'] == 'onnxruntime'
    assert values['provider'] == 'CPUExecutionProvider'
    assert values['model_id'].startswith('contract@')
    for key in ('fps', 'latency_p50_ms', 'latency_p99_ms', 'dropped', 'errors'):
        assert key in values


def test_overlay_is_published_only_while_subscribed(node, client):
    def published():
        client.spin_for(0.2)
        status = client.latest_status(after=len(client.diagnostics))
        return int({v.key: v.value for v in status.values}['overlays_published'])

    def inspect_frames(count):
        keys = [client.publish_bgr(blob_frame(640, 480, 300, 100, 'red', radius=10))
                for _ in range(count)]
        for key in keys:
            _inspect(client, key, node)
        return keys
    start = published()
    inspect_frames(3)
    assert published() == start  # nobody listens: nothing drawn
    client.subscribe_overlay(True)
    assert client.spin_until(lambda: client.node.count_subscribers(client.overlay_topic) > 0)
    client.spin_for(0.5)
    [key] = inspect_frames(1)
    assert client.spin_until(lambda: any(frame_key(o.header) == key for o in client.overlays))
    overlay = [o for o in client.overlays if frame_key(o.header) == key][0]
    assert (overlay.width, overlay.height, overlay.encoding) == (640, 480, 'bgr8')
    with_subscriber = published()
    assert with_subscriber == start + 1
    client.subscribe_overlay(False)
    client.spin_for(1.0)
    inspect_frames(3)
    assert published() == with_subscriber


def _set(client, **values):
    parameters = []
    for name, value in values.items():
        if isinstance(value, list):
            v = ParameterValue(type=ParameterType.PARAMETER_STRING_ARRAY, string_array_value=value)
        elif isinstance(value, float):
            v = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
        else:
            v = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
        parameters.append(Parameter(name=name, value=v))
    response = client.call(SetParameters, '/inference_node/set_parameters',
                           SetParameters.Request(parameters=parameters), timeout_s=10, wait_s=10)
    return response.results[0]


def test_class_names_change_at_run_time_and_bad_values_are_refused(node, client):
    assert _set(client, class_names=['scratch', 'ok', 'smudge']).successful
    result = _inspect(client, client.publish_bgr(blob_frame(640, 480, 60, 60, 'green')), node)
    assert (result.class_id, result.class_name) == (1, 'ok')
    refused = _set(client, class_names=['only_one'])
    assert not refused.successful and '1 class names given' in refused.reason
    refused = _set(client, min_confidence=1.5)
    assert not refused.successful
    refused = _set(client, backend='torch')     # a changeover parameter, node active
    assert not refused.successful and 'can only be set while inference_node is not active' \
        in refused.reason and 'deactivate' in refused.reason, refused.reason
    refused = _set(client, diagnostics_period_s=5.0)
    assert not refused.successful and 'read-only' in refused.reason, refused.reason
    assert _set(client, min_confidence=0.9).successful
    assert _set(client, class_names=['']).successful
    result = _inspect(client, client.publish_bgr(blob_frame(640, 480, 60, 60, 'green')), node)
    assert result.class_name == 'green'
