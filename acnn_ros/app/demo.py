# SPDX-License-Identifier: Apache-2.0
"""
`acnn demo`: the whole inspection line in one process, with a simulated PLC.

camera_node (synthetic generator, or `--images DIR`), inference_node (the shipped demo model)
and reject_actuator_node (Modbus backend) run in one MultiThreadedExecutor with the parameters
of config/inspect.yaml - the same file `ros2 launch acnn_ros inspect.launch.py` uses - and a
real pymodbus server on 127.0.0.1 stands in for the line PLC. A summary line is printed every
second; at the end (after --frames, --duration or Ctrl-C) the run is reconciled: frames =
verdicts = decisions, fired rejects = PLC writes, and defective parts (ground truth of the
synthetic generator or of YOLO labels) against rejected parts. Exit status 1 when an
accounting check fails.
"""
import argparse
import logging
import multiprocessing
import os
from pathlib import Path
import signal
import sys
import threading
import time
from typing import Dict, List

from acnn_ros.core.params_file import load_params_file, node_parameters, ParamsFileError
from acnn_ros.core.reject.config import policy_from_values
from acnn_ros.core.reject.decision import decide
from acnn_ros.core.reject.reconciliation import (CapturedPart, LineLedger, PartDecision,
                                                 PLC_VERDICT_REJECT, reconcile)
from acnn_ros.core.results import InspectionOutcome, InspectionStatus
from acnn_ros.core.ros_env import describe_dds, ensure_local_dds

SOURCE_DIR = Path(__file__).resolve().parents[2]
STATUS_NAMES = ('ok', 'error', 'dropped')


def default_params_file() -> Path:
    """Return config/inspect.yaml of the source checkout, else of the installed share dir."""
    candidate = SOURCE_DIR / 'config' / 'inspect.yaml'
    if candidate.is_file():
        return candidate
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory('acnn_ros')) / 'config' / 'inspect.yaml'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the demo's options."""
    parser.add_argument('--frames', type=int, default=100,
                        help='stop after this many frames (default 100; 0: no limit)')
    parser.add_argument('--duration', type=float, default=0.0,
                        help='stop after this many seconds (default: no limit)')
    parser.add_argument('--images', metavar='DIR',
                        help='image folder instead of the synthetic generator (the seed '
                        'dataset layout works; YOLO labels give the ground truth)')
    parser.add_argument('--model', help='model .onnx with its .json card (default: '
                        'model_path of the params file, the shipped demo model)')
    parser.add_argument('--params-file', type=Path, default=None,
                        help='ROS 2 parameters YAML (default: config/inspect.yaml)')
    parser.add_argument('--rate', type=float, default=0.0,
                        help='camera frame rate in Hz (default: frame_rate_hz of the file)')
    parser.add_argument('--reject-classes', default=None,
                        help='comma-separated defective classes: sets reject_classes and '
                        'accepts every other class (default: the params file policy)')
    parser.add_argument('--plc', choices=('modbus', 'none'), default='modbus',
                        help='modbus: local PLC simulator; none: topic-only actuator')
    parser.add_argument('--plc-port', type=int, default=0,
                        help='PLC simulator port on 127.0.0.1 (default: a free port)')
    parser.add_argument('--seed', type=int, default=None, help='synthetic generator seed')
    parser.add_argument('--synthetic-pool', type=int, default=40,
                        help='render this many synthetic frames at start-up, then replay them '
                        'at random (default 40: rendering costs more CPU than inference; 0: '
                        'render every frame live)')
    parser.add_argument('--namespace', default=None,
                        help='namespace of the demo nodes and topics (default: demo_<pid>, '
                        'so that other ROS processes in this domain cannot cross-talk)')
    parser.add_argument('--quiet', action='store_true', help='no per-second summary lines')


def quiet_pymodbus() -> None:
    """Keep pymodbus's own error lines and frame dumps off the console."""
    # reject_actuator_node reports every consequence (missed rejects, reconnects) itself;
    # pymodbus's hex dumps of the last frames would bury the summary lines.
    logging.getLogger('pymodbus').setLevel(logging.CRITICAL)


def _serve_plc(connection, port: int, register_map: dict) -> None:
    # The line PLC is another machine: run its simulator in a process of its own, so that its
    # replies are not delayed by this process's GIL (rendering, inference).
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is the parent's to handle
    quiet_pymodbus()
    from acnn_ros.core.plc.modbus_simulator import PlcSimulator, RegisterMap
    simulator = PlcSimulator(port=port, register_map=RegisterMap(**register_map))
    try:
        simulator.start()
    except RuntimeError as exc:
        connection.send(str(exc))
        return
    connection.send(simulator.port)
    while True:
        request = connection.recv()
        if request == 'stop':
            simulator.stop()
            connection.send(None)
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

    def _ask(self, request: str):
        with self._lock:
            self._connection.send(request)
            return self._connection.recv()

    def decisions(self):
        """Return the decision blocks the PLC received."""
        return self._ask('decisions')

    def writes(self):
        """Return every write the PLC received."""
        return self._ask('writes')

    def coil_pulses(self):
        """Return (on, off) times of the reject coil pulses."""
        return self._ask('coil_pulses')

    def heartbeat_toggles(self):
        """Return the times the heartbeat register changed."""
        return self._ask('heartbeat_toggles')

    def stop(self) -> None:
        """Stop the server and the process."""
        try:
            self._ask('stop')
        except (EOFError, OSError):
            pass
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()


