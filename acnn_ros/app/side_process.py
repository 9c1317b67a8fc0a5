# SPDX-License-Identifier: Apache-2.0
"""
A node of the demo in a process of its own, beside the line's process.

The operator's page and the OPC UA vision system run so; what each serves is read from its
start-up line. A process of its own so that its server takes nothing from the line's firing
path (GIL); a session of its own, so that Ctrl-C in the terminal is the demo's to handle. Its
output is kept, bounded, for the error report of a node that did not start.
"""
import signal
import subprocess
import sys
import threading
import time
from typing import List, Optional, Sequence


class SideNodeProcess:
    """`python -m acnn_ros.nodes.<node> --ros-args *ros_args`; `address` from its log."""

    start_timeout_s = 30.0     # how long wait_started waits by default
    stop_timeout_s = 15.0      # how long stop waits for the node to exit
    drain_s = 0.0              # what the node gets before SIGINT (its last messages)

    def __init__(self, node: str, ros_args: Sequence[str], started_text: str):
        """Start the node; its line containing `started_text` names its address after it."""
        self.started_text = started_text
        self.address: Optional[str] = None
        self.lines: List[str] = []
        self._process = subprocess.Popen(
            [sys.executable, '-m', f'acnn_ros.nodes.{node}', '--ros-args', *ros_args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors='replace',
            start_new_session=True)
        self._started = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._process.stdout:
            self.lines.append(line.rstrip('\n'))
            del self.lines[:-50]              # bounded: the last lines, for an error report
            if self.address is None and self.started_text in line:
                self.address = line.split(self.started_text, 1)[1].split()[0]
                self._started.set()
        self._started.set()

    def wait_started(self, timeout_s: Optional[float] = None) -> Optional[str]:
        """Return the address once served; None if the node ended or did not say it."""
        self._started.wait(self.start_timeout_s if timeout_s is None else timeout_s)
        return self.address

    def stop(self) -> int:
        """Stop the node (SIGINT: its shutdown transition), after `drain_s`; its exit status."""
        if self._process.poll() is None:
            time.sleep(self.drain_s)
            self._process.send_signal(signal.SIGINT)
        try:
            return self._process.wait(self.stop_timeout_s)
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
