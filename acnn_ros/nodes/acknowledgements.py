# SPDX-License-Identifier: Apache-2.0
"""
Wait until the subscribers of reliable publishers acknowledged what was sent.

Destroying a publisher (or ending its process) drops the samples a reliable reader has not
acknowledged yet. rclpy's Publisher.wait_for_all_acked(timeout) blocks holding the GIL, which
stalls every other thread of the process (an executor, the reject scheduler's firing thread):
this polls it without waiting instead.
"""
import time
from typing import Iterable, List

from rclpy.duration import Duration

POLL_S = 0.01


def _acknowledged(publisher) -> bool:
    """Return whether every subscriber acknowledged what `publisher` sent (no wait)."""
    try:
        return publisher.wait_for_all_acked(Duration(seconds=0))
    except RuntimeError:  # RCLError, InvalidHandle: the context is shut down, nothing to send
        return True


def wait_for_acknowledgements(publishers: Iterable, timeout_s: float) -> List[str]:
    """Wait, at most `timeout_s`, for the acks of `publishers`; return the topics still not."""
    deadline = time.monotonic() + timeout_s
    waiting = list(publishers)
    while True:
        waiting = [p for p in waiting if not _acknowledged(p)]
        if not waiting or time.monotonic() >= deadline:
            return [publisher.topic_name for publisher in waiting]
        time.sleep(POLL_S)
