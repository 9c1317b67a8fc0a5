# SPDX-License-Identifier: Apache-2.0
"""
Read launch/inspect.launch.py without importing `launch` (no wheels here): a small AST reader.

The launch file is kept declarative enough that its arguments, nodes, parameters and remaps
can be extracted by evaluating a handful of expression forms; test_launch.py checks them
against the package and then starts the same nodes as plain processes.
"""
import ast
from dataclasses import dataclass, field
import math
import os
import re
import sys
from typing import Dict, List

from ros_processes import REPO_DIR
import yaml

LAUNCH_FILE = REPO_DIR / 'launch' / 'inspect.launch.py'
PARAMS_FILE = REPO_DIR / 'config' / 'inspect.yaml'


@dataclass
class NodeSpec:
    """One Node(...) or LifecycleNode(...) of the launch file, evaluated for given arguments."""

    package: str
    executable: str
    name: str
    namespace: str
    enabled: bool
    lifecycle: bool = False
    respawn: bool = False
    respawn_delay: object = None
    parameter_files: List[str] = field(default_factory=list)
    parameters: Dict[str, object] = field(default_factory=dict)
    remappings: List[tuple] = field(default_factory=list)
    arguments: List[str] = field(default_factory=list)
    ros_arguments: List[str] = field(default_factory=list)


