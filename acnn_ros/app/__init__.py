# SPDX-License-Identifier: Apache-2.0
"""Composition above the nodes: the one-process line and the demo."""
