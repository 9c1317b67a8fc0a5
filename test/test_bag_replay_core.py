# SPDX-License-Identifier: Apache-2.0
"""Replay pacing, result accounting and node configs (core/replay/player.py), without ROS."""
import threading

from acnn_ros.core.replay.player import (BagPlayerConfig, ReplayConfigError, ReplayPacer,
                                         ResultWaiter)
from acnn_ros.core.replay.recorder_config import ResultRecorderConfig
from acnn_ros.core.results import InspectionStatus
import pytest


class FakeClock:
    """A clock that only moves when something sleeps."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_original_pace_follows_log_times_divided_by_rate():
    clock = FakeClock()
    pacer = ReplayPacer('original', rate=2.0, clock=clock, sleep=clock.sleep)
    published = []
    for log_ns in (5_000_000_000, 5_100_000_000, 5_400_000_000, 6_000_000_000):
        assert pacer.wait(log_ns)
        published.append(round(clock.now - 100.0, 6))
    assert published == [0.0, 0.05, 0.2, 0.5]
    clock.now += 1.0        # the graph was slow: late messages go out at once, no catch-up
    assert pacer.due_in_s(6_200_000_000) < 0


def test_lockstep_and_fast_never_wait_and_stop_interrupts():
    for pace in ('lockstep', 'fast'):
        assert ReplayPacer(pace).due_in_s(10**18) == 0.0
    stop = threading.Event()
    stop.set()
    pacer = ReplayPacer('original', rate=0.001)
    assert pacer.wait(0, stop) is False
    with pytest.raises(ReplayConfigError, match='pace must be one of'):
        ReplayPacer('turbo')


def test_result_waiter_accounts_for_every_frame():
    clock = FakeClock()
    waiter = ResultWaiter(clock)
    for key in ('a', 'b', 'c', 'd'):
        waiter.expect(key)
        clock.sleep(0.1)
    waiter.deliver('a', 0)
    waiter.deliver('b', InspectionStatus.DROPPED)
    waiter.deliver('c', InspectionStatus.ERROR)
    waiter.deliver('c', 0)          # a second result for the same frame
    waiter.deliver('zz', 0)         # a result for a frame this player never sent
    assert waiter.wait('a', 0.01) and not waiter.wait('d', 0.01)
    assert not waiter.wait_all(0.01)
    stats = waiter.finish()
    assert stats.as_dict() == {
        'published': 4, 'other_messages': 0, 'results': 3, 'dropped': 1, 'errors': 1,
        'missing': 1, 'duplicates': 1, 'unmatched': 1, 'elapsed_s': 0.4,
        'frames_per_s': 10.0}


def test_lockstep_wait_wakes_up_when_the_result_arrives():
    waiter = ResultWaiter()
    waiter.expect('frame')
    timer = threading.Timer(0.05, waiter.deliver, ('frame', 0))
    timer.start()
    assert waiter.wait('frame', 5.0)
    timer.join()
    assert waiter.finish().missing == 0


def test_configs_validate_with_clear_messages():
    assert BagPlayerConfig(bag_path='b').pace == 'lockstep'
    for kwargs, message in (({}, 'bag_path is empty'),
                            ({'bag_path': 'b', 'pace': 'x'}, 'pace must be'),
                            ({'bag_path': 'b', 'rate': 0.0}, 'rate must be'),
                            ({'bag_path': 'b', 'qos_reliability': 'x'}, 'qos_reliability'),
                            ({'bag_path': 'b', 'qos_depth': 0}, 'qos_depth')):
        with pytest.raises(ReplayConfigError, match=message):
            BagPlayerConfig(**kwargs)
    recorder = ResultRecorderConfig(record_image=True)
    assert recorder.all_topics == ('inspection', 'reject', 'part', 'image')
    assert recorder.resolved_bag_path(0.0) == 'acnn_results_19700101_000000'
    assert ResultRecorderConfig(bag_path='x').resolved_bag_path() == 'x'
    with pytest.raises(ReplayConfigError, match='storage'):
        ResultRecorderConfig(storage='rosbag1')
    with pytest.raises(ReplayConfigError, match='nothing to record'):
        ResultRecorderConfig(topics=())
