# SPDX-License-Identifier: Apache-2.0
"""
The intake of a station's N cameras: the frames of one part inspected in one engine call.

`BatchIntake` is a FrameIntake (runtime/frame_intake.py: every frame taken is answered exactly
once, frames in hand are answered at close) whose unit of work is a part's batch instead of a
frame. Frames are grouped by capture stamp (runtime/part_batch.PartBatcher); a batch goes to the
staged worker when it holds every camera's frame, or `window_s` after its first frame (a late
or dead camera holds the others no longer); the worker decodes and preprocesses each frame and
runs the engine once for the batch (InspectionPipeline.complete_batch), and each frame is
answered on its own, with its own header. The newest batch wins the worker's slot as a frame
does: a displaced batch's frames are answered DROPPED - except frames of the same part (a
camera later than the window, or a window of 0), which join the new batch instead.

The window's clock is injected (`clock`, seconds, monotonic); a thread of this class wakes at
each window's deadline. ROS-free, as FrameIntake.
"""
import threading
import time
from typing import Callable, List, Optional

from acnn_ros.core.image_codec import DEFAULT_MAX_PIXELS
from acnn_ros.core.messages import stamp_ns
from acnn_ros.core.results import InspectionOutcome
from acnn_ros.runtime.frame_intake import (Answer, DROPPED_DETAIL, FrameIntake, TakenFrame,
                                           WORKER_STOP_TIMEOUT_S)
from acnn_ros.runtime.part_batch import PartBatcher
from acnn_ros.runtime.pipeline import PipelineHolder, PreparedFrame


class BatchIntake(FrameIntake):
    """Take the frames of N cameras; inspect each part's frames as one batch."""

    def __init__(self, holder: PipelineHolder, answer: Answer, cameras: int, window_s: float,
                 max_image_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
                 clock: Callable[[], float] = time.monotonic):
        """Open with `cameras` frames per part and a window of `window_s` seconds."""
        self.batcher = PartBatcher(cameras, window_s)
        self._clock = clock
        # Guards the batcher; taken inside the gate (gate -> windows), never the other way.
        self._windows = threading.Condition(threading.Lock())
        self._stopping = False
        super().__init__(holder, answer, max_image_pixels)
        self._timer = threading.Thread(target=self._run_windows, daemon=True,
                                       name='batch_window')
        self._timer.start()

    def take(self, msg) -> bool:
        """Take one camera's frame; False when closed (the frame is not ours)."""
        frame = TakenFrame(msg, time.perf_counter())
        header = msg.header
        with self._gate:
            if not self._open:
                return False
            with self._windows:
                ready = self.batcher.add(stamp_ns(header.stamp), header.frame_id, frame,
                                         self._clock())
                self._windows.notify()
            for batch in ready:
                self._dispatch(batch)
        return True

    def close(self, timeout_s: float = WORKER_STOP_TIMEOUT_S) -> bool:
        """Stop taking frames; answer every frame in hand (batches in their window too)."""
        finished = super().close(timeout_s)
        self._timer.join(timeout=2.0)
        return finished

    def _held_back(self) -> list:
        """Return the batches still in their window (at close, the gate held); stop the timer."""
        with self._windows:
            self._stopping = True
            self._windows.notify()
            return [tuple(batch) for batch in self.batcher.drain()]

    def _dispatch(self, batch: List[TakenFrame]) -> None:
        """Give a batch to the worker (the gate held); answer a displaced one DROPPED."""
        displaced = self._slot.put(tuple(batch), merge=_join_part)
        for frame in displaced or ():
            self._answer(frame, InspectionOutcome.dropped(
                DROPPED_DETAIL, self._holder.current.model_id), None)

    def _run_windows(self) -> None:
        while True:
            with self._windows:
                if self._stopping:
                    return
                deadline, now = self.batcher.next_deadline(), self._clock()
                if deadline is None or deadline > now:
                    self._windows.wait(None if deadline is None else deadline - now)
                    continue
            with self._gate:      # gate -> windows, as take() and close()
                with self._windows:
                    ready = self.batcher.due(self._clock()) if self._open else []
                for batch in ready:
                    self._dispatch(batch)

    def _prepare(self, batch):
        """Decode and preprocess every frame (worker thread); the engine step runs them once."""
        pipeline = self._holder.current  # the whole batch uses this model to the end
        staged = [self._stage(pipeline, frame.msg) for frame in batch]

        def engine_step():
            prepared = [item for item, _ in staged if isinstance(item, PreparedFrame)]
            outcomes = iter(pipeline.complete_batch(prepared) if prepared else ())
            return [(next(outcomes) if isinstance(item, PreparedFrame) else item, bgr)
                    for item, bgr in staged]
        return engine_step

    def _finish(self, batch, results, error) -> None:
        if error is not None:      # a bug must cost one batch, not the worker thread
            results = [(InspectionOutcome.error(f'internal error: {error!r}',
                                                self._holder.current.model_id), None)] * len(batch)
        for frame, (outcome, bgr) in zip(batch, results):
            self._answer(frame, outcome, bgr)


def _join_part(pending: tuple, batch: tuple) -> tuple:
    """Return (the batch with the pending frames of its part, the other pending frames)."""
    stamp = stamp_ns(batch[0].msg.header.stamp)
    same = tuple(f for f in pending if stamp_ns(f.msg.header.stamp) == stamp)
    others = tuple(f for f in pending if stamp_ns(f.msg.header.stamp) != stamp)
    return same + batch, others or None
