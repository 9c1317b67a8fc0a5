# SPDX-License-Identifier: Apache-2.0
"""
The line's managed nodes seen and driven through their lifecycle services (vision_system_node).

`LifecycleLine` reads every node's state (`<node>/get_state`) without blocking, and runs the
transitions and the product changeover (`<inference_node>/load_model`) with blocking calls
from a thread that is not the node's executor (the OPC UA server's method threads): the
executor spinning the node completes the futures they wait on.
"""
import threading
import time
from typing import Callable, Dict, Sequence, Tuple

from acnn_ros.srv import LoadModel
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.callback_groups import ReentrantCallbackGroup

GONE = 'gone'          # seen before, now no get_state service or no answer within the poll
NOT_SEEN = 'not seen'  # never answered since this node started (not started yet: no failure)
FAILED_STATES = frozenset({GONE, 'finalized', 'errorprocessing'})


class ServiceTimeout(Exception):
    """A service did not answer in time."""


class LifecycleLine:
    """get_state / change_state of each line node, load_model of the inference node."""

    def __init__(self, node, line_nodes: Sequence[str], inference_node: str,
                 timeout_s: float):
        self.node = node
        self.names = tuple(line_nodes)
        self.timeout_s = timeout_s
        group = ReentrantCallbackGroup()
        self._get = {n: node.create_client(GetState, f'/{n}/get_state', callback_group=group)
                     for n in self.names}
        self._change = {n: node.create_client(ChangeState, f'/{n}/change_state',
                                              callback_group=group) for n in self.names}
        self._load = node.create_client(LoadModel, f'/{inference_node}/load_model',
                                        callback_group=group)
        self._poll: Dict[str, str] = {}
        self._poll_started = None
        self._seen = set()             # nodes that answered once: missing later = gone

    # -- non-blocking state poll (timer callback) --------------------------------------------

    def poll(self, report: Callable[[Dict[str, str], float], None], now: float,
             give_up_s: float) -> None:
        """Ask every node its state; call report(states, started) once all answered."""
        if self._poll_started is not None:
            if now - self._poll_started < give_up_s:
                return
            self._finish(report, missing=True)        # a node did not answer: it is gone
        self._poll, self._poll_started = {}, now
        for name, client in self._get.items():
            if not client.service_is_ready():
                self._poll[name] = self._missing(name)
                continue
            future = client.call_async(GetState.Request())
            future.add_done_callback(lambda f, name=name: self._answered(name, f, report))
        self._finish(report)

    def _answered(self, name, future, report) -> None:
        if self._poll_started is None:
            return
        if future.result() is None:
            self._poll[name] = self._missing(name)
        else:
            self._seen.add(name)
            self._poll[name] = future.result().current_state.label
        self._finish(report)

    def _missing(self, name: str) -> str:
        return GONE if name in self._seen else NOT_SEEN

    def _finish(self, report, missing: bool = False) -> None:
        if self._poll_started is None:
            return
        if missing:
            self._poll.update({n: self._missing(n) for n in self.names if n not in self._poll})
        if len(self._poll) == len(self.names):
            states, started = dict(self._poll), self._poll_started
            self._poll_started = None
            report(states, started)

    # -- blocking calls (not from the node's executor thread) --------------------------------

    def _call(self, client, request):
        if not client.wait_for_service(timeout_sec=self.timeout_s):
            raise ServiceTimeout(f'no service {client.srv_name}')
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _: done.set())
        if not done.wait(self.timeout_s):
            client.remove_pending_request(future)
            raise ServiceTimeout(f'{client.srv_name}: no answer in {self.timeout_s:g} s')
        return future.result()

    def state(self, name: str) -> str:
        """Return the node's lifecycle state label (blocking)."""
        return self._call(self._get[name], GetState.Request()).current_state.label

    def _transition(self, name: str, transition_id: int) -> bool:
        request = ChangeState.Request()
        request.transition.id = transition_id
        return self._call(self._change[name], request).success

    def activate(self) -> str:
        """Configure and activate every node, the end of the line first; return '' or why."""
        try:
            for name in reversed(self.names):
                state = self.state(name)
                if state == 'unconfigured' and \
                        not self._transition(name, Transition.TRANSITION_CONFIGURE):
                    return f'{name}: configure failed'
                if state in ('unconfigured', 'inactive') and \
                        not self._transition(name, Transition.TRANSITION_ACTIVATE):
                    return f'{name}: activate failed'
                if state not in ('unconfigured', 'inactive', 'active'):
                    return f'{name} is {state}'
        except ServiceTimeout as exc:
            return str(exc)
        return ''

    def deactivate(self) -> str:
        """Deactivate every active node, the camera first; return '' or why not."""
        try:
            for name in self.names:
                if self.state(name) == 'active' and \
                        not self._transition(name, Transition.TRANSITION_DEACTIVATE):
                    return f'{name}: deactivate failed'
        except ServiceTimeout as exc:
            return str(exc)
        return ''

    def load_model(self, model_path: str) -> Tuple[bool, str]:
        """Run the product changeover of the inference node; return (success, message)."""
        request = LoadModel.Request(model_path=model_path)
        started = time.monotonic()
        try:
            response = self._call(self._load, request)
        except ServiceTimeout as exc:
            return False, str(exc)
        return response.success, f'{response.message} ({time.monotonic() - started:.1f} s)'

    def close(self) -> None:
        """Destroy the service clients."""
        for client in list(self._get.values()) + list(self._change.values()) + [self._load]:
            self.node.destroy_client(client)
