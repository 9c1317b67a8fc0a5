# SPDX-License-Identifier: Apache-2.0
"""
The architecture as tests: imports point one way and modules stay small.

app -> nodes -> runtime -> core, model -> core, offline -> runtime -> core; the core knows no
ROS, no torch and no onnxruntime, and its top-level modules (the shared contracts) know none
of its subsystems. Every package of acnn_ros has a rule, so a new folder cannot slip past.
"""
import ast
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO_DIR / 'acnn_ros'
MAX_MODULE_LINES = 400
# '*_msgs' stands for every message package (std_msgs, sensor_msgs, ...).
ROS_MODULES = ('rclpy', 'acnn_ros.msg', 'acnn_ros.srv', 'builtin_interfaces', 'rcl_interfaces',
               '*_msgs')

# Package (path below acnn_ros, '' = the top level) -> modules it must never import. A
# sub-package follows the rule of its nearest ancestor listed here.
FORBIDDEN = {
    '': ('acnn_ros.nodes', 'acnn_ros.app', 'acnn_ros.runtime', 'acnn_ros.offline',
         'acnn_ros.model') + ROS_MODULES,
    'core': ('torch', 'onnxruntime', 'acnn_ros.runtime', 'acnn_ros.nodes', 'acnn_ros.model',
             'acnn_ros.offline', 'acnn_ros.app') + ROS_MODULES,
    'runtime': ('acnn_ros.nodes', 'acnn_ros.model', 'acnn_ros.offline',
                'acnn_ros.app') + ROS_MODULES,
    'model': ('acnn_ros.runtime', 'acnn_ros.nodes', 'acnn_ros.offline',
              'acnn_ros.app') + ROS_MODULES,
    'nodes': ('torch', 'acnn_ros.model', 'acnn_ros.offline', 'acnn_ros.app'),
    'offline': ('acnn_ros.nodes', 'acnn_ros.app') + ROS_MODULES,
    'app': ('acnn_ros.offline', 'acnn_ros.model'),
}
# The shared contracts on top of the core (modules directly in core/) use no subsystem.
CORE_SUBSYSTEMS = tuple(f'acnn_ros.core.{p.name}' for p in (PACKAGE_DIR / 'core').iterdir()
                        if (p / '__init__.py').is_file())
# The command-line entry imports its sub-commands by name only (importlib): it is exempt from
# the top-level rule, which guards the package's own modules.
TOP_LEVEL_ENTRY_POINTS = {'cli.py'}


def _imported_modules(path: Path):
    """Yield, per import statement, the names it may bring in (`from a import b`: a and a.b)."""
    tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ([alias.name] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield [node.module] + [f'{node.module}.{alias.name}' for alias in node.names]


def _rule_for(module_path: Path, package_dir: Path) -> str:
    parts = module_path.parent.relative_to(package_dir).parts
    if parts and parts[0] not in FORBIDDEN:
        raise AssertionError(f'no layering rule covers {module_path}')
    for depth in range(len(parts), -1, -1):
        key = '/'.join(parts[:depth])
        if key in FORBIDDEN:
            return key
    raise AssertionError(f'no layering rule covers {module_path}')


def _banned(module: str, banned: tuple) -> bool:
    if '*_msgs' in banned and (module.endswith('_msgs') or '_msgs.' in module):
        return True
    return any(module == b or module.startswith(b + '.') for b in banned)


def _violations(package_dir: Path):
    for path in sorted(package_dir.rglob('*.py')):
        rule = _rule_for(path, package_dir)
        if rule == '' and path.name in TOP_LEVEL_ENTRY_POINTS:
            continue
        banned = FORBIDDEN[rule]
        if path.parent == package_dir / 'core':
            banned = banned + CORE_SUBSYSTEMS
        for names in _imported_modules(path):
            hits = [name for name in names if _banned(name, banned)]
            if hits:
                yield f'{path.relative_to(package_dir.parent)} ({rule or "top"}) imports {hits[0]}'


@pytest.mark.linter
def test_imports_point_one_way_in_every_package():
    violations = list(_violations(PACKAGE_DIR))
    assert not violations, '\n'.join(violations)


@pytest.mark.linter
def test_every_package_has_a_rule_and_a_module():
    packages = [p.parent for p in PACKAGE_DIR.rglob('__init__.py')]
    for package in packages:
        _rule_for(package / '__init__.py', PACKAGE_DIR)
    for top in FORBIDDEN:
        if top:
            assert list((PACKAGE_DIR / top).rglob('*.py')), f'rule for a missing package {top}'


@pytest.mark.linter
def test_no_module_over_the_size_limit():
    roots = ('acnn_ros', 'test', 'benchmarks', 'launch', 'scripts')
    too_long = []
    for root in roots:
        for path in sorted((REPO_DIR / root).rglob('*.py')):
            lines = len(path.read_text(encoding='utf-8').splitlines())
            if lines > MAX_MODULE_LINES:
                too_long.append(f'{path.relative_to(REPO_DIR)}: {lines} lines')
    assert not too_long, f'modules over {MAX_MODULE_LINES} lines:\n' + '\n'.join(too_long)


def test_the_checker_sees_each_kind_of_violation(tmp_path):
    package = tmp_path / 'acnn_ros'
    for sub in ('core/camera', 'offline', 'nodes'):
        (package / sub).mkdir(parents=True)
        (package / sub / '__init__.py').write_text('')
    (package / 'core' / '__init__.py').write_text('')
    (package / 'core' / 'contract.py').write_text('from acnn_ros.core.camera import source\n')
    (package / 'core' / 'camera' / 'bad.py').write_text(
        'import rclpy\nfrom sensor_msgs.msg import Image\nimport torch\n')
    (package / 'offline' / 'tool.py').write_text('from acnn_ros.nodes import camera_node\n')
    (package / 'nodes' / 'node.py').write_text('from acnn_ros.app import demo\n')
    global CORE_SUBSYSTEMS
    saved, CORE_SUBSYSTEMS = CORE_SUBSYSTEMS, ('acnn_ros.core.camera',)
    try:
        found = list(_violations(package))
    finally:
        CORE_SUBSYSTEMS = saved
    assert len(found) == 6, found
    (package / 'stray').mkdir()
    (package / 'stray' / '__init__.py').write_text('')
    with pytest.raises(AssertionError, match='no layering rule'):
        _rule_for(package / 'stray' / 'x.py', package)
