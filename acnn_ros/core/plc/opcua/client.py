# SPDX-License-Identifier: Apache-2.0
"""
PLC client over OPC UA (asyncua 2.1.0, pinned: its client connection handling changed in 2.x).

Variables on the PLC (node ids configurable, resolved in `namespace` at every connection;
nothing else is ever written; docs/LINE_INTEGRATION.md "OPC UA backend"):

- decision: PartId (UInt32), Verdict (UInt16: 1 accept, 2 reject), Reason (UInt16,
  RejectEvent.REASON_*) and ValidUntil (UtcTime: the decision's deadline; optional), written in
  ONE Write service request, so the PLC never sees a part id with another part's verdict. The
  PLC ignores a decision whose ValidUntil has passed at receipt (its clock and the vision PC's
  synchronised, as OPC UA timestamps need; the skew is checked against the server's
  ServerStatus.CurrentTime at every connection): a stalled server never applies an old one.
  Writing the same decision twice has the same effect as once (keyed by part id): a write whose
  reply was lost is simply written again.
- heartbeat (Boolean, optional): toggled every `heartbeat_period_s` while vision is ready;
  the PLC treats a heartbeat that stops changing as "vision down" and rejects every part.
- vision not ready (`set_ready(False)`: node deactivated or shutting down): the heartbeat stops
  and PartId 0 (never a part), Verdict 0 (no verdict), Reason 0 are written in one request;
  `set_ready(True)` restarts the heartbeat.

There is no ejector output pulse: the PLC fires the ejector from the decision. Use timing
`plc_tracking` (decision written at once, the PLC tracks the part by encoder), or
`fixed_delay`, where the decision written at the due time IS the trigger.

Values go out without source timestamps (several PLC servers refuse writes that carry one).
Everything runs on an asyncio loop in a thread of its own, so a server that accepts TCP and
never answers costs missed decisions, never a blocked caller. The connection is kept by our own
bounded exponential back-off loop (asyncua's auto_reconnect is off: one mechanism only, and a
write during its reconnection fails anyway).
"""
import asyncio
from datetime import datetime, timezone
import logging
import time
from typing import Callable, Dict, List, Optional

from acnn_ros.core.plc.contract import (ActuationCommand, NOT_READY_PART_ID,
                                        VERDICT_NONE)
from acnn_ros.core.plc.loop_actuator import (FAILURES_BEFORE_RECONNECT, LoopThreadActuator,
                                             PlcUnavailable)
from acnn_ros.core.plc.opcua.config import OpcUaConfig
from asyncua import Client, ua
from asyncua.client.ua_client import UaClientState

# Longest wait for the whole connect sequence (hello, channel, session, namespace lookup).
CONNECT_TIMEOUT_S = 2.0
# Longest wait for a goodbye (close session) to a server at shutdown.
CLOSE_TIMEOUT_S = 0.5
# Clock skew to the server beyond which validity stamps are said to be unreliable (asyncua
# servers refresh ServerStatus.CurrentTime once a second).
MAX_CLOCK_SKEW_S = 1.5

# Answers that mean the session or the channel is gone (a server that restarted its sessions,
# or expired ours): not a refusal of this write, so reconnect and retry until the deadline.
SESSION_LOST = frozenset(getattr(ua.StatusCodes, name) for name in (
    'BadSessionIdInvalid', 'BadSessionClosed', 'BadSessionNotActivated',
    'BadSecureChannelIdInvalid', 'BadSecureChannelClosed', 'BadServerHalted', 'BadShutdown',
    'BadCommunicationError', 'BadConnectionClosed', 'BadNoCommunication',
    'BadServerNotConnected', 'BadNotConnected'))

PART_ID_TYPE = ua.VariantType.UInt32
VERDICT_TYPE = ua.VariantType.UInt16
REASON_TYPE = ua.VariantType.UInt16
HEARTBEAT_TYPE = ua.VariantType.Boolean
VALID_UNTIL_TYPE = ua.VariantType.DateTime


