# SPDX-License-Identifier: Apache-2.0
"""Offline tools of the acnn CLI: eval-recording, compare, make-bag, reports."""
