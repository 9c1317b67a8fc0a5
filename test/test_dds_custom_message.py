# SPDX-License-Identifier: Apache-2.0
"""A publisher and a subscriber in two processes exchange acnn_ros messages over real DDS."""
import os

from ros_processes import finish, start_python

SUBSCRIBER = """
import rclpy
from rclpy.node import Node
from acnn_ros.msg import InspectionResult

rclpy.init()
node = Node('dds_test_subscriber')
received = []
node.create_subscription(InspectionResult, 'inspection', received.append, 10)
print('READY', flush=True)
end = node.get_clock().now().nanoseconds + 20 * 10**9
while not received and node.get_clock().now().nanoseconds < end:
    rclpy.spin_once(node, timeout_sec=0.1)
msg = received[0]
print('GOT', msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec,
      msg.status, msg.class_id, msg.class_name, round(msg.confidence, 3),
      [round(s, 2) for s in msg.class_scores], msg.roi.x_offset, msg.roi.width, msg.model_id,
      flush=True)
node.destroy_node()
rclpy.shutdown()
"""

PUBLISHER = """
import rclpy
from rclpy.node import Node
from acnn_ros.msg import InspectionResult

rclpy.init()
node = Node('dds_test_publisher')
publisher = node.create_publisher(InspectionResult, 'inspection', 10)
msg = InspectionResult()
msg.header.frame_id = 'camera_optical'
msg.header.stamp.sec = 1234
msg.header.stamp.nanosec = 5678
msg.status = InspectionResult.STATUS_OK
msg.class_id = 2
msg.class_name = 'p3707'
msg.confidence = 0.875
msg.class_scores = [0.0625, 0.0625, 0.875]
msg.roi.x_offset = 470
msg.roi.width = 32
msg.model_id = 'test@abc'
end = node.get_clock().now().nanoseconds + 20 * 10**9
while node.count_subscribers('inspection') == 0 and node.get_clock().now().nanoseconds < end:
    rclpy.spin_once(node, timeout_sec=0.05)
for _ in range(50):
    publisher.publish(msg)
    rclpy.spin_once(node, timeout_sec=0.1)
node.destroy_node()
rclpy.shutdown()
"""


def test_environment_keeps_dds_on_loopback():
    assert os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
    assert os.environ['ROS_DOMAIN_ID'] != '0'


def test_inspection_result_crosses_processes():
    subscriber = start_python(SUBSCRIBER)
    assert subscriber.stdout.readline().strip() == 'READY'
    publisher = start_python(PUBLISHER)
    sub_out = finish(subscriber, timeout_s=30)
    pub_out = finish(publisher, timeout_s=30)
    assert subscriber.returncode == 0, sub_out
    assert publisher.returncode == 0, pub_out
    got = [line for line in sub_out.splitlines() if line.startswith('GOT')]
    assert got == ['GOT camera_optical 1234 5678 0 2 p3707 0.875 [0.06, 0.06, 0.88] '
                   '470 32 test@abc'], sub_out
