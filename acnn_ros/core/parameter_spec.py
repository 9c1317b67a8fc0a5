# SPDX-License-Identifier: Apache-2.0
"""
One ROS-free description of a node parameter, shared by every node's config module.

Each config module lists its parameters as `ParameterSpec`s; `acnn_ros.nodes.ros_parameters`
turns a spec into a ParameterDescriptor (so rclpy enforces the range) and declares them.
"""
from dataclasses import dataclass, fields
from typing import Any, Optional, Tuple


@dataclass(frozen=True)
class ParameterSpec:
    """One node parameter: default, description, numeric range or choices, run-time change."""

    name: str
    default: Any
    description: str
    low: Optional[float] = None
    high: Optional[float] = None
    choices: Tuple[str, ...] = ()
    runtime: bool = False

    def in_range(self, value) -> bool:
        """Return whether `value` lies in [low, high] (always true without a range)."""
        return self.low is None or self.low <= value <= self.high


def field_spec(config_cls, name: str, description: str, low: Optional[float] = None,
               high: Optional[float] = None, choices: Tuple[str, ...] = (),
               runtime: bool = False) -> ParameterSpec:
    """
    Return the spec of parameter `name` whose default is that of the config dataclass field.

    The dataclass is the one place a default is written. A tuple default becomes a list, and an
    empty one [''] (ROS cannot declare an empty array from a default), so the node strips ''
    entries when it builds the config.
    """
    default = {f.name: f.default for f in fields(config_cls)}[name]
    if isinstance(default, tuple):
        default = list(default) or ['']
    return ParameterSpec(name, default, description, low, high, choices, runtime)
