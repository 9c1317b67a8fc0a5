# SPDX-License-Identifier: Apache-2.0
"""
camera_node's start-up ordering and rate reports over real DDS (issue 12, parts 3 and 4).

The node runs in its own process; this test process is the line downstream (it subscribes to
`part` and `image` when the test says so). No part may be published before the line is
matched: the first part the late subscriber sees is part 1.
"""
import time

from diagnostic_msgs.msg import DiagnosticStatus
import pytest
from test_camera_node import Listener, start_camera, write_frames

pytestmark = pytest.mark.timeout(90)


def test_capture_waits_until_part_and_image_are_matched(tmp_path):
    write_frames(tmp_path / 'frames', 4)
    camera = start_camera('-p', f'source:={tmp_path / "frames"}', '-p', 'frame_rate_hz:=20.0')
    listener = None
    try:
        assert camera.wait_for_log('once the line is matched (at most 10 s)', 20), \
            camera.output
        time.sleep(2.0)    # 40 frames' worth of time with nobody downstream
        assert 'line ready' not in camera.output, camera.output
        listener = Listener()
        assert listener.spin_until(lambda: len(listener.parts) >= 10, 20), camera.output
        assert camera.wait_for_log('line ready after', 5), camera.output
        assert 'part and image matched; first part 1' in camera.output
        ids = [p.part_id for p in listener.parts]
        assert ids == list(range(1, len(ids) + 1)), 'a part was published before the match'
        assert listener.spin_until(lambda: any(
            'capturing at' in d.message for d in listener.diagnostics), 10)
    finally:
        code = camera.interrupt(timeout_s=10.0)
        if listener is not None:
            listener.close()
    assert code == 0, camera.output


def test_one_early_part_subscriber_does_not_open_a_gate_that_waits_for_two(tmp_path):
    # The first listener stands for a recorder started before reject_actuator_node.
    write_frames(tmp_path / 'frames', 4)
    camera = start_camera('-p', f'source:={tmp_path / "frames"}', '-p', 'frame_rate_hz:=20.0',
                          '-p', 'min_part_subscribers:=2')
    listeners = []
    try:
        assert camera.wait_for_log('once the line is matched', 20), camera.output
        listeners.append(Listener())
        assert not listeners[0].spin_until(lambda: listeners[0].parts, 2.0), camera.output
        assert 'line ready' not in camera.output, camera.output
        listeners.append(Listener())
        assert listeners[1].spin_until(lambda: len(listeners[1].parts) >= 5, 20), camera.output
        assert camera.wait_for_log('first part 1', 5), camera.output
        assert [p.part_id for p in listeners[1].parts][:5] == [1, 2, 3, 4, 5]
    finally:
        code = camera.interrupt(timeout_s=10.0)
        for listener in listeners:
            listener.close()
    assert code == 0, camera.output


def test_capture_starts_anyway_after_line_wait_with_a_warning(tmp_path):
    write_frames(tmp_path / 'frames', 4)
    camera = start_camera('-p', f'source:={tmp_path / "frames"}', '-p', 'frame_rate_hz:=20.0',
                          '-p', 'line_wait_s:=1.0')
    try:
        assert camera.wait_for_log('line not ready after', 20), camera.output
        assert 'no subscriber on part, image' in camera.output
        assert 'capturing anyway' in camera.output and '[WARN]' in camera.output
        # (camera_node stopped by SIGINT within ~0.1 s of capturing without subscribers
        # sometimes ends -2, with or without this change: seen 3 of 6 runs, line_wait_s 0)
        time.sleep(1.0)
    finally:
        assert camera.interrupt(timeout_s=10.0) == 0, camera.output


def test_diagnostics_warn_when_the_camera_runs_slower_than_configured(tmp_path):
    # The synthetic generator rendering every frame live cannot reach 400 Hz on any machine
    # this runs on (about 8 fps on the 2-core CI VM): the camera must say so.
    camera = start_camera('-p', 'source:=synthetic', '-p', 'frame_rate_hz:=400.0',
                          '-p', 'line_wait_s:=0.0', '-p', 'rated_rate_hz:=150.0',
                          '-p', 'rated_rate_source:=test bench')
    listener = Listener()
    try:
        assert listener.spin_until(lambda: any(
            d.level == DiagnosticStatus.WARN and 'slower than configured' in d.message
            for d in listener.diagnostics), 30), (camera.output, listener.diagnostics)
        warn = [d for d in listener.diagnostics if 'slower than configured' in d.message][-1]
        values = {v.key: v.value for v in warn.values}
        assert values['target_hz'] == '400.0' and values['start_gate'].startswith('off')
        assert ('camera 400 Hz configured, line rated 150 Hz (test bench): WARNING camera '
                'faster than the line can answer' in camera.output), camera.output
    finally:
        code = camera.interrupt(timeout_s=10.0)
        listener.close()
    assert code == 0, camera.output
