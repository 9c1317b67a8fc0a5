# SPDX-License-Identifier: Apache-2.0
"""bag_player_node and result_recorder_node as separate processes over real DDS."""
import json
import time

from acnn_ros.core.messages import frame_key
from acnn_ros.core.replay import bag_io
import numpy as np
import pytest
from ros_processes import NodeProcess
import yaml

START_NS = 1_700_000_000_000_000_000
PERIOD_NS = 100_000_000     # 10 Hz


@pytest.fixture(autouse=True)
def _own_domain(own_domain_env):
    """Each test in a DDS domain of its own: a parallel run's `image` cannot reach it."""


def make_bag(path, count=6):
    """Write `count` small frames whose first pixel is the frame number, 10 Hz stamps."""
    with bag_io.BagWriter(path) as writer:
        for i in range(count):
            image = np.full((48, 64, 3), i, np.uint8)
            stamp = START_NS + i * PERIOD_NS
            writer.write('image', bag_io.image_message(image, stamp, 'cam'), stamp)
    return path


def start_node(name, params):
    args = [f'{key}:={json.dumps(value) if isinstance(value, list) else value}'
            for key, value in params.items()]
    return NodeProcess.node(name, *[part for arg in args for part in ('-p', arg)])


def play(bag, tmp_path, expect_frames=None, timeout_s=30.0, result_subscribers=0, **params):
    """
    Run a responder (unless expect_frames is None) and the player; return both outputs.

    The responder (test/clients/bag_responder.py) stands in for inference_node.
    """
    responder = None
    if expect_frames is not None:
        responder = NodeProcess.script('bag_responder', str(expect_frames),
                                       str(result_subscribers))
        assert responder.wait_for_line('READY', 60) is not None, responder.output
        assert responder.lines[0] == 'READY', responder.output
    summary = tmp_path / f'summary_{time.monotonic_ns()}.json'
    player = start_node('bag_player_node', dict(
        {'bag_path': str(bag), 'summary_path': str(summary),
         'qos_reliability': 'reliable'}, **params))
    player_out = player.finish(timeout_s)
    assert player.returncode == 0, player_out
    seen = None
    if responder is not None:
        out = responder.finish(30)
        lines = [line for line in out.splitlines() if line.startswith('SEEN ')]
        assert lines, out
        seen = json.loads(lines[0][5:])
    return json.loads(summary.read_text()), seen, player_out


def test_lockstep_gives_every_frame_exactly_one_result_with_part_triggers(tmp_path):
    bag = make_bag(tmp_path / 'bag')
    stats, seen, _ = play(bag, tmp_path, 6, pace='lockstep', publish_part_triggers=True)
    assert (stats['published'], stats['results'], stats['missing'], stats['duplicates'],
            stats['unmatched'], stats['error']) == (6, 6, 0, 0, 0, '')
    headers = [[START_NS + i * PERIOD_NS, 'cam'] for i in range(6)]
    assert seen['frames'] == [h + [i] for i, h in enumerate(headers)]   # bag order, no restamp
    assert seen['parts'] == [h + [i + 1] for i, h in enumerate(headers)]


def test_original_pace_keeps_the_recorded_spacing_times_the_rate(tmp_path):
    bag = make_bag(tmp_path / 'bag')     # 0.5 s from first to last frame
    slow, seen, _ = play(bag, tmp_path, 6, pace='original', rate=0.5)
    assert slow['published'] == 6 and slow['results'] == 6
    assert 0.95 <= slow['elapsed_s'] < 4.0, slow
    assert [f[2] for f in seen['frames']] == list(range(6))
    fast, _, _ = play(bag, tmp_path, 6, pace='original', rate=10.0)
    assert fast['results'] == 6 and fast['elapsed_s'] < slow['elapsed_s'] - 0.5


