"""The on-disk cache of compiled kernels: where it lives, turning it off, read-only places, many processes.

Every test here uses a temporary cache directory (never the user's real
cache).  The location rules and the fallbacks are checked in this process on
small functions decorated with demokit's ``jit`` under the environment of the
test; many processes filling one empty cache at once are dask.distributed
process workers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

import demokit
from demokit._kernels import _jit

ROOT = Path(demokit.__file__).resolve().parent.parent
VERSIONED = f"numba-{numba.__version__}-py{sys.version_info[0]}{sys.version_info[1]}"


@pytest.fixture
def clean_env(monkeypatch):
    """No cache variables set; the cache on; the writability memo cleared before and after."""
    for k in ("DEMOKIT_NUMBA_CACHE", "DEMOKIT_CACHE_DIR", "NUMBA_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(_jit._numba_config, "CACHE_DIR", "")
    monkeypatch.setattr(_jit, "_CACHE", True)
    _jit._writable.cache_clear()
    yield monkeypatch
    _jit._writable.cache_clear()


def _nb_files(path: Path):
    return sorted(p.name for p in path.rglob("*.nb*")) if path.exists() else []


def test_cache_location_order(tmp_path, clean_env):
    """DEMOKIT_CACHE_DIR, else NUMBA_CACHE_DIR, else $XDG_CACHE_HOME/demokit/numba-<v>-py<v>, else ~/.cache/..."""
    d, n, x, home = (tmp_path / s for s in ("demokit-dir", "numba-dir", "xdg", "home"))
    clean_env.setenv("HOME", str(home))
    assert _jit.cache_dir() == home / ".cache" / "demokit" / VERSIONED
    clean_env.setenv("XDG_CACHE_HOME", str(x))
    assert _jit.cache_dir() == x / "demokit" / VERSIONED
    clean_env.setattr(_jit._numba_config, "CACHE_DIR", str(n))   # what numba reads from NUMBA_CACHE_DIR
    assert _jit.cache_dir() == n
    clean_env.setenv("DEMOKIT_CACHE_DIR", str(d))
    assert _jit.cache_dir() == d
    assert all(p.is_dir() for p in (d, n, x / "demokit" / VERSIONED, home / ".cache" / "demokit" / VERSIONED))


def test_kernels_are_cached_there_and_never_next_to_the_source(tmp_path, clean_env):
    cache = tmp_path / "cache"
    clean_env.setenv("DEMOKIT_CACHE_DIR", str(cache))

    @_jit.jit
    def plus_one(x):
        return x + 1.0

    assert plus_one(np.float64(1.0)) == 2.0
    assert type(plus_one._cache).__name__ == "FunctionCache"
    assert str(plus_one.stats.cache_path).startswith(str(cache.resolve()))
    files = _nb_files(cache)
    assert any(f.endswith(".nbi") and "plus_one" in f for f in files), files
    assert any(f.endswith(".nbc") and "plus_one" in f for f in files), files
    # (numba's default would be tests/__pycache__ or, installed, site-packages/.../__pycache__)
    assert not [f for f in _nb_files(ROOT / "tests") if "plus_one" in f]


@pytest.mark.parametrize("case", ["turned off", "cannot be created", "home is not a directory"])
def test_cache_off_or_unwritable_compiles_in_memory(tmp_path, clean_env, case):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    if case == "turned off":
        clean_env.setattr(_jit, "_CACHE", False)   # what DEMOKIT_NUMBA_CACHE=0 sets at import
        clean_env.setenv("DEMOKIT_CACHE_DIR", str(tmp_path / "off"))
    elif case == "cannot be created":
        clean_env.setenv("DEMOKIT_CACHE_DIR", str(blocker / "cache"))
    else:
        clean_env.setenv("HOME", str(blocker))
    assert _jit.cache_dir() is None

    @_jit.jit
    def plus_two(x):
        return x + 2.0

    assert plus_two(np.float64(1.0)) == 3.0
    assert type(plus_two._cache).__name__ == "NullCache"
    assert _nb_files(tmp_path) == []


def test_off_switch_is_read_from_the_environment(tmp_path):
    code = "from demokit._kernels import _jit; print(_jit._CACHE, _jit.cache_dir())"
    env = {k: v for k, v in os.environ.items() if k != "DEMOKIT_CACHE_DIR"}
    env.update(DEMOKIT_NUMBA_CACHE="0", PYTHONPATH=str(ROOT), DEMOKIT_CACHE_DIR=str(tmp_path / "c"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.stdout.split() == ["False", "None"], r.stderr


def _worker_task(seed):
    """In a worker process: the life table of a random schedule (compiled, or loaded from the cache)."""
    import numpy as np
    import xarray as xr

    import demokit as dk
    from demokit._kernels import _jit, lifetable

    rng = np.random.default_rng(seed)
    m = xr.DataArray(np.sort(rng.uniform(0.001, 0.3, 12)), dims="age", coords={"age": np.arange(12)})
    ex0 = float(dk.life_table(m, sex="female")["ex"].isel(age=0))
    k = lifetable.life_table_rows_range
    return (str(_jit.cache_dir()), ex0, os.getpid(), sum(k.stats.cache_hits.values()),
            sum(k.stats.cache_misses.values()))


@pytest.mark.slow   # ~10 s: a process cluster compiling from cold; the cache itself: the tests above
def test_many_dask_worker_processes_fill_an_empty_cache_at_once(tmp_path, monkeypatch):
    """Two process workers compile the same kernel into one empty cache at once: all succeed
    with the numbers of an in-memory compilation, the cache holds one index per kernel, and a
    later process loads the kernel from it instead of compiling."""
    distributed = pytest.importorskip("distributed")
    cache = tmp_path / "shared-cache"
    monkeypatch.setenv("DEMOKIT_CACHE_DIR", str(cache))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("DEMOKIT_NUMBA_CACHE", raising=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        workers = list(client.scheduler_info()["workers"])
        futures = [client.submit(_worker_task, i, workers=[w], pure=False) for i, w in enumerate(workers)]
        results = client.gather(futures)
        # a fresh worker process (restarted) now loads the kernel from the filled cache
        client.restart()
        again = client.submit(_worker_task, 0, pure=False).result()
    assert len({r[2] for r in results}) == 2 and again[2] not in {r[2] for r in results}
    assert {r[0] for r in results} == {str(cache.resolve())}
    assert [r[1] for r in results] == [_worker_task(i)[1] for i in range(2)]
    idx = [f for f in _nb_files(cache) if f.endswith(".nbi")]
    assert len(idx) == len(set(idx)) and any(f.startswith("lifetable.life_table_rows_range") for f in idx)
    index = next(p for p in cache.rglob("lifetable.life_table_rows_range*.nbi"))
    assert index.stat().st_size > 0
    assert again[3:] == (1, 0) and again[1] == results[0][1]     # one cache hit, no compilation
    json.dumps(results)   # (plain values came back from the workers)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 1001])
def test_parallel_ranges_cover_every_row_once(n):
    """The threaded ranges that replace ``prange`` cover 0..n-1 exactly once, results in order."""

    @_jit.jit
    def mark_range(i0, i1, out):
        for i in range(i0, i1):
            out[i] += 1.0
        return i1 - i0

    out = np.zeros(n)
    counts = _jit.parallel_ranges(mark_range, n, out)
    assert sum(counts) == n and len(counts) == max(1, min(numba.get_num_threads(), n))
    np.testing.assert_array_equal(out, np.ones(n))
