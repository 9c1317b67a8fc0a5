# SPDX-License-Identifier: Apache-2.0
"""
The live figures of a shift, in bounded memory: counters, yield per minute, gallery, Pareto.

Built from the database at start (`from_store`: aggregates, not every row) and updated by each
new part row (`add`), so the page shows the same numbers before and after a restart. Memory is
bounded: the last `gallery_size` rejects and the last `minutes_kept` minutes.
"""
import collections
from typing import Dict, List

from acnn_ros.core.shift.store import MINUTE_NS, ShiftStore

GALLERY_SIZE = 24
MINUTES_KEPT = 720          # a 12-hour shift
GALLERY_FIELDS = ('part_id', 'stamp_ns', 'frame_id', 'class_name', 'confidence', 'reason',
                  'reason_detail', 'fail_safe', 'cameras', 'delivery', 'model_id')


class ShiftTally:
    """Counters and recent history of one shift."""

    def __init__(self, shift_id: int, started: float, gallery_size: int = GALLERY_SIZE,
                 minutes_kept: int = MINUTES_KEPT):
        self.shift_id = shift_id
        self.started = started
        self.parts = 0
        self.rejected = 0
        self.fail_safe = 0
        self.by_reason: collections.Counter = collections.Counter()
        self.by_camera: Dict[str, List[int]] = {}       # camera -> [parts, rejected]
        self.minutes: 'collections.OrderedDict[int, List[int]]' = collections.OrderedDict()
        self.minutes_kept = minutes_kept
        self.gallery: collections.deque = collections.deque(maxlen=gallery_size)

    @classmethod
    def from_store(cls, store: ShiftStore, shift_id: int,
                   gallery_size: int = GALLERY_SIZE,
                   minutes_kept: int = MINUTES_KEPT) -> 'ShiftTally':
        """Rebuild the tally of shift `shift_id` from the database."""
        tally = cls(shift_id, store.shift_started(shift_id), gallery_size, minutes_kept)
        for group in store.counts(shift_id):
            tally._count(group['decision'] == 'reject', group['reason'], group['fail_safe'],
                         group['cameras'], int(group['count']))
        for minute in store.minutes(shift_id, minutes_kept):
            tally.minutes[int(minute['minute'])] = [int(minute['parts']), int(minute['good'])]
        for row in store.recent_rejects(shift_id, gallery_size):
            tally.gallery.append(gallery_item(row))
        return tally

    @property
    def accepted(self) -> int:
        """Return the parts accepted."""
        return self.parts - self.rejected

    def add(self, row: Dict) -> None:
        """Count one part row (store.add_parts' row of rows.part_row)."""
        reject = row['decision'] == 'reject'
        self._count(reject, row['reason'], row['fail_safe'], row['cameras'], 1)
        minute = row['stamp_ns'] // MINUTE_NS
        bucket = self.minutes.setdefault(minute, [0, 0])
        bucket[0] += 1
        bucket[1] += 0 if reject else 1
        while len(self.minutes) > self.minutes_kept:
            self.minutes.popitem(last=False)
        if reject:
            self.gallery.append(gallery_item(row))

    def _count(self, reject: bool, reason: str, fail_safe: bool, cameras: str, n: int) -> None:
        self.parts += n
        figures = self.by_camera.setdefault(cameras, [0, 0])
        figures[0] += n
        if reject:
            self.rejected += n
            self.by_reason[reason] += n
            figures[1] += n
            if fail_safe:
                self.fail_safe += n

    def counters(self) -> Dict:
        """Return the counters as the page shows them."""
        return {
            'shift_id': self.shift_id, 'started': self.started, 'parts': self.parts,
            'good': self.accepted, 'rejected': self.rejected,
            'yield_pct': round(100.0 * self.accepted / self.parts, 2) if self.parts else None,
            'fail_safe': self.fail_safe, 'without_result': self.by_reason['NO_RESULT'],
            'pareto': sorted(([reason, n] for reason, n in self.by_reason.items()),
                             key=lambda item: (-item[1], item[0])),
            'cameras': {camera: {'parts': f[0], 'rejected': f[1]}
                        for camera, f in sorted(self.by_camera.items())},
        }

    def yield_trend(self) -> List[List]:
        """Return [[minute start (s since the epoch), parts, good], ...] oldest first."""
        return [[minute * 60, parts, good] for minute, (parts, good) in self.minutes.items()]


def gallery_item(row: Dict) -> Dict:
    """Return the page's gallery entry of a rejected part row."""
    return {name: row[name] for name in GALLERY_FIELDS}
