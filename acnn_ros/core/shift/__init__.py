# SPDX-License-Identifier: Apache-2.0
"""The shift's history: one row per part in SQLite or PostgreSQL, and the live tally from it."""
