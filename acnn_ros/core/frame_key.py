# SPDX-License-Identifier: Apache-2.0
"""
The identity of a frame: its capture stamp in integer nanoseconds and its frame_id.

A camera frame's `std_msgs/Header` is copied verbatim into every result, trigger and reject
event, so the header is the key that joins them. Nodes, bag I/O, offline evaluation and the demo
all build it with `acnn_ros.core.messages.frame_key(header)`; nothing else encodes identity.
"""
from typing import NamedTuple

NS_PER_S = 1_000_000_000


class FrameKey(NamedTuple):
    """Identity of a frame: capture stamp (ns) and frame_id, as in its header."""

    stamp_ns: int
    frame_id: str

    @property
    def capture_time(self) -> float:
        """Return the capture stamp in seconds."""
        return self.stamp_ns * 1e-9
