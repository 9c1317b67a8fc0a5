# SPDX-License-Identifier: Apache-2.0
"""Markdown of the line-rate benchmark (benchmarks/line_rate_benchmark.py) for BENCHMARKS.md."""
SECTION = '<!-- section:line-rate -->'
NOTES = '<!-- section:line-rate-notes -->'


def _ms(stats) -> str:
    return f'{stats["p50"]:.2f} / {stats["p99"]:.2f}' if stats and stats['n'] else 'n/a'


def _probe_row(name: str, p: dict) -> str:
    cpu = ' / '.join(f'{value:.0f}' for value in p['cpu_percent'].values())
    sent = p['sent'] if p.get('captured') is None else f'{p["sent"]} ({p["captured"]} captured)'
    return (f'| {name} | {p["rate_hz"]:.1f} | {sent} | {p["answered"]} | {p["ok"]} | '
            f'{"yes" if p["passed"] else "no"} | {_ms(p["e2e_ms"])} | {_ms(p["model_ms"])} | '
            f'{cpu} |')


def _form(title: str, cpu_header: str, form: dict, model_rate: float) -> list:
    rss = ', '.join(f'{name} {value:.0f} MiB' for name, value in form['rss_mib'].items())
    return [f'**{title}: highest sustained rate (< 1 % not OK) {form["best_hz"]:.0f} Hz = '
            f'{form["best_hz"] / model_rate:.2f} x model-only rate.** RSS: {rss}.', '',
            '| probe | rate Hz | sent | answered | ok | < 1 % not OK | e2e p50 / p99 ms '
            f'| node model p50 / p99 ms | {cpu_header} |',
            '|---|---|---|---|---|---|---|---|---|',
            _probe_row('0.5 x model-only rate', form['half_rate']),
            _probe_row('0.9 x model-only rate', form['at_90'])] + [
        _probe_row(f'search {index + 1}', probe)
        for index, probe in enumerate(form['search'])] + ['']


def _target_row(form: str, target: dict, at_90: dict) -> str:
    value, every = target['value'], target['name'].startswith('every')
    shown = ('yes' if value == 1.0 else 'no') if every else f'{value:.2f}{target["unit"]}'
    limit = 'yes' if every else \
        f'{">=" if target["higher_is_better"] else "<="} {target["limit"]:.2f}{target["unit"]}'
    verdict = target['describe']
    if every and not target['met']:
        verdict = f'missed: {at_90["sent"] - at_90["ok"]} of {at_90["sent"]} frames not OK'
    return f'| {form}: {target["name"]} | {shown} | {limit} | {verdict} |'


def markdown(report: dict) -> str:
    """Return the section text (marker line first) for one benchmark run."""
    p = report['probe']
    lines = [SECTION, '## Line rate (issue 11): highest camera rate, ros2_benchmark style', '',
             f'Command: `{report["command"]}`', '',
             f'Machine: {report["machine"]}, {report["date"]}; load average '
             f'{report["load_average"]} at the start (shared with other jobs).', '',
             'Method (`benchmarks/line_rate_benchmark.py`, logic in '
             '`acnn_ros/app/bench/rate_search.py`): '
             'model-only rate = 1 / p50 of ONNX Runtime `session.run` in this process on the '
             'benchmark frame. DDS path: `inference_node` in its own process with '
             '`--params-file config/inspect.yaml`; the benchmark is the camera driver: it '
             'serializes one 640x480 bgr8 `sensor_msgs/Image` once, writes each capture stamp '
             'into the CDR header and publishes the bytes (`publisher.publish(raw_bytes)`, '
             'SensorDataQoS), like a C++ driver. A probe publishes at a fixed rate for '
             f'{p["seconds"]:g} s ({p["min_frames"]}-{p["max_frames"]} frames); it passes when '
             '< 1 % of its frames are not answered OK (dropped, error or never answered). The '
             'highest passing rate is binary-searched between '
             f'{p["low"]:g}x and {p["high"]:g}x the model-only rate ({p["max_probes"]} probes '
             'at most). e2e = capture stamp -> InspectionResult received by the driver; model '
             "= the node's `inference_ms` of the same frames. CPU % of one core over the probe. "
             'One-process line (`benchmarks/line_process_probe.py`): '
             '`acnn_ros.nodes.inspection_line.Line` '
             'with camera_node and inference_node (frames handed over in memory; the reject '
             'actuator left to its own process), the params file, a frame source returning the '
             "benchmark frame, captured by camera_node's own timer at the probe rate; a new line "
             'per probe, the first 5 frames of each not counted (warm-up); a camera that falls '
             'behind its rate counts the frames it did not capture as lost; e2e = capture stamp '
             '-> InspectionResult received by an observer node in the same executor.', '']
    for run in report['runs']:
        alone = run['model_only']
        lines += [f'### {run["label"]}', '',
                  f'Model only: p50 / p99 {_ms(alone["model"])} ms -> **model-only rate '
                  f'{alone["rate_hz"]:.0f} Hz**; core pipeline (preprocess + model + '
                  f'postprocess) {_ms(alone["pipeline"])} ms; {alone["provider"]}.', '']
        targets = []
        if 'search' in run:
            lines += _form('DDS path: driver process -> inference_node process',
                           'CPU % node / driver', run, alone['rate_hz'])
            targets += [('DDS path', t, run['at_90']) for t in run['targets']]
        if 'line' in run:
            lines += _form('One-process line: camera + inference, frames in memory',
                           'CPU % line process', run['line'], alone['rate_hz'])
            targets += [('one-process line', t, run['line']['at_90'])
                        for t in run['line']['targets']]
        lines += ['| target (issue 11) | measured | limit | verdict |', '|---|---|---|---|']
        for form, target, at_90 in targets:
            lines.append(_target_row(form, target, at_90))
        lines.append('')
    return '\n'.join(lines)


def rated_rate_yaml(report: dict) -> str:
    """
    Return the camera_node lines to paste into the params file: the line's rated speed.

    The rated speed is the highest camera rate of the first configuration (the params file's
    default) with < 1 % of frames not answered OK: the 3-process form (`dds`) when it was
    measured, else the one-process line. camera_node prints it at start-up next to
    frame_rate_hz and warns when the camera is faster.
    """
    run = report['runs'][0]
    form, best = ('dds', run['best_hz']) if 'best_hz' in run else (
        'one_process', run['line']['best_hz'])
    source = (f'line_rate_benchmark {form}, {report["machine"].split(":")[0]}, '
              f'{report["date"]}')
    return ('# camera_node, measured by this run (config/inspect.yaml, /**/camera_node):\n'
            f'    rated_rate_hz: {best:.1f}\n'
            f"    rated_rate_source: '{source}'\n")
