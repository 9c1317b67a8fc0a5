# SPDX-License-Identifier: Apache-2.0
"""
When the camera may start publishing parts: once the line downstream is matched.

A part published before inference_node and reject_actuator_node have matched the camera's
topics gets no result (discovery still running) and is rejected fail-safe: a good part thrown
away. camera_node therefore holds capture after each activation until its `part` publisher (and
its `image` publisher, unless frames go to inference in memory) has subscribers, or until
`line_wait_s` has passed; then it starts anyway and says so (WARN). `line_wait_s: 0` turns the
wait off. Pure logic on an injected clock: the node only passes subscriber counts and the time.
"""
from dataclasses import dataclass
from typing import Optional

WAITING, READY, TIMED_OUT, OFF = 'waiting', 'ready', 'timed_out', 'off'


@dataclass(frozen=True)
class GateEvent:
    """A change of the gate's state, to be logged once."""

    state: str          # READY, TIMED_OUT or OFF
    waited_s: float
    message: str


class StartGate:
    """Holds capture until the line is matched or the wait times out; one per activation."""

    def __init__(self, wait_s: float):
        """Wait at most `wait_s` seconds for the line; 0 = do not wait."""
        if wait_s < 0:
            raise ValueError(f'wait_s must be >= 0, got {wait_s}')
        self.wait_s = wait_s
        self.state = OFF if wait_s == 0 else WAITING
        self._since: Optional[float] = None
        self.waited_s = 0.0

    def arm(self, now: Optional[float] = None) -> None:
        """
        Start waiting (at activation); a gate with wait_s 0 stays open.

        `now` None: the wait is timed from the first `update` (capture enabled later).
        """
        self.state = OFF if self.wait_s == 0 else WAITING
        self._since = now
        self.waited_s = 0.0

    @property
    def is_open(self) -> bool:
        """Return True when capture may run."""
        return self.state != WAITING

    def update(self, missing: str, now: float) -> Optional[GateEvent]:
        """
        Re-evaluate with what is still missing ('' = the line is matched); return a change.

        `missing` names the topics still without a subscriber, for the log line.
        """
        if self.state != WAITING:
            return None
        if self._since is None:
            self._since = now
        self.waited_s = max(now - self._since, 0.0)
        if not missing:
            self.state = READY
            return GateEvent(READY, self.waited_s,
                             f'line ready after {self.waited_s:.2f} s: part and image matched')
        if self.waited_s >= self.wait_s:
            self.state = TIMED_OUT
            return GateEvent(TIMED_OUT, self.waited_s, (
                f'line not ready after {self.waited_s:.1f} s (no subscriber on {missing}): '
                'capturing anyway; parts without a result are rejected fail-safe'))
        return None


def missing_topics(part_subscribers: int, image_subscribers: int, image_needed: bool,
                   min_part_subscribers: int = 1) -> str:
    """Return the topics that still lack a subscriber ('' when the line is matched)."""
    missing = [] if part_subscribers >= min_part_subscribers else [
        'part' if min_part_subscribers == 1 else
        f'part ({part_subscribers} of {min_part_subscribers})']
    if image_needed and image_subscribers == 0:
        missing.append('image')
    return ', '.join(missing)
