# SPDX-License-Identifier: Apache-2.0
"""
The operator page's server without ROS.

A real aiohttp server on 127.0.0.1, a real SQLite file, the real reject archive writing the
pictures; HTTP and WebSocket from aiohttp's client.

Token: a request without it is refused (401), with it (header, query then cookie) served; a
bind address that is not loopback without a token is refused by the configuration. Without a
token, a Host that is not loopback is refused. Actions are JSON POSTs; a reset needs
{"confirm": true}, starts a new shift and is written to the audit log.
"""
import asyncio
import json
import logging

from acnn_ros.core.hmi.archive_images import ArchiveImages
from acnn_ros.core.hmi.config import HmiConfig, is_loopback
from acnn_ros.core.hmi.live_state import in_namespace, LiveState
from acnn_ros.core.hmi.operator_actions import OperatorActions
from acnn_ros.core.hmi.web_server import HmiWebServer, TOKEN_COOKIE, TOKEN_HEADER
from acnn_ros.core.reject.archive import RejectArchive
from acnn_ros.core.shift.rows import part_row
from acnn_ros.core.shift.store import ShiftStore
from acnn_ros.core.shift.tally import ShiftTally
import aiohttp
from hmi_support import archive_record, frame
import pytest
from test_shift_store import reject_event, T0_NS

TOKEN = 'line-7-secret-token'

pytestmark = pytest.mark.timeout(60)


class Page:
    """A served page over a fresh database, with its archive; `get` / `post` / `socket`."""

    def __init__(self, tmp_path, token=''):
        self.store = ShiftStore(str(tmp_path / 'shift.sqlite'), 'station1')
        shift = self.store.current_shift(1.0)
        self.state = LiveState(ShiftTally.from_store(self.store, shift))
        self.archive = RejectArchive(str(tmp_path / 'archive'), max_items=10)
        self.actions = OperatorActions(self.store, self.state, 24, logging.getLogger('test'))
        self.server = HmiWebServer(self.state, ArchiveImages(str(tmp_path / 'archive')),
                                   self.actions, '127.0.0.1', 0, token, push_period_s=0.02)
        self.url = self.server.start()

    def add(self, part_id, reason):
        row = part_row(reject_event(part_id, reason), self.state.shift_id)
        self.store.add_parts([row])
        self.state.add_part(row)
        if reason:
            self.archive.submit(archive_record(part_id, row['stamp_ns']),
                                lambda: frame(part_id))
        return row

    def close(self):
        self.server.stop()
        self.archive.close()
        self.store.close()


async def _request(method, url, **kwargs):
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, **kwargs) as response:
            return response.status, await response.read(), response.headers


def request(method, url, **kwargs):
    return asyncio.run(_request(method, url, **kwargs))


@pytest.fixture
def page(tmp_path):
    served = Page(tmp_path)
    yield served
    served.close()


def test_configuration_needs_a_token_off_loopback():
    assert is_loopback('127.0.0.1') and is_loopback('::1') and is_loopback('localhost')
    assert not is_loopback('0.0.0.0') and not is_loopback('192.168.10.4')
    with pytest.raises(ValueError, match='set a token'):
        HmiConfig(bind_address='0.0.0.0')
    with pytest.raises(ValueError, match='12 characters'):
        HmiConfig(bind_address='0.0.0.0', token='short')
    assert HmiConfig(bind_address='0.0.0.0', token=TOKEN).token == TOKEN
    config = HmiConfig.from_values({'port': 0, 'watched_nodes': ['a', ''], 'gallery_size': 5})
    assert (config.port, config.watched_nodes, config.gallery_size) == (0, ('a',), 5)


def test_statuses_of_the_own_line_only():
    assert in_namespace('/line1/reject_actuator_node: reject actuator', '/line1')
    assert not in_namespace('/line2/reject_actuator_node: reject actuator', '/line1')
    assert not in_namespace('/line10/camera_node: camera', '/line1')
    assert in_namespace('/line2/camera_node: camera', '/')


