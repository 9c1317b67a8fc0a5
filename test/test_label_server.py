# SPDX-License-Identifier: Apache-2.0
"""`acnn label`'s HTTP JSON API and CLI over real sockets on 127.0.0.1 (page: test_label_page)."""
import http.client
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from acnn_ros.core.dataset.label_session import SESSION_FILE
from acnn_ros.core.dataset.labels import read_yolo_label
from acnn_ros.offline.label_server import LabelServer, page_html
import cv2
import numpy as np
import pytest

CLASSES = ['good', 'bad', 'odd']


@pytest.fixture
def data(tmp_path):
    """Thirty 64x48 frames in three classes, labels with the class only."""
    (tmp_path / 'classes.txt').write_text('\n'.join(CLASSES) + '\n')
    for d in ('images', 'labels'):
        (tmp_path / d / 'train').mkdir(parents=True)
    for i in range(30):
        stem = f'{CLASSES[i % 3]}_{i:03d}'
        cv2.imwrite(str(tmp_path / 'images' / 'train' / f'{stem}.png'),
                    np.full((48, 64, 3), i, np.uint8))
        (tmp_path / 'labels' / 'train' / f'{stem}.txt').write_text(f'{i % 3}\n')
    return tmp_path


def _get(server, path):
    with urlopen(server.url + path.lstrip('/'), timeout=5) as reply:
        return reply.headers['Content-Type'], reply.read()


def _post(server, path, body):
    request = Request(server.url + path.lstrip('/'), data=json.dumps(body).encode(),
                      headers={'Content-Type': 'application/json'}, method='POST')
    with urlopen(request, timeout=5) as reply:
        return json.loads(reply.read())


def test_page_is_one_file_without_external_assets():
    html = page_html().decode('utf-8')
    assert '<script>' in html and '<style>' in html
    for external in ('src="http', "src='http", 'href="http', '<link', 'src="//', '@import',
                     'url('):
        assert external not in html, external


def test_api_labels_skips_undoes_and_keeps_the_class(data):
    with LabelServer(data, count=6) as server:
        assert server.url.startswith('http://127.0.0.1:') and server.port > 0
        kind, body = _get(server, '/')
        assert kind.startswith('text/html') and b'window.labelPage' in body
        state = json.loads(_get(server, '/api/state')[1])
        assert state['total'] == 6 and state['done'] == 0
        assert {f['class_name'] for f in state['frames']} == set(CLASSES)
        frame = json.loads(_get(server, '/api/frame?i=0')[1])
        assert frame['proposal_source'] == 'centre'
        assert frame['proposal'] == pytest.approx([0.5, 0.5, 0.1, 0.1])
        kind, png = _get(server, '/api/image?i=0')
        assert kind == 'image/png' and cv2.imdecode(np.frombuffer(png, np.uint8), 1).shape \
            == (48, 64, 3)

        stem = frame['stem']
        image = data / 'images' / 'train' / f'{stem}.png'
        reply = _post(server, '/api/label', {'index': 0, 'box': [0.2, 0.3, 0.25, 0.5]})
        assert reply['ok'] and reply['done'] == 1
        assert reply['tally'][frame['class_name']] == 1
        label = read_yolo_label(image)
        assert label.class_id == CLASSES.index(stem.split('_')[0])
        assert label.box == pytest.approx((0.2, 0.3, 0.25, 0.5))
        # The class's mean box is now the proposal of its other frames.
        same = next(f for f in state['frames'][1:] if f['class_name'] == frame['class_name'])
        other = json.loads(_get(server, f'/api/frame?i={same["index"]}')[1])
        assert other['proposal_source'] == 'class_mean'
        assert other['proposal'] == pytest.approx([0.2, 0.3, 0.25, 0.5])
        # Relabel (box clamped into the frame), skip another, undo both in turn.
        reply = _post(server, '/api/label', {'index': 0, 'box': [0.99, 0.5, 0.1, 0.1]})
        assert reply['box'] == pytest.approx([0.95, 0.5, 0.1, 0.1])
        assert _post(server, '/api/skip', {'index': 1})['skipped'] == 1
        assert _post(server, '/api/undo', {})['index'] == 1
        assert _post(server, '/api/undo', {})['index'] == 0
        assert read_yolo_label(image).box == pytest.approx((0.2, 0.3, 0.25, 0.5))
        reply = _post(server, '/api/undo', {})
        assert reply['index'] == 0 and reply['done'] == 0
        assert read_yolo_label(image).box is None
        assert (data / 'labels' / 'train' / f'{stem}.txt').read_text() == label_text(stem)
        assert _post(server, '/api/undo', {})['index'] is None

        for path, body in (('/api/label', {'index': 99, 'box': [0.5, 0.5, 0.1, 0.1]}),
                           ('/api/label', {'index': 0, 'box': [0.5, 0.5]}),
                           ('/api/skip', {})):
            with pytest.raises(HTTPError) as error:
                _post(server, path, body)
            assert error.value.code == 400 and json.loads(error.value.read())['error']
        with pytest.raises(HTTPError) as error:
            _get(server, '/nothing')
        assert error.value.code == 404
        connection = http.client.HTTPConnection('127.0.0.1', server.port, timeout=5)
        connection.request('GET', '/api/state', headers={'Host': 'evil.example:80'})
        assert connection.getresponse().status == 403
        connection.close()
    session = json.loads((data / SESSION_FILE).read_text())
    assert len(session['chosen']) == 6 and session['done'] == {} and session['skipped'] == []


def label_text(stem):
    """Return the class-only label the fixture wrote for a frame."""
    return f'{CLASSES.index(stem.split("_")[0])}\n'


def _start_cli(data):
    """Start `acnn label DATA --fraction 0.1 --no-browser`; return it and its first two lines."""
    command = [sys.executable, '-m', 'acnn_ros.cli', 'label', str(data), '--fraction', '0.1',
               '--no-browser']
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=dict(os.environ, PYTHONUNBUFFERED='1'),
                               cwd=str(Path(__file__).resolve().parents[1]))
    return process, [process.stdout.readline(), process.stdout.readline()]


def _interrupt(process):
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=20)
    assert process.returncode == 0, out
    return out


def test_cli_serves_until_interrupted_and_resumes(data):
    process, lines = _start_cli(data)
    try:
        assert lines[0].startswith('new session') and '3 frames to box of 30' in lines[0], lines
        url = lines[1].split()[2]
        assert url.startswith('http://127.0.0.1:'), lines
        with urlopen(url + 'api/state', timeout=5) as reply:
            assert json.loads(reply.read())['total'] == 3
        request = Request(url + 'api/label', method='POST',
                          data=json.dumps({'index': 2, 'box': [0.5, 0.5, 0.2, 0.2]}).encode())
        urlopen(request, timeout=5).close()
    finally:
        out = _interrupt(process)
    assert '1 of 3 frames boxed, 0 skipped' in out
    process, lines = _start_cli(data)
    _interrupt(process)
    assert lines[0].startswith('resumed session') and '(1 done, 0 skipped)' in lines[0], lines
