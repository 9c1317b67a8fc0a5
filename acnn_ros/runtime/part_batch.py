# SPDX-License-Identifier: Apache-2.0
"""
The frames of one part, seen by N cameras, grouped into one batch for one engine call.

A station triggers its N cameras per part: every camera's frame carries the part's capture
stamp and its own frame_id. `PartBatcher` groups frames by stamp and hands a group out as a
batch as soon as it holds a frame of N cameras, or when its window closes: `window_s` after
its first frame arrived, so a late or dead camera never holds the others longer than that.
A frame whose part was already handed out (a camera later than the window) goes out alone at
once, and a second frame of the same camera for the same stamp closes the group it would join
(no camera twice in a batch).

A state machine on an injected time, like the reject scheduler: no thread, no lock, no clock.
`add(now)` returns the batches complete by that frame; `due(now)` those whose window closed;
`next_deadline()` says when to call `due` next; `drain()` gives up every group (close).
runtime/batch_intake.py drives it.
"""
from collections import OrderedDict
from typing import Any, Dict, List, Optional

# Stamps of parts already handed out, remembered to send a late frame on at once.
REMEMBERED_PARTS = 1000


class _Group:
    __slots__ = ('deadline', 'items', 'cameras')

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.items: List[Any] = []
        self.cameras = set()


class PartBatcher:
    """Group frames by capture stamp into batches of at most `cameras` (not thread-safe)."""

    def __init__(self, cameras: int, window_s: float):
        if cameras < 1:
            raise ValueError(f'a station has at least 1 camera, got {cameras}')
        if window_s < 0:
            raise ValueError(f'batch_window_s must be >= 0, got {window_s}')
        self.cameras = cameras
        self.window_s = window_s
        self._groups: Dict[int, _Group] = {}          # stamp (ns) -> open group, oldest first
        self._sent: 'OrderedDict[int, None]' = OrderedDict()
        self.late_frames = 0        # frames that came after their part's batch was handed out
        self.partial_batches = 0    # batches handed out by their window, short of a camera

    def add(self, stamp_ns: int, camera: str, item: Any, now: float) -> List[List[Any]]:
        """Take one frame; return the batches it completes (in order; usually none or one)."""
        group = self._groups.get(stamp_ns)
        if group is None and stamp_ns in self._sent:
            self.late_frames += 1
            return [[item]]
        ready = []
        if group is not None and camera in group.cameras:
            ready.append(self._hand_out(stamp_ns))     # the same camera twice: a new group
            group = None
        if group is None:
            group = self._groups[stamp_ns] = _Group(now + self.window_s)
        group.items.append(item)
        group.cameras.add(camera)
        if len(group.cameras) >= self.cameras:
            ready.append(self._hand_out(stamp_ns))
        return ready

    def next_deadline(self) -> Optional[float]:
        """Return when the oldest open group's window closes (None: no group open)."""
        return min((group.deadline for group in self._groups.values()), default=None)

    def due(self, now: float) -> List[List[Any]]:
        """Return the groups whose window closed by `now`, oldest first (partial batches)."""
        ready = []
        for stamp_ns in [s for s, group in self._groups.items() if group.deadline <= now]:
            self.partial_batches += 1
            ready.append(self._hand_out(stamp_ns))
        return ready

    def drain(self) -> List[List[Any]]:
        """Hand out every open group, oldest first (the intake closes)."""
        return [self._hand_out(stamp_ns) for stamp_ns in list(self._groups)]

    def pending(self) -> int:
        """Return how many frames wait in open groups."""
        return sum(len(group.items) for group in self._groups.values())

    def _hand_out(self, stamp_ns: int) -> List[Any]:
        group = self._groups.pop(stamp_ns)
        self._sent[stamp_ns] = None
        while len(self._sent) > REMEMBERED_PARTS:
            self._sent.popitem(last=False)
        return group.items
