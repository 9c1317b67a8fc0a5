# SPDX-License-Identifier: Apache-2.0
"""
config/inspect.yaml against the config dataclasses: one source for every default.

Each node's config dataclass is where its defaults are written (its parameter specs take them
from it); the shipped YAML, what lines run, must set every declared parameter to exactly that
default, and the confidence threshold has one owner, the reject policy, read by both nodes.
"""
import argparse

from acnn_ros.core.camera.config import CameraConfig, PARAMETERS as CAMERA_PARAMETERS
from acnn_ros.core.hmi.config import HmiConfig, PARAMETERS as HMI_PARAMETERS
from acnn_ros.core.overlay import draw_overlay, GREEN, ORANGE
from acnn_ros.core.params_file import load_params_file, node_parameters
from acnn_ros.core.plc.modbus.config import ModbusConfig
from acnn_ros.core.reject.config import (PARAMETERS as REJECT_PARAMETERS, policy_from_values,
                                         RejectActuatorConfig)
from acnn_ros.core.reject.decision import decide, RejectPolicy, RejectReason
from acnn_ros.core.replay.player import BagPlayerConfig, PLAYER_PARAMETERS
from acnn_ros.core.replay.recorder_config import RECORDER_PARAMETERS, ResultRecorderConfig
from acnn_ros.core.results import InspectionOutcome, InspectionStatus, RoiBox
from acnn_ros.core.vision_system.config import (PARAMETERS as VISION_SYSTEM_PARAMETERS,
                                                VisionSystemConfig)
from acnn_ros.nodes.managed_node import AUTOSTART
from acnn_ros.offline.eval_cli import add_policy_arguments, policy_from_args
from acnn_ros.runtime.inference_config import InferenceConfig, PARAMETER_SPECS
from launch_file_reader import LaunchFileReader
import numpy as np
import pytest
import rclpy
from ros_processes import REPO_DIR

PARAMS_FILE = REPO_DIR / 'config' / 'inspect.yaml'
SHARED_SECTION = '/**'
# The managed (lifecycle) nodes also declare ManagedNode's `autostart`.
NODE_SPECS = {'camera_node': CAMERA_PARAMETERS + (AUTOSTART,),
              'inference_node': PARAMETER_SPECS + (AUTOSTART,),
              'reject_actuator_node': REJECT_PARAMETERS + (AUTOSTART,),
              'bag_player_node': PLAYER_PARAMETERS, 'result_recorder_node': RECORDER_PARAMETERS,
              'hmi_node': HMI_PARAMETERS + (AUTOSTART,),
              'vision_system_node': VISION_SYSTEM_PARAMETERS + (AUTOSTART,)}
# The only values that differ from their default. The reject policy's defaults name no class
# (every class passes unless rejected by name) so that any model works; the file's lists are
# the example batch for the shipped demo model (p37xx codes pass, p1069/p1071 are rejected),
# which `acnn demo` and the launch file run. A default naming the demo model's classes would
# reject every class of any other model as UNKNOWN_CLASS.
NOT_DEFAULT = {('reject_actuator_node', 'accept_classes'): ['p3707', 'p3709'],
               ('reject_actuator_node', 'reject_classes'): ['p1069', 'p1071']}


def sections():
    return load_params_file(PARAMS_FILE)


def declared(node):
    return {spec.name: spec for spec in NODE_SPECS[node]}


def test_the_file_has_one_section_per_node_and_the_shared_section_last():
    # Last: `-p` overrides join the /** section, and a node section after it would beat them.
    assert list(sections()) == [f'/**/{node}' for node in NODE_SPECS] + [SHARED_SECTION]


@pytest.mark.parametrize('node', NODE_SPECS)
def test_every_parameter_of_the_node_is_set_to_its_dataclass_default(node):
    specs = declared(node)
    own = sections()[f'/**/{node}']
    assert set(own) <= set(specs), f'{node}: not parameters of the node: {set(own) - set(specs)}'
    values = {name: value for name, value in node_parameters(sections(), node).items()
              if name in specs}          # a /** entry the node does not declare is ignored
    assert set(values) == set(specs), f'{node}: missing {set(specs) - set(values)}'
    for name, spec in specs.items():
        value = values[name]
        expected = NOT_DEFAULT.get((node, name), spec.default)
        assert value == expected and type(value) is type(expected), \
            f'{node}.{name}: {value!r} in the file, default {spec.default!r}'
        assert spec.in_range(value) and (not spec.choices or value in spec.choices), \
            f'{node}.{name}={value!r} is outside the declared range or choices'


def test_the_configs_the_nodes_build_from_the_file_are_the_defaults():
    def values(node):     # what declare_parameters returns to the node (autostart: ManagedNode's)
        return {k: v for k, v in node_parameters(sections(), node).items()
                if k in declared(node) and k != AUTOSTART.name}
    assert CameraConfig(**values('camera_node')) == CameraConfig()
    assert InferenceConfig.from_values(values('inference_node')) == InferenceConfig()
    assert RejectActuatorConfig.from_values(values('reject_actuator_node')) == \
        RejectActuatorConfig(policy=RejectPolicy(accept_classes=('p3707', 'p3709'),
                                                 reject_classes=('p1069', 'p1071')))
    recorder = dict(values('result_recorder_node'))
    recorder['topics'] = tuple(t for t in recorder['topics'] if t)
    assert ResultRecorderConfig(**recorder) == ResultRecorderConfig()
    player = dict(values('bag_player_node'), bag_path='shift.bag')    # bag_path: given per run
    player['image_topics'] = tuple(t for t in player['image_topics'] if t)
    assert BagPlayerConfig(**player) == BagPlayerConfig(bag_path='shift.bag')
    assert HmiConfig.from_values(values('hmi_node')) == HmiConfig()
    vision = dict(values('vision_system_node'))
    vision.update({name: tuple(vision[name]) for name in ('line_nodes', 'recipes')})
    assert VisionSystemConfig(**vision) == VisionSystemConfig()


