# SPDX-License-Identifier: Apache-2.0
"""
The one-process line (nodes/inspection_line): frames from camera_node to inference_node in memory.

Real nodes, real rclpy/DDS for `part`, `inspection` and `image`, the shipped model and the YAML:
the in-memory hand-over answers every frame exactly once with the verdicts the `image` topic
path gives for the same frames, and `image` is published only while someone subscribes to it.
"""
import os
import threading
import time

from acnn_ros.core.camera.source import Frame, FrameSource
from acnn_ros.core.dataset.synthetic import render_frame
from acnn_ros.core.messages import frame_key
from acnn_ros.core.params_file import load_params_file, node_parameters
from acnn_ros.core.results import InspectionStatus
from acnn_ros.msg import InspectionResult, PartTrigger, RejectEvent
from acnn_ros.nodes.inspection_line import Line
import numpy as np
import pytest
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from ros_client import RosClient
from ros_processes import NodeProcess, REPO_DIR
from sensor_msgs.msg import Image
import yaml

PARAMS_FILE = REPO_DIR / 'config' / 'inspect.yaml'


class ListSource(FrameSource):
    """The same frames in the same order on every run (cycled)."""

    description = 'test frames'

    def __init__(self, frames):
        self.frames = frames
        self.position = 0

    def connect(self) -> None:
        self.position = 0

    def read(self) -> Frame:
        frame = self.frames[self.position % len(self.frames)]
        self.position += 1
        return Frame(frame, time.monotonic_ns(), name=str(self.position))


@pytest.fixture(scope='module')
def frames():
    return [render_frame(np.random.default_rng(seed), seed % 4)[0] for seed in range(6)]


class Probe(Node):
    """Records parts and verdicts; counts the camera's `image` publications at the publisher."""

    def __init__(self, line: Line):
        super().__init__('line_probe', **line.node_arguments())
        self.lock = threading.Lock()
        self.parts, self.verdicts, self.images = [], [], []
        qos = QoSProfile(depth=1000)
        self.create_subscription(PartTrigger, 'part', self.on_part, qos)
        self.create_subscription(InspectionResult, 'inspection', self.on_verdict, qos)
        self.image_subscription = None
        self.published = 0
        publisher = next(p for p in line.camera.publishers if p.topic_name.endswith('/image'))
        self.image_publisher, publish = publisher, publisher.publish

        def counted(msg):
            with self.lock:
                self.published += 1
            return publish(msg)
        publisher.publish = counted

    def on_part(self, msg):
        with self.lock:
            self.parts.append((msg.part_id, frame_key(msg.header)))

    def on_verdict(self, msg):
        roi = (msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height)
        with self.lock:
            self.verdicts.append((frame_key(msg.header), msg.status, msg.class_name,
                                  round(msg.confidence, 5), roi))

    # The subscription is made and destroyed on the line's executor thread: destroying it from
    # the test thread while that thread publishes `image` to it once hung the whole line.
    def subscribe_images(self):
        def subscribe():
            self.image_subscription = self.create_subscription(
                Image, 'image', lambda msg: self.images.append(msg), qos_profile_sensor_data)
        self.on_executor(subscribe)

    def unsubscribe_images(self):
        def unsubscribe():
            self.destroy_subscription(self.image_subscription)
            self.image_subscription = None
        self.on_executor(unsubscribe)

    def on_executor(self, change):
        task = self.executor.create_task(change)
        wait_for(task.done, 10.0, 'the executor to run a subscription change')
        task.result()


def wait_for(condition, timeout_s=30.0, what='condition'):
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, f'timed out waiting for {what}'
        time.sleep(0.02)


