# SPDX-License-Identifier: Apache-2.0
"""
The frames of one part, seen by N cameras, inspected as one batch (issue 21, item 2).

`PartBatcher` (runtime/part_batch.py) on a fake clock: a batch leaves when every camera's frame
is in, or when its window closes (a late or dead camera holds the others no longer); a late
frame goes out alone at once. `complete_batch` on the shipped ONNX model (dynamic batch axis)
gives what one call per frame gives, and the torch engine runs a batch too. `BatchIntake`
(runtime/batch_intake.py) answers every frame once, with one engine call per complete part.
"""
from pathlib import Path
import threading
import time

from acnn_ros.core.frame_key import NS_PER_S
from acnn_ros.core.results import InspectionStatus
from acnn_ros.runtime.batch_intake import BatchIntake
from acnn_ros.runtime.frame_intake import MemoryFrame
from acnn_ros.runtime.part_batch import PartBatcher
from acnn_ros.runtime.pipeline import InspectionPipeline, PipelineHolder
from builtin_interfaces.msg import Time
from contract_model import blob_frame, export_contract_model
import numpy as np
import pytest
from std_msgs.msg import Header

SHIPPED_MODEL = Path(__file__).resolve().parents[1] / 'resource' / 'models' / 'acnn_demo.onnx'
CAMERAS = ('cam0', 'cam1', 'cam2')


# -- the window, on a fake clock ------------------------------------------------------------

def test_a_part_leaves_as_one_batch_when_every_camera_is_in():
    batcher = PartBatcher(3, 0.01)
    assert batcher.add(100, 'cam0', 'a0', now=1.0) == []
    assert batcher.add(200, 'cam0', 'b0', now=1.001) == []   # the next part overlaps
    assert batcher.add(100, 'cam2', 'a2', now=1.002) == []
    assert batcher.next_deadline() == pytest.approx(1.01)
    assert batcher.add(100, 'cam1', 'a1', now=1.003) == [['a0', 'a2', 'a1']]
    assert batcher.next_deadline() == pytest.approx(1.011)    # part b's window
    assert batcher.due(1.0109) == []
    assert batcher.pending() == 1


def test_a_late_camera_holds_the_others_no_longer_than_the_window():
    batcher = PartBatcher(3, 0.01)
    batcher.add(100, 'cam0', 'a0', now=1.0)
    batcher.add(100, 'cam1', 'a1', now=1.004)
    assert batcher.due(1.0099) == []
    assert batcher.due(1.01) == [['a0', 'a1']]                 # at the window, cam2 or not
    assert (batcher.partial_batches, batcher.next_deadline()) == (1, None)
    # cam2's frame comes after its part left: it goes alone, at once, not another window.
    assert batcher.add(100, 'cam2', 'a2', now=1.02) == [['a2']]
    assert batcher.late_frames == 1 and batcher.pending() == 0


def test_a_camera_twice_for_one_stamp_closes_the_group_it_would_join():
    batcher = PartBatcher(2, 0.01)
    batcher.add(100, 'cam0', 'first', now=1.0)
    assert batcher.add(100, 'cam0', 'again', now=1.001) == [['first']]
    assert batcher.add(100, 'cam1', 'other', now=1.002) == [['again', 'other']]


def test_drain_hands_out_every_open_group_and_one_camera_needs_no_window():
    batcher = PartBatcher(3, 0.5)
    batcher.add(100, 'cam0', 'a0', now=1.0)
    batcher.add(200, 'cam1', 'b1', now=1.1)
    assert batcher.drain() == [['a0'], ['b1']]
    assert PartBatcher(1, 0.5).add(100, 'cam0', 'x', now=1.0) == [['x']]
    with pytest.raises(ValueError):
        PartBatcher(0, 0.01)


# -- the engine: one call for the batch -----------------------------------------------------

@pytest.fixture(scope='module')
def shipped():
    return InspectionPipeline.from_model_path(SHIPPED_MODEL, providers=('cpu',),
                                              intra_op_threads=1)


