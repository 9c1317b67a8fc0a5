# SPDX-License-Identifier: Apache-2.0
"""
Decision validity: a stamp in the PLC's own clock after which the PLC must ignore a decision.

Why (measured here, test/test_plc_stale_decisions.py): a PLC process that stalls while its TCP
stack keeps accepting (frozen task, overloaded CPU, SIGSTOP) buffers every request the vision
system sends; when it resumes it applies them all within a millisecond, long after their parts
passed. Dropping the connection does not help: Linux still hands the bytes queued before a
reset (RST) to the server (seen with a plain socket pair), so a request the client gave up on
can always be applied later. Only the PLC can tell that a decision came too late, and only in
its own clock: the vision system reads the PLC's free-running millisecond counter, maps its
own deadline of each decision into that clock, and writes it with the decision; the PLC applies
a decision (and a reject pulse) only while `valid_until - now >= 0` (32-bit wrap-around
difference, docs/LINE_INTEGRATION.md "What protects the PLC from a stale decision").
"""
import threading
from typing import Optional, Tuple

WRAP = 1 << 32


def clock_words(ms: int) -> Tuple[int, int]:
    """Return the two 16-bit registers (high word first) of a 32-bit millisecond value."""
    ms %= WRAP
    return ms >> 16, ms & 0xFFFF


def words_ms(high: int, low: int) -> int:
    """Return the 32-bit millisecond value of two registers (high word first)."""
    return ((int(high) & 0xFFFF) << 16) | (int(low) & 0xFFFF)


def still_valid(valid_until_ms: int, now_ms: int) -> bool:
    """
    Return the PLC's rule: True while `now_ms` has not passed `valid_until_ms`.

    The signed 32-bit difference (a DINT subtraction on the PLC) survives the counter's wrap
    every 49.7 days.
    """
    difference = (int(valid_until_ms) - int(now_ms)) % WRAP
    return difference < WRAP // 2


class PlcClock:
    """
    The mapping from the vision clock (seconds) to the PLC's millisecond counter.

    `observe` takes one read of the counter with the vision times before and after the request;
    the midpoint is taken as the instant of the read, so the error is at most half the round
    trip. A read slower than `max_round_trip_s` is not used (its instant is too uncertain).
    """

    def __init__(self, max_round_trip_s: float):
        self._max_round_trip_s = max_round_trip_s
        self._lock = threading.Lock()
        self._offset_ms: Optional[float] = None     # PLC ms - vision ms

    def observe(self, plc_ms: int, sent_at: float, answered_at: float) -> bool:
        """Take one read of the PLC counter; return whether it was used."""
        round_trip = answered_at - sent_at
        if round_trip < 0 or round_trip > self._max_round_trip_s:
            return False
        vision_ms = (sent_at + answered_at) * 500.0
        offset = plc_ms - vision_ms
        with self._lock:
            if self._offset_ms is not None:
                # The counter wraps: keep the offset continuous (nearest to the last one).
                offset -= round((offset - self._offset_ms) / WRAP) * WRAP
            self._offset_ms = offset
        return True

    def forget(self) -> None:
        """Drop the mapping (a new connection may reach a restarted PLC)."""
        with self._lock:
            self._offset_ms = None

    def plc_ms(self, vision_time_s: float) -> int:
        """Return the PLC counter value at the vision time `vision_time_s` (mod 2**32)."""
        with self._lock:
            if self._offset_ms is None:
                raise LookupError('the PLC clock was not read yet')
            return int(vision_time_s * 1000.0 + self._offset_ms) % WRAP
