# SPDX-License-Identifier: Apache-2.0
"""A misspelled `-p` / params-file name is named once at start, with the closest real name."""
import time

from acnn_ros.core.parameter_spec import ParameterSpec
from acnn_ros.nodes.managed_node import ManagedNode
from acnn_ros.nodes.ros_parameters import declare_parameters, warn_unknown_parameters
import pytest
import rclpy
from rclpy.parameter import Parameter
from ros_client import RosClient
from ros_processes import NodeProcess

pytestmark = pytest.mark.timeout(90)


def _warnings(output, name):
    return [line for line in output.splitlines() if f"unknown parameter '{name}'" in line]


@pytest.fixture
def client(own_domain_env):
    client = RosClient('unknown_parameters_client')
    yield client
    client.close()


def test_camera_node_warns_once_per_misspelled_name_and_still_comes_up(tmp_path, client):
    params = tmp_path / 'params.yaml'
    params.write_text('/**/camera_node:\n  ros__parameters:\n    max_framez: 3\n'
                      '/**:\n  ros__parameters:\n    min_confidence: 0.5\n    autostart: true\n')
    camera = NodeProcess.node('camera_node', '--params-file', str(params),
                              '-p', 'source:=synthetic', '-p', 'frame_rate_hzz:=5.0',
                              '-p', 'use_sim_time:=false',
                              '-p', 'qos_overrides./image.publisher.depth:=3')
    try:
        assert client.get_state('camera_node') == 'active', camera.output
        # A product changeover's configure again: no second warning.
        assert client.change_state('camera_node', 'deactivate'), camera.output
        assert client.change_state('camera_node', 'cleanup'), camera.output
        assert client.change_state('camera_node', 'configure'), camera.output
    finally:
        code = camera.interrupt()
    output = camera.output
    assert code == 0, output
    typo = _warnings(output, 'frame_rate_hzz')
    assert len(typo) == 1 and typo[0].startswith('[WARN]'), output
    assert "[camera_node]: unknown parameter 'frame_rate_hzz' ignored; did you mean " \
        "'frame_rate_hz'?" in typo[0], output
    from_file = _warnings(output, 'max_framez')
    assert len(from_file) == 1 and "did you mean 'max_frames'?" in from_file[0], output
    # Declared ones, ROS's own and the shared /** ones another node declares: no warning.
    assert output.count('unknown parameter') == 2, output


def test_a_plain_node_warns_too(tmp_path, client):
    recorder = NodeProcess.node('result_recorder_node', '-p', f'bag_path:={tmp_path / "bag"}',
                                '-p', 'record_imagee:=true')
    try:
        end = time.monotonic() + 30
        while 'recording' not in recorder.output and recorder.process.poll() is None \
                and time.monotonic() < end:
            time.sleep(0.1)
        assert 'recording' in recorder.output, recorder.output
    finally:
        code = recorder.interrupt()
    assert code == 0, recorder.output
    lines = _warnings(recorder.output, 'record_imagee')
    assert len(lines) == 1 and "did you mean 'record_image'?" in lines[0], recorder.output


def test_overrides_given_in_process_are_checked_once_per_context(capfd):
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        overrides = [Parameter('rate_hzz', value=5.0), Parameter('use_sim_time', value=False),
                     Parameter('min_confidence', value=0.5), Parameter('xyzzy', value=1),
                     Parameter('qos_overrides./part.publisher.depth', value=3),
                     Parameter('autostartt', value=True)]
        node = rclpy.create_node('unknown_parameters_test', context=context,
                                 parameter_overrides=overrides)
        declare_parameters(node, [ParameterSpec('rate_hz', 10.0, 'capture rate', 0.1, 100.0)])
        assert warn_unknown_parameters(node) == [
            "unknown parameter 'autostartt' ignored; did you mean 'autostart'?",
            "unknown parameter 'rate_hzz' ignored; did you mean 'rate_hz'?",
            "unknown parameter 'xyzzy' ignored; unknown_parameters_test has no parameter of a "
            'similar name']
        assert warn_unknown_parameters(node) == []
        node.destroy_node()
        capfd.readouterr()
        # A managed node built with overrides (as inspection_line builds its nodes) is checked
        # when it configures; names already warned about in this context are not repeated.
        managed = ManagedNode('unknown_parameters_managed', context=context,
                              parameter_overrides=overrides + [
                                  Parameter('autostrat', value=True)])
        managed.trigger_configure()
        managed.trigger_cleanup()
        managed.trigger_configure()
        managed.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    logged = capfd.readouterr().err
    assert logged.count('unknown parameter') == 1, logged
    assert "[unknown_parameters_managed]: unknown parameter 'autostrat' ignored; did you mean " \
        "'autostart'?" in logged, logged
