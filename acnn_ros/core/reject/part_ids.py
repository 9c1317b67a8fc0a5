# SPDX-License-Identifier: Apache-2.0
"""
Parts the reject actuator never saw, found from the camera's consecutive part ids.

camera_node numbers its parts 1, 2, 3, ... for as long as it runs. While reject_actuator_node
is inactive (deactivated by a lifecycle manager, or between deactivate and activate during a
changeover) it does not subscribe to `part`, so the parts of that time reach nobody: the PLC
rejects them by its own default (vision not ready). They are accounted here from the gap in
part ids between the last part before the deactivation and the first after the activation,
and said in one line. A part id lower than the last one means the camera restarted: nothing
can be said about that gap.
"""
from typing import Optional


class InactiveParts:
    """Count the parts announced while the node was inactive."""

    def __init__(self):
        self.count = 0
        self._last_id: Optional[int] = None     # last part id seen while active
        self._resumed = False                   # first part after an activation still to come

    def activated(self) -> None:
        """Note an activation: the next part closes the inactive gap."""
        self._resumed = self._last_id is not None

    def part(self, part_id: int) -> Optional[str]:
        """Take one part id seen while active; return a line when it closes a gap, else None."""
        last, self._last_id = self._last_id, part_id
        if not self._resumed:
            return None
        self._resumed = False
        if last is None or part_id <= last:
            return None if last is None else (
                f'part ids restarted at {part_id} after {last} (camera restarted while this '
                'node was inactive): parts of that time cannot be counted')
        missed = part_id - last - 1
        if missed <= 0:
            return None
        self.count += missed
        return (f'{missed} parts ({last + 1}..{part_id - 1}) were captured while this node was '
                'inactive: not decided by vision, the PLC rejected them by its default '
                '(vision not ready); counted in parts_while_inactive')
