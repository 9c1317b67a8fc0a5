# SPDX-License-Identifier: Apache-2.0
"""
Faults that repeat part after part, said once: a line when they start, one when they end.

A PLC outage or a dead inference_node at 20 parts/s used to write one line per part (501 lines
in 30 s) or none at all. A `FaultEpisode` writes one line at the episode's first part (what,
which part, why), a reminder with the count every `remind_every_s` while it lasts, and one
line when it ends (how long, how many parts of each kind, the first and last part id). Its
state (`active`, `summary`) feeds the node's diagnostics, so the fault shows at ERROR there for
as long as it lasts.
"""
import logging
from typing import Dict, Optional


class FaultEpisode:
    """
    One kind of repeated fault.

    `fault(part_id, now, detail, kind)` counts one part (opening the episode at the first);
    `recovered(now)` ends it (the thing that failed worked again); with `quiet_s`, `poll(now)`
    also ends it once no fault came for that long (faults with no "worked again" signal).

    With `settle_s`, `recovered` only starts the end: the episode ends at `poll` once the thing
    has worked for `settle_s` with no fault, and a fault before that continues the same
    episode (not `active` meanwhile: the diagnostics say OK as soon as it works). A line at its
    limit (results late one part in three, a PLC that answers one request and misses the next)
    otherwise opened and closed an episode per part: two lines a part, the flood episodes exist
    to prevent (the 60-minute soak at 110 Hz, issue 26). `end(now, how)` ends at once (the line
    stops).
    """

    def __init__(self, log: logging.Logger, what: str, level: int = logging.ERROR,
                 remind_every_s: float = 30.0, quiet_s: Optional[float] = None,
                 settle_s: float = 0.0):
        self._log = log
        self._settle_s = settle_s
        self._working_since: Optional[float] = None     # recovered, not settled yet
        self._working_how = ''
        self.what = what
        self._level = level
        self._remind_every_s = remind_every_s
        self._quiet_s = quiet_s
        self.total = 0                   # parts over every episode, since construction
        self.episodes = 0
        self._since: Optional[float] = None
        self._last_fault = 0.0
        self._last_said = 0.0
        self._counts: Dict[str, int] = {}
        self._first_part = 0
        self._last_part = 0
        self.detail = ''

    @property
    def active(self) -> bool:
        """Return whether an episode is open and failing (settling after a recovery: no)."""
        return self._since is not None and self._working_since is None

    def summary(self) -> str:
        """Return what the open episode counted so far ('' when none is open)."""
        if self._since is None:
            return ''
        return f'{self.what}: {self._counted()} ({self.detail})'

    def fault(self, part_id: Optional[int], now: float, detail: str, kind: str = 'parts') -> None:
        """Count one faulty part; say so if it opens an episode or a reminder is due."""
        self.total += 1
        self._counts[kind] = self._counts.get(kind, 0) + 1
        self._last_part = part_id or self._last_part
        self._last_fault = now
        self._working_since = None       # not settled: the same episode goes on
        if self._since is None:
            self._since = self._last_said = now
            self._first_part = part_id
            self.episodes += 1
            self.detail = detail
            self._log.log(self._level, f'{self.what}: {detail} (what follows '
                                       'of this fault is counted and summed up when it ends)')
        elif now - self._last_said >= self._remind_every_s:
            self._last_said = now
            self.detail = detail
            self._log.log(self._level, f'{self.what} continues for {now - self._since:.1f} s: '
                                       f'{self._counted()} so far; {detail}')

    def recovered(self, now: float, how: str = '') -> None:
        """End the open episode: the thing works again (with `settle_s`: once it holds)."""
        if self._since is None:
            return
        if self._settle_s <= 0:
            self.end(now, how)
        elif self._working_since is None:
            self._working_since, self._working_how = now, how

    def end(self, now: float, how: str = '') -> None:
        """End the open episode, if any, at once with one summary line."""
        if self._since is None:
            return
        if self._working_since is not None:      # it worked from then on
            now, how = self._working_since, how or self._working_how
        self._working_since = None
        duration = now - self._since
        parts = (f' (parts {self._first_part}..{self._last_part})'
                 if self._first_part and self._last_part else '')
        self._log.warning(f'{self.what} ended after {duration:.1f} s{how}: '
                          f'{self._counted()}{parts}')
        self._since = None
        self._counts = {}

    def poll(self, now: float) -> None:
        """End the episode once it worked for `settle_s`, or no fault came for `quiet_s`."""
        if self._since is None:
            return
        if self._working_since is not None and now - self._working_since >= self._settle_s:
            self.end(now)
        elif self._quiet_s is not None and now - self._last_fault >= self._quiet_s:
            self.end(self._last_fault, f' (none for {self._quiet_s:g} s)')

    def _counted(self) -> str:
        return ', '.join(f'{count} {kind}' for kind, count in self._counts.items())
