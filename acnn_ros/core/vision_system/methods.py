# SPDX-License-Identifier: Apache-2.0
"""
The method calls of the VisionSystem object, answered on the VisionStateMachine.

A method the current state does not allow answers Bad_InvalidState (OPC 40100-1); a method
that is allowed but fails on the line (a node that cannot be activated, a model that does not
load) answers Good with a non-zero `Error` output and leaves the state as it was. Line actions
(LineControl) run in the loop's default executor, so a slow model load blocks no client.
"""
import asyncio
import logging
from typing import Callable, Dict, List, Optional

from acnn_ros.core.vision_system.recipes import Recipe, recipe_for_model, RecipeError
from acnn_ros.core.vision_system.result_event import make_id, result_data, structure, utc
from acnn_ros.core.vision_system.state_machine import OPERATIONAL
from asyncua import ua

log = logging.getLogger('acnn_ros.vision_system')
OK = 0
FAILED = 1          # the `Error` output of a method that could not do what was asked
TRI_STATE_TRUE, TRI_STATE_DONT_CARE = 1, 2


def _int32(value: int) -> ua.Variant:
    return ua.Variant(value, ua.VariantType.Int32)


def _invalid_state() -> ua.StatusCode:
    return ua.StatusCode(ua.StatusCodes.BadInvalidState)


def _text_id(value) -> str:
    """Return the Id of an id structure (RecipeIdExternalDataType, ...), '' for none."""
    return str(getattr(value, 'Id', '') or '') if value is not None else ''


