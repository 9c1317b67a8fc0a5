# SPDX-License-Identifier: Apache-2.0
"""
inspection_line: camera_node, inference_node and (optionally) reject_actuator_node in one process.

The Python equivalent of composition with intra-process delivery. The same node classes that run as
separate processes, each in its own name and with its own parameters, in one SingleThreadedExecutor
(rclpy's MultiThreadedExecutor busy-loops on a task handed to its pool, ros2/rclpy#1452, still in
the Kilted wheels: with it this line answered 140 of 573 frames at 30 Hz; with one thread, 200 of
200 at 117 Hz; docs/BENCHMARKS.md). Frames pass in memory (`in_memory=True`, the default):
camera_node hands each captured frame - the numpy array itself, a read-only view, no copy, no
serialization - to inference_node.inspect_frame, which answers it through the same slot and worker
as a received `image` message; inference_node subscribes to no image topic, and camera_node
publishes `image` only while something subscribes to it (rviz, a recorder). The part trigger and
the verdict still travel as `part` and `inspection` messages: the reject actuator joins them
exactly as in the multi-process graph, and recorders and HMIs see the same topics (small messages:
rclpy serializes them in microseconds). `in_memory=False` wires camera -> inference over `image`.

The reject actuator is optional (`actuator=False`, `inspection_line --no-actuator`): a line
may prefer it in a process of its own, where no other Python thread competes for the GIL on the
firing path (docs/LINE_INTEGRATION.md: with busy threads beside it most rejects were late in
the benchmark until the switch interval was shortened) and where a crash or a slow inference
cannot delay an ejector; it then joins `part` and `inspection` over DDS as usual.

`ros2 run acnn_ros inspection_line --ros-args --params-file config/inspect.yaml` (or
`ros2 launch acnn_ros inspect.launch.py line:=one_process | two_processes`) runs it; the ROS
arguments (params files with their `/**/<node>` sections, remaps, `__ns`) apply to every node,
as in a component container. The managed nodes with `autostart` are configured when the line is
created and activated by `start()`, consumers first; others wait for `ros2 lifecycle set`. Exit
status 0 on Ctrl-C / SIGTERM (after every node's shutdown transition), 2 when a node cannot be
configured (acnn_ros.nodes.node_main). `acnn demo` (acnn_ros.app.demo) runs the same line in a
context of its own next to an observer.
"""
import argparse
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence

from acnn_ros.core.camera.config import CameraConfig
from acnn_ros.core.camera.source import create_source, FrameSource
from acnn_ros.nodes.camera_node import CameraNode
from acnn_ros.nodes.clean_shutdown import interrupt_on_signals, WAKE_PERIOD_S
from acnn_ros.nodes.inference_node import InferenceNode
from acnn_ros.nodes.managed_node import ManagedNode
from acnn_ros.nodes.node_main import CONFIGURATION_ERRORS, EXIT_BAD_CONFIGURATION
from acnn_ros.nodes.reject_actuator_node import RejectActuatorNode
from acnn_ros.runtime.pipeline import EngineError
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from rclpy.utilities import remove_ros_args

LINE_NODES = ('camera_node', 'inference_node', 'reject_actuator_node')


class Line:
    """The three nodes of the line, their executor and its thread."""

    def __init__(self, parameters: Optional[Dict[str, Dict[str, object]]] = None,
                 namespace: Optional[str] = None,
                 camera_source_factory: Callable[[CameraConfig], FrameSource] = create_source,
                 in_memory: bool = True, args: Optional[Sequence[str]] = None,
                 actuator: bool = True, cameras: int = 1):
        """
        Create the nodes in a context of their own; nothing runs before `start()`.

        `parameters` maps each of LINE_NODES to parameter overrides (None: only the ROS
        arguments `args` of the process, params files included); `camera_source_factory`
        builds camera_node's frame source; `in_memory` hands frames from camera to inference in
        memory (False: over the `image` topic); `actuator=False` leaves reject_actuator_node to
        a process of its own; `cameras` > 1 composes a station (`station_parameters`): its
        frames go over topics, one per camera. A node that cannot be configured raises its
        error here (ValueError), after the nodes created so far were destroyed.
        """
        if cameras > 1:
            in_memory = False
            parameters = station_parameters(parameters or {}, cameras)
        self.namespace = namespace
        self.in_memory = in_memory
        self.context = rclpy.Context()
        rclpy.init(args=args, context=self.context,
                   signal_handler_options=SignalHandlerOptions.NO)
        self.nodes = []
        self.failure: Optional[str] = None     # why the executor stopped by itself
        self.executor = SingleThreadedExecutor(context=self.context)
        self._thread = threading.Thread(target=self._spin, name='line_executor', daemon=True)
        parameters = parameters or {}
        try:
            self.cameras = [self.add_node(CameraNode(
                source_factory=camera_source_factory if index == 0 else create_source,
                node_name=name, **self.node_arguments(parameters.get(name), remaps)))
                for index, (name, remaps) in enumerate(camera_nodes(cameras))]
            self.camera = self.cameras[0]     # the one that triggers the parts
            self.inference = self.add_node(InferenceNode(
                image_topics=not in_memory,
                **self.node_arguments(parameters.get('inference_node'))))
            if in_memory:
                self.camera.add_frame_consumer(self.inference.inspect_frame)
            # The executor here also runs capture and inference: it must never run real-time
            # (a params file written for an actuator in its own process may say so).
            self.actuator = self.add_node(RejectActuatorNode(**self.node_arguments(
                {**(parameters.get('reject_actuator_node') or {}), 'realtime_executor': False}))
            ) if actuator else None
            for node in self.managed_nodes():
                if not node.configure_for_caller():   # said once, by the caller's fatal line
                    raise ValueError(f'{node.get_name()}: {node.configure_error}')
        except BaseException:
            self.stop()
            raise

    def node_arguments(self, values: Optional[Dict[str, object]] = None,
                       remaps: Sequence[str] = ()) -> dict:
        """Return a node's keyword arguments: context, namespace, overrides, topic remaps."""
        arguments = {'context': self.context, 'parameter_overrides': [
            Parameter(name, value=value) for name, value in (values or {}).items()]}
        if remaps:
            arguments['cli_args'] = ['--ros-args'] + [
                word for remap in remaps for word in ('-r', remap)]
        if self.namespace is not None:
            arguments['namespace'] = self.namespace
        return arguments

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


