# SPDX-License-Identifier: Apache-2.0
"""
`acnn line` against a real inference_node process over DDS (docs/TUTORIAL.md step 8).

The changeover of the tutorial in the project's own environment (no `ros2` command): `acnn
line status` shows the node, its state, model and min_confidence; `acnn line load-model` swaps
the model (the next result carries the new model id; a model without its card is refused and
the old one stays); `acnn line set` changes min_confidence live and refuses a wrong type, an
unknown parameter and an unknown node. Every `acnn` call is a process of its own, as typed.
"""
from pathlib import Path

from contract_model import blob_frame, export_contract_model
from inference_node_client import InferenceClient, start_inference_node
import pytest
from ros_processes import NodeProcess

REPO_DIR = Path(__file__).resolve().parents[1]
DEMO_MODEL = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'


def _acnn_line(*args: str):
    """Run `acnn line ARGS` in a process of its own; return (exit status, output)."""
    process = NodeProcess.module('acnn_ros.cli', 'line', *args)
    status = process.wait(60.0)
    return status, process.output


@pytest.fixture
def node(own_domain_env):
    process = start_inference_node({'model_path': str(DEMO_MODEL), 'image_qos': 'reliable',
                                    'warmup_runs': '1'})
    assert process.wait_for_log('inspecting raw images', 60.0), process.output
    yield process
    assert process.interrupt(timeout_s=15.0) == 0, process.output


@pytest.mark.timeout(300)
def test_line_status_and_changeover_on_a_running_inference_node(node, tmp_path):
    status, printed = _acnn_line('status')
    assert status == 0, printed
    assert '/inference_node  active' in printed and 'model acnn_demo@' in printed, printed
    assert 'min_confidence=0.6' in printed, printed

    model = export_contract_model(tmp_path / 'new_product')
    status, printed = _acnn_line('load-model', str(model))
    assert status == 0, printed
    assert '/inference_node: contract@' in printed, printed
    client = InferenceClient('line_cli_test_client')
    try:
        assert client.wait_connected(), node.output
        result = client.result_for(client.publish_bgr(blob_frame(320, 240, 100, 80, 'green')))
        assert result is not None and result.model_id.startswith('contract@')
        assert result.class_name == 'green'
    finally:
        client.close()

    without_card = tmp_path / 'no_card.onnx'
    without_card.write_bytes(model.read_bytes())
    status, printed = _acnn_line('load-model', str(without_card))
    assert status == 1 and 'still using contract@' in printed, printed
    status, printed = _acnn_line('load-model', str(tmp_path / 'nope.onnx'))
    assert status == 2 and 'nope.onnx: no such file' in printed, printed

    status, printed = _acnn_line('set', 'inference_node', 'min_confidence', '0.742')
    assert status == 0 and 'min_confidence 0.6 -> 0.742' in printed, printed
    status, printed = _acnn_line('set', '/inference_node', 'min_confidence', '1')
    assert status == 0 and '0.742 -> 1.0' in printed, printed      # an int for a double
    status, printed = _acnn_line('set', 'inference_node', 'min_confidence', 'high')
    assert status == 1 and 'min_confidence stays 1.0' in printed, printed
    status, printed = _acnn_line('set', 'inference_node', 'no_such_parameter', '1')
    assert status == 2 and 'has no parameter no_such_parameter' in printed, printed
    status, printed = _acnn_line('status')
    assert 'model contract@' in printed and 'min_confidence=1.0' in printed, printed


def test_line_commands_say_when_no_line_is_running(own_domain_env):
    status, printed = _acnn_line('--wait', '1', 'set', 'inference_node', 'min_confidence', '1')
    assert status == 2, printed
    assert 'no node inference_node on ROS_DOMAIN_ID' in printed, printed
    assert 'is the line running' in printed
    status, printed = _acnn_line('--wait', '1', 'status')
    assert status == 2 and 'no node seen' in printed, printed
