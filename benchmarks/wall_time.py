# SPDX-License-Identifier: Apache-2.0
"""Wall-time measurement shared by the model benchmarks."""
import statistics
import time


def latency_ms(function, repeats: int) -> float:
    """Return the median wall time of `function()` in ms after two warm-up calls."""
    for _ in range(2):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)
