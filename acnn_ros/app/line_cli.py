# SPDX-License-Identifier: Apache-2.0
"""
`acnn line`: the running line from a shell, over rclpy (no `ros2` command needed).

    acnn line status                                          # nodes, states, health, model
    acnn line load-model models/new_product.onnx              # product changeover
    acnn line set reject_actuator_node min_confidence 0.742   # a parameter, live

NODE is a node name (`inference_node`: found in any namespace, e.g. the demo's `/demo_<pid>`)
or a full name (`/line1/inference_node`). With the `ros2` CLI of a full ROS 2 install the same
is `ros2 node list`, `ros2 lifecycle get NODE`, `ros2 topic echo /diagnostics`; `ros2 service
call NODE/load_model acnn_ros/srv/LoadModel "{model_path: PATH}"`; `ros2 param set NODE PARAM
VALUE`. Exit status 0 done, 1 refused by the node (the model did not load - the old one stays -
or the parameter was rejected), 2 bad input or no such node.
"""
import argparse
import os
from pathlib import Path
import sys
from typing import Dict, List, Optional

# Parameters shown by `status` where a node declares them (the model: its id, from /diagnostics).
STATUS_PARAMETERS = ('min_confidence',)


class LineError(Exception):
    """A node, service or parameter the command needs is not there (exit status 2)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register `acnn line status | load-model | set`."""
    parser.add_argument('--wait', type=float, default=10.0,
                        help='at most this many seconds to discover the nodes (default '
                             '%(default)s; DDS discovery takes seconds on a busy machine)')
    actions = parser.add_subparsers(dest='action', metavar='ACTION', required=True)
    actions.add_parser('status', help='nodes of the line: lifecycle state, health, model, '
                                      'min_confidence')
    load = actions.add_parser('load-model', help="swap inference_node's model (atomic; the "
                                                 'old model stays if the new one fails)')
    load.add_argument('model', type=Path, help='.onnx with its .json card beside it')
    load.add_argument('--node', default='inference_node', help='default %(default)s')
    setter = actions.add_parser('set', help='set a parameter of a running node')
    setter.add_argument('node', help='node name or full name')
    setter.add_argument('parameter')
    setter.add_argument('value', help='YAML value: 0.742, true, [a, b], text')


class LineClient:
    """A short-lived node of this process that looks at the line and calls its services."""

    def __init__(self, wait_s: float):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(f'acnn_line_{os.getpid()}', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.wait_s = wait_s

    def close(self) -> None:
        """Destroy the node and shut the context down."""
        import rclpy
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)

    def spin_until(self, condition, timeout_s: float) -> bool:
        """Process callbacks until condition() holds or timeout_s passes."""
        import time
        end = time.monotonic() + timeout_s
        while not condition() and time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.05)
        return bool(condition())

    def nodes(self) -> List[str]:
        """Return the full names of the other nodes seen (not hidden ones; twins twice)."""
        own = self.node.get_fully_qualified_name()
        found = ['/' + f'{ns.strip("/")}/{name}'.lstrip('/')
                 for name, ns in self.node.get_node_names_and_namespaces()
                 if not name.startswith('_')]
        return sorted(n for n in found if n != own)

    def find(self, wanted: str) -> str:
        """Return the full name of node `wanted` (a name or a full name), waiting for it."""
        def matches() -> List[str]:
            if wanted.startswith('/'):
                return [n for n in self.nodes() if n == wanted]
            return [n for n in self.nodes() if n.rsplit('/', 1)[-1] == wanted]
        self.spin_until(matches, self.wait_s)
        found = matches()
        if len(found) > len(set(found)):
            raise LineError(f'{len(found)} nodes called {found[0]} on ROS_DOMAIN_ID '
                            f'{os.environ.get("ROS_DOMAIN_ID", "0")}: two lines share the '
                            'domain; a call would reach either of them')
        if len(found) > 1:
            raise LineError(f'{len(found)} nodes named {wanted}: {", ".join(found)}; give the '
                            'full name')
        if not found:
            seen = ', '.join(self.nodes()) or 'none'
            raise LineError(f'no node {wanted} on ROS_DOMAIN_ID '
                            f'{os.environ.get("ROS_DOMAIN_ID", "0")} within {self.wait_s:g} s '
                            f'(nodes seen: {seen}); is the line running in this environment?')
        return found[0]

    def call(self, service_type, name: str, request, timeout_s: float = 30.0):
        """Call service `name`; return the response (LineError when it is not there)."""
        client = self.node.create_client(service_type, name)
        try:
            if not client.wait_for_service(timeout_sec=self.wait_s):
                raise LineError(f'no service {name}')
            future = client.call_async(request)
            if not self.spin_until(future.done, timeout_s):
                raise LineError(f'{name}: no answer within {timeout_s:g} s')
            return future.result()
        finally:
            self.node.destroy_client(client)

    def has_service(self, name: str) -> bool:
        """Return whether a service `name` is in the graph."""
        return any(n == name for n, _ in self.node.get_service_names_and_types())

    def parameters(self, node: str, names) -> Dict[str, object]:
        """Return the declared parameters of `names` (undeclared ones left out) as Python."""
        from rcl_interfaces.msg import ParameterType
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python
        values = self.call(GetParameters, f'{node}/get_parameters',
                           GetParameters.Request(names=list(names)), timeout_s=10.0).values
        return {n: (v.type, parameter_value_to_python(v)) for n, v in zip(names, values)
                if v.type != ParameterType.PARAMETER_NOT_SET}

    def lifecycle_state(self, node: str) -> Optional[str]:
        """Return the lifecycle state label, or None for a node that is not managed."""
        from lifecycle_msgs.srv import GetState
        if not self.has_service(f'{node}/get_state'):
            return None
        return self.call(GetState, f'{node}/get_state', GetState.Request(),
                         timeout_s=10.0).current_state.label


