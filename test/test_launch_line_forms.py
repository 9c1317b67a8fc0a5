# SPDX-License-Identifier: Apache-2.0
"""
launch/inspect.launch.py's `line` argument: the multi-process graph or the one-process line.

Read by AST like test_launch.py (no launch wheels here): `line:=processes` starts the three
managed nodes, `one_process` the `inspection_line` executable alone, `two_processes` it with
`--no-actuator` beside reject_actuator_node; the one-process form gets the same YAML, launch
arguments and remaps (test_one_process_line.py runs the executable itself).
"""
import ast

from acnn_ros.nodes.managed_node import AUTOSTART
from launch_file_reader import (cmake_executables, LaunchFileReader, node_module, PARAMS_FILE,
                                resolve, rviz_topics, yaml_sections)

ONE_PROCESS = 'inspection_line'
MANAGED_NODES = ('camera_node', 'inference_node', 'reject_actuator_node')
DATA_FLOW_TOPICS = {'image', 'image/compressed', 'camera_info', 'inspection', 'part', 'reject'}


def test_line_argument_selects_the_form():
    reader = LaunchFileReader()
    assert reader.arguments['line'][0] == 'processes'
    assert reader.arguments['line'][2] == ['processes', 'one_process', 'two_processes']
    for camera in ('builtin', 'external', 'none'):
        specs = {s.executable: s for s in reader.nodes({'camera': camera})}
        assert not specs[ONE_PROCESS].enabled
        specs = {s.executable: s for s in reader.nodes({'camera': camera,
                                                        'line': 'one_process'})}
        assert [name for name, s in specs.items() if s.enabled] == [ONE_PROCESS], camera
        assert specs[ONE_PROCESS].arguments == ['--actuator', '--cameras', '1']
        # two_processes: the actuator in its own process joins the in-process camera's parts.
        specs = {s.executable: s for s in reader.nodes({'camera': camera,
                                                        'line': 'two_processes'})}
        assert [name for name, s in specs.items() if s.enabled] == [
            'reject_actuator_node', ONE_PROCESS], camera
        assert specs[ONE_PROCESS].arguments == ['--no-actuator', '--cameras', '1']
        assert specs['reject_actuator_node'].parameters['use_part_trigger'] is True
    # cameras:=3: the station of built-in cameras runs in inspection_line, the actuator beside
    # it unless line:=one_process.
    for line_form, enabled, actuator in (
            ('processes', ['reject_actuator_node', ONE_PROCESS], '--no-actuator'),
            ('two_processes', ['reject_actuator_node', ONE_PROCESS], '--no-actuator'),
            ('one_process', [ONE_PROCESS], '--actuator')):
        specs = {s.executable: s for s in reader.nodes({'cameras': '3', 'line': line_form})}
        assert [name for name, s in specs.items() if s.enabled] == enabled, line_form
        assert specs[ONE_PROCESS].arguments == [actuator, '--cameras', '3']
        assert specs['reject_actuator_node'].parameters['use_part_trigger'] is True
    specs = {s.executable: s for s in reader.nodes({
        'line': 'one_process', 'namespace': 'line2', 'image_topic': '/cam/image_raw',
        'camera_source': '0', 'plc_port': '5020', 'use_rviz': 'true'})}
    line, rviz = specs[ONE_PROCESS], specs['rviz2']
    assert line.package == 'acnn_ros' and ONE_PROCESS in cmake_executables()
    assert line.name is None and not line.lifecycle     # one process names three nodes
    tree = ast.parse(node_module(ONE_PROCESS).read_text(encoding='utf-8'))
    assert any(isinstance(n, ast.FunctionDef) and n.name == 'main' for n in tree.body)
    # The same YAML and launch arguments as the three processes, for the nodes declaring them.
    sections = yaml_sections()
    known = set().union(*(sections[name] for name in MANAGED_NODES), sections.get('**', {}),
                        {AUTOSTART.name, 'use_sim_time'})
    assert line.parameter_files == [str(PARAMS_FILE)]
    assert set(line.parameters) <= known, set(line.parameters) - known
    assert (line.parameters['source'], line.parameters['plc_port']) == ('0', 5020)
    assert line.parameters['use_part_trigger'] is True
    remaps = dict(line.remappings)
    assert set(remaps) <= DATA_FLOW_TOPICS
    assert (remaps['image'], remaps['camera_info']) == ('/cam/image_raw', '/cam/camera_info')
    assert rviz.enabled and line.namespace == rviz.namespace == 'line2'
    assert resolve(rviz.namespace, rviz_topics()['Camera image'], rviz.remappings) == \
        resolve(line.namespace, 'image', line.remappings)


def test_a_station_shows_each_cameras_overlay_in_rviz():
    reader = LaunchFileReader()
    single = {s.executable: s for s in reader.nodes({'use_rviz': 'true'})}['rviz2']
    assert single.arguments[1].endswith('inspect.rviz')
    rviz = {s.executable: s for s in reader.nodes({'use_rviz': 'true', 'cameras': '3',
                                                   'namespace': 'line2'})}['rviz2']
    assert rviz.arguments[1].endswith('station.rviz') and rviz.enabled
    topics = rviz_topics('station.rviz')
    # inference_node publishes each camera's overlay on ~/overlay/<its image topic>.
    for index in range(3):
        assert resolve(rviz.namespace, topics[f'Overlay cam{index}'], rviz.remappings) == \
            f'/line2/inference_node/overlay/cam{index}/image'
