# SPDX-License-Identifier: Apache-2.0
"""Start-up ordering gate, rate monitor and rated-speed check (issue 12), on injected clocks."""
from acnn_ros.core.camera.config import CameraConfig, CameraConfigError
from acnn_ros.core.camera.start_gate import (missing_topics, OFF, READY, StartGate,
                                             TIMED_OUT, WAITING)
from acnn_ros.core.rate_monitor import (LEVEL_OK, LEVEL_WARN, rate_level, rated_speed_check,
                                        RateMonitor)
from acnn_ros.core.results import InspectionStatus
from acnn_ros.runtime.stats import diagnostic_level, DiagnosticThresholds, InferenceStats
import pytest


def test_gate_waits_for_part_and_image_then_opens_once():
    gate = StartGate(10.0)
    gate.arm(100.0)
    assert not gate.is_open and gate.state == WAITING
    assert gate.update(missing_topics(0, 0, image_needed=True), 101.0) is None
    assert gate.update(missing_topics(1, 0, image_needed=True), 102.0) is None
    assert not gate.is_open
    event = gate.update(missing_topics(1, 1, image_needed=True), 103.5)
    assert event.state == READY and event.waited_s == pytest.approx(3.5)
    assert 'line ready after 3.50 s' in event.message
    assert gate.is_open and gate.update('part', 104.0) is None    # never closes again
    gate.arm(200.0)                                            # a new activation waits again
    assert not gate.is_open
    gate.arm()                                  # timed from the first update (enabled later)
    assert gate.update('part', 500.0) is None and gate.update('part', 509.9) is None
    assert gate.update('part', 510.0).state == TIMED_OUT


def test_gate_in_memory_line_needs_only_the_part_subscriber():
    assert missing_topics(0, 0, image_needed=False) == 'part'
    assert missing_topics(1, 0, image_needed=False) == ''
    assert missing_topics(0, 0, image_needed=True) == 'part, image'
    # A recorder started before the actuator must not open a gate that waits for two.
    assert missing_topics(1, 1, True, min_part_subscribers=2) == 'part (1 of 2)'
    assert missing_topics(2, 1, True, min_part_subscribers=2) == ''


def test_gate_times_out_with_a_warning_and_zero_turns_it_off():
    gate = StartGate(2.0)
    gate.arm(0.0)
    assert gate.update('image', 1.99) is None
    event = gate.update('image', 2.0)
    assert event.state == TIMED_OUT and gate.is_open
    assert 'no subscriber on image' in event.message and 'capturing anyway' in event.message
    off = StartGate(0.0)
    off.arm(0.0)
    assert off.is_open and off.state == OFF and off.update('part', 5.0) is None
    with pytest.raises(ValueError):
        StartGate(-1.0)


def test_camera_config_validates_the_new_parameters():
    assert CameraConfig().line_wait_s == 10.0 and CameraConfig().rated_rate_hz == 0.0
    assert CameraConfig().min_part_subscribers == 1
    for bad in ({'line_wait_s': -1.0}, {'rated_rate_hz': -5.0}, {'min_part_subscribers': 0}):
        with pytest.raises(CameraConfigError):
            CameraConfig(**bad)


def test_rate_monitor_warns_below_95_percent_of_target():
    monitor = RateMonitor(20.0, window_s=5.0)
    monitor.restart(0.0)
    now = 0.0
    for _ in range(100):            # 20 Hz for 5 s
        now += 0.05
        monitor.tick(now)
    report = monitor.report(now)
    assert report.level == LEVEL_OK and report.achieved_hz == pytest.approx(20.0, rel=0.01)
    for _ in range(39):             # then 7.7 Hz (the synthetic camera without a pool)
        now += 1 / 7.7
        monitor.tick(now)
    report = monitor.report(now, 'capturing at')
    assert report.level == LEVEL_WARN and report.achieved_hz == pytest.approx(7.7, rel=0.05)
    assert 'slower than configured' in report.message and 'of 20 Hz target' in report.message
    assert rate_level(19.0, 20.0, 'x').level == LEVEL_OK          # exactly 95 %: OK
    assert rate_level(18.99, 20.0, 'x').level == LEVEL_WARN
    assert rate_level(3.0, 0.0, 'x').level == LEVEL_OK            # no target


