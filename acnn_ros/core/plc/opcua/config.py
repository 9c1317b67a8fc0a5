# SPDX-License-Identifier: Apache-2.0
"""
The OPC UA settings: the PLC's server and the variables that belong to the vision system.

The one place their defaults are written; parameters `opcua_*` and the shared `plc_*` link
timing (docs/LINE_INTEGRATION.md, "OPC UA backend"). asyncua is imported only to check node
ids, when an OPC UA configuration is built.
"""
from dataclasses import dataclass
from typing import Tuple
from urllib.parse import urlparse

from acnn_ros.core.parameter_spec import ParameterSpec
from acnn_ros.core.plc.contract import LinkTiming
from acnn_ros.core.plc.protocol_config import check_ranges, protocol_spec, timing_parameters

PREFIX = 'opcua_'


def _check_node_id(role: str, node_id: str, namespace: str) -> None:
    from asyncua import ua   # the parser of the library that will use the node id
    if not node_id:
        raise ValueError(f'{role} must name a node id, e.g. s=Vision.PartId')
    text = node_id if node_id.startswith('ns=') else f'ns=0;{node_id}'
    try:
        if ua.NodeId.from_string(text).Identifier in ('', None):
            raise ValueError('empty identifier')
    except (ua.UaStringParsingError, ValueError) as exc:
        raise ValueError(f'{role} {node_id!r} is not an OPC UA node id '
                         f"('s=Name', 'i=1001' or 'ns=2;s=Name'): {exc}") from None
    if not namespace and not node_id.startswith('ns='):
        raise ValueError(f"{role} {node_id!r} has no 'ns=' and opcua_namespace is empty: "
                         'give the namespace URI (or index) or a full node id')


@dataclass(frozen=True, kw_only=True)
class OpcUaConfig(LinkTiming):
    """Where the OPC UA server is and which variables belong to the vision system."""

    endpoint: str = 'opc.tcp://127.0.0.1:4840'
    namespace: str = 'urn:acnn_ros:vision'   # URI, or an index ('2'); '': node ids carry ns=
    part_id_node: str = 's=Vision.PartId'
    verdict_node: str = 's=Vision.Verdict'
    reason_node: str = 's=Vision.Reason'
    heartbeat_node: str = 's=Vision.Heartbeat'   # '': no heartbeat
    valid_until_node: str = 's=Vision.ValidUntil'   # '': no validity stamp

    def __post_init__(self):
        url = urlparse(self.endpoint)
        try:
            port = url.port
        except ValueError as exc:
            raise ValueError(f'opcua_endpoint {self.endpoint!r}: {exc}') from None
        if url.scheme != 'opc.tcp' or not url.hostname or port is None:
            raise ValueError(f'opcua_endpoint {self.endpoint!r} must look like '
                             "'opc.tcp://host:port[/path]'")
        for role in ('part_id_node', 'verdict_node', 'reason_node'):
            _check_node_id(f'opcua_{role}', getattr(self, role), self.namespace)
        for role in ('heartbeat_node', 'valid_until_node'):
            if getattr(self, role):
                _check_node_id(f'opcua_{role}', getattr(self, role), self.namespace)
        roles = [self.part_id_node, self.verdict_node, self.reason_node, self.heartbeat_node,
                 self.valid_until_node]
        roles = [node for node in roles if node]
        if len(set(roles)) != len(roles):
            raise ValueError(f'OPC UA decision and heartbeat nodes must differ, got {roles}')
        if self.heartbeat_period_s <= 0 or self.timeout_s <= 0:
            raise ValueError('heartbeat_period_s and timeout_s must be positive')
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            raise ValueError('need 0 < reconnect_min_s <= reconnect_max_s')
        check_ranges(self, PREFIX, PARAMETERS)


def _spec(name: str, description: str) -> ParameterSpec:
    return protocol_spec(OpcUaConfig, PREFIX, name, description)


PARAMETERS: Tuple[ParameterSpec, ...] = (
    _spec('endpoint', 'OPC UA server of the PLC, opc.tcp://host:port[/path] (opcua)'),
    _spec('namespace',
          "namespace URI (or index) of the node ids below; '': node ids carry ns= (opcua)"),
    _spec('part_id_node', 'UInt32 variable: part id of the decision'),
    _spec('verdict_node', 'UInt16 variable: 1 accept, 2 reject (same write as the part id)'),
    _spec('reason_node', 'UInt16 variable: RejectEvent reason (same write as the part id)'),
    _spec('heartbeat_node', "Boolean variable toggled every plc_heartbeat_period_s; '': none"),
    _spec('valid_until_node',
          "UtcTime variable: the decision's deadline, same write as the part id; the PLC "
          "ignores a decision whose ValidUntil passed (clocks synchronised); '': none"),
) + timing_parameters()
