# SPDX-License-Identifier: Apache-2.0
"""
launch/inspect.launch.py: its arguments, remaps and references, and the graph it starts.

`launch`/`launch_ros` are not installable on this machine (no wheels), so the real launch test
skips here with that reason. The file is kept declarative enough to be read by AST instead:
the declared arguments, the nodes with their parameters and remaps are extracted without
importing launch, checked against the package (executables, node modules, YAML sections,
topic names), and then the same nodes are started as plain processes - as a user without
`ros2 launch` would - and the resulting ROS graph is checked over DDS.
"""
import ast
import os
import signal
import subprocess
import sys
import time
from typing import List

from acnn_ros.msg import PartTrigger, RejectEvent
from launch_file_reader import (cmake_executables, LAUNCH_FILE, LaunchFileReader, node_module,
                                NodeSpec, PARAMS_FILE, yaml_sections)
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from ros_processes import REPO_DIR
import yaml

EXPECTED_ARGUMENTS = {'camera', 'camera_source', 'model', 'params_file', 'plc_host',
                      'plc_port', 'namespace', 'use_rviz', 'image_topic'}
DATA_FLOW_TOPICS = {'image', 'inspection', 'part', 'reject'}
EXTERNAL_EXECUTABLES = {('rviz2', 'rviz2')}


LAUNCH_RUNNER = """
import sys

import launch
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

service = launch.LaunchService()
service.include_launch_description(launch.LaunchDescription([IncludeLaunchDescription(
    PythonLaunchDescriptionSource(sys.argv[1]),
    launch_arguments=[('camera_source', 'synthetic'), ('namespace', 'launch_test'),
                      ('params_file', sys.argv[2])])]))
sys.exit(service.run())
"""


def test_real_launch_starts_the_graph():
    reason = ('launch/launch_ros are not installable here (no PyPI wheels, no apt ROS 2); '
              'test_launch_nodes_start_without_ros2_launch starts the same nodes instead')
    pytest.importorskip('launch', reason=reason)
    pytest.importorskip('launch_ros', reason=reason)
    process = subprocess.Popen([sys.executable, '-c', LAUNCH_RUNNER, str(LAUNCH_FILE),
                                str(PARAMS_FILE)], cwd=str(REPO_DIR),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        expected = {'camera_node', 'inference_node', 'reject_actuator_node'}
        names = wait_for_graph('/launch_test', expected, 60)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output = process.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0]
    assert expected <= names, output


def test_declared_arguments():
    reader = LaunchFileReader()
    arguments = reader.arguments
    assert set(arguments) == EXPECTED_ARGUMENTS
    assert all(description.strip() for _, description, _ in arguments.values())
    assert arguments['camera'][0] == 'builtin'
    assert arguments['camera'][2] == ['builtin', 'external', 'none']
    assert arguments['use_rviz'][2] == ['true', 'false']
    assert arguments['image_topic'][0] == 'image'
    # Every declared argument is used, and every use is declared.
    used = {c.args[0].value for name in ('LaunchConfiguration', 'string_parameter')
            for c in reader.calls(name) if isinstance(c.args[0], ast.Constant)}
    assert used == EXPECTED_ARGUMENTS
    declares = reader.calls('DeclareLaunchArgument')
    assert len(declares) == 1 and isinstance(declares[0].args[0], ast.Name)


def test_launch_file_does_not_import_the_package_or_compute():
    # Thin and declarative: only launch / launch_ros imports, one function, no control flow.
    reader = LaunchFileReader()
    modules = {n.module.split('.')[0] for n in ast.walk(reader.tree)
               if isinstance(n, ast.ImportFrom)}
    modules |= {a.name.split('.')[0] for n in ast.walk(reader.tree) if isinstance(n, ast.Import)
                for a in n.names}
    assert modules <= {'launch', 'launch_ros'}
    control_flow = (ast.If, ast.For, ast.While, ast.Try)
    assert not [n for n in ast.walk(reader.function) if isinstance(n, control_flow)]


