# SPDX-License-Identifier: Apache-2.0
"""
A PartResult in the MachineVision data types: ResultReadyEvent fields and ResultDataType.

The structure classes (ResultIdDataType, PartIdDataType, ...) exist in `asyncua.ua` once the
server has loaded the NodeSet2's data type definitions (address_space.build_vision_system).
The subtypes of BinaryIdBaseDataType share their supertype's name binding there; `structure`
finds them by NodeId, so they go out with their own encoding.
"""
from datetime import datetime, timezone
from typing import Dict

from acnn_ros.core.vision_system.results import PartResult
from asyncua import ua


def utc(seconds: float) -> datetime:
    """Return an aware UTC datetime of seconds since the epoch."""
    return datetime.fromtimestamp(seconds, timezone.utc)


# The subtypes of BinaryIdBaseDataType, by their NodeId in the MachineVision namespace.
BINARY_ID_TYPES = {'RecipeIdExternalDataType': 3002, 'ConfigurationIdDataType': 3008,
                   'RecipeIdInternalDataType': 3013}


def structure(type_name: str, index: int):
    """Return the class of MachineVision structure `type_name` (namespace index `index`)."""
    number = BINARY_ID_TYPES.get(type_name)
    if number is None:
        return getattr(ua, type_name)
    return ua.extension_objects_by_datatype[ua.NodeId(number, index)]


def make_id(type_name: str, index: int, text: str):
    """Return an id structure (ResultIdDataType, RecipeIdInternalDataType, ...) with Id `text`."""
    return structure(type_name, index)(Id=text)


def result_event_fields(result: PartResult, index: int) -> Dict[str, ua.Variant]:
    """Return the ResultReadyEventType fields of `result` (names as in the NodeSet2)."""
    content = [ua.Variant(ua.KeyValuePair(Key=ua.QualifiedName(key), Value=ua.Variant(value)))
               for key, value in result.content()]

    def ids(type_name: str, text: str) -> ua.Variant:
        return ua.Variant(make_id(type_name, index, text), ua.VariantType.ExtensionObject)

    return {
        'ResultId': ids('ResultIdDataType', str(result.result_id)),
        'PartId': ids('PartIdDataType', str(result.part_id)),
        'JobId': ids('JobIdDataType', result.job_id),
        'InternalRecipeId': ids('RecipeIdInternalDataType', result.recipe_id),
        'InternalConfigurationId': ids('ConfigurationIdDataType', result.configuration_id),
        'ResultState': ua.Variant(result.result_state, ua.VariantType.Int32),
        'IsPartial': ua.Variant(False, ua.VariantType.Boolean),
        'CreationTime': ua.Variant(utc(result.creation_time), ua.VariantType.DateTime),
        'ProcessingTimes': ua.Variant(ua.ProcessingTimesDataType(
            StartTime=utc(result.capture_time), EndTime=utc(result.creation_time),
            ProcessingDuration=result.processing_ms), ua.VariantType.ExtensionObject),
        'ResultContent': ua.Variant(content, ua.VariantType.Variant),
    }


def result_data(result: PartResult, index: int):
    """Return `result` as a ResultDataType structure (GetResultById)."""
    fields = {name: variant.Value for name, variant in result_event_fields(result, index).items()}
    return ua.ResultDataType(
        ResultId=fields['ResultId'], IsPartial=False, ResultState=result.result_state,
        PartId=fields['PartId'], InternalRecipeId=fields['InternalRecipeId'],
        InternalConfigurationId=fields['InternalConfigurationId'], JobId=fields['JobId'],
        CreationTime=fields['CreationTime'], ProcessingTimes=fields['ProcessingTimes'],
        ResultContent=fields['ResultContent'])
