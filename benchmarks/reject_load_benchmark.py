# SPDX-License-Identifier: Apache-2.0
"""
Reject timing under vision load: the real actuator process while camera + inference saturate.

Per scenario it starts, each in a process of its own:
- the PLC simulator (pymodbus, 127.0.0.1), at SCHED_FIFO 50 when allowed: it stands for the
  PLC, another machine, so its own scheduling must not be what is measured;
- the vision load: the real one-process line without actuator (`inspection_line
  --no-actuator`: camera_node with the synthetic source at `--rate`, inference_node with the
  shipped demo model), whose parts and verdicts the actuator decides;
- reject_actuator_node (`--params-file config/inspect.yaml`, timing fixed_delay, Modbus) with
  the scenario's isolation (`realtime_policy`, `cpu_affinity`);
and records the RejectEvents for `--seconds`. Fire-time error = time the simulator received the
coil ON write of a reject (its rising edge) minus the reject's due time (capture stamp +
reject_delay_s); edges and fired rejects are matched in due order. Also: the error of the
node's own fire_time (PLC reply received), missed / late counts, load average and the CPU
time of each process. Writes its table into docs/BENCHMARKS.md under
`<!-- section:line-load -->`:

    nice -n 10 python -m benchmarks.reject_load_benchmark --rate 150 --seconds 30 --write-docs
"""
import argparse
import multiprocessing
import os
from pathlib import Path
import platform
import subprocess
import sys
import time

from benchmarks.common import keep_dds_local
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / 'docs' / 'BENCHMARKS.md'
MARKER = '<!-- section:line-load -->'
PARAMS = str(REPO / 'config' / 'inspect.yaml')
SCENARIOS = {   # name: (vision rate factor, realtime_policy, cpu_affinity, realtime_executor)
    'light': (None, 'none', '', False),
    'none': (1.0, 'none', '', False),
    'fifo': (1.0, 'fifo', '', False),
    'fifo_cpu1': (1.0, 'fifo', '[1]', False),
    'fifo_executor': (1.0, 'fifo', '', True),
}


def _serve(connection) -> None:
    from acnn_ros.core.plc.modbus.simulator import PlcSimulator
    sim = PlcSimulator().start()
    connection.send(sim.port)
    connection.recv()
    sim.stop()
    connection.send([(w.time, w.function_code, w.address, w.values) for w in sim.writes()])


def cpu_seconds(pid: int) -> float:
    """Return user + system CPU seconds of a process (all its threads)."""
    try:
        fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    except OSError:
        return float('nan')
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def realtime_process(pid: int, priority: int) -> bool:
    """Put every thread of `pid` at SCHED_FIFO `priority`; return whether it was allowed."""
    from acnn_ros.core.reject.realtime import IsolationSettings, isolate_threads
    tids = [int(t) for t in os.listdir(f'/proc/{pid}/task')]
    return isolate_threads(IsolationSettings('fifo', priority, (), False), tids).ok


def rising_edges(writes, coil: int = 0):
    """Return the times of the reject coil's rising edges in the simulator's write record."""
    edges, state = [], False
    for when, function, address, values in writes:
        if function in (5, 15) and address == coil:
            if values[0] and not state:
                edges.append(when)
            state = bool(values[0])
    return edges


