# SPDX-License-Identifier: Apache-2.0
"""
Client of test_line_qos: a `part` subscriber with the line's QoS that stalls.

Arguments: stall mode (`callback`: the callback of message `after` blocks for `stall_s`, the
executor takes nothing meanwhile; `none`: it never stalls by itself, the test stops the whole
process), `after`, `stall_s`, the last part id expected and how long to wait for it, seconds,
and optionally the QoS: `line` (PER_PART_QOS, the default) or `late_joiner` (LATE_JOINER_QOS).
Prints `READY` once it sees a `part` publisher, then one JSON line `RECEIVED {...}`: the part ids
received in order, the stall (wall-clock start and end, callback mode) and every capture stamp.
"""
import json
import sys
import time

from acnn_ros.msg import PartTrigger
from acnn_ros.nodes.line_qos import LATE_JOINER_QOS, PER_PART_QOS
from ros_client import RosClient


def main(argv):
    mode, after, stall_s = argv[1], int(argv[2]), float(argv[3])
    last_id, wait_s = int(argv[4]), float(argv[5])
    qos = LATE_JOINER_QOS if argv[6:] == ['late_joiner'] else PER_PART_QOS
    client = RosClient('stalled_part_subscriber', spin_step_s=0.05)
    ids, stamps, stall = [], [], []

    def on_part(msg):
        ids.append(int(msg.part_id))
        stamps.append(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
        if mode == 'callback' and len(ids) == after:
            stall.append(time.time())
            time.sleep(stall_s)
            stall.append(time.time())
    client.node.create_subscription(PartTrigger, 'part', on_part, qos)
    client.spin_until(lambda: client.node.count_publishers('part') > 0, 30.0)
    print('READY', flush=True)
    client.spin_until(lambda: last_id in ids, wait_s)
    print('RECEIVED', json.dumps({'ids': ids, 'stall': stall, 'stamps': stamps}), flush=True)
    client.close()


if __name__ == '__main__':
    main(sys.argv)
