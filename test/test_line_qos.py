# SPDX-License-Identifier: Apache-2.0
"""
The per-part topics' QoS (acnn_ros/nodes/line_qos.py) survives a subscriber stalled for 5 s.

camera_node, in a process of its own, publishes 1000 part triggers at 100 Hz (10 s); a `part`
subscriber in another process (test/clients/stalled_part_subscriber.py, the line's QoS) stalls
for 5 s in the middle: either its callback blocks (the executor takes nothing: the reader's
history must hold the triggers) or the whole process is stopped with SIGSTOP (no DDS thread
runs, nothing is acknowledged: the camera's writer history must hold them for the resend).
It must receive every trigger, in order, once. With the previous depth of 100 (1 s at 100 Hz)
about 400 of the 1000 were lost in both modes (docs/LINE_INTEGRATION.md). A subscriber that
joins late is handed the triggers published before it matched only when it asks for them
(LATE_JOINER_QOS: the soak's observer); the line's own subscribers (volatile) never are.
"""
import json
import signal
import time

from acnn_ros.nodes.line_qos import (LINE_RATE_SIZED_HZ, PER_PART_DEPTH, PER_PART_PUBLISHER_QOS,
                                     PER_PART_QOS, STALL_SURVIVED_S)
import pytest
from rclpy.qos import DurabilityPolicy
from ros_client import RosClient
from ros_processes import NodeProcess
from std_srvs.srv import SetBool

pytestmark = pytest.mark.timeout(120)

RATE_HZ = 100.0
PARTS = 1000          # 10 s at 100 Hz
STALL_S = 5.0


def test_the_history_covers_the_sized_rate_times_the_stall():
    assert PER_PART_DEPTH >= LINE_RATE_SIZED_HZ * STALL_SURVIVED_S
    assert LINE_RATE_SIZED_HZ >= RATE_HZ and STALL_SURVIVED_S >= STALL_S
    assert PER_PART_QOS.durability == DurabilityPolicy.VOLATILE
    assert PER_PART_PUBLISHER_QOS.durability == DurabilityPolicy.TRANSIENT_LOCAL


def test_only_a_late_joiner_is_handed_the_parts_published_before_it_matched(own_domain_env):
    camera = NodeProcess.node(
        'camera_node', '-p', 'source:=synthetic', '-p', f'frame_rate_hz:={RATE_HZ}',
        '-p', 'synthetic_pool_size:=8', '-p', 'line_wait_s:=0.0', '-p', 'max_frames:=50')
    late = []
    try:
        assert camera.wait_for_log('max_frames=50 reached', 40), camera.output
        late += [NodeProcess.script('stalled_part_subscriber', 'none', '0', '0', '50', wait_s,
                                    qos) for qos, wait_s in (('late_joiner', '20'), ('line', '5'))]
        lines = [client.wait_for_line('RECEIVED', 40) for client in late]
        assert all(lines), '\n'.join(client.output for client in late)
    finally:
        code = camera.interrupt(10.0)
        for client in late:
            client.wait(10)
    joiner, line = (json.loads(text.split(' ', 1)[1])['ids'] for text in lines)
    assert joiner == list(range(1, 51))      # the observer: every part, from the history
    assert line == []                         # a (re)started node: none of the old parts
    assert code == 0, camera.output


@pytest.mark.parametrize('stall', ['callback', 'process_stopped'])
def test_a_subscriber_stalled_for_5_s_at_100_hz_receives_every_part(own_domain_env, stall):
    subscriber = NodeProcess.script(
        'stalled_part_subscriber', 'callback' if stall == 'callback' else 'none', '200',
        str(STALL_S), str(PARTS), '60')
    camera = NodeProcess.node(
        'camera_node', '-p', 'source:=synthetic', '-p', f'frame_rate_hz:={RATE_HZ}',
        '-p', 'synthetic_pool_size:=8', '-p', 'enabled:=false', '-p', 'line_wait_s:=0.0',
        '-p', f'max_frames:={PARTS}')
    client = RosClient('line_qos_test')
    try:
        assert subscriber.wait_for_line('READY', 40), subscriber.output + camera.output
        time.sleep(1.0)           # let the endpoints' matching settle before the first part
        assert client.call(SetBool, '/camera_node/enable', SetBool.Request(data=True)).success
        started = time.time()
        if stall == 'process_stopped':
            time.sleep(2.0)
            subscriber.process.send_signal(signal.SIGSTOP)
            stopped = time.time()
            time.sleep(STALL_S)
            subscriber.process.send_signal(signal.SIGCONT)
            stall_window = [stopped, time.time()]
        line = subscriber.wait_for_line('RECEIVED', 60)
        assert line, subscriber.output + camera.output
        assert camera.wait_for_log(f'max_frames={PARTS} reached', 10), camera.output
        published_in = time.time() - started
    finally:
        subscriber.process.send_signal(signal.SIGCONT)
        client.close()
        subscriber.wait(10)
        camera_code = camera.interrupt(10.0)
    received = json.loads(line.split(' ', 1)[1])
    ids = received['ids']
    missing = sorted(set(range(1, PARTS + 1)) - set(ids))
    assert not missing, f'{len(missing)} parts lost, first {missing[:10]}'
    assert ids == list(range(1, PARTS + 1)), 'a part received twice or out of order'
    if stall == 'callback':
        stall_window = received['stall']
        assert stall_window[1] - stall_window[0] >= STALL_S
    # The stall was real: more parts were captured during it than the old depth (100) held.
    during = sum(1 for t in received['stamps'] if stall_window[0] <= t <= stall_window[1])
    assert during > 300, (during, published_in)
    assert camera_code == 0, camera.output
