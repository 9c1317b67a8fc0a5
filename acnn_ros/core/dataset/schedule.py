# SPDX-License-Identifier: Apache-2.0
"""
Product schedule: which product ran when, as a line runs one product per batch.

A schedule file is a list of time ranges, each naming the class of every part seen in it:

    # schedule.csv: start,end,class (a header row; '#' lines are comments)
    start,end,class
    2026-11-28T06:00:00Z,2026-11-28T09:30:00Z,p3707
    2026-11-28T09:45:00Z,2026-11-28T14:00:00Z,p1069

or YAML, the same fields under `batches`:

    batches:
      - {start: '2026-11-28T06:00:00Z', end: '2026-11-28T09:30:00Z', class: p3707}

A time is an ISO 8601 date-time (a zone is required: the frames' stamps are UTC), or a number:
seconds since the Unix epoch (like a header stamp), or, with a leading `+`, seconds after the
first frame of the recording (`+0`, `+12.5`): handy for a recording whose clock is unknown.
Ranges are half-open [start, end), must not overlap, and a frame outside every range has no
class (the dataset tool skips it and counts it as "outside the schedule", e.g. a changeover).
"""
import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import List, Optional, Sequence, Union

import yaml


class ScheduleError(ValueError):
    """A schedule file is unreadable or inconsistent."""


@dataclass(frozen=True)
class Batch:
    """One range of the schedule; times in ns (relative ones count from the first frame)."""

    start_ns: int
    end_ns: int
    class_name: str
    relative: bool = False


def parse_time(value: Union[str, int, float, datetime]) -> (int, bool):
    """Return (ns, relative) for a schedule time (format: the module's docstring)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ScheduleError(f'time {value} has no time zone')
        return int(round(value.timestamp() * 1e9)), False
    if isinstance(value, (int, float)):
        return int(round(float(value) * 1e9)), False
    text = str(value).strip()
    if text.startswith('+'):
        try:
            return int(round(float(text[1:]) * 1e9)), True
        except ValueError:
            raise ScheduleError(f'relative time {text!r} is not +seconds') from None
    try:
        return int(round(float(text) * 1e9)), False
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace('Z', '+00:00'))
    except ValueError:
        raise ScheduleError(f'time {text!r} is neither ISO 8601 nor seconds') from None
    return parse_time(stamp)


class ProductSchedule:
    """Time ranges -> class; `class_at(stamp_ns, first_ns)` looks a frame up."""

    def __init__(self, batches: Sequence[Batch], source: str = ''):
        self.batches: List[Batch] = list(batches)
        self.source = source
        if not self.batches:
            raise ScheduleError(f'schedule {source} has no batches')
        for batch in self.batches:
            if batch.end_ns <= batch.start_ns:
                raise ScheduleError(f'schedule {source}: batch {batch.class_name} ends before '
                                    'it starts')
        for kind in (False, True):
            same = sorted((b for b in self.batches if b.relative == kind),
                          key=lambda b: b.start_ns)
            for before, after in zip(same, same[1:]):
                if after.start_ns < before.end_ns:
                    raise ScheduleError(f'schedule {source}: batches {before.class_name} and '
                                        f'{after.class_name} overlap')

    @classmethod
    def load(cls, path: Path) -> 'ProductSchedule':
        """Read a schedule from .csv or .yaml/.yml."""
        path = Path(path)
        try:
            text = path.read_text(encoding='utf-8')
        except OSError as exc:
            raise ScheduleError(f'cannot read schedule {path}: {exc}') from exc
        if path.suffix.lower() in ('.yaml', '.yml'):
            try:
                data = yaml.safe_load(text) or {}
            except yaml.YAMLError as exc:
                raise ScheduleError(f'schedule {path}: {exc}') from exc
            rows = data.get('batches') if isinstance(data, dict) else None
            if not isinstance(rows, list):
                raise ScheduleError(f'schedule {path} needs a list under `batches`')
        else:
            rows = list(csv.DictReader(line for line in text.splitlines()
                                       if line.strip() and not line.startswith('#')))
        batches = []
        for number, row in enumerate(rows, start=1):
            if not isinstance(row, dict) or not {'start', 'end', 'class'} <= set(row):
                raise ScheduleError(f'schedule {path}: batch {number} needs start, end, class')
            start, start_rel = parse_time(row['start'])
            end, end_rel = parse_time(row['end'])
            if start_rel != end_rel:
                raise ScheduleError(f'schedule {path}: batch {number} mixes relative and '
                                    'absolute times')
            name = str(row['class']).strip()
            if not name:
                raise ScheduleError(f'schedule {path}: batch {number} has an empty class')
            batches.append(Batch(start, end, name, start_rel))
        return cls(batches, str(path))

    def class_at(self, stamp_ns: int, first_ns: int = 0) -> Optional[str]:
        """Return the class of a frame stamped `stamp_ns` (None: outside every batch)."""
        for batch in self.batches:
            t = stamp_ns - first_ns if batch.relative else stamp_ns
            if batch.start_ns <= t < batch.end_ns:
                return batch.class_name
        return None
