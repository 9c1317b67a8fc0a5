# SPDX-License-Identifier: Apache-2.0
"""
The test tiers, by module (markers unit / ros / system / slow; conftest.py applies them).

- unit: no process, no DDS; `./scripts/test.sh --fast` runs `unit and not slow` (under a
  minute on 2 cores);
- ros: real rclpy / DDS, one node process or a simulator at a time (the default tier);
- system: the whole line or several node processes (launch, demo, soak, fault injection);
- slow: more than about 10 s for the module on 2 cores (training, soak, whole-line runs).
CI runs every tier. test_tiers.py checks that a unit module starts no process and uses no DDS.
"""

UNIT_MODULES = frozenset({
    'test_bag_replay_core', 'test_benchmarks_package', 'test_camera_source', 'test_cli_aliases',
    'test_checkpoint_safety', 'test_corruptions', 'test_dataset_cli', 'test_dataset_core',
    'test_eval_cli',
    'test_eval_metrics', 'test_fault_episodes', 'test_frame_intake', 'test_hmi_web',
    'test_image_codec',
    'test_label_selection', 'test_launch_line_forms', 'test_layers', 'test_message_conversion',
    'test_onboarding_label', 'test_onboarding_report', 'test_onboarding_train',
    'test_tutorial_commands',
    'test_model_acnn', 'test_model_dataset', 'test_model_demo', 'test_model_detector',
    'test_model_export', 'test_model_registry', 'test_model_training', 'test_model_transfer',
    'test_multiview',
    'test_pipeline',
    'test_plc_validity', 'test_rate_search', 'test_real_background', 'test_reject_archive',
    'test_part_batch', 'test_reject_config', 'test_reject_fusion', 'test_reject_views_message',
    'test_reject_pending', 'test_reject_phantom_parts', 'test_reject_scheduler',
    'test_reject_scheduler_plc_tracking', 'test_seed_format', 'test_shift_store',
    'test_staged_worker',
    'test_start_gate_rate', 'test_synthetic', 'test_thresholds', 'test_tiers',
    'test_train_cli_validation',
    'test_vision_recipes', 'test_vision_state_machine', 'test_vision_system_security',
    'test_vision_system_server',
})
SYSTEM_MODULES = frozenset({
    'test_camera_start_ordering', 'test_clean_shutdown', 'test_demo', 'test_hmi_demo',
    'test_launch',
    'test_line_faults', 'test_one_process_line', 'test_plc_tracking_line',
    'test_replay_integration', 'test_soak_short', 'test_startup_no_drops',
    'test_tutorial_end_to_end',
    'test_station_line', 'test_vision_system_demo', 'test_vision_system_node',
})
SLOW_MODULES = frozenset({
    'test_demo', 'test_hmi_demo', 'test_hmi_node', 'test_hmi_page', 'test_launch',
    'test_line_faults',
    'test_inference_station', 'test_line_cli', 'test_line_qos', 'test_model_training',
    'test_model_transfer', 'test_other_renderer',
    'test_station_bag', 'test_station_cameras', 'test_station_fusion', 'test_station_line',
    'test_soak_short', 'test_startup_no_drops', 'test_train_cli_validation',
    'test_tutorial_end_to_end',
    'test_vision_system_demo', 'test_vision_system_node', 'test_vision_system_node_opcua',
    'test_vision_system_security',
})


def tier_of(module: str) -> str:
    """Return the tier of test module `module` (ros unless listed as unit or system)."""
    if module in UNIT_MODULES:
        return 'unit'
    return 'system' if module in SYSTEM_MODULES else 'ros'
