# SPDX-License-Identifier: Apache-2.0
"""
A line PLC stand-in: a real pymodbus Modbus TCP server on 127.0.0.1 that records every write.

Used by the tests, the reject timing benchmark and the one-process demo::

    sim = PlcSimulator(port=5020)      # port=0: a free port is picked, see sim.port
    sim.start()                        # serves in a background thread
    ...
    sim.decisions()                    # [ReceivedDecision(time, part_id, verdict, reason, valid)]
    sim.applied_decisions()            # those a PLC following the contract applies
    sim.coil_pulses()                  # [(on_time, off_time or None), ...]
    sim.applied_pulses()               # rising edges the contract lets fire the ejector
    sim.heartbeat_toggles()            # times the heartbeat register changed value
    sim.stop()

or from a shell: `python -m acnn_ros.core.plc.modbus.simulator --port 5020` (prints every write).
The register map is a ModbusConfig (core/plc/modbus/config.py, docs/LINE_INTEGRATION.md). The
simulated PLC has a free-running millisecond counter at `clock_register` (refreshed at every
read, as a PLC program copies its tick counter every scan) and applies the contract's validity rule
(core/plc/validity.py) to what it receives: a decision block whose valid-until stamp has passed
at receipt is recorded but not applied, and a reject-coil edge fires only while the last block
is a valid reject.
"""
import argparse
import asyncio
import logging
import socket
import sys
import threading
import time
from typing import List, NamedTuple, Optional, Sequence, Tuple

from acnn_ros.core.plc.loop_server import free_port, LoopThreadServer, ReceivedDecision
from acnn_ros.core.plc.modbus.config import ModbusConfig
from acnn_ros.core.plc.validity import clock_words, still_valid, words_ms
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

COILS = 1, 5, 15            # function codes that read/write coils
WRITES = 5, 6, 15, 16       # function codes that write
READ_REGISTERS = 3
# The simulated PLC's tick counter starts far from the vision clock, as a real one does.
CLOCK_ORIGIN_MS = 3_000_000_000


def plc_ms() -> int:
    """Return the simulated PLC's free-running millisecond counter (32 bits, wraps)."""
    return (CLOCK_ORIGIN_MS + int(time.monotonic() * 1000.0)) % (1 << 32)


class PlcWrite(NamedTuple):
    """One write request as the PLC received it (time.time() seconds)."""

    time: float
    function_code: int
    address: int
    values: Tuple[int, ...]
    plc_ms: int = 0          # the PLC's counter at receipt

    @property
    def is_coil(self) -> bool:
        """Return True for a coil write."""
        return self.function_code in COILS


