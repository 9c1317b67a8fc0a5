# SPDX-License-Identifier: Apache-2.0
"""
Installable where lines are: Python 3.10-3.12, rosdep keys for every import, ranges for pip.

Humble (JetPack 6, Ubuntu 22.04) runs Python 3.10, Jazzy 3.12, Kilted 3.12; the development
venv runs 3.11. The sources are checked statically against 3.10 (vermin) and for modules that
3.12 removed; every third-party module the robot code (nodes, runtime, core, launch) imports
has a rosdep key in package.xml, or is pip-only and in requirements-runtime.txt, or belongs to a
backend a line opts into (an extra) and stays off the nodes' import path.
"""
import ast
from pathlib import Path
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

from packaging.requirements import Requirement
import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
PYTHON_PATHS = ['acnn_ros', 'launch', 'benchmarks', 'test', 'setup.py']
ROBOT_CODE = ['acnn_ros/nodes', 'acnn_ros/runtime', 'acnn_ros/core', 'launch']
# Modules that Python 3.12 removed (PEP 594 and distutils, PEP 632).
REMOVED_IN_312 = {'distutils', 'imp', 'asynchat', 'asyncore', 'smtpd'}

# Module -> rosdep key, checked against rosdistro's humble, jazzy and kilted distribution.yaml
# (ROS packages) and rosdep/python.yaml (python3-*; the -pip keys install from PyPI).
ROSDEP_KEYS = {
    'ament_index_python': 'ament_index_python',
    'builtin_interfaces': 'builtin_interfaces',
    'diagnostic_msgs': 'diagnostic_msgs',
    'launch': 'launch',
    'launch_ros': 'launch_ros',
    'lifecycle_msgs': 'lifecycle_msgs',
    'rcl_interfaces': 'rcl_interfaces',
    'rclpy': 'rclpy',
    'sensor_msgs': 'sensor_msgs',
    'std_msgs': 'std_msgs',
    'std_srvs': 'std_srvs',
    'cv2': 'python3-opencv',
    'numpy': 'python3-numpy',
    'yaml': 'python3-yaml',
    'onnxruntime': 'python3-onnxruntime-pip',
    'pymodbus': 'python3-pymodbus-pip',
    'rosbags': 'python3-rosbags-pip',
}
# Module -> pip distribution, for imports of the nodes that no rosdep key installs.
PIP_ONLY = {'rosbags.image': 'rosbags-image',
            # hmi_node: Ubuntu 22.04's python3-aiohttp (3.8) and python3-sqlalchemy (1.4) are
            # older than the ranges it needs (aiohttp >= 3.9, SQLAlchemy 2).
            'aiohttp': 'aiohttp', 'sqlalchemy': 'sqlalchemy'}
# Module -> (setup.py extra, its distribution): backends a line opts into, imported only when
# chosen (test_nodes_import_without_the_optional_and_offline_packages).
OPTIONAL = {
    'asyncua': ('opcua', 'asyncua'),    # actuator: opcua (rosdep has no key for asyncua)
    'cryptography': ('opcua', 'cryptography'),  # vision_system_node's certificate
    'gpiod': ('gpio', 'gpiod'),         # actuator: gpio (untested)
    'torch': ('train', 'torch'),        # backend: torch (development)
    'matplotlib': ('train', 'matplotlib'),  # acnn synth --backgrounds: its DejaVu fonts
    'PIL': ('train', 'pillow'),         # acnn synth --backgrounds: drawing them
    'tensorrt': (None, None),           # backend: tensorrt (JetPack's python3-libnvinfer)
    'cuda': (None, None),               # backend: tensorrt (cuda-python)
}
NODE_MODULES = sorted(f'acnn_ros.nodes.{p.stem}' for p in (REPO_DIR / 'acnn_ros' / 'nodes')
                      .glob('*_node.py'))


def _imports(path: Path):
    """Yield every module a file imports: statements (top level or not) and import_module('x')."""
    tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif (isinstance(node, ast.Call) and getattr(node.func, 'attr', '') == 'import_module'
              and node.args and isinstance(node.args[0], ast.Constant)):
            yield node.args[0].value


