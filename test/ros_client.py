# SPDX-License-Identifier: Apache-2.0
"""
THE ROS client of the tests: a node in a context of its own (test processes and client scripts).

It records topics, spins until a condition holds or for a while, calls services and drives
lifecycle nodes by transition label or id. Several clients can live in one process.
"""
import time
from typing import Union

from lifecycle_msgs.srv import ChangeState, GetState
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node


class RosClient:
    """A node of this process: subscriptions that record, spinning, service calls."""

    def __init__(self, name: str = 'test_client', spin_step_s: float = 0.02):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.spin_step_s = spin_step_s

    def record(self, msg_type, topic: str, qos) -> list:
        """Subscribe to `topic`; return the list its messages are appended to."""
        received = []
        self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def spin_once(self, timeout_s: float) -> None:
        """Process at most one callback, waiting up to timeout_s for it."""
        self.executor.spin_once(timeout_sec=timeout_s)

    def spin_until(self, condition, timeout_s: float = 10.0) -> bool:
        """Process callbacks until condition() is true; return whether it became true."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=self.spin_step_s)
        return bool(condition())

    def spin_for(self, seconds: float) -> None:
        """Process callbacks for `seconds`."""
        self.spin_until(lambda: False, seconds)

    def call(self, service_type, service: str, request, timeout_s: float = 20.0,
             wait_s: float = 20.0):
        """Call service `service` (full name) with `request`; return the response."""
        client = self.node.create_client(service_type, service)
        try:
            assert client.wait_for_service(timeout_sec=wait_s), f'no service {client.srv_name}'
            future = client.call_async(request)
            assert self.spin_until(future.done, timeout_s), f'{client.srv_name}: no answer'
            return future.result()
        finally:
            self.node.destroy_client(client)

    def get_state(self, node_name: str) -> str:
        """Return the label of `node_name`'s lifecycle state (lifecycle_msgs/srv/GetState)."""
        client = self.node.create_client(GetState, f'/{node_name}/get_state')
        try:
            # GetState is idempotent: a request sent by a brand-new client can be lost while the
            # server's response writer is still matching it (seen once in CI under load), so it
            # is asked again rather than waited for longer.
            for _ in range(3):
                assert client.wait_for_service(timeout_sec=20.0), f'no service {client.srv_name}'
                future = client.call_async(GetState.Request())
                if self.spin_until(future.done, 10.0):
                    return future.result().current_state.label
            raise AssertionError(f'{client.srv_name}: no answer to 3 requests')
        finally:
            self.node.destroy_client(client)

    def change_state(self, node_name: str, transition: Union[str, int]) -> bool:
        """Run a transition (label 'configure', ... or lifecycle_msgs Transition id)."""
        request = ChangeState.Request()
        if isinstance(transition, str):
            request.transition.label = transition
        else:
            request.transition.id = transition
        return self.call(ChangeState, f'/{node_name}/change_state', request,
                         timeout_s=30.0).success

    def close(self) -> None:
        """Destroy the node and shut this client's context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
