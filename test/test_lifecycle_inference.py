# SPDX-License-Identifier: Apache-2.0
"""
inference_node as a managed node, driven over real DDS with lifecycle_msgs/srv/ChangeState.

The node runs in its own process with autostart:=false; this process calls ChangeState /
GetState / SetParameters and publishes frames, and checks the state after every transition,
that every frame the node took while active got exactly one result (across deactivate and a
product changeover), that frames sent while it was inactive got none, and the model id of the
results after the changeover.
"""
from acnn_ros.core.messages import frame_key
from acnn_ros.msg import InspectionResult
from contract_model import blob_frame, export_contract_model
from inference_node_client import InferenceClient, start_inference_node
from lifecycle_msgs.msg import Transition
import pytest

pytestmark = pytest.mark.timeout(120)
OK, DROPPED = InspectionResult.STATUS_OK, InspectionResult.STATUS_DROPPED
# About 0.3 s a frame here: a burst leaves one frame in the engine and one waiting.
SLOW_LAYERS = 100
BURST = 5


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp('lifecycle_models')
    return {
        'contract': export_contract_model(directory),
        'slow': export_contract_model(directory, stem='slow', slow_layers=SLOW_LAYERS),
        'alt': export_contract_model(directory, stem='alt', class_names=('p1', 'p2', 'p3')),
        'wrong_size': export_contract_model(directory, stem='wrong_size',
                                            card_input_size=(640, 480)),
    }


def start(model_path, client_name):
    node = start_inference_node({'autostart': 'false', 'model_path': str(model_path),
                                 'image_qos': 'reliable', 'image_qos_depth': '50',
                                 'warmup_runs': '1', 'diagnostics_period_s': '0.3'})
    return node, InferenceClient(client_name)


def frame(colour='blue'):
    return blob_frame(320, 240, 100, 60, colour)


def results_for(client, keys):
    wanted = set(keys)
    return [r for r in client.results if frame_key(r.header) in wanted]


def state_reported(client, state, level=None):
    """Wait for a diagnostics status that reports `state` (and level); return it."""
    def reports(status):
        values = {v.key: v.value for v in status.values}
        return values.get('lifecycle_state') == state and \
            (level is None or status.level[0] == level)
    return client.latest_status(after=len(client.diagnostics), until=reports)


def transition(client, node, transition_id, expected_state, success=True):
    assert client.change_state(client.node_name, transition_id) is success, node.output
    assert client.get_state(client.node_name) == expected_state, node.output


