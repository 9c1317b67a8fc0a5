# SPDX-License-Identifier: Apache-2.0
"""
`acnn demo`: the whole inspection line in one process, with a simulated PLC.

camera_node (synthetic generator, or `--images DIR`), inference_node (the shipped demo model)
and reject_actuator_node (Modbus backend) run in one executor with the parameters
of config/inspect.yaml - the same file `ros2 launch acnn_ros inspect.launch.py` uses - and a
real pymodbus server on 127.0.0.1 stands in for the line PLC. A summary line is printed every
second; at the end (after --frames, --duration or Ctrl-C) the run is reconciled: frames =
verdicts = decisions, fired rejects = PLC writes, and defective parts (ground truth of the
synthetic generator or of YOLO labels) against rejected parts. Exit status 1 when an
accounting check fails.

The line runs as acnn_ros.nodes.inspection_line composes it; the demo watches it the way
another process would, through its topics (acnn_ros.app.observer), the PLC simulator's record
and the ground truth recorded from the camera's frame source - not through node internals.
"""
import argparse
import os
from pathlib import Path
import sys
import time
from typing import Dict, List

from acnn_ros.app.plc_simulator_process import PlcSimulatorProcess, quiet_pymodbus
from acnn_ros.app.side_process import hold_line_for
from acnn_ros.core.camera.config import CameraConfig
from acnn_ros.core.params_file import load_params_file, node_parameters, ParamsFileError
from acnn_ros.core.plc.contract import VERDICT_REJECT
from acnn_ros.core.reject.config import policy_from_values, RejectActuatorConfig
from acnn_ros.core.reject.decision import decide
from acnn_ros.core.reject.reconciliation import LineLedger, reconcile, wrong_by_camera
from acnn_ros.core.results import InspectionOutcome, InspectionStatus
from acnn_ros.core.ros_env import describe_dds

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
    parser.add_argument('--frames-via', choices=('memory', 'topic'), default='memory',
                        help='memory: camera_node hands frames to inference_node in memory '
                        '(default); topic: over the image topic, as between processes')
    parser.add_argument('--cameras', type=int, default=1,
                        help='a station of N cameras on every part (synthetic views of the '
                        'same part from N angles, one fused decision per part; default 1)')
    parser.add_argument('--hmi', type=int, default=None, metavar='PORT',
                        help="serve the operator's page (hmi_node, a process of its own) on "
                        '127.0.0.1:PORT while the line runs (0: a free port; default: off; '
                        './scripts/demo.sh: 8080)')
    parser.add_argument('--vision-system', type=int, default=None, metavar='PORT',
                        help='serve the line as an OPC UA for Machine Vision server '
                        '(vision_system_node, a process of its own) on 127.0.0.1:PORT (0: a '
                        'free port), anonymous on loopback only (default: off; '
                        './scripts/demo.sh: 4841)')
    parser.add_argument('--quiet', action='store_true', help='no per-second summary lines')


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


class DemoRun:
    """What the demo watches: the line's observer, the ground truth and the PLC simulator."""

    def __init__(self, line, observer, truth, simulator):
        self.line = line
        self.observer = observer
        self.truth = truth
        self.simulator = simulator
        # The coil is pulsed for fixed-delay timing only (tracked timing leaves it to the PLC).
        actuator = line.actuator
        self.coil_pulsed = (simulator is not None
                            and actuator.get_parameter('timing').value == 'fixed_delay'
                            and actuator.get_parameter('plc_reject_coil').value >= 0)

    def snapshot(self) -> LineLedger:
        """Return the ledger seen so far with the PLC's writes so far."""
        ledger = self.observer.ledger()
        if len(self.line.cameras) > 1:
            ledger.cameras = tuple(camera.config.frame_id for camera in self.line.cameras)
        if self.simulator is not None:
            ledger.plc_decisions = [(d.part_id, d.verdict) for d in self.simulator.decisions()]
            if self.coil_pulsed:
                ledger.plc_coil_pulses = len(self.simulator.coil_pulses())
        return ledger

    def summary_line(self, elapsed_s: float, fps: float) -> str:
        """Return the one-line live summary."""
        ledger = self.snapshot()
        statuses = [0, 0, 0]
        for _, status in ledger.results:
            statuses[min(status, 2)] += 1
        rejects = sum(d.reject for d in ledger.decisions)
        plc = ''
        if self.simulator is not None:
            plc_rejects = sum(v == VERDICT_REJECT for _, v in ledger.plc_decisions)
            plc = (f' | PLC {len(self.simulator.writes())} writes: {plc_rejects} rejects, '
                   f'{len(self.simulator.coil_pulses())} pulses, '
                   f'{len(self.simulator.heartbeat_toggles())} heartbeats')
        return (f'[{elapsed_s:6.1f} s] frames {len(ledger.captured):5d} '
                f'({fps:4.1f} fps) | verdicts '
                f'{len(ledger.results)} (' + ', '.join(
                    f'{n} {s}' for n, s in zip(statuses, STATUS_NAMES)) + ') | decisions '
                f'{len(ledger.decisions)}: {len(ledger.decisions) - rejects} accept, '
                f'{rejects} reject' + plc)


