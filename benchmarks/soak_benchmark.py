# SPDX-License-Identifier: Apache-2.0
"""
Soak test of the real 3-process graph with PLC and inference restarts (issue 12, part 5).

camera_node (synthetic frames), inference_node (the demo model) and reject_actuator_node
(Modbus) run as three processes started like `ros2 run` with config/inspect.yaml, next to a
real pymodbus PLC simulator in a process of its own. This process observes the line through
its topics (acnn_ros.app.observer.LineObserver, as the demo does: raw subscriptions that keep
the bytes, decoded after the run, and the publishers' sequence numbers, so its own losses are
reported apart from the line's), stops and restarts the PLC simulator (every instance's record
kept and merged) and stops (SIGTERM and SIGKILL alternately) and restarts inference_node on a
schedule, samples VmRSS of every process from /proc/<pid>/status, stops the nodes in line
order and the PLC last (the actuator tells it "vision not ready"), reconciles every part
exactly (acnn_ros/app/bench/soak_accounting.py) and writes soak_report.json + soak_report.md.

    python -m benchmarks.soak_benchmark --rate-hz 20 --duration-s 600 --out runs/soak
"""
import argparse
from collections import Counter
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

from acnn_ros.app.bench.rate_search import cpu_percent, ProcessUsage
from acnn_ros.app.bench.soak_accounting import (not_ok_outside, not_ok_part_ids,
                                                observer_losses, rss_trends, soak_checks)
from acnn_ros.app.plc_simulator_process import PlcSimulatorProcess
from acnn_ros.app.proc_status import rss_mib
from acnn_ros.core.plc.contract import NOT_READY_PART_ID
from acnn_ros.core.reject.decision import RejectReason
from acnn_ros.core.reject.reconciliation import Check
from benchmarks.common import keep_dds_local
from benchmarks.soak_report import markdown

REPO_DIR = Path(__file__).resolve().parents[1]
PARAMS_FILE = REPO_DIR / 'config' / 'inspect.yaml'


class SoakPlc:
    """
    The PLC simulator process across its restarts: every instance's record kept and merged.

    A restart stops the running instance (connections drop, as at a PLC restart), keeps the
    decision blocks it received and starts a new one on the same port.
    """

    def __init__(self):
        self.current = PlcSimulatorProcess(0, {})     # the register map of config/inspect.yaml
        self.port = self.current.port
        self.records: List[list] = []                 # one list of decisions per instance

    def restart(self, down_s: float) -> None:
        """Stop the running instance, keep its record, start a new one after `down_s`."""
        self.records.append(self.current.stop())
        time.sleep(down_s)
        self.current = PlcSimulatorProcess(self.port, {})

    def stop(self) -> None:
        """Stop the running instance and keep its record."""
        if self.current is not None:
            self.records.append(self.current.stop())
            self.current = None

    def decisions(self) -> List[Tuple[int, int]]:
        """Return (part id, verdict) of every part's decision block of every instance."""
        return [(d.part_id, d.verdict) for record in self.records for d in record
                if d.part_id != NOT_READY_PART_ID]

    def summary(self) -> Dict:
        """Return the blocks of each instance and whether the last one was told 'not ready'."""
        last = self.records[-1] if self.records else []
        return {'instances': len(self.records),
                'decision_blocks': [len(record) for record in self.records],
                'not_ready_blocks': sum(d.part_id == NOT_READY_PART_ID
                                        for record in self.records for d in record),
                'last_block_not_ready': bool(last) and last[-1].part_id == NOT_READY_PART_ID}


def start_node(name: str, log_dir: Path, *parameters: str) -> subprocess.Popen:
    """Start `python -m acnn_ros.nodes.<name>` with the params file; output to a log file."""
    args = [sys.executable, '-m', f'acnn_ros.nodes.{name}', '--ros-args',
            '--params-file', str(PARAMS_FILE)]
    for parameter in parameters:
        args += ['-p', parameter]
    log = open(log_dir / f'{name}.log', 'a', encoding='utf-8')
    log.write(f'--- start {time.strftime("%H:%M:%S")}\n')
    log.flush()
    return subprocess.Popen(args, cwd=str(REPO_DIR), stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED='1'))


