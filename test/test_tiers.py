# SPDX-License-Identifier: Apache-2.0
"""
The test tiers (pytest markers unit / ros / system / slow): each module in exactly one tier.

test/tiers.py lists them; conftest.py marks every collected test. `./scripts/test.sh --fast`
runs `-m "unit and not slow"`. A unit module may start no process and use no DDS: checked here
on its source, so a module that grows a ROS test must move to another tier.
"""
from pathlib import Path
import re

from tiers import SLOW_MODULES, SYSTEM_MODULES, tier_of, UNIT_MODULES

TEST_DIR = Path(__file__).resolve().parent
# What a unit test module must not use: DDS, processes, the test helpers that start nodes.
NOT_UNIT = re.compile(r'\b(rclpy\.init|create_node|subprocess|Popen|NodeProcess|RosClient|'
                      r'multiprocessing|FaultRig|inference_node_client|ros_client|'
                      r'ros_processes|test_camera_node|PlcSimulator|OpcUaSimulator)\b')


def test_every_listed_module_exists_and_the_tiers_do_not_overlap():
    modules = {path.stem for path in TEST_DIR.glob('test_*.py')}
    listed = UNIT_MODULES | SYSTEM_MODULES | SLOW_MODULES
    assert listed <= modules, sorted(listed - modules)
    assert not UNIT_MODULES & SYSTEM_MODULES
    assert {tier_of(name) for name in modules} <= {'unit', 'ros', 'system'}


def test_unit_modules_start_no_process_and_use_no_dds():
    offenders = {}
    for name in sorted(UNIT_MODULES - {'test_tiers'}):   # this file names them all
        found = NOT_UNIT.findall((TEST_DIR / f'{name}.py').read_text(encoding='utf-8'))
        if found:
            offenders[name] = sorted(set(found))
    assert not offenders, f'not unit tests (move them to the ros or system tier): {offenders}'
