# SPDX-License-Identifier: Apache-2.0
"""
launch/inspect.launch.py: its arguments, remaps and references, and the graph it starts.

`launch`/`launch_ros` are not installable on this machine (no wheels), so the real launch test
skips here with that reason. The file is kept declarative enough to be read by AST instead:
the declared arguments, the nodes with their parameters and remaps are extracted without
importing launch, checked against the package (executables, node modules, YAML sections,
topic names), and then the same nodes are started as plain processes - as a user without
`ros2 launch` would - and the resulting ROS graph is checked over DDS. The file may only use
launch / launch_ros names and keywords present on Humble, Jazzy and Kilted
(test/launch_distributions.py lists them per distribution, from the upstream sources).
"""
import ast
import os
import signal
import subprocess
import time

from acnn_ros.msg import PartTrigger, RejectEvent
from acnn_ros.nodes.managed_node import AUTOSTART
from diagnostic_msgs.msg import DiagnosticArray
import launch_distributions
from launch_file_reader import (cmake_executables, command_line, launch_api_uses, LAUNCH_FILE,
                                LaunchFileReader, node_module, PARAMS_FILE, resolve,
                                rviz_topics, yaml_sections)
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from ros_processes import NodeProcess, REPO_DIR
import yaml

EXPECTED_ARGUMENTS = {'camera', 'camera_source', 'model', 'params_file', 'plc_host',
                      'plc_port', 'namespace', 'use_rviz', 'image_topic', 'autostart',
                      'respawn_camera', 'log_level', 'use_sim_time', 'line', 'cameras', 'hmi'}
DATA_FLOW_TOPICS = {'image', 'image/compressed', 'camera_info', 'inspection', 'part', 'reject'}
MANAGED_NODES = ['camera_node', 'inference_node', 'reject_actuator_node']
DISTRIBUTIONS = ('humble', 'jazzy', 'kilted')
# Status names of the nodes on /diagnostics, below their namespace: the fully qualified node
# name, so lines in two namespaces do not collide (test_launch_nodes_start_without_ros2_launch).
DIAGNOSTICS = ('camera_node: camera', 'inference_node: inspection',
               'reject_actuator_node: reject actuator')
EXTERNAL_EXECUTABLES = {('rviz2', 'rviz2')}
ONE_PROCESS = 'inspection_line'    # line:=one_process | two_processes (test_launch_line_forms)


def test_real_launch_starts_the_graph():
    reason = ('launch/launch_ros are not installable here (no PyPI wheels, no apt ROS 2); '
              'test_launch_nodes_start_without_ros2_launch starts the same nodes instead')
    pytest.importorskip('launch', reason=reason)
    pytest.importorskip('launch_ros', reason=reason)
    process = NodeProcess.script('launch_runner', str(LAUNCH_FILE), str(PARAMS_FILE))
    try:
        expected = {'camera_node', 'inference_node', 'reject_actuator_node'}
        names = wait_for_graph('/launch_test', expected, 60)
    finally:
        process.interrupt(timeout_s=30)
    assert expected <= names, process.output


