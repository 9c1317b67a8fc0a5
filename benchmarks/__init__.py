# SPDX-License-Identifier: Apache-2.0
"""The project's benchmarks, each run from the repository root as `python -m benchmarks.<name>`."""