def header_key(header):
    """Return the identity of a frame: (stamp sec, stamp nanosec, frame_id)."""
    return header.stamp.sec, header.stamp.nanosec, header.frame_id


def build_overrides(args, sections, plc_port: int) -> Dict[str, Dict[str, object]]:
    """Return each node's parameters: the params file, then the demo's command line."""
    camera = node_parameters(sections, 'camera_node')
    camera.update(source=str(Path(args.images).resolve()) if args.images else 'synthetic',
                  source_type='auto', max_frames=max(args.frames, 0), loop=True, enabled=True)
    if args.rate:
        camera['frame_rate_hz'] = float(args.rate)
    if args.seed is not None:
        camera['synthetic_seed'] = args.seed
    camera['synthetic_pool_size'] = max(args.synthetic_pool, 0)
    inference = node_parameters(sections, 'inference_node')
    if args.model:
        inference['model_path'] = str(Path(args.model).resolve())
    reject = node_parameters(sections, 'reject_actuator_node')
    if args.reject_classes is not None:
        reject['reject_classes'] = [c.strip() for c in args.reject_classes.split(',')
                                    if c.strip()] or ['']
        reject['accept_classes'] = ['']
    reject['actuator'] = 'modbus' if args.plc == 'modbus' else 'topic'
    if args.plc == 'modbus':
        reject.update(plc_host='127.0.0.1', plc_port=plc_port)
    return {'camera_node': camera, 'inference_node': inference,
            'reject_actuator_node': reject}


