# SPDX-License-Identifier: Apache-2.0
"""
Client of test_reject_actuator_node: camera and inference_node for reject_actuator_node.

Publishes PartTrigger + InspectionResult (+ Image for the archive) for seven parts, raises
min_confidence at run time, resets the counters, and prints what came back: `SET`, `COUNTERS`,
`DIAG`, `RESET` and one `EVENT` line (JSON) per RejectEvent.
"""
import json
import time

from acnn_ros.msg import InspectionResult, LineCounters, PartTrigger, RejectEvent
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_client import RosClient
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

# (class, confidence, status); None = no result at all.
# Status 9 does not exist: the node must reject the part (ERROR_RESULT) and stay up.
PLAN = [('p3707', 0.9, 0), ('p1071', 0.95, 0), ('p1071', 0.9, 0), None, ('', 0.0, 9),
        ('p3709', 0.8, 0)]
COUNTER_FIELDS = ('inspected', 'accepted', 'rejected', 'rejected_reject_class',
                  'rejected_low_confidence', 'rejected_error_result', 'rejected_no_result',
                  'fired', 'missed', 'late')


def main():
    client = RosClient('reject_test_client')
    node = client.node
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    parts = node.create_publisher(PartTrigger, 'part', reliable)
    results = node.create_publisher(InspectionResult, 'inspection', reliable)
    images = node.create_publisher(Image, 'image', 10)
    events = client.record(RejectEvent, 'reject', reliable)
    diagnostics = client.record(DiagnosticArray, '/diagnostics', 10)
    counters = client.record(LineCounters, 'reject_actuator_node/counters',
                             QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                                        durability=DurabilityPolicy.TRANSIENT_LOCAL))
    assert client.spin_until(lambda: node.count_subscribers('inspection') and
                             node.count_subscribers('part') and node.count_subscribers('image')
                             and node.count_publishers('reject'), 20), \
        'actuator node not found'
    time.sleep(0.5)
    stamps = {}

    def publish_part(part_id, entry):
        stamp = node.get_clock().now().to_msg()
        stamps[part_id] = stamp
        trigger = PartTrigger(part_id=part_id)
        trigger.header.stamp, trigger.header.frame_id = stamp, 'camera_optical_frame'
        image = Image(height=48, width=64, encoding='bgr8', step=64 * 3,
                      data=np.full(48 * 64 * 3, 90, np.uint8).tobytes())
        image.header = trigger.header
        parts.publish(trigger)
        images.publish(image)
        if entry is None:
            return
        name, confidence, status = entry
        result = InspectionResult(status=status, class_name=name, confidence=confidence,
                                  class_id=-1 if status else 1,
                                  detail='engine failed' if status else '')
        result.header = trigger.header
        if status == 0:
            result.roi.x_offset, result.roi.y_offset = 10, 8
            result.roi.width, result.roi.height = 32, 20
            result.roi_center_x, result.roi_center_y = 26.0, 18.0
            result.class_scores = [confidence, 1.0 - confidence]
        time.sleep(0.02)   # inference time
        results.publish(result)

    for part_id, entry in enumerate(PLAN, start=1):
        publish_part(part_id, entry)
        client.spin_once(0.05)
        time.sleep(0.05)   # parts 70+ ms apart, pulses 10 ms: one rising edge per reject
    assert client.spin_until(lambda: len(events) >= len(PLAN), 10), f'only {len(events)} events'

    # Raise the threshold at run time: a p3709 at 0.8 is now rejected.
    parameters = AsyncParameterClient(node, 'reject_actuator_node')
    assert parameters.wait_for_services(10)
    future = parameters.set_parameters(
        [Parameter('min_confidence', Parameter.Type.DOUBLE, 0.85)])
    client.spin_until(future.done, 10)
    print('SET', future.result().results[0].successful, flush=True)
    publish_part(7, ('p3709', 0.8, 0))
    assert client.spin_until(lambda: len(events) >= 7, 10)
    assert client.spin_until(lambda: counters and counters[-1].inspected == 7, 5), 'counters'
    last = counters[-1]
    print('COUNTERS', json.dumps({k: getattr(last, k) for k in COUNTER_FIELDS}), flush=True)

    def actuator_status():
        return [d.status[0] for d in diagnostics
                if d.status[0].name.startswith('/reject_actuator')]
    client.spin_until(lambda: actuator_status() and {
        kv.key: kv.value for kv in actuator_status()[-1].values}.get('fired') == '5', 5)
    status = actuator_status()
    print('DIAG', status[-1].level[0], status[-1].hardware_id,
          {kv.key: kv.value for kv in status[-1].values}.get('fired'), flush=True)
    reset = node.create_client(Trigger, 'reject_actuator_node/reset_counters')
    assert reset.wait_for_service(10)
    future = reset.call_async(Trigger.Request())
    client.spin_until(future.done, 10)
    print('RESET', future.result().success, flush=True)
    assert client.spin_until(lambda: counters[-1].inspected == 0, 5), 'counters after reset'
    for e in events:
        sent = stamps[e.part_id]
        assert (e.header.stamp.sec, e.header.stamp.nanosec, e.header.frame_id) == (
            sent.sec, sent.nanosec, 'camera_optical_frame'), (e.header, sent)
        due = e.due_time.sec + e.due_time.nanosec * 1e-9
        fire = e.fire_time.sec + e.fire_time.nanosec * 1e-9
        capture = e.header.stamp.sec + e.header.stamp.nanosec * 1e-9
        print('EVENT', json.dumps({
            'part_id': e.part_id, 'decision': e.decision, 'reason': e.reason,
            'fail_safe': e.fail_safe, 'delivery': e.delivery, 'actuator': e.actuator,
            'due_minus_capture': due - capture,
            'fire_minus_due': fire - due if fire else None}), flush=True)
    client.close()


if __name__ == '__main__':
    main()