def decision_values(part_id: int, verdict: int, reason: int,
                    valid_until: Optional[float] = None) -> List[ua.DataValue]:
    """Return the PartId, Verdict, Reason (+ ValidUntil) values of one decision."""
    values = [ua.DataValue(ua.Variant(part_id & 0xFFFFFFFF, PART_ID_TYPE)),
              ua.DataValue(ua.Variant(verdict, VERDICT_TYPE)),
              ua.DataValue(ua.Variant(reason, REASON_TYPE))]
    if valid_until is not None:
        values.append(ua.DataValue(ua.Variant(
            datetime.fromtimestamp(valid_until, timezone.utc), VALID_UNTIL_TYPE)))
    return values


class UnknownNamespace(LookupError):
    """The configured namespace URI is not in the server's namespace array."""


async def resolve_decision_nodes(client: Client, config: 'OpcUaConfig') -> Dict[str, object]:
    """
    Return the configured nodes by role (part_id, verdict, reason, heartbeat if set).

    Node ids without `ns=` live in `config.namespace` (an index, or a URI looked up on the
    server: UnknownNamespace when it is not there). The actuator and `acnn plc` both use this.
    """
    namespace = config.namespace
    index = None
    if namespace.isdigit():
        index = int(namespace)
    elif namespace:
        try:
            index = await client.get_namespace_index(namespace)
        except ValueError:
            raise UnknownNamespace(f'namespace {namespace!r} is not on the server') from None
    roles = {'part_id': config.part_id_node, 'verdict': config.verdict_node,
             'reason': config.reason_node, 'heartbeat': config.heartbeat_node,
             'valid_until': config.valid_until_node}
    return {role: client.get_node(node if node.startswith('ns=') else f'ns={index};{node}')
            for role, node in roles.items() if node}


class _Refused(PlcUnavailable):
    """The server answered the write with a bad status (type, access, unknown node)."""


