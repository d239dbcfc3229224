"""The one place where demokit configures Numba.

``jit`` is ``numba.njit`` with the project's options.  Compilation is lazy
(on the first call with a given set of argument types), never at import.

Compiled kernels are kept in an on-disk cache in a per-user cache directory
(never next to the source, so never inside ``site-packages``), for the
command line and the Python API alike:

1. ``$DEMOKIT_CACHE_DIR`` if set;
2. else ``$NUMBA_CACHE_DIR`` if set (Numba's own setting, respected);
3. else ``<user cache>/demokit/numba-<numba version>-py<major><minor>``, where
   ``<user cache>`` is ``$XDG_CACHE_HOME`` or ``~/.cache`` (Linux and other
   Unix), ``~/Library/Caches`` (macOS) or ``%LOCALAPPDATA%`` (Windows).

``DEMOKIT_NUMBA_CACHE=0`` turns the disk cache off.  When the directory
cannot be created or written (read-only file system, no home directory) the
kernels are compiled in memory, without error.

Many processes (dask workers) may fill the cache at once: Numba writes each
file to a temporary name and renames it, but the per-kernel index is a
read-modify-write, so demokit holds an advisory file lock (``fcntl.flock``;
exclusive to save, shared to load) in the cache directory around each save
and load of a kernel (POSIX; on Windows Numba's own atomic renames only).
Each kernel is called with one set of argument types (contiguous float64 /
int64 / bool arrays of fixed ndim), so all processes write the same entries.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np
from numba.core import config as _numba_config
from numba.core.caching import NullCache

try:
    import fcntl
except ImportError:   # pragma: no cover - Windows
    fcntl = None

__all__ = ["jit", "parallel_ranges", "cache_dir", "enable_disk_cache", "disable_disk_cache"]

_OFF = ("0", "", "false", "False", "FALSE", "no", "off")


def _cache_wanted() -> bool:
    return os.environ.get("DEMOKIT_NUMBA_CACHE", "1").strip() not in _OFF


_CACHE = _cache_wanted()

_REGISTRY: list = []


def _user_cache_home() -> Path:
    if sys.platform == "win32":   # pragma: no cover
        base = os.environ.get("LOCALAPPDATA")
        return Path(base) if base else Path.home() / "AppData" / "Local"
    if sys.platform == "darwin":   # pragma: no cover
        return Path.home() / "Library" / "Caches"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"


def cache_dir() -> Path | None:
    """Return the directory where compiled kernels are cached, or None if there is none.

    ``$DEMOKIT_CACHE_DIR``, else ``$NUMBA_CACHE_DIR``, else
    ``<user cache>/demokit/numba-<numba version>-py<major><minor>``.  None when
    the disk cache is off (``DEMOKIT_NUMBA_CACHE=0``), when no home directory
    is known, or when the directory cannot be created and written.
    """
    if not _CACHE:
        return None
    try:
        path = (os.environ.get("DEMOKIT_CACHE_DIR") or _numba_config.CACHE_DIR
                or _user_cache_home() / "demokit"
                / f"numba-{numba.__version__}-py{sys.version_info[0]}{sys.version_info[1]}")
        path = Path(path).expanduser()
    except (RuntimeError, KeyError):   # no home directory (Path.home() raises RuntimeError)
        return None
    return _writable(str(path))


@functools.lru_cache(maxsize=8)
def _writable(path: str) -> Path | None:
    """``path`` (created if needed) when a file can be written in it, else None."""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:   # read-only file system, not a directory, no permission
        return None
    return Path(path).resolve()


@contextlib.contextmanager
def _file_lock(path: str, exclusive: bool):
    if fcntl is None:   # pragma: no cover - Windows: Numba's atomic renames only
        yield
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:   # cannot create the lock file: go on unlocked (loads and saves stay atomic per file)
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)   # (closing releases the lock)


def _locked(method, lock_path: str, exclusive: bool):
    @functools.wraps(method)
    def call(*args, **kwargs):
        with _file_lock(lock_path, exclusive):
            return method(*args, **kwargs)

    return call


def _enable_cache(k, path: Path) -> bool:
    """Point kernel ``k``'s Numba cache at ``path`` (with file locks); False if Numba refuses."""
    if not hasattr(k, "enable_caching"):   # NUMBA_DISABLE_JIT=1: a plain Python function, nothing to cache
        return False
    saved = _numba_config.CACHE_DIR
    _numba_config.CACHE_DIR = str(path)   # read once, by the cache locator created here
    try:
        k.enable_caching()
    except RuntimeError:   # no usable locator: compile in memory
        k._cache = NullCache()
        return False
    finally:
        _numba_config.CACHE_DIR = saved
    cache = k._cache
    if not str(Path(cache._cache_path).resolve()).startswith(str(path)):
        # Numba fell back to another locator (e.g. ``__pycache__`` next to the source): never write there
        k._cache = NullCache()
        return False
    lock = os.path.join(cache._cache_path, ".demokit-cache.lock")
    cache.load_overload = _locked(cache.load_overload, lock, exclusive=False)
    cache.save_overload = _locked(cache.save_overload, lock, exclusive=True)
    return True


