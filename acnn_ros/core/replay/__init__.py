# SPDX-License-Identifier: Apache-2.0
"""Replay and evaluation: rosbag2 I/O, pacing, per-frame metrics."""
