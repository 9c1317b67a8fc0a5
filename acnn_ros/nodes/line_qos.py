# SPDX-License-Identifier: Apache-2.0
"""
THE QoS of the line's per-part topics `part`, `inspection` and `reject` (one definition).

Reliable, keep-last with a history deep enough for a subscriber (or a publisher's peer) to
stall for STALL_SURVIVED_S at LINE_RATE_SIZED_HZ and still receive every message:

    depth = LINE_RATE_SIZED_HZ x STALL_SURVIVED_S = 100 Hz x 10 s = 1000 messages.

Both sides need the depth: a subscriber whose executor is busy (a callback stuck for 5 s) keeps
the messages in ITS history, and a subscriber process that does not run at all (stopped,
starved of CPU) leaves them unacknowledged in the PUBLISHER's history, which must still hold
them when the reader comes back (measured: docs/LINE_INTEGRATION.md, "QoS of the per-part
topics"). Keep-all is not used: a reliable keep-all publisher blocks in publish() once a
stalled reader lets its history fill, and camera_node must never wait on a slow HMI.

Durability: publishers offer transient local (PER_PART_PUBLISHER_QOS), the line's own
subscribers ask for volatile (PER_PART_QOS): a node that (re)starts is never handed the parts
published before it matched (a volatile reader of a transient-local writer gets only new
messages). An observer that must not miss what a publisher sent before their endpoints matched
(a restarted inference_node answers its first frames while discovery still runs) asks for
transient local (LATE_JOINER_QOS) and is handed the publisher's history on matching. The
messages are small (under 1 KB), so 1000 of them cost under 1 MB per endpoint.
"""
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

LINE_RATE_SIZED_HZ = 100     # the fastest part rate the history is sized for
STALL_SURVIVED_S = 10.0      # the longest stall of one endpoint that loses nothing at that rate
PER_PART_DEPTH = int(LINE_RATE_SIZED_HZ * STALL_SURVIVED_S)


def _per_part(durability: DurabilityPolicy) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=PER_PART_DEPTH,
                      reliability=ReliabilityPolicy.RELIABLE, durability=durability)


PER_PART_PUBLISHER_QOS = _per_part(DurabilityPolicy.TRANSIENT_LOCAL)   # publishers
PER_PART_QOS = _per_part(DurabilityPolicy.VOLATILE)           # the line's subscribers
LATE_JOINER_QOS = _per_part(DurabilityPolicy.TRANSIENT_LOCAL)  # observers, recorders