def _third_party_imports(folders):
    found = {}
    for folder in folders:
        for path in sorted((REPO_DIR / folder).rglob('*.py')):
            for module in _imports(path):
                top = module.split('.')[0]
                if top not in sys.stdlib_module_names and top != 'acnn_ros':
                    found.setdefault(module, path.relative_to(REPO_DIR))
    return found


def _entry(module: str, table: dict):
    """Return the most specific key of `table` that `module` is or is inside of, or None."""
    keys = [k for k in table if module == k or module.startswith(k + '.')]
    return max(keys, key=len) if keys else None


def _setup_requirements():
    """install_requires and extras_require of setup.py, read from its source."""
    tree = ast.parse((REPO_DIR / 'setup.py').read_text(encoding='utf-8'))
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, 'id', '') == 'setup')
    values = {k.arg: ast.literal_eval(k.value) for k in call.keywords
              if k.arg in ('install_requires', 'extras_require', 'python_requires')}
    return values


def _requirements_file(name: str):
    lines = (REPO_DIR / name).read_text(encoding='utf-8').splitlines()
    return [Requirement(line.split('#')[0].strip()) for line in lines
            if line.split('#')[0].strip() and not line.startswith('-')]   # -r other.txt


def _package_xml_keys():
    root = ElementTree.parse(REPO_DIR / 'package.xml').getroot()
    return {e.tag: {x.text for x in root.iter(e.tag)} for e in root
            if e.tag.endswith('depend')}


