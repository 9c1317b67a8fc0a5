# SPDX-License-Identifier: Apache-2.0
"""
The part trigger of test_inference_station, and the InspectionResults inference_node gave.

Arguments: the number of parts, the period between parts (s), the number of results to wait
for, then the overlay topics to watch. Publishes one PartTrigger per part on `part`, records
every InspectionResult on `inspection` with its arrival time, and prints one `RESULT` line
(JSON: part id, frame_id, status, seconds from the trigger to the result, inference_ms,
total_ms) per result, then `DIAG <partial batches> <late camera frames>` (inference_node's
diagnostics) and one `OVERLAY <topic> <frame_ids> <count>` line per overlay topic.
"""
import json
import sys
import time

from acnn_ros.msg import InspectionResult, PartTrigger
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_client import RosClient
from sensor_msgs.msg import Image


def main():
    parts, period_s, expected = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    overlay_topics = sys.argv[4:]
    client = RosClient('station_trigger')
    node = client.node
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    triggers = node.create_publisher(PartTrigger, 'part', reliable)
    diagnostics = client.record(DiagnosticArray, '/diagnostics', 10)
    arrivals = []
    node.create_subscription(InspectionResult, 'inspection',
                             lambda msg: arrivals.append((time.monotonic(), msg)), reliable)
    overlays = {topic: client.record(Image, topic, QoSProfile(
        depth=10, reliability=ReliabilityPolicy.RELIABLE)) for topic in overlay_topics}
    assert client.spin_until(lambda: node.count_subscribers('part') >= 3 and
                             node.count_publishers('inspection') >= 1 and
                             all(node.count_publishers(t) for t in overlay_topics), 30), \
        'station not found'
    client.spin_for(1.0)
    sent = {}
    for part_id in range(1, parts + 1):
        trigger = PartTrigger(part_id=part_id)
        trigger.header.stamp, trigger.header.frame_id = node.get_clock().now().to_msg(), 'station'
        sent[(trigger.header.stamp.sec, trigger.header.stamp.nanosec)] = (part_id,
                                                                          time.monotonic())
        triggers.publish(trigger)
        client.spin_for(period_s)
    assert client.spin_until(lambda: len(arrivals) >= expected, 10), f'{len(arrivals)} results'
    client.spin_for(0.5)      # a second result for a frame would come in this time
    for arrived, msg in arrivals:
        part_id, triggered = sent[(msg.header.stamp.sec, msg.header.stamp.nanosec)]
        print('RESULT', json.dumps({
            'part_id': part_id, 'frame_id': msg.header.frame_id, 'status': msg.status,
            'after_trigger_s': round(arrived - triggered, 4), 'inference_ms': msg.inference_ms,
            'total_ms': msg.total_ms}), flush=True)
    client.spin_for(1.2)      # the next diagnostics period
    values = {kv.key: kv.value for array in diagnostics for status in array.status
              if status.name.startswith('/inference_node') for kv in status.values}
    print('DIAG', values.get('partial_batches'), values.get('late_camera_frames'), flush=True)
    for topic, images in overlays.items():
        print('OVERLAY', topic, ','.join(sorted({image.header.frame_id for image in images})),
              len(images), flush=True)
    client.close()


if __name__ == '__main__':
    main()
