# SPDX-License-Identifier: Apache-2.0
"""
Read a ROS 2 parameters YAML (`--params-file`) without ROS: the one reader of the package.

Runners that build nodes in one process (the demo) pass the result to each node class as
`parameter_overrides`; `acnn eval-recording --params-file` takes the reject policy from it.

Sections are matched by rcl's rules (test_params_file.py checks them against rclpy): a section
key is a node name with its namespace, written as one key (`/ns/node_name`) or as nested
keys (`ns: {node_name: ...}`), the leading '/' optional; `/*` stands for one namespace or name
token and `/**` for any number of them, so `/**` applies to every node and `/**/node_name` to
that node in any namespace. Every matching section applies, in the order the file first names
it, a later one overriding an earlier one. Nested parameter mappings are flattened to dotted
names (`a: {b: 1}` -> `a.b`).
"""
from pathlib import Path
import re
from typing import Any, Dict, Iterator, Tuple

import yaml

PARAMETERS_KEY = 'ros__parameters'


class ParamsFileError(ValueError):
    """The parameters file is missing or not in the ROS 2 format."""


def _sections(data: Any, path: str) -> Iterator[Tuple[str, Dict[str, Any]]]:
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if key == PARAMETERS_KEY:
            if not isinstance(value, dict) and value is not None:
                raise ParamsFileError(f'{path or "/"}: {PARAMETERS_KEY} must be a mapping')
            yield path, value or {}
        else:
            yield from _sections(value, f'{path}/{str(key).strip("/")}' if path else str(key))


def _flatten(values: Dict[str, Any], prefix: str = '') -> Dict[str, Any]:
    flat = {}
    for key, value in values.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict):
            flat.update(_flatten(value, f'{name}.'))
        else:
            flat[name] = value
    return flat


def load_params_file(path) -> Dict[str, Dict[str, Any]]:
    """Return {section key as written: {parameter: value}} of a ROS 2 parameters file."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding='utf-8'))
    except OSError as exc:
        raise ParamsFileError(f'cannot read parameters file {path}: {exc}') from exc
    except yaml.YAMLError as exc:
        raise ParamsFileError(f'parameters file {path} is not valid YAML: {exc}') from exc
    sections = {}
    for key, values in _sections(data or {}, ''):
        sections.setdefault(key, {}).update(_flatten(values))
    if data and not sections:
        raise ParamsFileError(f'{path} has no {PARAMETERS_KEY} section')
    return sections


def section_applies(key: str, node_fqn: str) -> bool:
    """Return whether section `key` names the node whose fully qualified name is `node_fqn`."""
    name = key if key.startswith('/') else f'/{key}'
    # rclcpp's rule: '/*' stands for one '/token', '/**' for any number of them.
    pattern = re.escape(name).replace(r'/\*\*', r'(/\w+)*').replace(r'/\*', r'(/\w+)')
    return re.fullmatch(pattern, node_fqn, re.ASCII) is not None


def node_parameters(sections: Dict[str, Dict[str, Any]], node_name: str,
                    namespace: str = '/') -> Dict[str, Any]:
    """Return the parameters that apply to node `node_name` in `namespace`, as rcl does."""
    node_fqn = f'{namespace.rstrip("/")}/{node_name}'
    if not node_fqn.startswith('/'):
        node_fqn = f'/{node_fqn}'
    values = {}
    for key, section in sections.items():
        if section_applies(key, node_fqn):
            values.update(section)
    return values
