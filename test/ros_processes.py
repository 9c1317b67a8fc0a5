# SPDX-License-Identifier: Apache-2.0
"""Start Python snippets as separate ROS processes and collect their output, for tests."""
import os
from pathlib import Path
import subprocess
import sys
import textwrap
from typing import List, Optional

REPO_DIR = Path(__file__).resolve().parents[1]


def start_python(code: str, args: Optional[List[str]] = None, env: Optional[dict] = None,
                 cwd: Optional[Path] = None) -> subprocess.Popen:
    """Start `python -c code` with this test run's ROS environment; text stdout, merged stderr."""
    child_env = dict(os.environ)
    child_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, '-c', textwrap.dedent(code)] + list(args or []),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=child_env, cwd=str(cwd or REPO_DIR))


def finish(process: subprocess.Popen, timeout_s: float) -> str:
    """Wait for a process (killing it after timeout_s) and return its output."""
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        output += f'\n[killed after {timeout_s} s]'
    return output
