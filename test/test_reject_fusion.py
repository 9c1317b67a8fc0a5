# SPDX-License-Identifier: Apache-2.0
"""
A part seen by several cameras: one decision fused from its views (issue 21, item 3).

The reject scheduler on a fake clock (FakeLine of test_reject_scheduler.py) with a station of
three cameras: views are matched to the part by the trigger's stamp (its frame_id is a station
name), each fusion policy decides, and a missing, late or erroneous view makes exactly one
fail-safe reject that names the camera. The fusion rule alone is checked on `fuse_views`.
"""
from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.reject.counters import Delivery
from acnn_ros.core.reject.decision import RejectReason
from acnn_ros.core.reject.fusion import fuse_views, ViewStatus
from acnn_ros.core.results import InspectionOutcome
import pytest
from test_reject_scheduler import FakeLine, ok, POLICY, settings

CAMERAS = ('cam0', 'cam1', 'cam2')


def station(fusion='best_view', **overrides):
    return FakeLine(settings(cameras=CAMERAS, fusion=fusion, **overrides))


def part(line, part_id, views, trigger_first=True):
    """Send a trigger (frame_id 'station') and the `views` {camera: outcome}; return its key."""
    line.run(0.01)                                 # every part its own stamp
    key = line.capture('station')
    if trigger_first:
        line.trigger(key, part_id)
    for camera, outcome in views.items():
        line.result(FrameKey(key.stamp_ns, camera), outcome)
    if not trigger_first:
        line.trigger(key, part_id)
    return key


# -- the rule -------------------------------------------------------------------------------

def test_best_view_lets_the_most_confident_view_decide():
    # The code faces cam1: the other two see the back of the label (a low-confidence guess).
    fused = fuse_views(CAMERAS, {'cam0': ok('bad', 0.4), 'cam1': ok('good', 0.97),
                                 'cam2': ok('bad', 0.35)}, POLICY, 'best_view')
    assert not fused.decision.reject and fused.camera == 'cam1'
    assert fused.outcome.confidence == 0.97
    assert 'camera cam1' in fused.decision.detail
    assert [v.decision.reject for v in fused.views] == [True, False, True]
    # The most confident view rejects: the part is rejected for that view's reason.
    fused = fuse_views(CAMERAS, {'cam0': ok('good', 0.7), 'cam1': ok('bad', 0.95),
                                 'cam2': ok('good', 0.8)}, POLICY, 'best_view')
    assert fused.decision.reject and fused.decision.reason == RejectReason.REJECT_CLASS
    assert fused.camera == 'cam1'


def test_any_reject_rejects_when_one_view_rejects():
    views = {'cam0': ok('good', 0.99), 'cam1': ok('good', 0.9), 'cam2': ok('good', 0.5)}
    fused = fuse_views(CAMERAS, views, POLICY, 'any_reject')
    assert fused.decision.reject and fused.decision.reason == RejectReason.LOW_CONFIDENCE
    assert fused.camera == 'cam2' and 'camera cam2' in fused.decision.detail
    assert not fuse_views(CAMERAS, views, POLICY, 'best_view').decision.reject
    views['cam2'] = ok('good', 0.8)
    fused = fuse_views(CAMERAS, views, POLICY, 'any_reject')
    assert not fused.decision.reject and fused.camera == 'cam0'


def test_all_agree_rejects_views_that_accept_different_classes():
    policy = POLICY.__class__(accept_classes=('good', 'fine'), reject_classes=('bad',))
    views = {'cam0': ok('good', 0.9), 'cam1': ok('fine', 0.95), 'cam2': ok('good', 0.8)}
    fused = fuse_views(CAMERAS, views, policy, 'all_agree')
    assert fused.decision.reject and fused.decision.reason == RejectReason.UNKNOWN_CLASS
    assert fused.decision.detail == 'views disagree: cam0 good, cam1 fine, cam2 good'
    assert not fuse_views(CAMERAS, views, policy, 'any_reject').decision.reject
    views['cam1'] = ok('good', 0.95)
    assert not fuse_views(CAMERAS, views, policy, 'all_agree').decision.reject


