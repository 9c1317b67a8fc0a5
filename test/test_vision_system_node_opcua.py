# SPDX-License-Identifier: Apache-2.0
"""
The vision system server driven by node-opcua-client, an independent OPC UA implementation.

test/clients/node_opcua/vision_walk.js (npm node-opcua-client, installed by scripts/setup.sh)
browses the VisionSystem object, walks Preoperational -> Operational/Initialized -> Ready ->
ContinuousExecution -> Ready, prepares a second recipe, halts and resets; this test feeds the
server a run of parts and checks that the client got one ResultReadyEvent per part with
continuous ids, every transition event, and the answers of every method.
"""
import json

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.vision_system.address_space import NOT_IMPLEMENTED
from acnn_ros.core.vision_system.results import PartDecision
import pytest
from ros_processes import CLIENTS_DIR, NodeProcess
from vision_system_support import start_server

pytestmark = pytest.mark.timeout(180)
SCRIPT = CLIENTS_DIR / 'node_opcua' / 'vision_walk.js'
PARTS = 25


def test_node_opcua_client_walks_the_vision_system():
    assert (SCRIPT.parent / 'node_modules' / 'node-opcua-client').is_dir(), \
        'node-opcua-client missing: scripts/setup.sh installs it (npm ci)'
    server = start_server(('acnn_demo.onnx', 'acnn_bottle.onnx'))
    walk = NodeProcess(['node', str(SCRIPT), server.endpoint, str(PARTS), 'acnn_demo.onnx',
                        'acnn_bottle.onnx'])
    try:
        assert walk.wait_for_log('WAITING FOR PARTS', 60.0), walk.output
        for part in range(1, PARTS + 1):
            server.add_decision(PartDecision(FrameKey(part * 1_000_000, 'camera'), part,
                                             'accept' if part % 3 else 'reject',
                                             'none' if part % 3 else 'reject_class',
                                             'p3707', 0.9))
        assert walk.wait(60.0) == 0, walk.output
    finally:
        walk.kill()
        server.stop()
    lines = [line for line in walk.lines if line.startswith('RESULT ')]
    assert lines, walk.output
    seen = json.loads(lines[-1][len('RESULT '):])
    expected_children = {'ConfigurationManagement', 'RecipeManagement', 'ResultManagement',
                         'VisionStateMachine'}
    assert set(seen['browse']) >= expected_children
    assert not set(seen['browse']) & {p for p in NOT_IMPLEMENTED if '/' not in p}
    assert seen['typeDefinition'] == 'ns=MV;i=1003'
    assert seen['states'] == [['Preoperational', ''], ['Operational', 'Initialized'],
                              ['Operational', 'Ready'], ['Operational', 'ContinuousExecution'],
                              ['Operational', 'Ready'], ['Operational', 'Ready'],
                              ['Halted', ''], ['Preoperational', '']]
    calls = seen['calls']
    assert all(c['status'] == 'Good' for method in calls.values() for c in method)
    assert [c['outputs'][1:] for c in calls['PrepareRecipe']] == [[True, 0], [False, 1]]
    assert calls['PrepareRecipe'][0]['outputs'][0].startswith('acnn_demo@')
    job = calls['StartContinuous'][0]['outputs'][0]
    events = seen['events']
    assert [e['resultId'] for e in events] == [str(n) for n in range(1, PARTS + 1)]
    assert [e['partId'] for e in events] == [str(n) for n in range(1, PARTS + 1)]
    assert {e['jobId'] for e in events} == {job}
    assert {e['resultState'] for e in events} == {4}          # no inference fields: Failed
    assert {e['recipeId'] for e in events} == {calls['PrepareRecipe'][0]['outputs'][0]}
    assert seen['transitions'] == [
        'PreoperationalToInitialized', 'InitializedToReadyRecipe', 'ReadyToContinuousExecution',
        'ContinuousExecutionToReadyStop', 'OperationalToHalted', 'HaltedToPreoperational']
    assert server.line_record.calls == ['activate', 'load_model acnn_demo.onnx',
                                        'load_model acnn_bottle.onnx', 'deactivate']
