# SPDX-License-Identifier: Apache-2.0
"""A test-side ROS node in a context of its own: topics it records and lifecycle service calls."""
import signal
import subprocess
import sys
import threading
import time
from typing import List

from lifecycle_msgs.srv import ChangeState, GetState
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from ros_processes import REPO_DIR


class NodeProcess:
    """`python -m acnn_ros.nodes.<name> --ros-args ...`, its output collected by a thread."""

    def __init__(self, name: str, *ros_args: str, env=None):
        self.process = subprocess.Popen(
            [sys.executable, '-m', f'acnn_ros.nodes.{name}', '--ros-args', *ros_args],
            cwd=str(REPO_DIR), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=env)
        self.lines: List[str] = []
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    @property
    def output(self) -> str:
        return '\n'.join(self.lines)

    def interrupt(self, timeout_s: float = 15.0) -> int:
        """Send SIGINT (Ctrl-C) and return the exit status (killed after timeout_s: -9)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(timeout=5.0)
        return code


class RosClient:
    """A node of this test process: subscriptions that record, lifecycle calls by label."""

    def __init__(self, name: str = 'lifecycle_test_client'):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def record(self, msg_type, topic: str, qos) -> list:
        """Subscribe to `topic`; return the list its messages are appended to."""
        received = []
        self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def spin_until(self, condition, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.02)
        return condition()

    def spin_for(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def call(self, client, request, timeout_s: float = 20.0):
        assert client.wait_for_service(timeout_sec=20.0), f'no service {client.srv_name}'
        future = client.call_async(request)
        assert self.spin_until(future.done, timeout_s), f'{client.srv_name}: no answer'
        return future.result()

    def get_state(self, node_name: str) -> str:
        """Return the label of `node_name`'s lifecycle state (lifecycle_msgs/srv/GetState)."""
        client = self.node.create_client(GetState, f'/{node_name}/get_state')
        try:
            # GetState is idempotent: a request sent by a brand-new client can be lost while the
            # server's response writer is still matching it (seen once in CI under load), so it
            # is asked again rather than waited for longer.
            for attempt in range(3):
                assert client.wait_for_service(timeout_sec=20.0), f'no service {client.srv_name}'
                future = client.call_async(GetState.Request())
                if self.spin_until(future.done, 10.0):
                    return future.result().current_state.label
            raise AssertionError(f'{client.srv_name}: no answer to 3 requests')
        finally:
            self.node.destroy_client(client)

    def change_state(self, node_name: str, transition: str) -> bool:
        """Run `transition` ('configure', ...) with lifecycle_msgs/srv/ChangeState."""
        client = self.node.create_client(ChangeState, f'/{node_name}/change_state')
        request = ChangeState.Request()
        request.transition.label = transition
        try:
            return self.call(client, request, timeout_s=30.0).success
        finally:
            self.node.destroy_client(client)

    def close(self):
        self.node.destroy_node()
        self.executor.shutdown()
        rclpy.shutdown(context=self.context)
