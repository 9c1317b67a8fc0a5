# SPDX-License-Identifier: Apache-2.0
"""
The ejector's timing with and without the operator's page open (issue 23), on the demo's line.

    python -m benchmarks.hmi_page_benchmark --runs 2 --frames 300 \
        --screenshot docs/images/hmi_page.jpg

Each run is `acnn demo --hmi 0` (synthetic frames, demo model, Modbus PLC simulator, hmi_node in
its own process), alternately without a browser and with the page open in headless Chromium
(Debian's, through Selenium) for the whole run. The reject lateness (fire_time - due_time of
every fired reject) comes from the shift database hmi_node wrote; missed rejects and the
demo's verdict from its reconciliation. One row per run, with the load average at its end.
`--screenshot` saves the page as the last run with the page open has done 80 % of its frames.

    python -m benchmarks.hmi_page_benchmark --soak 600 --rate 10

`--soak S` instead: one demo run of S seconds with the page open the whole time; every
`--sample-s` one row: hmi_node's and Chromium's resident memory (every process of that
browser), the page's JS heap and DOM size, its update count and the parts it shows.
"""
import argparse
import os
from pathlib import Path
import re
import subprocess
import sys
import tempfile
import threading
import time

from acnn_ros.app.proc_status import rss_mib
from acnn_ros.core.shift.store import ShiftStore
import cv2
import numpy as np

URL_LINE = re.compile(r'operator page: (http://\S+) \(hmi_node; shift database (\S+)\)')


def pids_with(fragment: str):
    """Return the ids of the processes whose command line contains `fragment`."""
    found = []
    for cmdline in Path('/proc').glob('[0-9]*/cmdline'):
        try:
            if fragment in cmdline.read_bytes().replace(b'\0', b' ').decode(errors='replace'):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def open_page(url: str):
    """Return headless Chromium showing `url`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = '/usr/bin/chromium'
    for flag in ('--headless=new', '--no-sandbox', '--disable-gpu', '--window-size=1280,900',
                 f'--user-data-dir={tempfile.mkdtemp(prefix="acnn_chromium_")}'):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path='/usr/bin/chromedriver'),
                               options=options)
    browser.get(url)
    return browser


def save_screenshot(browser, path: str) -> None:
    """Save what the browser shows as JPEG."""
    png = browser.get_screenshot_as_png()
    cv2.imwrite(path, cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR),
                [cv2.IMWRITE_JPEG_QUALITY, 80])


def lateness_ms(database: str):
    """Return fire - due (ms) of every fired reject in the run's shift database."""
    store = ShiftStore(database, 'demo')
    try:
        return [(row['fire_ns'] - row['due_ns']) / 1e6 for row in store.part_rows()
                if row['delivery'] == 'FIRED']
    finally:
        store.close()


def run_once(frames: int, rate: float, with_page: bool, screenshot: str):
    demo = subprocess.Popen(
        [sys.executable, '-m', 'acnn_ros.cli', 'demo', '--hmi', '0', '--frames', str(frames),
         '--rate', str(rate), '--quiet'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    output, browser, database, timer = [], None, None, None
    for line in demo.stdout:
        output.append(line)
        found = URL_LINE.search(line)
        if found:
            database = found.group(2)
            if with_page:
                browser = open_page(found.group(1))
                if screenshot:      # while the line runs
                    timer = threading.Timer(0.8 * frames / rate, save_screenshot,
                                            (browser, screenshot))
                    timer.start()
            break
    output.extend(demo.stdout)
    demo.wait()
    if timer is not None:
        timer.join()
    if browser is not None:
        browser.quit()
    text = ''.join(output)
    missed = re.search(r'every reject fired in time: (\d+) rejects, (\d+) missed', text)
    late = np.array(lateness_ms(database)) if database else np.array([])
    return {'page': 'open' if with_page else 'closed', 'rejects': missed.group(1),
            'missed': missed.group(2), 'result': 'PASS' if 'result: PASS' in text else 'FAIL',
            'fired': len(late),
            'p50': np.percentile(late, 50) if len(late) else float('nan'),
            'p99': np.percentile(late, 99) if len(late) else float('nan'),
            'max': late.max() if len(late) else float('nan'),
            'load': ' '.join(open('/proc/loadavg').read().split()[:3])}


def soak(seconds: float, rate: float, sample_s: float) -> None:
    """One demo run with the page open for `seconds`; print the memory every `sample_s`."""
    demo = subprocess.Popen(
        [sys.executable, '-m', 'acnn_ros.cli', 'demo', '--hmi', '0', '--frames', '0',
         '--duration', str(seconds), '--rate', str(rate), '--quiet'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found = None
    for line in demo.stdout:
        found = URL_LINE.search(line)
        if found:
            break
    threading.Thread(target=lambda: [None for _ in demo.stdout], daemon=True).start()
    browser = open_page(found.group(1))
    profile = browser.capabilities['chrome']['userDataDir']
    hmi_pid = pids_with(f'database:={found.group(2)}')[0]
    print('| t (s) | hmi_node RSS (MiB) | Chromium RSS (MiB) | JS heap (MiB) | DOM elements | '
          'page updates | parts shown | load average |')
    print('|---|---|---|---|---|---|---|---|')
    start = time.monotonic()
    while demo.poll() is None and time.monotonic() - start < seconds - 2:
        time.sleep(min(sample_s, max(0.0, seconds - 2 - (time.monotonic() - start))))
        page = browser.execute_script(
            'return {heap: performance.memory.usedJSHeapSize, dom: '
            'document.getElementsByTagName("*").length, updates: window.hmiPage.updates, '
            'parts: document.getElementById("parts").textContent}')
        chromium = sum(rss_mib(pid) for pid in pids_with(profile))
        print(f'| {time.monotonic() - start:.0f} | {rss_mib(hmi_pid):.1f} | {chromium:.0f} | '
              f"{page['heap'] / 2**20:.1f} | {page['dom']} | {page['updates']} | "
              f"{page['parts']} | {' '.join(open('/proc/loadavg').read().split()[:3])} |",
              flush=True)
    browser.quit()
    demo.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--runs', type=int, default=2, help='runs of each kind (alternating)')
    parser.add_argument('--frames', type=int, default=300)
    parser.add_argument('--rate', type=float, default=10.0)
    parser.add_argument('--screenshot', default='')
    parser.add_argument('--soak', type=float, default=0.0, help='seconds of one soak run')
    parser.add_argument('--sample-s', type=float, default=60.0)
    args = parser.parse_args()
    if args.soak:
        print(f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, {os.cpu_count()} CPUs; '
              f'acnn demo --hmi 0 --duration {args.soak:g} --rate {args.rate:g}, page open')
        soak(args.soak, args.rate, args.sample_s)
        return 0
    print(f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, {os.cpu_count()} CPUs; '
          f'acnn demo --hmi 0 --frames {args.frames} --rate {args.rate:g}')
    print('| page | rejects | missed | fired | lateness p50 / p99 / max (ms) | demo | '
          'load average |')
    print('|---|---|---|---|---|---|---|')
    for run in range(2 * args.runs):
        with_page = run % 2 == 1
        row = run_once(args.frames, args.rate, with_page,
                       args.screenshot if with_page and run == 2 * args.runs - 1 else '')
        print(f"| {row['page']} | {row['rejects']} | {row['missed']} | {row['fired']} | "
              f"{row['p50']:.2f} / {row['p99']:.2f} / {row['max']:.2f} | {row['result']} | "
              f"{row['load']} |", flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