def test_declared_arguments():
    reader = LaunchFileReader()
    arguments = reader.arguments
    assert set(arguments) == EXPECTED_ARGUMENTS
    assert all(description.strip() for _, description, _ in arguments.values())
    assert arguments['camera'][0] == 'builtin'
    assert arguments['camera'][2] == ['builtin', 'external', 'none']
    assert arguments['use_rviz'][2] == ['true', 'false']
    assert arguments['image_topic'][0] == 'image'
    assert {name: arguments[name][0] for name in ('autostart', 'respawn_camera', 'log_level',
                                                  'use_sim_time')} == {
        'autostart': 'true', 'respawn_camera': 'false', 'log_level': 'info',
        'use_sim_time': 'false'}
    delay = reader.constants['CAMERA_RESPAWN_DELAY_S']
    assert delay > 0 and f'{delay:g} s' in arguments['respawn_camera'][1]
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
    assert [s.executable for s in specs] == MANAGED_NODES + [ONE_PROCESS, 'rviz2', 'hmi_node']
    assert [s.lifecycle for s in specs] == [True, True, True, False, False, True]
    executables = cmake_executables()
    # Parameters a node may get besides its YAML section: the shared /** section, the
    # ManagedNode base's autostart, and rclcpp/rclpy's own use_sim_time.
    shared = set(sections.get('**', {})) | {AUTOSTART.name, 'use_sim_time'}
    for spec in specs:
        if (spec.package, spec.executable) in EXTERNAL_EXECUTABLES or \
                spec.executable == ONE_PROCESS:      # test_line_argument_selects_the_form
            continue
        assert spec.package == 'acnn_ros'
        assert spec.executable in executables, f'{spec.executable} not in CMakeLists.txt'
        assert spec.name == spec.executable          # file = executable = node name
        source = node_module(spec.executable)
        assert source.is_file(), f'{source} missing'
        tree = ast.parse(source.read_text(encoding='utf-8'))
        assert any(isinstance(n, ast.FunctionDef) and n.name == 'main' for n in tree.body)
        # LifecycleNode actions start managed nodes (get_state / change_state services).
        assert [n for n in tree.body if isinstance(n, ast.ClassDef) and
                'ManagedNode' in {getattr(b, 'id', None) for b in n.bases}], spec.name
        # Topic names may live in a nodes/ helper the node imports (image_topics.py).
        helpers = [ast.parse(node_module(i.module.split('.')[-1]).read_text(encoding='utf-8'))
                   for i in tree.body if isinstance(i, ast.ImportFrom)
                   and (i.module or '').startswith('acnn_ros.nodes.')]
        strings = {n.value for t in [tree, *helpers] for n in ast.walk(t)
                   if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        # f'{topic}/compressed': a sub-topic of the image topic (image/compressed by default).
        strings |= {'image' + n.values[-1].value for t in [tree, *helpers]
                    for n in ast.walk(t) if isinstance(n, ast.JoinedStr) and
                    isinstance(n.values[-1], ast.Constant) and
                    str(n.values[-1].value).startswith('/')}
        for topic, _target in spec.remappings:
            assert topic in DATA_FLOW_TOPICS, f'{spec.name} remaps {topic}'
            assert topic in strings, f'{spec.name} does not use the topic name {topic!r}'
        assert spec.parameter_files == [str(PARAMS_FILE)]
        assert spec.name in sections, f'no /**/{spec.name} section in {PARAMS_FILE.name}'
        unknown = set(spec.parameters) - set(sections[spec.name]) - shared
        assert not unknown, f'{spec.name}: launch sets parameters absent from the YAML: {unknown}'
        assert spec.parameters[AUTOSTART.name] is AUTOSTART.default is True
    for spec in specs:
        assert spec.ros_arguments == ['--log-level', 'info'], spec.name
        assert spec.parameters['use_sim_time'] is False, spec.name
        assert spec.namespace == '' and spec.respawn is False, spec.name
    rviz = next(s for s in specs if s.executable == 'rviz2')
    assert not rviz.enabled                           # use_rviz defaults to false
    assert rviz.arguments[0] == '-d' and os.path.isfile(rviz.arguments[1]), rviz.arguments
    assert not next(s for s in specs if s.executable == 'hmi_node').enabled   # hmi: false
    assert next(s for s in reader.nodes({'hmi': 'true'}) if s.executable == 'hmi_node').enabled
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


def test_launch_file_uses_only_api_of_humble_jazzy_and_kilted():
    imported, calls = launch_api_uses(LaunchFileReader().tree)
    assert 'LifecycleNode' in calls and 'PythonExpression' in calls
    for distribution in DISTRIBUTIONS:
        deprecated = launch_distributions.DEPRECATED[distribution]
        for module, names in imported.items():
            missing = names - launch_distributions.exports(distribution, module)
            assert not missing, f'{distribution}: {module} lacks {sorted(missing)}'
            assert not names & deprecated, f'{distribution} deprecates {names & deprecated}'
        for name, keyword_sets in calls.items():
            accepted = launch_distributions.keywords(distribution, name)
            for used in keyword_sets:
                assert used <= accepted, f'{distribution}: {name}() takes no {used - accepted}'
    for used in calls['LifecycleNode']:          # Humble: namespace has no default
        assert set(launch_distributions.LIFECYCLE_NODE_REQUIRES) <= used
    # The check is not vacuous: the construct the file used before exists on Jazzy only.
    assert 'EqualsSubstitution' in launch_distributions.exports('jazzy', 'launch.substitutions')
    humble = launch_distributions.exports('humble', 'launch.substitutions')
    assert 'EqualsSubstitution' not in humble and 'PythonExpression' in humble


@pytest.mark.parametrize('image_topic,camera_info', [
    ('image', 'camera_info'), ('camera/image_raw', 'camera/camera_info'),
    ('/cam/image_raw', '/cam/camera_info'), ('/a/b/image_rect', '/a/b/camera_info')])
def test_camera_info_and_compressed_images_follow_image_topic(image_topic, camera_info):
    specs = {s.executable: s for s in LaunchFileReader().nodes({'image_topic': image_topic})}
    camera = dict(specs['camera_node'].remappings)
    assert (camera['image'], camera['camera_info']) == (image_topic, camera_info)
    inference = dict(specs['inference_node'].remappings)
    assert inference['image'] == image_topic
    assert inference['image/compressed'] == f'{image_topic}/compressed'


@pytest.mark.parametrize('namespace,image_topic', [
    ('', 'image'), ('line2', 'image'), ('line2', 'camera/image_raw'), ('', '/cam/image_raw')])
def test_rviz_topics_follow_namespace_and_image_topic(namespace, image_topic):
    topics = rviz_topics()
    assert set(topics) == {'Inspection overlay', 'Camera image'}
    assert not [t for t in topics.values() if t.startswith('/')], topics   # no absolute topic
    specs = {s.executable: s for s in LaunchFileReader().nodes(
        {'namespace': namespace, 'image_topic': image_topic, 'use_rviz': 'true'})}
    rviz, camera, inference = specs['rviz2'], specs['camera_node'], specs['inference_node']
    assert rviz.enabled and rviz.namespace == camera.namespace == namespace
    # rviz subscribes where camera_node publishes the image and inference_node its ~/overlay.
    assert resolve(rviz.namespace, topics['Camera image'], rviz.remappings) == \
        resolve(camera.namespace, 'image', camera.remappings)
    overlay = resolve(inference.namespace, f'{inference.name}/overlay')   # ~/overlay
    assert resolve(rviz.namespace, topics['Inspection overlay'], rviz.remappings) == overlay
    assert overlay == f'/{namespace}/inference_node/overlay'.replace('//', '/')


def test_lifecycle_respawn_log_level_and_sim_time_arguments():
    reader = LaunchFileReader()
    specs = {s.executable: s for s in reader.nodes({
        'autostart': 'false', 'respawn_camera': 'true', 'log_level': 'debug',
        'use_sim_time': 'true', 'use_rviz': 'true'})}
    assert specs['camera_node'].respawn is True
    assert specs['camera_node'].respawn_delay == reader.constants['CAMERA_RESPAWN_DELAY_S']
    assert [name for name, s in specs.items() if s.respawn] == ['camera_node']
    for name, spec in specs.items():
        assert spec.ros_arguments == ['--log-level', 'debug'], name
        assert spec.parameters['use_sim_time'] is True, name
    assert {name: specs[name].parameters[AUTOSTART.name] for name in MANAGED_NODES} == \
        dict.fromkeys(MANAGED_NODES, False)
    assert AUTOSTART.name not in specs['rviz2'].parameters


def analyzers(group):
    """Yield (path, parameters) of every analyzer below an aggregator / AnalyzerGroup."""
    for key, value in group.items():
        if isinstance(value, dict):
            yield key, value
            yield from analyzers(value.get('analyzers', {}))


def test_diagnostics_aggregator_config_groups_each_node_of_each_line():
    text = (REPO_DIR / 'config' / 'diagnostics_aggregator.yaml').read_text(encoding='utf-8')
    top = yaml.safe_load(text)['analyzers']['ros__parameters']
    keys = launch_distributions.DIAGNOSTIC_AGGREGATOR_KEYS
    assert {k for k, v in top.items() if not isinstance(v, dict)} <= keys['aggregator']
    generic = []
    for name, analyzer in analyzers(top):
        assert set(analyzer) <= keys[analyzer['type']], name
        assert isinstance(analyzer['path'], str), name
        for key in ('contains', 'startswith', 'find_and_remove_prefix'):
            assert all(isinstance(s, str) for s in analyzer.get(key, [])), name
        assert isinstance(analyzer.get('timeout', 0.0), float), name     # as_double()
        if analyzer['type'].endswith('GenericAnalyzer'):
            generic.append(analyzer)
    # GenericAnalyzer::match: a substring of `contains` or a prefix of `startswith`.
    for namespace in ('', '/line1', '/line7/cell2'):
        for status in DIAGNOSTICS:
            name = f'{namespace}/{status}'
            matched = [a['path'] for a in generic
                       if any(s in name for s in a.get('contains', []))
                       or any(name.startswith(s) for s in a.get('startswith', []))]
            assert len(matched) == 1, (name, matched)
    assert 'diagnostics_aggregator.yaml' in (REPO_DIR / 'README.md').read_text(encoding='utf-8')


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
    rejects, parts, statuses = [], [], set()
    probe.create_subscription(RejectEvent, '/line7/reject', rejects.append, 100)
    probe.create_subscription(PartTrigger, '/line7/part', parts.append, 100)
    probe.create_subscription(DiagnosticArray, '/diagnostics',
                              lambda msg: statuses.update(s.name for s in msg.status), 100)
    diagnostics = {f'/line7/{name}' for name in DIAGNOSTICS}
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
        while time.monotonic() < end and not (
                rejects and diagnostics <= statuses and wanted <= set(topics) and all(
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
    assert diagnostics <= statuses, (statuses, log)
    assert topics.get('/line7/camera/image_raw') == ['sensor_msgs/msg/Image'], (topics, log)
    assert topics['/line7/inspection'] == ['acnn_ros/msg/InspectionResult']
    assert topics['/line7/part'] == ['acnn_ros/msg/PartTrigger']
    assert topics['/line7/reject'] == ['acnn_ros/msg/RejectEvent']
    assert graph['/line7/camera/image_raw'][0] == {'camera_node'}
    assert 'inference_node' in graph['/line7/camera/image_raw'][1]
    assert graph['/line7/inspection'] == ({'inference_node'}, {'reject_actuator_node'})
    assert graph['/line7/part'] == ({'camera_node'}, {'reject_actuator_node'})
    assert graph['/line7/reject'][0] == {'reject_actuator_node'}
    codes = {s.name: p.returncode for s, p in zip(specs, processes)}
    assert all(code == 0 for code in codes.values()), (codes, log)   # clean shutdown on SIGINT
    # The event is for a part the camera announced, with the camera's header.
    by_id = {p.part_id: p for p in parts}
    event = rejects[0]
    assert event.part_id >= 1 and event.header.frame_id == 'camera_optical_frame'
    if event.part_id in by_id:
        assert by_id[event.part_id].header == event.header
