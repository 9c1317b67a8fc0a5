# SPDX-License-Identifier: Apache-2.0
"""
`acnn demo --hmi 0`: the whole line with the operator's page (hmi_node in its own process).

The demo prints the page's URL and its shift database; at the end of the run the database
holds one row per part the demo reconciled, accepted and rejected as the demo counted them.
"""
import json
import re
import sys
import urllib.request

from acnn_ros.core.shift.store import ShiftStore
from acnn_ros.core.shift.tally import ShiftTally
import pytest
from ros_processes import NodeProcess, REPO_DIR

FRAMES = 60

pytestmark = pytest.mark.timeout(240)


def test_demo_serves_the_page_and_records_every_part(own_domain_env):
    demo = NodeProcess([sys.executable, '-m', 'acnn_ros.cli', 'demo', '--frames', str(FRAMES),
                        '--plc', 'none', '--hmi', '0', '--quiet'], cwd=REPO_DIR,
                       environ=own_domain_env)
    line = demo.wait_for_line('operator page: http', 60)
    assert line, demo.output
    url, database = re.search(r'(http://127\.0\.0\.1:\d+/) \(hmi_node; shift database (\S+)\)',
                              line).groups()
    with urllib.request.urlopen(url + 'api/state', timeout=20) as response:
        assert response.status == 200 and 'counters' in json.loads(response.read())
    assert demo.wait(180) == 0, demo.output
    summary = re.findall(r'decisions (\d+): (\d+) accept, (\d+) reject', demo.output)[-1]
    decisions, accepted, rejected = (int(n) for n in summary)
    assert decisions == FRAMES and 'result: PASS' in demo.output
    store = ShiftStore(database, 'demo')
    try:
        counters = ShiftTally.from_store(store, store.latest_shift()).counters()
    finally:
        store.close()
    assert (counters['parts'], counters['good'], counters['rejected']) == \
        (decisions, accepted, rejected)
