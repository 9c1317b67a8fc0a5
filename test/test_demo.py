# SPDX-License-Identifier: Apache-2.0
"""`acnn demo`: the one-process line, its parameters file, ground truth and reconciliation."""
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time

from acnn_ros.app.observer import GroundTruth
from acnn_ros.core.camera.config import CameraConfig
from acnn_ros.core.camera.source import BadFrameError, EndOfStreamError
from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.params_file import load_params_file, node_parameters, ParamsFileError
from acnn_ros.core.reject.counters import Delivery
from acnn_ros.core.reject.reconciliation import (CapturedPart, LineLedger, reconcile,
                                                 RejectEventRecord)
import cv2
import numpy as np
import pytest
from ros_processes import REPO_DIR
import yaml

PARAMS_FILE = REPO_DIR / 'config' / 'inspect.yaml'
MODEL = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'


def test_params_file_sections_apply_like_rcl(tmp_path):
    path = tmp_path / 'params.yaml'
    path.write_text(yaml.safe_dump({
        '/**': {'ros__parameters': {'use_sim_time': False, 'rate': 1.0}},
        '/**/camera_node': {'ros__parameters': {'rate': 5.0, 'io': {'port': 502}}},
        'camera_node': {'ros__parameters': {'frame_id': 'cam'}},
        '/**/other_node': {'ros__parameters': {'rate': 9.0}},
        'line1': {'camera_node': {'ros__parameters': {'rate': 7.0}}},
    }))
    sections = load_params_file(path)
    assert node_parameters(sections, 'camera_node') == {
        'use_sim_time': False, 'rate': 5.0, 'io.port': 502, 'frame_id': 'cam'}
    assert sections['line1/camera_node'] == {'rate': 7.0}
    assert node_parameters(sections, 'nobody') == {'use_sim_time': False, 'rate': 1.0}


def test_params_file_errors_are_clear(tmp_path):
    with pytest.raises(ParamsFileError, match='cannot read'):
        load_params_file(tmp_path / 'missing.yaml')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('camera_node: {ros__parameters: [1, 2]}\n')
    with pytest.raises(ParamsFileError, match='must be a mapping'):
        load_params_file(bad)
    bad.write_text('camera_node: {frame_rate_hz: 3}\n')
    with pytest.raises(ParamsFileError, match='no ros__parameters section'):
        load_params_file(bad)


def test_the_shipped_params_file_has_a_section_per_node():
    sections = load_params_file(PARAMS_FILE)
    for node in ('camera_node', 'inference_node', 'reject_actuator_node'):
        assert f'/**/{node}' in sections
    assert node_parameters(sections, 'camera_node')['frame_rate_hz'] > 0


def header(i):
    return FrameKey((1000 + i) * 1_000_000_000, 'cam')


def clean_ledger(n=6):
    ledger = LineLedger()
    for i in range(1, n + 1):
        defective = i % 3 == 0
        ledger.captured.append(CapturedPart(i, header(i), 'bad' if defective else 'good'))
        ledger.results.append((header(i), 0))
        ledger.decisions.append(RejectEventRecord(i, header(i), defective, 1 if defective else 0,
                                                  Delivery.FIRED if defective
                                                  else Delivery.NOT_REQUIRED))
        ledger.plc_decisions.append((i, 2 if defective else 1))
    ledger.plc_coil_pulses = 2
    return ledger


def test_reconciliation_passes_a_clean_run():
    result = reconcile(clean_ledger(), ['bad'])
    assert result.ok, result.checks
    assert result.truth == {'parts_with_truth': 6, 'defective': 2, 'defective_rejected': 2,
                            'defective_accepted': 0, 'good_accepted': 4, 'good_rejected': 0}
    assert result.rejects_by_reason == {'reject_class': 2}


