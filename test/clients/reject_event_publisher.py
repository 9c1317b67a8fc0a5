# SPDX-License-Identifier: Apache-2.0
"""
Client of the operator page's tests: stands in for reject_actuator_node.

Publishes COUNT RejectEvents on `reject` at RATE Hz, every REJECT_EVERY-th a reject whose
reason cycles through REASONS, each stamped with its publication time (so the page's arrival
time minus the stamp is the latency from publication), and archives each reject's frame in the
real reject archive at ARCHIVE_DIR as the actuator does, after publishing. Also publishes
LineCounters on `reject_actuator_node/counters` and one DiagnosticArray. Waits for a subscriber
of `reject` first. Prints `SENT {"parts": [[part_id, stamp_ns, reason], ...]}` at the end.
Arguments: COUNT RATE REJECT_EVERY ARCHIVE_DIR [FIRST_PART_ID].
"""
import json
import sys
import time

from acnn_ros.core.reject.archive import RejectArchive
from acnn_ros.msg import LineCounters, RejectEvent
from acnn_ros.nodes.line_qos import PER_PART_QOS
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from hmi_support import archive_record, frame
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_client import RosClient
from std_msgs.msg import Header

REASONS = (RejectEvent.REASON_REJECT_CLASS, RejectEvent.REASON_LOW_CONFIDENCE,
           RejectEvent.REASON_NO_RESULT, RejectEvent.REASON_REJECT_CLASS)
NAMES = {1: 'REJECT_CLASS', 2: 'LOW_CONFIDENCE', 6: 'NO_RESULT'}


def main(argv):
    count, rate, every, archive_dir = int(argv[1]), float(argv[2]), int(argv[3]), argv[4]
    first = int((argv[5:] or [1])[0])
    client = RosClient('fake_reject_actuator', spin_step_s=0.01)
    node = client.node
    rejects = node.create_publisher(RejectEvent, 'reject', PER_PART_QOS)
    counters = node.create_publisher(LineCounters, 'reject_actuator_node/counters', QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL))
    diagnostics = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
    archive = RejectArchive(archive_dir, max_items=200)
    assert client.spin_until(lambda: rejects.get_subscription_count() >= 1, 30), 'no hmi_node'
    print('READY', flush=True)
    sent, rejected, start = [], 0, time.monotonic()
    for index in range(count):
        part_id = first + index
        time.sleep(max(0.0, start + index / rate - time.monotonic()))
        reason = REASONS[(part_id // every) % len(REASONS)] if part_id % every == 0 else 0
        now_ns = time.time_ns()
        stamp = Time(sec=now_ns // 10**9, nanosec=now_ns % 10**9)
        rejects.publish(RejectEvent(
            header=Header(stamp=stamp, frame_id='cam0'), part_id=part_id,
            decision=1 if reason else 0, reason=reason, fail_safe=reason == 6,
            class_id=-1 if reason == 6 else 1, class_name='' if reason == 6 else 'p1069',
            confidence=0.0 if reason == 6 else 0.97, due_time=stamp,
            delivery=1 if reason else 0, actuator='topic'))
        if reason:
            rejected += 1
            archive.submit(archive_record(part_id, now_ns, NAMES[reason]),
                           lambda p=part_id: frame(p))
        sent.append([part_id, now_ns, reason])
        client.spin_once(0.0)
    counters.publish(LineCounters(inspected=count, accepted=count - rejected,
                                  rejected=rejected, fired=rejected))
    diagnostics.publish(DiagnosticArray(status=[DiagnosticStatus(
        level=DiagnosticStatus.ERROR, name='/test/reject_actuator_node: reject actuator',
        message='PLC link lost (test)', hardware_id='topic')]))
    archive.flush()
    archive.close()
    client.spin_for(1.0)
    print('SENT ' + json.dumps({'parts': sent}), flush=True)
    client.close()


if __name__ == '__main__':
    main(sys.argv)