def camera_nodes(cameras: int) -> List[tuple]:
    """Return (node name, topic remaps) of each camera: camera_node, or a station's cam<i>."""
    if cameras <= 1:
        return [('camera_node', ())]
    return [('camera_node' if i == 0 else f'camera_node_{i}', (f'image:=cam{i}/image',))
            for i in range(cameras)]


def station_parameters(parameters: Dict[str, Dict[str, object]],
                       cameras: int) -> Dict[str, Dict[str, object]]:
    """
    Return the line's parameters for a station of `cameras` cameras (issue 21).

    Camera i has frame_id cam<i> and publishes cam<i>/image; camera 0 triggers the parts
    (trigger: timer) and waits for the actuator and the other cameras on `part`; the others
    capture one frame per trigger (trigger: part). A synthetic source renders the station's
    views. inference_node subscribes to every camera's topic (one engine call per part) and
    reject_actuator_node fuses each part's views (fusion: the file's, best_view by default).
    """
    names = [f'cam{i}' for i in range(cameras)]
    base = dict(parameters.get('camera_node') or {})
    result = dict(parameters)
    for index, (node, _) in enumerate(camera_nodes(cameras)):
        values = dict(base, frame_id=names[index], trigger='timer' if index == 0 else 'part')
        if base.get('source', 'synthetic') == 'synthetic':
            values.update(synthetic_station_cameras=cameras, synthetic_station_index=index)
        if index == 0:
            values['min_part_subscribers'] = max(int(base.get('min_part_subscribers', 1)),
                                                 cameras)
        result[node] = values
    result['inference_node'] = dict(parameters.get('inference_node') or {},
                                    image_topics=[f'{name}/image' for name in names])
    result['reject_actuator_node'] = dict(parameters.get('reject_actuator_node') or {},
                                          cameras=names)
    return result


def main(args=None) -> int:
    """Run the one-process line until Ctrl-C / SIGTERM; return the exit status."""
    # Signals raise KeyboardInterrupt here, so the shutdown transitions run while the context
    # is still valid; once: a second signal must not cut them short.
    interrupt_on_signals(once=True)
    args = sys.argv if args is None else args
    parser = argparse.ArgumentParser(prog='inspection_line', description=__doc__.splitlines()[1])
    parser.add_argument('--actuator', action=argparse.BooleanOptionalAction, default=True,
                        help='run reject_actuator_node in this process (default) or not')
    parser.add_argument('--cameras', type=int, default=1, choices=range(1, 17),
                        metavar='N', help='a station of N built-in cameras on every part')
    options = parser.parse_args(remove_ros_args(args)[1:])
    try:
        line = Line(args=args, actuator=options.actuator, cameras=options.cameras)
    except CONFIGURATION_ERRORS + (EngineError,) as exc:
        rclpy.logging.get_logger('inspection_line').fatal(f'cannot start: {exc}')
        return EXIT_BAD_CONFIGURATION
    try:
        line.start()
        line.camera.get_logger().info(
            'one-process line: frames to inference_node in memory; image published only '
            'while subscribed')
        while line.context.ok() and line.failure is None:
            time.sleep(WAKE_PERIOD_S)
    except KeyboardInterrupt:
        pass
    finally:
        line.stop()
    if line.failure:
        print(f'inspection_line: a node callback failed: {line.failure}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
