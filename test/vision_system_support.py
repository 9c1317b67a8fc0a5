# SPDX-License-Identifier: Apache-2.0
"""The event handler of the tests' asyncua subscriptions: every event received, in order."""


class Events:
    """asyncua subscription handler keeping the events it is notified of."""

    def __init__(self):
        self.received = []

    def event_notification(self, event):
        """Keep `event` (called by asyncua on its loop)."""
        self.received.append(event)
