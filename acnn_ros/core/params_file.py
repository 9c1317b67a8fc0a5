# SPDX-License-Identifier: Apache-2.0
"""
Read a ROS 2 parameters YAML (`--params-file`) without ROS.

Runners that build nodes in one process (the demo) pass the result to each node class as
`parameter_overrides`.

Sections are matched like rcl does for a node without a namespace: `/**` applies to every
node, then `/**/name`, `name` and `/name`, later sections overriding earlier ones. Nested
parameter mappings are flattened to dotted names (`a: {b: 1}` -> `a.b`).
"""
from pathlib import Path
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


def node_parameters(sections: Dict[str, Dict[str, Any]], node_name: str) -> Dict[str, Any]:
    """Return the parameters that apply to `node_name` (no namespace), in rcl's order."""
    values = {}
    for key in ('/**', '**', f'/**/{node_name}', f'**/{node_name}', node_name, f'/{node_name}'):
        values.update(sections.get(key, {}))
    return values
