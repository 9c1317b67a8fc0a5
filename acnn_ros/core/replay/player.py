# SPDX-License-Identifier: Apache-2.0
"""
Replay pacing and result accounting for bag_player_node, and its config.

Everything here is ROS-free and testable: the player node only reads parameters into
`BagPlayerConfig`, asks `ReplayPacer` when to publish a message and tells `ResultWaiter` which
frames it published and which results came back. The recorder's config is in
`recorder_config.py`.
"""
from dataclasses import dataclass, field
import threading
import time
from typing import Callable, Dict, Hashable, Optional, Tuple

from acnn_ros.core.parameter_spec import field_spec, ParameterSpec
from acnn_ros.core.results import InspectionStatus

PACES = ('original', 'lockstep', 'fast')
QOS_RELIABILITIES = ('recorded', 'reliable', 'best_effort')


class ReplayConfigError(ValueError):
    """A replay node parameter is invalid."""


@dataclass(frozen=True)
class BagPlayerConfig:
    """Parameters of bag_player_node, read once at start-up."""

    bag_path: str = ''
    image_topics: Tuple[str, ...] = ()      # empty: every Image/CompressedImage topic of the bag
    pace: str = 'lockstep'
    rate: float = 1.0
    result_timeout_s: float = 2.0
    publish_part_triggers: bool = False
    restamp: bool = False
    wait_for_subscribers_s: float = 10.0
    min_image_subscribers: int = 1
    min_part_subscribers: int = 1
    qos_reliability: str = 'reliable'
    qos_depth: int = 10
    max_frames: int = 0
    summary_path: str = ''

    def __post_init__(self):
        if not self.bag_path:
            raise ReplayConfigError('bag_path is empty: give the bag to play')
        if self.pace not in PACES:
            raise ReplayConfigError(f'pace must be one of {PACES}, got {self.pace!r}')
        if not 0.001 <= self.rate <= 1000.0:
            raise ReplayConfigError(f'rate must be in [0.001, 1000], got {self.rate}')
        if self.result_timeout_s <= 0.0:
            raise ReplayConfigError(f'result_timeout_s must be > 0, got {self.result_timeout_s}')
        if self.qos_reliability not in QOS_RELIABILITIES:
            raise ReplayConfigError(f'qos_reliability must be one of {QOS_RELIABILITIES}, got '
                                    f'{self.qos_reliability!r}')
        if self.qos_depth < 1 or self.max_frames < 0 or self.wait_for_subscribers_s < 0.0 \
                or self.min_image_subscribers < 0 or self.min_part_subscribers < 0:
            raise ReplayConfigError('qos_depth must be >= 1, max_frames, min_image_subscribers, '
                                    'min_part_subscribers and wait_for_subscribers_s >= 0')


def _player(name: str, description: str, low=None, high=None) -> ParameterSpec:
    return field_spec(BagPlayerConfig, name, description, low, high)


# bag_player_node parameters; defaults are those of BagPlayerConfig.
PLAYER_PARAMETERS: Tuple[ParameterSpec, ...] = (
    _player('bag_path', 'rosbag2 to play (directory, .db3 or .mcap)'),
    _player('image_topics', "bag topics to play; [''] = every Image/CompressedImage topic"),
    _player('pace', f'{" | ".join(PACES)}: recorded timing / as fast as results come back / '
            'no waiting'),
    _player('rate', 'speed factor of the original pace', 0.001, 1000.0),
    _player('result_timeout_s', "lockstep: longest wait for a frame's result; also the final "
            'wait', 0.01, 600.0),
    _player('publish_part_triggers', 'publish acnn_ros/PartTrigger on `part` before each frame'),
    _player('restamp', 'replace header stamps by the publication time (live reject timing)'),
    _player('wait_for_subscribers_s', 'wait this long for a subscriber of the image topic',
            0.0, 600.0),
    _player('min_image_subscribers', 'subscribers of the inspected image topic to wait for (2: '
            'inference_node and a recorder)', 0, 1000),
    _player('min_part_subscribers', 'with part triggers: subscribers of `part` to wait for (2: '
            'reject_actuator_node and a recorder)', 0, 1000),
    _player('qos_reliability', f'{" | ".join(QOS_RELIABILITIES)}: image publisher reliability '
            '(reliable matches both best-effort and reliable subscribers; recorded is what ros2 '
            'bag play does)'),
    _player('qos_depth', 'publisher history depth', 1, 10000),
    _player('max_frames', 'stop after this many frames (0: whole bag)', 0, 2**31 - 1),
    _player('summary_path', "write the replay statistics as JSON here; '': do not"),
)


