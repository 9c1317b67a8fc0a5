# SPDX-License-Identifier: Apache-2.0
"""
The vision system OPC UA server against an asyncua client: browse, methods, events.

The server is the real one (core/vision_system) on 127.0.0.1 with the official MachineVision
NodeSet2 (resource/opcua, npm node-opcua-nodesets); the line behind it is a recording stand-in
(test_vision_system_node.py drives real node processes). The NodeIds, browse names, state and
transition numbers the code names are checked against the NodeSet2 file itself.
"""
import asyncio
import xml.etree.ElementTree as ElementTree

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.results import InspectionOutcome, InspectionStatus, RoiBox
from acnn_ros.core.vision_system import address_space
from acnn_ros.core.vision_system.results import PartDecision
from acnn_ros.core.vision_system.state_machine import AUTOMATIC_STATES, TOP_STATES, TRANSITIONS
from asyncua import ua
import pytest
from vision_system_support import Events, NODESET, opcua_client, REPO_DIR, start_server

MODEL = REPO_DIR / 'resource' / 'models' / 'acnn_demo.onnx'
OTHER_MODEL = REPO_DIR / 'resource' / 'models' / 'acnn_bottle.onnx'
UA = {'ua': 'http://opcfoundation.org/UA/2011/03/UANodeSet.xsd'}


@pytest.fixture(scope='module')
def nodeset_xml():
    assert NODESET.is_file(), f'{NODESET} missing: scripts/setup.sh installs it (npm ci)'
    return ElementTree.parse(NODESET).getroot()


def _file_node(root, number):
    return root.find(f".//*[@NodeId='ns=1;i={number}']")


def _property_value(root, parent, name):
    for node in root.iter():
        if node.get('ParentNodeId') == parent and node.get('BrowseName') == name:
            return int(node.find('ua:Value', UA)[0].text)
    raise AssertionError(f'{name} of {parent} not in the NodeSet2')


def test_states_and_transitions_match_the_official_nodeset(nodeset_xml):
    for state in TOP_STATES + AUTOMATIC_STATES:
        node = _file_node(nodeset_xml, state.type_node)
        assert node.get('BrowseName') == f'1:{state.name}'
        assert _property_value(nodeset_xml, node.get('NodeId'), 'StateNumber') == state.number
    for transition in TRANSITIONS:
        node = _file_node(nodeset_xml, transition.type_node)
        assert node.get('BrowseName') == f'1:{transition.name}'
        assert _property_value(nodeset_xml, node.get('NodeId'),
                               'TransitionNumber') == transition.number
    assert _file_node(nodeset_xml, address_space.VISION_SYSTEM_TYPE).get('BrowseName') == \
        '1:VisionSystemType'
    assert _file_node(nodeset_xml, address_space.RESULT_READY_EVENT_TYPE).get('BrowseName') \
        == '1:ResultReadyEventType'


@pytest.fixture(scope='module')
def server():
    vision = start_server((MODEL.name, OTHER_MODEL.name), result_history=5)
    yield vision
    vision.stop()


async def _wait_for(condition, timeout_s=5.0):
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError('condition not met in time')


def _run(coroutine):
    return asyncio.run(coroutine)


def test_browse_names_and_type_definitions_match_the_type(server, nodeset_xml):
    async def browse():
        async with opcua_client(server.endpoint) as client:
            index = await client.get_namespace_index(address_space.NAMESPACE_URI)
            vision = client.get_node(ua.NodeId('VisionSystem', index))
            found = {}
            for child in await vision.get_children():
                name = (await child.read_browse_name()).Name
                found[name] = (await child.read_type_definition()).Identifier
            type_def = await vision.read_type_definition()
            machine = await vision.get_child(f'{index}:VisionStateMachine')
            methods = {(await m.read_browse_name()).Name for m in await machine.get_methods()}
            return index, type_def, found, methods
    index, type_def, found, methods = _run(browse())
    assert type_def == ua.NodeId(address_space.VISION_SYSTEM_TYPE, index)
    # The type's children in the file, with their type definitions, minus the optional ones
    # this server removes.
    expected = {}
    for node in nodeset_xml.iter():
        if node.get('ParentNodeId') == 'ns=1;i=1003':
            name = node.get('BrowseName').split(':')[1]
            type_ref = [r.text for r in node.iter(f'{{{UA["ua"]}}}Reference')
                        if r.get('ReferenceType') == 'HasTypeDefinition'][0]
            expected[name] = int(type_ref.split('i=')[1])
    removed = {path for path in address_space.NOT_IMPLEMENTED if '/' not in path}
    assert found == {name: t for name, t in expected.items() if name not in removed}
    assert {'SelectModeAutomatic', 'Halt', 'Reset'} <= methods


