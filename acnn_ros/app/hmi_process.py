# SPDX-License-Identifier: Apache-2.0
"""
The demo's operator page: hmi_node in a process of its own, beside the line's process.

A process of its own so that the page's web server and database writes take nothing from the
line's firing path (GIL). Its database and the reject archive it shows live in a temporary
folder (kept after the demo: `acnn shift export --database <folder>/shift.sqlite --station
demo`). The URL is read from the node's start-up line; a page that cannot start (the port
taken) is said and the demo goes on without it.
"""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import List, Optional

START_TIMEOUT_S = 30.0
STATION_ID = 'demo'


class HmiProcess:
    """hmi_node (python -m acnn_ros.nodes.hmi_node) in the demo's namespace."""

    def __init__(self, namespace: str, port: int):
        self.folder = tempfile.mkdtemp(prefix='acnn_demo_hmi_')
        self.archive_dir = os.path.join(self.folder, 'archive')
        self.database = os.path.join(self.folder, 'shift.sqlite')
        self.url: Optional[str] = None
        self.lines: List[str] = []
        self._process = subprocess.Popen(
            [sys.executable, '-m', 'acnn_ros.nodes.hmi_node', '--ros-args',
             '-r', f'__ns:=/{namespace}', '-p', f'port:={port}',
             '-p', f'database:={self.database}', '-p', f'archive_dir:={self.archive_dir}',
             '-p', f'station_id:={STATION_ID}'],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors='replace',
            start_new_session=True)   # Ctrl-C in the terminal is the demo's to handle
        self._started = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._process.stdout:
            self.lines.append(line.rstrip('\n'))
            del self.lines[:-50]              # bounded: the last lines, for an error report
            if self.url is None and 'page on http' in line:
                self.url = line.split('page on ', 1)[1].split()[0]
                self._started.set()
        self._started.set()

    def wait_started(self, timeout_s: float = START_TIMEOUT_S) -> Optional[str]:
        """Return the page's URL once served; None if hmi_node ended or did not say it."""
        self._started.wait(timeout_s)
        return self.url

    def stop(self, timeout_s: float = 10.0) -> int:
        """Stop hmi_node (SIGINT: its queued rows are written); return its exit status."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
        try:
            return self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._process.wait()

    def failure(self) -> str:
        """Return the last lines hmi_node printed (why it did not start)."""
        time.sleep(0.2)
        return '\n'.join(self.lines[-5:])
