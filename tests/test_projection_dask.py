"""Scale-out of dk.project: dask chunks along scenario / draw, on a LocalCluster with processes."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from demokit.cube import CubeError
from demokit.projection import project

from .test_projection import random_inputs, to_xarray


class _RaiseIfComputes:
    """A dask scheduler that fails if anything is computed (flox's raise_if_dask_computes)."""

    def __call__(self, dsk, keys, **kwargs):
        raise RuntimeError("dask computed something while building the lazy projection")


def _case(n_draws=6):
    inp = random_inputs(5, 25, 4, seed=11)
    years = [2001, 2002, 2003, 2004]
    P0, a = to_xarray(inp, years)
    draw = xr.DataArray(np.linspace(0.6, 1.4, n_draws), dims="draw", coords={"draw": np.arange(n_draws)})
    mort = xr.DataArray(np.linspace(1.1, 0.9, n_draws), dims="draw", coords={"draw": np.arange(n_draws)})
    a = a.replace(fertility=a.fertility * draw, death_risks=a.death_risks * mort)
    return P0, a, years


def test_lazy_result_same_numbers_threads():
    P0, a, years = _case()
    eager = project(P0, a, years=years)
    lazy_a = a.replace(fertility=a.fertility.chunk(draw=2), death_risks=a.death_risks.chunk(draw=3))
    with dask.config.set(scheduler=_RaiseIfComputes()):
        lazy = project(P0, lazy_a, years=years)
    for k in lazy.data_vars:
        assert lazy[k].chunks is not None, k
    xr.testing.assert_allclose(lazy.compute(), eager, rtol=1e-13)
    # a chunked base population with a scenario dim is lazy too
    P0s = xr.concat([P0, P0 * 1.1], dim=xr.DataArray(["a", "b"], dims="scenario", name="scenario")).chunk(
        scenario=1)
    with dask.config.set(scheduler=_RaiseIfComputes()):
        lz = project(P0s, a, years=years, components=False)
    xr.testing.assert_allclose(lz.population.sel(scenario="b", drop=True).compute(),
                               project(P0 * 1.1, a, years=years, components=False).population, rtol=1e-13)


@pytest.mark.slow   # 2-12 s starting worker processes; same numbers lazily: test_lazy_result_same_numbers_threads
def test_local_cluster_with_processes():
    P0, a, years = _case(n_draws=8)
    eager = project(P0, a, years=years)
    lazy_a = a.replace(fertility=a.fertility.chunk(draw=2), death_risks=a.death_risks.chunk(draw=2))
    lazy = project(P0, lazy_a, years=years)
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster):
        got = lazy.compute()
    xr.testing.assert_allclose(got, eager, rtol=1e-13)


def test_chunked_core_dims_error_names_dims():
    P0, a, years = _case()
    with pytest.raises(CubeError, match=r"fertility is chunked along 'age'.*\.chunk\(\{'age': -1\}\)"):
        project(P0, a.replace(fertility=a.fertility.chunk(age=5)), years=years)
    with pytest.raises(CubeError, match=r"death_risks is chunked along 'year', 'age'"):
        project(P0, a.replace(death_risks=a.death_risks.chunk(year=1, age=5)), years=years)