@pytest.mark.parametrize('damage, failing', [
    (lambda led: led.results.pop(), 'one verdict per frame'),
    (lambda led: led.results.append(led.results[0]), 'one verdict per frame'),
    (lambda led: led.decisions.pop(0), 'one decision per part'),
    (lambda led: led.decisions.append(led.decisions[2]), 'one decision per part'),
    (lambda led: led.plc_decisions.append((3, 2)), 'every fired reject written to the PLC once'),
    (lambda led: led.plc_decisions.remove((6, 2)), 'every fired reject written to the PLC once'),
    (lambda led: led.decisions.__setitem__(
        2, RejectEventRecord(3, header(3), True, 6, Delivery.LATE)),
     'every reject fired in time'),
    (lambda led: led.decisions.__setitem__(
        0, RejectEventRecord(1, header(9), False, 0, 0)),
     'decisions carry the capture header'),
    (lambda led: led.captured.pop(0), 'part ids 1..N'),
    (lambda led: setattr(led, 'plc_coil_pulses', 1), 'one ejector pulse per fired reject'),
    (lambda led: setattr(led, 'plc_coil_pulses', 3), 'one ejector pulse per fired reject'),
])
def test_reconciliation_catches_each_accounting_fault(damage, failing):
    ledger = clean_ledger()
    damage(ledger)
    result = reconcile(ledger, ['bad'])
    assert not result.ok
    assert [c.name for c in result.checks if not c.ok][0] == failing


@pytest.mark.parametrize('pulses', [1, 2])    # the late reject's coil write made it, or not
def test_a_late_plc_write_for_a_missed_reject_is_counted_once(pulses):
    ledger = clean_ledger()
    ledger.decisions[2] = RejectEventRecord(3, header(3), True, 1, Delivery.LATE)
    ledger.plc_coil_pulses = pulses
    result = reconcile(ledger, ['bad'])     # part 3 still reached the PLC, too late
    assert [c.name for c in result.checks if not c.ok] == ['every reject fired in time']


def test_model_errors_are_reported_not_failed():
    ledger = clean_ledger()
    ledger.decisions[2] = RejectEventRecord(3, header(3), False, 0,
                                            Delivery.NOT_REQUIRED)  # escape
    ledger.plc_decisions[2] = (3, 1)
    ledger.decisions[0] = RejectEventRecord(1, header(1), True, 2, Delivery.FIRED)  # false reject
    ledger.plc_decisions[0] = (1, 2)
    result = reconcile(ledger, ['bad'])
    assert result.ok, result.checks
    assert result.truth['defective_accepted'] == 1 and result.truth['good_rejected'] == 1
    assert result.rejects_by_reason == {'reject_class': 1, 'low_confidence': 1}


def test_ground_truth_names_each_part_in_delivery_order(tmp_path):
    images, labels = tmp_path / 'images' / 'test', tmp_path / 'labels' / 'test'
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for stem, label in (('a', '1 0.5 0.5 0.2 0.2'), ('b', None), ('c', 'x'), ('d', '9 0 0 1 1'),
                        ('e', '0 0.5 0.5 0.2 0.2')):
        cv2.imwrite(str(images / f'{stem}.png'), np.zeros((8, 8, 3), np.uint8))
        if label is not None:
            (labels / f'{stem}.txt').write_text(label + '\n')
    (images / 'z.png').write_bytes(b'not an image')      # a bad frame: no part, no truth
    truth = GroundTruth(['good', 'bad'])
    source = truth.source_factory(CameraConfig(source=str(tmp_path / 'images'), loop=False))
    source.connect()
    for _ in range(5):
        source.read()
    with pytest.raises(BadFrameError):
        source.read()
    assert truth.frames == 5 and not truth.stopped
    with pytest.raises(EndOfStreamError):
        source.read()
    assert truth.frames == 5 and 'end of image folder' in truth.stopped
    # Unlabelled, unparsable and out-of-range labels are unknown; part ids start at 1.
    assert [truth.class_name(part_id) for part_id in range(0, 7)] == [
        None, 'bad', None, None, None, 'good', None]


def run_demo(*args, timeout_s=90, command=(sys.executable, '-m', 'acnn_ros.cli')):
    return subprocess.run([*command, 'demo', *args],
                          cwd=str(REPO_DIR), capture_output=True, text=True,
                          timeout=timeout_s, env=dict(os.environ))


