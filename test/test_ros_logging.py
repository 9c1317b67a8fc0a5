# SPDX-License-Identifier: Apache-2.0
"""log_at: a level chosen at run time never changes the severity of an rclpy call site."""
import logging

from acnn_ros.core.health import LEVEL_ERROR, LEVEL_OK, LEVEL_WARN
from acnn_ros.nodes.ros_logging import core_logger, log_at
import rclpy
from rclpy.node import Node


def test_every_level_in_any_order_through_one_helper_and_the_core_handler():
    # rclpy raises "Logger severity cannot be changed between calls" when one call site logs
    # at two severities: the pattern log_at and RosLogHandler replace.
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = Node('log_at_test', context=context)
        for level in (LEVEL_WARN, LEVEL_OK, LEVEL_ERROR, LEVEL_OK, LEVEL_WARN):
            log_at(node.get_logger(), level, f'level {level}')
        core = core_logger(node)
        for level in (logging.WARNING, logging.INFO, logging.ERROR, logging.DEBUG):
            core.log(level, 'core line')
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
