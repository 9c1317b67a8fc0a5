# SPDX-License-Identifier: Apache-2.0
"""ROS 2 nodes: they translate messages, parameters and timers; the maths lives in core."""