def test_unauthenticated_request_refused(tmp_path):
    served = Page(tmp_path, token=TOKEN)
    try:
        for path in ('', 'api/state', 'ws', 'image/1/1/frame.jpg'):
            status, body, _ = request('GET', served.url + path)
            assert status == 401, (path, status, body)
        status, _, _ = request('POST', served.url + 'api/reset', json={'confirm': True})
        assert status == 401
        status, _, _ = request('GET', served.url + 'api/state', headers={TOKEN_HEADER: 'x' * 19})
        assert status == 401
        assert served.state.tally.shift_id == 1            # nothing was reset
        status, body, _ = request('GET', served.url + 'api/state', headers={TOKEN_HEADER: TOKEN})
        assert status == 200 and json.loads(body)['counters']['parts'] == 0
        status, body, headers = request('GET', served.url + f'?token={TOKEN}')
        assert status == 200 and b'<title>acnn_ros line</title>' in body
        assert f'{TOKEN_COOKIE}={TOKEN}' in headers['Set-Cookie']
        status, _, _ = request('GET', served.url + 'api/state', cookies={TOKEN_COOKIE: TOKEN})
        assert status == 200
    finally:
        served.close()


def test_foreign_host_refused_without_token(page):
    status, _, _ = request('GET', page.url + 'api/state', headers={'Host': 'evil.example:80'})
    assert status == 403
    assert request('GET', page.url + 'api/state')[0] == 200


def test_page_has_no_external_assets(page):
    status, body, _ = request('GET', page.url)
    html = body.decode()
    assert status == 200 and '<script>' in html and '<style>' in html
    for external in ('src="http', "src='http", 'href="http', '@import', 'cdn.', '//fonts'):
        assert external not in html


def test_state_images_and_live_updates(page):
    rows = [page.add(i, reason) for i, reason in enumerate([0, 1, 0, 2, 6], start=1)]
    page.archive.flush()
    status, body, _ = request('GET', page.url + 'api/state')
    state = json.loads(body)
    assert state['counters']['parts'] == 5 and state['counters']['rejected'] == 3
    assert [g['part_id'] for g in state['gallery']] == [5, 4, 2]       # newest first
    assert b'base64' not in body and len(body) < 8000                 # URLs only, no data
    key = state['gallery'][-1]['key']
    assert key == f'{rows[1]["stamp_ns"]}/2'
    status, jpeg, headers = request('GET', page.url + f'image/{key}/frame.jpg')
    assert status == 200 and headers['Content-Type'] == 'image/jpeg' and jpeg[:2] == b'\xff\xd8'
    status, roi, _ = request('GET', page.url + f'image/{key}/roi.jpg')
    assert status == 200 and roi[:2] == b'\xff\xd8' and len(roi) < len(jpeg)
    assert request('GET', page.url + f'image/{T0_NS}/99/frame.jpg')[0] == 404

    async def watch():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(page.url + 'ws') as ws:
                first = json.loads((await ws.receive(timeout=5)).data)
                page.add(6, 1)
                second = json.loads((await ws.receive(timeout=5)).data)
                return first, second
    first, second = asyncio.run(watch())
    assert first['counters']['parts'] == 5 and second['counters']['parts'] == 6
    assert second['gallery'][0]['part_id'] == 6 and second['version'] > first['version']


def test_reset_and_acknowledge_are_audited(page):
    page.add(1, 1)
    assert request('POST', page.url + 'api/reset', data='confirm=true')[0] == 415
    assert request('POST', page.url + 'api/reset', json={})[0] == 400
    assert page.state.tally.parts == 1
    status, body, _ = request('POST', page.url + 'api/reset', json={'confirm': True})
    assert status == 200 and json.loads(body)['before'].startswith('shift 1: 1 parts')
    assert page.state.tally.parts == 0 and page.state.shift_id == 2
    assert page.store.current_shift(2.0) == 2
    page.state.set_status('/line/reject_actuator_node: reject actuator', 2, 'PLC link lost',
                          'modbus', {})
    status, body, _ = request('POST', page.url + 'api/acknowledge', json={})
    assert json.loads(body)['acknowledged'] == ['/line/reject_actuator_node: reject actuator']
    assert page.state.faults()[0]['acknowledged'] is not None
    page.state.set_status('/line/reject_actuator_node: reject actuator', 0, 'ok', 'modbus', {})
    assert page.state.faults() == []
    actions = page.store.actions()
    assert [a['action'] for a in actions] == ['acknowledge', 'reset']
    assert 'PLC link lost' in actions[0]['detail']
    assert 'page client 127.0.0.1' in actions[1]['detail']
