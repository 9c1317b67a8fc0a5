# SPDX-License-Identifier: Apache-2.0
"""
A managed node that is destroyed first lets its subscribers acknowledge what it published.

Destroying a publisher drops what a reliable reader has not acknowledged yet; the line publishes
its last parts' results and reject events just before it stops. ManagedNode.destroy_node waits
(ACK_WAIT_S at most) for the acks of every reliable publisher. The reader here is a process of
its own, frozen with SIGSTOP (it cannot ack), then let go with SIGCONT.
"""
import os
import signal
import sys
import threading
import time

from acnn_ros.msg import RejectEvent
from acnn_ros.nodes.line_qos import PER_PART_PUBLISHER_QOS
from acnn_ros.nodes.managed_node import ManagedNode
import pytest
import rclpy
from ros_processes import NodeProcess

pytestmark = pytest.mark.timeout(120)

READER = """
import rclpy
from acnn_ros.msg import RejectEvent
from acnn_ros.nodes.line_qos import PER_PART_QOS
rclpy.init()
node = rclpy.create_node('ack_reader')
node.create_subscription(RejectEvent, 'reject', lambda m: print('got', m.part_id, flush=True),
                         PER_PART_QOS)
print('subscribed', flush=True)
rclpy.spin(node)
"""


@pytest.fixture
def writer(own_domain_env):
    context = rclpy.Context()
    rclpy.init(context=context)
    node = ManagedNode('ack_writer', context=context)
    publisher = node.create_publisher(RejectEvent, 'reject', PER_PART_PUBLISHER_QOS)
    yield node, publisher
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def _reader(own_domain_env, publisher):
    reader = NodeProcess([sys.executable, '-c', READER], env=own_domain_env)
    assert reader.wait_for_line('subscribed', 30), reader.output
    end = time.monotonic() + 30
    while publisher.get_subscription_count() < 1 and time.monotonic() < end:
        time.sleep(0.05)
    assert publisher.get_subscription_count() == 1, reader.output
    return reader


def test_a_frozen_reader_is_named_unacknowledged_then_acknowledges(writer, own_domain_env):
    node, publisher = writer
    reader = _reader(own_domain_env, publisher)
    try:
        os.kill(reader.pid, signal.SIGSTOP)
        publisher.publish(RejectEvent(part_id=7))
        assert node.wait_for_acknowledgements(1.0) == ['/reject']
        os.kill(reader.pid, signal.SIGCONT)
        assert node.wait_for_acknowledgements(10.0) == []
        assert reader.wait_for_line('got 7', 10), reader.output
    finally:
        os.kill(reader.pid, signal.SIGCONT)
        reader.kill()


def test_destroying_the_node_waits_for_the_reader_to_take_the_last_message(
        writer, own_domain_env):
    node, publisher = writer
    reader = _reader(own_domain_env, publisher)
    try:
        os.kill(reader.pid, signal.SIGSTOP)
        publisher.publish(RejectEvent(part_id=60))
        destroyer = threading.Thread(target=node.destroy_node)
        destroyer.start()
        time.sleep(1.0)       # the node is being destroyed while its reader is frozen
        assert destroyer.is_alive(), 'destroy_node did not wait for the acknowledgement'
        os.kill(reader.pid, signal.SIGCONT)
        destroyer.join(15.0)
        assert not destroyer.is_alive()
        assert reader.wait_for_line('got 60', 10), reader.output
    finally:
        os.kill(reader.pid, signal.SIGCONT)
        reader.kill()
