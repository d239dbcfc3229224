"""Shared fixtures and helpers: toy cubes, a scheduler that fails if dask computes."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import xarray as xr


@contextlib.contextmanager
def raise_if_dask_computes(max_computes: int = 0):
    """Fail if dask computes more than ``max_computes`` times inside the block (after flox)."""
    import dask

    count = {"n": 0}

    def scheduler(dsk, keys, **kwargs):
        count["n"] += 1
        if count["n"] > max_computes:
            raise RuntimeError(f"dask computed {count['n']} times; expected at most {max_computes}")
        return dask.get(dsk, keys, **kwargs)

    with dask.config.set(scheduler=scheduler):
        yield


def make_cube(pop, births0, *, deaths=None, in_migration=None, out_migration=None, immigration=None,
              emigration=None, regions=None, years=None, sexes=("female",)) -> xr.Dataset:
    """Build a cube from arrays (region, sex, age, year); births0 (region, sex, year) at mother's age 20."""
    pop = np.asarray(pop, dtype=float)
    R, S, A, T = pop.shape
    regions = regions or [f"{i:02d}" for i in range(1, R + 1)]
    years = years or list(range(2000, 2000 + T))
    coords = {"region": regions, "sex": list(sexes), "age": np.arange(A), "year": years}
    dims = ("region", "sex", "age", "year")
    ds = xr.Dataset({"population": (dims, pop)}, coords=coords, attrs={"open_age": A - 1})
    b = np.zeros_like(pop)
    b[:, :, min(20, A - 1), :] = np.asarray(births0, dtype=float)
    ds["births"] = (dims, b, {"age_convention": "year_end"})
    for name, arr in (("deaths", deaths), ("in_migration", in_migration), ("out_migration", out_migration),
                      ("immigration", immigration), ("emigration", emigration)):
        if arr is not None:
            ds[name] = (dims, np.asarray(arr, dtype=float), {"age_convention": "year_end"})
    return ds


@pytest.fixture(scope="session")
def demo_forecast(tmp_path_factory):
    """``demokit forecast --demo`` run once for the session: (its output directory, the job's results)."""
    from demokit import cli, forecast_job

    out = tmp_path_factory.mktemp("forecast-demo")
    kept = {}
    run = forecast_job.run

    def keep(*args, **kwargs):
        kept["res"] = run(*args, **kwargs)
        return kept["res"]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(forecast_job, "run", keep)
        assert cli.main(["forecast", "--demo", "--out", str(out)]) == 0
    return out, kept["res"]


@pytest.fixture(scope="session")
def counties():
    import demokit as dk

    return dk.datasets.load("sweden_counties")


@pytest.fixture(scope="session")
def norrbotten():
    import demokit as dk

    return dk.datasets.load("norrbotten")
