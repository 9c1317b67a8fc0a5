# SPDX-License-Identifier: Apache-2.0
"""
Ejector output backends behind one interface: PLC (Modbus, OPC UA), GPIO, topic only.

The PLC backends live in core/plc/modbus.py (Modbus TCP) and core/plc/opcua.py (OPC UA).

The reject scheduler calls `actuate(command, done)` at the moment the command must go out;
`actuate` never blocks (a backend that talks to hardware does it on its own thread) and calls
`done(report)` exactly once, from any thread, when the command was issued or given up.
"""
from dataclasses import dataclass
import threading
import time
from typing import Callable, List, Optional

VERDICT_ACCEPT = 1
VERDICT_REJECT = 2
# "Vision not ready" (deactivated, shutting down): the decision block / variables go back to
# their power-up values, part id 0 (never a part: camera part ids start at 1) and verdict 0
# (no verdict), and the heartbeat stops (docs/LINE_INTEGRATION.md, "Vision ready").
NOT_READY_PART_ID = 0
VERDICT_NONE = 0


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


class TopicActuator(Actuator):
    """
    No hardware: the RejectEvent topic is the output.

    A command is 'fired' the moment the scheduler issues it; whatever listens to `reject`
    (a PLC bridge, an HMI) takes it from there.
    """

    name = 'topic'

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock

    def actuate(self, command: ActuationCommand, done: DoneCallback) -> None:
        """Report the command fired now, or missed when the scheduler issued it too late."""
        now = self._clock()
        if now > command.deadline:
            done(ActuationReport(command.part_id, False, None,
                                 f'issued {now - command.due_time:.3f} s after its due time'))
            return
        done(ActuationReport(command.part_id, True, now, 'published on the topic'))


class GpioActuator(Actuator):
    """
    Drive the ejector valve from a GPIO line with libgpiod's Python binding (gpiod >= 2.0).

    UNTESTED: no GPIO hardware and no `gpiod` package on the development machines. Written
    against the gpiod 2.x API (`gpiod.request_lines`, `LineSettings`, `Line.Value`); the pulse
    is timed with a `threading.Timer` so `actuate` does not block.
    """

    name = 'gpio'

    def __init__(self, chip: str, line: int, clock: Callable[[], float] = time.time):
        self._chip = chip
        self._line = line
        self._clock = clock
        self._request = None
        self._lock = threading.Lock()
        self._generation = 0
        self._error = ''

    def start(self) -> None:
        """Request the output line (low at start)."""
        try:
            import gpiod  # noqa: I900 - optional, only on machines with GPIO
            from gpiod.line import Direction, Value
        except ImportError as exc:
            raise ValueError('actuator gpio needs the libgpiod 2.x Python binding '
                             f'(pip install gpiod): {exc}') from exc
        self._value = Value
        try:
            self._request = gpiod.request_lines(
                self._chip, consumer='acnn_ros_reject',
                config={self._line: gpiod.LineSettings(direction=Direction.OUTPUT,
                                                       output_value=Value.INACTIVE)})
        except OSError as exc:
            self._error = f'cannot request {self._chip} line {self._line}: {exc}'
            raise

    def stop(self) -> None:
        """Release the line."""
        with self._lock:
            if self._request is not None:
                self._request.release()
                self._request = None

    def actuate(self, command: ActuationCommand, done: DoneCallback) -> None:
        """Raise the line for pulse_width_s (rejects); accepts need no output."""
        if not command.pulse:
            done(ActuationReport(command.part_id, True, self._clock(), 'no output needed'))
            return
        if self._clock() > command.deadline:
            done(ActuationReport(command.part_id, False, None, 'issued after its deadline'))
            return
        with self._lock:
            if self._request is None:
                done(ActuationReport(command.part_id, False, None, 'GPIO line not requested'))
                return
            self._request.set_value(self._line, self._value.ACTIVE)
            self._generation += 1
            generation = self._generation
        fired = self._clock()
        threading.Timer(command.pulse_width_s, self._release, (generation,)).start()
        done(ActuationReport(command.part_id, True, fired, 'GPIO pulse'))

    def _release(self, generation: int) -> None:
        with self._lock:
            # A newer pulse started meanwhile: its own timer ends the output.
            if self._request is not None and generation == self._generation:
                self._request.set_value(self._line, self._value.INACTIVE)

    def status(self) -> ActuatorStatus:
        """Return whether the line is held."""
        if self._request is None:
            return ActuatorStatus(False, self._error or 'GPIO line not requested')
        return ActuatorStatus(True, f'{self._chip} line {self._line}')


def make_actuator(config, clock: Callable[[], float] = time.time,
                  logger=None) -> Actuator:
    """Build the backend named by `config.actuator` (a RejectActuatorConfig)."""
    if config.actuator == 'topic':
        return TopicActuator(clock)
    if config.actuator == 'gpio':
        return GpioActuator(config.gpio_chip, config.gpio_line, clock)
    if config.actuator == 'modbus':
        from acnn_ros.core.plc.modbus import ModbusActuator, PlcConfig
        return ModbusActuator(PlcConfig.from_reject_config(config), clock=clock, logger=logger)
    if config.actuator == 'opcua':
        from acnn_ros.core.plc.opcua import OpcUaActuator, OpcUaConfig
        return OpcUaActuator(OpcUaConfig.from_reject_config(config), clock=clock, logger=logger)
    raise ValueError(f'unknown actuator {config.actuator!r}')
