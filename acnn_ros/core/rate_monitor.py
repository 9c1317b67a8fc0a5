# SPDX-License-Identifier: Apache-2.0
"""
Achieved rate against a target rate, and the line's rated speed against the camera's rate.

`RateMonitor` counts events on an injected clock and reports the achieved rate over a sliding
window against a target; below `WARN_RATE_RATIO` (95 %) of the target the level is WARN. The
nodes put its report into /diagnostics (camera: frames published vs `frame_rate_hz`; inference:
frames answered OK vs frames received). `rated_speed_check` compares the configured camera rate
with the line's sustainable rate as measured by benchmarks/line_rate_benchmark.py.
"""
from collections import deque
from dataclasses import dataclass
from typing import Deque, Tuple

from acnn_ros.core.health import LEVEL_OK, LEVEL_WARN

WARN_RATE_RATIO = 0.95


@dataclass(frozen=True)
class RateReport:
    """Achieved vs target rate over the monitor's window."""

    target_hz: float
    achieved_hz: float
    level: int
    message: str

    @property
    def ratio(self) -> float:
        """Return achieved / target (1.0 when there is no target)."""
        return self.achieved_hz / self.target_hz if self.target_hz > 0 else 1.0


def rate_level(achieved_hz: float, target_hz: float, what: str) -> RateReport:
    """Return the report of an achieved rate against a target (WARN below 95 % of it)."""
    if target_hz <= 0:
        return RateReport(target_hz, achieved_hz, LEVEL_OK, f'{what} {achieved_hz:.1f} Hz')
    ratio = achieved_hz / target_hz
    if ratio < WARN_RATE_RATIO:
        return RateReport(target_hz, achieved_hz, LEVEL_WARN, (
            f'{what} {achieved_hz:.1f} Hz of {target_hz:g} Hz target ({100 * ratio:.0f} % < '
            f'{100 * WARN_RATE_RATIO:.0f} %): the line runs slower than configured'))
    return RateReport(target_hz, achieved_hz, LEVEL_OK,
                      f'{what} {achieved_hz:.1f} Hz of {target_hz:g} Hz target')


class RateMonitor:
    """Event times in a sliding window; `report(now)` gives the achieved rate vs the target."""

    def __init__(self, target_hz: float, window_s: float = 5.0):
        """`target_hz`: the rate that should be achieved; `window_s`: averaging window."""
        if window_s <= 0:
            raise ValueError(f'window_s must be > 0, got {window_s}')
        self.target_hz = target_hz
        self.window_s = window_s
        self._times: Deque[float] = deque()
        self._start = None

    def restart(self, now: float) -> None:
        """Forget past events (a new activation): the window fills again from `now`."""
        self._times.clear()
        self._start = now

    def tick(self, now: float) -> None:
        """Count one event at `now`."""
        if self._start is None:
            self._start = now
        self._times.append(now)

    def achieved_hz(self, now: float) -> float:
        """Return events per second over the window (or since start, if shorter)."""
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()
        start = self._start if self._start is not None else now
        span = min(self.window_s, now - start)
        return len(self._times) / span if span > 0 else 0.0

    def report(self, now: float, what: str = 'achieved') -> RateReport:
        """Return the achieved rate against the target."""
        return rate_level(self.achieved_hz(now), self.target_hz, what)


def rated_speed_check(camera_hz: float, rated_hz: float, source: str) -> Tuple[int, str]:
    """
    Return (level, start-up line) comparing the camera rate with the line's rated speed.

    `rated_hz` 0 means not measured: the line says how to measure it. WARN when the camera is
    faster than the rated speed (the excess frames are answered late or dropped, and rejected).
    """
    if rated_hz <= 0:
        return LEVEL_OK, (f'camera {camera_hz:g} Hz configured, line rate not rated (measure '
                          'it: benchmarks/line_rate_benchmark.py, then set rated_rate_hz)')
    line = (f'camera {camera_hz:g} Hz configured, line rated {rated_hz:g} Hz'
            f' ({source or "source not given"})')
    if camera_hz > rated_hz:
        return LEVEL_WARN, (f'{line}: WARNING camera faster than the line can answer; expect '
                            f'about {100 * (1 - rated_hz / camera_hz):.0f} % of parts without a '
                            'result, rejected fail-safe')
    return LEVEL_OK, f'{line}: {100 * camera_hz / rated_hz:.0f} % of the rated speed'
