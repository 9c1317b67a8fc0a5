# SPDX-License-Identifier: Apache-2.0
"""
vision_system_node on the real line: four node processes over DDS, an asyncua client.

camera_node (synthetic, 12 parts), inference_node (the demo model) and reject_actuator_node
(topic actuator) start unconfigured; vision_system_node maps them onto the OPC 40100-1 state
machine. The client walks Preoperational -> SelectModeAutomatic (the nodes become active) ->
PrepareRecipe -> StartContinuous, receives one ResultReadyEvent per part (ids continuous,
count = RejectEvents), prepares a second recipe (inference_node's load_model), Halts (the
nodes become inactive), Resets, and sees Error when inference_node goes away.
"""
import asyncio
import time

from acnn_ros.core.plc.loop_server import free_port
from acnn_ros.core.vision_system.address_space import NAMESPACE_URI, RESULT_READY_EVENT_TYPE
from acnn_ros.msg import RejectEvent
from acnn_ros.nodes.line_qos import PER_PART_QOS
from asyncua import ua
import pytest
from ros_client import RosClient
from ros_processes import NodeProcess, REPO_DIR
from vision_system_support import Events, opcua_client

pytestmark = pytest.mark.timeout(240)
PARTS = 12
LINE = ('camera_node', 'inference_node', 'reject_actuator_node')
PARAMS = ('--params-file', str(REPO_DIR / 'config' / 'inspect.yaml'))


async def connect(endpoint, deadline_s=60.0):
    end = time.monotonic() + deadline_s
    while True:
        client = opcua_client(endpoint)
        try:
            await client.connect()
            return client
        except (OSError, asyncio.TimeoutError, ua.UaError):
            if time.monotonic() > end:
                raise
            await asyncio.sleep(0.5)


async def wait_for(condition, timeout_s=30.0, what=''):
    end = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < end, f'timed out: {what}'
        await asyncio.sleep(0.1)