def start_line(frames, in_memory, rate_hz, max_frames=0):
    sections = load_params_file(PARAMS_FILE)
    camera = node_parameters(sections, 'camera_node')
    camera.update(source='synthetic', frame_rate_hz=float(rate_hz), max_frames=max_frames,
                  enabled=False)
    reject = node_parameters(sections, 'reject_actuator_node')
    reject.update(actuator='topic', reject_delay_s=2.0, inspection_window_s=1.5,
                  max_fire_lateness_s=0.25)
    parameters = {'camera_node': camera,
                  'inference_node': node_parameters(sections, 'inference_node'),
                  'reject_actuator_node': reject}
    line = Line(parameters, f'one_process_{"memory" if in_memory else "topic"}',
                camera_source_factory=lambda config: ListSource(frames), in_memory=in_memory)
    try:
        probe = line.add_node(Probe(line))
        line.start()
        # Capture starts once the subscribers of this run are matched (none lost to discovery).
        images = 0 if in_memory else 1
        wait_for(lambda: line.camera.count_subscribers('part') >= 2
                 and line.inference.count_subscribers('inspection') >= 2
                 and probe.image_publisher.get_subscription_count() >= images, what='discovery')
    except BaseException:
        line.stop()
        raise
    line.camera.set_enabled(True)
    return line, probe


def verdicts_by_part(probe):
    """Return {part id: verdict} after checking that every part got exactly one verdict."""
    with probe.lock:
        parts, verdicts = list(probe.parts), list(probe.verdicts)
    keys = [key for key, *_ in verdicts]
    assert len(keys) == len(set(keys)), 'a frame got two verdicts'
    assert sorted(keys) == sorted(key for _, key in parts), 'frames and verdicts differ'
    by_key = {key: rest for key, *rest in verdicts}
    return {part_id: tuple(by_key[key]) for part_id, key in parts}


def run_frames(frames, in_memory, count, rate_hz):
    line, probe = start_line(frames, in_memory, rate_hz, max_frames=count)
    try:
        wait_for(lambda: len(probe.verdicts) >= count, 60.0, f'{count} verdicts')
        time.sleep(0.3)                 # a duplicate verdict would arrive now
        return verdicts_by_part(probe), probe.published
    finally:
        line.stop()


@pytest.mark.timeout(120)
def test_in_memory_line_gives_the_verdicts_of_the_topic_path(frames):
    memory, memory_images = run_frames(frames, in_memory=True, count=8, rate_hz=5.0)
    topic, topic_images = run_frames(frames, in_memory=False, count=8, rate_hz=5.0)
    assert sorted(memory) == list(range(1, 9))
    assert all(verdict[0] == InspectionStatus.OK for verdict in memory.values()), memory
    assert memory == topic              # same class, confidence and ROI for every part
    # Nobody subscribed to `image` in the in-memory run: not one frame was serialized.
    assert memory_images == 0 and topic_images == 8


@pytest.mark.timeout(120)
def test_in_memory_line_answers_every_frame_once_under_overload(frames):
    verdicts, _ = run_frames(frames, in_memory=True, count=80, rate_hz=200.0)
    statuses = [verdict[0] for verdict in verdicts.values()]
    assert len(verdicts) == 80
    assert set(statuses) <= {InspectionStatus.OK, InspectionStatus.DROPPED}
    assert InspectionStatus.OK in statuses


@pytest.mark.timeout(120)
def test_image_is_published_only_while_subscribed(frames):
    line, probe = start_line(frames, in_memory=True, rate_hz=20.0)
    try:
        wait_for(lambda: len(probe.parts) >= 10, what='10 parts')
        assert probe.published == 0
        probe.subscribe_images()
        wait_for(lambda: len(probe.images) >= 5, what='5 images while subscribed')
        assert probe.published >= len(probe.images)
        # The published frame is the captured one, with the part's header.
        parts = {key: part_id for part_id, key in probe.parts}
        image = probe.images[-1]
        part_id = parts[frame_key(image.header)]
        pixels = np.frombuffer(bytes(image.data), np.uint8).reshape(image.height, image.width, 3)
        assert np.array_equal(pixels, frames[(part_id - 1) % len(frames)])
        probe.unsubscribe_images()
        wait_for(lambda: probe.image_publisher.get_subscription_count() == 0,
                 what='unsubscribed')
        time.sleep(0.2)                 # a capture callback under way may still publish
        published, seen = probe.published, len(probe.parts)
        wait_for(lambda: len(probe.parts) >= seen + 10, what='10 more parts')
        assert probe.published == published
        line.camera.set_enabled(False)
        time.sleep(0.5)
        verdicts = verdicts_by_part(probe)
        assert len(verdicts) >= 25
    finally:
        line.stop()