def run_scenario(name: str, rate: float, light_rate: float, seconds: float, env: dict):
    """Run one scenario; return its row of numbers."""
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from acnn_ros.core.messages import stamp_ns
    from acnn_ros.msg import RejectEvent

    factor, policy, cpus, executor = SCENARIOS[name]
    vision_rate = light_rate if factor is None else rate * factor
    context = multiprocessing.get_context('spawn')
    parent, child = context.Pipe()
    plc = context.Process(target=_serve, args=(child,), daemon=True)
    plc.start()
    port = parent.recv()
    plc_realtime = realtime_process(plc.pid, 50)
    actuator = subprocess.Popen(
        [sys.executable, '-m', 'acnn_ros.nodes.reject_actuator_node', '--ros-args',
         '--params-file', PARAMS, '-p', f'plc_port:={port}', '-p', f'realtime_policy:={policy}',
         '-p', f'realtime_executor:={str(executor).lower()}',
         *(['-p', f'cpu_affinity:={cpus}'] if cpus else [])],
        cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rclpy.init()
    node = Node('reject_load_benchmark')
    events = []
    node.create_subscription(RejectEvent, 'reject', events.append,
                             QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
    end = time.time() + 30
    while not node.count_publishers('reject') and time.time() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    time.sleep(1.0)
    vision_log = open(f'/tmp/reject_load_{name}_vision.log', 'w')
    vision = subprocess.Popen(
        [sys.executable, '-m', 'acnn_ros.nodes.inspection_line', '--no-actuator', '--ros-args',
         '--params-file', PARAMS, '-p', 'source:=synthetic', '-p',
         f'frame_rate_hz:={vision_rate:.1f}'],
        cwd=str(REPO), env=env, stdout=vision_log, stderr=subprocess.STDOUT)
    # Warm-up: the first parts (model load, discovery) are not counted.
    warm_end = time.time() + 5.0
    while time.time() < warm_end:
        rclpy.spin_once(node, timeout_sec=0.05)
    first = len(events)
    start = time.time()
    cpu0 = {pid: cpu_seconds(pid) for pid in (vision.pid, actuator.pid)}
    load = []
    while time.time() < start + seconds:
        rclpy.spin_once(node, timeout_sec=0.05)
        if len(load) < (time.time() - start) // 5:
            load.append(os.getloadavg()[0])
    elapsed = time.time() - start
    cpu = {pid: (cpu_seconds(pid) - cpu0[pid]) / elapsed * 100 for pid in cpu0}
    vision.terminate()
    vision.wait(20)
    vision_log.close()
    drain = time.time() + 1.5
    while time.time() < drain:
        rclpy.spin_once(node, timeout_sec=0.05)
    actuator.terminate()
    output = actuator.communicate(timeout=20)[0]
    Path(f'/tmp/reject_load_{name}_actuator.log').write_text(output)
    node.destroy_node()
    rclpy.shutdown()
    parent.send('stop')
    writes = parent.recv()
    plc.join(5)

    counted = [e for e in events[first:] if stamp_ns(e.header.stamp) * 1e-9 >= start - 0.5]
    rejects = [e for e in counted if e.decision == 1]
    fired = sorted((e for e in rejects if e.delivery == 1),
                   key=lambda e: stamp_ns(e.due_time))
    due_all = sorted(stamp_ns(e.due_time) * 1e-9 for e in events if e.decision == 1
                     and e.delivery == 1)
    edges = rising_edges(writes)
    # Edges in time order belong to fired rejects in due order (one rising edge each).
    edge_error = []
    if len(edges) == len(due_all):
        counted_due = {stamp_ns(e.due_time) * 1e-9 for e in fired}
        edge_error = [edge - due for edge, due in zip(edges, due_all) if due in counted_due]
    reply_error = [(stamp_ns(e.fire_time) - stamp_ns(e.due_time)) * 1e-9 for e in fired]
    reasons = {}
    for e in counted:
        reasons[e.reason] = reasons.get(e.reason, 0) + 1
    isolated = ('isolated' if 'firing path isolated' in output else
                'REFUSED' if 'NOT isolated' in output else 'off')
    return {
        'scenario': name, 'policy': policy, 'cpus': cpus or '-', 'isolation': isolated,
        'executor': executor,
        'vision_hz': vision_rate, 'parts': len(counted), 'parts_hz': len(counted) / elapsed,
        'rejects': len(rejects), 'fired': len(fired),
        'missed': sum(1 for e in rejects if e.delivery == 2),
        'late': sum(1 for e in counted if e.delivery == 3),
        'dropped': reasons.get(5, 0), 'no_result': reasons.get(6, 0),
        'edges_matched': bool(edge_error), 'edge': stats_ms(edge_error),
        'reply': stats_ms(reply_error), 'load': max(load) if load else os.getloadavg()[0],
        'cpu_vision': cpu[vision.pid], 'cpu_actuator': cpu[actuator.pid],
        'plc_realtime': plc_realtime}


def stats_ms(errors_s):
    """Return p50 / p99 / max of errors in milliseconds (NaN when there are none)."""
    if not errors_s:
        return {'p50': float('nan'), 'p99': float('nan'), 'max': float('nan')}
    errors = np.asarray(errors_s) * 1000.0
    return {'p50': float(np.percentile(errors, 50)), 'p99': float(np.percentile(errors, 99)),
            'max': float(errors.max())}


def table(rows, args) -> str:
    """Return the docs section of a run."""
    machine = (f'{platform.node()} ({platform.machine()}, {os.cpu_count()} cores, Python '
               f'{platform.python_version()}), shared with other engineers jobs')
    lines = [
        MARKER,
        '## Line: reject timing under vision load (benchmarks/reject_load_benchmark.py)',
        '',
        f'`nice -n 10 python -m benchmarks.reject_load_benchmark --rate {args.rate:g} --seconds '
        f'{args.seconds:g} --scenarios {",".join(args.scenarios)}'
        f'{" --write-docs" if args.write_docs else ""}` on {machine}, '
        f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}.',
        '',
        'Processes: PLC simulator (pymodbus, SCHED_FIFO 50: it stands for another machine), the '
        'vision load (one-process line `inspection_line --no-actuator`, synthetic camera at the '
        'rate shown, demo model), reject_actuator_node (config/inspect.yaml: fixed_delay, '
        'Modbus, reject_delay_s 0.5, max_fire_lateness_s 0.05, pulse 0.03 s, switch interval '
        '1 ms) with the isolation shown. Edge error = simulator received the coil ON write '
        'minus the due time; reply error = the fire_time of the RejectEvent (PLC reply) minus '
        'the due time. First 5 s not counted. Load = highest 1-min load average seen.',
        '',
        '| scenario | realtime_policy | cpu_affinity | realtime_executor | vision Hz (parts/s '
        'seen) | rejects | '
        'fired | missed | late | edge p50 / p99 / max ms | reply p50 / p99 / max ms | dropped '
        '/ no result | CPU % vision / actuator | load |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ]
    for r in rows:
        edge = ('{p50:.2f} / {p99:.2f} / {max:.2f}'.format(**r['edge']) if r['edges_matched']
                else 'not matched')
        lines.append(
            f'| {r["scenario"]} | {r["policy"]} ({r["isolation"]}) | {r["cpus"]} | '
            f'{str(r["executor"]).lower()} | '
            f'{r["vision_hz"]:g} ({r["parts_hz"]:.1f}) | {r["rejects"]} | {r["fired"]} | '
            f'{r["missed"]} | {r["late"]} | {edge} | '
            '{p50:.2f} / {p99:.2f} / {max:.2f}'.format(**r['reply'])
            + f' | {r["dropped"]} / {r["no_result"]} | {r["cpu_vision"]:.0f} / '
            f'{r["cpu_actuator"]:.0f} | {r["load"]:.1f} |')
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    """Run the scenarios one after the other; print (and optionally record) the table."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--rate', type=float, default=150.0,
                        help='vision rate of the loaded scenarios, Hz (the highest the line '
                        'sustains: docs/BENCHMARKS.md, section line-rate)')
    parser.add_argument('--light-rate', type=float, default=20.0)
    parser.add_argument('--seconds', type=float, default=30.0)
    parser.add_argument('--scenarios', type=lambda s: s.split(','),
                        default=['light', 'none', 'fifo'])
    parser.add_argument('--domain', type=int, default=int(os.environ.get('ROS_DOMAIN_ID', 31)))
    parser.add_argument('--write-docs', action='store_true')
    args = parser.parse_args(argv)
    os.environ['ROS_DOMAIN_ID'] = str(args.domain)
    keep_dds_local(args.domain)
    env = dict(os.environ)
    rows = []
    for name in args.scenarios:
        row = run_scenario(name, args.rate, args.light_rate, args.seconds, env)
        print(row, flush=True)
        rows.append(row)
    text = table(rows, args)
    print(text)
    if args.write_docs:
        doc = DOCS.read_text(encoding='utf-8')
        if MARKER in doc:
            start = doc.index(MARKER)
            end = doc.find('<!-- section:', start + len(MARKER))
            doc = doc[:start] + text + '\n' + (doc[end:] if end >= 0 else '')
        else:
            anchor = doc.index('<!-- section:line-opcua -->')
            doc = doc[:anchor] + text + '\n' + doc[anchor:]
        DOCS.write_text(doc, encoding='utf-8')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
