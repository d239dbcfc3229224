"""An explicit warm-up: compile the main kernels on tiny inputs (:func:`demokit.warm_up`)."""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["warm_up", "tiny_cube"]


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


def warm_up() -> None:
    """Compile the main kernels now for float64 inputs (an explicit warm-up).

    Importing :mod:`demokit` compiles nothing; this runs each accounting
    function and an open-system projection once on a tiny cube, so that later
    calls (of any size) start without compiling.  With the disk cache on
    (:func:`demokit._kernels._jit.cache_dir`) the compiled kernels are kept
    for later processes too.
    """
    from . import accounting

    ds = tiny_cube()
    accounting.balance(ds)
    accounting.mean_population(ds, by="cohort")
    accounting.mean_population(ds, by="age")
    accounting.summary(ds)
    life_tables()
    projection()


def life_tables() -> None:
    """Compile the life table row loop and the life-expectancy root finder (one compilation each)."""
    from .lifetable import life_table, scale_factor_for_life_expectancy

    lt = life_table(xr.DataArray([0.01, 0.001, 0.5], dims="age", coords={"age": [0, 1, 2]}), sex="female")
    scale_factor_for_life_expectancy(45.0, qx=lt.qx, sex="female")   # (e0 from 40.6 at k = 20)


def projection() -> None:
    """Run an open-system annual projection with every component on a tiny cube.

    Compiles :func:`demokit._kernels.projection.annual_sexes` (a single
    projection), ``annual_range`` (a batch: here two scenarios) and
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
    project(base.expand_dims(scenario=["a", "b"]), a, years=[2001], components=False)
