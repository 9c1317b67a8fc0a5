# SPDX-License-Identifier: Apache-2.0
"""Offline tools behind the acnn CLI: evaluation, reports, bag I/O, demo runner."""
