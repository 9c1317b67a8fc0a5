# SPDX-License-Identifier: Apache-2.0
"""
Throughput, latency and outcome counters of the inference node, and their diagnostic level.

Counts are kept per diagnostics window (reset at every `snapshot`) and in total. The level rules
are plain functions of a snapshot so they are tested without ROS; the node only copies the
result into a diagnostic_msgs/DiagnosticStatus. The node's rate against its target: frames answered
OK per second against frames received per second (WARN below 95 %, acnn_ros.core.rate_monitor).
"""
from collections import deque
from dataclasses import dataclass
import threading
import time
from typing import Deque, List, Optional, Tuple

from acnn_ros.core.health import LEVEL_ERROR, LEVEL_OK, LEVEL_WARN
from acnn_ros.core.rate_monitor import rate_level
from acnn_ros.core.results import InspectionStatus
from acnn_ros.core.stats import percentiles


@dataclass(frozen=True)
class DiagnosticThresholds:
    """When the node's diagnostic status turns WARN or ERROR (see docs/INFERENCE.md)."""

    warn_latency_p99_ms: float = 100.0   # WARN when the window's p99 end-to-end latency exceeds
    warn_drop_ratio: float = 0.05        # WARN when more than this share of frames was dropped
    error_error_ratio: float = 0.5       # ERROR when at least this share of frames was errors


@dataclass(frozen=True)
class StatsSnapshot:
    """Counters of one diagnostics window plus totals since start."""

    window_s: float
    received: int
    inspected: int
    ok: int
    errors: int
    dropped: int
    low_confidence: int
    fps: float
    latency_p50_ms: float
    latency_p99_ms: float
    inference_p50_ms: float
    inference_p99_ms: float
    total_received: int
    total_ok: int
    total_errors: int
    total_dropped: int
    last_error: str
    received_hz: float = 0.0     # the node's target: every received frame answered OK
    ok_hz: float = 0.0           # achieved: frames answered OK per second


def _p50_p99(values: List[float]) -> Tuple[float, float]:
    """Return p50 and p99 of a window's times (0 for an empty window: nothing to warn of)."""
    if not values:
        return 0.0, 0.0
    stats = percentiles(values)
    return stats['p50'], stats['p99']


class InferenceStats:
    """Thread-safe counters fed by the subscription callback and the inference worker."""

    def __init__(self, fps_horizon_s: float = 2.0, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._fps_horizon_s = fps_horizon_s
        self._recent: Deque[float] = deque()
        self._totals = {InspectionStatus.OK: 0, InspectionStatus.ERROR: 0,
                        InspectionStatus.DROPPED: 0}
        self._last_error = ''
        self._reset_window(clock())

    def _reset_window(self, now: float) -> None:
        self._window_start = now
        self._window = {InspectionStatus.OK: 0, InspectionStatus.ERROR: 0,
                        InspectionStatus.DROPPED: 0}
        self._low_confidence = 0
        self._latency_ms: List[float] = []
        self._inference_ms: List[float] = []

    def record(self, status: InspectionStatus, total_ms: Optional[float] = None,
               inference_ms: Optional[float] = None, low_confidence: bool = False,
               detail: str = '') -> None:
        """Count one published result (of any status) with its latencies."""
        now = self._clock()
        with self._lock:
            self._window[status] += 1
            self._totals[status] += 1
            if status == InspectionStatus.ERROR:
                self._last_error = detail
            if status != InspectionStatus.DROPPED:
                self._recent.append(now)
                if total_ms is not None:
                    self._latency_ms.append(total_ms)
                if inference_ms is not None:
                    self._inference_ms.append(inference_ms)
            self._low_confidence += int(low_confidence)

    def fps(self) -> float:
        """Return inspected (not dropped) frames per second over the last few seconds."""
        now = self._clock()
        with self._lock:
            while self._recent and self._recent[0] < now - self._fps_horizon_s:
                self._recent.popleft()
            if len(self._recent) < 2:
                return 0.0
            span = max(now - self._recent[0], 1e-6)
            return (len(self._recent) - 1) / span

    def snapshot(self) -> StatsSnapshot:
        """Return the window's counters and start a new window."""
        now = self._clock()
        with self._lock:
            window = self._window
            window_s = max(now - self._window_start, 1e-6)
            inspected = window[InspectionStatus.OK] + window[InspectionStatus.ERROR]
            latency, inference = _p50_p99(self._latency_ms), _p50_p99(self._inference_ms)
            snap = StatsSnapshot(
                window_s=window_s, received=inspected + window[InspectionStatus.DROPPED],
                inspected=inspected, ok=window[InspectionStatus.OK],
                errors=window[InspectionStatus.ERROR], dropped=window[InspectionStatus.DROPPED],
                low_confidence=self._low_confidence, fps=inspected / window_s,
                latency_p50_ms=latency[0], latency_p99_ms=latency[1],
                inference_p50_ms=inference[0], inference_p99_ms=inference[1],
                total_received=sum(self._totals.values()),
                total_ok=self._totals[InspectionStatus.OK],
                total_errors=self._totals[InspectionStatus.ERROR],
                total_dropped=self._totals[InspectionStatus.DROPPED],
                last_error=self._last_error,
                received_hz=(inspected + window[InspectionStatus.DROPPED]) / window_s,
                ok_hz=window[InspectionStatus.OK] / window_s)
            self._reset_window(now)
        return snap


def diagnostic_level(snap: StatsSnapshot, thresholds: DiagnosticThresholds
                     ) -> Tuple[int, str]:
    """
    Return (level, message) for a window.

    ERROR when errors reach error_error_ratio of the received frames; WARN on any error, on a
    drop ratio above warn_drop_ratio, on a p99 latency above warn_latency_p99_ms, or when fewer
    than 95 % of the received frames per second were answered OK; OK
    otherwise (also when no frame arrived: an idle line is not a fault of this node).
    """
    if snap.received == 0:
        return LEVEL_OK, 'idle: no images in the last window'
    error_ratio = snap.errors / snap.received
    drop_ratio = snap.dropped / snap.received
    problems = []
    level = LEVEL_OK
    if snap.errors:
        level = LEVEL_ERROR if error_ratio >= thresholds.error_error_ratio else LEVEL_WARN
        problems.append(f'{snap.errors}/{snap.received} frames failed ({snap.last_error})')
    if drop_ratio > thresholds.warn_drop_ratio:
        level = max(level, LEVEL_WARN)
        problems.append(f'{snap.dropped}/{snap.received} frames dropped (overload)')
    if snap.latency_p99_ms > thresholds.warn_latency_p99_ms:
        level = max(level, LEVEL_WARN)
        problems.append(f'p99 latency {snap.latency_p99_ms:.1f} ms > '
                        f'{thresholds.warn_latency_p99_ms:g} ms')
    rate = rate_level(snap.ok_hz, snap.received_hz, 'answered OK')
    if rate.level == LEVEL_WARN:
        level = max(level, LEVEL_WARN)
        problems.append(rate.message.replace('target', 'received'))
    if not problems:
        return LEVEL_OK, f'ok: {snap.fps:.1f} fps, p99 {snap.latency_p99_ms:.1f} ms'
    return level, '; '.join(problems)
