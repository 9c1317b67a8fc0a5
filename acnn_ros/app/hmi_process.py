# SPDX-License-Identifier: Apache-2.0
"""
The demo's operator page: hmi_node in a process of its own, beside the line's process.

Its database and the reject archive it shows live in a temporary folder (kept after the demo:
`acnn shift export --database <folder>/shift.sqlite --station demo`). The URL is read from the
node's start-up line; a page that cannot start (the port taken) is said and the demo goes on
without it.
"""
import os
import tempfile
from typing import Optional

from acnn_ros.app.side_process import SideNodeProcess

STATION_ID = 'demo'


class HmiProcess(SideNodeProcess):
    """hmi_node in the demo's namespace (app/side_process.py); SIGINT writes its queued rows."""

    stop_timeout_s = 10.0

    def __init__(self, namespace: str, port: int):
        self.folder = tempfile.mkdtemp(prefix='acnn_demo_hmi_')
        self.archive_dir = os.path.join(self.folder, 'archive')
        self.database = os.path.join(self.folder, 'shift.sqlite')
        super().__init__('hmi_node', [
            '-r', f'__ns:=/{namespace}', '-p', f'port:={port}',
            '-p', f'database:={self.database}', '-p', f'archive_dir:={self.archive_dir}',
            '-p', f'station_id:={STATION_ID}'], 'page on ')

    @property
    def url(self) -> Optional[str]:
        """Return the page's URL once served."""
        return self.address
