# SPDX-License-Identifier: Apache-2.0
"""
The VisionSystem object in an asyncua server, from the official MachineVision NodeSet2.

`build_vision_system` imports the NodeSet2 file of OPC 40100-1 (types, NodeIds and browse names
as published; the npm package node-opcua-nodesets ships it, scripts/setup.sh installs it),
creates one object of VisionSystemType under Objects, removes the optional parts this server
does not implement (so a client never finds a method that cannot work), and makes the Server
object notifier of the VisionSystem (HasNotifier), so events reach subscribers of either.
"""
from dataclasses import dataclass
import logging
from pathlib import Path
from typing import Dict, List

from acnn_ros.core.vision_system.state_machine import State, Transition
from asyncua import Server, ua
from asyncua.common.node import Node

NAMESPACE_URI = 'http://opcfoundation.org/UA/MachineVision'
VISION_SYSTEM_TYPE = 1003
RESULT_READY_EVENT_TYPE = 1024
OBJECT_NAME = 'VisionSystem'
# Optional children of VisionSystemType this server does not implement, by browse path below
# the VisionSystem object (removed after instantiation).
NOT_IMPLEMENTED = (
    'SafetyStateManagement', 'DiagnosticLevel', 'SystemState',
    'ConfigurationManagement/AddConfiguration', 'ConfigurationManagement/RemoveConfiguration',
    'ConfigurationManagement/Configurations', 'ConfigurationManagement/ConfigurationTransfer',
    'RecipeManagement/PrepareProduct', 'RecipeManagement/UnprepareProduct',
    'RecipeManagement/UnlinkProduct', 'RecipeManagement/RemoveRecipe',
    'RecipeManagement/Products', 'RecipeManagement/Recipes', 'RecipeManagement/RecipeTransfer',
    'ResultManagement/Results', 'ResultManagement/ResultTransfer',
    'VisionStateMachine/ConfirmAll', 'VisionStateMachine/ErrorStepModel',
    'VisionStateMachine/HaltedStepModel', 'VisionStateMachine/PreoperationalStepModel',
    'VisionStateMachine/AutomaticModeStateMachine/SimulationMode',
    'VisionStateMachine/AutomaticModeStateMachine/InitializedStepModel',
    'VisionStateMachine/AutomaticModeStateMachine/ReadyStepModel',
    'VisionStateMachine/AutomaticModeStateMachine/SingleExecutionStepModel',
    'VisionStateMachine/AutomaticModeStateMachine/ContinuousExecutionStepModel',
)
STATE_MACHINE = 'VisionStateMachine'
AUTOMATIC = 'VisionStateMachine/AutomaticModeStateMachine'


class NodesetMissing(ValueError):
    """The MachineVision NodeSet2 file is not there (scripts/setup.sh installs it)."""


@dataclass
class VisionSystemNodes:
    """The nodes the server writes to or emits from."""

    namespace_index: int
    vision_system: Node
    state_machine: Node
    automatic: Node
    methods: Dict[str, Node]      # 'VisionStateMachine/Halt' -> method node


def child_path(namespace_index: int, path: str) -> List[str]:
    """Return the browse path of `path` ('A/B') as qualified names ('2:A', '2:B')."""
    return [f'{namespace_index}:{name}' for name in path.split('/')]


