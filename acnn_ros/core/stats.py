# SPDX-License-Identifier: Apache-2.0
"""Percentiles of measured values, one way for the package, the benchmarks and the tests."""
from typing import Dict, Iterable, Sequence

import numpy as np

DEFAULT_QUANTILES = (50, 99)


def percentiles(values: Iterable[float],
                quantiles: Sequence[float] = DEFAULT_QUANTILES) -> Dict[str, float]:
    """
    Return {'p50': ..., 'p99': ..., 'n': count} of `values` (NaN percentiles when empty).

    The keys are 'p' + each quantile as written ('p90', 'p99.9'); numpy's linear interpolation.
    """
    array = np.asarray(list(values), dtype=np.float64)
    keys = [f'p{q:g}' for q in quantiles]
    if array.size == 0:
        result = {key: float('nan') for key in keys}
    else:
        result = dict(zip(keys, (float(v) for v in np.percentile(array, list(quantiles)))))
    result['n'] = int(array.size)
    return result