class VisionSystemMethods:
    """The handlers, bound to one VisionSystemServer (its machine, books, line, lock)."""

    def __init__(self, server, model_resolver: Callable[[str], str]):
        self.server = server
        self.resolve = model_resolver

    def _id(self, type_name: str, text: str):
        return make_id(type_name, self.server.nodes.namespace_index, text)

    def _recipe_id(self, text: str) -> ua.Variant:
        return ua.Variant(self._id('RecipeIdInternalDataType', text))

    async def _line(self, action) -> str:
        """Run a blocking LineControl call off the loop; return its error text."""
        return await asyncio.get_running_loop().run_in_executor(None, action)

    async def _state_method(self, name: str, action=None) -> List[ua.Variant]:
        server = self.server
        async with server._lock:
            if not server.machine.allowed(name):
                return _invalid_state()
            error = await self._line(action) if action is not None else ''
            server.calls_done()
            if error:
                log.error('%s failed: %s', name, error)
                return [_int32(FAILED)]
            transition = server.machine.call(name)
            await server.announce((transition,) if transition else ())
            return [_int32(OK)]

    # -- VisionStateMachine ------------------------------------------------------------------

    async def select_mode_automatic(self, parent) -> List[ua.Variant]:
        """Activate the line (Preoperational -> Operational / Initialized)."""
        return await self._state_method('SelectModeAutomatic', self.server.line.activate)

    async def halt(self, parent, cause=None, description=None) -> List[ua.Variant]:
        """Deactivate the line (-> Halted)."""
        return await self._state_method('Halt', self.server.line.deactivate)

    async def reset(self, parent, cause=None, description=None) -> List[ua.Variant]:
        """Back to Preoperational (from Operational: the line is deactivated first)."""
        operational = self.server.machine.top is OPERATIONAL
        action = self.server.line.deactivate if operational else None
        return await self._state_method('Reset', action)

    # -- automatic mode ----------------------------------------------------------------------

    async def _start(self, name: str, kind: str) -> List[ua.Variant]:
        server = self.server
        async with server._lock:
            if not server.machine.allowed(name):
                return _invalid_state()
            job_id = server.new_job(kind)
            transition = server.machine.call(name)
            await server.announce((transition,))
            return [ua.Variant(ua.JobIdDataType(Id=job_id)), _int32(OK)]

    async def start_single_job(self, parent, *arguments) -> List[ua.Variant]:
        """Ready -> SingleExecution: the next part's result ends the job."""
        return await self._start('StartSingleJob', 'single')

    async def start_continuous(self, parent, *arguments) -> List[ua.Variant]:
        """Ready -> ContinuousExecution: every part's result carries the job id until Stop."""
        return await self._start('StartContinuous', 'continuous')

    async def _end_job(self, name: str) -> List[ua.Variant]:
        server = self.server
        async with server._lock:
            if not server.machine.allowed(name):
                return _invalid_state()
            server.job_id = ''
            await server.announce((server.machine.call(name),))
            return [_int32(OK)]

    async def stop(self, parent, cause=None, description=None) -> List[ua.Variant]:
        """End the job in execution (-> Ready)."""
        return await self._end_job('Stop')

    async def abort(self, parent, cause=None, description=None) -> List[ua.Variant]:
        """Abort the job in execution (-> Ready)."""
        return await self._end_job('Abort')

    # -- RecipeManagement --------------------------------------------------------------------

    async def add_recipe(self, parent, external_id=None, product_id=None) -> List[ua.Variant]:
        """Add a recipe: ExternalId.Id is a model file (absolute or share-relative)."""
        name, product = _text_id(external_id.Value), _text_id(getattr(product_id, 'Value', None))
        try:
            recipe = self.server.recipes.add(recipe_for_model(name, self.resolve(name), product))
        except (RecipeError, ValueError) as exc:
            log.error('AddRecipe %s: %s', name, exc)
            return [self._recipe_id(''), ua.Variant(ua.NodeId()),
                    ua.Variant(ua.NodeId()), ua.Variant(False), _int32(FAILED)]
        return [self._recipe_id(recipe.internal_id), ua.Variant(ua.NodeId()),
                ua.Variant(ua.NodeId()), ua.Variant(False), _int32(OK)]

    def _recipe(self, external_id, internal_id) -> Optional[Recipe]:
        return self.server.recipes.find(_text_id(getattr(external_id, 'Value', None)),
                                        _text_id(getattr(internal_id, 'Value', None)))

    async def prepare_recipe(self, parent, external_id=None, internal_id=None):
        """Load the recipe's model into inference_node (Initialized -> Ready)."""
        server = self.server
        async with server._lock:
            if not server.machine.allowed('PrepareRecipe'):
                return _invalid_state()
            recipe = self._recipe(external_id, internal_id)
            if recipe is None:
                return [self._recipe_id(''), ua.Variant(False),
                        _int32(FAILED)]
            loaded, message = await self._line(lambda: server.line.load_model(recipe.model_path))
            if not loaded:
                log.error('PrepareRecipe %s: %s (the previous model stays)',
                          recipe.external_id, message)
                return [self._recipe_id(recipe.internal_id), ua.Variant(False), _int32(FAILED)]
            server.recipes.prepared = recipe
            transition = server.machine.call('PrepareRecipe')
            await server.announce((transition,) if transition else ())
            return [self._recipe_id(recipe.internal_id), ua.Variant(True), _int32(OK)]

    async def unprepare_recipe(self, parent, external_id=None, internal_id=None):
        """Forget the prepared recipe (Ready -> Initialized); the model stays loaded."""
        server = self.server
        async with server._lock:
            recipe = self._recipe(external_id, internal_id)
            if not server.machine.allowed('UnprepareRecipe'):
                return _invalid_state()
            if recipe is None or recipe != server.recipes.prepared:
                return [self._recipe_id(''), _int32(FAILED)]
            server.recipes.prepared = None
            transition = server.machine.call('UnprepareRecipe')
            await server.announce((transition,) if transition else ())
            return [self._recipe_id(recipe.internal_id), _int32(OK)]

    async def get_recipe_list_filtered(self, parent, external_id=None, product_id=None,
                                       is_prepared=None, max_results=None, start_index=None,
                                       timeout=None):
        """Return the recipes matching the filters, from StartIndex, at most MaxResults."""
        prepared = getattr(is_prepared, 'Value', TRI_STATE_DONT_CARE)
        recipes = self.server.recipes.filtered(
            _text_id(getattr(external_id, 'Value', None)),
            _text_id(getattr(product_id, 'Value', None)),
            None if int(prepared) == TRI_STATE_DONT_CARE else int(prepared) == TRI_STATE_TRUE)
        start = int(getattr(start_index, 'Value', 0) or 0)
        count = int(getattr(max_results, 'Value', 0) or 0) or len(recipes)
        page = recipes[start:start + count]
        return [ua.Variant(start + len(page) >= len(recipes)),
                ua.Variant(len(page), ua.VariantType.UInt32),
                ua.Variant(self.server.recipes.open_handle(), ua.VariantType.UInt32),
                ua.Variant([self._id('RecipeIdInternalDataType', r.internal_id) for r in page],
                           ua.VariantType.ExtensionObject), _int32(OK)]

    async def release_handle(self, parent, handle=None) -> List[ua.Variant]:
        """Release a list handle (recipes, results, configurations share one numbering)."""
        known = self.server.recipes.release_handle(int(getattr(handle, 'Value', 0) or 0))
        return [_int32(OK if known else FAILED)]

    # -- ResultManagement --------------------------------------------------------------------

    async def get_result_by_id(self, parent, result_id=None, timeout=None):
        """Return one of the last `result_history` results (Error 1: not kept or unknown)."""
        text = _text_id(getattr(result_id, 'Value', None))
        result = self.server.results.get(int(text)) if text.isdigit() else None
        handle = ua.Variant(self.server.recipes.open_handle(), ua.VariantType.UInt32)
        if result is None:
            return [handle, ua.Variant(ua.ResultDataType()), _int32(FAILED)]
        data = result_data(result, self.server.nodes.namespace_index)
        return [handle, ua.Variant(data), _int32(OK)]

    async def get_result_list_filtered(self, parent, result_state=None, meas_id=None,
                                       part_id=None, external_recipe_id=None,
                                       internal_recipe_id=None, external_configuration_id=None,
                                       internal_configuration_id=None, product_id=None,
                                       job_id=None, max_results=None, start_index=None,
                                       timeout=None):
        """Return the kept results matching the filters (0 / '' = any), newest first."""
        state = int(getattr(result_state, 'Value', 0) or 0)
        wanted = {'part_id': _text_id(getattr(part_id, 'Value', None)),
                  'job_id': _text_id(getattr(job_id, 'Value', None)),
                  'recipe_id': _text_id(getattr(internal_recipe_id, 'Value', None)),
                  'configuration_id': _text_id(getattr(internal_configuration_id, 'Value',
                                                       None))}
        unsupported = [getattr(v, 'Value', None) for v in (meas_id, external_recipe_id,
                                                           external_configuration_id,
                                                           product_id)]
        results = [r for r in self.server.results.latest(self.server.results.history)
                   if (not state or r.result_state == state)
                   and all(not text or str(getattr(r, name)) == text
                           for name, text in wanted.items())]
        if any(_text_id(v) for v in unsupported):
            results = []            # this server keeps no MeasId / external ids / products
        start = int(getattr(start_index, 'Value', 0) or 0)
        count = int(getattr(max_results, 'Value', 0) or 0) or len(results)
        page = results[start:start + count]
        index = self.server.nodes.namespace_index
        return [ua.Variant(start + len(page) >= len(results)),
                ua.Variant(len(page), ua.VariantType.UInt32),
                ua.Variant(self.server.recipes.open_handle(), ua.VariantType.UInt32),
                ua.Variant([result_data(r, index) for r in page], ua.VariantType.ExtensionObject),
                _int32(OK)]

    async def get_result_components_by_id(self, parent, result_id=None, timeout=None):
        """Return one kept result field by field (the outputs of the specification)."""
        text = _text_id(getattr(result_id, 'Value', None))
        result = self.server.results.get(int(text)) if text.isdigit() else None
        handle = ua.Variant(self.server.recipes.open_handle(), ua.VariantType.UInt32)
        fields = result_data(result, self.server.nodes.namespace_index) if result else \
            ua.ResultDataType()
        return [ua.Variant(False), handle, ua.Variant(bool(fields.IsPartial)),
                ua.Variant(False), ua.Variant(int(fields.ResultState), ua.VariantType.Int32),
                ua.Variant(ua.MeasIdDataType()), ua.Variant(fields.PartId),
                ua.Variant(structure('RecipeIdExternalDataType',
                                     self.server.nodes.namespace_index)()),
                ua.Variant(fields.InternalRecipeId), ua.Variant(ua.ProductIdDataType()),
                ua.Variant(structure('ConfigurationIdDataType',
                                     self.server.nodes.namespace_index)()),
                ua.Variant(fields.InternalConfigurationId), ua.Variant(fields.JobId),
                ua.Variant(fields.CreationTime, ua.VariantType.DateTime),
                ua.Variant(fields.ProcessingTimes),
                ua.Variant(fields.ResultContent or [], ua.VariantType.Variant),
                _int32(OK if result else FAILED)]

    # -- ConfigurationManagement (one configuration: the node's parameters) -----------------

    def _configuration(self):
        config_id = self._id('ConfigurationIdDataType', self.server.config.configuration_id)
        return config_id, ua.ConfigurationDataType(InternalId=config_id,
                                                   LastModified=utc(self.server.started_at))

    async def get_configuration_list(self, parent, *arguments):
        """Return the one configuration."""
        return [ua.Variant(True), ua.Variant(1, ua.VariantType.UInt32),
                ua.Variant(self.server.recipes.open_handle(), ua.VariantType.UInt32),
                ua.Variant([self._configuration()[1]]), _int32(OK)]

    async def get_configuration_by_id(self, parent, internal_id=None, timeout=None):
        """Return the configuration if its id is asked for."""
        wanted = _text_id(getattr(internal_id, 'Value', None))
        found = wanted == self.server.config.configuration_id
        return [ua.Variant(self.server.recipes.open_handle(), ua.VariantType.UInt32),
                ua.Variant(self._configuration()[1] if found else ua.ConfigurationDataType()),
                _int32(OK if found else FAILED)]

    async def activate_configuration(self, parent, internal_id=None):
        """Accept the active configuration's id (the only one); Error 1 for any other."""
        found = _text_id(getattr(internal_id, 'Value', None)) == \
            self.server.config.configuration_id
        return [_int32(OK if found else FAILED)]

    def handlers(self) -> Dict[str, Callable]:
        """Return {method path below the VisionSystem: handler}."""
        automatic = 'VisionStateMachine/AutomaticModeStateMachine'
        return {
            'VisionStateMachine/SelectModeAutomatic': self.select_mode_automatic,
            'VisionStateMachine/Halt': self.halt, 'VisionStateMachine/Reset': self.reset,
            f'{automatic}/StartSingleJob': self.start_single_job,
            f'{automatic}/StartContinuous': self.start_continuous,
            f'{automatic}/Stop': self.stop, f'{automatic}/Abort': self.abort,
            'RecipeManagement/AddRecipe': self.add_recipe,
            'RecipeManagement/PrepareRecipe': self.prepare_recipe,
            'RecipeManagement/UnprepareRecipe': self.unprepare_recipe,
            'RecipeManagement/GetRecipeListFiltered': self.get_recipe_list_filtered,
            'RecipeManagement/ReleaseRecipeHandle': self.release_handle,
            'ResultManagement/GetResultById': self.get_result_by_id,
            'ResultManagement/ReleaseResultHandle': self.release_handle,
            'ResultManagement/GetResultListFiltered': self.get_result_list_filtered,
            'ResultManagement/GetResultComponentsById': self.get_result_components_by_id,
            'ConfigurationManagement/GetConfigurationList': self.get_configuration_list,
            'ConfigurationManagement/GetConfigurationById': self.get_configuration_by_id,
            'ConfigurationManagement/ActivateConfiguration': self.activate_configuration,
            'ConfigurationManagement/ReleaseConfigurationHandle': self.release_handle,
        }


def link_methods(server, nodes, vision_system, model_resolver) -> List[str]:
    """Link every handler to its method node; return the method paths left without one."""
    handlers = VisionSystemMethods(vision_system, model_resolver).handlers()
    for path, node in nodes.methods.items():
        if path in handlers:
            server.link_method(node, handlers[path])
    return sorted(set(nodes.methods) - set(handlers))