def truth_class_names(args, line) -> List[str]:
    """Return the names that ground-truth class ids index: the generator's, or the model's."""
    if not args.images:
        from acnn_ros.core.dataset.synthetic import DEFAULT_CLASSES
        return list(DEFAULT_CLASSES)
    # YOLO labels number the classes of the model's card (the model the line loaded).
    from acnn_ros.core.model_card import card_path_for, ModelCard
    from acnn_ros.runtime.inference_config import resolve_model_path
    model = resolve_model_path(line.inference.get_parameter('model_path').value)
    return list(ModelCard.load(card_path_for(model)).class_names)


def start_line(args, overrides, simulator) -> DemoRun:
    """Create the line and its observer (the executor does not spin yet)."""
    from acnn_ros.nodes.inspection_line import Line
    from acnn_ros.app.observer import GroundTruth, LineObserver
    truth = GroundTruth()
    line = Line(overrides, args.namespace or f'demo_{os.getpid()}',
                camera_source_factory=truth.source_factory,
                in_memory=args.frames_via == 'memory', cameras=args.cameras)
    try:
        truth.class_names = truth_class_names(args, line)
        observer = line.add_node(LineObserver(truth, **line.node_arguments()))
    except BaseException:
        line.stop()
        raise
    return DemoRun(line, observer, truth, simulator)


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


def print_station(ledger: LineLedger, defective: List[str], policy) -> None:
    """Print how many parts the station got wrong against each of its cameras alone."""
    wrong = wrong_by_camera(ledger, defective, policy)
    parts = sum(1 for p in ledger.captured if p.truth_class is not None)
    print(f'station of {len(ledger.cameras)} cameras, {parts} parts with ground truth: '
          f'fused decision wrong for {wrong.pop("station")}; one camera alone would have '
          'decided wrong ' + ', '.join(f'{camera} {count}' for camera, count in wrong.items()))


def start_hmi(args, overrides):
    """Start the operator's page (--hmi); the actuator archives rejects where it reads them."""
    if args.hmi is None:
        return None
    from acnn_ros.app.hmi_process import HmiProcess
    hmi = HmiProcess(args.namespace or f'demo_{os.getpid()}', args.hmi)
    url = hmi.wait_started()
    if url is None:
        print(f'warning: no operator page (hmi_node did not start):\n{hmi.failure()}',
              file=sys.stderr)
        hmi.stop()
        return None
    overrides['reject_actuator_node']['archive_dir'] = hmi.archive_dir
    print(f'  operator page: {url} (hmi_node; shift database {hmi.database})', flush=True)
    return hmi


def start_vision_system(args, params_file):
    """Start the OPC UA vision system server (--vision-system) and print its endpoint."""
    if args.vision_system is None:
        return None
    from acnn_ros.app.vision_system_process import VisionSystemProcess
    from acnn_ros.core.plc.loop_server import free_port
    vision = VisionSystemProcess(args.namespace or f'demo_{os.getpid()}',
                                 args.vision_system or free_port(), params_file)
    endpoint = vision.wait_started()
    if endpoint is None:
        print(f'warning: no OPC UA vision system (vision_system_node did not start):\n'
              f'{vision.failure()}', file=sys.stderr)
        vision.stop()
        return None
    print(f'  OPC UA vision system (OPC 40100-1): {endpoint} (vision_system_node; anonymous, '
          'no message security: loopback only)', flush=True)
    return vision


