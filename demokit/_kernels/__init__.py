"""Numba kernels on plain numpy arrays: no xarray, no pandas, no I/O.

Each kernel documents the order of its axes (e.g. ``(n, age, year)`` with the
leading axis the flattened broadcast dims).  Kernels are compiled lazily on
first call (``numba.njit`` without signatures), never at import.
"""

from ._jit import jit, warm_up  # noqa: F401
