# SPDX-License-Identifier: Apache-2.0
"""
A station's recording (issue 21.6): `acnn make-bag --cameras 3` and its per-part evaluation.

The bag holds one topic per camera (cam<i>/image, frame_id cam<i>, the part's stamp on every
view) and the ground truth of every view; the views are inspected by the shipped model and
judged per part: fused with the reject actuator's rule, and each camera alone.
"""
from acnn_ros.core.reject.decision import RejectPolicy
from acnn_ros.core.replay import bag_io
from acnn_ros.core.replay.station_metrics import station_summary
from acnn_ros.offline.evaluation import bag_frames, run_pipeline
from acnn_ros.offline.make_bag_cli import station_items, write_image_bag
from acnn_ros.runtime.pipeline import InspectionPipeline
from ros_processes import REPO_DIR

CAMERAS = ['cam0', 'cam1', 'cam2']
POLICY = RejectPolicy(accept_classes=('p3707', 'p3709'), reject_classes=('p1069', 'p1071'))


def test_a_station_bag_is_judged_per_part_fused_and_per_camera(tmp_path):
    bag = tmp_path / 'station_bag'
    count = write_image_bag(bag, station_items(12, seed=4, cameras=3, device=1),
                            start_time_ns=10**18, rate_hz=5.0, cameras=3)
    assert count == 36
    assert bag_io.image_topics(bag) == ['/cam0/image', '/cam1/image', '/cam2/image']
    pipeline = InspectionPipeline.from_model_path(
        REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx', warmup_runs=0)
    evaluations = []
    for topic in bag_io.image_topics(bag):
        evaluations += run_pipeline(pipeline, bag_frames(bag, topic), POLICY, progress=False)
    assert {e.ref.frame_id for e in evaluations} == set(CAMERAS)
    assert all(e.truth is not None for e in evaluations)
    assert len({e.ref.stamp_ns for e in evaluations}) == 12
    summary = station_summary(evaluations, CAMERAS, POLICY)
    assert summary.parts == 12 and summary.incomplete_parts == 0
    assert summary.fused.parts == 12 and all(t.parts == 12 for t in summary.by_camera.values())
    # The code faces one camera at most: fused best_view is right at least as often as the
    # best single camera on these parts.
    assert summary.fused.right >= max(t.right for t in summary.by_camera.values())
    lines = summary.lines()
    assert lines[0].startswith('station of 3 cameras (cam0, cam1, cam2), 12 parts')

    # A part whose cam2 frame is missing is incomplete: fused fail-safe (rejected).
    partial = [e for e in evaluations if not (e.ref.frame_id == 'cam2' and
                                              e.ref.stamp_ns == evaluations[0].ref.stamp_ns)]
    summary = station_summary(partial, CAMERAS, POLICY)
    assert summary.incomplete_parts == 1


def test_eval_recording_reports_a_station_per_part_and_a_corrupted_check(tmp_path):
    import subprocess
    import sys
    bag = tmp_path / 'station_bag'
    write_image_bag(bag, station_items(6, seed=2, cameras=3, device=1), start_time_ns=10**18,
                    cameras=3)
    model = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'
    done = subprocess.run(
        [sys.executable, '-m', 'acnn_ros.cli', 'eval-recording', '--model', str(model),
         '--bag', str(bag), '--station', '--out', str(tmp_path / 'report'),
         '--params-file', str(REPO_DIR / 'config' / 'inspect.yaml'), '--no-progress'],
        capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '18 frames' in done.stdout
    assert 'station of 3 cameras (cam0, cam1, cam2), 6 parts (0 missing a view), fusion ' \
        'best_view' in done.stdout
    assert '  cam2 alone: ' in done.stdout
    assert 'A station: per part' in (tmp_path / 'report' / 'summary.md').read_text()
    corrupted = subprocess.run(
        [sys.executable, '-m', 'acnn_ros.cli', 'eval-recording', '--model', str(model),
         '--bag', str(bag), '--image-topic', 'cam0/image', '--corrupt', 'defocus:5',
         '--out', str(tmp_path / 'defocus'), '--no-progress'],
        capture_output=True, text=True, timeout=180)
    assert corrupted.returncode == 0, corrupted.stdout + corrupted.stderr
    bad = subprocess.run(
        [sys.executable, '-m', 'acnn_ros.cli', 'eval-recording', '--model', str(model),
         '--bag', str(bag), '--image-topic', 'cam0/image', '--corrupt', 'kerning:3',
         '--out', str(tmp_path / 'bad')], capture_output=True, text=True, timeout=180)
    assert bad.returncode == 2 and 'render ones need the synthetic generator' in bad.stderr