def test_every_transition_and_a_changeover_answer_each_frame_once(models):
    node, client = start(models['slow'], 'lifecycle_changeover_client')
    try:
        assert client.get_state(client.node_name) == 'unconfigured', node.output
        assert client.node.count_publishers('/inspection') == 0
        status = state_reported(client, 'unconfigured')
        assert status is not None and status.level[0] == 1 and \
            status.message.startswith('unconfigured'), status

        transition(client, node, Transition.TRANSITION_CONFIGURE, 'inactive')
        assert client.spin_until(lambda: client.node.count_publishers('/inspection') == 1)
        assert 'loaded model slow@' in node.output
        inactive_keys = [client.publish_bgr(frame()) for _ in range(3)]

        transition(client, node, Transition.TRANSITION_ACTIVATE, 'active')
        assert client.wait_connected(), node.output
        assert state_reported(client, 'active') is not None
        refused = client.set_parameters(model_path=str(models['alt']))[0]
        assert not refused.successful and 'not active' in refused.reason, refused.reason
        # A burst: one frame in the engine, one queued for it, one waiting in the slot, the
        # others displaced (DROPPED; runtime/staged_worker.py). Two drops mean the node holds
        # the rest: deactivate must answer them before it returns.
        burst = [client.publish_bgr(frame()) for _ in range(BURST)]
        assert client.spin_until(lambda: sum(r.status == DROPPED for r in results_for(
            client, burst)) >= BURST - 3), node.output
        before = len(results_for(client, burst))
        transition(client, node, Transition.TRANSITION_DEACTIVATE, 'inactive')
        client.spin_until(lambda: len(results_for(client, burst)) >= BURST, 5.0)
        answered = results_for(client, burst)
        assert sorted(frame_key(r.header) for r in answered) == sorted(burst), node.output
        assert len(answered) > before      # frames were in hand when deactivate came
        assert answered[-1].status == OK and frame_key(answered[-1].header) == burst[-1]
        assert client.images.get_subscription_count() == 0
        status = state_reported(client, 'inactive')
        assert status is not None and status.level[0] == 1, status

        inactive_keys += [client.publish_bgr(frame()) for _ in range(3)]
        # The product changeover: model parameters set while inactive, loaded at activate.
        assert all(r.successful for r in client.set_parameters(model_path=str(models['alt'])))
        transition(client, node, Transition.TRANSITION_ACTIVATE, 'active')
        assert 'product changeover: replaced slow@' in node.output
        assert client.wait_connected(), node.output
        after = []
        for _ in range(3):      # one at a time: none displaced
            after.append(client.publish_bgr(frame()))
            result = client.result_for(after[-1])
            assert result is not None and result.status == OK, node.output
            assert result.model_id.startswith('alt@') and result.class_name == 'p3'
        client.spin_for(1.0)        # a late or doubled answer would arrive now
        assert not results_for(client, inactive_keys)
        keys = [frame_key(r.header) for r in client.results]
        assert sorted(keys) == sorted(burst + after), 'a frame answered twice or late'

        transition(client, node, Transition.TRANSITION_DEACTIVATE, 'inactive')
        transition(client, node, Transition.TRANSITION_CLEANUP, 'unconfigured')
        assert client.spin_until(lambda: client.node.count_publishers('/inspection') == 0)
        transition(client, node, Transition.TRANSITION_UNCONFIGURED_SHUTDOWN, 'finalized')
        assert node.process.poll() is None        # finalized, still answering (until Ctrl-C)
    finally:
        client.close()
        code = node.interrupt(timeout_s=10.0)
    assert code == 0, node.output
    assert 'Traceback' not in node.output and 'ERROR' not in node.output, node.output


def test_failed_configure_and_failed_activate_keep_the_node_up_with_the_reason(models):
    node, client = start('/nonexistent/model.onnx', 'lifecycle_failure_client')
    try:
        transition(client, node, Transition.TRANSITION_CONFIGURE, 'unconfigured', success=False)
        assert 'configure failed: model file not found: /nonexistent/model.onnx' in node.output
        status = state_reported(client, 'unconfigured', level=2)
        assert status is not None and 'model file not found' in status.message, status
        # Not a valid transition from here: refused, the node stays up.
        transition(client, node, Transition.TRANSITION_ACTIVATE, 'unconfigured', success=False)

        assert client.set_parameters(model_path=str(models['contract']))[0].successful
        transition(client, node, Transition.TRANSITION_CONFIGURE, 'inactive')
        transition(client, node, Transition.TRANSITION_ACTIVATE, 'active')
        assert client.wait_connected(), node.output
        result = client.result_for(client.publish_bgr(frame()))
        assert result is not None and result.model_id.startswith('contract@')

        transition(client, node, Transition.TRANSITION_DEACTIVATE, 'inactive')
        assert client.set_parameters(model_path=str(models['wrong_size']))[0].successful
        transition(client, node, Transition.TRANSITION_ACTIVATE, 'inactive', success=False)
        assert 'activate failed, still using contract@' in node.output
        assert '640x480' in node.output
        status = state_reported(client, 'inactive', level=2)
        assert status is not None and 'still using contract@' in status.message, status
        assert status.hardware_id.startswith('contract@')   # the old model stayed

        # Class names set while inactive go with the model loaded at activate.
        results = client.set_parameters(model_path=str(models['contract']),
                                        class_names=['x', 'y', 'z'])
        assert all(r.successful for r in results)
        transition(client, node, Transition.TRANSITION_ACTIVATE, 'active')
        assert client.wait_connected(), node.output
        result = client.result_for(client.publish_bgr(frame('blue')))
        assert result is not None and result.status == OK, node.output
        assert result.model_id.startswith('contract@') and result.class_name == 'z'
    finally:
        client.close()
        code = node.interrupt(timeout_s=10.0)
    assert code == 0, node.output
    assert 'Traceback' not in node.output, node.output
