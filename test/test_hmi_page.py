# SPDX-License-Identifier: Apache-2.0
"""
hmi_node's page in a real headless browser (Debian's Chromium through Selenium).

hmi_node runs as a process (real DDS, a SQLite file, the real reject archive for pictures); a
publisher process stands in for reject_actuator_node and sends RejectEvents stamped at their
publication. The page's counters equal what was sent; each reject appears in the gallery, and
the time from its publication to its first rendering in the page (the page's own clock: same
machine) is printed as p50 / p95 / max; the issue's target is p95 <= 500 ms. A reload of the
page (a browser reconnecting) shows the same counts; hmi_node is stopped and started again on
the same port and database: the page reconnects by itself and shows the same counts and
gallery; a reset through the page's button (confirmed in the browser's dialog) zeroes them.

Needs Debian's Chromium and its driver and selenium (test/browser.py; FAILS with the install
command without them). ACNN_HMI_SCREENSHOT=path.jpg also writes the page's
screenshot there (docs/images/hmi_page.jpg is made so).
"""
import json
import os
from pathlib import Path
import re
import socket
import time

from browser import start_chromium
import cv2
import numpy as np
import pytest
from ros_processes import NodeProcess

PARTS = 240
RATE_HZ = 20.0
REJECT_EVERY = 3
LATENCY_TARGET_MS = 500.0

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def browser(tmp_path):
    driver = start_chromium(tmp_path / 'chromium')
    yield driver
    driver.quit()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def start_hmi(tmp_path, port, env):
    node = NodeProcess.node(
        'hmi_node', '-p', f'database:={tmp_path / "shift.sqlite"}', '-p', f'port:={port}',
        '-p', f'archive_dir:={tmp_path / "archive"}', '-p', 'station_id:=browser_test',
        environ=env)
    assert node.wait_for_line('page on http', 30), node.output
    return node


def page_state(driver):
    return driver.execute_script(
        'const p = window.hmiPage; return {connected: p.connected, version: p.version, '
        'error: p.error, arrivals: p.arrivals, ids: Array.from(document.querySelectorAll('
        '"#gallery figure")).map((f) => Number(f.dataset.part)), text: Object.fromEntries('
        '["parts", "good", "rejected", "yield", "fail_safe", "without_result"].map((id) => '
        '[id, document.getElementById(id).textContent]))}')


def wait_page(driver, condition, timeout_s=30.0):
    end = time.monotonic() + timeout_s
    while True:
        state = page_state(driver)
        assert not state['error'], state['error']
        if condition(state):
            return state
        assert time.monotonic() < end, f'page stuck: {state}'
        time.sleep(0.05)


def expected_text(parts):
    rejected = [p for p in parts if p[2]]
    good = len(parts) - len(rejected)
    return {'parts': str(len(parts)), 'good': str(good), 'rejected': str(len(rejected)),
            'yield': f'{100.0 * good / len(parts):.2f}',
            'fail_safe': str(sum(p[2] == 6 for p in parts)),
            'without_result': str(sum(p[2] == 6 for p in parts))}


def save_screenshot(driver, tmp_path):
    png = tmp_path / 'hmi_page.png'
    driver.save_screenshot(str(png))
    print(f'screenshot: {png}')
    target = os.environ.get('ACNN_HMI_SCREENSHOT')
    if target:
        image = cv2.imdecode(np.frombuffer(png.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        cv2.imwrite(target, image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        print(f'screenshot: {target}')


def test_page_counts_latency_restart_reset(browser, tmp_path, own_domain_env):
    port = free_port()
    url = f'http://127.0.0.1:{port}/'
    node = start_hmi(tmp_path, port, own_domain_env)
    try:
        browser.get(url)
        wait_page(browser, lambda s: s['connected'] and s['version'] >= 0)
        publisher = NodeProcess.script('reject_event_publisher', str(PARTS), str(RATE_HZ),
                                       str(REJECT_EVERY), str(tmp_path / 'archive'),
                                       environ=own_domain_env)
        output = publisher.finish(120)
        sent = json.loads(re.search(r'^SENT (.*)$', output, re.M).group(1))['parts']
        want = expected_text(sent)
        rejects = [p for p in sent if p[2]]
        state = wait_page(browser, lambda s: s['text'] == want)
        assert state['ids'] == [p[0] for p in reversed(rejects)][:24]

        arrivals = dict(state['arrivals'])
        latencies = sorted(arrivals[f'{stamp}/{part}'] - stamp / 1e6
                           for part, stamp, _ in rejects if f'{stamp}/{part}' in arrivals)
        assert len(latencies) == len(rejects), f'{len(latencies)} of {len(rejects)} seen'
        p50, p95 = np.percentile(latencies, 50), np.percentile(latencies, 95)
        print(f'reject -> gallery latency over {len(latencies)} rejects ({RATE_HZ:g} parts/s): '
              f'p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {latencies[-1]:.0f} ms '
              f'(target p95 <= {LATENCY_TARGET_MS:.0f} ms); load average '
              f'{Path("/proc/loadavg").read_text().split()[:3]}')
        assert p95 <= LATENCY_TARGET_MS
        newest = browser.execute_script(
            'const img = document.querySelector("#gallery figure img.frame"); '
            'return new Promise((done) => { const check = () => img.complete && '
            'img.naturalWidth > 0 ? done(img.naturalWidth) : setTimeout(check, 50); check(); })')
        assert newest == 320
        save_screenshot(browser, tmp_path)

        browser.refresh()                                  # a browser reconnecting
        wait_page(browser, lambda s: s['connected'] and s['text'] == want, timeout_s=10)

        assert node.interrupt() == 0, node.output          # hmi_node restarted: same counts
        wait_page(browser, lambda s: not s['connected'])
        node = start_hmi(tmp_path, port, own_domain_env)
        state = wait_page(browser, lambda s: s['connected'] and s['text'] == want)
        assert state['ids'] == [p[0] for p in reversed(rejects)][:24]

        browser.find_element('id', 'reset').click()       # confirmed in the dialog
        browser.switch_to.alert.accept()
        state = wait_page(browser, lambda s: s['text']['parts'] == '0')
        assert state['ids'] == [] and state['text']['yield'] == '-'
    finally:
        assert node.interrupt() == 0, node.output
    assert 'AUDIT: shift counters reset by page client 127.0.0.1' in node.output
