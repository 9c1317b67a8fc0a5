# SPDX-License-Identifier: Apache-2.0
"""Helpers shared by the PLC client tests (Modbus and OPC UA): report collection and polling."""
import threading
import time


class Reports:
    """Collect actuation reports from a client's thread, with the time each arrived."""

    def __init__(self):
        self.items = []
        self.times = []
        self.event = threading.Condition()

    def __call__(self, report):
        with self.event:
            self.items.append(report)
            self.times.append(time.time())
            self.event.notify_all()

    def wait_for(self, count, timeout_s=5.0):
        """Wait until `count` reports arrived (or the timeout); return those so far."""
        with self.event:
            self.event.wait_for(lambda: len(self.items) >= count, timeout_s)
        return list(self.items)


def wait_until(predicate, timeout_s=5.0):
    """Poll `predicate` every 10 ms; return whether it became true within the timeout."""
    end = time.time() + timeout_s
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False