def test_shared_parameters_are_set_once_for_the_nodes_that_declare_them():
    shared = sections()[SHARED_SECTION]
    assert shared == {'min_confidence': RejectPolicy.min_confidence,
                      'min_confidence_per_class': [''], 'autostart': AUTOSTART.default}
    for name in shared:
        owners = [node for node in NODE_SPECS if name in declared(node)]
        assert len(owners) >= 2, f'{name} is declared by {owners} only: give it their section'
        for node in NODE_SPECS:
            assert name not in sections()[f'/**/{node}'], f'{name} set twice, also for {node}'


def test_one_confidence_threshold_owner():
    threshold = RejectPolicy().min_confidence
    assert InferenceConfig().min_confidence == threshold
    assert RejectActuatorConfig().policy.min_confidence == threshold
    assert declared('inference_node')['min_confidence'].default == threshold
    assert declared('reject_actuator_node')['min_confidence'].default == threshold
    assert policy_from_values({}).min_confidence == threshold


def outcome(confidence):
    return InspectionOutcome(InspectionStatus.OK, class_id=0, class_name='p3707',
                             confidence=confidence, roi=RoiBox(320.0, 240.0, 100.0, 80.0),
                             image_width=640, image_height=480)


def test_a_verdict_drawn_low_confidence_is_the_one_rejected_as_low_confidence():
    inference = InferenceConfig.from_values(node_parameters(sections(), 'inference_node'))
    policy = policy_from_values(node_parameters(sections(), 'reject_actuator_node'))
    assert inference.min_confidence == policy.min_confidence == 0.6
    for confidence in (0.3, 0.5, 0.55, 0.599, 0.6, 0.61, 0.9):
        canvas = draw_overlay(np.zeros((480, 640, 3), np.uint8), outcome(confidence), 10.0,
                              inference.min_confidence)
        box_colour = tuple(int(c) for c in canvas[240, 270])          # left edge of the ROI
        rejected = decide(outcome(confidence), policy)
        assert box_colour == (ORANGE if confidence < 0.6 else GREEN), confidence
        assert rejected.reject == (confidence < 0.6) and \
            (rejected.reason == RejectReason.LOW_CONFIDENCE) == (confidence < 0.6), confidence


def test_eval_bag_params_file_reads_the_shared_threshold(tmp_path):
    parser = argparse.ArgumentParser()
    add_policy_arguments(parser)
    policy = policy_from_args(parser.parse_args(['--params-file', str(PARAMS_FILE)]))
    assert policy == policy_from_values(node_parameters(sections(), 'reject_actuator_node'))
    assert policy.min_confidence == InferenceConfig().min_confidence
    assert policy.reject_classes == ('p1069', 'p1071')
    line = tmp_path / 'line.yaml'
    line.write_text('/**:\n  ros__parameters:\n    min_confidence: 0.8\n'
                    'reject_actuator_node:\n  ros__parameters:\n    reject_classes: [red]\n',
                    encoding='utf-8')
    policy = policy_from_args(parser.parse_args(['--params-file', str(line)]))
    assert (policy.min_confidence, policy.reject_classes) == (0.8, ('red',))
    line.write_text('/**/camera_node:\n  ros__parameters:\n    loop: true\n', encoding='utf-8')
    with pytest.raises(ValueError, match='no reject_actuator_node parameters'):
        policy_from_args(parser.parse_args(['--params-file', str(line)]))


def launched_parameters(node_name, namespace, overrides=()):
    """Return the parameters a node gets from `--params-file inspect.yaml` and `-p` rules."""
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        arguments = ['--ros-args', '--params-file', str(PARAMS_FILE)]
        for rule in overrides:
            arguments += ['-p', rule]
        node = rclpy.create_node(node_name, namespace=namespace, context=context,
                                 enable_rosout=False, use_global_arguments=False,
                                 cli_args=arguments,
                                 automatically_declare_parameters_from_overrides=True)
        try:
            return {p.name: p.value for p in node.get_parameters_by_prefix('').values()}
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


@pytest.mark.parametrize('namespace', ('/', '/line7'))   # ros2 run; ros2 launch namespace:=line7
def test_launched_nodes_both_get_the_threshold_and_the_command_line_still_wins(namespace):
    for node_name in ('inference_node', 'reject_actuator_node'):
        assert launched_parameters(node_name, namespace)['min_confidence'] == \
            RejectPolicy.min_confidence, node_name
    overridden = launched_parameters('reject_actuator_node', namespace,
                                     ('min_confidence:=0.8', 'plc_port:=1502'))
    assert (overridden['min_confidence'], overridden['plc_port']) == (0.8, 1502)


def test_launch_argument_defaults_are_the_node_defaults():
    # The launch arguments override the file's values: their defaults must be the same ones.
    arguments = {name: default for name, (default, _, _) in LaunchFileReader().arguments.items()}
    assert arguments['camera_source'] == CameraConfig.source
    assert arguments['model'] == InferenceConfig.model_path
    assert arguments['plc_host'] == ModbusConfig.host
    assert arguments['plc_port'] == str(ModbusConfig.port)


def test_rviz_config_shows_the_inference_overlay():
    # Relative: rviz2 runs in the line's namespace (test_launch.py checks the resolution).
    assert 'Value: inference_node/overlay' in (REPO_DIR / 'config' / 'inspect.rviz').read_text()
