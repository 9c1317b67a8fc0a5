# SPDX-License-Identifier: Apache-2.0
"""VisionSystemConfig: the vision_system_node's settings (every default once) and parameters."""
from dataclasses import dataclass
from typing import Tuple

from acnn_ros.core.parameter_spec import field_spec, ParameterSpec

SECURITY_MODES = ('none', 'sign', 'sign_encrypt')
NODESET_FILE = ('resource/opcua/node_modules/node-opcua-nodesets/nodesets/'
                'Opc.Ua.MachineVision.NodeSet2.xml')


@dataclass(frozen=True)
class VisionSystemConfig:
    """Where the server listens, what it maps onto, and who may call it."""

    server_host: str = '127.0.0.1'
    server_port: int = 4841
    nodeset_file: str = NODESET_FILE
    line_nodes: Tuple[str, ...] = ('camera_node', 'inference_node', 'reject_actuator_node')
    inference_node: str = 'inference_node'
    recipes: Tuple[str, ...] = ('resource/models/acnn_demo.onnx',)
    configuration_id: str = 'inspect'
    result_history: int = 100
    line_period_s: float = 0.5
    service_timeout_s: float = 30.0
    security_mode: str = 'none'
    allow_anonymous: bool = True
    users_file: str = ''
    certificate_dir: str = '~/.acnn_ros/opcua'

    def __post_init__(self):
        """Check the values a server cannot start with."""
        if self.security_mode not in SECURITY_MODES:
            raise ValueError(f'security_mode {self.security_mode!r}: one of '
                             f'{", ".join(SECURITY_MODES)}')
        if self.security_mode != 'none' and not self.allow_anonymous and not self.users_file:
            raise ValueError('security on without anonymous access needs users_file')
        if not self.line_nodes:
            raise ValueError('line_nodes is empty: the vision system maps onto no node')

    @property
    def endpoint(self) -> str:
        """Return the endpoint URL clients connect to."""
        return f'opc.tcp://{self.server_host}:{self.server_port}/acnn_ros/vision_system/'


def _spec(name: str, description: str, low=None, high=None, choices=()) -> ParameterSpec:
    return field_spec(VisionSystemConfig, name, description, low, high, choices)


PARAMETERS: Tuple[ParameterSpec, ...] = (
    _spec('server_host', 'address the OPC UA server binds (127.0.0.1: this machine only)'),
    _spec('server_port', 'TCP port of the OPC UA server', 1, 65535),
    _spec('nodeset_file', 'the official MachineVision NodeSet2 (absolute, or relative to the '
          'acnn_ros share dir / checkout; scripts/setup.sh installs it)'),
    _spec('line_nodes', 'the managed nodes whose lifecycle states make the vision state'),
    _spec('inference_node', 'the node whose load_model service prepares a recipe'),
    _spec('recipes', 'model files (.onnx with their card) offered as recipes at start'),
    _spec('configuration_id', 'InternalConfigurationId of every result'),
    _spec('result_history', 'results kept for GetResultById', 1, 100000),
    _spec('line_period_s', "how often the nodes' lifecycle states are read", 0.05, 60.0),
    _spec('service_timeout_s', 'longest wait for a lifecycle or load_model service', 0.1,
          600.0),
    _spec('security_mode', f'OPC UA message security: {" | ".join(SECURITY_MODES)} '
          '(sign / sign_encrypt: Basic256Sha256)', choices=SECURITY_MODES),
    _spec('allow_anonymous', 'accept anonymous sessions (false: a user of users_file)'),
    _spec('users_file', 'user names and passwords, one `name:password` a line'),
    _spec('certificate_dir', 'where the server certificate is made on first start and kept'),
)
