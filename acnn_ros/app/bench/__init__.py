# SPDX-License-Identifier: Apache-2.0
"""The benchmarks' pure logic that the tests check: rate search, reports, verdicts, accounting."""