class LaunchFileReader:
    """Evaluates the small declarative subset of launch used by inspect.launch.py."""

    def __init__(self, path=LAUNCH_FILE):
        self.tree = ast.parse(path.read_text(encoding='utf-8'))
        self.constants = {}
        for stmt in self.tree.body:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                try:
                    self.constants[stmt.targets[0].id] = ast.literal_eval(stmt.value)
                except ValueError:
                    pass
        self.function = next(n for n in self.tree.body if isinstance(n, ast.FunctionDef)
                             and n.name == 'generate_launch_description')

    @property
    def arguments(self):
        """Return {name: (default, description, choices)} from the ARGUMENTS table."""
        return {name: (default, description, choices)
                for name, default, description, choices in self.constants['ARGUMENTS']}

    def calls(self, name):
        """Return every call to `name(...)` in the file."""
        return [n for n in ast.walk(self.tree) if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Name) and n.func.id == name]

    def defaults(self):
        """Return the launch argument defaults as a user's shell would see them."""
        values = {name: default for name, (default, _, _) in self.arguments.items()}
        values['params_file'] = str(PARAMS_FILE)       # share/config/inspect.yaml
        return values

    def nodes(self, overrides=None) -> List[NodeSpec]:
        """Evaluate every Node(...) for the defaults updated with `overrides`."""
        launch_args = dict(self.defaults(), **(overrides or {}))
        env = dict(self.constants)
        for stmt in self.function.body:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                try:
                    env[stmt.targets[0].id] = self._eval(stmt.value, env, launch_args)
                except NotImplementedError:
                    continue
        specs = []
        for group in self.calls('GroupAction'):
            actions = group.args[0].elts
            namespace = ''
            for action in actions:
                if action.func.id == 'PushRosNamespace':
                    namespace = self._eval(action.args[0], env, launch_args)
                elif action.func.id in ('Node', 'LifecycleNode'):
                    specs.append(self._node(action, env, launch_args, namespace))
        return specs

    def _node(self, call, env, launch_args, namespace) -> NodeSpec:
        kw = {k.arg: k.value for k in call.keywords}

        def value(key, default):
            return self._eval(kw[key], env, launch_args) if key in kw else default

        # A relative node namespace goes below the pushed one ('' = the pushed one itself).
        node_namespace = value('namespace', '')
        spec = NodeSpec(package=value('package', None), executable=value('executable', None),
                        name=value('name', None), enabled=value('condition', True),
                        namespace=node_namespace if node_namespace.startswith('/') else
                        '/'.join(p for p in (namespace, node_namespace) if p),
                        lifecycle=call.func.id == 'LifecycleNode',
                        respawn=as_bool(value('respawn', False)),
                        respawn_delay=value('respawn_delay', None),
                        ros_arguments=value('ros_arguments', []))
        for item in self._eval(kw.get('parameters', ast.List([])), env, launch_args):
            if isinstance(item, dict):
                spec.parameters.update(item)
            else:
                spec.parameter_files.append(item)
        # A side given as a list of substitutions is their concatenation.
        spec.remappings = [tuple(''.join(side) if isinstance(side, list) else side
                                 for side in rule) for rule in value('remappings', [])]
        spec.arguments = self._eval(kw.get('arguments', ast.List([])), env, launch_args)
        return spec

    def _eval(self, node, env, launch_args):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self._eval(e, env, launch_args) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {self._eval(k, env, launch_args): self._parameter(v, env, launch_args)
                    for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = [self._eval(a, env, launch_args) for a in node.args]
            name = node.func.id
            if name == 'LaunchConfiguration':
                return launch_args[args[0]]
            if name == 'string_parameter':
                return str(launch_args[args[0]])
            if name == 'FindPackageShare':
                return str(REPO_DIR)          # the share dir has the source tree's layout
            if name == 'PathJoinSubstitution':
                return os.path.join(*args[0])
            if name == 'PythonExpression':
                # What launch does on Humble (Jazzy and Kilted add modules, math by default).
                return str(eval(''.join(args[0]), {}, vars(math)))   # noqa: S307
            if name == 'bool_parameter':
                return as_bool(args[0])
            if name == 'IfCondition':
                return as_bool(args[0])
        raise NotImplementedError(ast.dump(node))

    def _parameter(self, node, env, launch_args):
        value = self._eval(node, env, launch_args)
        is_string = isinstance(node, ast.Call) and node.func.id == 'string_parameter'
        # launch_ros reads substitution results as YAML unless wrapped in ParameterValue(str).
        return value if is_string or not isinstance(value, str) else yaml.safe_load(value)


def as_bool(value) -> bool:
    """Read a condition / bool substitution as launch does ('true', 'True', '1', ...)."""
    text = str(value).strip().lower()
    if text not in ('true', '1', 'false', '0'):
        raise ValueError(f'not a launch boolean: {value!r}')
    return text in ('true', '1')


def node_module(executable: str):
    return REPO_DIR / 'acnn_ros' / 'nodes' / f'{executable}.py'


def cmake_executables():
    text = (REPO_DIR / 'CMakeLists.txt').read_text(encoding='utf-8')
    return set(re.search(r'set\(ACNN_EXECUTABLES([^)]*)\)', text).group(1).split())


def yaml_sections():
    data = yaml.safe_load(PARAMS_FILE.read_text(encoding='utf-8'))
    return {key.rsplit('/', 1)[-1]: (value or {}).get('ros__parameters') or {}
            for key, value in data.items()}


def launch_api_uses(tree):
    """Return ({module: names imported}, {name: [keyword sets of each call]}) of the file."""
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.setdefault(node.module, set()).update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            imported.update({a.name: set() for a in node.names})
    names = set().union(*imported.values())
    calls = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in names:
            calls.setdefault(node.func.id, []).append({k.arg for k in node.keywords})
    return imported, calls


def resolve(namespace, topic, remappings=()):
    """Resolve a node's topic name as rcl does: remap rules (same namespace), then expand."""
    topic = dict(remappings).get(topic, topic)
    return topic if topic.startswith('/') else '/'.join(('', namespace, topic)).replace('//', '/')


def rviz_topics(name: str = 'inspect.rviz'):
    """Return the topic of every display of config/<name>, by display name."""
    config = yaml.safe_load((REPO_DIR / 'config' / name).read_text(encoding='utf-8'))
    return {d['Name']: d['Topic']['Value'] for d in config['Visualization Manager']['Displays']
            if 'Topic' in d}


def command_line(spec: NodeSpec, overrides_file) -> List[str]:
    """Return what `ros2 run` would run for a launch Node, with the same params and remaps."""
    command = [sys.executable, '-m', f'acnn_ros.nodes.{spec.executable}', '--ros-args',
               '-r', f'__node:={spec.name}']
    if spec.namespace:
        command += ['-r', f'__ns:=/{spec.namespace.strip("/")}']
    for path in spec.parameter_files:
        command += ['--params-file', path]
    overrides_file.write_text(yaml.safe_dump(
        {f'/**/{spec.name}': {'ros__parameters': spec.parameters}}), encoding='utf-8')
    command += ['--params-file', str(overrides_file)]
    command += spec.ros_arguments
    for source, target in spec.remappings:
        command += ['-r', f'{source}:={target}']
    return command