def test_a_missing_or_erroneous_view_is_one_fail_safe_reject_naming_the_camera():
    error = InspectionOutcome.error('decode failed')
    for policy in ('best_view', 'any_reject', 'all_agree'):
        fused = fuse_views(CAMERAS, {'cam0': ok('good', 0.99), 'cam2': ok('good')}, POLICY,
                           policy)
        assert fused.decision.reject and fused.decision.fail_safe
        assert fused.decision.reason == RejectReason.NO_RESULT
        assert fused.decision.detail.startswith('camera cam1 (missing)')
        assert [v.status for v in fused.views] == [ViewStatus.OK, ViewStatus.MISSING,
                                                   ViewStatus.OK]
        fused = fuse_views(CAMERAS, {'cam0': ok('good'), 'cam1': ok('good'), 'cam2': error},
                           POLICY, policy)
        assert fused.decision.reason == RejectReason.ERROR_RESULT
        assert fused.decision.detail == 'camera cam2 (error): decode failed'
    with pytest.raises(ValueError, match='fusion'):
        fuse_views(CAMERAS, {}, POLICY, 'majority')


# -- on the line ----------------------------------------------------------------------------

@pytest.mark.parametrize('fusion, decisions', [
    ('best_view', [False, True, False]),
    ('any_reject', [False, True, True]),
    ('all_agree', [False, True, True]),
])
def test_each_policy_decides_every_part_once_when_its_views_are_in(fusion, decisions):
    line = station(fusion)
    good = {camera: ok('good', 0.9) for camera in CAMERAS}
    one_bad = dict(good, cam1=ok('bad', 0.99))
    one_unsure = dict(good, cam2=ok('good', 0.3))
    keys = [part(line, 1, good), part(line, 2, one_bad, trigger_first=False),
            part(line, 3, one_unsure)]
    accepted = line.by_part()
    assert sorted(accepted) == [p for p, reject in zip((1, 2, 3), decisions) if not reject]
    line.run(1.0)
    records = line.by_part()
    assert len(line.records) == 3 and sorted(records) == [1, 2, 3]
    assert [records[p].decision.reject for p in (1, 2, 3)] == decisions
    for part_id, key in enumerate(keys, start=1):
        assert records[part_id].key == key               # the trigger's header (station)
        assert [v.camera for v in records[part_id].views] == list(CAMERAS)
    assert records[2].delivery == Delivery.FIRED
    assert not line.counters.discrepancies()
    assert line.counters.results_without_trigger == line.counters.duplicate_results == 0
    counts = line.scheduler.camera_counters.values()
    assert counts['cam1_rejecting'] == 1 and counts['cam2_rejecting'] == 1
    assert counts['cam0_views'] == counts['cam1_views'] == counts['cam2_views'] == 3
    assert counts['cam1_deciding'] >= 1


def test_a_missing_view_rejects_the_part_once_at_its_window_naming_the_camera(caplog):
    line = station()
    views = {'cam0': ok('good', 0.99), 'cam1': ok('good', 0.9)}
    key = part(line, 1, views)
    assert line.records == []                     # waits for cam2 within the window
    line.run(0.15 - 1e-3)
    assert line.records == []
    line.run(1.0)
    assert len(line.records) == 1
    record = line.records[0]
    assert record.part_id == 1 and record.key == key
    assert record.decision.reject and record.decision.reason == RejectReason.NO_RESULT
    assert 'cam2 (missing)' in record.decision.detail
    assert record.delivery == Delivery.FIRED and record.outcome is None
    assert [v.status for v in record.views] == [ViewStatus.OK, ViewStatus.OK,
                                                ViewStatus.MISSING]
    assert 'part 1: no result within inspection_window_s (0.15 s), rejected fail-safe ' \
        '(camera cam2)' in caplog.text
    counts = line.scheduler.camera_counters.values()
    assert (counts['cam2_missing'], counts['cam0_missing'], counts['cam2_views']) == (1, 0, 1)
    assert line.counters.rejected_by_reason[RejectReason.NO_RESULT] == 1
    # The next part, all views in: accepted; the line goes on.
    part(line, 2, {camera: ok('good') for camera in CAMERAS})
    assert line.by_part()[2].decision.reject is False