def status(client: LineClient) -> int:
    """Print every node: lifecycle state, its /diagnostics line, model id, parameters."""
    from diagnostic_msgs.msg import DiagnosticArray
    health: Dict[str, object] = {}
    client.node.create_subscription(
        DiagnosticArray, '/diagnostics',
        lambda msg: health.update({s.name.split(':')[0]: s for s in msg.status}), 50)
    client.spin_until(client.nodes, client.wait_s)       # the first node, then the others
    client.spin_until(lambda: False, 1.5 if client.nodes() else 0.0)

    def heard_from_managed_nodes() -> bool:      # they publish /diagnostics every second
        return all(n in health for n in client.nodes()
                   if client.has_service(f'{n}/get_state'))
    client.spin_until(heard_from_managed_nodes, client.wait_s)
    nodes = client.nodes()
    print(f'ROS_DOMAIN_ID {os.environ.get("ROS_DOMAIN_ID", "0")}: {len(nodes)} node(s)')
    for twin in sorted({n for n in nodes if nodes.count(n) > 1}):
        print(f'warning: {nodes.count(twin)} nodes called {twin}: two lines share the domain')
    for name in sorted(set(nodes)):
        state = client.lifecycle_state(name)
        values = {k: v for k, (_, v) in client.parameters(name, STATUS_PARAMETERS).items()}
        line = f'{name}  {state or "(not managed)"}'
        diagnostic = health.get(name)
        if diagnostic is not None:
            model = {kv.key: kv.value for kv in diagnostic.values}.get('model_id')
            line += f'  "{diagnostic.message}"' + (f'  model {model}' if model else '')
        line += ''.join(f'  {k}={v}' for k, v in values.items())
        print(line)
    if not nodes:
        print('no node seen: start the line in this environment (docs/TUTORIAL.md, step 8)')
        return 2
    return 0


def load_model(client: LineClient, model: Path, node_name: str) -> int:
    """Call NODE/load_model with the absolute path of `model`; print the node's answer."""
    from acnn_ros.srv import LoadModel
    if not model.is_file():
        raise LineError(f'{model}: no such file')
    node = client.find(node_name)
    response = client.call(LoadModel, f'{node}/load_model',
                           LoadModel.Request(model_path=str(model.resolve())))
    print(f'{node}: {response.message}')
    return 0 if response.success else 1


def set_parameter(client: LineClient, node_name: str, parameter: str, text: str) -> int:
    """Set one parameter of a running node to the YAML value `text` (int -> double)."""
    from rcl_interfaces.msg import ParameterType
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter
    import yaml
    node = client.find(node_name)
    current = client.parameters(node, [parameter])
    if parameter not in current:
        raise LineError(f'{node} has no parameter {parameter}')
    kind, before = current[parameter]
    value = yaml.safe_load(text)
    if kind == ParameterType.PARAMETER_DOUBLE and isinstance(value, int) \
            and not isinstance(value, bool):
        value = float(value)
    message = Parameter(parameter, value=value).to_parameter_msg()
    result = client.call(SetParameters, f'{node}/set_parameters',
                         SetParameters.Request(parameters=[message])).results[0]
    if not result.successful:
        print(f'{node}: {parameter} stays {before}: {result.reason or "rejected"}',
              file=sys.stderr)
        return 1
    print(f'{node}: {parameter} {before} -> {value}')
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the action; return the exit status."""
    client = LineClient(args.wait)
    try:
        if args.action == 'status':
            return status(client)
        if args.action == 'load-model':
            return load_model(client, args.model, args.node)
        return set_parameter(client, args.node, args.parameter, args.value)
    except LineError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    finally:
        client.close()
