# SPDX-License-Identifier: Apache-2.0
"""The line-rate benchmark's pure logic (acnn_ros/app/bench/rate_search.py) on a fake system."""
import math
import os

from acnn_ros.app.bench import rate_search
from acnn_ros.app.bench.rate_search import find_max_rate, Probe
from acnn_ros.app.proc_status import parse_proc_status, rss_mib
from acnn_ros.core.stats import percentiles
import pytest


class FakeLine:
    """A system that answers every frame OK up to `capacity_hz`, then loses the excess."""

    def __init__(self, capacity_hz: float, frames: int = 200, jitter_losses: int = 0):
        self.capacity_hz = capacity_hz
        self.frames = frames
        self.jitter_losses = jitter_losses
        self.rates = []

    def __call__(self, rate_hz: float) -> Probe:
        self.rates.append(rate_hz)
        ok = self.frames if rate_hz <= self.capacity_hz else int(
            self.frames * self.capacity_hz / rate_hz)
        ok = max(0, ok - self.jitter_losses)
        return Probe(rate_hz, self.frames, ok, [1.0] * ok)


def test_probe_verdict_is_strictly_under_one_percent():
    assert Probe(60.0, 200, 199).passed()          # 0.5 % lost
    assert not Probe(60.0, 200, 198).passed()      # exactly 1 %: not under it
    assert not Probe(60.0, 100, 99).passed()       # 1 of 100 is 1 %
    assert Probe(60.0, 100, 100).passed()
    assert not Probe(60.0, 0, 0).passed()          # an empty probe proves nothing
    assert Probe(60.0, 0, 0).failure_ratio == 1.0
    assert Probe(60.0, 10, 7).not_ok == 3


def test_search_converges_on_the_capacity_from_below():
    line = FakeLine(capacity_hz=137.0)
    result = find_max_rate(line, low_hz=20.0, high_hz=300.0, max_probes=12,
                           rel_tolerance=0.01)
    # Above 137 Hz the fake loses (rate - 137) / rate of its frames: < 1 % up to 137 / 0.99.
    assert 137.0 * 0.98 <= result.best_hz < 137.0 / 0.99
    assert result.best_probe.rate_hz == result.best_hz
    assert result.best_probe.passed()
    assert line.rates[:2] == [300.0, 20.0]
    assert len(result.probes) == len(line.rates) <= 12


def test_search_stops_after_max_probes():
    line = FakeLine(capacity_hz=100.0)
    result = find_max_rate(line, 10.0, 1000.0, max_probes=4, rel_tolerance=1e-6)
    assert len(line.rates) == 4
    assert 10.0 <= result.best_hz <= 100.0
    assert result.best_probe.passed()


def test_search_top_passing_and_bottom_failing():
    fast = find_max_rate(FakeLine(capacity_hz=500.0), 10.0, 200.0)
    assert fast.best_hz == 200.0 and len(fast.probes) == 1
    hopeless = find_max_rate(FakeLine(capacity_hz=5.0), 10.0, 200.0)
    assert hopeless.best_hz == 0.0 and hopeless.best_probe is None
    assert len(hopeless.probes) == 2
    # A line that always loses 3 of 200 frames (1.5 %) never passes.
    lossy = find_max_rate(FakeLine(capacity_hz=500.0, jitter_losses=3), 10.0, 200.0)
    assert lossy.best_hz == 0.0
    with pytest.raises(ValueError):
        find_max_rate(FakeLine(1.0), 50.0, 10.0)


def test_percentiles():
    stats = percentiles(list(range(1, 101)))
    assert stats['n'] == 100
    assert stats['p50'] == pytest.approx(50.5)
    assert stats['p99'] == pytest.approx(99.01)
    assert math.isnan(percentiles([])['p50'])
    assert percentiles([1.0, 2.0, 3.0], (10, 90)) == \
        pytest.approx({'p10': 1.2, 'p90': 2.8, 'n': 3})


def test_proc_parsing_and_cpu_percent():
    stat = '1234 (python3 -m x) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3 0 100 0 0'
    assert rate_search.parse_proc_stat(stat, 100) == pytest.approx(3.0)
    assert parse_proc_status('Name:\tx\nVmRSS:\t  2048 kB\nVmHWM:\t 4096 kB\n') == \
        {'VmRSS': 2.0, 'VmHWM': 4.0}
    assert parse_proc_status('Name:\tx\n') == {}
    assert rss_mib(os.getpid()) > 0.0
    assert rss_mib(2 ** 22 + 1) == 0.0           # no such process (pid_max is at most 2 ** 22)
    assert rate_search.cpu_percent(1.0, 2.5, 1.0) == pytest.approx(150.0)
    assert rate_search.cpu_percent(1.0, 2.0, 0.0) == 0.0


