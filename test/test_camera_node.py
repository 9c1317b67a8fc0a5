# SPDX-License-Identifier: Apache-2.0
"""camera_node in its own process, received over real DDS by this test process."""
import time

from acnn_ros.core.messages import stamp_ns
from acnn_ros.msg import PartTrigger
import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from ros_client import RosClient
from ros_processes import NodeProcess
from sensor_msgs.msg import CameraInfo, Image
from std_srvs.srv import SetBool
from test_camera_source import CALIBRATION_YAML

pytestmark = pytest.mark.timeout(60)


def start_camera(*ros_args) -> NodeProcess:
    """Start `python -m acnn_ros.nodes.camera_node` with `ros_args` (stop: interrupt(10.0))."""
    return NodeProcess.node('camera_node', *ros_args)


class Listener(RosClient):
    """A node of this process subscribed to everything camera_node publishes."""

    def __init__(self):
        super().__init__('camera_test_listener', spin_step_s=0.05)
        self.images = self.record(Image, 'image', qos_profile_sensor_data)
        self.infos = self.record(CameraInfo, 'camera_info', qos_profile_sensor_data)
        self.parts = self.record(PartTrigger, 'part', 100)
        self.diagnostics = []
        self.node.create_subscription(DiagnosticArray, '/diagnostics',
                                      self._on_diagnostics, 10)

    def _on_diagnostics(self, msg):
        self.diagnostics.extend(s for s in msg.status if s.name.startswith('/camera_node: '))

    def call_enable(self, value: bool) -> SetBool.Response:
        return self.call(SetBool, '/camera_node/enable', SetBool.Request(data=value),
                         timeout_s=10, wait_s=15)


@pytest.fixture
def listener():
    listener = Listener()
    yield listener
    listener.close()


def write_frames(folder, count):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        cv2.imwrite(str(folder / f'{i:03d}.png'), np.full((48, 64, 3), 10 * (i + 1), np.uint8))


def test_publishes_images_and_part_triggers_with_one_header(tmp_path, listener):
    write_frames(tmp_path / 'frames', 4)
    calibration = tmp_path / 'camera.yaml'
    calibration.write_text(CALIBRATION_YAML)
    camera = start_camera('-p', f'source:={tmp_path / "frames"}', '-p', 'frame_rate_hz:=10.0',
                          '-p', 'enabled:=false', '-p', 'frame_id:=line_cam',
                          '-p', f'camera_info_file:={calibration}')
    try:
        # Capture starts only when enabled, so the first trigger this test sees is part 1.
        assert listener.spin_until(lambda: listener.node.count_publishers('part') > 0, 15), \
            camera.output
        response = listener.call_enable(True)
        assert response.success and 'capture enabled' in response.message
        assert listener.spin_until(lambda: len(listener.parts) >= 12, 15), camera.output
        response = listener.call_enable(False)
        assert response.success and 'disabled' in response.message
        listener.spin_for(0.5)           # let in-flight messages arrive
        stopped_at = len(listener.parts)
        listener.spin_for(1.0)
        assert len(listener.parts) == stopped_at, 'frames kept coming after ~/enable false'
    finally:
        assert camera.interrupt(timeout_s=10.0) == 0, camera.output

    ids = [p.part_id for p in listener.parts]
    assert ids == list(range(1, len(ids) + 1))
    images = {stamp_ns(m.header.stamp): m for m in listener.images}
    matched = [p for p in listener.parts if stamp_ns(p.header.stamp) in images]
    assert len(matched) >= len(ids) - 1, 'images and part triggers do not share headers'
    for part in matched:
        image = images[stamp_ns(part.header.stamp)]
        assert image.header.frame_id == part.header.frame_id == 'line_cam'
        assert (image.width, image.height, image.encoding, image.step) == (64, 48, 'bgr8', 192)
        # Sorted folder, looping: part n shows file (n - 1) % 4, whose pixels are 10 * (k + 1).
        assert image.data[0] == 10 * ((part.part_id - 1) % 4 + 1)
    stamps = [stamp_ns(p.header.stamp) for p in listener.parts]
    assert stamps == sorted(stamps)
    period_s = (stamps[-1] - stamps[0]) / (len(stamps) - 1) / 1e9
    assert 0.05 < period_s < 0.5, f'mean period {period_s:.3f} s at frame_rate_hz 10'
    assert abs(stamps[-1] / 1e9 - time.time()) < 30, 'stamps are not wall-clock capture times'
    infos = {stamp_ns(m.header.stamp): m for m in listener.infos}
    assert set(infos) & set(images), 'camera_info does not share the image header'
    info = next(iter(infos.values()))
    assert (info.width, info.height, info.k[0], info.distortion_model) == (
        640, 480, 800.0, 'plumb_bob')
    assert 'calibration is for 640x480, frames are 64x48' in camera.output


def test_folder_vanishes_and_returns_without_restart(tmp_path, listener):
    folder = tmp_path / 'frames'
    write_frames(folder, 3)
    camera = start_camera('-p', f'source:={folder}', '-p', 'frame_rate_hz:=20.0',
                          '-p', 'reconnect_initial_s:=0.1', '-p', 'reconnect_max_s:=0.4',
                          '-p', 'diagnostics_period_s:=0.2')
    try:
        assert listener.spin_until(lambda: len(listener.parts) >= 5, 20), camera.output
        folder.rename(tmp_path / 'unplugged')

        def error_reported():
            return any(s.level == DiagnosticStatus.ERROR and 'vanished' in s.message
                       or s.level == DiagnosticStatus.ERROR and 'does not exist' in s.message
                       for s in listener.diagnostics)
        assert listener.spin_until(error_reported, 10), camera.output
        gone_at = len(listener.parts)
        listener.spin_for(1.0)
        assert len(listener.parts) == gone_at, 'frames while the folder was away'
        (tmp_path / 'unplugged').rename(folder)
        assert listener.spin_until(lambda: len(listener.parts) >= gone_at + 5, 10), \
            camera.output
        assert listener.spin_until(
            lambda: listener.diagnostics[-1].level == DiagnosticStatus.OK, 5)
        assert camera.process.poll() is None, 'the node exited'
    finally:
        assert camera.interrupt(timeout_s=10.0) == 0, camera.output
    ids = [p.part_id for p in listener.parts]
    assert ids == list(range(ids[0], ids[0] + len(ids))), 'part ids restarted or skipped'
    lost = [line for line in camera.lines if 'camera source lost' in line]
    # Mid-folder the read finds the folder gone; at a loop's rescan, the reopen does.
    assert len(lost) == 1 and ('vanished' in lost[0] or 'does not exist' in lost[0]), \
        camera.output
    assert 'camera source unavailable' in camera.output      # the failed reopen attempts
    assert 'camera source is back after' in camera.output
    values = {kv.key: kv.value for kv in listener.diagnostics[-1].values}
    assert values['disconnects'] == '1' and values['reconnects'] == '1'
    assert int(values['failed_attempts']) >= 1


def test_bad_parameters_exit_with_a_clear_error():
    camera = start_camera('-p', 'source:=synthetic', '-p', 'image_qos:=fastest')
    assert camera.process.wait(timeout=20) == 2
    time.sleep(0.2)
    assert "image_qos must be one of ('sensor_data', 'reliable'), got 'fastest'" in \
        camera.output
