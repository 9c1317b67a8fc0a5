# SPDX-License-Identifier: Apache-2.0
"""
hmi_node as a process with real DDS, a real SQLite file and the real reject archive.

A publisher process stands in for reject_actuator_node (test/clients/reject_event_publisher.py):
RejectEvents on `reject`, pictures in the archive, LineCounters and a diagnostics fault. The
page's /api/state equals what was sent; a reject's thumbnail is served as JPEG; the fault is
acknowledged (audited). hmi_node is stopped (Ctrl-C) and started again on the same database:
the counters and the gallery are the same, and a second batch counts on from there. Then the
shift is reset, and `acnn shift export` writes every part of the first shift as CSV.
"""
import csv
import json
import re
import time
import urllib.request

import pytest
from ros_processes import NodeProcess

pytestmark = pytest.mark.timeout(180)
URL_LINE = re.compile(r'page on (http://127\.0\.0\.1:\d+/)')


def start_hmi(tmp_path, env):
    node = NodeProcess.node(
        'hmi_node', '-p', f'database:={tmp_path / "shift.sqlite"}', '-p', 'port:=0',
        '-p', f'archive_dir:={tmp_path / "archive"}', '-p', 'station_id:=test_station',
        '-p', 'state_period_s:=0.2', environ=env)
    line = node.wait_for_line('page on http', 30)
    assert line, node.output
    return node, URL_LINE.search(line).group(1)


def get(url, data=None, timeout=10.0):
    request = urllib.request.Request(url, data=None if data is None else json.dumps(
        data).encode(), headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def state_when(url, condition, timeout_s=20.0):
    end = time.monotonic() + timeout_s
    while True:
        state = json.loads(get(url + 'api/state')[1])
        if condition(state) or time.monotonic() > end:
            return state
        time.sleep(0.1)


def publish(env, archive, count, first=1):
    publisher = NodeProcess.script('reject_event_publisher', str(count), '50', '3',
                                   str(archive), str(first), environ=env)
    output = publisher.finish(90)
    sent = next((line for line in output.splitlines() if line.startswith('SENT ')), None)
    assert sent, output
    return json.loads(sent[5:])['parts']


def expected(parts):
    rejected = [p for p in parts if p[2]]
    return len(parts), len(parts) - len(rejected), len(rejected)


def test_counts_images_restart_reset_export(tmp_path, own_domain_env):
    node, url = start_hmi(tmp_path, own_domain_env)
    try:
        parts = publish(own_domain_env, tmp_path / 'archive', 60)
        total, good, rejected = expected(parts)
        state = state_when(url, lambda s: s['counters']['parts'] >= total and s['faults'])
        counters = state['counters']
        assert (counters['parts'], counters['good'], counters['rejected']) == \
            (total, good, rejected)
        assert counters['without_result'] == sum(1 for p in parts if p[2] == 6)
        assert counters['fail_safe'] == counters['without_result']
        assert sum(n for _, n in counters['pareto']) == rejected
        assert [g['part_id'] for g in state['gallery']] == \
            [p[0] for p in reversed(parts) if p[2]][:24]
        assert state['actuator_counters']['inspected'] == total
        assert state['lifecycle']['reject_actuator_node'] == 'unreachable'
        key = state['gallery'][0]['key']
        status, jpeg = get(url + f'image/{key}/frame.jpg')
        assert status == 200 and jpeg[:2] == b'\xff\xd8'
        assert state['faults'][0]['message'] == 'PLC link lost (test)'
        acknowledged = json.loads(get(url + 'api/acknowledge', {})[1])['acknowledged']
        assert acknowledged == ['/test/reject_actuator_node: reject actuator']
        assert node.interrupt() == 0, node.output
        assert 'AUDIT: fault acknowledged' in node.output

        node, url = start_hmi(tmp_path, own_domain_env)
        assert 'shift 1: 60 parts so far' in node.output
        after = json.loads(get(url + 'api/state')[1])
        assert after['counters'] == counters
        assert [g['key'] for g in after['gallery']] == [g['key'] for g in state['gallery']]
        more = publish(own_domain_env, tmp_path / 'archive', 30, first=61)
        grown = state_when(url, lambda s: s['counters']['parts'] >= total + len(more))
        assert grown['counters']['parts'] == total + len(more)
        assert grown['counters']['rejected'] == rejected + expected(more)[2]

        status, body = get(url + 'api/reset', {'confirm': True})
        assert json.loads(body)['shift_id'] == 2
        assert json.loads(get(url + 'api/state')[1])['counters']['parts'] == 0
        assert node.interrupt() == 0, node.output
        assert 'AUDIT: shift counters reset by page client 127.0.0.1' in node.output
    finally:
        node.interrupt()
    out = tmp_path / 'shift1.csv'
    export = NodeProcess.module('acnn_ros.cli', 'shift', 'export', '--database',
                                str(tmp_path / 'shift.sqlite'), '--station', 'test_station',
                                '--shift', '1', '--out', str(out), environ=own_domain_env)
    assert export.wait(60) == 0, export.output
    rows = list(csv.DictReader(out.open(encoding='utf-8')))
    assert [int(r['part_id']) for r in rows] == [p[0] for p in parts + more]
    assert sum(r['decision'] == 'reject' for r in rows) == rejected + expected(more)[2]
