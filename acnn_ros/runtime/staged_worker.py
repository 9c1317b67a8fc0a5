# SPDX-License-Identifier: Apache-2.0
"""
Two-stage frame worker: prepare the next frame while the engine runs the current one.

A frame's work is `prepare(frame)` (decode, preprocess: Python and OpenCV) -> the engine step
that `prepare` returns (ONNX Runtime, which releases the GIL) -> `finish(frame, result,
error)` (publish). One worker thread takes frames from a LatestFrameSlot, prepares them and
finishes them in arrival order; one engine thread runs the engine steps, one at a time. While
the engine runs frame N the worker prepares frame N+1, so the highest rate follows the engine
time, not engine + preprocessing + publishing (on a machine with a core to spare).

Accounting is the slot's: a frame is in the slot (displaced -> the caller answers it DROPPED),
or the worker has it and finishes it exactly once (an engine step that raises is finished with
the exception). At most three frames are in hand: one in the engine, one prepared and waiting
for it, one in the slot. `close` (after slot.close()) finishes the frames the worker has.
"""
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
import threading
from typing import Any, Callable, Deque, Optional, Tuple

from acnn_ros.runtime.frame_slot import LatestFrameSlot

EngineStep = Callable[[], Any]
# How often an idle worker looks at the slot's closed flag (close() also wakes it).
IDLE_WAKE_S = 0.2


class StagedWorker:
    """Prepare / engine / finish in two threads, fed by a LatestFrameSlot."""

    def __init__(self, slot: LatestFrameSlot, prepare: Callable[[Any], EngineStep],
                 finish: Callable[[Any, Any, Optional[BaseException]], None],
                 name: str = 'inference'):
        """
        Start the threads.

        `prepare(frame)` returns the engine step (a callable without arguments); `finish(frame,
        step result, exception or None)` is called once per frame taken from the slot, on the
        worker thread, in the order the frames were taken. Neither should raise; an exception
        from `prepare` is handed to `finish` like an engine failure.
        """
        self._slot = slot
        self._prepare = prepare
        self._finish = finish
        self._engine = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f'{name}_engine')
        self._thread = threading.Thread(target=self._run, daemon=True, name=f'{name}_worker')
        self._thread.start()

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for the worker to finish its frames (after slot.close()); True when it did."""
        self._thread.join(timeout)
        alive = self._thread.is_alive()
        if not alive:
            self._engine.shutdown(wait=False)
        return not alive

    def answer_now(self, frame) -> None:
        """Prepare, run and finish one frame on the calling thread (the slot's last, at stop)."""
        frame, step, error = self._prepare_only(frame)
        try:
            result = step() if error is None else None
        except Exception as exc:  # a bug must cost one frame, not the caller
            result, error = None, exc
        self._finish(frame, result, error)

    def is_alive(self) -> bool:
        """Return True while the worker thread runs."""
        return self._thread.is_alive()

    def _complete(self, pending: Tuple[Any, Future]) -> None:
        frame, future = pending
        try:
            result, error = future.result(), None
        except Exception as exc:  # the engine step failed: the frame still gets its finish
            result, error = None, exc
        self._finish(frame, result, error)

    def _run(self) -> None:
        pending: Deque[Tuple[Any, Future]] = deque()    # taken, submitted, not yet finished
        while True:
            oldest = pending[0][1] if pending else None
            frame = self._slot.take(IDLE_WAKE_S, until=oldest.done if oldest else None)
            if frame is not None:
                # Prepared while the engine still runs the previous frame, and queued behind
                # it: the engine thread goes on to this one without waiting for this thread.
                pending.append(self._start(self._prepare_only(frame)))
            closed = self._slot.closed
            # Finish in order: what is done, the older of two (its engine step is running or
            # done; the newer is queued), everything once the slot is closed.
            while pending and (pending[0][1].done() or len(pending) > 1 or closed):
                self._complete(pending.popleft())
            if closed and frame is None and not pending:
                return

    def _prepare_only(self, frame):
        try:
            return frame, self._prepare(frame), None
        except Exception as exc:  # a bug must cost one frame, not the worker
            return frame, None, exc

    def _start(self, prepared) -> Tuple[Any, Future]:
        frame, step, error = prepared
        if error is not None:
            future: Future = Future()
            future.set_exception(error)
        else:
            future = self._engine.submit(step)
        # The worker may be waiting in take(): the done engine step must wake it to finish.
        future.add_done_callback(lambda _: self._slot.wake())
        return frame, future
