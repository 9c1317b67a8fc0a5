# SPDX-License-Identifier: Apache-2.0
"""Imports point one way: nodes -> runtime -> core, model -> core; the core knows no ROS."""
import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / 'acnn_ros'

# Top-level modules a layer must never import (directly, at any place in the file).
FORBIDDEN = {
    'core': ('rclpy', 'torch', 'onnxruntime', 'acnn_ros.runtime', 'acnn_ros.nodes',
             'acnn_ros.model', 'acnn_ros.tools', 'acnn_ros.msg', 'acnn_ros.srv'),
    'runtime': ('rclpy', 'acnn_ros.nodes', 'acnn_ros.tools', 'acnn_ros.msg', 'acnn_ros.srv'),
    'model': ('rclpy', 'acnn_ros.runtime', 'acnn_ros.nodes', 'acnn_ros.tools',
              'acnn_ros.msg', 'acnn_ros.srv'),
}


def _imported_modules(path: Path):
    tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _violations(layer: str):
    for path in sorted((PACKAGE_DIR / layer).glob('*.py')):
        for module in _imported_modules(path):
            for banned in FORBIDDEN[layer]:
                if module == banned or module.startswith(banned + '.') or (
                        module.endswith('_msgs') or '_msgs.' in module):
                    yield f'{path.relative_to(PACKAGE_DIR.parent)} imports {module}'
                    break


@pytest.mark.linter
@pytest.mark.parametrize('layer', sorted(FORBIDDEN))
def test_layer_imports_point_one_way(layer):
    assert list((PACKAGE_DIR / layer).glob('*.py')), f'no modules in {layer}'
    violations = list(_violations(layer))
    assert not violations, '\n'.join(violations)


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    bad = tmp_path / 'acnn_ros' / 'core'
    bad.mkdir(parents=True)
    (bad / 'bad.py').write_text('import rclpy\nfrom sensor_msgs.msg import Image\n')
    monkeypatch.setattr(__import__(__name__), 'PACKAGE_DIR', tmp_path / 'acnn_ros')
    assert len(list(_violations('core'))) == 2
