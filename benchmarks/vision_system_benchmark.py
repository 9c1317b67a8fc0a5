# SPDX-License-Identifier: Apache-2.0
"""
The OPC UA vision system server (vision_system_node) on a line at its part rate.

Starts inference_node (the demo model, for PrepareRecipe's load_model), reject_actuator_node
(topic actuator) and vision_system_node with those two as its line, in processes of their
own; this process plays camera and inference (PartTrigger + an accept InspectionResult per
part, so each RejectEvent follows its result at once) and is an asyncua client. Measured:

- StartSingleJob -> ResultReadyEvent: the job started, the next part published, until its
  event reached the client (no model in the path: inference is played here, so this is what
  the server and the reject line add to the model's latency);
- continuous execution at `--rate` parts/s for `--duration` s: events received against parts
  published (lost, duplicated, ResultIds continuous) and part published -> event latency;
- vision_system_node's RSS after the run;
- the ejector's timing (fire_time - due_time of the RejectEvents, every second part a reject)
  of reject_actuator_node alone, first, and then with the vision system serving its client.

    python -m benchmarks.vision_system_benchmark --rate 10 --duration 60 [--write-docs]
"""
import argparse
import asyncio
from datetime import datetime, timezone
import os
import platform
import subprocess
import sys
import threading
import time

from acnn_ros.app.proc_status import rss_mib
from acnn_ros.core.plc.loop_server import free_port
from acnn_ros.core.stats import percentiles
from acnn_ros.core.vision_system.address_space import NAMESPACE_URI, RESULT_READY_EVENT_TYPE
from benchmarks.common import keep_dds_local, REPO_DIR, report_section

MARKER = '<!-- section:vision-system -->'
PARAMS = ('--params-file', str(REPO_DIR / 'config' / 'inspect.yaml'))


class Parts:
    """This process's camera and inference: a PartTrigger and an accept result per part."""

    def __init__(self):
        import rclpy
        from acnn_ros.msg import InspectionResult, PartTrigger
        from acnn_ros.nodes.line_qos import PER_PART_QOS
        from acnn_ros.msg import RejectEvent
        rclpy.init()
        self.node = rclpy.create_node('vision_system_benchmark')
        self.lateness_ms = {}          # rejected part id -> fire_time - due_time (ms)
        self.node.create_subscription(RejectEvent, 'reject', self._on_reject, PER_PART_QOS)
        self._trigger = self.node.create_publisher(PartTrigger, 'part', PER_PART_QOS)
        self._result = self.node.create_publisher(InspectionResult, 'inspection', PER_PART_QOS)
        self._types = PartTrigger, InspectionResult
        self.sent = {}                 # part id -> time.monotonic() of publication
        self._spin = threading.Thread(target=rclpy.spin, args=(self.node,), daemon=True)
        self._spin.start()

    def _on_reject(self, event) -> None:
        if event.delivery == event.DELIVERY_FIRED:
            fire = event.fire_time.sec + event.fire_time.nanosec * 1e-9
            due = event.due_time.sec + event.due_time.nanosec * 1e-9
            self.lateness_ms[event.part_id] = (fire - due) * 1000.0

    def publish(self, part_id: int, reject: bool = False) -> None:
        """Publish part `part_id`: its trigger, then its result (p3707 accepted, p1069 not)."""
        trigger_type, result_type = self._types
        stamp = self.node.get_clock().now().to_msg()
        trigger = trigger_type(part_id=part_id)
        trigger.header.stamp, trigger.header.frame_id = stamp, 'camera_optical_frame'
        result = result_type(status=result_type.STATUS_OK, class_id=0 if reject else 2,
                             class_name='p1069' if reject else 'p3707', confidence=0.99)
        result.header = trigger.header
        self.sent[part_id] = time.monotonic()
        self._trigger.publish(trigger)
        self._result.publish(result)

    def close(self) -> None:
        """Shut this process's ROS context down."""
        import rclpy
        rclpy.shutdown()


class Received:
    """asyncua handler: the time each ResultReadyEvent arrived, with its ids."""

    def __init__(self):
        self.events = []               # (time.monotonic(), result id, part id)

    def event_notification(self, event):
        """Keep the event's arrival time and ids."""
        self.events.append((time.monotonic(), int(event.ResultId.Id), int(event.PartId.Id)))


