# SPDX-License-Identifier: Apache-2.0
"""The nodes' one way to publish their health on /diagnostics."""
from typing import Mapping

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.publisher import Publisher
from std_msgs.msg import Header


def publish_status(node: Node, publisher: Publisher, subsystem: str, level: int, message: str,
                   hardware_id: str, values: Mapping[str, object]) -> Header:
    """
    Publish one status named '<fully qualified node name>: <subsystem>', stamped now.

    Named with the fully qualified node name so that lines in separate namespaces do not
    collide in diagnostic_aggregator; `level` is an acnn_ros.core.health level. Returns the
    header it stamped the array with.
    """
    header = Header(stamp=node.get_clock().now().to_msg())
    status = DiagnosticStatus(level=bytes([level]), message=message, hardware_id=hardware_id,
                              name=f'{node.get_fully_qualified_name()}: {subsystem}',
                              values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
    publisher.publish(DiagnosticArray(header=header, status=[status]))
    return header
