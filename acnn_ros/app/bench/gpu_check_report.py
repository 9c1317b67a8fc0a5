# SPDX-License-Identifier: Apache-2.0
"""Verdict and Markdown of benchmarks/gpu_check.py (parity limits per precision)."""

# Largest differences from the CPU ONNX Runtime reference a run may show: fp32 kernels differ
# in summation order only; fp16 rounds every activation (scores in [0, 1], ROI in source px).
LIMITS = {'fp32': {'score': 1e-3, 'roi_px': 0.5}, 'fp16': {'score': 3e-2, 'roi_px': 4.0}}


def precision(name: str) -> str:
    """Return the precision a run name implies (TensorRT runs here are FP16)."""
    return 'fp16' if 'fp16' in name else 'fp32'


def run_problems(name: str, run: dict) -> list:
    """Return what is wrong with one run (empty: parity within its limits)."""
    if 'skipped' in run:
        return []
    problems = [f'{name}: error outcome {detail}' for detail in run.get('errors', [])]
    parity = run.get('parity')
    if parity:
        limit = LIMITS[precision(name)]
        if parity['same_class'] != parity['frames']:
            problems.append(f'{name}: class differs on '
                            f'{parity["frames"] - parity["same_class"]} of {parity["frames"]}')
        if parity['max_score_diff'] > limit['score']:
            problems.append(f'{name}: score differs by {parity["max_score_diff"]:.2e} '
                            f'(limit {limit["score"]:.0e})')
        if parity['max_roi_px_diff'] > limit['roi_px']:
            problems.append(f'{name}: ROI differs by {parity["max_roi_px_diff"]:.2f} px '
                            f'(limit {limit["roi_px"]} px)')
    if run.get('expected_provider', run.get('active_provider')) != run.get('active_provider'):
        problems.append(f'{name}: ran on {run["active_provider"]}, not '
                        f'{run["expected_provider"]} (it failed to initialise)')
    if 'cache_hit_on_second_start' in run and not run['cache_hit_on_second_start']:
        problems.append(f'{name}: the second start did not reuse the TensorRT engine cache')
    return problems


def assess(report: dict) -> dict:
    """Return {'ok', 'problems'} for a whole report."""
    problems = []
    if not report['runtime_imports_no_ros']['ok']:
        problems.append(f'acnn_ros/runtime imports ROS: {report["runtime_imports_no_ros"]}')
    if 'error' in report:
        problems.append(report['error'])
    for name, run in report.get('runs', {}).items():
        problems += run_problems(name, run)
    return {'ok': not problems, 'problems': problems}


def _latency(stats: dict) -> str:
    return f'{stats["p50_ms"]:.2f} / {stats["p99_ms"]:.2f}' if stats else 'n/a'


def markdown(report: dict) -> str:
    """Return the human summary: environment, one row per run, assessment."""
    env = report['environment']
    lines = ['# GPU check (benchmarks/gpu_check.sh)', '',
             f'Command: `{report["command"]}`', '',
             f'Date {env["date"]}; Python {env["python"]}; torch {env["torch"]} (CUDA available: '
             f'{env["cuda_available"]}); GPU {env.get("gpu", "none")}; onnxruntime '
             f'{env["onnxruntime"]} providers {env["ort_providers"]}; TensorRT '
             f'{env["tensorrt"]}.', '',
             f'acnn_ros/runtime imports no ROS: {report["runtime_imports_no_ros"]["ok"]}.', '']
    model = report.get('model')
    if model:
        lines += [f'Model: {model["weights"]}; the torch runs load it as a checkpoint, the '
                  'ONNX Runtime runs the `.onnx`.', '',
                  '| run | same class | max score diff | max ROI diff px | model p50 / p99 ms '
                  '| pipeline p50 / p99 ms | note |', '|---|---|---|---|---|---|---|']
    for name, run in report.get('runs', {}).items():
        if 'skipped' in run:
            lines.append(f'| {name} | | | | | | not run: {run["skipped"]} |')
            continue
        parity = run.get('parity')
        same = f'{parity["same_class"]}/{parity["frames"]}' if parity else 'reference'
        score = f'{parity["max_score_diff"]:.2e}' if parity else ''
        roi = f'{parity["max_roi_px_diff"]:.3f}' if parity else ''
        note = run['provider']
        if 'starts' in run:
            note += '; starts ' + ', '.join(f'{s["start_s"]:.1f} s' for s in run['starts']) \
                + f'; cache hit on the second start: {run["cache_hit_on_second_start"]}'
        lines.append(f'| {name} | {same} | {score} | {roi} | {_latency(run["model"])} | '
                     f'{_latency(run["pipeline"])} | {note} |')
    result = report['assessment']
    lines += ['', 'Verdict: ' + ('PASS' if result['ok'] else 'FAIL: ' + '; '.join(
        result['problems'])), '']
    return '\n'.join(lines)
