# SPDX-License-Identifier: Apache-2.0
"""
VisionSystemServer: the OPC 40100-1 vision system as an asyncua server on a thread of its own.

Methods of the VisionStateMachine, its automatic mode, RecipeManagement, ResultManagement and
ConfigurationManagement are answered here (core/vision_system/methods.py) on the pure
VisionStateMachine; what a method does to the line (activate, deactivate, load a model) goes
through the `LineControl` its owner gives (vision_system_node: lifecycle and load_model
services), run off the server's loop. The owner reports the line (observe_line) and every
part (add_outcome / add_decision) from any thread; each part's result becomes one
ResultReadyEvent on the VisionSystem object and on the Server object.
"""
import asyncio
import logging
import time
from typing import Callable, Optional, Protocol, Tuple

from acnn_ros.core.frame_key import FrameKey
from acnn_ros.core.plc.loop_server import LoopThreadServer
from acnn_ros.core.results import InspectionOutcome
from acnn_ros.core.vision_system import address_space as space
from acnn_ros.core.vision_system.config import VisionSystemConfig
from acnn_ros.core.vision_system.methods import link_methods
from acnn_ros.core.vision_system.recipes import RecipeBook
from acnn_ros.core.vision_system.result_event import result_event_fields
from acnn_ros.core.vision_system.results import PartDecision, PartResult, ResultBook
from acnn_ros.core.vision_system.security import apply_security
from acnn_ros.core.vision_system.state_machine import Transition, VisionStateMachine
from asyncua import Server, ua

# A stopping server keeps publishing at least FINAL_PUBLISH_S (longer than the publishing
# intervals clients ask for, 20-500 ms) and, while a subscription still holds events not sent
# or not acknowledged, up to FINAL_PUBLISH_MAX_S (shorter than the stop's join timeout).
FINAL_PUBLISH_S = 0.6
FINAL_PUBLISH_MAX_S = 3.0

log = logging.getLogger('acnn_ros.vision_system')


def _events_in_flight(server: Server) -> bool:
    """Return whether a subscription holds events not yet sent or not yet acknowledged."""
    # asyncua keeps both in private fields of its InternalSubscription; without them (another
    # asyncua version) the stop keeps its fixed FINAL_PUBLISH_S.
    for subscription in server.iserver.subscription_service.subscriptions.values():
        if getattr(subscription, '_triggered_events', None) or getattr(
                subscription, '_not_acknowledged_results', None):
            return True
    return False


class LineControl(Protocol):
    """What the vision system does to the line (blocking calls, run off the server loop)."""

    def activate(self) -> str:
        """Configure and activate every node of the line; return '' or why not."""

    def deactivate(self) -> str:
        """Deactivate every node of the line; return '' or why not."""

    def load_model(self, model_path: str) -> Tuple[bool, str]:
        """Swap inference_node's model; return (success, message)."""


