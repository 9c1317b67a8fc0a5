# SPDX-License-Identifier: Apache-2.0
"""
A one-frame mailbox between a message callback and an inference worker.

Camera callbacks `put` every received frame; the worker `take`s the newest. A frame that is
replaced before the worker took it is handed back to the caller of `put`, which reports it as
DROPPED: memory stays bounded at one frame and every frame is accounted for exactly once.
"""
import threading
from typing import Any, Callable, Generic, Optional, TypeVar

FrameT = TypeVar('FrameT')


class LatestFrameSlot(Generic[FrameT]):
    """Holds at most one pending frame; newer frames displace older ones."""

    def __init__(self):
        self._frame: Optional[FrameT] = None
        self._closed = False
        self._condition = threading.Condition()

    def put(self, frame: FrameT, merge: Optional[Callable[[FrameT, FrameT], tuple]] = None
            ) -> Optional[FrameT]:
        """
        Store `frame`; return the frame it displaced (to report as dropped), or None.

        `merge(pending, frame)` -> (stored, displaced) may keep part of a pending item with the
        new one (a station's part whose late frame follows its siblings), atomically.
        """
        with self._condition:
            if self._closed:
                return frame
            if merge is not None and self._frame is not None:
                self._frame, displaced = merge(self._frame, frame)
            else:
                displaced, self._frame = self._frame, frame
            self._condition.notify()
        return displaced

    def take(self, timeout_s: Optional[float] = None,
             until: Optional[Callable[[], bool]] = None) -> Optional[FrameT]:
        """
        Return the pending frame, waiting up to timeout_s; None on timeout or close.

        With `until`, also None as soon as `until()` is true when checked: at the call, and
        after each `wake()` (whoever makes it true calls wake(), as a future's done callback).
        """
        with self._condition:
            if self._frame is None and not self._closed and not (until and until()):
                self._condition.wait(timeout_s)
            frame, self._frame = self._frame, None
        return frame

    def wake(self) -> None:
        """Wake a worker waiting in take() to check its `until` condition."""
        with self._condition:
            self._condition.notify_all()

    def close(self) -> Optional[Any]:
        """Refuse further frames, wake the worker and return the frame still pending."""
        with self._condition:
            self._closed = True
            frame, self._frame = self._frame, None
            self._condition.notify_all()
        return frame

    @property
    def closed(self) -> bool:
        """Return True once close() was called."""
        return self._closed