class OpcUaActuator(LoopThreadActuator):
    """Write decisions and the heartbeat to a PLC's OPC UA server."""

    name = 'opcua'
    label = 'OPC UA'
    target = 'OPC UA server'

    def __init__(self, config: OpcUaConfig, clock: Callable[[], float] = time.time,
                 logger: Optional[logging.Logger] = None):
        super().__init__(config, clock, logger)
        self._client: Optional[Client] = None
        self._nodes: Dict[str, object] = {}
        self._skew_said = False
        self.clock_skew_s: Optional[float] = None

    def where(self) -> str:
        """Return the endpoint."""
        return self.config.endpoint

    # -- loop thread -----------------------------------------------------------------------

    def _heartbeat_enabled(self) -> bool:
        return bool(self.config.heartbeat_node)

    async def _close(self) -> None:
        if self._client is not None:
            await self._close_client(self._client)

    async def _close_client(self, client: Client) -> None:
        try:
            await asyncio.wait_for(client.disconnect(), CLOSE_TIMEOUT_S)
        except (asyncio.TimeoutError, ConnectionError, OSError, ua.UaError) as exc:
            self._log.debug(f'OPC UA disconnect: {exc!r}')
        finally:
            client.disconnect_socket()

    async def _connect(self) -> Client:
        client = Client(self.config.endpoint, timeout=CONNECT_TIMEOUT_S,
                        watchdog_intervall=max(self.config.heartbeat_period_s, 0.5))
        client.application_uri = 'urn:acnn_ros:reject_actuator_node'
        client.name = client.description = 'acnn_ros reject_actuator_node'
        client.session_timeout = 60000   # ms: a dead vision system's session ends within 1 min
        try:
            await client.connect(auto_reconnect=False)
            self._nodes = await self._resolve_nodes(client)
        except BaseException:
            client.disconnect_socket()
            raise
        return client

    async def _resolve_nodes(self, client: Client) -> Dict[str, object]:
        try:
            return await resolve_decision_nodes(client, self.config)
        except UnknownNamespace as exc:
            raise _Refused(str(exc)) from None

    async def _keep_connected(self) -> None:
        delay = self.config.reconnect_min_s
        while True:
            client = self._client
            if client is not None:
                # _connected cleared (a condemned connection or a lost session) means a new
                # one, even when an answer to another request reset _failures meanwhile.
                if (client.state is UaClientState.CONNECTED and self._connected.is_set()
                        and self._failures < FAILURES_BEFORE_RECONNECT):
                    self._link_settle()
                    await asyncio.sleep(0.02)
                    continue
                self._link_failed(f'{client.state.value}, {max(self._failures, 1)} requests '
                                  f'unanswered ({self.last_error})')
                self._connected.clear()
                self._client = None
                await self._close_client(client)
            try:
                self._client = await asyncio.wait_for(self._connect(), CONNECT_TIMEOUT_S)
            except (asyncio.TimeoutError, ConnectionError, OSError, ua.UaError,
                    _Refused) as exc:
                self.stats['connect_failures'] += 1
                self.last_error = (f'connect to {self.config.endpoint} failed: '
                                   f'{type(exc).__name__} {exc}'.strip())
                self._link_failed(self.last_error)
                await asyncio.sleep(delay)
                delay = min(delay * 2.0, self.config.reconnect_max_s)
                continue
            self.stats['connects'] += 1
            self._failures = 0
            self.responding = True
            delay = self.config.reconnect_min_s
            await self._check_clock_skew()
            self._link_up()
            self._connected.set()

    async def _check_clock_skew(self) -> None:
        """Compare the server's clock with ours once per connection; say a large skew once."""
        if not self.config.valid_until_node:
            return
        try:
            node = self._client.get_node(ua.NodeId(ua.ObjectIds.Server_ServerStatus_CurrentTime))
            server_time = await asyncio.wait_for(node.read_value(), self.config.timeout_s)
        except (asyncio.TimeoutError, ConnectionError, OSError, ua.UaError) as exc:
            self._log.debug(f'OPC UA server clock not read: {exc!r}')
            return
        if server_time.tzinfo is None:
            server_time = server_time.replace(tzinfo=timezone.utc)
        self.clock_skew_s = skew = server_time.timestamp() - self._clock()
        if abs(skew) > MAX_CLOCK_SKEW_S and not self._skew_said:
            self._skew_said = True
            self._log.error(f'OPC UA {self.config.endpoint}: the server clock is {skew:+.1f} s '
                            'from this PC: ValidUntil stamps are off by that much; synchronise '
                            'both clocks (NTP / PTP)')

    async def _write(self, roles, values, deadline: float) -> None:
        """Write `values` to the nodes of `roles` in one request; retry until the deadline."""
        while True:
            await self._wait_for_link(deadline)
            client, nodes = self._client, [self._nodes[role] for role in roles]
            left = deadline - self._clock()
            if left <= 0:
                raise PlcUnavailable(self.last_error or 'deadline passed')
            budget = min(self.config.timeout_s, left)
            try:
                await asyncio.wait_for(client.write_values(nodes, values), timeout=budget)
            except ua.UaStatusCodeError as exc:
                if exc.code in SESSION_LOST:
                    self._failures = FAILURES_BEFORE_RECONNECT   # make a new session now
                    self._connected.clear()
                    self.last_error = f'session lost: {type(exc).__name__}'
                    continue
                self._answered()   # it answered: no connection problem
                raise _Refused(f'server refused the write: {exc}') from None
            except (asyncio.TimeoutError, ConnectionError, OSError, ua.UaError) as exc:
                self._unanswered(exc, budget)
                if client.state is not UaClientState.CONNECTED:
                    self._connected.clear()
                await asyncio.sleep(0.005)
                continue
            self._answered()
            return

    async def _send_decision(self, command: ActuationCommand) -> float:
        await self._write(*self._decision(command.part_id, command.verdict, command.reason,
                                          command.deadline), command.deadline)
        return self._clock()

    def _decision(self, part_id: int, verdict: int, reason: int, valid_until: float):
        """Return the roles and values of one decision (ValidUntil when configured)."""
        if not self.config.valid_until_node:
            return ('part_id', 'verdict', 'reason'), decision_values(part_id, verdict, reason)
        return (('part_id', 'verdict', 'reason', 'valid_until'),
                decision_values(part_id, verdict, reason, valid_until))

    async def _write_not_ready(self, deadline: float) -> None:
        await self._write(*self._decision(NOT_READY_PART_ID, VERDICT_NONE, 0, deadline),
                          deadline)

    async def _write_heartbeat(self, value: bool, deadline: float) -> None:
        await self._write(('heartbeat',), [ua.DataValue(ua.Variant(value, HEARTBEAT_TYPE))],
                          deadline)