def start_node(name, *arguments):
    return subprocess.Popen([sys.executable, '-m', f'acnn_ros.nodes.{name}', '--ros-args',
                             *PARAMS, *arguments], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)


async def run(args, port, parts: Parts):
    from asyncua import Client, ua
    # asyncua's watchdog gives a connection up after 1 s without an answer by default: too
    # short on a loaded machine (test/vision_system_support.opcua_client says more).
    client = Client(f'opc.tcp://127.0.0.1:{port}/acnn_ros/vision_system/', timeout=30,
                    watchdog_intervall=5.0)
    for _ in range(120):
        try:
            await client.connect()
            break
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.5)
    try:
        await client.load_data_type_definitions()
        index = await client.get_namespace_index(NAMESPACE_URI)
        system = client.get_node(ua.NodeId('VisionSystem', index))
        automatic = client.get_node(ua.NodeId(
            'VisionSystem.VisionStateMachine.AutomaticModeStateMachine', index))
        state = await automatic.get_child('0:CurrentState')
        received = Received()
        subscription = await client.create_subscription(10, received)
        await subscription.subscribe_events(client.nodes.server,
                                            ua.NodeId(RESULT_READY_EVENT_TYPE, index))
        for _ in range(600):      # the line's nodes active: Operational / Initialized
            if (await state.read_value()).Text == 'Initialized':
                break
            await asyncio.sleep(0.1)
        recipes = await system.get_child(f'{index}:RecipeManagement')
        prepared = await recipes.call_method(
            f'{index}:PrepareRecipe', ua.RecipeIdExternalDataType(
                Id='resource/models/acnn_demo.onnx'), ua.RecipeIdInternalDataType(Id=''))
        assert prepared[-1] == 0, f'PrepareRecipe: {prepared}'
        start = (ua.MeasIdDataType(Id=''), ua.PartIdDataType(Id=''),
                 ua.RecipeIdExternalDataType(Id=''), ua.ProductIdDataType(Id=''),
                 ua.Variant([], ua.VariantType.Variant))
        part_id, single = args.first_part - 1, []
        for _ in range(args.jobs):
            part_id += 1
            before = len(received.events)
            started = time.monotonic()
            await automatic.call_method(f'{index}:StartSingleJob', *start)
            parts.publish(part_id)
            while len(received.events) == before:
                await asyncio.sleep(0.0005)
            single.append((received.events[-1][0] - started) * 1000.0)
            while (await state.read_value()).Text != 'Ready':
                await asyncio.sleep(0.001)
        await automatic.call_method(f'{index}:StartContinuous', *start)
        first = part_id + 1
        period, begin = 1.0 / args.rate, time.monotonic()
        while time.monotonic() - begin < args.duration:
            part_id += 1
            parts.publish(part_id, reject=part_id % 2 == 0)
            await asyncio.sleep(max(0.0, begin + (part_id - first + 1) * period
                                    - time.monotonic()))
        await asyncio.sleep(3.0)
        return single, received.events, first, part_id
    finally:
        await client.disconnect()


def ejector_baseline(args, parts: Parts) -> int:
    """Run the reject line alone (no vision system) at the same rate; return the last part id."""
    actuator = start_node('reject_actuator_node', '-p', 'actuator:=topic')
    try:
        time.sleep(8.0)                          # started and matched (start-up is not timed)
        period, begin = 1.0 / args.rate, time.monotonic()
        part_id = 0
        while time.monotonic() - begin < args.duration:
            part_id += 1
            parts.publish(part_id, reject=part_id % 2 == 0)
            time.sleep(max(0.0, begin + part_id * period - time.monotonic()))
        time.sleep(3.0)
    finally:
        actuator.terminate()
        actuator.wait(timeout=30)
    return part_id


