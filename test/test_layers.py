# SPDX-License-Identifier: Apache-2.0
"""
The architecture as tests: imports point one way and modules stay small.

app -> nodes -> runtime -> core, model -> core, offline -> runtime -> core; the core knows no
ROS, no torch and no onnxruntime, and its top-level modules (the shared contracts) know none
of its subsystems; a core subsystem imports the contracts and only the subsystems its row of
CORE_SUBSYSTEM_IMPORTS allows. Every package of acnn_ros has a rule, so a new folder cannot slip
past. An import is an import statement or a call of importlib.import_module / __import__ with a
literal module name (a dynamic import is an edge too).
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
# Core subsystem -> the other core subsystems it may import (the contracts directly in core/ are
# open to all). Today's edges; a new one fails until it is argued for and added here.
CORE_SUBSYSTEM_IMPORTS = {
    'camera': ('dataset',),             # the synthetic source renders dataset frames
    'dataset': (),
    'plc': (),
    'reject': ('plc',),                 # the scheduler thread drives the Actuator contract
    'replay': ('dataset', 'reject'),    # evaluation reads labels and applies decide()
    'vision_system': ('plc',),          # the OPC UA server runs on plc's LoopThreadServer
    'hmi': ('shift',),                  # the page shows and resets the shift's tally
    'shift': ('reject',),               # part rows name RejectReason / Delivery
}
# The command-line entry imports its sub-commands by name only (importlib): it is exempt from
# the top-level rule, which guards the package's own modules.
TOP_LEVEL_ENTRY_POINTS = {'cli.py'}


def _dynamic_import(node: ast.Call):
    """Return the literal module name of `importlib.import_module('m')` / `__import__('m')`."""
    function = node.func
    name = (function.attr if isinstance(function, ast.Attribute)
            else function.id if isinstance(function, ast.Name) else None)
    if name not in ('import_module', '__import__') or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str) \
            and not first.value.startswith('.'):
        return first.value
    return None


def _imported_modules_of_source(source: str, filename: str = '<source>'):
    """
    Yield, per import, the names it may bring in (`from a import b`: a and a.b).

    Import statements, and calls of importlib.import_module / import_module / __import__ with
    a literal absolute module name.
    """
    tree = ast.parse(source, filename=filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ([alias.name] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield [node.module] + [f'{node.module}.{alias.name}' for alias in node.names]
        elif isinstance(node, ast.Call):
            module = _dynamic_import(node)
            if module:
                yield [module]


def _imported_modules(path: Path):
    """Yield the names each import of a module may bring in (see above)."""
    yield from _imported_modules_of_source(path.read_text(encoding='utf-8'), str(path))


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


def _core_subsystem_banned(path: Path, package_dir: Path) -> tuple:
    """Return the core subsystems a module of a core subsystem may not import (else ())."""
    parts = path.relative_to(package_dir).parts
    if len(parts) < 3 or parts[0] != 'core':
        return ()
    own = parts[1]
    if own not in CORE_SUBSYSTEM_IMPORTS:
        raise AssertionError(f'core subsystem {own} has no row in CORE_SUBSYSTEM_IMPORTS')
    allowed = {f'acnn_ros.core.{name}' for name in (own,) + CORE_SUBSYSTEM_IMPORTS[own]}
    return tuple(sub for sub in CORE_SUBSYSTEMS if sub not in allowed)


def _violations(package_dir: Path):
    for path in sorted(package_dir.rglob('*.py')):
        rule = _rule_for(path, package_dir)
        if rule == '' and path.name in TOP_LEVEL_ENTRY_POINTS:
            continue
        banned = FORBIDDEN[rule]
        if path.parent == package_dir / 'core':
            banned = banned + CORE_SUBSYSTEMS
        banned = banned + _core_subsystem_banned(path, package_dir)
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
def test_every_core_subsystem_has_a_row_of_allowed_imports():
    assert sorted(CORE_SUBSYSTEM_IMPORTS) == sorted(s.rsplit('.', 1)[1] for s in CORE_SUBSYSTEMS)
    for subsystem, allowed in CORE_SUBSYSTEM_IMPORTS.items():
        assert subsystem not in allowed and set(allowed) <= set(CORE_SUBSYSTEM_IMPORTS), subsystem


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


def test_dynamic_imports_with_a_literal_name_are_edges():
    source = ('import importlib\n'
              'from importlib import import_module\n'
              'def load(name):\n'
              '    importlib.import_module("acnn_ros.model.train")\n'
              '    import_module("acnn_ros.model.export")\n'
              '    __import__("acnn_ros.nodes")\n'
              '    importlib.import_module(name)\n'           # not literal: not seen
              '    importlib.import_module(".x", "acnn_ros")\n')  # relative: not seen
    found = [names[0] for names in _imported_modules_of_source(source)]
    assert found == ['importlib', 'importlib', 'acnn_ros.model.train',
                     'acnn_ros.model.export', 'acnn_ros.nodes'], found


def test_runtime_importing_model_through_import_module_is_a_violation(tmp_path):
    package = tmp_path / 'acnn_ros'
    (package / 'runtime').mkdir(parents=True)
    (package / 'runtime' / '__init__.py').write_text('')
    (package / 'runtime' / 'engine.py').write_text(
        'import importlib\n\n\ndef load():\n'
        "    return importlib.import_module('acnn_ros.model.train')\n")
    found = list(_violations(package))
    assert found == ['acnn_ros/runtime/engine.py (runtime) imports acnn_ros.model.train'], found


def test_a_core_subsystem_edge_outside_the_table_is_a_violation(tmp_path):
    package = tmp_path / 'acnn_ros'
    for sub in ('core/plc', 'core/reject', 'core/replay'):
        (package / sub).mkdir(parents=True)
        (package / sub / '__init__.py').write_text('')
    (package / 'core' / '__init__.py').write_text('')
    (package / 'core' / 'results.py').write_text('')
    (package / 'core' / 'reject' / 'scheduler.py').write_text(   # allowed: reject -> plc
        'from acnn_ros.core.plc.contract import Actuator\nfrom acnn_ros.core import results\n')
    (package / 'core' / 'plc' / 'modbus.py').write_text(         # new edge: plc -> reject
        'from acnn_ros.core.reject.decision import decide\n')
    (package / 'core' / 'plc' / 'opcua.py').write_text(
        "import importlib\nimportlib.import_module('acnn_ros.core.replay.metrics')\n")
    global CORE_SUBSYSTEMS
    saved, CORE_SUBSYSTEMS = CORE_SUBSYSTEMS, ('acnn_ros.core.plc', 'acnn_ros.core.reject',
                                               'acnn_ros.core.replay')
    try:
        found = list(_violations(package))
        (package / 'core' / 'vision').mkdir()
        (package / 'core' / 'vision' / 'x.py').write_text('')
        with pytest.raises(AssertionError, match='vision has no row'):
            list(_violations(package))
    finally:
        CORE_SUBSYSTEMS = saved
    assert found == ['acnn_ros/core/plc/modbus.py (core) imports acnn_ros.core.reject.decision',
                     'acnn_ros/core/plc/opcua.py (core) imports acnn_ros.core.replay.metrics'], \
        found
