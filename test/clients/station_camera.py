# SPDX-License-Identifier: Apache-2.0
"""
One camera of a 3-camera station (test_station_fusion): its inference result for every part.

Arguments: the camera name, then the plan: one entry per part id from 1, `class:confidence`,
`error` (an InspectionResult with STATUS_ERROR) or `-` (this camera sends nothing for the part:
dead or late). For each PartTrigger on `part` it publishes on `inspection` an InspectionResult
with the trigger's stamp and its own name as frame_id, as the camera's inference would; it
exits after the last planned part (or after 60 s). Prints `SENT <part id>` per result.
"""
import sys

from acnn_ros.msg import InspectionResult, PartTrigger
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_client import RosClient


def result_for(entry: str, trigger: PartTrigger, camera: str) -> InspectionResult:
    """Return the InspectionResult of plan entry `entry` for the part of `trigger`."""
    result = InspectionResult()
    result.header.stamp, result.header.frame_id = trigger.header.stamp, camera
    if entry == 'error':
        result.status, result.detail, result.class_id = 1, 'engine failed', -1
        return result
    name, confidence = entry.split(':')
    result.class_name, result.confidence = name, float(confidence)
    result.class_id = 0 if name.startswith('p37') else 1
    result.class_scores = [result.confidence, 1.0 - result.confidence]
    result.roi.x_offset, result.roi.y_offset, result.roi.width, result.roi.height = 4, 6, 20, 10
    result.roi_center_x, result.roi_center_y = 14.0, 11.0
    return result


def main():
    camera, plan = sys.argv[1], sys.argv[2:]
    client = RosClient(f'station_{camera}')
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    results = client.node.create_publisher(InspectionResult, 'inspection', reliable)
    seen = []

    def on_part(trigger: PartTrigger) -> None:
        seen.append(trigger.part_id)
        entry = plan[trigger.part_id - 1] if trigger.part_id <= len(plan) else '-'
        if entry != '-':
            results.publish(result_for(entry, trigger, camera))
            print('SENT', trigger.part_id, flush=True)

    client.node.create_subscription(PartTrigger, 'part', on_part, reliable)
    print('READY', camera, flush=True)
    client.spin_until(lambda: len(plan) in seen, 60)
    client.spin_for(0.5)     # let the last result go out
    client.close()


if __name__ == '__main__':
    main()