def lateness_row(label, values) -> str:
    """Return a table row of fire_time - due_time percentiles (ms)."""
    p = percentiles(values, (50, 95, 99))
    return (f'| {label} | {p["p50"]:.2f} | {p["p95"]:.2f} | {p["p99"]:.2f} | '
            f'{len(values)} rejects |')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rate', type=float, default=10.0, help='parts per second')
    parser.add_argument('--duration', type=float, default=60.0, help='seconds of parts')
    parser.add_argument('--jobs', type=int, default=50, help='single jobs timed')
    parser.add_argument('--write-docs', action='store_true',
                        help='put the section into docs/BENCHMARKS.md')
    args = parser.parse_args(argv)
    keep_dds_local(default_domain=int(os.environ.get('ROS_DOMAIN_ID', '47')))
    port = free_port()
    parts = Parts()
    args.first_part = ejector_baseline(args, parts) + 1
    alone = dict(parts.lateness_ms)
    inference = start_node('inference_node')
    actuator = start_node('reject_actuator_node', '-p', 'actuator:=topic')
    vision = start_node('vision_system_node', '-p', f'server_port:={port}',
                        '-p', 'line_nodes:=[inference_node, reject_actuator_node]',
                        '-p', 'line_period_s:=0.2')
    try:
        single, events, first, last = asyncio.run(run(args, port, parts))
        rss = rss_mib(vision.pid)
    finally:
        parts.close()
        for process in (vision, actuator, inference):
            process.terminate()
            process.wait(timeout=30)
    continuous = [e for e in events if e[2] >= first]
    ids = [e[2] for e in continuous]
    # An accepted part's RejectEvent follows its result at once; a rejected one's waits for
    # its firing (reject_delay_s): the latency is the accepted parts'.
    latencies = [(when - parts.sent[part]) * 1000.0 for when, _, part in continuous
                 if part % 2]
    served = [v for part, v in parts.lateness_ms.items() if first <= part <= last]
    result_ids = [e[1] for e in events]
    continuous_ids = result_ids == list(range(result_ids[0], result_ids[0] + len(result_ids)))
    single_p = percentiles(single, (50, 95, 99))
    part_p = percentiles(latencies, (50, 95, 99))
    expected = last - first + 1
    load = open('/proc/loadavg').read().split()[:3]
    text = '\n'.join([
        MARKER,
        '## OPC UA vision system server (vision_system_node)',
        '',
        f'`python -m benchmarks.vision_system_benchmark --rate {args.rate:g} --duration '
        f'{args.duration:g} --jobs {args.jobs}` on {platform.node()} '
        f'({os.cpu_count()} CPUs), {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, load '
        f'average {" ".join(load)} at the end. Inference is played by the benchmark (no model '
        'in the path); inference_node, reject_actuator_node (topic actuator) and '
        'vision_system_node are real processes over DDS.',
        '',
        '| measured | p50 | p95 | p99 | count |',
        '|---|---|---|---|---|',
        f'| StartSingleJob -> ResultReadyEvent (ms) | {single_p["p50"]:.1f} | '
        f'{single_p["p95"]:.1f} | {single_p["p99"]:.1f} | {len(single)} jobs |',
        f'| accepted part published -> ResultReadyEvent at {args.rate:g} parts/s (ms) | '
        f'{part_p["p50"]:.1f} | {part_p["p95"]:.1f} | {part_p["p99"]:.1f} | '
        f'{len(latencies)} events |',
        '',
        f'Ejector timing, fire_time - due_time of the RejectEvents (ms; every second part a '
        f'reject, {args.rate:g} parts/s, {args.duration:g} s each), the reject line alone and '
        'with vision_system_node serving a subscribed client:',
        '',
        '| run | p50 | p95 | p99 | count |',
        '|---|---|---|---|---|',
        lateness_row('reject_actuator_node alone', list(alone.values())),
        lateness_row('with the vision system server and its client', served),
        '',
        f'Continuous run: {expected} parts published, {len(set(ids))} with an event, '
        f'{expected - len(set(ids) & set(range(first, last + 1)))} lost, '
        f'{len(ids) - len(set(ids))} duplicated; ResultIds continuous: {continuous_ids}. '
        f'vision_system_node RSS after the run: {rss:.0f} MiB.',
    ])
    report_section(MARKER, text, args.write_docs)
    return 0 if len(set(ids)) == expected == len(ids) and continuous_ids else 1


if __name__ == '__main__':
    sys.exit(main())