def test_walk_with_methods_and_events(server):
    async def walk():
        async with opcua_client(server.endpoint) as client:
            await client.load_data_type_definitions()
            index = await client.get_namespace_index(address_space.NAMESPACE_URI)
            vision = client.get_node(ua.NodeId('VisionSystem', index))
            machine = await vision.get_child(f'{index}:VisionStateMachine')
            automatic = await machine.get_child(f'{index}:AutomaticModeStateMachine')
            recipes = await vision.get_child(f'{index}:RecipeManagement')
            results = await vision.get_child(f'{index}:ResultManagement')
            transitions, ready = Events(), Events()
            subscription = await client.create_subscription(20, transitions)
            await subscription.subscribe_events(vision, ua.ObjectIds.TransitionEventType)
            result_sub = await client.create_subscription(20, ready)
            await result_sub.subscribe_events(client.nodes.server,
                                              ua.NodeId(address_space.RESULT_READY_EVENT_TYPE,
                                                        index))

            async def states():
                top = await (await machine.get_child('0:CurrentState')).read_value()
                auto = await (await automatic.get_child('0:CurrentState')).read_value()
                return top.Text, auto.Text

            def external(name):
                return ua.RecipeIdExternalDataType(Id=name)

            start_args = (ua.MeasIdDataType(Id='m1'), ua.PartIdDataType(Id='p1'),
                          external(''), ua.ProductIdDataType(Id=''),
                          ua.Variant([], ua.VariantType.Variant))
            log = [await states()]
            with pytest.raises(ua.UaStatusCodeError) as refused:
                await automatic.call_method(f'{index}:StartSingleJob', *start_args)
            assert refused.value.code == ua.StatusCodes.BadInvalidState
            assert await machine.call_method(f'{index}:SelectModeAutomatic') == 0
            log.append(await states())
            internal = ua.RecipeIdInternalDataType(Id='')
            out = await recipes.call_method(f'{index}:PrepareRecipe', external(MODEL.name),
                                            internal)
            assert out[1:] == [True, 0] and out[0].Id.startswith('acnn_demo@')
            log.append(await states())
            failed = await recipes.call_method(f'{index}:PrepareRecipe',
                                               external(OTHER_MODEL.name), internal)
            assert failed[1:] == [False, 1]           # refused: the old model stays prepared
            listed = await recipes.call_method(
                f'{index}:GetRecipeListFiltered', external(''), ua.ProductIdDataType(Id=''),
                ua.Variant(1, ua.VariantType.Int32), 0, 0, 1000)
            assert [r.Id for r in listed[3]] == [out[0].Id]      # the one prepared
            assert await recipes.call_method(f'{index}:ReleaseRecipeHandle',
                                             ua.Variant(listed[2], ua.VariantType.UInt32)) == 0
            job = await automatic.call_method(f'{index}:StartContinuous', *start_args)
            log.append(await states())
            for part in range(1, 4):
                key = FrameKey(part * 1000, 'camera_optical_frame')
                server.add_outcome(key, InspectionOutcome(
                    InspectionStatus.OK, class_name='p1069', confidence=0.9,
                    roi=RoiBox(10.0, 20.0, 32.0, 20.0)), 12.5)
                server.add_decision(PartDecision(key, part, 'reject', 'reject_class',
                                                 'p1069', 0.9))
            await _wait_for(lambda: len(ready.received) == 3)
            assert await automatic.call_method(f'{index}:Stop', 0,
                                               ua.LocalizedText('')) == 0
            log.append(await states())
            single = await automatic.call_method(f'{index}:StartSingleJob', *start_args)
            log.append(await states())
            server.add_decision(PartDecision(FrameKey(9000, 'cam'), 4, 'reject', 'no_result',
                                             '', 0.0))
            await _wait_for(lambda: len(ready.received) == 4)
            await _wait_for(lambda: len(transitions.received) == 6)
            log.append(await states())
            got = await results.call_method(f'{index}:GetResultById',
                                            ua.ResultIdDataType(Id='2'), 1000)
            gone = await results.call_method(f'{index}:GetResultById',
                                             ua.ResultIdDataType(Id='99'), 1000)
            assert await machine.call_method(f'{index}:Halt', 0, ua.LocalizedText('')) == 0
            log.append(await states())
            assert await machine.call_method(f'{index}:Reset', 0, ua.LocalizedText('')) == 0
            log.append(await states())
            await _wait_for(lambda: len(transitions.received) == 8)
            return log, job, single, ready.received, transitions.received, got, gone
    log, job, single, ready, transitions, got, gone = _run(walk())
    assert log == [('Preoperational', ''), ('Operational', 'Initialized'),
                   ('Operational', 'Ready'), ('Operational', 'ContinuousExecution'),
                   ('Operational', 'Ready'), ('Operational', 'SingleExecution'),
                   ('Operational', 'Ready'), ('Halted', ''), ('Preoperational', '')]
    assert [e.Transition.Text for e in transitions] == [
        'PreoperationalToInitialized', 'InitializedToReadyRecipe',
        'ReadyToContinuousExecution', 'ContinuousExecutionToReadyStop',
        'ReadyToSingleExecution', 'SingleExecutionToReadyAuto', 'OperationalToHalted',
        'HaltedToPreoperational']
    assert [e.ResultId.Id for e in ready] == ['1', '2', '3', '4']
    assert [e.PartId.Id for e in ready] == ['1', '2', '3', '4']
    assert [e.JobId.Id for e in ready] == [job[0].Id] * 3 + [single[0].Id]
    assert [e.ResultState for e in ready] == [1, 1, 1, 4]      # Completed, then Failed
    first = ready[0]
    assert first.InternalRecipeId.Id.startswith('acnn_demo@')
    assert first.InternalConfigurationId.Id == 'inspect' and first.IsPartial is False
    assert first.ProcessingTimes.ProcessingDuration == pytest.approx(12.5)
    content = {item.Value.Key.Name: item.Value.Value.Value for item in first.ResultContent}
    assert content == {'class': 'p1069', 'confidence': pytest.approx(0.9),
                       'roi': [10.0, 20.0, 32.0, 20.0], 'decision': 'reject',
                       'reason': 'reject_class', 'camera': 'camera_optical_frame'}
    assert got[2] == 0 and got[1].ResultId.Id == '2' and got[1].PartId.Id == '2'
    assert gone[2] == 1
    assert server.line_record.calls == ['activate', 'load_model acnn_demo.onnx',
                                        'load_model acnn_bottle.onnx', 'deactivate']