def test_process_usage_reads_this_process():
    usage = rate_search.ProcessUsage(os.getpid())
    before = usage.cpu_seconds()
    sum(i * i for i in range(200000))
    assert usage.cpu_seconds() > before
    assert 10.0 < usage.rss_mib() < 100000.0


def test_targets_met_and_missed():
    met = rate_search.dds_targets(model_p50_ms=4.0, e2e_p50_ms=5.0, model_rate_hz=250.0,
                                  best_hz=230.0, all_ok_at_90=True)
    assert [t.met for t in met] == [True, True, True]
    assert met[0].value == pytest.approx(25.0)
    missed = rate_search.dds_targets(4.0, 8.0, 250.0, 150.0, False)
    assert [t.met for t in missed] == [False, False, False]
    assert missed[0].describe() == 'missed by 70.00 %'
    assert missed[1].describe() == 'missed by 0.30'
    unprobed = rate_search.dds_targets(4.0, 5.0, 250.0, 230.0, None)
    assert not unprobed[2].met and unprobed[2].describe() == 'not measured'
    line = rate_search.line_target(4.0, 4.4)
    assert line.met and line.value == pytest.approx(1.1)
    assert rate_search.line_target(4.0, 6.0).describe() == 'missed by 0.35x'


def test_report_markdown_of_a_run():
    from acnn_ros.app.bench.line_rate_report import markdown
    probe = {'rate_hz': 100.0, 'sent': 300, 'answered': 300, 'ok': 298, 'passed': True,
             'e2e_ms': percentiles([5.0, 6.0]),
             'model_ms': percentiles([4.0, 4.5]),
             'cpu_percent': {'inference_node': 80.0, 'driver': 10.0}}
    failed = dict(probe, ok=250, passed=False)
    targets = rate_search.dds_targets(4.0, 5.5, 200.0, 100.0, False)
    form = {'half_rate': probe, 'at_90': failed, 'best_hz': 100.0, 'search': [failed, probe],
            'rss_mib': {'inference_node': 200.0, 'driver': 150.0},
            'targets': [dict(vars(t), met=t.met, describe=t.describe()) for t in targets]}
    run = dict(form, label='default configuration', threads=1,
               model_only={'model': percentiles([5.0]),
                           'pipeline': percentiles([6.0]), 'rate_hz': 200.0,
                           'provider': 'onnxruntime'})
    report = {'command': 'python -m benchmarks.line_rate_benchmark', 'machine': 'vm',
              'date': 'today', 'load_average': '1.0',
              'probe': {'seconds': 3.0, 'min_frames': 100, 'max_frames': 400, 'low': 0.1,
                        'high': 1.1, 'max_probes': 7}, 'runs': [run]}
    text = markdown(report)
    assert '**DDS path: driver process -> inference_node process: highest sustained rate ' \
        '(< 1 % not OK) 100 Hz = 0.50 x model-only rate.**' in text
    assert '| 0.9 x model-only rate | 100.0 | 300 | 300 | 250 | no | 5.50 / 5.99 |' in text
    assert '| DDS path: node + transport over model time, p50 | 37.50 % | <= 30.00 % | ' \
        'missed by 7.50 % |' in text
    assert 'missed: 50 of 300 frames not OK' in text
    assert 'One-process line: camera' not in text  # no line form in this report


def test_a_soak_run_as_a_whole_line_probe_counts_unwritten_decisions_and_a_slow_camera():
    from acnn_ros.app.bench.soak_accounting import line_probe
    counts = {'frames': 6000, 'verdicts': 5990, 'frames_not_answered_ok': 10, 'missed': 20,
              'accepts_undelivered': 15, 'late_plc_writes': 5}
    report = {'rate_hz': 100.0, 'counts': counts, 'reconciled': True,
              'observer': {'check': {'ok': True}}}
    probe = line_probe(report, 6000)
    assert (probe.sent, probe.ok, probe.passed()) == (6000, 6000 - 10 - 30, True)
    # The camera fell behind: 5% of the parts it should have captured never existed.
    assert not line_probe(report, 6316).passed()
    # Too many decisions never reached the PLC.
    assert not line_probe(dict(report, counts=dict(counts, missed=80)), 6000).passed()
    # An unreconciled run or an observer that lost messages proves nothing.
    assert line_probe(dict(report, reconciled=False), 6000).ok == 0
    assert line_probe(dict(report, observer={'check': {'ok': False}}), 6000).ok == 0
