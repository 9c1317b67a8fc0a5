# SPDX-License-Identifier: Apache-2.0
"""Offline evaluation metrics (core/replay/metrics): confusion, decisions, ROI error, labels."""
import math

from acnn_ros.core.dataset.labels import (class_from_token, GroundTruth, LabelError, LabelTable,
                                          sidecar_row, yolo_truth)
from acnn_ros.core.reject.decision import RejectPolicy, RejectReason
from acnn_ros.core.replay.metrics import (frame_changes, FrameRef, judge_frame, NO_RESULT,
                                          summarize, worst_frames)
from acnn_ros.core.results import InspectionOutcome, InspectionStatus, RoiBox, StageTimes
import pytest

NAMES = ('good', 'scratch', 'dent')
POLICY = RejectPolicy(reject_classes=('scratch',), min_confidence=0.6)


def _ok(name, confidence, roi=None, pipeline_ms=10.0):
    return InspectionOutcome(status=InspectionStatus.OK, class_id=NAMES.index(name),
                             class_name=name, confidence=confidence, roi=roi,
                             times=StageTimes(pipeline_ms=pipeline_ms,
                                              inference_ms=pipeline_ms / 2))


def _truth(name, roi=None):
    return GroundTruth(NAMES.index(name), name, roi)


def _run():
    cases = [
        (_ok('good', 0.9, RoiBox(100, 50, 30, 20), 10.0), _truth('good', RoiBox(103, 54, 30, 20))),
        (_ok('good', 0.55), _truth('good')),                      # false reject: low confidence
        (_ok('good', 0.95), _truth('scratch')),                   # escape
        (_ok('scratch', 0.7), _truth('scratch')),                 # correct reject
        (InspectionOutcome.error('bad image'), _truth('dent')),   # fail-safe reject: also false
        (_ok('dent', 0.8, pipeline_ms=30.0), None),                  # unlabelled
    ]
    return [judge_frame(FrameRef(i, 1000 + i, 'cam'), outcome, POLICY, truth)
            for i, (outcome, truth) in enumerate(cases)]


def test_frame_judgements_follow_the_reject_policy():
    verdicts = _run()
    assert [v.decision.reason for v in verdicts] == [
        RejectReason.NONE, RejectReason.LOW_CONFIDENCE, RejectReason.NONE,
        RejectReason.REJECT_CLASS, RejectReason.ERROR_RESULT, RejectReason.NONE]
    assert [v.correct for v in verdicts] == [True, True, False, True, False, None]
    assert [v.escape for v in verdicts] == [False, False, True, False, False, False]
    assert [v.false_reject for v in verdicts] == [False, True, False, False, True, False]
    assert verdicts[0].roi_error_px == pytest.approx(5.0)
    assert verdicts[1].roi_error_px is None
    row = verdicts[2].row()
    assert (row['class_name'], row['true_class_name'], row['decision'], row['expected_decision'],
            row['escape']) == ('good', 'scratch', 'accept', 'reject', True)


def test_summary_counts_confusion_and_distributions():
    summary = summarize(_run(), NAMES, 'm@1')
    assert (summary.frames, summary.ok, summary.errors, summary.labelled, summary.correct) == \
        (6, 5, 1, 5, 3)
    assert summary.accuracy == pytest.approx(0.6)
    assert summary.confusion_columns == NAMES + (NO_RESULT,)
    assert summary.confusion == ((2, 0, 0, 0), (1, 1, 0, 0), (0, 0, 0, 1))
    assert (summary.rejected, summary.expected_rejects, summary.escapes,
            summary.false_rejects) == (3, 2, 1, 2)
    assert summary.decisions['NONE'] == 3 and summary.decisions['REJECT_CLASS'] == 1
    assert summary.pipeline_ms.count == 5 and summary.pipeline_ms.max == 30.0
    assert summary.pipeline_ms.p50 == pytest.approx(10.0)
    assert sum(summary.pipeline_ms.histogram_counts) == 5
    assert summary.roi_error_px.count == 1 and summary.roi_error_px.mean == pytest.approx(5.0)
    recall = summary.per_class_recall()
    assert recall['good'] == 1.0 and recall['scratch'] == 0.5 and recall['dent'] == 0.0