def test_every_reference_exists():
    reader = LaunchFileReader()
    sections = yaml_sections()
    specs = reader.nodes()
    assert [s.executable for s in specs] == ['camera_node', 'inference_node',
                                             'reject_actuator_node', 'rviz2']
    executables = cmake_executables()
    for spec in specs:
        if (spec.package, spec.executable) in EXTERNAL_EXECUTABLES:
            continue
        assert spec.package == 'acnn_ros'
        assert spec.executable in executables, f'{spec.executable} not in CMakeLists.txt'
        assert spec.name == spec.executable          # file = executable = node name
        source = node_module(spec.executable)
        assert source.is_file(), f'{source} missing'
        tree = ast.parse(source.read_text(encoding='utf-8'))
        assert any(isinstance(n, ast.FunctionDef) and n.name == 'main' for n in tree.body)
        strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                   and isinstance(n.value, str)}
        for topic, _target in spec.remappings:
            assert topic in DATA_FLOW_TOPICS, f'{spec.name} remaps {topic}'
            assert topic in strings, f'{spec.name} does not use the topic name {topic!r}'
        assert spec.parameter_files == [str(PARAMS_FILE)]
        assert spec.name in sections, f'no /**/{spec.name} section in {PARAMS_FILE.name}'
        unknown = set(spec.parameters) - set(sections[spec.name])
        assert not unknown, f'{spec.name}: launch sets parameters absent from the YAML: {unknown}'
    rviz = next(s for s in specs if s.executable == 'rviz2')
    assert not rviz.enabled                           # use_rviz defaults to false
    assert rviz.arguments[0] == '-d' and os.path.isfile(rviz.arguments[1]), rviz.arguments
    assert os.path.isfile(os.path.join(REPO_DIR, reader.defaults()['model'])), 'no shipped model'


def test_camera_argument_selects_the_camera_and_the_part_trigger_join():
    reader = LaunchFileReader()
    for camera, started in (('builtin', True), ('external', False), ('none', False)):
        specs = {s.executable: s for s in reader.nodes({'camera': camera,
                                                        'image_topic': '/cam/image_raw'})}
        assert specs['camera_node'].enabled is started
        assert specs['reject_actuator_node'].parameters['use_part_trigger'] is started
        assert ('image', '/cam/image_raw') in specs['inference_node'].remappings
    specs = {s.executable: s for s in reader.nodes({'camera_source': '0', 'plc_port': '5020',
                                                    'namespace': 'line2'})}
    assert specs['camera_node'].parameters['source'] == '0'     # a string, not the int 0
    assert specs['reject_actuator_node'].parameters['plc_port'] == 5020
    assert {s.namespace for s in specs.values()} == {'line2'}


def test_camera_section_of_the_yaml_matches_the_node():
    from acnn_ros.core.camera.config import CameraConfig
    from acnn_ros.nodes.camera_node import PARAMETERS
    section = yaml_sections()['camera_node']
    assert set(section) == {spec.name for spec in PARAMETERS}
    config = CameraConfig(**section)             # the file's values pass validation
    assert config.frame_rate_hz > 0
    text = PARAMS_FILE.read_text(encoding='utf-8')
    block = text[text.index('/**/camera_node:'):].split('\n/**/')[0]
    for name in (spec.name for spec in PARAMETERS):   # every parameter has a comment above it
        lines = block.splitlines()
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(f'{name}:'))
        above = [line.strip() for line in lines[max(index - 2, 0):index]]
        assert any(line.startswith('#') for line in above), f'{name} has no comment'


