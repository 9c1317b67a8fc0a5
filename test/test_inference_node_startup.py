# SPDX-License-Identifier: Apache-2.0
"""inference_node start-up validation and product changeover (~/load_model), over real DDS."""
from acnn_ros.msg import InspectionResult
from acnn_ros.srv import LoadModel
from contract_model import blob_frame, export_contract_model
from inference_node_client import InferenceClient, start_inference_node
import pytest
from rclpy.qos import ReliabilityPolicy

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp('startup_models')
    return {
        'contract': export_contract_model(directory),
        'alt': export_contract_model(directory, stem='alt', class_names=('p1', 'p2', 'p3')),
        'wrong_size': export_contract_model(directory, stem='wrong_size',
                                            card_input_size=(640, 480)),
    }


def test_bad_parameters_stop_the_node_with_a_clear_message(models, tmp_path):
    no_card = tmp_path / 'no_card.onnx'
    no_card.write_bytes(models['contract'].read_bytes())
    good = str(models['contract'])
    cases = [
        ({'model_path': str(tmp_path / 'missing.onnx')}, 'model file not found'),
        ({'model_path': 'resource/models/missing.onnx'}, "model file 'resource/models/missing"),
        ({'model_path': str(no_card)}, 'model card not found'),
        ({'model_path': str(models['wrong_size'])}, 'takes 320x240 input but its model card '
                                                    'says 640x480'),
        ({'model_path': good, 'providers': '[gpu]'}, "unknown execution provider 'gpu'"),
        ({'model_path': good, 'backend': 'caffe'}, "backend='caffe' is not one of"),
        ({'model_path': good, 'image_transport': 'theora'}, 'image_transport'),
        ({'model_path': good, 'min_confidence': '1.5'}, 'min_confidence'),
        ({'model_path': good, 'image_qos_depth': '0'}, 'image_qos_depth'),
        ({'model_path': good, 'class_names': '[a, b]'}, '2 class names given'),
    ]
    processes = [(start_inference_node(params), expected) for params, expected in cases]
    for process, expected in processes:
        try:
            process.process.wait(timeout=30)
            output = process.output
        finally:
            code = process.interrupt(timeout_s=10.0)
        assert code == 2, output
        assert 'cannot start' in output and expected in output, output


def test_the_shipped_parameter_file_starts_the_node(models):
    node = start_inference_node({'model_path': str(models['contract'])},
                                extra_args=('--params-file', 'config/inspect.yaml'))
    client = None
    try:
        assert node.wait_for_log('inspecting raw images'), node.output
        client = InferenceClient('params_file_test_client')
        assert client.wait_connected(), node.output
        # Default image QoS is SensorDataQoS (best effort), results are reliable.
        # (This test client subscribes to no /image, so every subscription there is the node's.)
        subscriptions = client.node.get_subscriptions_info_by_topic('/image')
        assert subscriptions and all(info.qos_profile.reliability
                                     == ReliabilityPolicy.BEST_EFFORT for info in subscriptions)
        publishers = client.node.get_publishers_info_by_topic('/inspection')
        assert publishers and all(info.qos_profile.reliability == ReliabilityPolicy.RELIABLE
                                  for info in publishers)
        for _ in range(5):  # best effort may lose a frame under load; one result is enough
            result = client.result_for(client.publish_bgr(blob_frame(320, 240, 99, 77, 'red')),
                                       timeout_s=3)
            if result is not None:
                break
        assert result is not None and result.status == InspectionResult.STATUS_OK
    finally:
        if client is not None:
            client.close()
        assert node.interrupt(timeout_s=10.0) == 0, node.output


def test_load_model_swaps_products_and_keeps_the_old_model_on_failure(models):
    node = start_inference_node({'model_path': str(models['contract']), 'image_qos': 'reliable',
                                 'warmup_runs': '1'})
    client = None
    try:
        assert node.wait_for_log('inspecting raw images'), node.output
        client = InferenceClient('changeover_test_client')
        assert client.wait_connected(), node.output

        def call(path, class_names=()):
            return client.call(LoadModel, '/inference_node/load_model', LoadModel.Request(
                model_path=str(path), class_names=list(class_names)), timeout_s=20)

        def inspect():
            result = client.result_for(client.publish_bgr(blob_frame(640, 480, 90, 90, 'blue')))
            assert result is not None and result.status == InspectionResult.STATUS_OK
            return result
        assert inspect().model_id.startswith('contract@')
        response = call(models['alt'])
        assert response.success, response.message
        assert response.message.startswith('alt@') and 'p1, p2, p3' in response.message
        result = inspect()
        assert result.model_id.startswith('alt@') and result.class_name == 'p3'
        response = call(models['contract'], ['x', 'y', 'z'])
        assert response.success, response.message
        assert inspect().class_name == 'z'
        response = call(models['wrong_size'])
        assert not response.success
        assert 'still using contract@' in response.message and '640x480' in response.message
        response = call('/nonexistent/model.onnx')
        assert not response.success and 'model file not found' in response.message
        assert inspect().class_name == 'z'  # the old model (and its class names) stayed
        assert 'model changeover: replaced contract@' in node.output
        assert 'model changeover: load failed' in node.output
    finally:
        if client is not None:
            client.close()
        assert node.interrupt(timeout_s=10.0) == 0, node.output


def test_the_node_composes_into_a_shared_executor(models):
    """The one-process demo runner creates InferenceNode(**kwargs) beside other nodes."""
    import array
    import time

    from acnn_ros.nodes.inference_node import InferenceNode
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    context = rclpy.Context()
    rclpy.init(context=context)
    node = client = None
    try:
        node = InferenceNode(context=context, namespace='line1', parameter_overrides=[
            Parameter('model_path', value=str(models['contract'])),
            Parameter('image_qos', value='reliable')])
        assert node.start_up(), node.configure_error    # autostart's configure + activate
        assert node.lifecycle_state == 'active'
        client = rclpy.create_node('compose_client', namespace='line1', context=context)
        executor = MultiThreadedExecutor(context=context)
        executor.add_node(node)
        executor.add_node(client)
        results = []
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        client.create_subscription(InspectionResult, 'inspection', results.append, reliable)
        publisher = client.create_publisher(Image, 'image', reliable)
        frame = blob_frame(640, 480, 500, 100, 'green')
        msg = Image(height=480, width=640, encoding='bgr8', step=1920,
                    data=array.array('B', frame.tobytes()))
        msg.header.frame_id = 'composed'
        end = time.monotonic() + 15
        while not publisher.get_subscription_count() and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.1)
        publisher.publish(msg)
        while not results and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.2)
        assert results and results[0].status == InspectionResult.STATUS_OK
        assert results[0].class_name == 'green' and results[0].header.frame_id == 'composed'
        assert abs(results[0].roi_center_x - 500) < 1.5
    finally:
        for created in (node, client):
            if created is not None:
                created.destroy_node()
        rclpy.shutdown(context=context)
