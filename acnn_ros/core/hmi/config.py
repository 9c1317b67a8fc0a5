# SPDX-License-Identifier: Apache-2.0
"""
hmi_node's configuration: where the page is served, the shift database, what it watches.

The page is served on 127.0.0.1 by default. Bound to any other address it must have a `token`
(configure fails without one): a browser then opens `http://<host>:<port>/?token=<token>` once,
and the server keeps it in a cookie; scripts send the header `X-Acnn-Token`.
"""
from dataclasses import dataclass, fields
import ipaddress
import os
from typing import Any, Mapping, Tuple

from acnn_ros.core.parameter_spec import field_spec, ParameterSpec

LOOPBACK_NAMES = ('localhost',)


def is_loopback(host: str) -> bool:
    """Return whether `host` is a loopback address (127.0.0.0/8, ::1, localhost)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HmiConfig:
    """Validated configuration of hmi_node."""

    bind_address: str = '127.0.0.1'
    port: int = 8080
    token: str = ''
    database: str = '~/.ros/acnn_shift.sqlite'
    station_id: str = 'station1'
    archive_dir: str = ''
    gallery_size: int = 24
    push_period_s: float = 0.25
    state_period_s: float = 1.0
    counters_topic: str = 'reject_actuator_node/counters'
    reset_service: str = 'reject_actuator_node/reset_counters'
    watched_nodes: Tuple[str, ...] = ('camera_node', 'inference_node', 'reject_actuator_node')

    def __post_init__(self):
        """Refuse a configuration that cannot work or would expose the page unprotected."""
        if not is_loopback(self.bind_address) and not self.token:
            raise ValueError(f'bind_address {self.bind_address} is not loopback: set a token '
                             '(the page would be open to anyone on that network)')
        if self.token and len(self.token) < 12:
            raise ValueError('token: at least 12 characters')
        if not self.station_id:
            raise ValueError('station_id must not be empty')
        if not self.database:
            raise ValueError('database: a SQLite file path or a postgresql:// URL')

    @property
    def database_url(self) -> str:
        """Return the database with `~` expanded in a file path (a URL unchanged)."""
        if '://' in self.database:
            return self.database
        path = os.path.expanduser(self.database)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return path

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> 'HmiConfig':
        """Build from a {parameter name: value} mapping (missing names keep defaults)."""
        kwargs = {}
        for spec in fields(cls):
            if spec.name not in values:
                continue
            value = values[spec.name]
            if spec.name == 'watched_nodes':
                kwargs[spec.name] = tuple(name for name in value if name)
            else:
                kwargs[spec.name] = type(spec.default)(value)
        return cls(**kwargs)


def _field(name: str, description: str, low=None, high=None) -> ParameterSpec:
    return field_spec(HmiConfig, name, description, low, high)


PARAMETERS: Tuple[ParameterSpec, ...] = (
    _field('bind_address', 'address the page is served on; not loopback: token required'),
    _field('port', 'TCP port of the page (0: any free port, said in the log)', 0, 65535),
    _field('token', "access token, required when bind_address is not loopback ('': none)"),
    _field('database', 'shift database: SQLite file path or postgresql:// URL (psycopg 3)'),
    _field('station_id', 'this station in the shift database (one database, many stations)'),
    _field('archive_dir', "reject_actuator_node's archive_dir: gallery images ('': none)"),
    _field('gallery_size', 'rejects shown in the gallery', 1, 200),
    _field('push_period_s', 'at most one page update per period (s)', 0.02, 5.0),
    _field('state_period_s', 'lifecycle states of the watched nodes read every (s)', 0.2, 60.0),
    _field('counters_topic', "LineCounters of reject_actuator_node (its '~/counters')"),
    _field('reset_service', "reject_actuator_node's counter reset (called with a shift reset)"),
    _field('watched_nodes', 'managed nodes whose lifecycle state the page shows'),
)