class ReplayPacer:
    """
    Decide when each message of a bag is due.

    `original` keeps the recorded spacing of log times divided by `rate`; `lockstep` and `fast`
    publish as soon as possible (lockstep additionally waits for each frame's result, which
    is the caller's job with ResultWaiter).
    """

    def __init__(self, pace: str, rate: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if pace not in PACES:
            raise ReplayConfigError(f'pace must be one of {PACES}, got {pace!r}')
        self.pace, self.rate = pace, float(rate)
        self._clock, self._sleep = clock, sleep
        self._origin: Optional[Tuple[int, float]] = None   # (first log time ns, wall start)

    def due_in_s(self, log_time_ns: int) -> float:
        """Return seconds until a message logged at log_time_ns is due (<= 0: now)."""
        if self.pace != 'original':
            return 0.0
        if self._origin is None:
            self._origin = (int(log_time_ns), self._clock())
        first_ns, start = self._origin
        target = start + (int(log_time_ns) - first_ns) / 1e9 / self.rate
        return target - self._clock()

    def wait(self, log_time_ns: int, stop: Optional[threading.Event] = None) -> bool:
        """Sleep until the message is due; return False when `stop` was set meanwhile."""
        delay = self.due_in_s(log_time_ns)
        if delay > 0.0:
            if stop is not None:
                return not stop.wait(delay)
            self._sleep(delay)
        return not (stop is not None and stop.is_set())


@dataclass
class ReplayStats:
    """What happened to the frames of a replay."""

    published: int = 0           # frames of the inspected topic published
    other_messages: int = 0      # messages of other played topics
    results: int = 0             # results matched to a published frame
    dropped: int = 0             # results with STATUS_DROPPED
    errors: int = 0              # results with STATUS_ERROR
    missing: int = 0             # frames whose result did not come within the timeout
    duplicates: int = 0          # more than one result for a frame
    unmatched: int = 0           # results for frames this player did not publish
    elapsed_s: float = 0.0       # first frame published -> last frame or result
    status_by_frame: Dict[Hashable, int] = field(default_factory=dict, repr=False)

    @property
    def frames_per_s(self) -> float:
        """Return frames per second: published frames over elapsed_s."""
        return self.published / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> Dict[str, float]:
        """Return the counters (for logs and the summary file)."""
        return {'published': self.published, 'other_messages': self.other_messages,
                'results': self.results, 'dropped': self.dropped, 'errors': self.errors,
                'missing': self.missing, 'duplicates': self.duplicates,
                'unmatched': self.unmatched, 'elapsed_s': round(self.elapsed_s, 3),
                'frames_per_s': round(self.frames_per_s, 2)}


class ResultWaiter:
    """
    Account for one result per published frame, thread-safe.

    The player calls `expect(key)` before publishing a frame and `wait(key, timeout)` in
    lockstep; the subscription calls `deliver(key, status)` for every result.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._condition = threading.Condition()
        self._pending: Dict[Hashable, bool] = {}
        self._clock = clock
        self._first: Optional[float] = None     # first frame published
        self._last = 0.0                        # last frame published or result received
        self.stats = ReplayStats()

    def expect(self, key: Hashable) -> None:
        """Register a frame about to be published."""
        with self._condition:
            self._pending[key] = False
            self.stats.published += 1
            self._last = self._clock()
            if self._first is None:
                self._first = self._last

    def deliver(self, key: Hashable, status: int) -> None:
        """Record a result for a frame (from the subscription callback)."""
        with self._condition:
            if key not in self._pending:
                if key in self.stats.status_by_frame:
                    self.stats.duplicates += 1
                else:
                    self.stats.unmatched += 1
                return
            del self._pending[key]
            self._last = self._clock()
            self.stats.results += 1
            self.stats.status_by_frame[key] = int(status)
            if status == InspectionStatus.DROPPED:
                self.stats.dropped += 1
            elif status == InspectionStatus.ERROR:
                self.stats.errors += 1
            self._condition.notify_all()

    def wait(self, key: Hashable, timeout_s: float) -> bool:
        """Wait for the result of one frame; False (counted missing later) on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: key not in self._pending, timeout_s)

    def wait_all(self, timeout_s: float) -> bool:
        """Wait until every published frame has its result or the timeout passes."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._pending, timeout_s)

    def finish(self) -> ReplayStats:
        """
        Count the frames still without a result as missing and return the statistics.

        elapsed_s runs from the first frame published to the last frame published or result
        received, whichever is later: waiting for results that never come is not counted.
        """
        with self._condition:
            self.stats.missing = len(self._pending)
            if self._first is not None:
                self.stats.elapsed_s = self._last - self._first
            return self.stats