def wait_for_graph(namespace, expected_nodes, timeout_s):
    """Return the node names seen in `namespace` once all expected ones are there."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node('launch_graph_probe', context=context)
    try:
        end = time.monotonic() + timeout_s
        names = set()
        while time.monotonic() < end and not expected_nodes <= names:
            names = {n for n, ns in node.get_node_names_and_namespaces() if ns == namespace}
            time.sleep(0.2)
        return names
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def command_line(spec: NodeSpec, overrides_file) -> List[str]:
    """Return what `ros2 run` would run for a launch Node, with the same params and remaps."""
    command = [sys.executable, '-m', f'acnn_ros.nodes.{spec.executable}', '--ros-args',
               '-r', f'__node:={spec.name}']
    if spec.namespace:
        command += ['-r', f'__ns:=/{spec.namespace.strip("/")}']
    for path in spec.parameter_files:
        command += ['--params-file', path]
    overrides_file.write_text(yaml.safe_dump(
        {f'/**/{spec.name}': {'ros__parameters': spec.parameters}}), encoding='utf-8')
    command += ['--params-file', str(overrides_file)]
    for source, target in spec.remappings:
        command += ['-r', f'{source}:={target}']
    return command


@pytest.mark.timeout(90)
def test_launch_nodes_start_without_ros2_launch(tmp_path):
    """Start what the launch file starts, as plain processes, and check the graph."""
    overrides = {'camera_source': 'synthetic', 'namespace': 'line7',
                 'image_topic': 'camera/image_raw'}
    specs = [s for s in LaunchFileReader().nodes(overrides)
             if s.enabled and s.package == 'acnn_ros']
    assert [s.name for s in specs] == ['camera_node', 'inference_node', 'reject_actuator_node']
    processes = []
    for spec in specs:
        spec.parameters.update({'frame_rate_hz': 2.0} if spec.name == 'camera_node' else {})
        processes.append(subprocess.Popen(
            command_line(spec, tmp_path / f'{spec.name}.yaml'), cwd=str(REPO_DIR),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    context = rclpy.Context()
    rclpy.init(context=context)
    probe = Node('launch_graph_probe', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(probe)
    rejects, parts = [], []
    probe.create_subscription(RejectEvent, '/line7/reject', rejects.append, 100)
    probe.create_subscription(PartTrigger, '/line7/part', parts.append, 100)
    try:
        # (publishers, subscribers) each topic needs at least; asserted exactly below.
        needed = {'/line7/camera/image_raw': ({'camera_node'}, {'inference_node'}),
                  '/line7/inspection': ({'inference_node'}, {'reject_actuator_node'}),
                  '/line7/part': ({'camera_node'}, {'reject_actuator_node'}),
                  '/line7/reject': ({'reject_actuator_node'}, set())}
        wanted = set(needed)
        end = time.monotonic() + 60
        topics, graph = {}, {}
        # The probe's graph cache can lag behind the data (a reject may arrive before the
        # probe lists its publisher): wait for the endpoints too, not only for a reject.
        while time.monotonic() < end and not (rejects and wanted <= set(topics) and all(
                pubs <= graph[t][0] and subs <= graph[t][1]
                for t, (pubs, subs) in needed.items())):
            executor.spin_once(timeout_sec=0.1)
            topics = dict(probe.get_topic_names_and_types())
            graph = {topic: tuple({i.node_name for i in get_info(topic)
                                   if i.node_namespace == '/line7'}
                                  for get_info in (probe.get_publishers_info_by_topic,
                                                   probe.get_subscriptions_info_by_topic))
                     for topic in wanted}
            if any(p.poll() is not None for p in processes):
                break
        exited = [s.name for s, p in zip(specs, processes) if p.poll() is not None]
    finally:
        outputs = []
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                outputs.append(process.communicate(timeout=15)[0])
            except subprocess.TimeoutExpired:
                process.kill()
                outputs.append(process.communicate()[0])
        log = '\n\n'.join(outputs)
        probe.destroy_node()
        executor.shutdown()
        rclpy.shutdown(context=context)
    assert not exited, f'{exited} exited early:\n{log}'
    assert rejects, f'no RejectEvent on /line7/reject within 60 s\n{log}'
    assert topics.get('/line7/camera/image_raw') == ['sensor_msgs/msg/Image'], (topics, log)
    assert topics['/line7/inspection'] == ['acnn_ros/msg/InspectionResult']
    assert topics['/line7/part'] == ['acnn_ros/msg/PartTrigger']
    assert topics['/line7/reject'] == ['acnn_ros/msg/RejectEvent']
    assert graph['/line7/camera/image_raw'][0] == {'camera_node'}
    assert 'inference_node' in graph['/line7/camera/image_raw'][1]
    assert graph['/line7/inspection'] == ({'inference_node'}, {'reject_actuator_node'})
    assert graph['/line7/part'] == ({'camera_node'}, {'reject_actuator_node'})
    assert graph['/line7/reject'][0] == {'reject_actuator_node'}
    assert all(p.returncode == 0 for p in processes), log      # clean shutdown on SIGINT
    # The event is for a part the camera announced, with the camera's header.
    by_id = {p.part_id: p for p in parts}
    event = rejects[0]
    assert event.part_id >= 1 and event.header.frame_id == 'camera_optical_frame'
    if event.part_id in by_id:
        assert by_id[event.part_id].header == event.header
