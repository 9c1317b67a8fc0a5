# SPDX-License-Identifier: Apache-2.0
"""
Start the inspection line: a camera, inference_node, reject_actuator_node, optionally rviz2.

    ros2 launch acnn_ros inspect.launch.py camera_source:=/dev/video0 plc_host:=192.168.0.10
    ros2 launch acnn_ros inspect.launch.py camera:=external image_topic:=/camera/image_raw
    ros2 launch acnn_ros inspect.launch.py camera:=none image_topic:=/camera/image_raw

camera:=builtin starts camera_node; external expects a driver (usb_cam, v4l2_camera, a GigE
vendor driver) publishing on image_topic; none starts no camera (replay a bag onto
image_topic). Without camera_node there are no part triggers, so the reject actuator then
numbers parts in result order. Launch arguments override the same keys of params_file.

Every node here is equally startable without ros2 launch, e.g.
    ros2 run acnn_ros camera_node --ros-args --params-file config/inspect.yaml
        -p source:=/dev/video0 -r image:=/camera/image_raw
and `acnn demo` runs the three nodes in one process from the same YAML.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.conditions import IfCondition
from launch.substitutions import EqualsSubstitution, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'acnn_ros'

# (name, default, description, choices or None). Paths are relative to the package share.
ARGUMENTS = (
    ('camera', 'builtin', 'builtin: start camera_node | external: a driver started elsewhere '
     'publishes image_topic | none: no camera (bag replay onto image_topic)',
     ['builtin', 'external', 'none']),
    ('camera_source', '/dev/video0', 'camera_node source: V4L2 device, video file, image '
     'folder, GStreamer pipeline or "synthetic" (camera:=builtin only)', None),
    ('model', 'resource/models/acnn_demo.onnx', 'model file with its .json card; absolute or '
     'relative to the package share', None),
    ('params_file', None, 'YAML with the ros__parameters of every node', None),
    ('plc_host', '127.0.0.1', 'PLC address (Modbus TCP)', None),
    ('plc_port', '502', 'PLC Modbus TCP port', None),
    ('namespace', '', 'namespace of every node and topic (one line of several)', None),
    ('use_rviz', 'false', 'start rviz2 with config/inspect.rviz', ['true', 'false']),
    ('image_topic', 'image', 'image topic the camera publishes and inference_node reads',
     None),
)


def string_parameter(argument: str) -> ParameterValue:
    """Return a launch argument as a string parameter (launch_ros would read `0` as int)."""
    return ParameterValue(LaunchConfiguration(argument), value_type=str)


def generate_launch_description():
    """Return the launch description of the inspection line."""
    share = FindPackageShare(PACKAGE)
    defaults = {'params_file': PathJoinSubstitution([share, 'config', 'inspect.yaml'])}
    params = LaunchConfiguration('params_file')
    image_topic = LaunchConfiguration('image_topic')
    builtin_camera = EqualsSubstitution(LaunchConfiguration('camera'), 'builtin')
    declared = [DeclareLaunchArgument(name, default_value=defaults.get(name, default),
                                      description=description, choices=choices)
                for name, default, description, choices in ARGUMENTS]
    line = GroupAction([
        PushRosNamespace(LaunchConfiguration('namespace')),
        Node(package=PACKAGE, executable='camera_node', name='camera_node', output='screen',
             condition=IfCondition(builtin_camera),
             parameters=[params, {'source': string_parameter('camera_source')}],
             remappings=[('image', image_topic), ('part', 'part')]),
        Node(package=PACKAGE, executable='inference_node', name='inference_node',
             output='screen',
             parameters=[params, {'model_path': string_parameter('model')}],
             remappings=[('image', image_topic), ('inspection', 'inspection')]),
        Node(package=PACKAGE, executable='reject_actuator_node', name='reject_actuator_node',
             output='screen',
             parameters=[params, {'plc_host': string_parameter('plc_host'),
                                  'plc_port': LaunchConfiguration('plc_port'),
                                  'use_part_trigger': builtin_camera}],
             remappings=[('image', image_topic), ('inspection', 'inspection'),
                         ('part', 'part'), ('reject', 'reject')]),
        Node(package='rviz2', executable='rviz2', name='rviz2', output='screen',
             condition=IfCondition(LaunchConfiguration('use_rviz')),
             arguments=['-d', PathJoinSubstitution([share, 'config', 'inspect.rviz'])]),
    ])
    return LaunchDescription(declared + [line])
