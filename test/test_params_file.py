# SPDX-License-Identifier: Apache-2.0
"""
The one params-YAML reader (core/params_file.py) applies sections exactly as rclpy does.

Every case writes a real parameters file, starts a real rclpy node with `--params-file` and
compares what the node was given with `node_parameters`: the demo and `acnn eval-recording` then
read a file the way `ros2 run` and `ros2 launch` do.
"""
from acnn_ros.core.params_file import load_params_file, node_parameters
import pytest
import rclpy
from ros_processes import REPO_DIR
import yaml

SECTION_KEYS = ('/**', '**', '/**/cam', '**/cam', 'cam', '/cam', '/ns/cam', 'ns/cam', '/*/cam',
                '*/cam', '/ns/*', '/*', '*', '/**/ns/cam', '/ns/**', '/ns/**/cam', '/other/cam',
                '/ns/sub/cam', '/**/sub/cam', '/**/camera', '/**/cam_2', '/ns', '/ns/cam/x')
NAMESPACES = ('/', '/ns', '/ns/sub', '/other')


@pytest.fixture(scope='module')
def context():
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


def rclpy_parameters(context, files, name='cam', namespace='/'):
    """Return the parameters a real rclpy node gets from `files` (beyond its built-in ones)."""
    arguments = ['--ros-args']
    for path in files:
        arguments += ['--params-file', str(path)]

    def parameters(cli_args):
        node = rclpy.create_node(name, namespace=namespace, context=context, cli_args=cli_args,
                                 use_global_arguments=False, enable_rosout=False,
                                 automatically_declare_parameters_from_overrides=True)
        try:
            return {p.name: p.value for p in node.get_parameters_by_prefix('').values()}
        finally:
            node.destroy_node()
    built_in = parameters([])
    return {key: list(value) if isinstance(value, (list, tuple)) or hasattr(value, 'tolist')
            else value for key, value in parameters(arguments).items() if key not in built_in}


def write(tmp_path, data, name='params.yaml'):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding='utf-8')
    return path


@pytest.mark.parametrize('namespace', NAMESPACES)
def test_each_section_key_applies_to_the_nodes_rclpy_applies_it_to(context, tmp_path,
                                                                   namespace):
    for index, key in enumerate(SECTION_KEYS):
        path = write(tmp_path, {key: {'ros__parameters': {'x': index}}}, f'{index}.yaml')
        expected = rclpy_parameters(context, [path], namespace=namespace)
        assert node_parameters(load_params_file(path), 'cam', namespace) == expected, \
            f'section {key!r}, node cam in {namespace}'


def test_matching_sections_apply_in_file_order_like_rclpy(context, tmp_path):
    def section(**values):
        return {'ros__parameters': values}
    files = [
        {'/**': section(x='all', a=1), '/**/cam': section(x='any ns', b=2),
         'cam': section(x='plain')},
        {'cam': section(x='plain'), '/**/cam': section(x='any ns'), '/**': section(x='all')},
        {'/cam': section(x='exact', c=3), '/**': section(x='all'), 'cam': section(x='plain')},
        {'ns': {'cam': section(x='nested'), 'other': section(x='no')},
         '/ns/*': section(y='one token')},
        {'/**/cam': section(io={'port': 502, 'host': {'name': 'plc'}}, v=[1.5, 2.5],
                            s=['a', 'b'], flag=True)},
    ]
    for index, data in enumerate(files):
        path = write(tmp_path, data, f'{index}.yaml')
        for namespace in ('/', '/ns'):
            expected = rclpy_parameters(context, [path], namespace=namespace)
            assert node_parameters(load_params_file(path), 'cam', namespace) == expected, \
                (data, namespace)
    assert node_parameters(load_params_file(tmp_path / '4.yaml'), 'cam') == {
        'io.port': 502, 'io.host.name': 'plc', 'v': [1.5, 2.5], 's': ['a', 'b'], 'flag': True}


@pytest.mark.parametrize('node', ('camera_node', 'inference_node', 'reject_actuator_node',
                                  'bag_player_node', 'result_recorder_node'))
def test_the_shipped_file_gives_each_node_what_ros_gives_it(context, node):
    path = REPO_DIR / 'config' / 'inspect.yaml'
    sections = load_params_file(path)
    for namespace in ('/', '/line7'):       # ros2 run, and ros2 launch with namespace:=line7
        assert node_parameters(sections, node, namespace) == \
            rclpy_parameters(context, [path], node, namespace)