def test_a_late_view_changes_nothing_and_is_never_a_second_decision(caplog):
    line = station()
    key = part(line, 1, {'cam0': ok('good'), 'cam2': ok('good')})
    line.run(0.2)                                  # window closed: rejected, cam1 named
    assert line.records == [] or line.records[0].decision.reject
    line.result(FrameKey(key.stamp_ns, 'cam1'), ok('good'))     # after the window
    line.result(FrameKey(key.stamp_ns, 'cam1'), ok('good'))     # and once more
    line.run(1.0)
    assert len(line.records) == 1
    assert line.records[0].decision.reason == RejectReason.NO_RESULT
    assert 'cam1 (missing)' in line.records[0].decision.detail
    # Said in the open NO RESULT episode (counted, summed up when it ends), not re-decided.
    assert line.scheduler.no_result.total == 3     # the part, then its two late views
    assert line.counters.inspected == 1 and not line.counters.discrepancies()


def test_an_erroneous_view_rejects_at_once_and_a_repeated_view_is_a_duplicate():
    line = station('any_reject')
    error = InspectionOutcome.error('engine failed')
    key = part(line, 1, {'cam0': ok('good'), 'cam1': error})
    line.result(FrameKey(key.stamp_ns, 'cam0'), ok('bad'))   # cam0 again: a duplicate
    assert line.records == []
    line.result(FrameKey(key.stamp_ns, 'cam2'), ok('good'))
    line.run(1.0)
    assert len(line.records) == 1
    record = line.records[0]
    assert record.decision.reason == RejectReason.ERROR_RESULT and record.decision.fail_safe
    assert record.decision.detail == 'camera cam1 (error): engine failed'
    assert line.counters.duplicate_results == 1
    assert line.scheduler.camera_counters.values()['cam1_error'] == 1


def test_views_without_trigger_and_an_unknown_camera_are_no_part(caplog):
    line = station()
    stray = line.capture('station')
    for camera in CAMERAS:
        line.result(FrameKey(stray.stamp_ns, camera), ok('bad'))
    key = part(line, 1, {camera: ok('good') for camera in CAMERAS})
    line.result(FrameKey(key.stamp_ns, 'cam9'), ok('bad'))
    line.run(1.0)
    assert [r.part_id for r in line.records] == [1]
    assert line.commands == []
    assert line.counters.results_without_trigger == 2     # the stray part, cam9's view
    assert "'cam9'" in caplog.text


def test_abandoned_parts_are_fused_with_the_views_in_hand():
    line = station()
    part(line, 1, {'cam0': ok('good'), 'cam1': ok('good')})
    records = line.scheduler.abandon_pending(line.now, 'line stopped')
    assert len(records) == 1 and records[0].decision.reason == RejectReason.NO_RESULT
    assert 'cam2 (missing)' in records[0].decision.detail
    assert records[0].delivery == Delivery.MISSED


def test_without_cameras_a_frame_id_other_than_the_triggers_is_no_part():
    # One camera (cameras empty): a part is its frame, key = header exactly, as before.
    line = FakeLine()
    key = line.capture('camera')
    line.trigger(key, 1)
    line.result(FrameKey(key.stamp_ns, 'cam1'), ok('good'))
    line.run(1.0)
    assert [r.decision.reason for r in line.records] == [RejectReason.NO_RESULT]
    assert line.records[0].views == ()
    assert line.scheduler.camera_counters.values() == {}


def test_cameras_need_distinct_names_and_part_triggers():
    with pytest.raises(ValueError, match='cameras'):
        settings(cameras=('cam0', 'cam0'))
    with pytest.raises(ValueError, match='use_part_trigger'):
        settings(cameras=CAMERAS, use_part_trigger=False)
    with pytest.raises(ValueError, match='fusion'):
        settings(cameras=CAMERAS, fusion='vote')
