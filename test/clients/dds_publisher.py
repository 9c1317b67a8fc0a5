# SPDX-License-Identifier: Apache-2.0
"""Client of test_dds_custom_message: publishes one known acnn_ros/InspectionResult 50 times."""
from acnn_ros.msg import InspectionResult
from ros_client import RosClient


def main():
    client = RosClient('dds_test_publisher', spin_step_s=0.05)
    publisher = client.node.create_publisher(InspectionResult, 'inspection', 10)
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
    client.spin_until(lambda: client.node.count_subscribers('inspection') > 0, 20)
    for _ in range(50):
        publisher.publish(msg)
        client.spin_once(0.1)
    client.close()


if __name__ == '__main__':
    main()
