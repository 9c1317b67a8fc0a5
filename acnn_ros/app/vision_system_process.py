# SPDX-License-Identifier: Apache-2.0
"""
The demo's OPC UA vision system: vision_system_node in a process of its own, beside the line.

A process of its own, as the operator's page (app/hmi_process.py), so that its server takes
nothing from the line's firing path (GIL). It maps the demo's nodes (in the demo's namespace)
onto the OPC 40100-1 state machine; the endpoint is read from the node's start-up line. The
demo serves it on 127.0.0.1 without message security and with anonymous access: loopback only.
"""
import signal
import subprocess
import sys
import threading
import time
from typing import List, Optional, Sequence

START_TIMEOUT_S = 60.0
STARTED = 'active: OPC UA vision system at '


class VisionSystemProcess:
    """python -m acnn_ros.nodes.vision_system_node in the demo's namespace."""

    def __init__(self, namespace: str, port: int, params_file: str,
                 line_nodes: Sequence[str] = ('camera_node', 'inference_node',
                                              'reject_actuator_node')):
        nodes = ', '.join(f'{namespace}/{name}' for name in line_nodes)
        self.endpoint: Optional[str] = None
        self.lines: List[str] = []
        self._process = subprocess.Popen(
            [sys.executable, '-m', 'acnn_ros.nodes.vision_system_node', '--ros-args',
             '--params-file', str(params_file), '-r', f'__ns:=/{namespace}',
             '-p', f'server_port:={port}', '-p', f'line_nodes:=[{nodes}]',
             '-p', f'inference_node:={namespace}/inference_node'],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors='replace',
            start_new_session=True)   # Ctrl-C in the terminal is the demo's to handle
        self._started = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._process.stdout:
            self.lines.append(line.rstrip('\n'))
            del self.lines[:-50]              # bounded: the last lines, for an error report
            if self.endpoint is None and STARTED in line:
                self.endpoint = line.split(STARTED, 1)[1].split()[0]
                self._started.set()
        self._started.set()

    def wait_started(self, timeout_s: float = START_TIMEOUT_S) -> Optional[str]:
        """Return the endpoint once the server listens; None if the node ended without it."""
        self._started.wait(timeout_s)
        return self.endpoint

    def stop(self, timeout_s: float = 15.0, drain_s: float = 1.0) -> int:
        """
        Stop the node (SIGINT: its shutdown transition stops the server).

        It first gets `drain_s` to receive the line's last RejectEvents (published while the
        line stopped) and send their ResultReadyEvents: seen missing for the last 3 parts of 60
        on 2 loaded cores without it.
        """
        if self._process.poll() is None:
            time.sleep(drain_s)
            self._process.send_signal(signal.SIGINT)
        try:
            return self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._process.wait()

    def failure(self) -> str:
        """Return the last lines the node printed (why it did not start)."""
        try:
            self._process.wait(timeout=5.0)       # its last lines read
        except subprocess.TimeoutExpired:
            pass
        return '\n'.join(self.lines[-5:])