def line_params_file(tmp_path, **inference):
    """Return the shipped YAML with a synthetic camera at 5 Hz and the topic actuator."""
    data = yaml.safe_load(PARAMS_FILE.read_text(encoding='utf-8'))
    data['/**/inference_node']['ros__parameters'].update(inference)
    data['/**/camera_node']['ros__parameters'].update(source='synthetic', frame_rate_hz=5.0)
    data['/**/reject_actuator_node']['ros__parameters'].update(
        actuator='topic', reject_delay_s=2.0, inspection_window_s=1.5, max_fire_lateness_s=0.25)
    path = tmp_path / 'inspect.yaml'
    path.write_text(yaml.safe_dump(data), encoding='utf-8')
    return path


@pytest.mark.timeout(150)
def test_inspection_line_executable_runs_managed_nodes_with_frames_in_memory(tmp_path):
    namespace = f'il_{os.getpid()}'
    line = NodeProcess.node('inspection_line', '--params-file', str(line_params_file(tmp_path)),
                            '-r', f'__ns:=/{namespace}')
    client = RosClient()
    try:
        verdicts = client.record(InspectionResult, f'/{namespace}/inspection', 100)
        rejects = client.record(RejectEvent, f'/{namespace}/reject', 100)
        assert client.spin_until(lambda: len(rejects) >= 3, 60.0), line.output
        for node in ('camera_node', 'inference_node', 'reject_actuator_node'):
            assert client.get_state(f'{namespace}/{node}') == 'active', line.output
        # Frames reach inference_node in memory: it subscribes to no image topic.
        readers = client.node.get_subscriptions_info_by_topic(f'/{namespace}/image')
        assert not [r for r in readers if r.node_name == 'inference_node']
        assert client.change_state(f'{namespace}/inference_node', 'deactivate')
        client.spin_for(0.5)
        stopped = len(verdicts)
        client.spin_for(1.5)             # the camera still captures: no verdict, no frame
        assert len(verdicts) == stopped
        assert client.change_state(f'{namespace}/inference_node', 'activate')
        assert client.spin_until(lambda: len(verdicts) >= stopped + 3, 30.0), line.output
        assert all(v.status == InspectionStatus.OK for v in verdicts), line.output
    finally:
        code = line.interrupt()
        client.close()
    assert code == 0, line.output
    assert 'frames to inference_node in memory' in line.output


@pytest.mark.timeout(60)
def test_inspection_line_executable_exits_2_on_a_bad_configuration(tmp_path):
    missing = tmp_path / 'missing.onnx'
    line = NodeProcess.node('inspection_line', '--params-file',
                            str(line_params_file(tmp_path, model_path=str(missing))))
    try:
        code = line.process.wait(timeout=45)
    finally:
        line.interrupt()
    assert code == 2, line.output
    assert 'cannot start' in line.output and 'missing.onnx' in line.output


@pytest.mark.timeout(150)
def test_inspection_line_without_actuator_leaves_it_to_its_own_process(tmp_path):
    namespace = f'il2_{os.getpid()}'
    params = str(line_params_file(tmp_path))
    actuator = NodeProcess.node('reject_actuator_node', '--params-file', params,
                                '-r', f'__ns:=/{namespace}')
    line = NodeProcess.node('inspection_line', '--params-file', params,
                            '-r', f'__ns:=/{namespace}', '--', '--no-actuator')
    client = RosClient()
    try:
        rejects = client.record(RejectEvent, f'/{namespace}/reject', 100)
        # Parts and verdicts joined across the two processes: decisions carry a class.
        assert client.spin_until(lambda: sum(bool(r.class_name) for r in rejects) >= 3,
                                 60.0), line.output + actuator.output
        expected = {'camera_node', 'inference_node', 'reject_actuator_node'}

        def nodes():        # the graph cache may lag behind the data
            return {name for name, ns in client.node.get_node_names_and_namespaces()
                    if ns == f'/{namespace}'}
        client.spin_until(lambda: nodes() == expected, 20.0)
        assert nodes() == expected
    finally:
        codes = (line.interrupt(), actuator.interrupt())
        client.close()
    assert codes == (0, 0), line.output + actuator.output
    assert 'reject_actuator_node' not in line.output
