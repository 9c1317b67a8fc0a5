# SPDX-License-Identifier: Apache-2.0
"""benchmarks/gpu_check.sh as a CPU dry run: the steps, the parity check and the assessment."""
import json
from pathlib import Path
import subprocess
import sys

from acnn_ros.app.bench import gpu_check_report

REPO_DIR = Path(__file__).resolve().parents[1]


def test_cpu_dry_run_of_the_gpu_check(tmp_path):
    out = tmp_path / 'gpu'
    run = subprocess.run(['bash', str(REPO_DIR / 'benchmarks' / 'gpu_check.sh'), str(out),
                          '--device', 'cpu', '--frames', '4', '--iterations', '3'],
                         env={'PATH': '/usr/bin:/bin', 'PYTHON': sys.executable,
                              'HOME': str(tmp_path)},
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((out / 'gpu_check.json').read_text())
    assert report['runtime_imports_no_ros']['ok'], report['runtime_imports_no_ros']
    assert report['model']['weights'].startswith('acnn_demo@')
    torch_cpu = report['runs']['torch cpu fp32']
    # The shipped model's weights rebuilt in PyTorch give ONNX Runtime's answers.
    assert torch_cpu['parity']['same_class'] == 4
    assert torch_cpu['parity']['max_score_diff'] < 1e-4
    assert torch_cpu['model']['n'] == 3 and torch_cpu['pipeline']['p50_ms'] > 0
    assert 'Verdict: PASS' in (out / 'gpu_check.md').read_text()
    assert 'rclpy' not in run.stdout


def test_assessment_flags_parity_and_cache_failures():
    def report(run):
        return {'runtime_imports_no_ros': {'ok': True}, 'runs': {'x': run}}

    good = {'parity': {'frames': 4, 'same_class': 4, 'max_score_diff': 1e-6,
                       'max_roi_px_diff': 0.0}, 'errors': []}
    assert gpu_check_report.assess(report(good))['ok']
    wrong_class = dict(good, parity=dict(good['parity'], same_class=3))
    assert not gpu_check_report.assess(report(wrong_class))['ok']
    fp32_far = dict(good, parity=dict(good['parity'], max_score_diff=5e-3))
    assert not gpu_check_report.assess(report(fp32_far))['ok']
    fp16 = {'x fp16': fp32_far}
    assert gpu_check_report.assess({'runtime_imports_no_ros': {'ok': True}, 'runs': fp16})['ok']
    no_hit = dict(good, cache_hit_on_second_start=False)
    assert not gpu_check_report.assess(report(no_hit))['ok']
    assert gpu_check_report.assess(report({'skipped': 'no CUDA provider'}))['ok']
    fell_back = dict(good, expected_provider='CUDAExecutionProvider',
                     active_provider='CPUExecutionProvider')
    assert not gpu_check_report.assess(report(fell_back))['ok']
    on_cuda = dict(fell_back, active_provider='CUDAExecutionProvider')
    assert gpu_check_report.assess(report(on_cuda))['ok']
    ros = {'runtime_imports_no_ros': {'ok': False}, 'runs': {}}
    assert not gpu_check_report.assess(ros)['ok']
