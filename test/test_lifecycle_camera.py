# SPDX-License-Identifier: Apache-2.0
"""
camera_node's lifecycle over real DDS: every transition, frames only while active, part ids.

The node runs in its own process with `autostart:=false`; this test drives it with
lifecycle_msgs/srv/ChangeState and GetState and records `part`, `image` and `camera_info`.
Part ids must run 1, 2, 3, ... without a gap or a repeat across deactivate / activate,
cleanup / configure and the `~/enable` gate.
"""
from acnn_ros.core.messages import stamp_ns
from acnn_ros.msg import PartTrigger
import pytest
from rclpy.qos import qos_profile_sensor_data
from ros_client import RosClient
from ros_processes import NodeProcess
from sensor_msgs.msg import CameraInfo, Image
from std_srvs.srv import SetBool
from test_camera_node import write_frames
from test_camera_source import CALIBRATION_YAML

pytestmark = pytest.mark.timeout(120)
NODE = 'camera_node'


@pytest.fixture
def client(own_domain_env):
    client = RosClient('camera_lifecycle_client')
    yield client
    client.close()


def test_frames_flow_only_while_active_and_part_ids_continue(tmp_path, client):
    write_frames(tmp_path / 'frames', 4)
    calibration = tmp_path / 'camera.yaml'
    calibration.write_text(CALIBRATION_YAML)
    parts = client.record(PartTrigger, 'part', 100)
    images = client.record(Image, 'image', qos_profile_sensor_data)
    infos = client.record(CameraInfo, 'camera_info', qos_profile_sensor_data)
    camera = NodeProcess.node(NODE, '-p', 'autostart:=false',
                              '-p', f'source:={tmp_path / "frames"}', '-p', 'frame_rate_hz:=20.0',
                              '-p', f'camera_info_file:={calibration}')
    try:
        assert client.get_state(NODE) == 'unconfigured', camera.output
        assert client.change_state(NODE, 'configure'), camera.output
        assert client.get_state(NODE) == 'inactive'
        client.spin_for(0.5)
        assert parts == [] and images == []

        def run_for_parts(count):
            target = len(parts) + count
            assert client.change_state(NODE, 'activate'), camera.output
            assert client.get_state(NODE) == 'active'
            assert client.spin_until(lambda: len(parts) >= target, 15), camera.output

        def stopped(transition):
            assert client.change_state(NODE, transition), camera.output
            client.spin_for(0.5)   # messages in flight
            count = len(parts)
            client.spin_for(1.0)
            assert len(parts) == count, f'frames kept coming after {transition}'

        run_for_parts(5)
        stopped('deactivate')
        assert client.get_state(NODE) == 'inactive'
        run_for_parts(5)
        stopped('deactivate')
        assert client.change_state(NODE, 'cleanup')
        assert client.get_state(NODE) == 'unconfigured'
        assert client.change_state(NODE, 'configure')
        run_for_parts(5)
        # ~/enable is a capture gate inside the active state.
        enable = f'/{NODE}/enable'
        response = client.call(SetBool, enable, SetBool.Request(data=False))
        assert response.success and 'node active' in response.message, response.message
        client.spin_for(0.5)
        count = len(parts)
        client.spin_for(1.0)
        assert len(parts) == count, 'frames kept coming after ~/enable false'
        assert client.call(SetBool, enable, SetBool.Request(data=True)).success
        assert client.spin_until(lambda: len(parts) >= count + 5, 15)
        assert client.change_state(NODE, 'shutdown')   # from active
        assert client.get_state(NODE) == 'finalized'
        client.spin_for(0.5)
        count = len(parts)
        client.spin_for(1.0)
        assert len(parts) == count, 'frames after shutdown'
    finally:
        code = camera.interrupt()
    assert code == 0, camera.output
    assert 'Traceback' not in camera.output, camera.output
    ids = [p.part_id for p in parts]
    assert ids == list(range(1, len(ids) + 1)), f'part ids skipped or reused: {ids}'
    # Every image and camera_info carries the header of its part trigger.
    by_stamp = {stamp_ns(p.header.stamp): p.part_id for p in parts}
    assert len(images) >= len(parts) - 3 and all(stamp_ns(m.header.stamp) in by_stamp
                                                 for m in images)
    assert infos and all(stamp_ns(m.header.stamp) in by_stamp for m in infos)


def test_a_configuration_error_fails_configure_and_the_node_stays_up(client):
    camera = NodeProcess.node(NODE, '-p', 'autostart:=false', '-p', 'source:=synthetic',
                              '-p', 'image_qos:=fastest')
    try:
        assert client.get_state(NODE) == 'unconfigured', camera.output
        assert client.change_state(NODE, 'configure') is False
        assert client.get_state(NODE) == 'unconfigured'
        assert camera.process.poll() is None
        assert client.change_state(NODE, 'shutdown')
        assert client.get_state(NODE) == 'finalized'
    finally:
        code = camera.interrupt()
    assert code == 0, camera.output
    assert "configure failed: image_qos must be one of ('sensor_data', 'reliable'), got " \
        "'fastest'" in camera.output