class Demo:
    """The nodes, the PLC simulator and the ledger of one run."""

    def __init__(self, args, overrides, simulator, context):
        import rclpy.parameter
        from acnn_ros.nodes.camera_node import CameraNode
        from acnn_ros.nodes.inference_node import InferenceNode
        from acnn_ros.nodes.reject_actuator_node import RejectActuatorNode
        from rclpy.executors import MultiThreadedExecutor
        self.args = args
        self.simulator = simulator
        self.ledger = LineLedger()
        self.lock = threading.Lock()
        self.nodes = []
        self.namespace = args.namespace or f'demo_{os.getpid()}'
        self.failure = None

        def make(node_class, name):
            parameters = [rclpy.parameter.Parameter(key, value=value)
                          for key, value in overrides[name].items()]
            node = node_class(context=context, namespace=self.namespace,
                              parameter_overrides=parameters)
            self.nodes.append(node)
            return node
        self.camera = make(CameraNode, 'camera_node')
        self.inference = make(InferenceNode, 'inference_node')
        self.actuator = make(RejectActuatorNode, 'reject_actuator_node')
        # The coil is pulsed for fixed-delay timing only (tracked timing leaves it to the PLC).
        config = self.actuator.config
        self.coil_pulsed = (simulator is not None and config.timing == 'fixed_delay'
                            and config.plc_reject_coil >= 0)
        self.class_names = self._truth_names(overrides)
        self.camera.frame_listeners.append(self._on_frame)
        self.monitor = self._monitor_node(context)
        self.executor = MultiThreadedExecutor(num_threads=4, context=context)
        for node in self.nodes:
            self.executor.add_node(node)
        self.thread = threading.Thread(target=self._spin, name='demo_executor', daemon=True)

    def stop(self) -> None:
        """Stop the executor, wait for its thread, then destroy the nodes."""
        self.executor.shutdown(timeout_sec=5.0)
        # The spin thread must be out of rclpy's wait before the interpreter exits: a daemon
        # thread that wakes in C++ during finalization aborts the process ('terminate called
        # without an active exception', exit -6; seen after a PASS on a loaded machine).
        if self.thread.is_alive():
            self.thread.join(timeout=5.0)
        for node in self.nodes:
            node.destroy_node()

    def _spin(self):
        try:
            self.executor.spin()
        except Exception as exc:  # a callback raised: the line stopped, say why
            self.failure = f'{type(exc).__name__}: {exc}'

    def _truth_names(self, overrides) -> List[str]:
        # Ground-truth class ids index the generator's classes, or the model's for labels.
        if not self.args.images:
            from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES
            return list(DEFAULT_CLASSES)
        from acnn_ros.core.model_card import card_path_for, ModelCard
        from acnn_ros.runtime.inference_config import resolve_model_path
        model = resolve_model_path(overrides['inference_node'].get(
            'model_path', 'resource/models/acnn_demo.onnx'))
        return list(ModelCard.load(card_path_for(model)).class_names)

    def _monitor_node(self, context):
        from acnn_ros.msg import InspectionResult, RejectEvent
        from rclpy.node import Node
        from rclpy.qos import QoSProfile
        node = Node('demo_monitor', context=context, namespace=self.namespace)
        node.create_subscription(InspectionResult, 'inspection', self._on_verdict,
                                 QoSProfile(depth=1000))
        node.create_subscription(RejectEvent, 'reject', self._on_decision,
                                 QoSProfile(depth=1000))
        self.nodes.append(node)
        return node

    def _on_frame(self, part_id, header, frame):
        truth = frame.truth_class_id
        name = self.class_names[truth] if truth is not None and \
            0 <= truth < len(self.class_names) else None
        with self.lock:
            self.ledger.captured.append(CapturedPart(part_id, header_key(header), name))

    def _on_verdict(self, msg):
        with self.lock:
            self.ledger.verdicts.append((header_key(msg.header), int(msg.status)))

    def _on_decision(self, msg):
        with self.lock:
            self.ledger.decisions.append(PartDecision(
                int(msg.part_id), header_key(msg.header), msg.decision == msg.DECISION_REJECT,
                int(msg.reason), int(msg.delivery)))

    def snapshot(self) -> LineLedger:
        """Return a copy of the ledger with the PLC's writes so far."""
        with self.lock:
            ledger = LineLedger(list(self.ledger.captured), list(self.ledger.verdicts),
                                list(self.ledger.decisions))
        if self.simulator is not None:
            ledger.plc_decisions = [(d.part_id, d.verdict) for d in self.simulator.decisions()]
            if self.coil_pulsed:
                ledger.plc_coil_pulses = len(self.simulator.coil_pulses())
        return ledger

    def summary_line(self, elapsed_s: float, fps: float) -> str:
        """Return the one-line live summary."""
        ledger = self.snapshot()
        statuses = [0, 0, 0]
        for _, status in ledger.verdicts:
            statuses[min(status, 2)] += 1
        rejects = sum(d.reject for d in ledger.decisions)
        plc = ''
        if self.simulator is not None:
            plc_rejects = sum(v == PLC_VERDICT_REJECT for _, v in ledger.plc_decisions)
            plc = (f' | PLC {len(self.simulator.writes())} writes: {plc_rejects} rejects, '
                   f'{len(self.simulator.coil_pulses())} pulses, '
                   f'{len(self.simulator.heartbeat_toggles())} heartbeats')
        return (f'[{elapsed_s:6.1f} s] frames {len(ledger.captured):5d} '
                f'({fps:4.1f} fps) | verdicts '
                f'{len(ledger.verdicts)} (' + ', '.join(
                    f'{n} {s}' for n, s in zip(statuses, STATUS_NAMES)) + ') | decisions '
                f'{len(ledger.decisions)}: {len(ledger.decisions) - rejects} accept, '
                f'{rejects} reject' + plc)


def print_reconciliation(result, reject_classes: List[str], source: str) -> None:
    """Print the final reconciliation table."""
    print('\nreconciliation')
    for check in result.checks:
        print(f'  [{" OK " if check.ok else "FAIL"}] {check.name}: {check.detail}')
    if result.rejects_by_reason:
        print('  rejects by reason: ' + ', '.join(
            f'{k} {v}' for k, v in sorted(result.rejects_by_reason.items())))
    truth = result.truth
    if truth:
        print(f'ground truth ({source}; defective = {", ".join(reject_classes)}), model '
              'quality, not accounting:')
        print(f'  defective parts {truth["defective"]}: rejected '
              f'{truth["defective_rejected"]}, accepted (escapes) {truth["defective_accepted"]}')
        good = truth['good_accepted'] + truth['good_rejected']
        print(f'  good parts {good}: accepted {truth["good_accepted"]}, rejected '
              f'{truth["good_rejected"]}')
    else:
        print('ground truth: unknown (no labels beside the images)')
    print(f'result: {"PASS" if result.ok else "FAIL"}')