def test_line_failure_takes_operational_to_error_and_back(server):
    async def observe():
        async with opcua_client(server.endpoint) as client:
            index = await client.get_namespace_index(address_space.NAMESPACE_URI)
            machine = client.get_node(ua.NodeId('VisionSystem', index))
            state = await machine.get_child([f'{index}:VisionStateMachine', '0:CurrentState'])
            seen = []
            for all_active, failed in ((True, False), (True, True), (True, False)):
                server.observe_line(all_active, failed, taken_at=float('inf'))
                await asyncio.sleep(0.3)
                seen.append((await state.read_value()).Text)
            return seen
    assert _run(observe()) == ['Operational', 'Error', 'Operational']


def test_unprepare_recipe_and_the_one_configuration(server):
    async def calls():
        async with opcua_client(server.endpoint) as client:
            await client.load_data_type_definitions()
            index = await client.get_namespace_index(address_space.NAMESPACE_URI)
            vision = client.get_node(ua.NodeId('VisionSystem', index))
            recipes = await vision.get_child(f'{index}:RecipeManagement')
            configurations = await vision.get_child(f'{index}:ConfigurationManagement')
            machine = await vision.get_child(f'{index}:VisionStateMachine')
            automatic = await machine.get_child(f'{index}:AutomaticModeStateMachine')
            state = await automatic.get_child('0:CurrentState')
            external = ua.RecipeIdExternalDataType(Id=MODEL.name)
            internal = ua.RecipeIdInternalDataType(Id='')
            if (await (await machine.get_child('0:CurrentState')).read_value()).Text != \
                    'Operational':
                assert await machine.call_method(f'{index}:SelectModeAutomatic') == 0
            prepared = await recipes.call_method(f'{index}:PrepareRecipe', external, internal)
            ready = (await state.read_value()).Text
            unprepared = await recipes.call_method(f'{index}:UnprepareRecipe', external,
                                                   internal)
            initialized = (await state.read_value()).Text
            again = await recipes.call_method(f'{index}:UnprepareRecipe', external, internal)
            listing = await configurations.call_method(f'{index}:GetConfigurationList', 0, 0,
                                                       1000)
            config_id = ua.ConfigurationIdDataType(Id='inspect')
            by_id = await configurations.call_method(f'{index}:GetConfigurationById',
                                                     config_id, 1000)
            other = ua.ConfigurationIdDataType(Id='other')
            activate = [await configurations.call_method(f'{index}:ActivateConfiguration', c)
                        for c in (config_id, other)]
            return prepared, ready, unprepared, initialized, again, listing, by_id, activate
    prepared, ready, unprepared, initialized, again, listing, by_id, activate = _run(calls())
    assert prepared[1:] == [True, 0] and ready == 'Ready'
    assert unprepared[1] == 0 and unprepared[0].Id == prepared[0].Id
    assert initialized == 'Initialized'
    assert again[1] == 1                                      # nothing prepared any more
    assert listing[0] is True and listing[1] == 1 and listing[4] == 0
    assert [c.InternalId.Id for c in listing[3]] == ['inspect']
    assert by_id[2] == 0 and by_id[1].InternalId.Id == 'inspect'
    assert activate == [0, 1]


