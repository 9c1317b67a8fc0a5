# SPDX-License-Identifier: Apache-2.0
"""
Commissioning access to the line PLC (`acnn plc`): read-back and test writes.

A `PlcLink` reaches the addresses of a RejectActuatorConfig - the decision block, the reject
coil, the heartbeat - and nothing else: no method takes an address from its caller. A test
decision is encoded by the actuators' own functions and written in the same single request,
so it is what the line writes. Every failure (unreachable PLC, refused request, no answer) is
a `PlcLinkError` whose message is meant for the integrator. This module is the part every
protocol shares; each protocol's link is its `link.py` (core/plc/modbus, core/plc/opcua),
found through core/plc/protocols.py.
"""
from dataclasses import dataclass
import socket
import time
from typing import Callable, NamedTuple, Optional, Tuple

from acnn_ros.core.plc.contract import (NOT_READY_PART_ID, VERDICT_ACCEPT, VERDICT_NONE,
                                        VERDICT_REJECT)

VERDICT_NAMES = {VERDICT_NONE: 'none', VERDICT_ACCEPT: 'accept', VERDICT_REJECT: 'reject'}


# How long a decision written by hand stays valid for the PLC (its clock, milliseconds).
COMMISSIONING_VALIDITY_MS = 10_000


class PlcLinkError(Exception):
    """The PLC cannot be reached, did not answer, or refused a request."""


class PlcDecisionBlock(NamedTuple):
    """The decision block as written to / read back from the PLC (its registers / variables)."""

    part_id: int
    verdict: int
    reason: int

    @property
    def not_ready(self) -> bool:
        """Return whether these are the power-up / "vision not ready" values."""
        return (self.part_id, self.verdict) == (NOT_READY_PART_ID, VERDICT_NONE)


@dataclass(frozen=True)
class MapEntry:
    """One register, coil or variable the vision system writes."""

    kind: str        # holding register | coil | variable
    address: str     # protocol address or node id
    data_type: str
    written: str     # when reject_actuator_node writes it
    meaning: str


class PlcLink:
    """Connection to the configured PLC for read-back and test writes; a context manager."""

    backend = ''
    has_coil = False
    has_heartbeat = False

    def where(self) -> str:
        """Return where the PLC is (for messages)."""
        raise NotImplementedError

    def connect(self) -> None:
        """Connect; raise PlcLinkError with the reason when the PLC cannot be reached."""

    def close(self) -> None:
        """Disconnect."""

    def __enter__(self) -> 'PlcLink':
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read_heartbeat(self):
        """Return the heartbeat's current value."""
        raise NotImplementedError

    def write_decision(self, decision: PlcDecisionBlock) -> None:
        """Write one decision exactly as the actuator does (one request)."""
        raise NotImplementedError

    def read_decision(self) -> PlcDecisionBlock:
        """Read the decision block / variables back."""
        raise NotImplementedError

    def set_coil(self, on: bool) -> None:
        """Set or clear the reject coil."""
        raise PlcLinkError(f'backend {self.backend} has no reject coil')

    def read_coil(self) -> bool:
        """Return the reject coil's state."""
        raise PlcLinkError(f'backend {self.backend} has no reject coil')


def check_reachable(host: str, port: int, timeout_s: float, what: str) -> None:
    """Open and close a TCP connection, to tell the integrator why a connect fails."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except socket.gaierror as exc:
        raise PlcLinkError(f'cannot reach the PLC: host {host!r} not found ({exc.strerror}); '
                           f'check {what}') from None
    except socket.timeout:
        raise PlcLinkError(f'cannot reach the PLC at {host}:{port}: no answer within '
                           f'{timeout_s:g} s (host down, firewall or wrong network?); '
                           f'check {what}') from None
    except OSError as exc:
        raise PlcLinkError(f'cannot reach the PLC at {host}:{port}: '
                           f'{exc.strerror or exc}; check {what}') from None


NOT_READY_NOTE = ('vision not ready (reject_actuator_node deactivated or shutting down): the '
                  'heartbeat stops and the decision is set to part id 0, verdict 0, reason 0')


# -- heartbeat -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeartbeatWatch:
    """Heartbeat values read over a while, and what they say."""

    samples: Tuple[Tuple[float, object], ...]   # (clock seconds, value)
    period_s: float                               # the configured toggle period

    @property
    def span_s(self) -> float:
        """Return the time between the first and the last read."""
        return self.samples[-1][0] - self.samples[0][0] if self.samples else 0.0

    @property
    def changes(self) -> int:
        """Return how often the value changed between consecutive reads."""
        values = [value for _, value in self.samples]
        return sum(1 for a, b in zip(values, values[1:]) if a != b)

    def assessment(self) -> Tuple[bool, str]:
        """Return (heartbeat seen and sane, explanation for the integrator)."""
        values = [value for _, value in self.samples]
        foreign = sorted({int(v) for v in values} - {0, 1})
        if foreign:
            return False, (f'value {foreign[0]} is not 0/1: something other than the vision '
                           'heartbeat writes this address')
        expected = self.span_s / self.period_s
        changes = self.changes
        if changes == 0:
            return False, (f'no change in {self.span_s:.1f} s (value {values[-1]}): nobody '
                           'writes the heartbeat, so the PLC watchdog sees vision DOWN (is '
                           'reject_actuator_node running and active, not deactivated?)')
        seen = (f'{changes} changes in {self.span_s:.1f} s, about {expected:.1f} expected '
                f'at the configured {self.period_s:g} s period')
        if changes > 1.5 * expected + 1:
            return False, (f'{seen}: faster than configured - more than one writer (a second '
                           'vision PC, or a PLC program writing this address)?')
        if changes < 0.5 * expected:
            return False, (f'{seen}: slower than configured - a PLC watchdog of 3 periods '
                           'may trip')
        return True, (f"{seen}: a heartbeat is being written (the vision system's if "
                      'reject_actuator_node is active; if it is not, someone else writes '
                      'this address)')


def watch_heartbeat(read: Callable[[], object], duration_s: float, interval_s: float,
                    period_s: float, clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep,
                    on_sample: Optional[Callable[[float, object], None]] = None
                    ) -> HeartbeatWatch:
    """Read the heartbeat every `interval_s` from 0 up to `duration_s` (at least 2 reads)."""
    reads = max(2, int(duration_s / interval_s + 1e-9) + 1)
    samples = []
    start = clock()
    for index in range(reads):
        if index:
            sleep(interval_s)
        now = clock()
        value = read()
        samples.append((now, value))
        if on_sample is not None:
            on_sample(now - start, value)
    return HeartbeatWatch(tuple(samples), period_s)
