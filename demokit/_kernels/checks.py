"""Input checks as one pass over the data (no boolean temporaries)."""

from __future__ import annotations

import numba
import numpy as np

from ._jit import jit


@jit(parallel=True)
def first_invalid(values, allow_negative, allow_nan):
    """Return the flat index of the first non-finite (or negative) value of 1-D ``values``, or -1.

    Chunks are scanned in parallel; the smallest offending index wins, so
    the answer does not depend on the number of threads.
    """
    n = values.shape[0]
    nchunk = 64
    size = (n + nchunk - 1) // nchunk
    found = np.full(nchunk, -1, dtype=np.int64)
    for c in numba.prange(nchunk):
        lo = c * size
        hi = min(n, lo + size)
        for j in range(lo, hi):
            v = values[j]
            if np.isnan(v):
                if not allow_nan:
                    found[c] = j
                    break
            elif np.isinf(v) or (v < 0.0 and not allow_negative):
                found[c] = j
                break
    for c in range(nchunk):
        if found[c] >= 0:
            return found[c]
    return -1
