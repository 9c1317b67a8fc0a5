# SPDX-License-Identifier: Apache-2.0
"""The soak test's report as markdown (docs/BENCHMARKS.md, section "Soak")."""


def markdown(report: dict) -> str:
    """Return the report of benchmarks/soak_benchmark.py as a markdown section."""
    counts, outside = report['counts'], report['outside_outages']
    plc = report.get('plc_outside_outages')
    lines = [
        f'Soak run {report["date_utc"]}, {report["machine"]}: `{report["command"]}`',
        '',
        f'{report["duration_s"]:.0f} s of capture at {report["rate_hz"]:g} Hz; '
        f'{counts["frames"]} frames, {counts["verdicts"]} verdicts, {counts["decisions"]} '
        f'decisions, {counts["plc_writes"]} PLC decision writes; restarts: '
        + ', '.join(f'{what} at {at:.0f} s' for at, what in report['events'][1:]) + '.',
        '',
        '| check | result | detail |', '|---|---|---|']
    lines += [f'| {c["name"]} | {"OK" if c["ok"] else "FAIL"} | {c["detail"]} |'
              for c in report['checks']]
    observer = report.get('observer')
    if observer:        # the instrument's own losses, apart from the line's checks above
        check = observer['check']
        lines += ['', 'The observer (this process, not the line):', '',
                  '| check | result | detail |', '|---|---|---|',
                  f'| {check["name"]} | {"OK" if check["ok"] else "FAIL"} | {check["detail"]} |']
    lines += [
        '',
        f'Rejects by reason: {counts["rejects_by_reason"]}; parts the actuator saw with no '
        f'inference matched: {report["parts_without_inference"]}. Start-up: '
        f'{report["startup"]["not_answered_ok"]} of the {report["startup"]["frames"]} parts of '
        f'the first {report["startup"]["seconds"]:g} s not answered OK '
        f'({report["startup"]["reasons"] or "-"}). Frames not answered OK '
        f'outside the inference outages (+{outside["settle_s"]:g} s): '
        f'{outside["not_answered_ok"]} of {outside["frames"]} '
        f'({100 * outside["ratio"]:.2f} %, target < 1 %). '
        + (f'Decisions not written to the PLC outside the PLC outages (+{outside["settle_s"]:g} '
           f's): {plc["not_written"]} of {plc["parts"]} ({100 * plc["ratio"]:.2f} %, target '
           '< 1 %). ' if plc else '') + 'Exit codes: '
        + ', '.join(f'{k} {v}' for k, v in report['exit_codes'].items()) + '.',
        '',
        '| process | pid | RSS at start MiB | after warm-up | at end | growth | flat |',
        '|---|---|---|---|---|---|---|']
    for row in report['rss']:
        if row.get('note'):
            lines.append(f'| {row["process"]} | {row["pid"]} | {row["start_mib"]:.0f} | '
                         f'{row["after_warmup_mib"]:.1f} | {row["end_mib"]:.1f} | '
                         f'{row["growth_mib"]:+.1f} | {row["note"]} |')
        elif row['flat'] is None:
            lines.append(f'| {row["process"]} | {row["pid"]} | {row["start_mib"]:.0f} | '
                         f'- | - | - | too short ({row["samples"]} samples) |')
        else:
            lines.append(f'| {row["process"]} | {row["pid"]} | {row["start_mib"]:.0f} | '
                         f'{row["after_warmup_mib"]:.1f} | {row["end_mib"]:.1f} | '
                         f'{row["growth_mib"]:+.1f} | {"yes" if row["flat"] else "NO"} |')
    if report.get('cpu_percent'):
        lines += ['', 'CPU over the sampled life of each process, % of one core: ' + ', '.join(
            f'{row["process"]} ({row["pid"]}) {row["percent"]:g}'
            for row in report['cpu_percent']) + '.']
    lines += ['', f'Result: {"PASS" if report["passed"] else "FAIL"} (reconciled '
              f'{report["reconciled"]}, RSS flat {report["rss_flat"]}'
              + (f', observer lost nothing {observer["check"]["ok"]}' if observer else '')
              + (f', decisions reached the PLC {plc["ratio"] < 0.01}' if plc else '')
              + ').']
    return '\n'.join(lines) + '\n'
