# SPDX-License-Identifier: Apache-2.0
"""A publisher and a subscriber in two processes exchange acnn_ros messages over real DDS."""
# The two processes: test/clients/dds_publisher.py and test/clients/dds_subscriber.py.
import os

from ros_processes import NodeProcess


def test_environment_keeps_dds_on_loopback():
    assert os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
    assert os.environ['ROS_DOMAIN_ID'] != '0'


def test_inspection_result_crosses_processes():
    subscriber = NodeProcess.script('dds_subscriber')
    assert subscriber.wait_for_line('READY', 60) is not None, subscriber.output
    assert subscriber.lines[0] == 'READY', subscriber.output
    publisher = NodeProcess.script('dds_publisher')
    sub_out = subscriber.finish(timeout_s=30)
    pub_out = publisher.finish(timeout_s=30)
    assert subscriber.returncode == 0, sub_out
    assert publisher.returncode == 0, pub_out
    got = [line for line in sub_out.splitlines() if line.startswith('GOT')]
    assert got == ['GOT camera_optical 1234 5678 0 2 p3707 0.875 [0.06, 0.06, 0.88] '
                   '470 32 test@abc'], sub_out
