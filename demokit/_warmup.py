"""Compile kernels on tiny inputs: the accounting kernels (:func:`demokit._kernels.warm_up`), and the
projection kernels in a second process while the command line works (:func:`start_projection_compile`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr


def tiny_cube() -> xr.Dataset:
    """Return a valid 1-region, 2-sex, 4-age, 3-year cube with every component."""
    dims = ("region", "sex", "age", "year")
    shape = (1, 2, 4, 3)
    coords = {"region": ["0000"], "sex": ["female", "male"], "age": np.arange(4), "year": [2000, 2001, 2002]}
    ones = np.ones(shape)
    ye = {"age_convention": "year_end"}
    ds = xr.Dataset({"population": (dims, 10 * ones), "births": (dims, ones, ye), "deaths": (dims, ones, ye),
                     "in_migration": (dims, ones, ye), "out_migration": (dims, ones, ye),
                     "immigration": (dims, ones, ye), "emigration": (dims, ones, ye)},
                    coords=coords, attrs={"open_age": 3})
    return ds


def run() -> None:
    from . import accounting

    ds = tiny_cube()
    accounting.balance(ds)
    accounting.mean_population(ds, by="cohort")
    accounting.mean_population(ds, by="age")
    accounting.summary(ds)


def projection() -> None:
    """Run an open-system annual projection with every component on a tiny cube.

    Compiles :func:`demokit._kernels.projection.annual_range` and
    ``components_range`` for exactly the argument types that ``dk.project``
    passes them (the arrays go through the same conversion whatever the size).
    """
    from .projection import Assumptions, project

    regions, ages = ["a", "b"], np.arange(4)
    c3 = {"region": regions, "sex": ["female", "male"], "age": ages}
    cell = xr.DataArray(np.full((2, 2, 4), 0.01), dims=("region", "sex", "age"), coords=c3)
    profile = xr.full_like(cell, 1.0 / 8)
    per_region = xr.DataArray([10.0, 20.0], dims="region", coords={"region": regions})
    fert = xr.DataArray(np.full((4, 2), 0.1), dims=("age", "region"), coords={"age": ages, "region": regions})
    a = Assumptions(death_risks=cell, out_migration_risks=cell, emigration_risks=cell,
                    in_migration=per_region, in_migration_profile=profile,
                    immigration=per_region, immigration_profile=profile, fertility=fert)
    base = xr.full_like(cell, 100.0).expand_dims(year=[2000])
    project(base, a, years=[2001, 2002], components=True)


def start_projection_compile() -> subprocess.Popen | None:
    """Start compiling the projection kernels into the disk cache in a second process, or return None.

    For one cold command-line run on a machine with two or more cores: the
    projection kernels (~7 s of compilation) are compiled while this process
    reads the data and fits the statistical basis, and are then loaded from the
    cache instead of compiled here.  Nothing is started when the cache is off
    or unwritable, when they are already cached, or with one core; if this
    process needs them first it compiles them itself (the file locks keep
    the cache consistent).  The caller terminates the process when done.
    """
    from ._kernels import _jit, projection as kp

    if _jit.cache_dir() is None or (os.cpu_count() or 1) < 2:
        return None
    try:
        cached = all(os.path.exists(os.path.join(k._cache._cache_path, k._cache._cache_file._index_name))
                     for k in (kp.annual_range, kp.components_range))
    except AttributeError:   # not a file cache
        return None
    if cached:
        return None
    root = str(Path(__file__).resolve().parent.parent)   # the same source files, hence the same cache entries
    env = dict(os.environ, DEMOKIT_CACHE_DIR=str(_jit.cache_dir()),
               PYTHONPATH=os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    try:
        return subprocess.Popen([sys.executable, "-c", "from demokit import _warmup; _warmup.projection()"],
                                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    except OSError:
        return None
