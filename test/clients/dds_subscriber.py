# SPDX-License-Identifier: Apache-2.0
"""
Client of test_dds_custom_message: receives one acnn_ros/InspectionResult and prints it.

Prints `READY` once subscribed, then `GOT <fields>` for the first message (within 20 s).
"""
from acnn_ros.msg import InspectionResult
from ros_client import RosClient


def main():
    client = RosClient('dds_test_subscriber', spin_step_s=0.1)
    received = client.record(InspectionResult, 'inspection', 10)
    print('READY', flush=True)
    client.spin_until(lambda: received, 20)
    msg = received[0]
    print('GOT', msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec,
          msg.status, msg.class_id, msg.class_name, round(msg.confidence, 3),
          [round(s, 2) for s in msg.class_scores], msg.roi.x_offset, msg.roi.width,
          msg.model_id, flush=True)
    client.close()


if __name__ == '__main__':
    main()
