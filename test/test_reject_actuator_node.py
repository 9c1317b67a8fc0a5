# SPDX-License-Identifier: Apache-2.0
"""
reject_actuator_node in its own process over real DDS, driving a real pymodbus PLC simulator.

A client process publishes PartTrigger + InspectionResult (+ Image for the archive) for a
handful of parts and reads back RejectEvent and ~/counters; the test checks what the simulated
PLC received, the archive on disk, the audit log of a run-time threshold change and the
counter reset service.
"""
import json
import os
import random
import subprocess
import sys

from acnn_ros.core.plc.modbus.simulator import PlcSimulator
from ros_processes import finish, REPO_DIR, start_python

CLIENT = r"""
import json, time
import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from acnn_ros.msg import InspectionResult, LineCounters, PartTrigger, RejectEvent
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

rclpy.init()
node = Node('reject_test_client')
reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
parts = node.create_publisher(PartTrigger, 'part', reliable)
results = node.create_publisher(InspectionResult, 'inspection', reliable)
images = node.create_publisher(Image, 'image', 10)
events, counters, diagnostics = [], [], []
node.create_subscription(RejectEvent, 'reject', events.append, reliable)
node.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 10)
node.create_subscription(LineCounters, 'reject_actuator_node/counters', counters.append,
                         QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                                    durability=DurabilityPolicy.TRANSIENT_LOCAL))

def spin_until(predicate, timeout_s):
    end = time.time() + timeout_s
    while not predicate() and time.time() < end:
        rclpy.spin_once(node, timeout_sec=0.02)
    return predicate()

assert spin_until(lambda: node.count_subscribers('inspection') and
                  node.count_subscribers('part') and node.count_subscribers('image') and
                  node.count_publishers('reject'), 20), 'actuator node not found'
time.sleep(0.5)

# (class, confidence, status); None = no result at all.
# Status 9 does not exist: the node must reject the part (ERROR_RESULT) and stay up.
plan = [('p3707', 0.9, 0), ('p1071', 0.95, 0), ('p1071', 0.9, 0), None, ('', 0.0, 9),
        ('p3709', 0.8, 0)]
stamps = {}
def publish_part(part_id, entry):
    stamp = node.get_clock().now().to_msg()
    stamps[part_id] = stamp
    trigger = PartTrigger(part_id=part_id)
    trigger.header.stamp, trigger.header.frame_id = stamp, 'camera_optical_frame'
    image = Image(height=48, width=64, encoding='bgr8', step=64 * 3,
                  data=np.full(48 * 64 * 3, 90, np.uint8).tobytes())
    image.header = trigger.header
    parts.publish(trigger)
    images.publish(image)
    if entry is None:
        return
    name, confidence, status = entry
    result = InspectionResult(status=status, class_name=name, confidence=confidence,
                              class_id=-1 if status else 1,
                              detail='engine failed' if status else '')
    result.header = trigger.header
    if status == 0:
        result.roi.x_offset, result.roi.y_offset = 10, 8
        result.roi.width, result.roi.height = 32, 20
        result.roi_center_x, result.roi_center_y = 26.0, 18.0
        result.class_scores = [confidence, 1.0 - confidence]
    time.sleep(0.02)   # inference time
    results.publish(result)

for part_id, entry in enumerate(plan, start=1):
    publish_part(part_id, entry)
    rclpy.spin_once(node, timeout_sec=0.05)
    time.sleep(0.05)   # parts 70+ ms apart, pulses 10 ms: one rising edge per reject
assert spin_until(lambda: len(events) >= len(plan), 10), f'only {len(events)} events'

# Raise the threshold at run time: a p3709 at 0.8 is now rejected.
client = AsyncParameterClient(node, 'reject_actuator_node')
assert client.wait_for_services(10)
future = client.set_parameters([Parameter('min_confidence', Parameter.Type.DOUBLE, 0.85)])
rclpy.spin_until_future_complete(node, future, timeout_sec=10)
print('SET', future.result().results[0].successful, flush=True)
publish_part(7, ('p3709', 0.8, 0))
assert spin_until(lambda: len(events) >= 7, 10)
assert spin_until(lambda: counters and counters[-1].inspected == 7, 5), 'counters'
last = counters[-1]
print('COUNTERS', json.dumps({k: getattr(last, k) for k in (
    'inspected', 'accepted', 'rejected', 'rejected_reject_class', 'rejected_low_confidence',
    'rejected_error_result', 'rejected_no_result', 'fired', 'missed', 'late')}), flush=True)

def actuator_status():
    return [d.status[0] for d in diagnostics if d.status[0].name.startswith('/reject_actuator')]
spin_until(lambda: actuator_status() and {kv.key: kv.value for kv in actuator_status()[-1]
                                          .values}.get('fired') == '5', 5)
status = actuator_status()
print('DIAG', status[-1].level[0], status[-1].hardware_id,
      {kv.key: kv.value for kv in status[-1].values}.get('fired'), flush=True)
reset = node.create_client(Trigger, 'reject_actuator_node/reset_counters')
assert reset.wait_for_service(10)
future = reset.call_async(Trigger.Request())
rclpy.spin_until_future_complete(node, future, timeout_sec=10)
print('RESET', future.result().success, flush=True)
assert spin_until(lambda: counters[-1].inspected == 0, 5), 'counters after reset'
for e in events:
    sent = stamps[e.part_id]
    assert (e.header.stamp.sec, e.header.stamp.nanosec, e.header.frame_id) == (
        sent.sec, sent.nanosec, 'camera_optical_frame'), (e.header, sent)
    due = e.due_time.sec + e.due_time.nanosec * 1e-9
    fire = e.fire_time.sec + e.fire_time.nanosec * 1e-9
    capture = e.header.stamp.sec + e.header.stamp.nanosec * 1e-9
    print('EVENT', json.dumps({'part_id': e.part_id, 'decision': e.decision, 'reason': e.reason,
                               'fail_safe': e.fail_safe, 'delivery': e.delivery,
                               'actuator': e.actuator, 'due_minus_capture': due - capture,
                               'fire_minus_due': fire - due if fire else None}), flush=True)
node.destroy_node()
rclpy.shutdown()
"""


