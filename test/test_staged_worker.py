# SPDX-License-Identifier: Apache-2.0
"""
The two-stage inference worker (runtime/staged_worker.py) and the pipeline's prepare/complete.

The engine steps block on events the test releases, so every ordering is forced, not timed:
the next frame is prepared while the engine runs the current one, every frame taken from the
slot is finished exactly once and in order, a frame displaced in the slot is the caller's
(DROPPED), and close finishes the frames in hand.
"""
import threading
from types import SimpleNamespace

from acnn_ros.core.messages import inspect_image_message
from acnn_ros.core.results import InspectionOutcome, InspectionStatus
from acnn_ros.runtime.frame_slot import LatestFrameSlot
from acnn_ros.runtime.pipeline import InspectionPipeline, PreparedFrame
from acnn_ros.runtime.staged_worker import StagedWorker
from contract_model import blob_frame, export_contract_model
import numpy as np
import pytest

WAIT_S = 10.0   # only a guard against a hang: every wait below is released by an event


class FakeStages:
    """prepare / engine / finish that record what ran, with engines held until released."""

    def __init__(self):
        self.lock = threading.Condition()
        self.log = []
        self.finished = []
        self.release = {}          # frame -> Event the engine step waits for
        self.in_engine = {}        # frame -> Event set when its engine step started
        self.prepared = {}         # frame -> Event set when it was prepared

    def hold(self, *frames):
        for frame in frames:
            self.release[frame] = threading.Event()
        return self

    def _event(self, table, frame):
        with self.lock:
            return table.setdefault(frame, threading.Event())

    def prepare(self, frame):
        if frame == 'bad-prepare':
            raise RuntimeError('prepare bug')
        with self.lock:
            self.log.append(('prepare', frame))
        self._event(self.prepared, frame).set()

        def engine():
            with self.lock:
                self.log.append(('engine', frame))
            self._event(self.in_engine, frame).set()
            if frame in self.release:
                assert self.release[frame].wait(WAIT_S)
            if frame == 'bad-engine':
                raise ValueError('engine failure')
            return f'result {frame}'
        return engine

    def finish(self, frame, result, error):
        with self.lock:
            self.log.append(('finish', frame))
            self.finished.append((frame, result, None if error is None else str(error)))
            self.lock.notify_all()

    def wait_finished(self, count):
        with self.lock:
            assert self.lock.wait_for(lambda: len(self.finished) >= count, WAIT_S), self.log


def test_next_frame_is_prepared_while_the_engine_runs_the_current_one():
    stages = FakeStages().hold(1)
    slot = LatestFrameSlot()
    worker = StagedWorker(slot, stages.prepare, stages.finish, name='test')
    assert slot.put(1) is None
    assert stages._event(stages.in_engine, 1).wait(WAIT_S)
    assert slot.put(2) is None
    # Frame 2 is decoded/preprocessed while frame 1 is still in the engine.
    assert stages._event(stages.prepared, 2).wait(WAIT_S)
    assert ('finish', 1) not in stages.log
    stages.release[1].set()
    stages.wait_finished(2)
    assert [f[:2] for f in stages.finished] == [(1, 'result 1'), (2, 'result 2')]
    assert stages.log.index(('prepare', 2)) < stages.log.index(('finish', 1))
    slot.close()
    assert worker.join(WAIT_S)


def test_newest_frame_wins_while_busy_and_every_frame_is_accounted_once():
    stages = FakeStages().hold(1)
    slot = LatestFrameSlot()
    worker = StagedWorker(slot, stages.prepare, stages.finish, name='test')
    slot.put(1)
    assert stages._event(stages.in_engine, 1).wait(WAIT_S)
    slot.put(2)
    assert stages._event(stages.prepared, 2).wait(WAIT_S)   # 2 waits for the engine
    displaced = [slot.put(frame) for frame in (3, 4, 5)]
    assert displaced == [None, 3, 4]                        # the caller answers these DROPPED
    stages.release[1].set()
    stages.wait_finished(3)
    assert [frame for frame, _, _ in stages.finished] == [1, 2, 5]
    slot.close()
    assert worker.join(WAIT_S)
    assert sorted([f for f, _, _ in stages.finished] + [3, 4]) == [1, 2, 3, 4, 5]


