# SPDX-License-Identifier: Apache-2.0
"""
The demo's OPC UA vision system: vision_system_node in a process of its own, beside the line.

It maps the demo's nodes (in the demo's namespace) onto the OPC 40100-1 state machine; the
endpoint is read from the node's start-up line. The demo serves it on 127.0.0.1 without
message security and with anonymous access: loopback only.
"""
from typing import Optional, Sequence

from acnn_ros.app.side_process import SideNodeProcess
from acnn_ros.nodes.vision_system_node import STOPPED

STARTED = 'active: OPC UA vision system at '


class VisionSystemProcess(SideNodeProcess):
    """
    vision_system_node in the demo's namespace (app/side_process.py).

    Before SIGINT it gets `drain_s` to receive the line's last RejectEvents (published while
    the line stopped) and send their ResultReadyEvents: seen missing for the last 3 parts of
    60 on 2 loaded cores without it.
    """

    start_timeout_s = 60.0
    drain_s = 1.0

    def __init__(self, namespace: str, port: int, params_file: str,
                 line_nodes: Sequence[str] = ('camera_node', 'inference_node',
                                              'reject_actuator_node')):
        nodes = ', '.join(f'{namespace}/{name}' for name in line_nodes)
        super().__init__('vision_system_node', [
            '--params-file', str(params_file), '-r', f'__ns:=/{namespace}',
            '-p', f'server_port:={port}', '-p', f'line_nodes:=[{nodes}]',
            '-p', f'inference_node:={namespace}/inference_node'], STARTED)

    @property
    def endpoint(self) -> Optional[str]:
        """Return the endpoint once the server listens."""
        return self.address

    def served(self) -> str:
        """Return what the node said it served when it stopped ('60 results served ...'), or ''."""
        said = [line for line in self.lines if STOPPED in line]
        return said[-1].split(STOPPED, 1)[1] if said else ''
