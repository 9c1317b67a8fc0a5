# SPDX-License-Identifier: Apache-2.0
"""
The inspection line in one process: camera_node, inference_node and reject_actuator_node.

The composition lives beside the nodes (acnn_ros.nodes.inspection_line: it is also the
`inspection_line` executable, and nodes may not import app/); the demo and other applications
use it from here. Frames pass from camera to inference in memory by default (`in_memory`),
`image` is published only while subscribed, and `part` / `inspection` stay topics.
"""
from acnn_ros.nodes.inspection_line import Line, LINE_NODES

__all__ = ['Line', 'LINE_NODES']
