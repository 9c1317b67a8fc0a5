# SPDX-License-Identifier: Apache-2.0
"""
The rig of the fault-injection runs: real node processes, a PLC simulator process, an observer.

`FaultRig` starts reject_actuator_node (and inference_node when a scenario needs it) as real
processes with config/inspect.yaml, a Modbus PLC simulator in a process of its own (so that it
can be stopped with SIGSTOP, killed and started again like a real PLC), and an `Observer`: an
rclpy node of this process that plays the camera (PartTrigger + Image, or PartTrigger +
InspectionResult standing in for inference), a stray publisher, and records RejectEvents and
diagnostics. The scenarios (app/fault_scenarios.py) drive it; the tests
(test/test_line_faults.py) and `python -m benchmarks.fault_injection_benchmark` both run them.
"""
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional

from acnn_ros.app.plc_simulator_process import PlcSimulatorProcess
from acnn_ros.core.plc.modbus.simulator import free_port
from acnn_ros.msg import InspectionResult, PartTrigger, RejectEvent
from acnn_ros.nodes.line_qos import PER_PART_PUBLISHER_QOS, PER_PART_QOS
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.srv import ChangeState
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

PACKAGE_DIR = Path(__file__).resolve().parents[2]
PARAMS_FILE = PACKAGE_DIR / 'config' / 'inspect.yaml'
# The actuator's timing in every scenario (seconds): a part is due 0.5 s after capture.
REJECT_DELAY_S = 0.5
MAX_FIRE_LATENESS_S = 0.05