def run(args) -> int:
    """Run the demo; return 0 when the reconciliation passes."""
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
    simulator = None
    if args.plc == 'modbus':
        # The register map the actuator node will use: the file's values over its defaults.
        reject = RejectActuatorConfig.from_values(
            node_parameters(sections, 'reject_actuator_node'))
        try:
            simulator = PlcSimulatorProcess(args.plc_port, {
                'decision_register': reject.plc.decision_register,
                'reject_coil': reject.plc.reject_coil,
                'heartbeat_register': reject.plc.heartbeat_register,
                'clock_register': reject.plc.clock_register})
        except RuntimeError as exc:
            print(f'error: PLC simulator: {exc}', file=sys.stderr)
            return 2
    overrides = build_overrides(args, sections, simulator.port if simulator else 0)
    print(f'acnn demo: parameters from {params_file}; {describe_dds()}')
    camera = overrides['camera_node']
    pool = camera['synthetic_pool_size'] if camera['source'] == 'synthetic' else 0
    via = (f'a station of {args.cameras} cameras, each on cam<i>/image, one engine call per '
           'part, the views fused' if args.cameras > 1 else
           f'frames to inference_node via {args.frames_via}')
    print(f'  camera: {camera["source"]}'
          + (f' ({pool} parts rendered at start-up, then replayed)' if pool else '')
          + f' at {camera.get("frame_rate_hz", CameraConfig.frame_rate_hz):g} Hz, '
          f'{args.frames or "unlimited"} parts, {via}; '
          + (f'PLC simulator (pymodbus) on 127.0.0.1:{simulator.port}' if simulator
             else 'no PLC (topic actuator)'))
    demo, hmi = None, start_hmi(args, overrides)
    vision = start_vision_system(args, params_file)
    try:
        demo = start_line(args, overrides, simulator)
        hold_line_for([side for side in (hmi, vision) if side is not None], demo.line)
        return _run_line(demo, args, overrides)
    except Exception as exc:  # a node that cannot start: say which and why, exit 2
        if demo is None:
            print(f'error: the line did not start: {type(exc).__name__}: {exc}',
                  file=sys.stderr)
            return 2
        raise
    finally:
        if demo is not None:
            demo.line.stop()
        if simulator is not None:
            simulator.stop()
        if hmi is not None:
            hmi.stop()
        if vision is not None:
            vision.stop()
            print(f'  OPC UA vision system: {vision.served() or "stopped without a report"}')


def defective_classes(class_names, reject_params) -> List[str]:
    """Return the classes the reject policy rejects even when the model is sure."""
    policy = policy_from_values(reject_params)
    return [name for name in class_names if decide(InspectionOutcome(
        InspectionStatus.OK, class_name=name, confidence=1.0), policy).reject]


def capture_rate(captured) -> float:
    """Return the mean frame rate between the first and the last capture stamp."""
    if len(captured) < 2:
        return 0.0
    span_s = (captured[-1].header.stamp_ns - captured[0].header.stamp_ns) / 1e9
    return (len(captured) - 1) / span_s if span_s > 0 else 0.0


def _run_line(demo: DemoRun, args, overrides) -> int:
    reject_params = overrides['reject_actuator_node']
    class_names = demo.truth.class_names
    defective = defective_classes(class_names, reject_params)
    print(f'  defective (rejected) classes: {", ".join(defective) or "none"}; accepted: '
          f'{", ".join(c for c in class_names if c not in defective) or "none"}; '
          f'topics under /{demo.line.namespace}', flush=True)
    timing = RejectActuatorConfig.from_values(reject_params)
    drain_s = timing.reject_delay_s + timing.inspection_window_s + 5.0
    demo.line.start()
    start = time.monotonic()
    last_print, last_frames = start, 0
    interrupted = False
    try:
        # Until --frames parts were captured, the source ended for good or a callback failed.
        while not 0 < args.frames <= demo.truth.frames and not demo.truth.stopped and \
                demo.line.failure is None:
            time.sleep(0.05)
            now = time.monotonic()
            if args.duration and now - start >= args.duration:
                break
            if now - last_print >= 1.0:
                frames = demo.truth.frames
                if not args.quiet:
                    fps = (frames - last_frames) / (now - last_print)
                    print(demo.summary_line(now - start, fps), flush=True)
                last_print, last_frames = now, frames
    except KeyboardInterrupt:
        interrupted = True
        print('\ninterrupted: stopping the camera and draining the line', flush=True)
    demo.line.camera.set_enabled(False)
    # Let every captured part get its decision (and every reject its PLC write).
    deadline = time.monotonic() + drain_s
    while time.monotonic() < deadline:
        ledger = demo.snapshot()
        if len(ledger.decisions) >= len(ledger.captured) and len(ledger.results) >= len(
                ledger.captured) * max(len(ledger.cameras), 1):
            time.sleep(0.3)   # late duplicates and the last PLC replies would show up now
            break
        time.sleep(0.05)
    print(demo.summary_line(time.monotonic() - start, capture_rate(demo.snapshot().captured)))
    if demo.line.failure:
        print(f'error: a node callback failed and stopped the executor: {demo.line.failure}',
              file=sys.stderr)
    result = reconcile(demo.snapshot(), defective, plc_used=demo.simulator is not None)
    print_reconciliation(result, defective,
                         'image labels' if args.images else 'synthetic generator')
    if args.cameras > 1:
        print_station(demo.snapshot(), defective, policy_from_values(reject_params))
    if interrupted:
        print('(run cut short by Ctrl-C)')
    return 0 if result.ok and not demo.line.failure else 1
