# SPDX-License-Identifier: Apache-2.0
"""Every node executable ends a bad `-p` with exit status 2 and a fatal line, no traceback."""
import pytest
from ros_processes import NodeProcess

pytestmark = pytest.mark.timeout(60)

# One parameter each that rclpy refuses while the node declares it (ParameterException):
# out of its declared range, or, for result_recorder_node, whose parameters have no range,
# of the wrong type.
BAD_PARAMETERS = {
    'camera_node': ('frame_rate_hz:=0.0', 'out of range'),
    'inference_node': ('min_confidence:=1.5', 'out of range'),
    'reject_actuator_node': ('pulse_width_s:=0.0', 'out of range'),
    'bag_player_node': ('rate:=0.0', 'out of range'),
    'result_recorder_node': ('record_image:=5', "expecting type 'BOOL'"),
}


@pytest.mark.parametrize('node', sorted(BAD_PARAMETERS))
def test_a_bad_parameter_exits_with_status_2_and_a_fatal_line(node):
    parameter, reason = BAD_PARAMETERS[node]
    process = NodeProcess.node(node, '-p', parameter)
    output = process.finish(30)
    assert process.returncode == 2, output
    assert 'Traceback' not in output, output
    fatal = [line for line in output.splitlines() if line.startswith('[FATAL]')]
    assert len(fatal) == 1, output
    name = parameter.split(':=')[0]
    assert f'[{node}]: cannot start' in fatal[0] and name in fatal[0] and reason in fatal[0], \
        output


# One configure error each (raised in configure(), after the parameters were declared).
CONFIGURE_ERRORS = {
    'camera_node': (('source:=synthetic', 'image_qos:=fastest'), 'image_qos must be one of'),
    'inference_node': (('model_path:=/nonexistent/model.onnx',), 'model file not found'),
}


@pytest.mark.parametrize('node', sorted(CONFIGURE_ERRORS))
def test_a_configure_error_at_autostart_is_one_fatal_line(node):
    parameters, reason = CONFIGURE_ERRORS[node]
    process = NodeProcess.node(node, *[part for p in parameters for part in ('-p', p)])
    output = process.finish(30)
    assert process.returncode == 2, output
    assert 'Traceback' not in output and '[ERROR]' not in output, output
    lines = [line for line in output.splitlines() if reason in line]
    assert len(lines) == 1, output
    assert lines[0].startswith('[FATAL]') and f'[{node}]: cannot start: ' in lines[0], output