async def walk(endpoint, ros, inference, rejects):
    """Walk the client's side; `ros` is spun in a worker thread between the steps."""
    client = await connect(endpoint)
    try:
        await client.load_data_type_definitions()
        index = await client.get_namespace_index(NAMESPACE_URI)
        system = client.get_node(ua.NodeId('VisionSystem', index))
        machine = await system.get_child(f'{index}:VisionStateMachine')
        automatic = await machine.get_child(f'{index}:AutomaticModeStateMachine')
        recipes = await system.get_child(f'{index}:RecipeManagement')
        top_state = await machine.get_child('0:CurrentState')
        auto_state = await automatic.get_child('0:CurrentState')
        ready, transitions = Events(), Events()
        await (await client.create_subscription(20, ready)).subscribe_events(
            client.nodes.server, ua.NodeId(RESULT_READY_EVENT_TYPE, index))
        await (await client.create_subscription(20, transitions)).subscribe_events(
            system, ua.ObjectIds.TransitionEventType)

        async def states():
            return (await top_state.read_value()).Text, (await auto_state.read_value()).Text

        async def reached(expected):
            async def check():
                return await states() == expected
            await wait_for(check, 30.0, f'{expected}')

        async def line_states():
            return [await asyncio.to_thread(ros.get_state, name) for name in LINE]

        async def all_parts():
            await asyncio.to_thread(ros.spin_for, 0.1)
            return len(rejects) == PARTS and len(ready.received) == PARTS

        def recipe(path):
            return ua.RecipeIdExternalDataType(Id=path)

        async def call(node, name, *arguments):
            return await node.call_method(f'{index}:{name}', *arguments)

        no_id = ua.RecipeIdInternalDataType(Id='')
        cause = (ua.Variant(0, ua.VariantType.Int32), ua.LocalizedText(''))
        start = (ua.MeasIdDataType(Id='m'), ua.PartIdDataType(Id=''), recipe(''),
                 ua.ProductIdDataType(Id=''), ua.Variant([], ua.VariantType.Variant))
        await reached(('Preoperational', ''))            # every node unconfigured: no error
        assert await call(machine, 'SelectModeAutomatic') == 0
        assert await states() == ('Operational', 'Initialized')
        assert await line_states() == ['active'] * 3
        prepared = await call(recipes, 'PrepareRecipe',
                              recipe('resource/models/acnn_demo.onnx'), no_id)
        assert prepared[1:] == [True, 0] and prepared[0].Id.startswith('acnn_demo@')
        job = await call(automatic, 'StartContinuous', *start)
        assert await states() == ('Operational', 'ContinuousExecution')
        await wait_for(all_parts, 90.0, 'a ResultReadyEvent and a RejectEvent per part')
        await asyncio.to_thread(ros.spin_for, 1.0)       # and not one event more
        events = list(ready.received)
        # One result per part, in the order of the parts' decisions (a reject's RejectEvent
        # waits for its firing): result ids continuous, part ids those of the RejectEvents.
        assert [e.PartId.Id for e in events] == [str(m.part_id) for m in rejects]
        assert sorted(int(e.PartId.Id) for e in events) == list(range(1, PARTS + 1))
        assert [e.ResultId.Id for e in events] == [str(r) for r in range(1, PARTS + 1)]
        decisions = {e.PartId.Id: {i.Value.Key.Name: i.Value.Value.Value
                                   for i in e.ResultContent}['decision'] for e in events}
        assert decisions == {str(m.part_id): 'reject' if m.decision else 'accept'
                             for m in rejects}
        assert {e.ResultState for e in events} == {1}
        assert {e.InternalRecipeId.Id for e in events} <= {prepared[0].Id, ''}
        assert {e.JobId.Id for e in events} <= {job[0].Id, ''}
        assert await call(automatic, 'Stop', *cause) == 0
        added = await call(recipes, 'AddRecipe', recipe('resource/models/acnn_bottle.onnx'),
                           ua.ProductIdDataType(Id='bottle'))
        assert added[-1] == 0 and added[0].Id.startswith('acnn_bottle@')
        changed = await call(recipes, 'PrepareRecipe',
                             recipe('resource/models/acnn_bottle.onnx'), no_id)
        assert changed[1:] == [True, 0]
        assert inference.wait_for_log('acnn_bottle@', 10.0), inference.output
        assert await call(machine, 'Halt', *cause) == 0
        assert await states() == ('Halted', '')
        assert await line_states() == ['inactive'] * 3
        assert await call(machine, 'Reset', *cause) == 0
        await reached(('Preoperational', ''))
        assert await call(machine, 'SelectModeAutomatic') == 0
        await asyncio.to_thread(inference.interrupt)
        await reached(('Error', ''))

        async def every_transition():       # the last event may follow the state read
            return len(transitions.received) >= 8
        await wait_for(every_transition, 10.0, 'the transition events')
        return [e.Transition.Text for e in transitions.received]
    finally:
        await client.disconnect()


def test_the_line_walks_the_vision_state_machine(own_domain_env):
    env = own_domain_env
    camera = NodeProcess.node('camera_node', *PARAMS, '-p', 'autostart:=false',
                              '-p', 'source:=synthetic', '-p', 'frame_rate_hz:=4.0',
                              '-p', f'max_frames:={PARTS}', env=env)
    inference = NodeProcess.node('inference_node', *PARAMS, '-p', 'autostart:=false', env=env)
    actuator = NodeProcess.node('reject_actuator_node', *PARAMS, '-p', 'autostart:=false',
                                '-p', 'actuator:=topic', env=env)
    port = free_port()
    vision = NodeProcess.node('vision_system_node', *PARAMS, '-p', f'server_port:={port}',
                              '-p', 'line_period_s:=0.2', env=env)
    ros = RosClient('vision_walk_client')
    try:
        rejects = ros.record(RejectEvent, 'reject', PER_PART_QOS)
        names = asyncio.run(walk(f'opc.tcp://127.0.0.1:{port}/acnn_ros/vision_system/', ros,
                                 inference, rejects))
    finally:
        ros.close()
        for process in (camera, inference, actuator, vision):
            process.interrupt()
            print(process.output)        # shown by pytest when the test fails
    assert names[names.index('PreoperationalToInitialized'):] == [
        'PreoperationalToInitialized', 'InitializedToReadyRecipe', 'ReadyToContinuousExecution',
        'ContinuousExecutionToReadyStop', 'OperationalToHalted', 'HaltedToPreoperational',
        'PreoperationalToInitialized', 'OperationalToErrorAuto']
    assert vision.process.returncode == 0, vision.output