def test_actuator_node_over_dds_writes_each_reject_to_the_plc(tmp_path):
    # A domain of this test's own: other runs on this machine use the default ones.
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(150, 229)))
    sim = PlcSimulator().start()
    archive = tmp_path / 'archive'
    node = subprocess.Popen(
        [sys.executable, '-m', 'acnn_ros.nodes.reject_actuator_node', '--ros-args',
         '--params-file', str(REPO_DIR / 'config' / 'inspect.yaml'),
         '-p', 'actuator:=modbus', '-p', f'plc_port:={sim.port}', '-p', 'reject_delay_s:=0.6',
         '-p', 'inspection_window_s:=0.3', '-p', 'pulse_width_s:=0.01',
         '-p', 'counters_period_s:=0.2', '-p', 'max_fire_lateness_s:=0.1',
         '-p', 'plc_heartbeat_period_s:=0.2', '-p', f'archive_dir:={archive}'],
        cwd=str(REPO_DIR), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        client = start_python(CLIENT, env=env)
        client_out = finish(client, timeout_s=60)
    finally:
        node.terminate()
        node_out = finish(node, timeout_s=10)
        sim.stop()
    assert client.returncode == 0, client_out + '\n--- node ---\n' + node_out
    lines = client_out.splitlines()
    assert 'SET True' in lines and 'RESET True' in lines, client_out
    assert 'DIAG 0 modbus 5' in lines, client_out
    events = {e['part_id']: e for e in (json.loads(line[6:]) for line in lines
                                        if line.startswith('EVENT '))}
    # part: (decision, reason, fail_safe); REJECT_CLASS=1 LOW_CONFIDENCE=2 ERROR=4 NO_RESULT=6
    expected = {1: (0, 0, False), 2: (1, 1, False), 3: (1, 1, False), 4: (1, 6, True),
                5: (1, 4, True), 6: (0, 0, False), 7: (1, 2, False)}
    assert {k: (e['decision'], e['reason'], e['fail_safe']) for k, e in events.items()} == \
        expected, client_out
    for part_id, event in events.items():
        assert abs(event['due_minus_capture'] - 0.6) < 1e-6
        if event['decision'] == 1:
            assert event['delivery'] == 1 and event['actuator'] == 'modbus'
            assert 0.0 <= event['fire_minus_due'] < 0.1, event
    counters = json.loads(next(line[9:] for line in lines if line.startswith('COUNTERS')))
    assert counters == {'inspected': 7, 'accepted': 2, 'rejected': 5,
                        'rejected_reject_class': 2, 'rejected_low_confidence': 1,
                        'rejected_error_result': 1, 'rejected_no_result': 1, 'fired': 5,
                        'missed': 0, 'late': 0}
    # The PLC got every part once, with its verdict; one reject pulse per defective part.
    # SIGTERM ends the node cleanly, and its last decision-block write says "vision not ready"
    # (part id 0, verdict 0).
    assert node.returncode == 0 and 'Traceback' not in node_out, node_out
    decisions = sim.decisions()
    assert (decisions[-1].part_id, decisions[-1].verdict) == (0, 0), decisions
    assert sorted((d.part_id, d.verdict) for d in decisions[:-1]) == [
        (1, 1), (2, 2), (3, 2), (4, 2), (5, 2), (6, 1), (7, 2)]
    assert len(sim.coil_pulses()) == 5
    assert len(sim.heartbeat_toggles()) >= 3
    assert 'AUDIT: parameter min_confidence changed from 0.6 to 0.85' in node_out, node_out
    assert 'AUDIT: counters reset' in node_out
    # Every reject archived with its frame and record.
    records = [json.loads(p.read_text()) for p in sorted(archive.glob('*.json'))]
    assert sorted(r['part_id'] for r in records) == [2, 3, 4, 5, 7]
    assert all(r['image'] for r in records), records
    assert len(list(archive.glob('*.png'))) == 5


HUNG_CLIENT = r"""
import time
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from acnn_ros.msg import InspectionResult, PartTrigger, RejectEvent
from diagnostic_msgs.msg import DiagnosticArray
from std_srvs.srv import Trigger

rclpy.init()
node = Node('hung_test_client')
reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
parts = node.create_publisher(PartTrigger, 'part', reliable)
events, diagnostics = [], []
node.create_subscription(RejectEvent, 'reject', events.append, reliable)
node.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 10)
end = time.time() + 20
while not (node.count_subscribers('part') and node.count_publishers('reject')) and \
        time.time() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
time.sleep(0.5)
for part_id in range(1, 6):          # no results at all: five fail-safe rejects
    trigger = PartTrigger(part_id=part_id)
    trigger.header.stamp = node.get_clock().now().to_msg()
    trigger.header.frame_id = 'camera'
    parts.publish(trigger)
    time.sleep(0.03)
reset = node.create_client(Trigger, 'reject_actuator_node/reset_counters')
assert reset.wait_for_service(10)
started = time.time()
future = reset.call_async(Trigger.Request())
rclpy.spin_until_future_complete(node, future, timeout_sec=10)
print('SERVICE_S', round(time.time() - started, 3), future.result().success, flush=True)
end = time.time() + 10
while len(events) < 5 and time.time() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
end = time.time() + 3
while time.time() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
print('EVENTS', sorted((e.part_id, e.reason, e.delivery) for e in events), flush=True)
levels = [d.status[0].level[0] for d in diagnostics
          if d.status[0].name.startswith('/reject_actuator')]
print('LEVELS', levels[-1] if levels else None, flush=True)
node.destroy_node()
rclpy.shutdown()
"""


def test_hung_plc_does_not_block_the_node(tmp_path):
    from acnn_ros.core.plc.modbus.simulator import SilentTcpServer
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(150, 229)))
    silent = SilentTcpServer()
    node = subprocess.Popen(
        [sys.executable, '-m', 'acnn_ros.nodes.reject_actuator_node', '--ros-args',
         '--params-file', str(REPO_DIR / 'config' / 'inspect.yaml'),
         '-p', f'plc_port:={silent.port}', '-p', 'counters_period_s:=0.2',
         '-p', 'reject_delay_s:=0.5', '-p', 'inspection_window_s:=0.2'],
        cwd=str(REPO_DIR), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        client = start_python(HUNG_CLIENT, env=env)
        client_out = finish(client, timeout_s=60)
    finally:
        node.terminate()
        node_out = finish(node, timeout_s=10)
        silent.close()
    assert client.returncode == 0, client_out + '\n--- node ---\n' + node_out
    lines = client_out.splitlines()
    service = next(line.split() for line in lines if line.startswith('SERVICE_S'))
    assert float(service[1]) < 1.0 and service[2] == 'True', client_out
    # Five fail-safe (NO_RESULT = 6) rejects, each MISSED (2): the PLC never answered.
    assert 'EVENTS [(1, 6, 2), (2, 6, 2), (3, 6, 2), (4, 6, 2), (5, 6, 2)]' in lines, \
        client_out + node_out
    assert 'LEVELS 2' in lines, client_out
    assert 'MISSED REJECT' in node_out