def run(args) -> int:
    """Run the demo; return 0 when the reconciliation passes."""
    changed = ensure_local_dds()
    quiet_pymodbus()
    params_file = args.params_file or default_params_file()
    try:
        sections = load_params_file(params_file)
    except ParamsFileError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    if args.images and not Path(args.images).is_dir():
        print(f'error: --images {args.images} is not a directory', file=sys.stderr)
        return 2
    import rclpy
    from rclpy.signals import SignalHandlerOptions
    simulator = None
    if args.plc == 'modbus':
        reject = node_parameters(sections, 'reject_actuator_node')
        try:
            simulator = PlcSimulatorProcess(args.plc_port, {
                'decision_register': int(reject.get('plc_decision_register', 0)),
                'reject_coil': int(reject.get('plc_reject_coil', 0)),
                'heartbeat_register': int(reject.get('plc_heartbeat_register', 10))})
        except RuntimeError as exc:
            print(f'error: PLC simulator: {exc}', file=sys.stderr)
            return 2
    overrides = build_overrides(args, sections, simulator.port if simulator else 0)
    print(f'acnn demo: parameters from {params_file}; {describe_dds()}'
          + (f' (set {", ".join(changed)})' if changed else ''))
    camera = overrides['camera_node']
    pool = camera['synthetic_pool_size'] if camera['source'] == 'synthetic' else 0
    print(f'  camera: {camera["source"]}'
          + (f' ({pool} frames rendered at start-up, then replayed)' if pool else '')
          + f' at {camera.get("frame_rate_hz", 10.0):g} Hz, '
          f'{args.frames or "unlimited"} frames; '
          + (f'PLC simulator (pymodbus) on 127.0.0.1:{simulator.port}' if simulator
             else 'no PLC (topic actuator)'))
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    demo = None
    try:
        demo = Demo(args, overrides, simulator, context)
        return _run_line(demo, args, overrides)
    except Exception as exc:  # a node that cannot start: say which and why, exit 2
        if demo is None:
            print(f'error: the line did not start: {type(exc).__name__}: {exc}',
                  file=sys.stderr)
            return 2
        raise
    finally:
        if demo is not None:
            demo.stop()
        rclpy.try_shutdown(context=context)
        if simulator is not None:
            simulator.stop()


def defective_classes(class_names, reject_params) -> List[str]:
    """Return the classes the reject policy rejects even when the model is sure."""
    policy = policy_from_values(reject_params)
    return [name for name in class_names if decide(InspectionOutcome(
        InspectionStatus.OK, class_name=name, confidence=1.0), policy).reject]


def capture_rate(captured) -> float:
    """Return the mean frame rate between the first and the last capture stamp."""
    if len(captured) < 2:
        return 0.0
    (sec0, nsec0, _), (sec1, nsec1, _) = captured[0].header, captured[-1].header
    span_s = (sec1 - sec0) + (nsec1 - nsec0) / 1e9
    return (len(captured) - 1) / span_s if span_s > 0 else 0.0


def _run_line(demo: Demo, args, overrides) -> int:
    reject_params = overrides['reject_actuator_node']
    defective = defective_classes(demo.class_names, reject_params)
    print(f'  defective (rejected) classes: {", ".join(defective) or "none"}; accepted: '
          f'{", ".join(c for c in demo.class_names if c not in defective) or "none"}; '
          f'topics under /{demo.namespace}', flush=True)
    drain_s = float(reject_params.get('reject_delay_s', 0.5)) + float(
        reject_params.get('inspection_window_s', 0.25)) + 5.0
    demo.thread.start()
    start = time.monotonic()
    last_print, last_frames = start, 0
    interrupted = False
    try:
        while not demo.camera.limit_reached and demo.camera.supervisor.state not in (
                'ended', 'failed') and demo.failure is None:
            time.sleep(0.05)
            now = time.monotonic()
            if args.duration and now - start >= args.duration:
                break
            if now - last_print >= 1.0:
                frames = demo.camera.part_id
                if not args.quiet:
                    fps = (frames - last_frames) / (now - last_print)
                    print(demo.summary_line(now - start, fps), flush=True)
                last_print, last_frames = now, frames
    except KeyboardInterrupt:
        interrupted = True
        print('\ninterrupted: stopping the camera and draining the line', flush=True)
    demo.camera.set_enabled(False)
    # Let every captured part get its decision (and every reject its PLC write).
    deadline = time.monotonic() + drain_s
    while time.monotonic() < deadline:
        ledger = demo.snapshot()
        if len(ledger.decisions) >= len(ledger.captured) and len(ledger.verdicts) >= len(
                ledger.captured):
            time.sleep(0.3)   # late duplicates and the last PLC replies would show up now
            break
        time.sleep(0.05)
    print(demo.summary_line(time.monotonic() - start, capture_rate(demo.snapshot().captured)))
    if demo.failure:
        print(f'error: a node callback failed and stopped the executor: {demo.failure}',
              file=sys.stderr)
    result = reconcile(demo.snapshot(), defective, plc_used=demo.simulator is not None)
    print_reconciliation(result, defective,
                         'image labels' if args.images else 'synthetic generator')
    if interrupted:
        print('(run cut short by Ctrl-C)')
    return 0 if result.ok and not demo.failure else 1
