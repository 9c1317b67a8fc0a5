# SPDX-License-Identifier: Apache-2.0
"""
What the operator's page shows, kept by hmi_node and read by the web server (thread-safe).

The shift tally (counters, gallery, yield per minute, Pareto), the line state (lifecycle of the
watched nodes, the statuses on /diagnostics, the actuator's LineCounters) and the faults: a
status at ERROR or worse is a fault until it clears; an operator may acknowledge the faults
standing (the page then shows them as acknowledged until they clear). Every change bumps
`version`; the server pushes a snapshot when it moved.
"""
import threading
import time
from typing import Callable, Dict, List, Mapping

from acnn_ros.core.health import LEVEL_ERROR
from acnn_ros.core.shift.tally import ShiftTally

MAX_STATUSES = 32        # diagnostics statuses kept (by name); the oldest updated go first
MAX_STATUS_VALUES = 16   # key/values kept per status


def in_namespace(status_name: str, namespace: str) -> bool:
    """
    Return whether a diagnostics status belongs to the line in `namespace`.

    The package names a status '<fully qualified node name>: <subsystem>' (nodes/diagnostics):
    another line publishing on the same /diagnostics is not this page's business.
    """
    prefix = namespace.rstrip('/') + '/'
    return prefix == '/' or status_name.startswith(prefix)


class LiveState:
    """The page's data; every method may be called from any thread."""

    def __init__(self, tally: ShiftTally, clock: Callable[[], float] = time.time):
        self._lock = threading.Lock()
        self._clock = clock
        self.tally = tally
        self.version = 0
        self.node_state = 'unconfigured'
        self._statuses: Dict[str, Dict] = {}
        self._acknowledged: Dict[str, float] = {}
        self._lifecycle: Dict[str, str] = {}
        self._actuator_counters: Dict[str, int] = {}

    def _changed(self) -> None:
        self.version += 1

    def add_part(self, row: Mapping) -> bool:
        """Count one part row if it belongs to the current shift; return whether it did."""
        with self._lock:
            if row['shift_id'] != self.tally.shift_id:
                return False          # decided before a reset that came in between
            self.tally.add(row)
            self._changed()
            return True

    def new_shift(self, tally: ShiftTally) -> None:
        """Replace the tally (an operator reset started a new shift)."""
        with self._lock:
            self.tally = tally
            self._changed()

    @property
    def shift_id(self) -> int:
        """Return the id of the current shift."""
        with self._lock:
            return self.tally.shift_id

    def set_node_state(self, label: str) -> None:
        """Say hmi_node's own lifecycle state."""
        with self._lock:
            self.node_state = label
            self._changed()

    def set_status(self, name: str, level: int, message: str, hardware_id: str,
                   values: Mapping[str, str]) -> None:
        """Keep one diagnostics status (the newest per name); a cleared fault forgets its ack."""
        with self._lock:
            self._statuses.pop(name, None)
            self._statuses[name] = {
                'name': name, 'level': int(level), 'message': message,
                'hardware_id': hardware_id, 'time': self._clock(),
                'values': dict(list(values.items())[:MAX_STATUS_VALUES])}
            while len(self._statuses) > MAX_STATUSES:
                self._statuses.pop(next(iter(self._statuses)))
            if level < LEVEL_ERROR:
                self._acknowledged.pop(name, None)
            self._changed()

    def set_lifecycle(self, node: str, label: str) -> None:
        """Keep the lifecycle state of a watched node ('unreachable' when it does not answer)."""
        with self._lock:
            if self._lifecycle.get(node) != label:
                self._lifecycle[node] = label
                self._changed()

    def set_actuator_counters(self, counters: Mapping[str, int]) -> None:
        """Keep the last LineCounters of the reject actuator."""
        with self._lock:
            self._actuator_counters = dict(counters)
            self._changed()

    def faults(self) -> List[Dict]:
        """Return the statuses at ERROR or worse, each with `acknowledged` (time or None)."""
        with self._lock:
            return self._faults()

    def _faults(self) -> List[Dict]:
        return [{'name': s['name'], 'message': s['message'],
                 'acknowledged': self._acknowledged.get(s['name'])}
                for s in self._statuses.values() if s['level'] >= LEVEL_ERROR]

    def acknowledge(self) -> List[Dict]:
        """Acknowledge every fault standing now; return them (empty: nothing to acknowledge)."""
        with self._lock:
            now = self._clock()
            faults = [f for f in self._faults() if f['acknowledged'] is None]
            for fault in faults:
                self._acknowledged[fault['name']] = now
            self._changed()
            return faults

    def snapshot(self) -> Dict:
        """Return everything the page shows, JSON-able."""
        with self._lock:
            tally = self.tally
            gallery = [dict(item, stamp_ns=str(item['stamp_ns']),
                            time_s=item['stamp_ns'] * 1e-9,
                            key=f'{item["stamp_ns"]}/{item["part_id"]}')
                       for item in reversed(tally.gallery)]
            return {
                'version': self.version,
                'counters': tally.counters(),
                'trend': tally.yield_trend(),
                'gallery': gallery,
                'hmi': self.node_state,
                'lifecycle': dict(self._lifecycle),
                'statuses': list(self._statuses.values()),
                'actuator_counters': dict(self._actuator_counters),
                'faults': self._faults(),
            }