def test_a_batch_of_the_shipped_model_equals_one_call_per_frame(shipped):
    shape = list(shipped.engine.session.get_inputs()[0].shape)
    assert isinstance(shape[0], str), f'the batch axis of {SHIPPED_MODEL.name} is fixed: {shape}'
    assert shipped.engine.max_batch is None
    frames = [blob_frame(640, 480, x, 240, colour, radius=40)
              for x, colour in ((120, 'red'), (320, 'green'), (520, 'blue'), (300, 'red'))]
    prepared = [shipped.prepare(frame) for frame in frames]
    calls = []
    run = shipped.engine.run
    shipped.engine.run = lambda tensor: calls.append(tensor.shape[0]) or run(tensor)
    try:
        batched = shipped.complete_batch(prepared)
        single = [shipped.complete(frame) for frame in prepared]
    finally:
        del shipped.engine.run
    assert calls == [4, 1, 1, 1, 1]
    for one, other in zip(batched, single):
        assert one.status == other.status == InspectionStatus.OK
        assert one.class_id == other.class_id
        np.testing.assert_allclose(one.class_scores, other.class_scores, atol=1e-5)
        assert abs(one.roi.center_x - other.roi.center_x) < 1e-2
        assert abs(one.roi.width - other.roi.width) < 1e-2


def test_an_engine_limited_to_batch_1_runs_a_batch_frame_by_frame(shipped):
    prepared = [shipped.prepare(blob_frame(640, 480, 320, 240, 'red'))] * 3
    calls = []
    run = shipped.engine.run
    shipped.engine.run = lambda tensor: calls.append(tensor.shape[0]) or run(tensor)
    shipped.engine.max_batch = 1            # as with a TensorRT profile fixed at batch 1
    try:
        outcomes = shipped.complete_batch(prepared)
    finally:
        del shipped.engine.run
        shipped.engine.max_batch = None
    assert calls == [1, 1, 1] and [o.status for o in outcomes] == [InspectionStatus.OK] * 3


def test_the_torch_engine_runs_a_batch(tmp_path):
    model = export_contract_model(tmp_path, torchscript=True)
    torch_pipeline = InspectionPipeline.from_model_path(model.with_suffix('.pt'),
                                                        backend='torch')
    onnx_pipeline = InspectionPipeline.from_model_path(model, providers=('cpu',))
    frames = [blob_frame(640, 480, x, 200, 'red') for x in (100, 300, 500)]
    batched = torch_pipeline.complete_batch([torch_pipeline.prepare(f) for f in frames])
    reference = [onnx_pipeline.inspect(f) for f in frames]   # this export: batch 1 only
    assert [o.status for o in batched] == [InspectionStatus.OK] * 3
    for one, other in zip(batched, reference):
        assert one.class_id == other.class_id
        assert abs(one.roi.center_x - other.roi.center_x) < 1.0


# -- the intake: N cameras in, one answer per frame -----------------------------------------

