# SPDX-License-Identifier: Apache-2.0
"""
Decision write latency of the OPC UA backend, next to the Modbus backend, in one run.

For each of `--writes` decisions (one at a time) it measures, against the real servers on
127.0.0.1 (asyncua simulator, pymodbus simulator):

- handover -> report: `actuate()` called until `done()` reported the write acknowledged;
- handover -> server: `actuate()` called until the server received the write.

    python -m benchmarks.opcua_benchmark --writes 300

Prints a markdown table (command, machine, numbers) for docs/LINE_INTEGRATION.md.
"""
import argparse
import logging
import os
from pathlib import Path
import platform
import sys
import threading
import time

import numpy as np

REPO_DIR = Path(__file__).resolve().parents[1]


def measure(actuator, received_times, writes: int):
    """Return (report latencies, server latencies) in ms of `writes` sequential decisions."""
    from acnn_ros.core.plc.contract import ActuationCommand
    actuator.start()
    try:
        end = time.time() + 10.0
        while not actuator.status().ok and time.time() < end:
            time.sleep(0.01)
        if not actuator.status().ok:
            raise RuntimeError(f'{actuator.name}: {actuator.status().detail}')
        reported, received = [], []
        for part_id in range(1, writes + 1):
            done = threading.Event()
            before = len(received_times())
            handed = time.time()
            actuator.actuate(ActuationCommand(part_id, part_id % 2 == 0, 1, handed,
                                              handed + 1.0, False, 0.03),
                             lambda report: done.set())
            if not done.wait(2.0):
                raise RuntimeError(f'{actuator.name}: no report for part {part_id}')
            reported.append(time.time() - handed)
            times = received_times()
            if len(times) > before:
                received.append(times[before] - handed)
        return np.array(reported) * 1e3, np.array(received) * 1e3
    finally:
        actuator.stop()


def row(name: str, latencies) -> str:
    """Return one markdown table row of percentiles (ms)."""
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return (f'| {name} | {len(latencies)} | {p50:.2f} | {p95:.2f} | {p99:.2f} | '
            f'{latencies.max():.2f} |')


def main(argv=None) -> int:
    """Measure both backends and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--writes', type=int, default=300, help='decisions per backend')
    args = parser.parse_args(argv)
    if not 1 <= args.writes <= 5000:
        parser.error('--writes must be in [1, 5000]')
    logging.basicConfig(level=logging.ERROR)
    from acnn_ros.core.plc.modbus.client import ModbusActuator
    from acnn_ros.core.plc.modbus.config import ModbusConfig
    from acnn_ros.core.plc.modbus.simulator import PlcSimulator
    from acnn_ros.core.plc.opcua.client import OpcUaActuator
    from acnn_ros.core.plc.opcua.config import OpcUaConfig
    from acnn_ros.core.plc.opcua.simulator import OpcUaSimulator

    opcua_sim = OpcUaSimulator().start()
    try:
        opcua = OpcUaActuator(OpcUaConfig(endpoint=opcua_sim.endpoint, heartbeat_node='',
                                          timeout_s=0.5))
        opcua_report, opcua_server = measure(
            opcua, lambda: [d.time for d in opcua_sim.decisions()], args.writes)
    finally:
        opcua_sim.stop()
    modbus_sim = PlcSimulator().start()
    try:
        modbus = ModbusActuator(ModbusConfig(port=modbus_sim.port, heartbeat_register=-1,
                                             reject_coil=-1, timeout_s=0.5))
        modbus_report, modbus_server = measure(
            modbus, lambda: [d.time for d in modbus_sim.decisions()], args.writes)
    finally:
        modbus_sim.stop()

    load = ', '.join(f'{v:.2f}' for v in os.getloadavg())
    print(f'`python -m benchmarks.opcua_benchmark --writes {args.writes}` on '
          f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
          f'load average {load}, Python {platform.python_version()}\n')
    print('| path | writes | p50 ms | p95 ms | p99 ms | max ms |')
    print('|---|---|---|---|---|---|')
    print(row('OPC UA: actuate -> done', opcua_report))
    print(row('OPC UA: actuate -> server received', opcua_server))
    print(row('Modbus: actuate -> done', modbus_report))
    print(row('Modbus: actuate -> server received', modbus_server))
    ratio = np.median(opcua_report) / np.median(modbus_report)
    print(f'\np50 actuate -> done, OPC UA / Modbus: {ratio:.2f}x (same run)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
