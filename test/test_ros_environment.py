# SPDX-License-Identifier: Apache-2.0
"""
The ROS environment is the user's: product code reads ROS_* variables and never sets them.

A node started from a plain shell (no ROS_DOMAIN_ID) is in the default domain, where
`ros2 node list`, rviz and the user's other nodes see it; its start-up log says so. The project's
scripts and tests keep DDS on loopback: here every process gets
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, and only the domain is left unset.
"""
import ast
import os
import re
import textwrap

from acnn_ros.core.ros_env import describe_dds
from ros_processes import NodeProcess, REPO_DIR

PACKAGE_DIR = REPO_DIR / 'acnn_ros'
# The variables that choose where DDS traffic goes (ROS, RMW, the DDS vendors' own).
ENV_VARIABLE = re.compile(r'^(ROS|RMW|FASTDDS|FASTRTPS|CYCLONEDDS)_[A-Z_]*$')
WRITING_METHODS = {'setdefault', 'pop', 'putenv', 'unsetenv', '__setitem__', '__delitem__'}


def _env_constants(trees):
    """Names bound to a ROS variable's name anywhere (DOMAIN_ID_VAR = 'ROS_DOMAIN_ID')."""
    names = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and _is_env_name(node.value, set()):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _is_env_name(node, constants) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(ENV_VARIABLE.match(node.value))
    if isinstance(node, ast.JoinedStr):       # f'ROS_{...}'
        return any(_is_env_name(part, constants) for part in node.values[:1])
    if isinstance(node, ast.Name):
        return node.id in constants
    return isinstance(node, ast.Attribute) and node.attr in constants


def env_writes(source: str, constants=frozenset()):
    """Yield (line, what) for every write of a ROS variable in `source`."""
    tree = ast.parse(source)
    constants = set(constants) | _env_constants([tree])
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) \
                else [node.target]
        for target in targets:
            if isinstance(target, ast.Subscript) and _is_env_name(target.slice, constants):
                yield node.lineno, f'{ast.unparse(target)} assigned or deleted'
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else \
            getattr(node.func, 'id', '')
        if name in WRITING_METHODS and node.args and _is_env_name(node.args[0], constants):
            yield node.lineno, f'{ast.unparse(node.func)}({ast.unparse(node.args[0])}, ...)'
        # dict(os.environ, ROS_DOMAIN_ID=...), env.update(ROS_DOMAIN_ID=...)
        for keyword in node.keywords:
            if keyword.arg and ENV_VARIABLE.match(keyword.arg):
                yield node.lineno, f'{keyword.arg}= passed to {ast.unparse(node.func)}'
        # env.update({'ROS_DOMAIN_ID': ...})
        if name == 'update':
            for arg in node.args:
                if isinstance(arg, ast.Dict) and any(
                        k is not None and _is_env_name(k, constants) for k in arg.keys):
                    yield node.lineno, f'{ast.unparse(node.func)}({{ROS_*: ...}})'


def test_the_checker_finds_every_way_to_set_a_ros_variable():
    # What entry points did before issue 10 (core/ros_env.ensure_local_dds), and its cousins.
    old = textwrap.dedent("""
        import os
        DOMAIN_ID_VAR = 'ROS_DOMAIN_ID'
        def ensure_local_dds(environ=None):
            env = os.environ if environ is None else environ
            if not env.get('ROS_AUTOMATIC_DISCOVERY_RANGE'):
                env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
            if not env.get(DOMAIN_ID_VAR):
                env[DOMAIN_ID_VAR] = '42'
        os.environ.setdefault('ROS_DOMAIN_ID', '42')
        os.putenv('RMW_IMPLEMENTATION', 'rmw_cyclonedds_cpp')
        child = dict(os.environ, ROS_LOCALHOST_ONLY='1')
        os.environ.update({'ROS_STATIC_PEERS': '10.0.0.2'})
        del os.environ['ROS_DOMAIN_ID']
    """)
    lines = sorted(line for line, _ in env_writes(old))
    assert lines == [7, 9, 10, 11, 12, 13, 14]
    reads = "import os\nx = os.environ.get('ROS_DOMAIN_ID')\ny = os.environ['ROS_DISTRO']\n"
    assert list(env_writes(reads)) == []


