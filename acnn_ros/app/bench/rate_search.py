# SPDX-License-Identifier: Apache-2.0
"""
Pure logic of the line-rate benchmark: probe verdicts, the rate search, CPU use, targets.

No ROS, no clock, no processes: `python -m benchmarks.line_rate_benchmark` feeds it
measurements, the tests (test/test_rate_search.py) feed it a fake system. The method is
ros2_benchmark's: drive the graph at a fixed camera rate for a bounded probe, call the probe
good when fewer than `max_failure_ratio` of its frames were not answered OK, and
binary-search the highest good rate between a rate known (or found) to pass and one that
fails. Percentiles: acnn_ros.core.stats; RSS: acnn_ros.app.proc_status.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

from acnn_ros.app.proc_status import rss_mib
import numpy as np

MAX_FAILURE_RATIO = 0.01  # ros2_benchmark's "< 1 % of frames not answered OK"


@dataclass
class Probe:
    """One fixed-rate run: frames sent, frames answered OK, end-to-end latencies (ms)."""

    rate_hz: float
    sent: int
    ok: int
    latencies_ms: List[float] = field(default_factory=list)
    answered: int = -1  # results of any status (-1: not counted)

    @property
    def not_ok(self) -> int:
        """Return frames dropped, failed or never answered."""
        return self.sent - self.ok

    @property
    def failure_ratio(self) -> float:
        """Return the share of frames not answered OK (1.0 for an empty probe)."""
        return self.not_ok / self.sent if self.sent else 1.0

    def passed(self, max_failure_ratio: float = MAX_FAILURE_RATIO) -> bool:
        """Return whether fewer than `max_failure_ratio` of the frames were not answered OK."""
        return self.sent > 0 and self.failure_ratio < max_failure_ratio


@dataclass
class SearchResult:
    """Highest passing rate found (0.0 when even the lowest failed) and every probe run."""

    best_hz: float
    probes: List[Probe]
    best_probe: Optional[Probe] = None


def find_max_rate(probe: Callable[[float], Probe], low_hz: float, high_hz: float,
                  max_probes: int = 7, rel_tolerance: float = 0.03,
                  max_failure_ratio: float = MAX_FAILURE_RATIO) -> SearchResult:
    """
    Binary-search the highest rate in [low_hz, high_hz] at which `probe(rate)` passes.

    Assumes pass/fail is monotone in the rate. Probes `high_hz` first (a system that keeps up
    there is done in one probe), then `low_hz` (if that fails the answer is 0: below the
    range), then halves the interval until it is narrower than `rel_tolerance` of its top or
    `max_probes` probes have run. The answer is always a rate that was probed and passed.
    """
    if not 0 < low_hz < high_hz:
        raise ValueError(f'need 0 < low_hz < high_hz, got {low_hz}, {high_hz}')
    probes: List[Probe] = []

    def run(rate: float) -> Probe:
        result = probe(rate)
        probes.append(result)
        return result

    top = run(high_hz)
    if top.passed(max_failure_ratio):
        return SearchResult(high_hz, probes, top)
    bottom = run(low_hz)
    if not bottom.passed(max_failure_ratio):
        return SearchResult(0.0, probes, None)
    good, bad, best = low_hz, high_hz, bottom
    while len(probes) < max_probes and (bad - good) > rel_tolerance * bad:
        middle = (good + bad) / 2.0
        result = run(middle)
        if result.passed(max_failure_ratio):
            good, best = middle, result
        else:
            bad = middle
    return SearchResult(good, probes, best)


def parse_proc_stat(text: str, clock_ticks: int) -> float:
    """Return user + system CPU seconds from the text of /proc/<pid>/stat."""
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = text[text.rindex(')') + 2:].split()
    return (int(fields[11]) + int(fields[12])) / float(clock_ticks)  # utime, stime


def cpu_percent(cpu_before_s: float, cpu_after_s: float, wall_s: float) -> float:
    """Return CPU use over a span in percent of one core (200 = two cores busy)."""
    return 100.0 * (cpu_after_s - cpu_before_s) / wall_s if wall_s > 0 else 0.0


class ProcessUsage:
    """CPU and RSS of one process, from psutil when installed, else /proc."""

    def __init__(self, pid: int):
        self.pid = pid
        try:
            import psutil
            self._process = psutil.Process(pid)
        except ImportError:
            self._process = None
        import os
        self._ticks = os.sysconf('SC_CLK_TCK')

    def cpu_seconds(self) -> float:
        """Return user + system CPU seconds so far."""
        if self._process is not None:
            times = self._process.cpu_times()
            return times.user + times.system
        return parse_proc_stat(Path(f'/proc/{self.pid}/stat').read_text(), self._ticks)

    def rss_mib(self) -> float:
        """Return the resident set size in MiB."""
        if self._process is not None:
            return self._process.memory_info().rss / 2.0 ** 20
        return rss_mib(self.pid)


@dataclass
class Target:
    """One of issue 11's targets: measured value, limit, met, and by how much."""

    name: str
    value: float
    limit: float
    higher_is_better: bool
    unit: str = ''

    @property
    def met(self) -> bool:
        """Return whether the measured value is on the right side of the limit."""
        if np.isnan(self.value):
            return False
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit

    def describe(self) -> str:
        """Return 'met' or 'missed by X' in the target's unit."""
        if np.isnan(self.value):
            return 'not measured'
        gap = abs(self.value - self.limit)
        return 'met' if self.met else f'missed by {gap:.2f}{self.unit}'


def dds_targets(model_p50_ms: float, e2e_p50_ms: float, model_rate_hz: float,
                best_hz: float, all_ok_at_90: Optional[bool]) -> List[Target]:
    """
    Return the DDS-path targets of issue 11 for one configuration.

    node + transport over the model at p50 <= 30 %; highest sustained rate >= 0.9 x model-only
    rate; every frame OK at 0.9 x model-only rate (1.0 = yes, 0.0 = no, NaN = not probed).
    """
    overhead = (e2e_p50_ms - model_p50_ms) / model_p50_ms * 100.0
    every_ok = float('nan') if all_ok_at_90 is None else float(bool(all_ok_at_90))
    return [
        Target('node + transport over model time, p50', overhead, 30.0, False, ' %'),
        Target('highest sustained rate / model-only rate', best_hz / model_rate_hz, 0.9, True),
        Target('every frame OK at 0.9 x model-only rate', every_ok, 1.0, True),
    ]


def line_target(model_p50_ms: float, capture_to_verdict_p50_ms: float) -> Target:
    """Return the one-process target: capture -> verdict <= 1.15 x model time at p50."""
    return Target('one-process capture -> verdict / model time, p50',
                  capture_to_verdict_p50_ms / model_p50_ms, 1.15, False, 'x')
