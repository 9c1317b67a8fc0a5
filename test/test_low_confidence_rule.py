# SPDX-License-Identifier: Apache-2.0
"""
Issue 20: what inference_node draws and counts low-confidence is what the actuator rejects.

Both apply core/reject/decision.is_low_confidence with the reject policy's thresholds,
`min_confidence_per_class` included: the same parameter name, spec and YAML value in both nodes.
"""
import itertools

from acnn_ros.core.messages import frame_key
from acnn_ros.core.overlay import draw_overlay, GREEN, ORANGE
from acnn_ros.core.params_file import load_params_file, node_parameters
from acnn_ros.core.reject.config import PARAMETERS as REJECT_PARAMETERS, policy_from_values
from acnn_ros.core.reject.decision import decide, is_low_confidence, RejectReason
from acnn_ros.core.results import InspectionOutcome, InspectionStatus, RoiBox
from acnn_ros.msg import InspectionResult
from acnn_ros.runtime.inference_config import ConfigError, InferenceConfig, PARAMETER_SPECS
from contract_model import blob_frame, export_contract_model
from inference_node_client import InferenceClient, start_inference_node
import numpy as np
import pytest
from ros_processes import REPO_DIR

PER_CLASS = ['p3707=0.9', 'p1069=0.3']
VALUES = {'min_confidence': 0.6, 'min_confidence_per_class': PER_CLASS}


def outcome(class_name, confidence, status=InspectionStatus.OK):
    return InspectionOutcome(status, class_id=0, class_name=class_name, confidence=confidence,
                             roi=RoiBox(320.0, 240.0, 100.0, 80.0), image_width=640,
                             image_height=480)


def test_inference_node_marks_low_confidence_with_the_per_class_thresholds():
    config = InferenceConfig.from_values(VALUES)
    # 0.8 passes the global 0.6 but not p3707's 0.9: the actuator rejects it LOW_CONFIDENCE.
    assert decide(outcome('p3707', 0.8), policy_from_values(VALUES)).reason == \
        RejectReason.LOW_CONFIDENCE
    assert config.is_low_confidence(outcome('p3707', 0.8))
    # 0.4 is below the global 0.6 but above p1069's 0.3.
    assert not config.is_low_confidence(outcome('p1069', 0.4))


def test_drawn_and_counted_low_confidence_is_exactly_the_actuators_rule():
    config = InferenceConfig.from_values(VALUES)
    policy = policy_from_values(VALUES)
    assert config.low_confidence_policy == policy
    for name, confidence in itertools.product(('p3707', 'p1069', 'p3709'),
                                              (0.0, 0.29, 0.3, 0.5, 0.6, 0.8, 0.9, 1.0)):
        verdict = outcome(name, confidence)
        low = config.is_low_confidence(verdict)
        assert low == is_low_confidence(verdict, policy)
        assert low == (decide(verdict, policy).reason == RejectReason.LOW_CONFIDENCE)
        canvas = draw_overlay(np.zeros((480, 640, 3), np.uint8), verdict, 10.0,
                              low_confidence=low)
        assert tuple(int(c) for c in canvas[240, 270]) == (ORANGE if low else GREEN)
    for status in (InspectionStatus.ERROR, InspectionStatus.DROPPED):
        assert not config.is_low_confidence(outcome('p3707', 0.1, status))


def test_the_per_class_parameter_is_the_actuators_and_bad_entries_are_refused():
    ours = {spec.name: spec for spec in PARAMETER_SPECS}['min_confidence_per_class']
    theirs = {spec.name: spec for spec in REJECT_PARAMETERS}['min_confidence_per_class']
    assert (ours.default, ours.runtime) == (theirs.default, theirs.runtime) == ([''], True)
    assert InferenceConfig().low_confidence_policy == policy_from_values({})
    with pytest.raises(ConfigError, match="entry 'p3707' is not 'name=value'"):
        InferenceConfig.from_values({'min_confidence_per_class': ['p3707']})
    with pytest.raises(ConfigError, match=r'min_confidence_per_class\[p3707\] must be in'):
        InferenceConfig.from_values({'min_confidence_per_class': ['p3707=1.5']})


def test_the_shipped_yaml_gives_both_nodes_the_same_thresholds():
    sections = load_params_file(REPO_DIR / 'config' / 'inspect.yaml')
    inference = InferenceConfig.from_values(node_parameters(sections, 'inference_node'))
    actuator = policy_from_values(node_parameters(sections, 'reject_actuator_node'))
    assert inference.low_confidence_policy.min_confidence == actuator.min_confidence
    assert inference.low_confidence_policy.min_confidence_per_class == \
        actuator.min_confidence_per_class


@pytest.mark.timeout(90)
def test_the_node_draws_a_verdict_below_its_class_threshold_orange(tmp_path_factory):
    model = export_contract_model(tmp_path_factory.mktemp('low_confidence_model'))
    # The contract model is ~0.9999 sure of a red blob: over min_confidence 0.6, under red's.
    node = start_inference_node({'model_path': str(model), 'image_qos': 'reliable',
                                 'warmup_runs': '1', 'diagnostics_period_s': '0.5',
                                 'min_confidence_per_class': "['red=0.99999999']"})
    try:
        assert node.wait_for_log('inspecting raw images'), node.output
        client = InferenceClient(name='low_confidence_client', model_prefix='contract@')
        try:
            assert client.wait_connected(), node.output
            client.subscribe_overlay(True)
            assert client.spin_until(
                lambda: client.node.count_subscribers(client.overlay_topic) > 0)
            client.spin_for(0.5)
            since = len(client.diagnostics)
            key = client.publish_bgr(blob_frame(640, 480, 320, 240, 'red', radius=10))
            result = client.result_for(key)
            assert result is not None and result.status == InspectionResult.STATUS_OK
            assert result.class_name == 'red' and 0.6 < result.confidence < 0.99999999
            assert client.spin_until(lambda: any(frame_key(o.header) == key
                                                 for o in client.overlays))
            [overlay] = [o for o in client.overlays if frame_key(o.header) == key]
            pixels = np.frombuffer(bytes(overlay.data), np.uint8).reshape(480, 640, 3)
            x, y, h = result.roi.x_offset, result.roi.y_offset, result.roi.height
            assert tuple(int(c) for c in pixels[y + h // 2, x]) == ORANGE

            def low(status):
                return int({v.key: v.value for v in status.values}['low_confidence'])
            status = client.latest_status(after=since, until=lambda s: low(s) >= 1)
            assert status is not None and low(status) >= 1, status
        finally:
            client.close()
    finally:
        assert node.interrupt(timeout_s=10.0) == 0, node.output
