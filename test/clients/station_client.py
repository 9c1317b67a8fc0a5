# SPDX-License-Identifier: Apache-2.0
"""
The part trigger of a 3-camera station (test_station_fusion), and what the actuator said.

Arguments: the number of parts, the number of camera processes to wait for, and optionally
the period between parts (seconds, 0.1 by default). Publishes one PartTrigger per part on
`part` (frame_id 'station', the stamp every camera's result carries), waits for the
RejectEvents, and prints one `EVENT` line (JSON: part id, decision, reason, detail, views) per
event, then `DIAG` (JSON: the per-camera values of the actuator's diagnostics).
"""
import json
import sys
import time

from acnn_ros.msg import PartTrigger, RejectEvent
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_client import RosClient


def main():
    parts, cameras = int(sys.argv[1]), int(sys.argv[2])
    period_s = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
    client = RosClient('station_trigger')
    node = client.node
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    triggers = node.create_publisher(PartTrigger, 'part', reliable)
    events = client.record(RejectEvent, 'reject', reliable)
    diagnostics = client.record(DiagnosticArray, '/diagnostics', 10)
    assert client.spin_until(lambda: node.count_subscribers('part') >= cameras + 1 and
                             node.count_publishers('inspection') >= cameras and
                             node.count_publishers('reject'), 30), 'station not found'
    client.spin_for(0.5)
    for part_id in range(1, parts + 1):
        trigger = PartTrigger(part_id=part_id)
        trigger.header.stamp, trigger.header.frame_id = node.get_clock().now().to_msg(), 'station'
        triggers.publish(trigger)
        client.spin_for(period_s)
    assert client.spin_until(lambda: len(events) >= parts, 10), f'only {len(events)} events'
    client.spin_for(0.5)      # a second event for a part would come in this time

    def camera_values():
        for array in reversed(diagnostics):
            status = array.status[0]
            values = {kv.key: kv.value for kv in status.values}
            if status.name.startswith('/reject_actuator') and values.get('inspected') == \
                    str(parts):
                return {k: int(v) for k, v in values.items() if k.startswith('cam')}
        return None
    client.spin_until(lambda: camera_values() is not None, 5)
    for event in events:
        print('EVENT', json.dumps({
            'part_id': event.part_id, 'decision': event.decision, 'reason': event.reason,
            'detail': event.reason_detail, 'frame_id': event.header.frame_id,
            'class_name': event.class_name,
            'views': [[v.camera, v.status, v.deciding, v.class_name, round(v.confidence, 3),
                       v.roi.width] for v in event.views]}), flush=True)
    print('DIAG', json.dumps(camera_values()), flush=True)
    time.sleep(0.1)
    client.close()


if __name__ == '__main__':
    main()