def jit(func=None, *, parallel: bool = False, **options):
    """Decorate a kernel with ``numba.njit`` (lazy, nogil, fastmath off, disk cache per :func:`cache_dir`).

    ``parallel=True`` enables ``numba.prange`` loops.
    """

    def wrap(f):
        k = numba.njit(nogil=True, cache=False, parallel=parallel, **options)(f)
        _REGISTRY.append(k)
        path = cache_dir()
        if path is not None:
            _enable_cache(k, path)
        return k

    return wrap(func) if func is not None else wrap


_POOL = None


def _forget_pool() -> None:
    """In a forked child: the parent's pool object survives the fork, its threads do not (a job submitted to it
    would never run), so the child makes its own pool on first use."""
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):   # (POSIX)
    os.register_at_fork(after_in_child=_forget_pool)


def _pool():
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max(1, numba.config.NUMBA_NUM_THREADS - 1), thread_name_prefix="demokit")
    return _POOL


def parallel_ranges(kernel, n: int, *args, ranges: int | None = None) -> list:
    """Run ``kernel(lo, hi, *args)`` on contiguous ranges covering ``0 ≤ i < n``, in threads.

    One range per thread (``numba.get_num_threads()``, at most ``n``; or
    ``ranges`` of them: range ``i`` then starts at ``n·i // ranges``); the
    first range runs in the calling thread.  ``kernel`` is a serial, GIL-free
    (``nogil``) kernel, so the ranges run on all cores.  This replaces
    ``parallel=True``/``prange`` for the large kernels: a ``prange`` loop costs
    seconds of extra compilation (the parallel region is compiled as a second
    function, and the kernel it calls with an unsigned index as well), paid
    on every cold start, while threads over a serial kernel cost ~0.1 ms a
    call.  Returns the kernels' results in order.
    """
    nt = min(numba.get_num_threads(), n) if ranges is None else int(ranges)
    if nt <= 1:
        return [kernel(np.int64(0), np.int64(n), *args)]
    bounds = [np.int64(n * i // nt) for i in range(nt + 1)]
    futures = [_pool().submit(kernel, bounds[i], bounds[i + 1], *args) for i in range(1, nt)]
    first = kernel(bounds[0], bounds[1], *args)
    return [first] + [f.result() for f in futures]


def enable_disk_cache() -> None:
    """Cache compiled kernels on disk from now on (all kernels, also those imported later).

    The cache is on by default; this turns it back on after
    ``DEMOKIT_NUMBA_CACHE=0`` or :func:`disable_disk_cache`.  Kernels already
    compiled in memory stay as they are.  Without a writable cache directory
    (:func:`cache_dir` is None) nothing changes.
    """
    global _CACHE
    _CACHE = True
    path = cache_dir()
    if path is None:
        return
    for k in _REGISTRY:
        if isinstance(k._cache, NullCache):
            _enable_cache(k, path)


def disable_disk_cache() -> None:
    """Stop reading and writing the disk cache (kernels compile in memory from now on)."""
    global _CACHE
    _CACHE = False
    for k in _REGISTRY:
        k._cache = NullCache()