def _header(stamp_ns: int, camera: str) -> Header:
    return Header(stamp=Time(sec=stamp_ns // NS_PER_S, nanosec=stamp_ns % NS_PER_S),
                  frame_id=camera)


class Answers:
    def __init__(self):
        self.lock = threading.Lock()
        self.frames = []        # (frame_id, stamp sec, status, when)

    def __call__(self, frame, outcome, bgr):
        with self.lock:
            header = frame.msg.header
            self.frames.append((header.frame_id, header.stamp.sec, outcome.status,
                                time.monotonic()))


def test_the_intake_runs_one_engine_call_per_part_and_a_dead_camera_costs_one_window(
        shipped):
    answers = Answers()
    calls = []
    run = shipped.engine.run
    shipped.engine.run = lambda tensor: calls.append(tensor.shape[0]) or run(tensor)
    intake = BatchIntake(PipelineHolder(shipped), answers, cameras=3, window_s=0.2)
    frame = blob_frame(640, 480, 320, 240, 'red', radius=40)
    try:
        for camera in CAMERAS:                           # part 1: every camera
            assert intake.take(MemoryFrame(_header(1 * NS_PER_S, camera), frame))
        deadline = time.monotonic() + 10
        while len(answers.frames) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        sent = time.monotonic()
        for camera in CAMERAS[:2]:                       # part 2: cam2 is dead
            intake.take(MemoryFrame(_header(2 * NS_PER_S, camera), frame))
        while len(answers.frames) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        waited = time.monotonic() - sent
        intake.take(MemoryFrame(_header(2 * NS_PER_S, 'cam2'), frame))   # it was only late
        intake.take(MemoryFrame(_header(3 * NS_PER_S, 'cam0'), frame))   # in hand at close
        assert intake.close()
    finally:
        del shipped.engine.run
    assert calls == [3, 2, 1, 1], calls
    assert 0.2 <= waited < 2.0, waited                   # the window, not for ever
    assert sorted((f, s) for f, s, _, _ in answers.frames) == sorted(
        [(c, 1) for c in CAMERAS] + [(c, 2) for c in CAMERAS] + [('cam0', 3)])
    assert {status for _, _, status, _ in answers.frames} == {InspectionStatus.OK}
    assert intake.batcher.partial_batches == 1 and intake.batcher.late_frames == 1
    assert not intake.take(MemoryFrame(_header(4 * NS_PER_S, 'cam0'), frame))


def test_under_overload_every_frame_of_every_part_is_answered_once(tmp_path):
    # A slow engine: parts come faster than it runs them; the newest batch wins the worker and
    # a displaced batch is answered DROPPED frame by frame. No frame is lost or answered twice.
    model = export_contract_model(tmp_path, slow_layers=6)
    holder = PipelineHolder(InspectionPipeline.from_model_path(model, providers=('cpu',)))
    assert holder.current.engine.max_batch == 1     # this export's batch axis is fixed at 1
    answers = Answers()
    intake = BatchIntake(holder, answers, cameras=2, window_s=0.05)
    frame = blob_frame(640, 480, 200, 200, 'red')
    for part in range(1, 13):
        for camera in ('cam0', 'cam1'):
            assert intake.take(MemoryFrame(_header(part * NS_PER_S, camera), frame))
    assert intake.close()
    answered = sorted((f, s) for f, s, _, _ in answers.frames)
    assert answered == sorted((c, p) for p in range(1, 13) for c in ('cam0', 'cam1'))
    statuses = {}
    for camera, part, status, _ in answers.frames:
        statuses.setdefault(part, set()).add(status)
    assert all(len(found) == 1 for found in statuses.values()), statuses   # a batch is one fate
    assert InspectionStatus.DROPPED in {s for found in statuses.values() for s in found}
    assert statuses[12] == {InspectionStatus.OK}                 # the newest is inspected


def test_a_late_frame_joins_its_part_still_waiting_instead_of_displacing_it():
    from acnn_ros.runtime.frame_slot import LatestFrameSlot
    from acnn_ros.runtime.batch_intake import _join_part
    from acnn_ros.runtime.frame_intake import TakenFrame

    def frame(stamp, camera):
        return TakenFrame(MemoryFrame(_header(stamp, camera), None), 0.0)

    slot = LatestFrameSlot()
    a0, a1, b0 = frame(NS_PER_S, 'cam0'), frame(NS_PER_S, 'cam1'), frame(2 * NS_PER_S, 'cam0')
    assert slot.put((a0,), merge=_join_part) is None
    # cam1 of the same part, handed out after its window: one batch with cam0, nothing dropped.
    assert slot.put((a1,), merge=_join_part) is None
    assert slot.take(0.0) == (a0, a1)
    # Another part's batch still displaces a waiting one (the newest part wins the worker).
    slot.put((a0,), merge=_join_part)
    assert slot.put((b0,), merge=_join_part) == (a0,)
    assert slot.take(0.0) == (b0,)