class NodeProcess:
    """`python -m acnn_ros.nodes.<name>` with config/inspect.yaml and overrides; output kept."""

    def __init__(self, name: str, parameters: Dict[str, object]):
        overrides = [arg for key, value in parameters.items()
                     for arg in ('-p', f'{key}:={value}')]
        self.process = subprocess.Popen(
            [sys.executable, '-m', f'acnn_ros.nodes.{name}', '--ros-args', '--params-file',
             str(PARAMS_FILE), *overrides],
            cwd=str(PACKAGE_DIR), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: List[str] = []
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def matching(self, *words: str) -> List[str]:
        """Return the output lines that contain every one of `words`."""
        return [line for line in list(self.lines) if all(word in line for word in words)]

    def stop(self, timeout_s: float = 15.0) -> int:
        """Ctrl-C (SIGINT); return the exit status (killed after timeout_s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(timeout=5.0)
        return code


def stamp_msg(seconds: float) -> Time:
    """Return `seconds` as a builtin_interfaces/Time."""
    nanoseconds = int(round(seconds * 1e9))
    return Time(sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9)


class Observer:
    """The camera, a stray publisher and the recorder, in an rclpy context of its own."""

    def __init__(self):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('fault_observer', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        node = self.node
        self.parts = node.create_publisher(PartTrigger, 'part', PER_PART_PUBLISHER_QOS)
        self.results = node.create_publisher(InspectionResult, 'inspection',
                                             PER_PART_PUBLISHER_QOS)
        self.images = node.create_publisher(Image, 'image', qos_profile_sensor_data)
        # A second publisher of `image`: a debug tool, a bag played into the live line.
        self.stray = node.create_publisher(Image, 'image', qos_profile_sensor_data)
        self.compressed = node.create_publisher(CompressedImage, 'image/compressed',
                                                qos_profile_sensor_data)
        self.events: List[RejectEvent] = []
        self.diagnostics: List[DiagnosticArray] = []
        node.create_subscription(RejectEvent, 'reject', self.events.append, PER_PART_QOS)
        node.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics.append, 100)
        self.part_id = 0
        self.published: Dict[int, float] = {}     # part id -> capture stamp

    def spin_until(self, condition, timeout_s: float) -> bool:
        """Spin until `condition()` or the timeout; return `condition()`."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.01)
        return condition()

    def spin_for(self, seconds: float) -> None:
        """Spin for `seconds`."""
        self.spin_until(lambda: False, seconds)

    def wait_for_actuator(self, inference: bool = False, timeout_s: float = 60.0) -> bool:
        """Wait until the actuator (and inference_node) matched this observer's topics."""
        def matched():
            ready = (self.parts.get_subscription_count() > 0
                     and self.node.count_publishers('reject') > 0)
            if inference:
                ready = ready and self.images.get_subscription_count() > 0 and \
                    self.node.count_publishers('inspection') > 1
            return ready
        found = self.spin_until(matched, timeout_s)
        self.spin_for(0.5)
        return found

    def part(self, image: Optional[np.ndarray] = None, class_name: Optional[str] = None,
             frame_id: str = 'camera') -> int:
        """Publish the next part: its trigger, and its frame or a stand-in result."""
        self.part_id += 1
        stamp = time.time()
        self.published[self.part_id] = stamp
        trigger = PartTrigger(part_id=self.part_id)
        trigger.header.stamp, trigger.header.frame_id = stamp_msg(stamp), frame_id
        if image is not None:
            self.images.publish(image_message(image, stamp, frame_id))
        self.parts.publish(trigger)
        if class_name is not None:
            result = InspectionResult(status=0, class_name=class_name, confidence=0.95)
            result.header = trigger.header
            self.results.publish(result)
        self.executor.spin_once(timeout_sec=0.0)
        return self.part_id

    def run_parts(self, count: int, rate_hz: float, **kwargs) -> None:
        """Publish `count` parts at `rate_hz` (spinning in between)."""
        start = time.monotonic()
        for i in range(count):
            self.part(**{k: v(i) if callable(v) else v for k, v in kwargs.items()})
            self.spin_until(lambda: False, max(0.0, start + (i + 1) / rate_hz
                                               - time.monotonic()))

    def event_by_part(self) -> Dict[int, List[RejectEvent]]:
        """Return the RejectEvents received, by part id."""
        found: Dict[int, List[RejectEvent]] = {}
        for event in self.events:
            found.setdefault(event.part_id, []).append(event)
        return found

    def actuator_values(self) -> List[Dict[str, str]]:
        """Return the key-values (+ 'level', 'message') of every actuator diagnostic."""
        found = []
        for array in self.diagnostics:
            for status in array.status:
                if 'reject actuator' in status.name or 'reject_actuator' in status.name:
                    values = {kv.key: kv.value for kv in status.values}
                    values['level'] = int.from_bytes(bytes(status.level), 'little') \
                        if isinstance(status.level, (bytes, bytearray)) else int(status.level)
                    values['message'] = status.message
                    found.append(values)
        return found

    def change_state(self, node_name: str, transition: str) -> bool:
        """Run a lifecycle transition of `node_name`."""
        client = self.node.create_client(ChangeState, f'/{node_name}/change_state')
        try:
            if not client.wait_for_service(timeout_sec=20.0):
                return False
            request = ChangeState.Request()
            request.transition.label = transition
            future = client.call_async(request)
            return self.spin_until(future.done, 30.0) and future.result().success
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        """Destroy the node and its context."""
        self.node.destroy_node()
        self.executor.shutdown()
        rclpy.shutdown(context=self.context)


def image_message(bgr: np.ndarray, stamp: float, frame_id: str) -> Image:
    """Return a bgr8 sensor_msgs/Image of `bgr` stamped `stamp`."""
    msg = Image(height=bgr.shape[0], width=bgr.shape[1], encoding='bgr8',
                step=bgr.shape[1] * 3, data=np.ascontiguousarray(bgr).tobytes())
    msg.header.stamp, msg.header.frame_id = stamp_msg(stamp), frame_id
    return msg


class FaultRig:
    """A PLC simulator (Modbus process or OPC UA), reject_actuator_node, inference, observer."""

    def __init__(self, inference: bool = False, actuator: Optional[Dict[str, object]] = None,
                 plc: bool = True, plc_port: Optional[int] = None,
                 inference_parameters: Optional[Dict[str, object]] = None,
                 protocol: str = 'modbus'):
        self.plc_port = plc_port or free_port()
        self.plc = None
        parameters = {}
        if protocol == 'opcua':
            # The asyncua simulator in a thread of this process: `freeze` blocks its loop
            # while its TCP connections stay open, as a stalled PLC task does.
            from acnn_ros.core.plc.opcua.simulator import OpcUaSimulator
            self.plc = OpcUaSimulator(self.plc_port).start()
            parameters = {'actuator': 'opcua', 'opcua_endpoint': self.plc.endpoint}
        elif plc:
            self.start_plc()
        parameters.update({
            'plc_port': self.plc_port, 'realtime_policy': 'none',
            'reject_delay_s': REJECT_DELAY_S, 'inspection_window_s': 0.25,
            'max_fire_lateness_s': MAX_FIRE_LATENESS_S, 'counters_period_s': 0.2,
            'plc_heartbeat_period_s': 0.2})
        parameters.update(actuator or {})
        self.actuator = NodeProcess('reject_actuator_node', parameters)
        self.inference = (NodeProcess('inference_node', inference_parameters or {})
                          if inference else None)
        self.observer = Observer()

    def start_plc(self) -> None:
        """Start the PLC simulator process on the rig's port."""
        self.plc = PlcSimulatorProcess(self.plc_port, {})

    def signal_plc(self, signum: int) -> None:
        """Send `signum` to the PLC simulator process (SIGSTOP, SIGCONT, SIGKILL)."""
        os.kill(self.plc.pid, signum)

    def close(self) -> Dict[str, int]:
        """Stop everything (actuator first: it tells the PLC "not ready"); return exit codes."""
        self.observer.close()
        codes = {'reject_actuator_node': self.actuator.stop()}
        if self.inference is not None and self.inference.process.poll() is None:
            codes['inference_node'] = self.inference.stop()
        if self.plc is not None:
            self.plc.stop()
        return codes
