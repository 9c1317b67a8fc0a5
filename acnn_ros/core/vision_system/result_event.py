# SPDX-License-Identifier: Apache-2.0
"""
A PartResult in the MachineVision data types: ResultReadyEvent fields and ResultDataType.

The structure classes (ResultIdDataType, PartIdDataType, ...) exist in `asyncua.ua` once the
server has loaded the NodeSet2's data type definitions (address_space.build_vision_system).
"""
from datetime import datetime, timezone
from typing import Dict

from acnn_ros.core.vision_system.results import PartResult
from asyncua import ua


def utc(seconds: float) -> datetime:
    """Return an aware UTC datetime of seconds since the epoch."""
    return datetime.fromtimestamp(seconds, timezone.utc)


def _id(type_name: str, text: str, **fields):
    return getattr(ua, type_name)(Id=text, **fields)


def result_event_fields(result: PartResult) -> Dict[str, ua.Variant]:
    """Return the ResultReadyEventType fields of `result` (names as in the NodeSet2)."""
    content = [ua.Variant(ua.KeyValuePair(Key=ua.QualifiedName(key), Value=ua.Variant(value)))
               for key, value in result.content()]
    extension = ua.VariantType.ExtensionObject
    return {
        'ResultId': ua.Variant(_id('ResultIdDataType', str(result.result_id)), extension),
        'PartId': ua.Variant(_id('PartIdDataType', str(result.part_id)), extension),
        'JobId': ua.Variant(_id('JobIdDataType', result.job_id), extension),
        'InternalRecipeId': ua.Variant(_id('RecipeIdInternalDataType', result.recipe_id),
                                       extension),
        'InternalConfigurationId': ua.Variant(
            _id('ConfigurationIdDataType', result.configuration_id), extension),
        'ResultState': ua.Variant(result.result_state, ua.VariantType.Int32),
        'IsPartial': ua.Variant(False, ua.VariantType.Boolean),
        'CreationTime': ua.Variant(utc(result.creation_time), ua.VariantType.DateTime),
        'ProcessingTimes': ua.Variant(ua.ProcessingTimesDataType(
            StartTime=utc(result.capture_time), EndTime=utc(result.creation_time),
            ProcessingDuration=result.processing_ms), extension),
        'ResultContent': ua.Variant(content, ua.VariantType.Variant),
    }


def result_data(result: PartResult):
    """Return `result` as a ResultDataType structure (GetResultById)."""
    fields = {name: variant.Value for name, variant in result_event_fields(result).items()}
    return ua.ResultDataType(
        ResultId=fields['ResultId'], IsPartial=False, ResultState=result.result_state,
        PartId=fields['PartId'], InternalRecipeId=fields['InternalRecipeId'],
        InternalConfigurationId=fields['InternalConfigurationId'], JobId=fields['JobId'],
        CreationTime=fields['CreationTime'], ProcessingTimes=fields['ProcessingTimes'],
        ResultContent=fields['ResultContent'])
