# SPDX-License-Identifier: Apache-2.0
"""
A bag replayed through the live camera-less line equals its offline evaluation.

Frames whose true class and ROI are known (coloured blobs the contract model classifies) are
written to a bag; bag_player_node -> inference_node -> reject_actuator_node (topic backend) run
as separate processes over real DDS, result_recorder_node records the verdicts, triggers and
rejects (and the frames). Every frame must get exactly one verdict, every part exactly one
RejectEvent, the rejected parts must be the ones of the reject class, nothing may be dropped in
lockstep, `acnn eval-recording` on the same bag must give the same per-frame results and
decisions, and `acnn eval-recording` on the recorded shift bag must agree with the live results
in it.
"""
import csv
import json
import time

from acnn_ros.cli import main as acnn
from acnn_ros.core.dataset.labels import GroundTruth
from acnn_ros.core.messages import frame_key
from acnn_ros.core.replay import bag_io
from acnn_ros.core.results import RoiBox
from acnn_ros.offline.make_bag_cli import write_image_bag
from contract_model import CLASS_NAMES, export_contract_model
import numpy as np
import pytest
from ros_processes import NodeProcess, REPO_DIR

# (class, blob centre x, y) in 640x480 frames; 'blue' is the reject class.
PARTS = [('red', 80, 60), ('blue', 320, 240), ('green', 600, 420), ('blue', 40, 400),
         ('blue', 500, 100), ('red', 200, 300), ('green', 420, 60), ('red', 560, 240),
         ('green', 120, 180), ('blue', 360, 440), ('red', 260, 120), ('green', 600, 40)]
REJECT_CLASS = 'blue'
# The line's timing is not what this test checks: a generous inspection window (the player's
# result timeout) keeps a slow first inference on a loaded 2-core CI machine from turning into
# a NO_RESULT fail-safe reject (seen once in CI with a 1 s window).
INSPECTION_WINDOW_S = 5.0
REJECT_DELAY_S = INSPECTION_WINDOW_S + 1.0
LARGE_IMAGES_PROFILE = REPO_DIR / 'config' / 'fastdds_large_images.xml'
BGR = {'blue': (255, 0, 0), 'green': (0, 255, 0), 'red': (0, 0, 255)}


def _frame(name, cx, cy):
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[cy - 8:cy + 8, cx - 8:cx + 8] = BGR[name]
    return frame


def _node(name, params):
    args = []
    for key, value in params.items():
        args += ['-p', f'{key}:={json.dumps(value) if isinstance(value, list) else value}']
    # 0.9 MB frames to two subscribers (inference, recorder): through shared memory, as
    # docs/REPLAY.md recommends; over UDP fragments they stall on a loaded machine.
    return NodeProcess.node(
        name, *args, env={'FASTDDS_DEFAULT_PROFILES_FILE': str(LARGE_IMAGES_PROFILE)})


def _wait_for_line(process, text, timeout_s=20.0):
    if process.wait_for_line(text, timeout_s) is None:
        pytest.fail(f'no "{text}" from {process.process.args[2]}:\n' + process.output)


def _stop(process):
    process.interrupt(timeout_s=15)
    return process.output