def test_no_module_of_the_package_sets_a_ros_variable():
    paths = sorted(PACKAGE_DIR.rglob('*.py'))
    trees = [ast.parse(p.read_text(encoding='utf-8')) for p in paths]
    constants = _env_constants(trees)      # a constant of one module used by another
    found = [f'{p.relative_to(REPO_DIR)}:{line}: {what}'
             for p in paths for line, what in env_writes(p.read_text(encoding='utf-8'),
                                                         constants)]
    assert len(paths) > 50
    assert not found, 'product code must not change the ROS environment:\n' + '\n'.join(found)


def test_describe_dds_names_the_defaults_in_force():
    assert describe_dds({}) == \
        'DDS: ROS_DOMAIN_ID=0 (default) ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET (default)'
    assert describe_dds({'ROS_DOMAIN_ID': '7', 'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
                         'ROS_STATIC_PEERS': '10.0.0.2'}) == \
        'DDS: ROS_DOMAIN_ID=7 ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_STATIC_PEERS=10.0.0.2'
    # Humble has no discovery range; ROS_LOCALHOST_ONLY is its switch.
    assert describe_dds({'ROS_DISTRO': 'humble', 'ROS_LOCALHOST_ONLY': '1'}) == \
        'DDS: ROS_DOMAIN_ID=0 (default) ROS_LOCALHOST_ONLY=1'
    assert describe_dds({'ROS_DISTRO': 'humble'}) == \
        'DDS: ROS_DOMAIN_ID=0 (default) ROS_LOCALHOST_ONLY=0 (default)'


def _default_domain_env():
    """Return this run's environment with ROS_DOMAIN_ID unset and discovery on loopback."""
    env = {k: v for k, v in os.environ.items() if k != 'ROS_DOMAIN_ID'}
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    if env.get('ROS_DISTRO') == 'humble':
        env['ROS_LOCALHOST_ONLY'] = '1'
    return env


def test_a_node_started_without_a_domain_is_seen_in_the_default_domain(tmp_path):
    namespace = f'/env_test_{os.getpid()}'
    env = _default_domain_env()
    assert 'ROS_DOMAIN_ID' not in env and os.environ['ROS_DOMAIN_ID'] != '0'
    node = NodeProcess.node('result_recorder_node', '-r', f'__ns:={namespace}',
                            '-p', f'bag_path:={tmp_path / "bag"}', environ=env)
    try:
        started = node.wait_for_line('recording', 60) or ''
        assert node.running(), node.output
        # A client in the default domain, and the control: the same client in this test run's
        # domain, which must not see it (seeing it proves the domain, not a leak).
        # (test/clients/graph_client.py lists the graph until it sees the node.)
        default_client = NodeProcess.script('graph_client', f'{namespace}/result_recorder_node',
                                            '30', environ=env)
        own_client = NodeProcess.script('graph_client', f'{namespace}/result_recorder_node',
                                        '5')
        default_out = default_client.finish(45)
        own_out = own_client.finish(30)
    finally:
        node.interrupt(timeout_s=20)
        node_out = node.output
    assert default_client.returncode == 0, default_out
    assert f"'{namespace}/result_recorder_node'" in default_out, default_out + node_out
    assert own_client.returncode == 0 and own_out.startswith('SEEN'), own_out
    assert namespace not in own_out, own_out
    # The start-up line says where its traffic goes; nothing was set for it.
    assert 'DDS: ROS_DOMAIN_ID=0 (default) ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST' in started, \
        node_out
    assert node.returncode == 0, node_out