def test_close_finishes_the_frames_in_hand_then_the_worker_ends():
    stages = FakeStages().hold(1)
    slot = LatestFrameSlot()
    worker = StagedWorker(slot, stages.prepare, stages.finish, name='test')
    slot.put(1)
    assert stages._event(stages.in_engine, 1).wait(WAIT_S)
    slot.put(2)
    assert stages._event(stages.prepared, 2).wait(WAIT_S)
    slot.put(3)
    assert slot.close() == 3      # still in the slot: the caller answers it
    assert worker.is_alive()      # frame 1 is in the engine
    stages.release[1].set()
    assert worker.join(WAIT_S)
    assert [frame for frame, _, _ in stages.finished] == [1, 2]
    assert slot.put(4) == 4       # closed: refused, handed back
    worker.answer_now(3)          # the stopping caller answers the slot's frame itself
    worker.answer_now('bad-prepare')
    assert stages.finished[2:] == [(3, 'result 3', None), ('bad-prepare', None, 'prepare bug')]


def test_failures_cost_one_frame_not_the_worker():
    stages = FakeStages()
    slot = LatestFrameSlot()
    worker = StagedWorker(slot, stages.prepare, stages.finish, name='test')
    for index, frame in enumerate(('bad-prepare', 'bad-engine', 'good')):
        slot.put(frame)
        stages.wait_finished(index + 1)
    assert stages.finished == [('bad-prepare', None, 'prepare bug'),
                               ('bad-engine', None, 'engine failure'),
                               ('good', 'result good', None)]
    slot.close()
    assert worker.join(WAIT_S)


def test_an_idle_worker_ends_at_close_without_waiting_for_its_poll():
    slot = LatestFrameSlot()
    worker = StagedWorker(slot, FakeStages().prepare, FakeStages().finish, name='test')
    slot.close()
    assert worker.join(WAIT_S)


def test_slot_take_returns_when_its_condition_is_woken():
    slot = LatestFrameSlot()
    done = threading.Event()
    result = []
    taker = threading.Thread(target=lambda: result.append(slot.take(WAIT_S, until=done.is_set)))
    taker.start()
    done.set()
    slot.wake()
    taker.join(WAIT_S)
    assert not taker.is_alive() and result == [None]
    assert slot.take(WAIT_S, until=lambda: True) is None      # already true: no wait
    slot.put('frame')
    assert slot.take(0.0, until=lambda: True) == 'frame'      # a frame comes first


@pytest.fixture(scope='module')
def pipeline(tmp_path_factory):
    model = export_contract_model(tmp_path_factory.mktemp('staged_models'))
    return InspectionPipeline.from_model_path(model, providers=('cpu',), intra_op_threads=1)


def test_prepare_then_complete_is_inspect(pipeline):
    frame = blob_frame(640, 480, 200.0, 100.0, 'red', radius=12)
    staged = pipeline.prepare(frame, decode_ms=1.5)
    assert isinstance(staged, PreparedFrame) and staged.pipeline is pipeline
    outcome = staged.complete()
    direct = pipeline.inspect(frame)
    assert outcome.status == InspectionStatus.OK and outcome.class_name == direct.class_name
    assert outcome.class_scores == pytest.approx(direct.class_scores)
    assert outcome.roi == direct.roi
    times = outcome.times
    assert times.preprocess_ms >= 1.5 and times.inference_ms > 0
    assert times.pipeline_ms == pytest.approx(times.preprocess_ms + times.inference_ms
                                              + times.postprocess_ms, abs=0.05)
    bad = pipeline.prepare(np.zeros((0, 0, 3), np.uint8))
    assert isinstance(bad, InspectionOutcome) and bad.status == InspectionStatus.ERROR


def test_preparing_view_decodes_messages_like_the_pipeline(pipeline):
    frame = blob_frame(640, 480, 500.0, 300.0, 'green', radius=12)
    msg = SimpleNamespace(encoding='bgr8', width=640, height=480, step=1920,
                          data=frame.tobytes(), is_bigendian=0, header=None)
    staged, bgr = inspect_image_message(pipeline.preparing(), msg)
    assert isinstance(staged, PreparedFrame) and np.array_equal(bgr, frame)
    assert staged.complete().class_name == inspect_image_message(pipeline, msg)[0].class_name
    msg.data = b'short'
    staged, bgr = inspect_image_message(pipeline.preparing(), msg)
    assert staged.status == InspectionStatus.ERROR and bgr is None
    assert staged.detail.startswith('bad image:')
