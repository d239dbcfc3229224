"""Numba kernels on plain numpy arrays: no xarray, no pandas, no I/O.

Each kernel documents the order of its axes (e.g. ``(n, age, year)`` with the
leading axis the flattened broadcast dims).  Kernels are compiled lazily on
first call (``numba.njit`` without signatures), never at import
(:func:`demokit.warm_up` compiles the main ones on a tiny cube).  Nothing
here imports a public demokit module.
"""

from ._jit import jit  # noqa: F401
