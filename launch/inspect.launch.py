# SPDX-License-Identifier: Apache-2.0
"""
Start the inspection line: a camera, inference_node, reject_actuator_node, optionally rviz2.

    ros2 launch acnn_ros inspect.launch.py camera_source:=/dev/video0 plc_host:=192.168.0.10
    ros2 launch acnn_ros inspect.launch.py camera:=external image_topic:=/camera/image_raw
    ros2 launch acnn_ros inspect.launch.py camera:=none image_topic:=/camera/image_raw

line:=processes (default) starts each node in its own process; line:=one_process starts the
`inspection_line` executable instead: the three nodes in one process, frames passed from camera
to inference in memory (no serialization), `image` published only while subscribed, `part` and
`inspection` still topics - the same YAML, the same results (docs/ARCHITECTURE.md);
line:=two_processes runs camera + inference that way and reject_actuator_node in a process of
its own (no GIL contention on the firing path). The camera argument and respawn_camera apply to
line:=processes (the one-process forms have the built-in camera).

cameras:=N (2..4) is a station of N built-in cameras on every part (issue 21): inspection_line
--cameras N runs them with inference_node (one engine call per part) and, unless
line:=one_process, reject_actuator_node in a process of its own fuses each part's views:

    ros2 launch acnn_ros inspect.launch.py cameras:=3 camera_source:=synthetic

A station of external drivers keeps camera:=external and lists its topics and frame_ids in
the YAML (inference_node image_topics, reject_actuator_node cameras; docs/CAMERA.md).

camera:=builtin starts camera_node; external expects a driver (usb_cam, v4l2_camera, a GigE
vendor driver) publishing on image_topic; none starts no camera (replay a bag onto
image_topic). Without camera_node there are no part triggers, so the reject actuator then
numbers parts in result order. Launch arguments override the same keys of params_file.

The three nodes are managed (lifecycle) nodes started with `autostart` (default true): each
configures and activates itself, so `ros2 lifecycle get /inference_node` says active without a
lifecycle manager; with autostart:=false they wait unconfigured for `ros2 lifecycle set` or a
manager. camera_info is remapped beside image_topic (image_transport's convention:
/camera/image_raw -> /camera/camera_info). rviz2 runs in the line's namespace with the same
remap, so config/inspect.rviz (relative topics) follows `namespace` and `image_topic`.

Only names present in launch / launch_ros of Humble, Jazzy and Kilted are used (no
EqualsSubstitution: Humble lacks it; no LaunchConfigurationEquals: deprecated on Jazzy and Kilted);
test/launch_distributions.py lists them per distribution; test_launch.py checks this file.

Every node here is equally startable without ros2 launch, e.g.
    ros2 run acnn_ros camera_node --ros-args --params-file config/inspect.yaml
        -p source:=/dev/video0 -r image:=/camera/image_raw -r camera_info:=/camera/camera_info
and `acnn demo` runs the three nodes in one process from the same YAML.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import LifecycleNode, Node, PushRosNamespace
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'acnn_ros'
# Seconds before a respawned camera_node starts again (respawn_camera:=true). A constant: the
# respawn_delay of ExecuteProcess is a float, not a substitution, on Humble, Jazzy and Kilted.
CAMERA_RESPAWN_DELAY_S = 2.0

# (name, default, description, choices or None). Paths are relative to the package share.
ARGUMENTS = (
    ('line', 'processes', 'processes: each node in its own process | one_process: camera, '
     'inference and reject actuator in one process (inspection_line), frames passed in '
     'memory | two_processes: camera + inference in one, the reject actuator in its own',
     ['processes', 'one_process', 'two_processes']),
    ('camera', 'builtin', 'builtin: start camera_node | external: a driver started elsewhere '
     'publishes image_topic | none: no camera (bag replay onto image_topic)',
     ['builtin', 'external', 'none']),
    ('cameras', '1', 'built-in cameras on every part: > 1 is a station (one trigger, the '
     'views of each part batched and fused into one decision) run by inspection_line, with '
     'the reject actuator in its own process unless line:=one_process; an external station is '
     'set in the YAML (inference_node image_topics, reject_actuator_node cameras)',
     ['1', '2', '3', '4']),
    ('camera_source', '/dev/video0', 'camera_node source: V4L2 device, video file, image '
     'folder, GStreamer pipeline or "synthetic" (camera:=builtin only)', None),
    ('model', 'resource/models/acnn_demo.onnx', 'model file with its .json card; absolute or '
     'relative to the package share', None),
    ('params_file', None, 'YAML with the ros__parameters of every node', None),
    ('plc_host', '127.0.0.1', 'PLC address (Modbus TCP)', None),
    ('plc_port', '502', 'PLC Modbus TCP port', None),
    ('namespace', '', 'namespace of every node and topic (one line of several)', None),
    ('use_rviz', 'false', 'start rviz2 with config/inspect.rviz', ['true', 'false']),
    ('image_topic', 'image', 'image topic the camera publishes and inference_node reads; '
     'camera_info is remapped beside it', None),
    ('autostart', 'true', 'the managed nodes configure and activate themselves (false: they '
     'wait unconfigured for a lifecycle manager or `ros2 lifecycle set`)', ['true', 'false']),
    ('respawn_camera', 'false', 'restart camera_node when its process dies (after '
     '2 s, CAMERA_RESPAWN_DELAY_S)', ['true', 'false']),
    ('log_level', 'info', 'log level of every node (--ros-args --log-level)',
     ['debug', 'info', 'warn', 'error', 'fatal']),
    ('use_sim_time', 'false', 'every node takes its time from /clock (bag replay with '
     '--clock)', ['true', 'false']),
    ('hmi', 'false', "start hmi_node, the operator's page and shift database (its section of "
     'params_file: bind_address, port, token, database, archive_dir)', ['true', 'false']),
)


def string_parameter(argument: str) -> ParameterValue:
    """Return a launch argument as a string parameter (launch_ros would read `0` as int)."""
    return ParameterValue(LaunchConfiguration(argument), value_type=str)


def bool_parameter(value) -> ParameterValue:
    """Return a substitution ('true' / 'True' / 'false' ...) as a bool parameter."""
    return ParameterValue(value, value_type=bool)


def generate_launch_description():
    """Return the launch description of the inspection line."""
    share = FindPackageShare(PACKAGE)
    defaults = {'params_file': PathJoinSubstitution([share, 'config', 'inspect.yaml'])}
    params = LaunchConfiguration('params_file')
    image_topic = LaunchConfiguration('image_topic')
    # image_transport's convention: camera_info in the image topic's namespace.
    camera_info_topic = PythonExpression(
        ["'/'.join('", image_topic, "'.split('/')[:-1] + ['camera_info'])"])
    line_form = LaunchConfiguration('line')
    cameras = LaunchConfiguration('cameras')
    # A station of built-in cameras (cameras > 1) always runs in inspection_line.
    processes = PythonExpression(["'", line_form, "' == 'processes' and '", cameras, "' == '1'"])
    composed = PythonExpression(["'", line_form, "' != 'processes' or '", cameras, "' != '1'"])
    actuator_process = PythonExpression(["'", line_form, "' != 'one_process'"])
    camera_process = PythonExpression(["'", LaunchConfiguration('camera'), "' == 'builtin' and '",
                                       line_form, "' == 'processes' and '", cameras, "' == '1'"])
    # Part triggers come from camera_node: in its own process, or in inspection_line.
    part_triggers = PythonExpression(["'", LaunchConfiguration('camera'), "' == 'builtin' or '",
                                      line_form, "' != 'processes' or '", cameras, "' != '1'"])
    in_process_actuator = PythonExpression(
        ["'--actuator' if '", line_form, "' == 'one_process' else '--no-actuator'"])
    common = {'autostart': bool_parameter(LaunchConfiguration('autostart')),
              'use_sim_time': bool_parameter(LaunchConfiguration('use_sim_time'))}
    log_level = ['--log-level', LaunchConfiguration('log_level')]
    declared = [DeclareLaunchArgument(name, default_value=defaults.get(name, default),
                                      description=description, choices=choices)
                for name, default, description, choices in ARGUMENTS]
    line = GroupAction([
        PushRosNamespace(LaunchConfiguration('namespace')),
        LifecycleNode(package=PACKAGE, executable='camera_node', name='camera_node',
                      namespace='', output='screen', condition=IfCondition(camera_process),
                      respawn=LaunchConfiguration('respawn_camera'),
                      respawn_delay=CAMERA_RESPAWN_DELAY_S, ros_arguments=log_level,
                      parameters=[params, common,
                                  {'source': string_parameter('camera_source')}],
                      remappings=[('image', image_topic), ('camera_info', camera_info_topic),
                                  ('part', 'part')]),
        LifecycleNode(package=PACKAGE, executable='inference_node', name='inference_node',
                      namespace='', output='screen', condition=IfCondition(processes),
                      ros_arguments=log_level,
                      parameters=[params, common, {'model_path': string_parameter('model')}],
                      remappings=[('image', image_topic),
                                  ('image/compressed', [image_topic, '/compressed']),
                                  ('inspection', 'inspection')]),
        LifecycleNode(package=PACKAGE, executable='reject_actuator_node',
                      name='reject_actuator_node', namespace='', output='screen',
                      condition=IfCondition(actuator_process), ros_arguments=log_level,
                      parameters=[params, common,
                                  {'plc_host': string_parameter('plc_host'),
                                   'plc_port': LaunchConfiguration('plc_port'),
                                   'use_part_trigger': bool_parameter(part_triggers),
                                   # A process of its own: its executor thread may run
                                   # real-time too (docs/LINE_INTEGRATION.md).
                                   'realtime_executor': True}],
                      remappings=[('image', image_topic), ('inspection', 'inspection'),
                                  ('part', 'part'), ('reject', 'reject')]),
        # line:=one_process | two_processes: the nodes in one process (no name: it names
        # several nodes; the parameters below reach each node that declares them).
        Node(package=PACKAGE, executable='inspection_line', namespace='', output='screen',
             condition=IfCondition(composed),
             arguments=[in_process_actuator, '--cameras', cameras],
             ros_arguments=log_level,
             parameters=[params, common, {'source': string_parameter('camera_source'),
                                          'model_path': string_parameter('model'),
                                          'plc_host': string_parameter('plc_host'),
                                          'plc_port': LaunchConfiguration('plc_port'),
                                          'use_part_trigger': True}],
             remappings=[('image', image_topic), ('camera_info', camera_info_topic),
                         ('part', 'part'), ('inspection', 'inspection'), ('reject', 'reject')]),
        # In the line's namespace, with the image remap: the rviz file's relative topics
        # (image, inference_node/overlay) resolve to this line's topics; a station's file
        # shows each camera's overlay (inference_node/overlay/cam<i>/image).
        Node(package='rviz2', executable='rviz2', name='rviz2', output='screen',
             condition=IfCondition(LaunchConfiguration('use_rviz')), ros_arguments=log_level,
             parameters=[{'use_sim_time': bool_parameter(LaunchConfiguration('use_sim_time'))}],
             arguments=['-d', PathJoinSubstitution([share, 'config', PythonExpression(
                 ["'inspect.rviz' if '", cameras, "' == '1' else 'station.rviz'"])])],
             remappings=[('image', image_topic)]),
        # The operator's page (docs/HMI.md): a process of its own, in the line's namespace.
        LifecycleNode(package=PACKAGE, executable='hmi_node', name='hmi_node', namespace='',
                      output='screen', condition=IfCondition(LaunchConfiguration('hmi')),
                      ros_arguments=log_level, parameters=[params, common],
                      remappings=[('inspection', 'inspection'), ('reject', 'reject')]),
    ])
    return LaunchDescription(declared + [line])
