# SPDX-License-Identifier: Apache-2.0
"""
Declare a node's parameters from its `ParameterSpec`s (acnn_ros.core.parameter_spec).

rclpy ignores a `-p` / params-file value whose name the node never declares (a typo such as
`frame_rate_hzz` is lost without a word): `warn_unknown_parameters` names each such override
once, with the closest declared name. Not warned about: ROS's own parameters (`use_sim_time`,
`qos_overrides.*`, ...) and the parameters another node of this package declares, which
reach every node through the shared `/**` section of config/inspect.yaml, the launch file's
common parameters and a `-p` given to `inspection_line`.
"""
import difflib
from typing import Any, Dict, FrozenSet, Iterable, List, Set
import weakref

from acnn_ros.core.camera.config import PARAMETERS as CAMERA_PARAMETERS
from acnn_ros.core.parameter_spec import ParameterSpec
from acnn_ros.core.reject.config import PARAMETERS as REJECT_PARAMETERS
from acnn_ros.core.replay.player import PLAYER_PARAMETERS
from acnn_ros.core.replay.recorder_config import RECORDER_PARAMETERS
from acnn_ros.runtime.inference_config import PARAMETER_SPECS as INFERENCE_PARAMETERS
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

# Parameters rclpy itself declares (or declares later: a publisher's QoS overrides).
ROS_PARAMETERS = frozenset({'use_sim_time', 'start_type_description_service'})
ROS_PARAMETER_PREFIXES = ('qos_overrides.',)
# The names already warned about, per rclpy context (the nodes of one process share a `-p`).
_WARNED: 'weakref.WeakKeyDictionary[Any, Set[str]]' = weakref.WeakKeyDictionary()


def descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    """Return the descriptor of `spec`: description (with choices), read-only, range."""
    text = spec.description + (f' (one of: {", ".join(spec.choices)})' if spec.choices else '')
    result = ParameterDescriptor(name=spec.name, description=text, read_only=not spec.runtime)
    if spec.low is None:
        return result
    if isinstance(spec.default, float):
        result.floating_point_range = [FloatingPointRange(
            from_value=float(spec.low), to_value=float(spec.high), step=0.0)]
    elif isinstance(spec.default, int) and not isinstance(spec.default, bool):
        result.integer_range = [IntegerRange(
            from_value=int(spec.low), to_value=int(spec.high), step=1)]
    return result


def declare_parameters(node, specs: Iterable[ParameterSpec]) -> Dict[str, Any]:
    """Declare every spec on `node`; return {name: value} as read once after declaring."""
    values = {}
    for spec in specs:
        node.declare_parameter(spec.name, spec.default, descriptor(spec))
        values[spec.name] = node.get_parameter(spec.name).value
    return values


def package_parameter_names() -> FrozenSet[str]:
    """Return the name of every parameter some node of this package declares."""
    from acnn_ros.nodes.managed_node import AUTOSTART      # managed_node imports this module
    specs = (CAMERA_PARAMETERS + REJECT_PARAMETERS + PLAYER_PARAMETERS + RECORDER_PARAMETERS
             + tuple(INFERENCE_PARAMETERS) + (AUTOSTART,))
    return frozenset(spec.name for spec in specs)


def unknown_parameter_warnings(node) -> Dict[str, str]:
    """
    Return {name: warning} for each parameter override of `node` that nothing will read.

    The overrides are the values rcl resolved for this node from the command line and
    params files (global and node-specific arguments), plus the constructor's
    `parameter_overrides`: rclpy keeps them in `Node._parameter_overrides` (Kilted has no
    public accessor). Each warning names the closest known name, when there is one.
    """
    overrides = getattr(node, '_parameter_overrides', None) or {}
    declared = set(node.get_parameters_by_prefix(''))
    shared = package_parameter_names()
    warnings = {}
    for name in sorted(overrides):
        if name in declared or name in shared or name in ROS_PARAMETERS \
                or name.startswith(ROS_PARAMETER_PREFIXES):
            continue
        close = difflib.get_close_matches(name, sorted(declared | shared), n=1)
        warnings[name] = f"unknown parameter '{name}' ignored; " + (
            f"did you mean '{close[0]}'?" if close else
            f'{node.get_name()} has no parameter of a similar name')
    return warnings


def warn_unknown_parameters(node) -> List[str]:
    """Log each of `unknown_parameter_warnings(node)` once per process context; return them."""
    warned = _WARNED.setdefault(node.context, set())
    logged = []
    for name, message in unknown_parameter_warnings(node).items():
        if name not in warned:
            warned.add(name)
            node.get_logger().warning(message)
            logged.append(message)
    return logged
