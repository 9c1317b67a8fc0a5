# SPDX-License-Identifier: Apache-2.0
"""Pure-Python core: no rclpy, no *_msgs. Nodes, offline tools and benchmarks all call it."""