class Observer:
    """The line's topics seen from this process, plus the camera's and actuator's diagnostics."""

    def __init__(self):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from acnn_ros.app.observer import GroundTruth, LineObserver
        from diagnostic_msgs.msg import DiagnosticArray
        from std_srvs.srv import SetBool
        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = LineObserver(GroundTruth(), context=self.context)
        self.actuator_values, self.camera_values = {}, {}
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 50)
        self.enable = self.node.create_client(SetBool, '/camera_node/enable')
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except Exception:  # the context went down at close
                return

    def _on_diag(self, msg):
        for status in msg.status:
            if status.name.endswith('reject_actuator_node: reject actuator'):
                self.actuator_values = {v.key: v.value for v in status.values}
            elif status.name.endswith('camera_node: camera'):
                self.camera_values = {v.key: v.value for v in status.values}

    def final_diagnostics(self, timeout_s: float) -> Tuple[Dict, Dict]:
        """Return the camera's and the actuator's diagnostics values published from now on."""
        self.camera_values, self.actuator_values = {}, {}
        end = time.monotonic() + timeout_s
        while not (self.camera_values and self.actuator_values) and time.monotonic() < end:
            time.sleep(0.1)
        return dict(self.camera_values), dict(self.actuator_values)

    def set_capture(self, enabled: bool, timeout_s: float = 20.0) -> bool:
        """Call camera_node's ~/enable service; return its success."""
        from std_srvs.srv import SetBool
        if not self.enable.wait_for_service(timeout_sec=timeout_s):
            return False
        future = self.enable.call_async(SetBool.Request(data=enabled))
        end = time.monotonic() + timeout_s
        while not future.done() and time.monotonic() < end:
            time.sleep(0.05)
        return future.done() and future.result().success

    def graph_ready(self) -> bool:
        """Return True once part, inspection and reject each have a publisher here."""
        return all(self.node.count_publishers(t) > 0 for t in ('part', 'inspection', 'reject'))

    def close(self):
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5)


def stop_nodes(procs: Dict[str, subprocess.Popen], order: Sequence[str]) -> Dict[str, int]:
    """Stop the node processes one after the other (SIGINT, killed after 15 s); their codes."""
    codes = {}
    for name in order:
        process = procs[name]
        process.send_signal(signal.SIGINT)
        try:
            codes[name] = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            codes[name] = process.wait()
    return codes


