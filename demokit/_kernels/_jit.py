"""The one place where demokit configures Numba.

``jit`` is ``numba.njit`` with the project's options.  Compilation is lazy
(on the first call with a given set of argument types).  ``cache`` is off by
default: Numba's on-disk cache can race when many dask worker processes fill
it at once, and a cold compile takes a few seconds per kernel (about 30 s for
everything the forecast job uses).  Set
``DEMOKIT_NUMBA_CACHE=1`` to turn the on-disk cache on; the command line turns
it on by itself (one process) unless ``DEMOKIT_NUMBA_CACHE=0``.
"""

from __future__ import annotations

import os

import numba
from numba.core.caching import NullCache

_CACHE = os.environ.get("DEMOKIT_NUMBA_CACHE", "0") not in ("0", "", "false", "False")

_REGISTRY: list = []


def jit(func=None, *, parallel: bool = False, **options):
    """Decorate a kernel with ``numba.njit`` (lazy, nogil, fastmath off).

    ``parallel=True`` enables ``numba.prange`` loops.
    """

    def wrap(f):
        try:
            k = numba.njit(nogil=True, cache=_CACHE, parallel=parallel, **options)(f)
        except RuntimeError:   # no writable cache location (read-only install, no home): compile only
            k = numba.njit(nogil=True, cache=False, parallel=parallel, **options)(f)
        _REGISTRY.append(k)
        return k

    return wrap(func) if func is not None else wrap


def enable_disk_cache() -> None:
    """Cache compiled kernels on disk from now on (all kernels, also those imported later).

    For a single process such as the command line (``demokit forecast``
    compiles for ~30 s on its first run and starts in seconds afterwards);
    not for many dask worker processes at once.
    """
    global _CACHE
    _CACHE = True
    for k in _REGISTRY:
        if isinstance(k._cache, NullCache):
            try:
                k.enable_caching()
            except RuntimeError:   # numba finds no writable cache location: keep compiling in memory
                _CACHE = False
                return


def warm_up() -> None:
    """Compile the main kernels now for float64 inputs (an explicit warm-up).

    Importing :mod:`demokit` compiles nothing; this runs each public
    workflow once on a tiny cube so that later calls start instantly.
    """
    from .. import _warmup

    _warmup.run()