async def build_vision_system(server: Server, nodeset_file: str) -> VisionSystemNodes:
    """Import the NodeSet2, create the VisionSystem object, return its nodes."""
    if not Path(nodeset_file).is_file():
        raise NodesetMissing(f'MachineVision NodeSet2 not found: {nodeset_file} (scripts/'
                             'setup.sh installs it with npm: node-opcua-nodesets)')
    await server.import_xml(nodeset_file)
    index = await server.get_namespace_index(NAMESPACE_URI)
    await complete_inherited_definitions(server, index)
    # The BinaryIdBaseDataType subtypes share their supertype's name in asyncua.ua; asyncua
    # warns of each, and result_event.structure finds them by NodeId instead.
    collisions = logging.getLogger('asyncua.ua.uatypes')
    level = collisions.level
    collisions.setLevel(logging.ERROR)
    try:
        await server.load_data_type_definitions()
    finally:
        collisions.setLevel(level)
    vision_system = await server.nodes.objects.add_object(
        ua.NodeId(OBJECT_NAME, index), ua.QualifiedName(OBJECT_NAME, index),
        ua.NodeId(VISION_SYSTEM_TYPE, index))
    for path in NOT_IMPLEMENTED:
        node = await vision_system.get_child(child_path(index, path))
        await server.delete_nodes([node], recursive=True)
    methods = {}
    for folder in ('VisionStateMachine', AUTOMATIC, 'RecipeManagement', 'ResultManagement',
                   'ConfigurationManagement'):
        parent = await vision_system.get_child(child_path(index, folder))
        for child in await parent.get_children(refs=ua.ObjectIds.HasComponent,
                                               nodeclassmask=ua.NodeClass.Method):
            methods[f'{folder}/{(await child.read_browse_name()).Name}'] = child
    await server.nodes.server.add_reference(vision_system.nodeid, ua.ObjectIds.HasNotifier)
    await vision_system.set_event_notifier([ua.EventNotifier.SubscribeToEvents])
    return VisionSystemNodes(
        index, vision_system,
        await vision_system.get_child(child_path(index, STATE_MACHINE)),
        await vision_system.get_child(child_path(index, AUTOMATIC)), methods)


async def complete_inherited_definitions(server: Server, index: int) -> None:
    """
    Give the structures that only inherit their fields (RecipeIdInternalDataType, ...) them.

    The NodeSet2 writes an empty Definition for the subtypes of BinaryIdBaseDataType; OPC
    10000-3 wants a structure's DataTypeDefinition to list the supertype's fields too, and a
    client (asyncua's among them) cannot decode such a structure without them.
    """
    structure = server.get_node(ua.ObjectIds.Structure)
    for base in await structure.get_children(refs=ua.ObjectIds.HasSubtype):
        if base.nodeid.NamespaceIndex != index:
            continue
        try:
            definition = await base.read_data_type_definition()
        except ua.UaError:
            continue
        for subtype in await base.get_children(refs=ua.ObjectIds.HasSubtype):
            own = await subtype.read_data_type_definition()
            if own is not None and own.Fields:
                continue
            encodings = await subtype.get_referenced_nodes(ua.ObjectIds.HasEncoding)
            binary = [e for e in encodings
                      if (await e.read_browse_name()).Name == 'Default Binary']
            complete = ua.StructureDefinition(
                DefaultEncodingId=binary[0].nodeid, BaseDataType=base.nodeid,
                StructureType=definition.StructureType, Fields=definition.Fields)
            await subtype.write_attribute(ua.AttributeIds.DataTypeDefinition, ua.DataValue(
                ua.Variant(complete, ua.VariantType.ExtensionObject)))


async def write_current_state(machine: Node, state: State, index: int) -> None:
    """Write CurrentState (name) and CurrentState/Id (the state's NodeId in the type)."""
    current = await machine.get_child('0:CurrentState')
    await current.write_value(ua.LocalizedText(state.name))
    state_id = await current.get_child('0:Id')
    await state_id.write_value(ua.Variant(ua.NodeId(state.type_node, index),
                                          ua.VariantType.NodeId))


async def clear_current_state(machine: Node) -> None:
    """Write an empty CurrentState (the automatic mode outside Operational)."""
    current = await machine.get_child('0:CurrentState')
    await current.write_value(ua.LocalizedText(''))
    await (await current.get_child('0:Id')).write_value(ua.Variant(ua.NodeId(),
                                                                   ua.VariantType.NodeId))


def transition_message(transition: Transition) -> str:
    """Return the Message of a transition event: 'Ready -> SingleExecution (671 ...)'."""
    cause = transition.cause or 'automatic'
    return (f'{transition.source.name} -> {transition.target.name} '
            f'({transition.number} {transition.name}, {cause})')
