# SPDX-License-Identifier: Apache-2.0
"""
Client of test_opcua_client: camera and inference_node for reject_actuator_node on OPC UA.

Part 1 accepted, part 2 a reject class, part 3 never gets a result (fail-safe reject); prints
one `EVENT` line (JSON) per RejectEvent.
"""
import json
import time

from acnn_ros.msg import InspectionResult, PartTrigger, RejectEvent
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_client import RosClient


def main():
    client = RosClient('opcua_test_client')
    node = client.node
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    parts = node.create_publisher(PartTrigger, 'part', reliable)
    results = node.create_publisher(InspectionResult, 'inspection', reliable)
    events = client.record(RejectEvent, 'reject', reliable)
    assert client.spin_until(lambda: node.count_subscribers('part') and
                             node.count_subscribers('inspection') and
                             node.count_publishers('reject'), 20), 'actuator node not found'
    time.sleep(0.5)
    for part_id, name in ((1, 'p3707'), (2, 'p1069'), (3, None)):
        trigger = PartTrigger(part_id=part_id)
        trigger.header.stamp = node.get_clock().now().to_msg()
        trigger.header.frame_id = 'camera_optical_frame'
        parts.publish(trigger)
        if name is not None:
            result = InspectionResult(status=0, class_name=name, confidence=0.95, class_id=1)
            result.header = trigger.header
            results.publish(result)
        client.spin_once(0.05)
    assert client.spin_until(lambda: len(events) >= 3, 10), f'only {len(events)} events'
    for e in events:
        print('EVENT', json.dumps({'part_id': e.part_id, 'decision': e.decision,
                                   'reason': e.reason, 'delivery': e.delivery,
                                   'actuator': e.actuator}), flush=True)
    client.close()


if __name__ == '__main__':
    main()
