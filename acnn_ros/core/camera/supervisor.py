# SPDX-License-Identifier: Apache-2.0
"""
Capture supervision: a FrameSource read step by step, reopened with back-off when it vanishes.

`CaptureSupervisor.step()` never raises a CameraSourceError: it reports what happened as a
`CaptureEvent` (a frame, a bad frame, the source lost, a failed reopen, waiting, the end, a
permanent failure), so camera_node never restarts. Time comes from an injected clock, so
the back-off is tested without sleeping.
"""
from dataclasses import dataclass
import time
from typing import Callable, Optional, Tuple

from acnn_ros.core.camera.source import (BadFrameError, CameraSourceError, EndOfStreamError,
                                         Frame, FrameSource)
from acnn_ros.core.health import LEVEL_ERROR, LEVEL_WARN
from acnn_ros.core.rate_monitor import RateReport


class Backoff:
    """Exponential back-off delays: initial, 2x initial, ... capped at maximum."""

    def __init__(self, initial_s: float, maximum_s: float, factor: float = 2.0):
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self.factor = factor
        self._next = initial_s

    def next_delay(self) -> float:
        """Return the delay before the next attempt and grow the following one."""
        delay = self._next
        self._next = min(self._next * self.factor, self.maximum_s)
        return delay

    def reset(self) -> None:
        """Start over at the initial delay (after a success)."""
        self._next = self.initial_s


@dataclass(frozen=True)
class CaptureEvent:
    """What one `CaptureSupervisor.step()` did."""

    kind: str                        # one of the EVENT_* names below
    frame: Optional[Frame] = None
    message: str = ''
    retry_in_s: float = 0.0
    recovered_after_s: float = 0.0   # > 0 on the first frame after the source came back


EVENT_FRAME = 'frame'                # a frame was captured
EVENT_BAD_FRAME = 'bad_frame'        # one frame was unreadable; the source stays open
EVENT_LOST = 'lost'                  # the source vanished; a reopen is scheduled
EVENT_RETRY_FAILED = 'retry_failed'  # a reopen attempt failed; the next one is scheduled
EVENT_WAITING = 'waiting'            # back-off in progress, nothing attempted
EVENT_ENDED = 'ended'                # end of a non-looping file/folder
EVENT_FAILED = 'failed'              # a permanent configuration error; no more attempts


class CaptureSupervisor:
    """Reads a FrameSource, reopening it with back-off whenever it vanishes."""

    def __init__(self, source: FrameSource, reconnect_initial_s: float = 0.5,
                 reconnect_max_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.source = source
        self.backoff = Backoff(reconnect_initial_s, reconnect_max_s)
        self.clock = clock
        self.state = 'closed'        # closed | open | waiting | ended | failed
        self.frames = 0
        self.bad_frames = 0
        self.disconnects = 0
        self.reconnects = 0
        self.failed_attempts = 0
        self.last_error = ''
        self._next_attempt = 0.0
        self._lost_since: Optional[float] = None

    def step(self) -> CaptureEvent:
        """Open the source if due, then read one frame; never raises a CameraSourceError."""
        now = self.clock()
        if self.state in ('ended', 'failed'):
            return CaptureEvent(EVENT_ENDED if self.state == 'ended' else EVENT_FAILED,
                                message=self.last_error)
        if self.state in ('closed', 'waiting'):
            if now < self._next_attempt:
                return CaptureEvent(EVENT_WAITING, message=self.last_error,
                                    retry_in_s=self._next_attempt - now)
            try:
                self.source.connect()
            except CameraSourceError as exc:
                return self._failure(exc, now, EVENT_RETRY_FAILED)
            self.state = 'open'
        try:
            frame = self.source.read()
        except BadFrameError as exc:
            self.bad_frames += 1
            self.last_error = str(exc)
            return CaptureEvent(EVENT_BAD_FRAME, message=str(exc))
        except CameraSourceError as exc:
            self.source.close()
            if isinstance(exc, EndOfStreamError):
                self.state = 'ended'
                self.last_error = str(exc)
                return CaptureEvent(EVENT_ENDED, message=str(exc))
            self.disconnects += 1
            return self._failure(exc, now, EVENT_LOST)
        recovered_after = 0.0
        if self._lost_since is not None:
            recovered_after = max(now - self._lost_since, 1e-9)
            self.reconnects += 1
            self._lost_since = None
        self.backoff.reset()
        self.frames += 1
        return CaptureEvent(EVENT_FRAME, frame=frame, recovered_after_s=recovered_after)

    def _failure(self, exc: CameraSourceError, now: float, kind: str) -> CaptureEvent:
        self.last_error = str(exc)
        if not exc.retryable:
            self.state = 'failed'
            return CaptureEvent(EVENT_FAILED, message=str(exc))
        if kind == EVENT_RETRY_FAILED:
            self.failed_attempts += 1
        if self._lost_since is None:
            self._lost_since = now
        delay = self.backoff.next_delay()
        self._next_attempt = now + delay
        self.state = 'waiting'
        return CaptureEvent(kind, message=str(exc), retry_in_s=delay)

    @property
    def healthy(self) -> bool:
        """Return True while the source is open (or not yet tried)."""
        return self.state in ('open', 'closed')

    def close(self) -> None:
        """Release the source."""
        self.source.close()


def capture_health(source_state: str, last_error: str, capturing: bool, gate_open: bool,
                   rate: RateReport) -> Tuple[int, str]:
    """
    Return camera_node's (level, message) for /diagnostics.

    ERROR while the source is unavailable (waiting to reopen, or failed for good); WARN while
    capture is stopped (inactive, disabled, max_frames reached, end of stream) or held by the
    start gate; otherwise the achieved rate against the target (WARN below 95 %).
    """
    if source_state in ('waiting', 'failed'):
        return LEVEL_ERROR, f'source unavailable: {last_error}'
    if not capturing or source_state == 'ended':
        return LEVEL_WARN, ('capture stopped (inactive, disabled, max_frames reached or end of '
                            'stream)')
    if not gate_open:
        return LEVEL_WARN, 'waiting for the line to be matched'
    return rate.level, rate.message
