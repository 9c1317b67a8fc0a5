# SPDX-License-Identifier: Apache-2.0
"""The reject line: decision, scheduling, counters, archive, reconciliation."""
