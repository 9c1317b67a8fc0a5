# SPDX-License-Identifier: Apache-2.0
"""
The contract of the ejector outputs: commands, reports, the `Actuator` interface, link timing.

The PLC protocols live in a sub-package each (core/plc/modbus, core/plc/opcua), registered in
core/plc/protocols.py; the outputs without a PLC (topic, GPIO) in core/plc/local.py.

The reject scheduler calls `actuate(command, done)` at the moment the command must go out;
`actuate` never blocks (a backend that talks to hardware does it on its own thread) and calls
`done(report)` exactly once, from any thread, when the command was issued or given up.
"""
from dataclasses import dataclass
from typing import Callable, List, Optional

VERDICT_ACCEPT = 1
VERDICT_REJECT = 2
# "Vision not ready" (deactivated, shutting down): the decision block / variables go back to
# their power-up values, part id 0 (never a part: camera part ids start at 1) and verdict 0
# (no verdict), and the heartbeat stops (docs/LINE_INTEGRATION.md, "Vision ready").
NOT_READY_PART_ID = 0
VERDICT_NONE = 0


@dataclass(frozen=True, kw_only=True)
class LinkTiming:
    """Timing of a PLC link, shared by every protocol (parameters plc_heartbeat_period_s ...)."""

    heartbeat_period_s: float = 1.0
    timeout_s: float = 0.1
    reconnect_min_s: float = 0.05
    reconnect_max_s: float = 2.0


@dataclass(frozen=True)
class ActuationCommand:
    """One decision to hand to the line: the part, its verdict and its time budget."""

    part_id: int
    reject: bool
    reason: int
    due_time: float          # when the ejector must act (clock seconds)
    deadline: float          # after this the command is useless: give up, report missed
    pulse: bool              # drive the ejector output (fixed-delay timing, rejects only)
    pulse_width_s: float

    @property
    def verdict(self) -> int:
        """Return VERDICT_REJECT or VERDICT_ACCEPT (the PLC register value)."""
        return VERDICT_REJECT if self.reject else VERDICT_ACCEPT


@dataclass(frozen=True)
class ActuationReport:
    """Outcome of one command."""

    part_id: int
    delivered: bool
    fire_time: Optional[float] = None   # when the line acknowledged it (clock seconds)
    detail: str = ''


@dataclass(frozen=True)
class ActuatorStatus:
    """Health of a backend, for diagnostics."""

    ok: bool
    detail: str


DoneCallback = Callable[[ActuationReport], None]


class Actuator:
    """Common interface of the ejector backends."""

    name = 'base'
    # True when accepted parts must be sent too (a PLC that rejects parts with no verdict).
    sends_accepts = False

    def start(self) -> None:
        """Start background work (connections, heartbeat)."""

    def stop(self) -> None:
        """Stop background work; pending commands are reported missed."""

    def set_ready(self, ready: bool, timeout_s: float = 1.0) -> bool:
        """
        Tell the line whether vision is ready; return True once the line has been told.

        Not ready: the PLC is to reject every part by its own default. A backend without a
        line link has nothing to tell (True).
        """
        return True

    def actuate(self, command: ActuationCommand, done: DoneCallback) -> None:
        """Issue `command` now without blocking; call `done` exactly once."""
        raise NotImplementedError

    def timing_threads(self) -> List[int]:
        """Return the native ids of the backend's threads on the firing path (none here)."""
        return []

    def status(self) -> ActuatorStatus:
        """Return the backend's health."""
        return ActuatorStatus(True, 'ok')