class PlcSimulator(LoopThreadServer):
    """Modbus TCP server on 127.0.0.1 recording writes; start/stop/restart from any thread."""

    label = 'PLC simulator'
    thread_name = 'plc-simulator'

    def __init__(self, port: int = 0, register_map: Optional[ModbusConfig] = None,
                 size: int = 256, host: str = '127.0.0.1'):
        super().__init__(port or free_port(), host)
        # The addresses it interprets: those of the vision system's configuration.
        self.map = register_map or ModbusConfig()
        self.size = size

    # -- records -----------------------------------------------------------------------------

    def decisions(self) -> List[ReceivedDecision]:
        """Return the decision blocks written (4 or 6 registers at decision_register)."""
        base = self.map.decision_register
        return [self._decision(w) for w in self.writes()
                if not w.is_coil and w.address == base and len(w.values) >= 4]

    def applied_decisions(self) -> List[ReceivedDecision]:
        """Return the blocks a PLC following the contract applies (stale ones ignored)."""
        return [d for d in self.decisions() if d.valid is not False]

    def applied_pulses(self) -> List[Tuple[float, int]]:
        """
        Return (time, part id) of each reject-coil rising edge that fires the ejector.

        The contract: a reject block applied (valid at receipt) arms one pulse; a rising edge
        fires only while an armed block's valid-until stamp has not passed, and uses it up.
        Blocks without a stamp arm a pulse until the next edge.
        """
        fired, armed, state = [], [], False
        for w in self.writes():
            if not w.is_coil and w.address == self.map.decision_register and len(w.values) >= 4:
                decision = self._decision(w)
                if decision.verdict == 2 and decision.valid is not False:
                    armed.append(w)
            elif w.is_coil and w.address == self.map.reject_coil:
                rising = bool(w.values[0]) and not state
                state = bool(w.values[0])
                if not rising:
                    continue
                armed = [b for b in armed if len(b.values) < 6
                         or still_valid(words_ms(*b.values[4:6]), w.plc_ms)]
                if armed:
                    block = armed.pop(0)
                    fired.append((w.time, (block.values[0] << 16) | block.values[1]))
        return fired

    @staticmethod
    def _decision(w: PlcWrite) -> ReceivedDecision:
        valid = (still_valid(words_ms(*w.values[4:6]), w.plc_ms) if len(w.values) >= 6
                 else None)
        return ReceivedDecision(w.time, (w.values[0] << 16) | w.values[1], w.values[2],
                                w.values[3], valid)

    def coil_pulses(self) -> List[Tuple[float, Optional[float]]]:
        """Return (on_time, off_time) of each rising edge of the reject coil."""
        pulses = []
        state = False
        for w in self.writes():
            if w.is_coil and w.address == self.map.reject_coil:
                if w.values[0] and not state:
                    pulses.append([w.time, None])
                elif not w.values[0] and state:
                    pulses[-1][1] = w.time
                state = bool(w.values[0])
        return [tuple(p) for p in pulses]

    def heartbeat_toggles(self) -> List[float]:
        """Return the times at which the heartbeat register changed value."""
        times, last = [], None
        for w in self.writes():
            if not w.is_coil and w.address == self.map.heartbeat_register:
                if last is not None and w.values[0] != last:
                    times.append(w.time)
                last = w.values[0]
        return times

    def written_addresses(self) -> Tuple[set, set]:
        """Return (register addresses, coil addresses) that received any write."""
        registers, coils = set(), set()
        for w in self.writes():
            span = range(w.address, w.address + len(w.values))
            (coils if w.is_coil else registers).update(span)
        return registers, coils

    # -- server thread -----------------------------------------------------------------------

    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      registers: Sequence[int], set_values) -> None:
        if function_code in WRITES and set_values is not None:
            self._add_write(PlcWrite(time.time(), function_code, address,
                                     tuple(int(v) for v in set_values), plc_ms()))
        clock = self.map.clock_register
        if clock >= 0 and function_code == READ_REGISTERS:
            # The PLC program copies its tick counter to these registers every scan.
            high, low = clock_words(plc_ms())
            for offset, word in ((0, high), (1, low)):
                index = clock + offset - start_address
                if 0 <= index < len(registers):
                    registers[index] = word
        return None

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        blocks = ([SimData(0, count=self.size, values=False, datatype=DataType.BITS)],
                  [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                  [SimData(0, count=self.size, values=0, datatype=DataType.REGISTERS)],
                  [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)])
        device = SimDevice(id=0, simdata=blocks, action=self._action)
        server = _TrackingTcpServer(device, address=(self.host, self.port))
        await server.serve_forever(background=True)
        self._ready.set()
        await self._stop.wait()
        await server.shutdown()
        # A PLC that goes away drops its TCP connections. pymodbus 3.16 misses one whose
        # transport was not yet attached when shutdown() ran (seen: the client then stays
        # "connected" to a dead server): close every transport ever handed out, then let the
        # loop run the closes before it is closed itself.
        await asyncio.sleep(0.02)
        for handler in server.handlers:
            if handler.transport is not None:
                handler.transport.close()
        await asyncio.sleep(0.02)


class _TrackingTcpServer(ModbusTcpServer):
    """ModbusTcpServer that remembers every connection handler it created."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.handlers = []

    def callback_new_connection(self):
        """Create the handler of a new connection and remember it."""
        handler = super().callback_new_connection()
        self.handlers.append(handler)
        return handler


class SilentTcpServer:
    """A 'hung PLC': accepts TCP connections on 127.0.0.1 and never answers a byte."""

    def __init__(self, port: int = 0):
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(('127.0.0.1', port))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self.accepted = 0
        self._conns = []
        self._running = True
        self._thread = threading.Thread(target=self._run, name='silent-plc', daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._running:
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            self._conns.append(conn)   # kept open, never read from, never written to

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._running = False
        self._thread.join(timeout=2.0)
        for conn in self._conns:
            conn.close()
        self._sock.close()


def main(argv=None) -> int:
    """Run the simulator in the foreground and print every write."""
    parser = argparse.ArgumentParser(description='Modbus TCP PLC simulator on 127.0.0.1')
    parser.add_argument('--port', type=int, default=5020, help='TCP port (default 5020)')
    parser.add_argument('--decision-register', type=int, default=0)
    parser.add_argument('--reject-coil', type=int, default=0)
    parser.add_argument('--heartbeat-register', type=int, default=10)
    parser.add_argument('--clock-register', type=int, default=12)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sim = PlcSimulator(args.port, ModbusConfig(
        decision_register=args.decision_register, reject_coil=args.reject_coil,
        heartbeat_register=args.heartbeat_register, clock_register=args.clock_register))

    def show(write: PlcWrite) -> None:
        kind = 'coil' if write.is_coil else 'register'
        print(f'{write.time:.3f} fc{write.function_code} {kind} {write.address} '
              f'<- {list(write.values)}', flush=True)

    sim.on_write = show
    sim.start()
    print(f'PLC simulator listening on {sim.host}:{sim.port} (Ctrl-C stops)', flush=True)
    sim.serve_until_interrupted()
    return 0


if __name__ == '__main__':
    sys.exit(main())
