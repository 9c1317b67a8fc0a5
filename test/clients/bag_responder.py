# SPDX-License-Identifier: Apache-2.0
"""
Client of test_bag_player: stands in for inference_node.

Answers every frame with a result carrying its header, then prints the headers of the frames
and the part triggers it saw (`SEEN {"frames": [...], "parts": [...]}`). Arguments: the number
of frames to expect and, optionally, how many subscribers (a recorder) must match its results
before it prints `READY`: a result published before discovery completes is lost to them (seen
once on a loaded machine).
"""
import json
import sys

from acnn_ros.msg import InspectionResult, PartTrigger
from rclpy.qos import QoSProfile
from ros_client import RosClient
from sensor_msgs.msg import Image


def main(argv):
    expected = int(argv[1])
    result_subscribers = int((argv[2:] or [0])[0])
    client = RosClient('fake_inference', spin_step_s=0.05)
    node = client.node
    results = node.create_publisher(InspectionResult, 'inspection', QoSProfile(depth=100))
    frames, parts = [], []

    def on_image(msg):
        frames.append([msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec,
                       msg.header.frame_id, int(msg.data[0])])
        results.publish(InspectionResult(header=msg.header, class_name='x', confidence=1.0))
    node.create_subscription(PartTrigger, 'part', lambda m: parts.append(
        [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, m.header.frame_id, m.part_id]),
        QoSProfile(depth=100))
    node.create_subscription(Image, 'image', on_image, QoSProfile(depth=100))
    client.spin_until(lambda: results.get_subscription_count() >= result_subscribers, 15)
    print('READY', flush=True)
    client.spin_until(lambda: len(frames) >= expected, 25)
    for _ in range(10):
        client.spin_once(0.05)
    print('SEEN ' + json.dumps({'frames': frames, 'parts': parts}), flush=True)
    client.close()


if __name__ == '__main__':
    main(sys.argv)
