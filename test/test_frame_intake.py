# SPDX-License-Identifier: Apache-2.0
"""The inference node's frame intake (runtime/frame_intake.py): one answer per taken frame."""
import threading

from acnn_ros.core.results import InspectionStatus
from acnn_ros.runtime.frame_intake import FrameIntake, MemoryFrame
from acnn_ros.runtime.pipeline import InspectionPipeline, PipelineHolder
from contract_model import blob_frame, export_contract_model
import pytest


@pytest.fixture(scope='module')
def holder(tmp_path_factory):
    # slow_layers make the engine the bottleneck, so frames queue and get displaced.
    model = export_contract_model(tmp_path_factory.mktemp('intake'), slow_layers=6)
    return PipelineHolder(InspectionPipeline.from_model_path(model, providers=('cpu',)))


class Answers:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_frame = {}

    def __call__(self, frame, outcome, bgr):
        with self.lock:
            self.by_frame.setdefault(frame.msg.header, []).append(outcome.status)


def test_every_taken_frame_gets_exactly_one_answer_and_none_after_close(holder):
    answers = Answers()
    intake = FrameIntake(holder, answers)
    frame = blob_frame(640, 480, 200, 200, 'red')
    taken = [f'frame{i}' for i in range(12)]
    for header in taken:
        assert intake.take(MemoryFrame(header, frame))
    assert intake.close()
    assert not intake.take(MemoryFrame('late', frame))      # closed: not this intake's frame
    assert sorted(answers.by_frame) == sorted(taken)
    statuses = [s for answered in answers.by_frame.values() for s in answered]
    assert len(statuses) == len(taken)                       # exactly one answer each
    assert InspectionStatus.DROPPED in statuses              # the engine was busy: newest won
    assert InspectionStatus.OK in statuses
    assert answers.by_frame[taken[-1]] == [InspectionStatus.OK]   # the newest is inspected


def test_a_message_that_does_not_decode_is_one_error_answer(holder):
    answers = Answers()
    intake = FrameIntake(holder, answers)

    class BadImage:
        header = 'bad'
        encoding, width, height, step, is_bigendian = 'bgr8', 4, 4, 12, 0
        data = b'\x00' * 5                                    # shorter than step * height

    assert intake.take(BadImage())
    assert intake.close()
    assert answers.by_frame == {'bad': [InspectionStatus.ERROR]}
