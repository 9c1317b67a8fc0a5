# SPDX-License-Identifier: Apache-2.0
"""
Test support of the vision system server: a recording line, the event handler, a server.

The server is the real one (core/vision_system) on 127.0.0.1 with the official MachineVision
NodeSet2; `RecordingLine` stands for the ROS graph behind it (test_vision_system_node.py runs
the real nodes).
"""
from pathlib import Path

from acnn_ros.core.plc.loop_server import free_port
from acnn_ros.core.vision_system.config import NODESET_FILE, VisionSystemConfig
from acnn_ros.core.vision_system.recipes import recipe_for_model, RecipeBook
from acnn_ros.core.vision_system.server import VisionSystemServer
from asyncua import Client

REPO_DIR = Path(__file__).resolve().parents[1]
NODESET = REPO_DIR / NODESET_FILE
MODELS_DIR = REPO_DIR / 'resource' / 'models'


def opcua_client(endpoint: str, **options) -> Client:
    """
    Return an asyncua client that tolerates a busy machine.

    asyncua's watchdog reads the server state every `watchdog_intervall` (1 s) and gives the
    connection up when an answer takes longer than that: seen once in ~5 runs of
    test_vision_system_node on 2 loaded cores (the client disconnected itself mid-walk).
    """
    return Client(endpoint, timeout=20, watchdog_intervall=5.0, **options)


class Events:
    """asyncua subscription handler keeping the events it is notified of."""

    def __init__(self):
        self.received = []

    def event_notification(self, event):
        """Keep `event` (called by asyncua on its loop)."""
        self.received.append(event)


class RecordingLine:
    """The line behind the server: records calls; load_model fails for the bottle model."""

    def __init__(self):
        self.calls = []

    def activate(self):
        """Record the call; succeed."""
        self.calls.append('activate')
        return ''

    def deactivate(self):
        """Record the call; succeed."""
        self.calls.append('deactivate')
        return ''

    def load_model(self, path):
        """Record the call; refuse acnn_bottle (an engine that cannot take the model)."""
        self.calls.append(f'load_model {Path(path).name}')
        if 'bottle' in path:
            return False, 'engine refused the model (old model kept)'
        return True, 'loaded'


def start_server(models=(), line=None, **settings) -> VisionSystemServer:
    """Start a server on a free port with recipes for `models` (file names in MODELS_DIR)."""
    book = RecipeBook()
    for name in models:
        book.add(recipe_for_model(name, MODELS_DIR / name))
    config = VisionSystemConfig(server_port=free_port(), **settings)
    server = VisionSystemServer(config, line or RecordingLine(), book, str(NODESET),
                                model_resolver=lambda name: str(MODELS_DIR / name))
    server.line_record = server.line
    return server.start()
