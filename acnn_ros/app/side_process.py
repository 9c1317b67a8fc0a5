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
from typing import List, Optional, Sequence, Tuple

# How long the demo holds its line until the side nodes receive its per-part topics.
MATCH_TIMEOUT_S = 30.0


class SideNodeProcess:
    """`python -m acnn_ros.nodes.<node> --ros-args *ros_args`; `address` from its log."""

    start_timeout_s = 30.0     # how long wait_started waits by default
    stop_timeout_s = 15.0      # how long stop waits for the node to exit
    drain_s = 0.0              # what the node gets before SIGINT (its last messages)

    def __init__(self, node: str, ros_args: Sequence[str], started_text: str):
        """Start the node; its line containing `started_text` names its address after it."""
        self.node = node
        self.started_text = started_text
        self.address: Optional[str] = None
        self.lines: List[str] = []
        self._process = subprocess.Popen(
            [sys.executable, '-m', f'acnn_ros.nodes.{node}', '--ros-args', *ros_args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors='replace',
            start_new_session=True)
        self._started = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

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
            status = self._process.wait(self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            status = self._process.wait()
        self._reader.join(timeout=5.0)      # its last lines read
        return status

    def failure(self) -> str:
        """Return the last lines the node printed (why it did not start)."""
        try:
            self._process.wait(timeout=5.0)       # its last lines read
        except subprocess.TimeoutExpired:
            pass
        return '\n'.join(self.lines[-5:])


def hold_line_for(side_nodes: Sequence[SideNodeProcess], line,
                  timeout_s: float = MATCH_TIMEOUT_S) -> None:
    """
    Return once the side nodes receive the line's `inspection` and `reject` (or after timeout).

    They subscribe like any consumer of the line (volatile): a part decided before their
    subscriptions matched would never reach the operator's page or the OPC UA clients. On a
    loaded machine discovery between processes takes seconds; the line's first part comes
    0.1 s after it starts.
    """
    if not side_nodes:
        return
    owners = [(line.inference, 'inspection')] + (
        [(line.actuator, 'reject')] if line.actuator is not None else [])
    missing = wait_until_matched(owners, [side.node for side in side_nodes], timeout_s)
    if missing:
        print(f'warning: the line starts before {"; ".join(missing)} (after {timeout_s:g} s): '
              'its first parts may not reach them', file=sys.stderr)


def wait_until_matched(owners: Sequence[Tuple[object, str]], subscribers: Sequence[str],
                       timeout_s: float) -> List[str]:
    """
    Wait until the nodes `subscribers` subscribe to each (node, topic) of `owners`.

    And until every subscription the graph shows there is matched to that node's publisher
    (the graph may show a subscription before the data path is up). Return what is missing.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        missing = []
        for owner, topic in owners:
            name = owner.resolve_topic_name(topic)
            seen = owner.get_subscriptions_info_by_topic(name)
            nodes = {info.node_name for info in seen}
            missing += [f'{node} subscribes to {name}' for node in subscribers
                        if node not in nodes]
            matched = sum(publisher.get_subscription_count()
                          for publisher in owner.publishers if publisher.topic_name == name)
            if matched < len(seen):
                missing.append(f'{len(seen) - matched} subscription(s) of {name} matched')
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(0.05)