def test_restamp_moves_headers_to_now_and_keeps_frame_ids(tmp_path):
    bag = make_bag(tmp_path / 'bag', 4)
    before = time.time_ns()
    stats, seen, _ = play(bag, tmp_path, 4, pace='lockstep', restamp=True,
                          publish_part_triggers=True)
    stamps = [f[0] for f in seen['frames']]
    assert stats['results'] == 4 and stats['missing'] == 0
    assert all(before <= s <= time.time_ns() for s in stamps)
    assert stamps == sorted(stamps) and {f[1] for f in seen['frames']} == {'cam'}
    assert [p[:2] for p in seen['parts']] == [f[:2] for f in seen['frames']]


def test_player_finishes_at_the_end_of_the_bag_without_a_graph(tmp_path):
    bag = make_bag(tmp_path / 'bag')
    start = time.monotonic()
    stats, _, out = play(bag, tmp_path, None, pace='fast', wait_for_subscribers_s=0.3,
                         result_timeout_s=0.3)
    assert time.monotonic() - start < 15.0
    assert (stats['published'], stats['results'], stats['missing']) == (6, 0, 6)
    assert 'no subscriber on /image' in out and 'replay finished' in out


def test_player_reports_bad_parameters_clearly(tmp_path):
    player = start_node('bag_player_node', {'bag_path': str(tmp_path / 'nothing')})
    out = player.finish(20)
    assert player.returncode == 2 and 'bag not found' in out, out
    bag = make_bag(tmp_path / 'bag', 1)
    for params, message in (({'rate': 0.0}, 'rate'), ({'pace': 'turbo'}, 'pace must be one of')):
        player = start_node('bag_player_node', dict(params, bag_path=str(bag)))
        out = player.finish(20)
        assert player.returncode == 2 and message in out and 'Traceback' not in out, out


def test_recorder_writes_results_and_images_into_a_bag_closed_on_ctrl_c(tmp_path):
    bag = make_bag(tmp_path / 'bag')
    recorded = tmp_path / 'recorded'
    recorder = start_node('result_recorder_node', {
        'bag_path': str(recorded), 'record_image': True, 'storage': 'mcap'})
    line = recorder.wait_for_line('recording', 15.0) or ''
    assert 'recording /inspection, /reject, /part, /image' in line, line
    # The recorder subscribes to images once it sees their publisher (to take its QoS, like
    # ros2 bag record): the player waits for it as a second image subscriber.
    stats, seen, _ = play(bag, tmp_path, 6, pace='lockstep', publish_part_triggers=True,
                          min_image_subscribers=2, min_part_subscribers=2,
                          result_subscribers=1)
    assert stats['results'] == 6
    time.sleep(0.5)
    recorder.interrupt(timeout_s=20)
    out = recorder.output
    assert recorder.returncode == 0, out
    assert 'closed' in out
    topics = bag_io.bag_topics(recorded)
    assert {name: t.count for name, t in topics.items()} == {
        '/image': 6, '/part': 6, '/inspection': 6}, out
    results = [m.msg for m in bag_io.iter_messages(recorded, ['inspection'])]
    assert [frame_key(r.header) for r in results] == \
        [(START_NS + i * PERIOD_NS, 'cam') for i in range(6)]
    frames = list(bag_io.iter_image_frames(recorded))
    assert [int(f.decode()[0, 0, 0]) for f in frames] == list(range(6))
    info = yaml.safe_load((recorded / 'metadata.yaml').read_text())
    qos = {t['topic_metadata']['name']: t['topic_metadata']['offered_qos_profiles'][0]
           for t in info['rosbag2_bagfile_information']['topics_with_message_count']}
    # The publishers' offered QoS, as ros2 bag record stores it.
    assert qos['/inspection']['reliability'] == 'reliable'
    assert qos['/image']['reliability'] == 'reliable'     # the player ran qos_reliability=reliable
    assert qos['/part']['history'] == 'unknown' and qos['/part']['depth'] == 0


def test_recorder_refuses_to_overwrite_a_bag(tmp_path):
    bag = make_bag(tmp_path / 'bag', 1)
    recorder = start_node('result_recorder_node', {'bag_path': str(bag)})
    out = recorder.finish(20)
    assert recorder.returncode == 2 and 'exists already' in out, out
