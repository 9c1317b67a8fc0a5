# SPDX-License-Identifier: Apache-2.0
"""
The inference node's frame intake: every frame taken is answered exactly once.

Frames come from image messages (rclpy or rosbags, decoded by core/messages.py) or in memory
(`MemoryFrame`, handed over by a composing process). While open, the newest frame wins: a frame
displaced from the waiting slot is answered DROPPED at once; the others go through the staged
worker (decode and preprocess overlapping the engine run of the previous frame). `close()`
stops taking frames, waits for the one in the engine and answers the one still waiting, so a
frame taken before close gets its verdict and none taken after. ROS-free: the node supplies the
pipeline holder and `answer(frame, outcome, bgr)`, and publishes.
"""
import threading
import time
from typing import Any, Callable, NamedTuple, Optional

from acnn_ros.core.image_codec import DEFAULT_MAX_PIXELS
from acnn_ros.core.messages import inspect_image_message
from acnn_ros.core.results import InspectionOutcome
from acnn_ros.runtime.frame_slot import LatestFrameSlot
from acnn_ros.runtime.pipeline import PipelineHolder, PreparedFrame
from acnn_ros.runtime.staged_worker import StagedWorker
import numpy as np

DROPPED_DETAIL = 'dropped: a newer frame arrived while the engine was busy'
# How long close() waits for the frame in the engine before it gives up on the worker.
WORKER_STOP_TIMEOUT_S = 30.0


class MemoryFrame(NamedTuple):
    """A frame handed over in memory by a composing process (`InferenceNode.inspect_frame`)."""

    header: Any             # the camera's header, as an `image` message would carry it
    bgr: np.ndarray         # BGR uint8 (height, width, 3); read only


class TakenFrame(NamedTuple):
    """A frame the intake took: the message (or MemoryFrame) and when it was received."""

    msg: Any
    received: float         # time.perf_counter() at reception (the result's total_ms starts)


# answer(frame, outcome, bgr or None): publish one frame's result; called once per taken frame.
Answer = Callable[[TakenFrame, InspectionOutcome, Optional[np.ndarray]], None]


class FrameIntake:
    """Take frames while open; answer each exactly once through `answer`."""

    def __init__(self, holder: PipelineHolder, answer: Answer,
                 max_image_pixels: Optional[int] = DEFAULT_MAX_PIXELS):
        """Open; a message over `max_image_pixels` is answered ERROR without being decoded."""
        self._holder = holder
        self._answer = answer
        self._max_pixels = max_image_pixels
        # The gate orders take() against close(): once closed no frame enters the slot, so
        # close() knows every frame it has to answer.
        self._gate = threading.Lock()
        self._slot = LatestFrameSlot()
        self._open = True
        self._worker = StagedWorker(self._slot, self._prepare, self._finish)

    def take(self, msg) -> bool:
        """Take one frame (message or MemoryFrame); False when closed (the frame is not ours)."""
        received = time.perf_counter()
        with self._gate:
            if not self._open:
                return False
            displaced = self._slot.put(TakenFrame(msg, received))
            if displaced is not None:
                self._answer(displaced, InspectionOutcome.dropped(
                    DROPPED_DETAIL, self._holder.current.model_id), None)
        return True

    def close(self, timeout_s: float = WORKER_STOP_TIMEOUT_S) -> bool:
        """Stop taking frames; answer those in hand; False if the engine outlived `timeout_s`."""
        with self._gate:
            if not self._open:
                return True
            self._open = False
            held = self._held_back()
        waiting = self._slot.close()
        self._worker.join(timeout=timeout_s)
        finished = not self._worker.is_alive()
        for item in ([waiting] if waiting is not None else []) + held:
            self._worker.answer_now(item)      # the engine is free: the frame gets its verdict
        return finished

    def _held_back(self) -> list:
        """Return the work held back from the worker (none here), at close, the gate held."""
        return []

    def _stage(self, pipeline, msg):
        """Decode and preprocess one frame: (PreparedFrame or its ERROR outcome, bgr or None)."""
        if isinstance(msg, MemoryFrame):
            return pipeline.prepare(msg.bgr), msg.bgr
        return inspect_image_message(pipeline.preparing(), msg, max_pixels=self._max_pixels)

    def _prepare(self, frame: TakenFrame):
        """Decode and preprocess (worker thread); return the engine step (engine thread)."""
        pipeline = self._holder.current  # this frame uses this model to the end
        staged, bgr = self._stage(pipeline, frame.msg)
        if isinstance(staged, PreparedFrame):
            return lambda: (staged.complete(), bgr)
        return lambda: (staged, bgr)     # an ERROR outcome: nothing for the engine

    def _finish(self, frame: TakenFrame, result, error) -> None:
        if error is None:
            outcome, bgr = result
        else:      # a bug must cost one frame, not the worker thread
            outcome, bgr = InspectionOutcome.error(f'internal error: {error!r}',
                                                   self._holder.current.model_id), None
        self._answer(frame, outcome, bgr)
