# SPDX-License-Identifier: Apache-2.0
"""Test-wide set-up: DDS stays on loopback in a domain of this run's own."""
import os
from pathlib import Path
import random
import sys

import onnxruntime
import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_DIR.parent / 'shared'
AOI_SAMPLES_DIR = SHARED_DIR / 'data' / 'aoi_samples'

# Before anything imports rclpy: loopback discovery and a domain no other run is likely to
# use (scripts/test.sh picks one too; this covers a bare `pytest`).
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('ROS_DOMAIN_ID', str(random.Random(os.getpid()).randint(10, 99)))
if os.environ.get('ROS_DISTRO') == 'humble':
    # Humble has no discovery range: its switch to loopback is ROS_LOCALHOST_ONLY.
    os.environ.setdefault('ROS_LOCALHOST_ONLY', '1')
# Child processes started by tests must not buffer their output (tests read it line by line).
os.environ.setdefault('PYTHONUNBUFFERED', '1')

sys.path.insert(0, str(Path(__file__).resolve().parent))

# ONNX Runtime builds may carry usage telemetry (onnxruntime >= 1.29 looked up an
# events.data.microsoft.com host from test processes; requirements pin 1.28.0): switch it off
# before any test creates a session.
onnxruntime.disable_telemetry_events()


@pytest.fixture
def aoi_samples_dir():
    """Return the four real AOI frames from ../shared, or skip when they are absent."""
    if not (AOI_SAMPLES_DIR / 'images' / 'train').is_dir():
        pytest.skip(f'real AOI samples not present at {AOI_SAMPLES_DIR} (fresh clone)')
    return AOI_SAMPLES_DIR


@pytest.fixture
def own_domain_env(monkeypatch):
    """
    Put this test in a DDS domain of its own (150..229); return the environment for children.

    Outside the 10..99 that this file and scripts/test.sh pick for whole runs, so a parallel
    run's nodes cannot reach the test's processes. Set in os.environ for the test (restored
    after it): its own RosClient and every child started by ros_processes share the domain.
    """
    monkeypatch.setenv('ROS_DOMAIN_ID', str(random.randint(150, 229)))
    return dict(os.environ)


def pytest_collection_modifyitems(config, items):
    """Mark every test with its module's tier (test/tiers.py), and slow where listed."""
    from tiers import SLOW_MODULES, tier_of
    for item in items:
        module = item.path.stem
        item.add_marker(getattr(pytest.mark, tier_of(module)))
        if module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
