"""Compile the accounting kernels on a tiny cube (used by :func:`demokit._kernels.warm_up`)."""

from __future__ import annotations

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
