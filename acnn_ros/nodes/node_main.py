# SPDX-License-Identifier: Apache-2.0
"""
The one `main()` of every node: the same exit statuses and the same shutdown order.

Exit status 0 on a normal end, Ctrl-C or an external shutdown; 2
(`EXIT_BAD_CONFIGURATION`) when the node cannot start because of its configuration:
a `ValueError` (the config dataclasses and their error classes), one of rclpy's
`ParameterException`s (an out-of-range or wrongly typed `-p`), or an error class the node
names (a missing bag or model engine); a fatal log line names the node and the reason. A
parameter override the node does not declare is named in a warning at start (ros_parameters).
An error while running is not a configuration error: it ends the process with its traceback
(status 1). A managed node with `autostart` configures and activates itself here; a failed
configure is a configuration error too. Shutdown order: the managed node's shutdown transition
(releases model, PLC link, camera; pending parts are reported), destroy the node, shut rclpy down.

The ROS environment (ROS_DOMAIN_ID, discovery range) is the user's: nothing here changes it.
"""
from typing import Callable, Optional, Sequence, Tuple, Type

from acnn_ros.nodes.managed_node import ManagedNode
from acnn_ros.nodes.ros_parameters import warn_unknown_parameters
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

# Exit status of every node whose parameters (or the files they name) stop it from starting;
# 1 is left to failures while running, so a launch file or a service manager can tell them apart.
EXIT_BAD_CONFIGURATION = 2
CONFIGURATION_ERRORS: Tuple[Type[BaseException], ...] = (ValueError, ParameterException)


def spin(node: Node) -> int:
    """Spin `node` on the global executor until shutdown; return 0."""
    rclpy.spin(node)
    return 0


def run_node(name: str, create_node: Callable[[], Node], args: Optional[Sequence[str]] = None,
             run: Callable[[Node], int] = spin,
             configuration_errors: Tuple[Type[BaseException], ...] = ()) -> int:
    """
    Create the node, run it, shut it down; return the process exit status.

    `run(node)` spins the node and returns its exit status; `configuration_errors` are the
    node's own errors, besides `CONFIGURATION_ERRORS`, that stop it from starting.
    """
    rclpy.init(args=args)
    node = None
    try:
        try:
            node = create_node()
        except CONFIGURATION_ERRORS + tuple(configuration_errors) as exc:
            rclpy.logging.get_logger(name).fatal(f'cannot start: {exc}')
            return EXIT_BAD_CONFIGURATION
        warn_unknown_parameters(node)   # a misspelled -p / params-file name, once each
        if isinstance(node, ManagedNode) and node.autostart and not node.start_up():
            node.get_logger().fatal(f'cannot start: {node.configure_error}')
            return EXIT_BAD_CONFIGURATION
        return run(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    finally:
        if node is not None:
            if isinstance(node, ManagedNode):
                node.shut_down()
            node.destroy_node()
        rclpy.try_shutdown()
