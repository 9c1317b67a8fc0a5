# SPDX-License-Identifier: Apache-2.0
"""
Client of test_reject_actuator_node against a PLC that never answers.

Publishes five part triggers without results (five fail-safe rejects), times the
~/reset_counters service while the PLC hangs, and prints `SERVICE_S <seconds> <success>`,
`EVENTS [(part_id, reason, delivery), ...]` and `LEVELS <last diagnostics level>`.
"""
import time

from acnn_ros.msg import PartTrigger, RejectEvent
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_client import RosClient
from std_srvs.srv import Trigger


def main():
    client = RosClient('hung_test_client', spin_step_s=0.05)
    node = client.node
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    parts = node.create_publisher(PartTrigger, 'part', reliable)
    events = client.record(RejectEvent, 'reject', reliable)
    diagnostics = client.record(DiagnosticArray, '/diagnostics', 10)
    client.spin_until(lambda: node.count_subscribers('part') and
                      node.count_publishers('reject'), 20)
    time.sleep(0.5)
    for part_id in range(1, 6):          # no results at all: five fail-safe rejects
        trigger = PartTrigger(part_id=part_id)
        trigger.header.stamp = node.get_clock().now().to_msg()
        trigger.header.frame_id = 'camera'
        parts.publish(trigger)
        time.sleep(0.03)
    reset = node.create_client(Trigger, 'reject_actuator_node/reset_counters')
    assert reset.wait_for_service(10)
    started = time.time()
    future = reset.call_async(Trigger.Request())
    client.spin_until(future.done, 10)
    print('SERVICE_S', round(time.time() - started, 3), future.result().success, flush=True)
    client.spin_until(lambda: len(events) >= 5, 10)
    client.spin_for(3)
    print('EVENTS', sorted((e.part_id, e.reason, e.delivery) for e in events), flush=True)
    levels = [d.status[0].level[0] for d in diagnostics
              if d.status[0].name.startswith('/reject_actuator')]
    print('LEVELS', levels[-1] if levels else None, flush=True)
    client.close()


if __name__ == '__main__':
    main()
