# SPDX-License-Identifier: Apache-2.0
"""
A station's cameras over real DDS: one trigger, N frames per part, each its own camera's view.

Three camera_node processes: cam0 captures at its rate and announces each part on `part`
(trigger: timer); cam1 and cam2 are station cameras (trigger: part) that capture one frame
per PartTrigger, stamped with the trigger's stamp and their own frame_id. All three render the
synthetic station (issue 21): the same part, each from its angle. A station camera started
late or stopped misses parts (those views are missing, the actuator fail-safes them), but
never publishes a frame under a stamp that is not a part's.
"""
from acnn_ros.core.messages import stamp_ns
from acnn_ros.msg import PartTrigger
import pytest
from ros_client import RosClient
from ros_processes import NodeProcess
from sensor_msgs.msg import Image

pytestmark = pytest.mark.timeout(150)
PARTS = 12


def station_camera(index: int, *extra: str) -> NodeProcess:
    return NodeProcess.node(
        'camera_node', '-r', f'__node:=camera_node_{index}', '-r', f'image:=cam{index}/image',
        '-p', 'source:=synthetic', '-p', f'frame_id:=cam{index}', '-p', 'synthetic_seed:=5',
        '-p', 'synthetic_station_cameras:=3', '-p', f'synthetic_station_index:={index}',
        '-p', 'synthetic_device:=1', '-p', 'image_qos:=reliable', *extra)


@pytest.fixture
def client(own_domain_env):
    client = RosClient('station_camera_client')
    yield client
    client.close()


def test_station_cameras_capture_one_frame_per_trigger_with_its_stamp(client):
    parts = client.record(PartTrigger, 'part', 1000)
    images = {index: client.record(Image, f'cam{index}/image', 100) for index in range(3)}
    followers = [station_camera(index, '-p', 'trigger:=part') for index in (1, 2)]
    trigger = None
    try:
        # The station camera subscribes before the trigger starts: the trigger's start gate
        # waits for the actuator and both followers (min_part_subscribers 3; the test is one).
        assert client.spin_until(lambda: client.node.count_subscribers('part') >= 3, 30), \
            followers[0].output + followers[1].output
        trigger = station_camera(0, '-p', 'frame_rate_hz:=5.0', '-p', f'max_frames:={PARTS}',
                                 '-p', 'min_part_subscribers:=3')
        assert client.spin_until(lambda: len(parts) >= PARTS and all(
            len(images[i]) >= PARTS for i in range(3)), 60), (
            trigger.output + followers[0].output)
        client.spin_for(1.0)
        stamps = [stamp_ns(p.header.stamp) for p in parts]
        assert [p.part_id for p in parts] == list(range(1, PARTS + 1))
        for index in range(3):
            assert [stamp_ns(m.header.stamp) for m in images[index]] == stamps
            assert {m.header.frame_id for m in images[index]} == {f'cam{index}'}
        # Same part, different angles: the views differ.
        assert bytes(images[1][0].data) != bytes(images[2][0].data)
        # A station camera announces no parts of its own.
        assert client.node.count_publishers('part') == 1
    finally:
        for process in followers + ([trigger] if trigger else []):
            process.interrupt()
