# SPDX-License-Identifier: Apache-2.0
"""
The Modbus PLC simulator of the demo in a child process, queried through a pipe.

The line PLC is another machine: its simulator (acnn_ros.core.plc.modbus.simulator) runs in a
process of its own, so that its replies are not delayed by the GIL of the line's process
(rendering, inference). Its public record (decisions, writes, coil pulses, heartbeats) is what
the demo reconciles against.
"""
import logging
import multiprocessing
import signal
import threading
from typing import List

from acnn_ros.core.plc.loop_server import ReceivedDecision


def quiet_pymodbus() -> None:
    """Keep pymodbus's own error lines and frame dumps off the console."""
    # reject_actuator_node reports every consequence (missed rejects, reconnects) itself;
    # pymodbus's hex dumps of the last frames would bury the summary lines.
    logging.getLogger('pymodbus').setLevel(logging.CRITICAL)


def _serve_plc(connection, port: int, register_map: dict) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is the parent's to handle
    quiet_pymodbus()
    from acnn_ros.core.plc.modbus.simulator import PlcSimulator, ModbusConfig
    simulator = PlcSimulator(port=port, register_map=ModbusConfig(**register_map))
    try:
        simulator.start()
    except RuntimeError as exc:
        connection.send(str(exc))
        return
    connection.send(simulator.port)
    while True:
        request = connection.recv()
        if request == 'stop':
            simulator.stop()      # no write arrives after this: the record is complete
            connection.send(simulator.decisions())
            return
        connection.send(getattr(simulator, request)())


class PlcSimulatorProcess:
    """The Modbus PlcSimulator in a child process, queried through a pipe."""

    def __init__(self, port: int, register_map: dict):
        context = multiprocessing.get_context('spawn')
        self._connection, child = context.Pipe()
        self._lock = threading.Lock()
        self._process = context.Process(
            target=_serve_plc, args=(child, port, register_map), name='plc_simulator',
            daemon=True)
        self._process.start()
        if not self._connection.poll(30):
            self._process.kill()
            raise RuntimeError('the PLC simulator process did not start within 30 s')
        reply = self._connection.recv()
        if isinstance(reply, str):
            raise RuntimeError(reply)
        self.port = reply

    @property
    def pid(self) -> int:
        """Return the simulator process's id (to stop, continue or kill it like a PLC)."""
        return self._process.pid

    def _ask(self, request: str):
        with self._lock:
            self._connection.send(request)
            return self._connection.recv()

    def decisions(self):
        """Return the decision blocks the PLC received."""
        return self._ask('decisions')

    def applied_decisions(self):
        """Return the decision blocks the PLC applied (the contract's validity rule)."""
        return self._ask('applied_decisions')

    def applied_pulses(self):
        """Return (time, part id) of the coil edges that fired the ejector (the contract)."""
        return self._ask('applied_pulses')

    def writes(self):
        """Return every write the PLC received."""
        return self._ask('writes')

    def coil_pulses(self):
        """Return (on, off) times of the reject coil pulses."""
        return self._ask('coil_pulses')

    def heartbeat_toggles(self):
        """Return the times the heartbeat register changed."""
        return self._ask('heartbeat_toggles')

    def stop(self) -> List[ReceivedDecision]:
        """
        Stop the server and the process; return every decision block it received.

        The record is read after the server stopped, so it holds the writes of the simulator's
        whole life ([] when the process had already died: its record died with it).
        """
        try:
            decisions = self._ask('stop')
        except (EOFError, OSError):
            decisions = []
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
        return decisions or []
