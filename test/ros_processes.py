# SPDX-License-Identifier: Apache-2.0
"""
THE process helper of the tests: nodes, modules and client scripts in processes of their own.

Every child gets this run's environment (conftest.py: loopback discovery, the run's domain,
unbuffered output) plus `env`; its output lines are collected by a thread, so a chatty child
never blocks on a full pipe. Client scripts live in test/clients/ (real modules that flake8
reads); test/ is on their PYTHONPATH so they use ros_client.RosClient like the tests do.
"""
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Mapping, Optional, Sequence

TEST_DIR = Path(__file__).resolve().parent
REPO_DIR = TEST_DIR.parent
CLIENTS_DIR = TEST_DIR / 'clients'


class NodeProcess:
    """A child process with this run's ROS environment; its output collected line by line."""

    def __init__(self, command: Sequence[str], env: Optional[Dict[str, str]] = None,
                 cwd: Optional[Path] = None, environ: Optional[Mapping[str, str]] = None):
        """Start `command`: environment `environ` (default: this run's) updated with `env`."""
        child_env = dict(os.environ if environ is None else environ)
        child_env.update(env or {})
        self.process = subprocess.Popen(
            list(command), cwd=str(cwd or REPO_DIR), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, errors='replace', env=child_env)
        self.lines: List[str] = []
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    @classmethod
    def node(cls, name: str, *ros_args: str, prefix: Sequence[str] = (), **options):
        """Start `python -m acnn_ros.nodes.<name> --ros-args *ros_args` (under `prefix`)."""
        return cls([*prefix, sys.executable, '-m', f'acnn_ros.nodes.{name}', '--ros-args',
                    *ros_args], **options)

    @classmethod
    def module(cls, module: str, *args: str, prefix: Sequence[str] = (), **options):
        """Start `python -m <module> *args` (under `prefix`)."""
        return cls([*prefix, sys.executable, '-m', module, *args], **options)

    @classmethod
    def script(cls, name: str, *args: str, prefix: Sequence[str] = (), env=None, **options):
        """Start the client script test/clients/<name>.py with `args` (test/ importable)."""
        environ = options.get('environ')
        inherited = (os.environ if environ is None else environ).get('PYTHONPATH', '')
        path = os.pathsep.join([str(TEST_DIR)] + [inherited] * bool(inherited))
        return cls([*prefix, sys.executable, str(CLIENTS_DIR / f'{name}.py'), *args],
                   env=dict(env or {}, PYTHONPATH=path), **options)

    def _collect(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip('\n'))

    @property
    def output(self) -> str:
        """Everything the process printed so far (stdout and stderr), one string."""
        if self.process.poll() is not None:
            self._reader.join(timeout=5.0)     # all of it once the process has exited
        return '\n'.join(self.lines)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    @property
    def returncode(self) -> Optional[int]:
        """The exit status, None while it runs."""
        return self.process.poll()

    def running(self) -> bool:
        """Return whether the process has not exited yet."""
        return self.process.poll() is None

    def wait_for_line(self, text: str, timeout_s: float = 20.0) -> Optional[str]:
        """Return the first output line containing `text` (None on exit or timeout)."""
        end = time.monotonic() + timeout_s
        while True:
            found = next((line for line in list(self.lines) if text in line), None)
            if found is not None or time.monotonic() >= end:
                return found
            if self.process.poll() is not None:
                self._reader.join(timeout=5.0)
                return next((line for line in list(self.lines) if text in line), None)
            time.sleep(0.05)

    def wait_for_log(self, text: str, timeout_s: float = 20.0) -> bool:
        """Wait until `text` appears in the output (False if the process exits or times out)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if text in self.output:
                return True
            if self.process.poll() is not None:
                self._reader.join(timeout=5.0)
                return text in self.output
            time.sleep(0.05)
        return False

    def wait(self, timeout_s: float) -> int:
        """Wait for the exit (killed after timeout_s, noted in the output); return the status."""
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            code = self.kill()
            self.lines.append(f'[killed after {timeout_s} s]')
        self._reader.join(timeout=5.0)
        return code

    def finish(self, timeout_s: float) -> str:
        """Wait for the exit (killed after timeout_s) and return the whole output."""
        self.wait(timeout_s)
        return self.output

    def interrupt(self, timeout_s: float = 15.0, sig: int = signal.SIGINT) -> int:
        """Send SIGINT (Ctrl-C; or `sig`) and return the exit status (killed after timeout_s)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.wait(timeout_s)

    def kill(self) -> int:
        """Kill the process (SIGKILL) and return its exit status."""
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait()
        self._reader.join(timeout=5.0)
        return code