def test_summary_without_labels_and_truth_outside_the_model():
    empty = summarize([], NAMES)
    assert math.isnan(empty.accuracy) and empty.pipeline_ms.count == 0
    verdict = judge_frame(FrameRef(0), _ok('good', 0.9), POLICY, GroundTruth(-1, 'crack'))
    summary = summarize([verdict], NAMES)
    assert summary.class_names == NAMES + ('crack',)
    assert summary.confusion[-1] == (1, 0, 0, 0, 0) and summary.correct == 0


def test_worst_frames_rank_escapes_then_errors_first():
    worst = worst_frames(_run(), 4)
    assert [v.ref.index for v in worst] == [2, 4, 1, 3]
    assert worst_frames(_run(), 0) == []


def test_verdict_changes_between_two_policies():
    run_a = _run()
    stricter = RejectPolicy(reject_classes=('scratch',), min_confidence=0.92)
    run_b = [judge_frame(v.ref, v.outcome, stricter, v.truth) for v in run_a]
    changes = frame_changes(run_a, run_b)
    assert [c.a.ref.index for c in changes] == [0, 5]
    assert changes[1].what == 'accept -> reject'
    assert frame_changes(run_a, run_a) == []
    with pytest.raises(ValueError, match='different frames'):
        frame_changes(run_a, run_b[:-1])


def test_labels_from_yolo_files_and_sidecar_tables(tmp_path):
    image = tmp_path / 'images' / 'test' / 'a.jpg'
    label = tmp_path / 'labels' / 'test' / 'a.txt'
    label.parent.mkdir(parents=True)
    label.write_text('# comment\n1 0.5 0.25 0.1 0.05\n')
    truth = yolo_truth(image, NAMES, 640, 480)
    assert truth == GroundTruth(1, 'scratch', RoiBox(320.0, 120.0, 64.0, 24.0))
    label.write_text('2\n')
    assert yolo_truth(image, NAMES, 640, 480) == GroundTruth(2, 'dent')
    label.write_text('')
    assert yolo_truth(image, NAMES, 640, 480) is None
    label.unlink()
    assert yolo_truth(image, NAMES, 640, 480) is None
    assert class_from_token('dent', NAMES) == GroundTruth(2, 'dent')
    with pytest.raises(LabelError, match='out of range'):
        class_from_token('7', NAMES)
    ref = FrameRef(3, 1234, 'cam', '/image')
    sidecar = tmp_path / 'labels.csv'
    row = sidecar_row(ref, truth, 640, 480)
    sidecar.write_text('stamp_ns,index,image,class,cx,cy,w,h\n'
                       + ','.join(str(row[k]) for k in row) + '\n'
                       + '99,0,a.jpg,good,,,,\n')
    table = LabelTable.load(sidecar)
    assert table.lookup(ref, NAMES, 640, 480) == truth
    assert table.lookup(FrameRef(0, 0, '', 'x/a.jpg', 'a.jpg'), NAMES, 640, 480) == \
        GroundTruth(0, 'good')
    # A bag frame with a stamp the table lacks does not match by position.
    assert table.lookup(FrameRef(3, 5), NAMES, 640, 480) is None
    (tmp_path / 'by_index.csv').write_text('index,class\n3,dent\n')
    by_index = LabelTable.load(tmp_path / 'by_index.csv')
    assert by_index.lookup(FrameRef(3, 5), NAMES, 640, 480) == GroundTruth(2, 'dent')
    (tmp_path / 'bad.csv').write_text('frame,class\n1,good\n')
    with pytest.raises(LabelError, match='one of the columns'):
        LabelTable.load(tmp_path / 'bad.csv')
    with pytest.raises(LabelError, match='cannot read labels'):
        LabelTable.load(tmp_path / 'missing.csv')
