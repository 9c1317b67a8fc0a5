# SPDX-License-Identifier: Apache-2.0
"""
Fault injection on the real processes (issue 19): the PLC record and the log lines.

Each test runs one scenario of acnn_ros/app/fault_scenarios.py: reject_actuator_node (and
inference_node where the fault needs it) as real processes with config/inspect.yaml, a Modbus
PLC simulator in a process of its own applying the PLC contract, and an observer node of this
process. `python -m benchmarks.fault_injection_benchmark` runs the same scenarios into
docs/BENCHMARKS.md.
"""
from acnn_ros.app.fault_scenarios import SCENARIOS
import pytest

pytestmark = pytest.mark.timeout(240)


@pytest.mark.parametrize('name', sorted(SCENARIOS))
def test_fault_scenario(name):
    result = SCENARIOS[name]()
    print(name, result.numbers)
    assert result.passed, result.failures()
    assert all(code == 0 for code in result.numbers['exit'].values()), result.numbers
