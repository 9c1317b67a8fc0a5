# SPDX-License-Identifier: Apache-2.0
"""bag_player_node and result_recorder_node as separate processes over real DDS."""
import json
import os
import signal
import subprocess
import sys
import time

from acnn_ros.core.messages import frame_key
from acnn_ros.core.replay import bag_io
import numpy as np
from ros_processes import finish, REPO_DIR, start_python
import yaml

# A DDS domain of these tests' own, outside the 10..99 that conftest and scripts/test.sh pick
# for whole runs, so a parallel run's `inspection` or `image` cannot reach these processes.
DOMAIN_ENV = {'ROS_DOMAIN_ID': str(100 + os.getpid() % 100)}
START_NS = 1_700_000_000_000_000_000
PERIOD_NS = 100_000_000     # 10 Hz

# Stands in for inference_node: answers every frame with a result carrying its header, then
# prints the headers of the frames and the part triggers it saw. With a second argument it is
# READY only once that many subscribers (a recorder) match its results: a result published
# before discovery completes is lost to them (seen once on a loaded machine).
RESPONDER = """
import json, sys
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image
from acnn_ros.msg import InspectionResult, PartTrigger

expected = int(sys.argv[1])
rclpy.init()
node = Node('fake_inference')
results = node.create_publisher(InspectionResult, 'inspection', QoSProfile(depth=100))
frames, parts = [], []
def on_image(msg):
    frames.append([msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec, msg.header.frame_id,
                   int(msg.data[0])])
    results.publish(InspectionResult(header=msg.header, class_name='x', confidence=1.0))
node.create_subscription(PartTrigger, 'part', lambda m: parts.append(
    [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, m.header.frame_id, m.part_id]),
    QoSProfile(depth=100))
node.create_subscription(Image, 'image', on_image, QoSProfile(depth=100))
wait_end = node.get_clock().now().nanoseconds + 15 * 10**9
while results.get_subscription_count() < int((sys.argv[2:] or [0])[0]) and \
        node.get_clock().now().nanoseconds < wait_end:
    rclpy.spin_once(node, timeout_sec=0.05)
print('READY', flush=True)
end = node.get_clock().now().nanoseconds + 25 * 10**9
while len(frames) < expected and node.get_clock().now().nanoseconds < end:
    rclpy.spin_once(node, timeout_sec=0.1)
for _ in range(10):
    rclpy.spin_once(node, timeout_sec=0.05)
print('SEEN ' + json.dumps({'frames': frames, 'parts': parts}), flush=True)
node.destroy_node()
rclpy.shutdown()
"""


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
    command = [sys.executable, '-m', f'acnn_ros.nodes.{name}', '--ros-args']
    for arg in args:
        command += ['-p', arg]
    return subprocess.Popen(command, cwd=str(REPO_DIR), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, **DOMAIN_ENV))


def play(bag, tmp_path, expect_frames=None, timeout_s=30.0, result_subscribers=0, **params):
    """Run a responder (unless expect_frames is None) and the player; return both outputs."""
    responder = None
    if expect_frames is not None:
        responder = start_python(RESPONDER, [str(expect_frames), str(result_subscribers)],
                                 env=DOMAIN_ENV)
        assert responder.stdout.readline().strip() == 'READY'
    summary = tmp_path / f'summary_{time.monotonic_ns()}.json'
    player = start_node('bag_player_node', dict(
        {'bag_path': str(bag), 'summary_path': str(summary),
         'qos_reliability': 'reliable'}, **params))
    player_out = finish(player, timeout_s)
    assert player.returncode == 0, player_out
    seen = None
    if responder is not None:
        out = finish(responder, 30)
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
    out = finish(player, 20)
    assert player.returncode == 2 and 'bag not found' in out, out
    bag = make_bag(tmp_path / 'bag', 1)
    for params, message in (({'rate': 0.0}, 'rate'), ({'pace': 'turbo'}, 'pace must be one of')):
        player = start_node('bag_player_node', dict(params, bag_path=str(bag)))
        out = finish(player, 20)
        assert player.returncode == 2 and message in out and 'Traceback' not in out, out


def test_recorder_writes_results_and_images_into_a_bag_closed_on_ctrl_c(tmp_path):
    bag = make_bag(tmp_path / 'bag')
    recorded = tmp_path / 'recorded'
    recorder = start_node('result_recorder_node', {
        'bag_path': str(recorded), 'record_image': True, 'storage': 'mcap'})
    deadline = time.monotonic() + 15.0
    line = ''
    while 'recording' not in line and time.monotonic() < deadline:
        line = recorder.stdout.readline()
    assert 'recording /inspection, /reject, /part, /image' in line, line
    # The recorder subscribes to images once it sees their publisher (to take its QoS, like
    # ros2 bag record): the player waits for it as a second image subscriber.
    stats, seen, _ = play(bag, tmp_path, 6, pace='lockstep', publish_part_triggers=True,
                          min_image_subscribers=2, min_part_subscribers=2,
                          result_subscribers=1)
    assert stats['results'] == 6
    time.sleep(0.5)
    recorder.send_signal(signal.SIGINT)
    out = finish(recorder, 20)
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
    out = finish(recorder, 20)
    assert recorder.returncode == 2 and 'exists already' in out, out