def test_rate_monitor_window_starts_at_restart():
    monitor = RateMonitor(10.0, window_s=5.0)
    monitor.restart(0.0)
    for i in range(10):
        monitor.tick(0.1 * (i + 1))
    assert monitor.achieved_hz(1.0) == pytest.approx(10.0)
    assert monitor.achieved_hz(20.0) == 0.0                       # nothing in the window


def test_rated_speed_check_lines():
    level, line = rated_speed_check(30.0, 18.5, 'line_rate_benchmark, 2026-11-28')
    assert level == LEVEL_WARN
    assert line.startswith('camera 30 Hz configured, line rated 18.5 Hz '
                           '(line_rate_benchmark, 2026-11-28): WARNING camera faster')
    assert '38 % of parts without a result' in line
    level, line = rated_speed_check(10.0, 18.5, 'bench')
    assert level == LEVEL_OK and '54 % of the rated speed' in line
    level, line = rated_speed_check(10.0, 0.0, '')
    assert level == LEVEL_OK and 'not rated' in line and 'rated_rate_hz' in line


def test_inference_diagnostics_warn_when_fewer_frames_are_answered_ok_than_received():
    now = [0.0]
    stats = InferenceStats(clock=lambda: now[0])
    thresholds = DiagnosticThresholds(warn_drop_ratio=1.0)   # only the rate rule can warn
    for i in range(100):
        now[0] += 0.01
        stats.record(InspectionStatus.OK if i % 10 else InspectionStatus.DROPPED, total_ms=5.0)
    snap = stats.snapshot()
    assert snap.received_hz == pytest.approx(100.0) and snap.ok_hz == pytest.approx(90.0)
    level, message = diagnostic_level(snap, thresholds)
    assert level == LEVEL_WARN and 'answered OK 90.0 Hz of 100 Hz received (90 %' in message
    for _ in range(100):
        now[0] += 0.01
        stats.record(InspectionStatus.OK, total_ms=5.0)
    assert diagnostic_level(stats.snapshot(), thresholds)[0] == LEVEL_OK


def test_actuator_rate_counts_parts_decided_without_a_result():
    from acnn_ros.core.reject.counters import decided_on_result_rate, Delivery, LineTally
    from acnn_ros.core.reject.decision import RejectReason
    before = LineTally()
    after = before.snapshot()
    for _ in range(18):
        after.count(False, RejectReason.NONE, Delivery.NOT_REQUIRED)
    after.count(True, RejectReason.REJECT_CLASS, Delivery.FIRED)       # a result: counts
    report = decided_on_result_rate(before, after, 1.0)
    assert report.level == LEVEL_OK and report.achieved_hz == report.target_hz == 19.0
    after.count(True, RejectReason.NO_RESULT, Delivery.FIRED)
    after.count(True, RejectReason.DROPPED_FRAME, Delivery.FIRED)
    report = decided_on_result_rate(before, after, 2.0)
    assert report.level == LEVEL_WARN and report.achieved_hz == pytest.approx(9.5)
    assert report.target_hz == pytest.approx(10.5)
    assert decided_on_result_rate(after, before, 1.0).level == LEVEL_OK    # after a reset


def test_rated_rate_lines_of_the_benchmark_are_valid_camera_parameters():
    from acnn_ros.app.bench.line_rate_report import rated_rate_yaml
    import yaml
    report = {'machine': 'vm: 2 cores, x86_64', 'date': '2026-11-28 22:40 UTC',
              'runs': [{'best_hz': 198.04, 'line': {'best_hz': 191.0}}]}
    values = yaml.safe_load(rated_rate_yaml(report))
    config = CameraConfig(frame_rate_hz=30.0, **values)
    assert config.rated_rate_hz == 198.0
    assert config.rated_rate_source == 'line_rate_benchmark dds, vm, 2026-11-28 22:40 UTC'
    del report['runs'][0]['best_hz']
    assert yaml.safe_load(rated_rate_yaml(report))['rated_rate_hz'] == 191.0