def installed_acnn() -> str:
    """Return the `acnn` command colcon installed (scripts/env.sh puts it on the PATH)."""
    path = REPO_DIR / 'install' / 'lib' / 'acnn_ros' / 'acnn'
    assert path.is_file(), f'{path} missing: run scripts/setup.sh (the test command does)'
    return str(path)


def relaxed_params(tmp_path) -> Path:
    """Return the shipped YAML with line timing loose enough for a loaded 2-core CI box."""
    data = yaml.safe_load(PARAMS_FILE.read_text(encoding='utf-8'))
    reject = data['/**/reject_actuator_node']['ros__parameters']
    reject.update(reject_delay_s=2.0, inspection_window_s=1.5, max_fire_lateness_s=0.25,
                  plc_timeout_s=0.5)
    path = tmp_path / 'inspect.yaml'
    path.write_text(yaml.safe_dump(data), encoding='utf-8')
    return path


@pytest.mark.timeout(120)
def test_demo_runs_and_reconciles(tmp_path):
    if not MODEL.is_file():
        pytest.fail(f'shipped demo model missing: {MODEL}')
    # Through the installed `acnn` script, as a user runs it: the demo's PLC simulator is a
    # multiprocessing child, which re-imports the main script (it must be import-safe).
    done = run_demo('--frames', '12', '--rate', '4', '--params-file',
                    str(relaxed_params(tmp_path)), '--reject-classes', 'p3707,p3709',
                    command=(sys.executable, installed_acnn()))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    lines = output.splitlines()
    assert any(line.startswith('[') and 'fps' in line for line in lines), output
    for check in ('part ids 1..N', 'one verdict per frame', 'one decision per part',
                  'decisions carry the capture header', 'every reject fired in time',
                  'every fired reject written to the PLC once'):
        assert f'[ OK ] {check}' in output, output
    assert '12 expected, 12 verdicts' in output and '12 expected, 12 decisions' in output
    assert 'defective parts' in output and 'result: PASS' in output


@pytest.mark.timeout(120)
def test_demo_on_an_image_folder_without_plc(tmp_path, aoi_samples_dir):
    done = run_demo('--frames', '6', '--rate', '4', '--images', str(aoi_samples_dir),
                    '--plc', 'none', '--params-file', str(relaxed_params(tmp_path)))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert 'no PLC' in output and 'written to the PLC' not in output
    assert '6 expected, 6 verdicts' in output
    assert 'defective parts' in output             # YOLO labels give the ground truth


@pytest.mark.timeout(120)
def test_demo_stops_cleanly_on_ctrl_c_and_still_reconciles(tmp_path):
    if not MODEL.is_file():
        pytest.fail(f'shipped demo model missing: {MODEL}')
    process = subprocess.Popen(
        [sys.executable, '-m', 'acnn_ros.cli', 'demo', '--frames', '0', '--rate', '4',
         '--params-file', str(relaxed_params(tmp_path))], cwd=str(REPO_DIR),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # A shell's background job ignores SIGINT, and children inherit that: undo it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    end = time.monotonic() + 60
    while time.monotonic() < end and not any('fps) | verdicts' in line for line in lines):
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    finally:
        process.kill()
    reader.join(timeout=5)
    output = ''.join(lines)
    assert process.returncode == 0, output
    assert 'interrupted: stopping the camera and draining the line' in output
    assert 'cut short by Ctrl-C' in output and 'result: PASS' in output
    assert 'Traceback' not in output


def test_demo_rejects_bad_arguments_clearly(tmp_path):
    done = run_demo('--images', str(tmp_path / 'nope'), timeout_s=60)
    assert done.returncode == 2 and 'is not a directory' in done.stderr
    done = run_demo('--params-file', str(tmp_path / 'nope.yaml'), timeout_s=60)
    assert done.returncode == 2 and 'cannot read parameters file' in done.stderr
    done = run_demo('--model', str(tmp_path / 'nope.onnx'), '--frames', '1', timeout_s=60)
    assert done.returncode == 2 and 'the line did not start' in done.stderr
    assert 'nope.onnx' in done.stderr