def test_result_list_filtered_and_components_by_id(server):
    async def query():
        async with opcua_client(server.endpoint) as client:
            await client.load_data_type_definitions()
            index = await client.get_namespace_index(address_space.NAMESPACE_URI)
            results = client.get_node(ua.NodeId('VisionSystem.ResultManagement', index))
            ready = Events()
            subscription = await client.create_subscription(20, ready)
            await subscription.subscribe_events(
                client.nodes.server, ua.NodeId(address_space.RESULT_READY_EVENT_TYPE, index))
            for part in (901, 902):
                server.add_decision(PartDecision(FrameKey(part, 'cam'), part, 'accept', 'none',
                                                 'p3707', 0.95))
            await _wait_for(lambda: len(ready.received) == 2)
            result_id = ready.received[1].ResultId.Id

            def text_id(name, text=''):
                return getattr(ua, name)(Id=text)
            filters = [ua.Variant(0, ua.VariantType.Int32), text_id('MeasIdDataType'),
                       text_id('PartIdDataType', '902'), text_id('RecipeIdExternalDataType'),
                       text_id('RecipeIdInternalDataType'),
                       text_id('ConfigurationIdDataType'),
                       text_id('ConfigurationIdDataType', 'inspect'),
                       text_id('ProductIdDataType'), text_id('JobIdDataType'),
                       ua.Variant(0, ua.VariantType.UInt32),
                       ua.Variant(0, ua.VariantType.UInt32), 1000.0]
            listed = await results.call_method(f'{index}:GetResultListFiltered', *filters)
            filters[2] = text_id('PartIdDataType', '123456')
            none = await results.call_method(f'{index}:GetResultListFiltered', *filters)
            parts = await results.call_method(f'{index}:GetResultComponentsById',
                                              ua.ResultIdDataType(Id=result_id), 1000.0)
            unknown = await results.call_method(f'{index}:GetResultComponentsById',
                                                ua.ResultIdDataType(Id='x'), 1000.0)
            return result_id, listed, none, parts, unknown
    result_id, listed, none, parts, unknown = _run(query())
    assert listed[0] is True and listed[1] == 1 and listed[4] == 0
    assert [(r.ResultId.Id, r.PartId.Id) for r in listed[3]] == [(result_id, '902')]
    assert none[1] == 0 and none[3] == []
    assert len(parts) == 17 and parts[-1] == 0
    assert parts[6].Id == '902' and parts[11].Id == 'inspect'       # PartId, configuration
    content = {item.Value.Key.Name: item.Value.Value.Value for item in parts[15]}
    assert content['decision'] == 'accept' and content['class'] == 'p3707'
    assert unknown[-1] == 1


def test_a_result_reported_just_before_the_stop_reaches_the_subscribed_client():
    # A graceful stop must not swallow the last part's result: the client publishes every
    # 400 ms, so without the server's final publishing window (FINAL_PUBLISH_S) the event
    # queued just before the stop would never go out.
    vision = start_server((MODEL.name,))

    async def last_result():
        async with opcua_client(vision.endpoint) as client:
            index = await client.get_namespace_index(address_space.NAMESPACE_URI)
            ready = Events()
            subscription = await client.create_subscription(400, ready)
            await subscription.subscribe_events(
                client.nodes.server, ua.NodeId(address_space.RESULT_READY_EVENT_TYPE, index))
            vision.add_decision(PartDecision(FrameKey(7000, 'cam'), 7, 'reject',
                                             'reject_class', 'p1069', 0.9))
            # The stop joins the server's thread: off this loop, so the client keeps reading.
            await asyncio.to_thread(vision.stop)
            await _wait_for(lambda: ready.received, timeout_s=2.0)
            return ready.received

    try:
        received = _run(last_result())
    finally:
        vision.stop()
    assert [event.PartId.Id for event in received] == ['7']
