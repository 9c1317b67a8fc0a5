# SPDX-License-Identifier: Apache-2.0
"""
Client of test_plc_tracking_line: camera and inference_node for a `timing: plc_tracking` node.

Parts 1..12 on time (20 parts/s, result 20 ms after capture; every third one p1071, a reject),
part 13 with its result 0.6 s after capture, part 14 with trigger and result 0.7 s after
capture. Prints `DIAG <actuator diagnostics as JSON>` and one `EVENT` line (JSON) per
RejectEvent.
"""
import json
import time

from acnn_ros.msg import InspectionResult, PartTrigger, RejectEvent
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_client import RosClient


def header(msg, stamp_s):
    msg.header.stamp = Time(sec=int(stamp_s), nanosec=int(round((stamp_s % 1) * 1e9)) % 10**9)
    msg.header.frame_id = 'camera'


def result(stamp_s, name):
    msg = InspectionResult(status=0, class_name=name, confidence=0.9, class_id=1)
    header(msg, stamp_s)
    return msg


def trigger(stamp_s, part_id):
    msg = PartTrigger(part_id=part_id)
    header(msg, stamp_s)
    return msg


def main():
    client = RosClient('plc_tracking_client')
    node = client.node
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    parts = node.create_publisher(PartTrigger, 'part', reliable)
    results = node.create_publisher(InspectionResult, 'inspection', reliable)
    events = client.record(RejectEvent, 'reject', reliable)
    diagnostics = client.record(DiagnosticArray, '/diagnostics', 10)
    assert client.spin_until(lambda: node.count_subscribers('inspection') and
                             node.count_subscribers('part') and node.count_publishers('reject'),
                             30)
    time.sleep(0.5)
    # Parts 1..12 on time (20 parts/s, result 20 ms after capture); p1071 is rejected.
    plan = {i: ('p1071' if i % 3 == 0 else 'p3707') for i in range(1, 13)}
    for part_id, name in plan.items():
        stamp = time.time()
        parts.publish(trigger(stamp, part_id))
        time.sleep(0.02)
        results.publish(result(stamp, name))
        client.spin_once(0.0)
        time.sleep(0.03)
    # Part 13: its result comes 0.6 s after capture, after the window and after its due time.
    stamp13 = time.time()
    parts.publish(trigger(stamp13, 13))
    client.spin_for(0.6)
    results.publish(result(stamp13, 'p3707'))
    # Part 14: trigger and result both 0.7 s after capture: the part passed the ejector. Its
    # window expired long ago, so the trigger alone decides it (LATE); the result comes after
    # that decision was published (a result overtaking its trigger would be decided as part 0).
    stale = time.time() - 0.7
    parts.publish(trigger(stale, 14))
    assert client.spin_until(lambda: any(e.part_id == 14 for e in events), 10), \
        'part 14 not decided'
    results.publish(result(stale, 'p1071'))
    assert client.spin_until(lambda: len(events) >= 14, 15), f'only {len(events)} events'

    def actuator_values():
        found = [d.status[0] for d in diagnostics
                 if d.status[0].name.startswith('/reject_actuator')]
        return {kv.key: kv.value for kv in found[-1].values} if found else {}
    client.spin_until(lambda: actuator_values().get('late_results') == '2', 5)
    print('DIAG', json.dumps(actuator_values()), flush=True)
    for e in events:
        print('EVENT', json.dumps({
            'part_id': e.part_id, 'decision': e.decision, 'reason': e.reason,
            'delivery': e.delivery,
            'due': e.due_time.sec + e.due_time.nanosec * 1e-9,
            'capture': e.header.stamp.sec + e.header.stamp.nanosec * 1e-9}), flush=True)
    client.close()


if __name__ == '__main__':
    main()