def test_replayed_bag_gives_the_offline_verdicts_and_the_expected_rejects(tmp_path,
                                                                          own_domain_env):
    # A domain outside the 10..99 of whole test runs: no cross-talk with a parallel run.
    model = export_contract_model(tmp_path / 'model')
    bag = tmp_path / 'shift'
    items = [(_frame(*part), GroundTruth(CLASS_NAMES.index(part[0]), part[0],
                                         RoiBox(part[1], part[2], 16.0, 16.0)), f'part{i}')
             for i, part in enumerate(PARTS)]
    assert write_image_bag(bag, iter(items), rate_hz=20.0) == len(PARTS)
    recorded, summary = tmp_path / 'recorded', tmp_path / 'replay.json'

    inference = _node('inference_node', {
        'model_path': str(model), 'providers': ['cpu'], 'image_qos': 'reliable',
        'warmup_runs': 1})
    actuator = _node('reject_actuator_node', {
        'actuator': 'topic', 'reject_classes': [REJECT_CLASS], 'min_confidence': 0.5,
        'inspection_window_s': INSPECTION_WINDOW_S, 'reject_delay_s': REJECT_DELAY_S,
        'counters_period_s': 0.5})
    recorder = _node('result_recorder_node', {'bag_path': str(recorded), 'record_image': True})
    processes = [inference, actuator, recorder]
    try:
        _wait_for_line(inference, 'inspecting raw images')
        _wait_for_line(actuator, 'topic actuator')
        _wait_for_line(recorder, 'recording')
        player = _node('bag_player_node', {
            'bag_path': str(bag), 'pace': 'lockstep', 'publish_part_triggers': True,
            'restamp': True, 'result_timeout_s': INSPECTION_WINDOW_S, 'summary_path': str(summary),
            'min_image_subscribers': 2, 'min_part_subscribers': 2})
        processes.append(player)
        player_out = player.finish(60)
        assert player.returncode == 0, player_out
        # Rejects are published once fired at capture + reject_delay_s.
        time.sleep(REJECT_DELAY_S + 0.5)
    finally:
        outputs = {p.process.args[2]: _stop(p) for p in processes}
    stats = json.loads(summary.read_text())
    assert (stats['published'], stats['results'], stats['dropped'], stats['errors'],
            stats['missing'], stats['duplicates'], stats['unmatched']) == \
        (len(PARTS), len(PARTS), 0, 0, 0, 0, 0), (stats, outputs)

    triggers = [m.msg for m in bag_io.iter_messages(recorded, ['part'])]
    assert [t.part_id for t in triggers] == list(range(1, len(PARTS) + 1)), outputs
    part_of = {frame_key(t.header): t.part_id for t in triggers}
    results = [m.msg for m in bag_io.iter_messages(recorded, ['inspection'])]
    # Exactly one verdict per frame.
    assert sorted(part_of[frame_key(r.header)] for r in results) == \
        list(range(1, len(PARTS) + 1))
    live = {part_of[frame_key(r.header)]: r for r in results}
    events = [m.msg for m in bag_io.iter_messages(recorded, ['reject'])]
    # Exactly one RejectEvent per part; the rejected parts are the reject-class parts.
    assert sorted(e.part_id for e in events) == list(range(1, len(PARTS) + 1)), outputs
    rejected = sorted(e.part_id for e in events if e.decision == 1)
    assert rejected == [i + 1 for i, part in enumerate(PARTS) if part[0] == REJECT_CLASS]
    for event in events:
        if event.decision == 1:
            assert (event.reason, event.fail_safe, event.delivery) == (1, False, 1), \
                (event.part_id, event.reason_detail, stats)
        else:
            assert event.reason == 0

    report = tmp_path / 'offline'
    assert acnn(['eval-recording', '--model', str(model), '--bag', str(bag), '--out', str(report),
                 '--reject-classes', REJECT_CLASS, '--min-confidence', '0.5']) == 0
    with open(report / 'frames.csv', newline='') as stream:
        offline = list(csv.DictReader(stream))
    assert len(offline) == len(PARTS)
    decisions = {e.part_id: 'reject' if e.decision == 1 else 'accept' for e in events}
    for row in offline:
        part_id = int(row['index']) + 1
        result = live[part_id]
        assert result.status == 0 and result.class_name == row['class_name'] \
            == row['true_class_name'], row
        assert result.confidence == pytest.approx(float(row['confidence']), abs=1e-5)
        assert result.roi_center_x == pytest.approx(float(row['roi_cx']), abs=0.01)
        assert result.roi_center_y == pytest.approx(float(row['roi_cy']), abs=0.01)
        assert float(row['roi_error_px']) < 3.0
        assert decisions[part_id] == row['decision'], row

    # The recorded shift bag holds the (restamped) frames with the live verdicts: evaluating
    # it offline compares the two frame by frame.
    assert bag_io.count_messages(recorded, 'image') == len(PARTS)
    shift_report = tmp_path / 'shift_report'
    assert acnn(['eval-recording', '--model', str(model), '--bag', str(recorded), '--out',
                 str(shift_report)]) == 0
    meta = json.loads((shift_report / 'summary.json').read_text())['meta']
    assert meta['live_agreement'] == f'{len(PARTS)}/{len(PARTS)}'
    assert '## Live verdicts recorded in the bag (inspection)' in \
        (shift_report / 'summary.md').read_text()
