# SPDX-License-Identifier: Apache-2.0
"""
The inspection line in one process: camera_node, inference_node and reject_actuator_node.

The same node classes that `ros2 launch acnn_ros inspect.launch.py` starts, each with its
parameters given as overrides, in one MultiThreadedExecutor of a context of their own (so the
process's Ctrl-C stays with the caller). Other nodes of the caller (an observer) join the same
executor. The managed nodes (`autostart`, as `ros2 run` does) are configured when the line is
created and activated by `start()`, consumers first, before it spins the executor in a thread;
`stop()` stops the executor, waits for that thread, runs each managed node's shutdown
transition, destroys the nodes and shuts the context down.
"""
import threading
from typing import Callable, Dict, List, Optional

from acnn_ros.core.camera.config import CameraConfig
from acnn_ros.core.camera.source import create_source, FrameSource
from acnn_ros.nodes.camera_node import CameraNode
from acnn_ros.nodes.inference_node import InferenceNode
from acnn_ros.nodes.managed_node import ManagedNode
from acnn_ros.nodes.reject_actuator_node import RejectActuatorNode
import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions

LINE_NODES = ('camera_node', 'inference_node', 'reject_actuator_node')


class Line:
    """The three nodes of the line, their executor and its thread."""

    def __init__(self, parameters: Dict[str, Dict[str, object]], namespace: str,
                 camera_source_factory: Callable[[CameraConfig], FrameSource] = create_source):
        """
        Create the nodes; nothing runs before `start()`.

        `parameters` maps each of LINE_NODES to its parameter values; `camera_source_factory`
        builds camera_node's frame source from its configuration. A node that cannot start
        raises its error here, after the nodes created so far were destroyed.
        """
        self.namespace = namespace
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.nodes = []
        self.failure: Optional[str] = None     # why the executor stopped by itself
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        self._thread = threading.Thread(target=self._spin, name='line_executor', daemon=True)
        try:
            self.camera = self.add_node(CameraNode(
                source_factory=camera_source_factory,
                **self.node_arguments(parameters['camera_node'])))
            self.inference = self.add_node(InferenceNode(
                **self.node_arguments(parameters['inference_node'])))
            self.actuator = self.add_node(RejectActuatorNode(
                **self.node_arguments(parameters['reject_actuator_node'])))
            for node in self.managed_nodes():
                if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                    raise ValueError(f'{node.get_name()}: '
                                     f'{node.configure_error or "configure failed"}')
        except BaseException:
            self.stop()
            raise

    def node_arguments(self, values: Optional[Dict[str, object]] = None) -> dict:
        """Return the keyword arguments of a node of this line: context, namespace, overrides."""
        return {'context': self.context, 'namespace': self.namespace,
                'parameter_overrides': [Parameter(name, value=value)
                                        for name, value in (values or {}).items()]}

    def add_node(self, node: Node) -> Node:
        """Add a node (built with `node_arguments()`) to the executor; the line destroys it."""
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def managed_nodes(self) -> List[ManagedNode]:
        """Return the line's managed nodes that start themselves (`autostart`), in line order."""
        return [node for node in self.nodes if isinstance(node, ManagedNode) and node.autostart]

    def start(self) -> None:
        """Activate the managed nodes, consumers first, then spin the executor in a thread."""
        for node in reversed(self.managed_nodes()):
            if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                raise RuntimeError(f'{node.get_name()}: activate failed (see its log)')
        self._thread.start()

    def stop(self) -> None:
        """Stop the executor, wait for its thread, destroy the nodes, shut the context down."""
        self.executor.shutdown(timeout_sec=5.0)
        # The spin thread must be out of rclpy's wait before the interpreter exits: a daemon
        # thread that wakes in C++ during finalization aborts the process ('terminate called
        # without an active exception', exit -6; seen after a PASS on a loaded machine).
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        for node in self.nodes:
            if isinstance(node, ManagedNode):
                node.shut_down()
            node.destroy_node()
        self.nodes = []
        rclpy.try_shutdown(context=self.context)

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception as exc:  # a callback raised: the line stopped, say why
            self.failure = f'{type(exc).__name__}: {exc}'
