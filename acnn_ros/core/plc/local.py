# SPDX-License-Identifier: Apache-2.0
"""Ejector outputs without a PLC: the `reject` topic only, and a GPIO line (libgpiod)."""
import threading
import time
from typing import Callable

from acnn_ros.core.plc.contract import (ActuationCommand, ActuationReport, Actuator,
                                        ActuatorStatus, DoneCallback)


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