class VisionSystemServer(LoopThreadServer):
    """The OPC UA server: start() returns once it listens; thread-safe reporting methods."""

    label = 'vision system OPC UA server'
    thread_name = 'vision-system-server'
    start_timeout_s = 30.0
    stop_timeout_s = 10.0

    def __init__(self, config: VisionSystemConfig, line: LineControl, recipes: RecipeBook,
                 nodeset_file: str, model_resolver: Callable[[str], str] = str):
        """Serve `config`; `model_resolver` turns AddRecipe's model name into a file path."""
        super().__init__(config.server_port, config.server_host)
        self.config = config
        self.line = line
        self.recipes = recipes
        self.nodeset_file = nodeset_file
        self.model_resolver = model_resolver
        self.started_at = time.time()
        self.machine = VisionStateMachine()
        self.results = ResultBook(config.result_history)
        self.job_id = ''
        self.jobs_started = 0
        self.nodes: Optional[space.VisionSystemNodes] = None
        self._server: Optional[Server] = None
        self._lock: Optional[asyncio.Lock] = None
        self._result_event = self._transition_event = None
        self._calls_done_at = 0.0      # line observations taken before this are stale

    @property
    def endpoint(self) -> str:
        """Return the endpoint URL clients connect to."""
        return self.config.endpoint

    def where(self) -> str:
        """Return the endpoint URL (for messages)."""
        return self.endpoint

    # -- reports from the owner (any thread) -------------------------------------------------

    def observe_line(self, all_active: bool, failed: bool, taken_at: float) -> None:
        """Report the line's node states as read at `taken_at` (time.monotonic())."""
        self._submit(self._observe_line(all_active, failed, taken_at))

    def add_outcome(self, key: FrameKey, outcome: InspectionOutcome, total_ms: float) -> None:
        """Report what inference said about a frame (the `inspection` topic)."""
        self._submit(self._add_outcome(key, outcome, total_ms))

    def add_decision(self, decision: PartDecision) -> None:
        """Report a part's decision (the `reject` topic): its result event follows."""
        self._submit(self._add_decision(decision))

    def _submit(self, coroutine) -> None:
        loop = self._loop
        if loop is None or loop.is_closed() or self._lock is None:
            coroutine.close()
            return
        try:
            asyncio.run_coroutine_threadsafe(coroutine, loop)
        except RuntimeError:     # the loop is closing
            coroutine.close()

    # -- server loop -------------------------------------------------------------------------

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name('acnn_ros vision system')
        await apply_security(server, self.config)
        self.nodes = nodes = await space.build_vision_system(server, self.nodeset_file)
        missing = link_methods(server, nodes, self, self.model_resolver)
        if missing:
            log.warning('methods without a handler (Bad_NothingToDo): %s', ', '.join(missing))
        self._transition_event = await server.get_event_generator(
            ua.ObjectIds.TransitionEventType, nodes.vision_system)
        self._result_event = await server.get_event_generator(
            ua.NodeId(space.RESULT_READY_EVENT_TYPE, nodes.namespace_index),
            nodes.vision_system)
        await self._write_states()
        self._server = server
        async with server:
            self._ready.set()
            await self._stop.wait()
            await self._publish_last_results(server)
        self._server = None

    async def _publish_last_results(self, server: Server) -> None:
        """Let a result reported just before the stop reach the subscribed clients."""
        async with self._lock:      # the reports queued on this loop before the stop run first
            pass
        await asyncio.sleep(FINAL_PUBLISH_S)
        deadline = time.monotonic() + FINAL_PUBLISH_MAX_S - FINAL_PUBLISH_S
        while _events_in_flight(server) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def _emit(self, generator, message: str) -> None:
        """Trigger an event on the VisionSystem object, then the same event on the Server."""
        await generator.trigger(message=message)
        event = generator.event
        emitter = event.emitting_node
        event.emitting_node = ua.NodeId(ua.ObjectIds.Server)
        try:
            await generator.isession.subscription_service.trigger_event(event)
        finally:
            event.emitting_node = emitter

    async def _write_states(self) -> None:
        nodes, machine = self.nodes, self.machine
        await space.write_current_state(nodes.state_machine, machine.top, nodes.namespace_index)
        if machine.automatic is None:
            await space.clear_current_state(nodes.automatic)
        else:
            await space.write_current_state(nodes.automatic, machine.automatic,
                                            nodes.namespace_index)

    async def announce(self, transitions: Tuple[Transition, ...]) -> None:
        """Write the current states and emit one TransitionEvent per transition taken."""
        if not transitions:
            return
        await self._write_states()
        for transition in transitions:
            event = self._transition_event.event
            event.Transition = ua.LocalizedText(transition.name)
            event.FromState = ua.LocalizedText(transition.source.name)
            event.ToState = ua.LocalizedText(transition.target.name)
            log.info('vision state: %s', space.transition_message(transition))
            await self._emit(self._transition_event, space.transition_message(transition))

    async def _observe_line(self, all_active: bool, failed: bool, taken_at: float) -> None:
        async with self._lock:
            if taken_at < self._calls_done_at:
                return
            await self.announce(self.machine.observe_line(all_active, failed))

    def calls_done(self) -> None:
        """Mark line observations taken before now as stale (a method changed the line)."""
        self._calls_done_at = time.monotonic()

    async def _add_outcome(self, key, outcome, total_ms) -> None:
        self.results.add_outcome(key, outcome, total_ms)

    async def _add_decision(self, decision: PartDecision) -> None:
        async with self._lock:
            prepared = self.recipes.prepared
            result = self.results.add_decision(
                decision, time.time(), self.job_id, prepared.internal_id if prepared else '',
                self.config.configuration_id)
            await self._emit_result(result)
            done = self.machine.part_done()
            if done is not None:
                self.job_id = ''
                await self.announce((done,))

    async def _emit_result(self, result: PartResult) -> None:
        event = self._result_event.event
        for name, variant in result_event_fields(result, self.nodes.namespace_index).items():
            # asyncua types the event's fields from the type node; structures of a companion
            # namespace come out untyped (Null), so each field carries its own type.
            event.add_property(name, variant.Value, variant.VariantType)
        await self._emit(self._result_event, f'result {result.result_id} of part '
                         f'{result.part_id}: {result.decision.decision}')

    def new_job(self, kind: str) -> str:
        """Return the id of a new job ('single-3', 'continuous-4') and make it current."""
        self.jobs_started += 1
        self.job_id = f'{kind}-{self.jobs_started}'
        return self.job_id
