# SPDX-License-Identifier: Apache-2.0
"""
reject_actuator_node: parts seen while no inference_node is matched (issue 12, part 3).

The node runs in its own process (topic actuator); this test process is the camera: it
publishes part triggers while nothing publishes `inspection`. Every part must still be decided
fail-safe (no result), be counted in the diagnostics value `parts_without_inference`, and the
fault said once in the log (the NO RESULT episode).
"""
import time

from acnn_ros.msg import PartTrigger, RejectEvent
from diagnostic_msgs.msg import DiagnosticArray
import pytest
from ros_client import RosClient
from ros_processes import NodeProcess
from std_msgs.msg import Header

pytestmark = pytest.mark.timeout(90)


def test_parts_without_inference_are_rejected_counted_and_logged():
    client = RosClient('unmatched_parts_camera')
    decisions = client.record(RejectEvent, 'reject', 100)
    diagnostics = client.record(DiagnosticArray, '/diagnostics', 50)
    parts = client.node.create_publisher(PartTrigger, 'part', 100)
    actuator = NodeProcess.node('reject_actuator_node', '-p', 'actuator:=topic',
                                '-p', 'reject_delay_s:=0.3', '-p', 'inspection_window_s:=0.1')
    try:
        assert client.spin_until(lambda: parts.get_subscription_count() > 0
                                 and client.node.count_publishers('reject') > 0, 30), \
            actuator.output
        client.spin_for(0.5)
        for part_id in range(1, 6):
            now = time.time_ns()
            header = Header(frame_id='cam')
            header.stamp.sec, header.stamp.nanosec = divmod(now, 10 ** 9)
            parts.publish(PartTrigger(header=header, part_id=part_id))
            client.spin_for(0.05)

        def counted():
            for array in diagnostics:
                for status in array.status:
                    values = {v.key: v.value for v in status.values}
                    if values.get('parts_without_inference') == '5':
                        return True
            return False
        assert client.spin_until(lambda: len(decisions) == 5 and counted(), 20), actuator.output
    finally:
        code = actuator.interrupt()
        client.close()
    assert sorted(d.part_id for d in decisions) == [1, 2, 3, 4, 5]
    assert all(d.decision == d.DECISION_REJECT and d.reason == d.REASON_NO_RESULT
               and d.fail_safe for d in decisions)
    # One fault, one line (issue 19): the NO RESULT episode, not a second WARN about it.
    errors = [line for line in actuator.lines if 'NO RESULT from inference_node' in line
              and 'ERROR' in line]
    assert len(errors) == 1 and 'part 1' in errors[0], actuator.output
    assert not [line for line in actuator.lines if 'WARN' in line and 'part 2' in line]
    assert code == 0, actuator.output


def test_parts_without_inference_counts_every_part():
    from acnn_ros.core.reject.counters import PartsWithoutInference

    tracker = PartsWithoutInference()
    for matched in (True, False, False, True, False):
        tracker.note(matched)
    assert tracker.count == 3
