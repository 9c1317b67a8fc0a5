# SPDX-License-Identifier: Apache-2.0
"""
Commissioning link to the PLC's OPC UA server (`acnn plc`): the configured variables only.

Runs asyncua's client on a private event loop, one bounded call at a time (a command-line
tool needs no thread). Node ids are resolved as the actuator resolves them
(core/plc/opcua/client.py):
without `ns=` in `namespace` (a URI looked up on the server, or an index).
"""
import asyncio
import time
from typing import Dict, List

from acnn_ros.core.plc.commissioning import (COMMISSIONING_VALIDITY_MS, MapEntry,
                                             PlcDecisionBlock, PlcLink, PlcLinkError)
from acnn_ros.core.plc.opcua.client import (decision_values, resolve_decision_nodes,
                                            UnknownNamespace)
from acnn_ros.core.plc.opcua.config import OpcUaConfig
from asyncua import Client, ua

DECISION_ROLES = ('part_id', 'verdict', 'reason')


class OpcUaLink(PlcLink):
    """The PLC's OPC UA server: read-back and test writes of the configured variables."""

    backend = 'opcua'
    has_coil = False

    def __init__(self, config: OpcUaConfig, timeout_s: float = 1.0):
        self.config = config
        self.timeout_s = timeout_s
        self.has_heartbeat = bool(config.heartbeat_node)
        self._loop = None
        self._client = None
        self._nodes: Dict[str, object] = {}

    def where(self) -> str:
        """Return the endpoint."""
        return self.config.endpoint

    def _run(self, what: str, coroutine, timeout_s: float = None):
        try:
            return self._loop.run_until_complete(
                asyncio.wait_for(coroutine, timeout_s or self.timeout_s))
        except asyncio.TimeoutError:
            raise PlcLinkError(f'{what}: no answer from {self.where()} within '
                               f'{timeout_s or self.timeout_s:g} s') from None
        except ua.UaStatusCodeError as exc:
            raise PlcLinkError(f'{what}: the server refused it: {type(exc).__name__} '
                               f'({exc})') from None
        except (ConnectionError, OSError, ua.UaError) as exc:
            raise PlcLinkError(f'{what}: {type(exc).__name__} {exc}'.strip()) from None

    def connect(self) -> None:
        """Connect and resolve the node ids; raise PlcLinkError saying why not."""
        self._loop = asyncio.new_event_loop()
        client = Client(self.config.endpoint, timeout=self.timeout_s)
        client.application_uri = 'urn:acnn_ros:acnn_plc'
        client.name = client.description = 'acnn_ros acnn plc (commissioning)'
        try:
            self._run(f'cannot connect to the OPC UA server {self.where()} (check '
                      'opcua_endpoint)', client.connect(auto_reconnect=False),
                      timeout_s=max(2.0, self.timeout_s))
        except PlcLinkError:
            client.disconnect_socket()
            self._close_loop()
            raise
        self._client = client
        try:
            self._nodes = self._resolve()
        except PlcLinkError:
            self.close()   # `with` does not close what failed to connect
            raise

    def _resolve(self) -> Dict[str, object]:
        try:
            return self._run('look up the namespace',
                             resolve_decision_nodes(self._client, self.config))
        except UnknownNamespace:
            raise PlcLinkError(f'namespace {self.config.namespace!r} (opcua_namespace) is not on '
                               f'the server {self.where()}') from None

    def close(self) -> None:
        """Close the session and the loop."""
        if self._client is not None:
            try:
                self._run('disconnect', self._client.disconnect())
            except PlcLinkError:
                pass
            finally:
                self._client.disconnect_socket()
                self._client = None
        self._close_loop()

    def _close_loop(self) -> None:
        """Finish the client's background tasks (asyncua leaves some), then close the loop."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()

        async def finish():
            await asyncio.gather(*tasks, return_exceptions=True)
        loop.run_until_complete(finish())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def _read(self, roles) -> List[object]:
        nodes = [self._nodes[role] for role in roles]
        values = self._run(f'read {", ".join(str(n.nodeid.to_string()) for n in nodes)}',
                           self._client.read_attributes(nodes, ua.AttributeIds.Value))
        result = []
        for node, value in zip(nodes, values):
            if not value.StatusCode.is_good():
                raise PlcLinkError(f'read {node.nodeid.to_string()}: the server answered '
                                   f'{value.StatusCode.name} (does the variable exist?)')
            result.append(value.Value.Value)
        return result

    def read_heartbeat(self) -> bool:
        """Return the heartbeat variable's value."""
        if not self.has_heartbeat:
            raise PlcLinkError("no heartbeat variable configured (opcua_heartbeat_node '')")
        return self._read(('heartbeat',))[0]

    def write_decision(self, decision: PlcDecisionBlock) -> None:
        """
        Write PartId, Verdict, Reason (+ ValidUntil) in one Write request, as the actuator.

        ValidUntil is now + COMMISSIONING_VALIDITY_MS: a hand-made decision is looked at for a
        while, not acted on at a part's due time.
        """
        roles, valid_until = DECISION_ROLES, None
        if self.config.valid_until_node:
            roles = DECISION_ROLES + ('valid_until',)
            valid_until = time.time() + COMMISSIONING_VALIDITY_MS / 1000.0
        nodes = [self._nodes[role] for role in roles]
        self._run('write the decision variables',
                  self._client.write_values(nodes, decision_values(*decision, valid_until)))

    def read_decision(self) -> PlcDecisionBlock:
        """Read PartId, Verdict and Reason back."""
        return PlcDecisionBlock(*(int(v or 0) for v in self._read(DECISION_ROLES)))


def register_map(opc: OpcUaConfig, pulse_width_s: float) -> List[MapEntry]:
    """Return the variables reject_actuator_node writes with `opc`."""
    block = 'once per part, one Write request'
    entries = [
        MapEntry('variable', opc.part_id_node, 'UInt32', block, 'part id'),
        MapEntry('variable', opc.verdict_node, 'UInt16', block, 'verdict: 1 accept, 2 reject'),
        MapEntry('variable', opc.reason_node, 'UInt16', block,
                 'reason: RejectEvent.REASON_* (0 none ... 6 no result)')]
    if opc.valid_until_node:
        entries.append(MapEntry('variable', opc.valid_until_node, 'UtcTime', block,
                                'valid until: ignore the decision after it'))
    if opc.heartbeat_node:
        entries.append(MapEntry('variable', opc.heartbeat_node, 'Boolean',
                                f'every {opc.heartbeat_period_s:g} s',
                                'heartbeat: toggles while vision runs'))
    return entries