def _vermin(*args):
    """Run vermin (its console script's main) with Python 3.10 as the oldest target."""
    return subprocess.run([sys.executable, '-c', 'import sys, vermin; sys.exit(vermin.main())',
                           '--target=3.10-', '--violations', '--no-tips', *args],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.linter
def test_sources_run_on_python_310_to_312():
    vermin = pytest.importorskip('vermin')
    assert vermin
    paths = [str(REPO_DIR / p) for p in PYTHON_PATHS]
    run = _vermin('--eval-annotations', *paths)
    assert run.returncode == 0, run.stdout + run.stderr
    removed = [f'{path.relative_to(REPO_DIR)}: {module}'
               for folder in PYTHON_PATHS
               for path in ([REPO_DIR / folder] if folder.endswith('.py')
                            else sorted((REPO_DIR / folder).rglob('*.py')))
               for module in _imports(path) if module.split('.')[0] in REMOVED_IN_312]
    assert not removed, f'modules removed in Python 3.12: {removed}'


def test_vermin_catches_311_only_code(tmp_path):
    pytest.importorskip('vermin')
    (tmp_path / 'new.py').write_text('import tomllib\ntry:\n    pass\nexcept* ValueError:\n'
                                     '    pass\n')
    run = _vermin(str(tmp_path))
    assert run.returncode != 0 and 'tomllib' in run.stdout, run.stdout


def test_every_import_of_the_robot_code_has_a_rosdep_key_or_a_pip_requirement():
    imports = _third_party_imports(ROBOT_CODE)
    assert 'rclpy' in imports and 'numpy' in imports
    depends = _package_xml_keys()
    exec_keys = depends.get('exec_depend', set()) | depends.get('depend', set())
    runtime = {r.name.lower() for r in _requirements_file('requirements-runtime.txt')}
    unknown, missing = [], []
    for module, path in sorted(imports.items()):
        if _entry(module, PIP_ONLY):
            distribution = PIP_ONLY[_entry(module, PIP_ONLY)]
            if distribution not in runtime:
                missing.append(f'{distribution} ({module}, {path}) in requirements-runtime.txt')
        elif _entry(module, ROSDEP_KEYS):
            key = ROSDEP_KEYS[_entry(module, ROSDEP_KEYS)]
            if key not in exec_keys:
                missing.append(f'<exec_depend>{key}</exec_depend> ({module}, {path})')
        elif not _entry(module, OPTIONAL):
            unknown.append(f'{module} ({path})')
    assert not unknown, f'imports missing from the tables of this test: {unknown}'
    assert not missing, f'missing dependencies: {missing}'


def test_optional_backends_have_their_extra_and_no_rosdep_key():
    extras = _setup_requirements()['extras_require']
    exec_keys = set().union(*_package_xml_keys().values())
    for module, (extra, distribution) in OPTIONAL.items():
        assert module not in ROSDEP_KEYS and module not in exec_keys
        if extra:
            names = {Requirement(r).name for r in extras[extra]}
            assert distribution in names, f'{module}: {distribution} not in the {extra} extra'


def test_nodes_import_without_the_optional_and_offline_packages():
    blocked = sorted(set(OPTIONAL) | {'matplotlib', 'tqdm', 'onnx'})
    code = ('import importlib, sys\n'
            f'for name in {blocked!r}:\n'
            '    sys.modules[name] = None\n'
            f'for name in {NODE_MODULES!r}:\n'
            '    importlib.import_module(name)\n'
            'print("IMPORTED", len(sys.argv))\n')
    run = subprocess.run([sys.executable, '-c', code], cwd=str(REPO_DIR),
                         capture_output=True, text=True, timeout=120)
    assert len(NODE_MODULES) >= 5
    assert run.returncode == 0 and 'IMPORTED' in run.stdout, run.stdout + run.stderr


def test_pip_dependencies_are_ranges_that_hold_the_tested_pins():
    setup = _setup_requirements()
    assert setup['python_requires'] == '>=3.10'
    declared = [Requirement(r) for r in setup['install_requires']]
    declared += [Requirement(r) for reqs in setup['extras_require'].values() for r in reqs]
    # The venv's pins: requirements.txt, and the browser-test pins scripts/setup.sh adds.
    pins = {r.name.lower(): next(iter(r.specifier)).version
            for name in ('requirements.txt', 'requirements-browser.txt')
            for r in _requirements_file(name)}
    by_name = {}
    for requirement in declared:
        operators = {spec.operator for spec in requirement.specifier}
        assert '==' not in operators and operators & {'>=', '>'} and operators & {'<', '<='}, \
            f'{requirement}: give a range (lower and upper bound), not a pin'
        pin = pins.get(requirement.name.lower())
        assert pin is None or requirement.specifier.contains(pin), \
            f'{requirement} excludes the tested {requirement.name}=={pin} (requirements.txt)'
        by_name[requirement.name.lower()] = requirement
    for requirement in _requirements_file('requirements-runtime.txt'):
        assert all(spec.operator != '==' for spec in requirement.specifier), requirement
        lowest = next(s.version for s in requirement.specifier if s.operator == '>=')
        assert requirement.name.lower() in by_name, f'{requirement} is not in setup.py'
        assert by_name[requirement.name.lower()].specifier.contains(lowest), \
            f'{requirement} and setup.py disagree'
    for requirement in _requirements_file('requirements-test.txt'):
        pin = pins.get(requirement.name.lower())
        assert '==' not in {s.operator for s in requirement.specifier}, requirement
        assert pin and requirement.specifier.contains(pin), f'{requirement} excludes {pin}'
    # The robot installs what the nodes import, nothing of the offline tools.
    runtime = {r.name.lower() for r in _requirements_file('requirements-runtime.txt')}
    assert not runtime & {'torch', 'onnx', 'matplotlib', 'tqdm', 'asyncua'}, runtime
    assert re.search(r'ros-ament-cmake-pytest==', (REPO_DIR / 'requirements.txt').read_text())


def test_label_page_ships_as_package_data(tmp_path):
    # pip: setuptools' build_py copies package data into the build tree as into a wheel.
    run = subprocess.run([sys.executable, 'setup.py', '-q', 'build_py', '--build-lib',
                          str(tmp_path)], cwd=str(REPO_DIR), capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / 'acnn_ros' / 'offline' / 'label_page.html').is_file()
    # colcon: the package folder is installed whole, only __init__.py / __pycache__ excluded.
    cmake = (REPO_DIR / 'CMakeLists.txt').read_text(encoding='utf-8')
    block = re.search(r'install\(DIRECTORY \$\{PROJECT_NAME\}/\n(.*?)\)', cmake, re.S).group(1)
    assert 'FILES_MATCHING' not in block and 'html' not in block, block
    # The venv (scripts/setup.sh) installs the browser-test pins with requirements.txt.
    setup_sh = (REPO_DIR / 'scripts' / 'setup.sh').read_text(encoding='utf-8')
    assert '-r requirements-browser.txt' in setup_sh and 'requirements-browser.txt' in \
        setup_sh.split('want=')[1].splitlines()[0]
