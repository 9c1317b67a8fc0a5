# SPDX-License-Identifier: Apache-2.0
"""
Spin a node so that Ctrl-C (SIGINT) and SIGTERM leave the ROS context valid for the shutdown.

rclpy's own signal handler shuts the context down the moment the signal arrives: the managed
node's shutdown transition then cannot publish its state change, the parts still pending in
the reject actuator cannot be published, and every log line fails with "publisher's context is
invalid". `spin_until_interrupted` (a `run` for nodes.node_main.run_node) takes the signals back
from rclpy: SIGINT and SIGTERM raise KeyboardInterrupt in the spinning thread, run_node runs the
shutdown transition while the context is still valid, then shuts rclpy down itself.
"""
import signal

from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import uninstall_signal_handlers

# Longest time a signal waits for the executor to look at it (it wakes at least this often).
WAKE_PERIOD_S = 0.2


def interrupt_on_signals(once: bool = False) -> None:
    """
    Make SIGINT and SIGTERM raise KeyboardInterrupt in the main thread (rclpy's handler off).

    `once`: ignore further signals after the first, so a second Ctrl-C cannot cut the shutdown
    transitions of several nodes short (the one-process line).
    """
    def interrupt(signum, frame):
        if once:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    uninstall_signal_handlers()
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def spin_until_interrupted(node: Node) -> int:
    """Spin `node` until SIGINT / SIGTERM (KeyboardInterrupt) or rclpy shutdown; return 0."""
    interrupt_on_signals()
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    try:
        while node.context.ok():
            executor.spin_once(timeout_sec=WAKE_PERIOD_S)
    finally:
        executor.remove_node(node)
        executor.shutdown(timeout_sec=0.0)
    return 0