def run_soak(args) -> dict:
    """Run the soak; return the report (also written to args.out)."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plc = SoakPlc()
    observer = Observer()
    procs = {'reject_actuator_node': start_node(
        'reject_actuator_node', out, 'actuator:=modbus', 'plc_host:=127.0.0.1',
        f'plc_port:={plc.port}')}
    procs['inference_node'] = start_node('inference_node', out)
    # Two `part` subscribers before the start gate opens: the actuator and this observer (a
    # gate opened by the actuator alone lost the observer the first 34 parts at 50 Hz).
    procs['camera_node'] = start_node(
        'camera_node', out, 'source:=synthetic', f'frame_rate_hz:={args.rate_hz}',
        f'synthetic_pool_size:={args.pool}', f'enabled:={str(args.start == "gate").lower()}',
        'min_part_subscribers:=2')
    samples, events, outages, plc_outages, stop = [], [], [], [], threading.Event()
    cpu = {}         # pid -> [name, ProcessUsage, (t, cpu s) first, (t, cpu s) last]
    inference_stops = 0

    def sample():
        while not stop.is_set():
            now = time.time()
            pids = {name: p.pid for name, p in procs.items()}
            pids.update(soak_observer=os.getpid())
            if plc.current is not None:
                pids.update(plc_simulator=plc.current.pid)
            for name, pid in pids.items():
                mib = rss_mib(pid)
                if mib > 0:
                    samples.append((now, name, pid, mib))
                try:
                    usage = cpu.setdefault(pid, [name, ProcessUsage(pid), None, None])
                    usage[2:] = [usage[2] or (now, usage[1].cpu_seconds()),
                                 (now, usage[1].cpu_seconds())]
                except (OSError, ValueError):     # the process ended meanwhile
                    pass
            stop.wait(args.sample_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        if args.start == 'enable':
            end = time.monotonic() + 60
            while not observer.graph_ready() and time.monotonic() < end:
                time.sleep(0.2)
            time.sleep(1.0)       # let the endpoint matching settle before the first part
            if not observer.set_capture(True):
                raise RuntimeError('camera_node ~/enable did not answer')
        else:                     # camera_node's start gate holds capture until matched
            end = time.monotonic() + 60
            while not observer.node.counts()['part'] and time.monotonic() < end:
                time.sleep(0.05)
        start = time.time()
        events.append((0.0, f'capture started at {args.rate_hz:g} Hz ({args.start})'))
        schedule = sorted(
            [(t, 'plc') for t in _times(args.plc_every_s, args.duration_s)]
            + [(t, 'inference')
               for t in _times(args.inference_every_s, args.duration_s, offset=0.5)])
        next_print = 10.0
        for at, what in schedule + [(args.duration_s, 'end')]:
            while time.time() - start < at:
                time.sleep(0.2)
                elapsed = time.time() - start
                if elapsed >= next_print:
                    seen = observer.node.counts()     # nothing decoded during the run
                    print(f'[{elapsed:6.0f} s] parts {seen["part"]}, verdicts '
                          f'{seen["inspection"]}, decisions {seen["reject"]}', flush=True)
                    next_print += args.print_s
            if what == 'end':
                break
            down_at = time.time()
            if what == 'plc':
                plc.restart(args.down_s)
            else:
                how = 'kill' if args.inference_stop == 'kill' or (
                    args.inference_stop == 'alternate' and inference_stops % 2) else 'term'
                inference_stops += 1
                getattr(procs['inference_node'], {'kill': 'kill', 'term': 'terminate'}[how])()
                procs['inference_node'].wait()
                what = f'inference ({how})'
                time.sleep(args.down_s)
                procs['inference_node'] = start_node('inference_node', out)
            (outages if what.startswith('inference') else plc_outages).append(
                (down_at, time.time()))
            events.append((down_at - start, f'{what} down {time.time() - down_at:.1f} s'))
            print(f'[{down_at - start:6.0f} s] {what} restarted', flush=True)
        observer.set_capture(False)
        duration = time.time() - start
        time.sleep(args.drain_s)           # the last parts reach their due time
        # The diagnostics after the drain: the camera's last part id, the actuator's counts.
        camera_values, actuator_values = observer.final_diagnostics(args.drain_s + 5.0)
    finally:
        stop.set()
        # In line order, the PLC last: reject_actuator_node's shutdown tells the PLC "vision
        # not ready" (the simulator records it), which a stopped PLC could not take.
        codes = stop_nodes(procs, ('camera_node', 'inference_node', 'reject_actuator_node'))
        plc.stop()
        time.sleep(0.5)                    # RejectEvents still in flight reach the observer
        ledger = observer.node.ledger()
        receipts = observer.node.receipt_losses()
        observer.close()
    ledger.plc_decisions = plc.decisions()
    accepts_undelivered = int(actuator_values.get('accepts_undelivered', 0))
    checks, counts = soak_checks(ledger, accepts_undelivered)
    observer_check, observer_counts = observer_losses(
        receipts, ledger, _count(camera_values, 'last_part_id'),
        _count(actuator_values, 'inspected'))
    plc_summary = plc.summary()
    checks.append(Check('the PLC was told "vision not ready" at shutdown, before it stopped',
                        plc_summary['last_block_not_ready'],
                        f'{plc_summary["instances"]} PLC simulator instances, decision blocks '
                        f'{plc_summary["decision_blocks"]}, {plc_summary["not_ready_blocks"]} '
                        'of them "not ready" (part id 0)'))
    parts_time = [(p.part_id, p.header.capture_time) for p in ledger.captured]
    not_ok_ids = not_ok_part_ids(ledger)
    frames_out, bad_out = not_ok_outside(parts_time, not_ok_ids, outages, args.settle_s)
    # A decision made while the PLC was up must reach it (a stuck link is the line's fault).
    written = {pid for pid, _ in ledger.plc_decisions}
    plc_parts, unwritten = not_ok_outside(
        parts_time, [p for p, _ in parts_time if p not in written], plc_outages, args.settle_s)
    # The observer and the PLC simulators keep every message / decision block of the run
    # (their records are what the line is reconciled against): they grow by design.
    rss = rss_trends(samples, args.warmup_s, start, not_judged=('soak_observer', 'plc_simulator'))
    bad = set(not_ok_ids)
    startup_bad = [pid for pid, t in parts_time if t < start + args.startup_s and pid in bad]
    reasons = {d.part_id: RejectReason(d.reason).name.lower() for d in ledger.decisions}
    report = {
        'command': ' '.join(sys.argv), 'rate_hz': args.rate_hz, 'duration_s': round(duration, 1),
        'date_utc': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(start)),
        'machine': f'{os.cpu_count()} CPUs, {os.uname().machine}',
        'checks': [{'name': c.name, 'ok': c.ok, 'detail': c.detail} for c in checks],
        'counts': counts, 'events': events, 'exit_codes': codes,
        'parts_without_inference': int(actuator_values.get('parts_without_inference', -1)),
        'observer': {'check': {'name': observer_check.name, 'ok': observer_check.ok,
                               'detail': observer_check.detail}, 'counts': observer_counts},
        'plc': plc_summary,
        'startup': {'seconds': args.startup_s, 'not_answered_ok': len(startup_bad),
                    'reasons': dict(Counter(reasons.get(pid, '?') for pid in startup_bad)),
                    'frames': sum(1 for _, t in parts_time if t < start + args.startup_s)},
        'outside_outages': {'frames': frames_out, 'not_answered_ok': bad_out,
                            'ratio': bad_out / frames_out if frames_out else 1.0,
                            'settle_s': args.settle_s},
        'plc_outside_outages': {'parts': plc_parts, 'not_written': unwritten,
                                'ratio': unwritten / plc_parts if plc_parts else 1.0},
        'rss': rss,
        'cpu_percent': [{'process': name, 'pid': pid,
                         'percent': round(cpu_percent(first[1], last[1], last[0] - first[0]), 1)}
                        for pid, (name, _, first, last) in cpu.items() if last[0] > first[0]],
        'rss_flat': all(r['flat'] is not False for r in rss),
        'reconciled': all(c.ok for c in checks)}
    report['passed'] = report['reconciled'] and report['rss_flat'] and observer_check.ok \
        and report['outside_outages']['ratio'] < 0.01 \
        and report['plc_outside_outages']['ratio'] < 0.01
    (out / 'soak_report.json').write_text(json.dumps(report, indent=1), encoding='utf-8')
    (out / 'soak_report.md').write_text(markdown(report), encoding='utf-8')
    return report


def _count(values: Dict, key: str) -> Optional[int]:
    """Return a diagnostics value as a count, None when the node never said it."""
    return int(values[key]) if key in values else None


def _times(every_s: float, duration_s: float, offset: float = 0.25):
    if every_s <= 0:
        return []
    times, t = [], every_s * offset
    while t < duration_s - 5.0:
        times.append(t)
        t += every_s
    return times


def parse_args(argv=None):
    """Return the soak's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--rate-hz', type=float, default=20.0, help='camera rate')
    parser.add_argument('--duration-s', type=float, default=600.0, help='capture time')
    parser.add_argument('--plc-every-s', type=float, default=300.0,
                        help='PLC simulator restart period (0: none)')
    parser.add_argument('--inference-every-s', type=float, default=300.0,
                        help='inference_node kill + restart period (0: none)')
    parser.add_argument('--inference-stop', choices=('alternate', 'term', 'kill'),
                        default='alternate', help='how inference_node is stopped: SIGTERM '
                        '(clean shutdown), SIGKILL (a crash), or alternately, SIGTERM first')
    parser.add_argument('--down-s', type=float, default=3.0, help='outage length')
    parser.add_argument('--settle-s', type=float, default=15.0,
                        help='after an inference outage, frames this long are not judged for '
                        'the rate')
    parser.add_argument('--startup-s', type=float, default=5.0,
                        help='parts of the first seconds counted apart (start-up ordering)')
    parser.add_argument('--warmup-s', type=float, default=60.0, help='RSS warm-up per process')
    parser.add_argument('--sample-s', type=float, default=5.0, help='RSS sampling period')
    parser.add_argument('--print-s', type=float, default=30.0, help='progress line period')
    parser.add_argument('--drain-s', type=float, default=3.0, help='wait after the last part')
    parser.add_argument('--start', choices=('gate', 'enable'), default='gate',
                        help="gate: every process starts at once, camera_node's start gate "
                        'holds capture until the line is matched; enable: capture switched on '
                        'by ~/enable once this process sees the graph')
    parser.add_argument('--pool', type=int, default=32, help='synthetic frame pool size')
    parser.add_argument('--out', default='runs/soak', help='report folder')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Run the soak from the command line; exit 0 when it passed."""
    keep_dds_local(62)
    report = run_soak(parse_args(argv))
    print(markdown(report))
    return 0 if report['passed'] else 1


if __name__ == '__main__':
    sys.exit(main())
