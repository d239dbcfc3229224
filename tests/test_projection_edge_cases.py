"""Edge cases of the region-last annual kernel, the balanced (housing-plan) mode and the dask path.

Expected values come from the plain-numpy reference of METHODS §6 in
tests/test_projection.py (or are hand-worked), never from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import demokit as dk
from demokit.projection import AssumptionError, Assumptions, project

from .test_projection import SEX, numpy_reference, random_inputs, rel_diff, to_xarray


def _case(R, A, Y, seed):
    inp = random_inputs(R, A, Y, seed=seed)
    inp["f"][..., 1:] = np.random.default_rng(seed + 1).uniform(0.05, 0.5, inp["f"][..., 1:].shape)
    years = list(range(2001, 2001 + Y))
    return inp, years, *to_xarray(inp, years)


# --------------------------------------------------------------------------- dask: extra dims by label
def test_dask_extra_dims_with_different_labels_raise_like_eager():
    """blockwise pairs blocks by position: scenario labels in another order must not be mixed up."""
    pytest.importorskip("dask")
    _inp, years, P0, a = _case(3, 6, 2, seed=1)
    f = a.fertility * xr.DataArray([0.5, 2.0], dims="scenario", coords={"scenario": ["lo", "hi"]})
    q = a.death_risks * xr.DataArray([1.5, 0.5], dims="scenario", coords={"scenario": ["hi", "lo"]})
    with pytest.raises(AssumptionError, match="disagree"):
        project(P0, a.replace(fertility=f, death_risks=q), years=years)
    with pytest.raises(AssumptionError, match="disagree"):   # was: silently 'lo' = f·0.5 with q·1.5
        project(P0, a.replace(fertility=f.chunk(scenario=1), death_risks=q), years=years).compute()
    P0s = xr.concat([P0, 2 * P0], dim=xr.DataArray(["hi", "lo"], dims="scenario", name="scenario"))
    with pytest.raises(AssumptionError, match="disagree"):
        project(P0s.chunk(scenario=1), a.replace(fertility=f), years=years).compute()


# --------------------------------------------------------------------------- Assumptions.replace
def test_replace_dropping_the_in_movers_of_the_balanced_mode():
    """Removing every in-migration input of a housing-plan mode gives no internal migration (as from open)."""
    inp, years, P0, a = _case(3, 6, 2, seed=2)
    plan = xr.DataArray(np.full((2, 3), 500.0), dims=("year", "region"),
                        coords={"year": years, "region": P0.region.values})
    b = a.replace(in_migration_shares=None, in_migration=plan, in_migration_profile=a.immigration_profile,
                  balance_in_migration=True)
    assert b.internal_migration == "balanced"
    none = b.replace(in_migration=None, in_migration_profile=None, out_migration_risks=None)
    assert none.internal_migration == "none"
    res = project(P0, none, years=years)
    zero = np.zeros_like(inp["u"])
    ref = numpy_reference(inp["P0"], inp["q"], zero, inp["e"], zero, inp["f"], inp["boys"], inp["imm"],
                          inp["iprof"])
    for k, v in ref.items():
        assert rel_diff(res[k].transpose("region", "sex", "age", "year").values, v) <= 1e-12, k


# --------------------------------------------------------------------------- small cases, by-year inputs
@pytest.mark.parametrize("mode", ["open", "closed", "balanced"])
@pytest.mark.parametrize("A", [2, 3])
def test_few_ages_by_year_inputs_and_adjustment(mode, A):
    """Ages 0..1 / 0..2, risks varying by year (rows re-prepared for t + 1), an adjustment term."""
    Y, R = 4, 3
    inp, years, P0, a = _case(R, A, Y, seed=10 * A)
    rng = np.random.default_rng(A)
    adj = rng.uniform(-2, 2, (Y, R, 2, A))
    plan = rng.uniform(100, 900, (Y, R))
    kw = {"adjustment": xr.DataArray(adj, dims=("year", "region", "sex", "age"), coords=a.death_risks.coords)}
    if mode != "closed":
        kw.update(in_migration_shares=None, in_migration_profile=a.immigration_profile,
                  in_migration=xr.DataArray(plan, dims=("year", "region"),
                                            coords={"year": years, "region": P0.region.values}),
                  balance_in_migration=mode == "balanced")
    b = a.replace(**kw)
    res = project(P0, b, years=years)
    ref = numpy_reference(inp["P0"], inp["q"], inp["u"], inp["e"], inp["iprof"] if mode != "closed" else inp["w"],
                          inp["f"], inp["boys"], inp["imm"], inp["iprof"], closed=mode != "open", in_tot=plan,
                          adj=adj, balanced=mode == "balanced")
    for k, v in ref.items():
        assert rel_diff(res[k].transpose("region", "sex", "age", "year").values, v) <= 1e-9, k
    pop = project(P0, b, years=years, components=False)
    np.testing.assert_allclose(pop.population, res.population, rtol=1e-13)


def test_balanced_region_without_plan_gets_no_in_movers():
    """A region whose plan is 0 receives nobody; the others share the whole pool."""
    _inp, years, P0, a = _case(3, 6, 2, seed=4)
    plan = xr.DataArray([[300.0, 0.0, 600.0]] * 2, dims=("year", "region"),
                        coords={"year": years, "region": P0.region.values})
    b = a.replace(in_migration_shares=None, in_migration=plan, in_migration_profile=a.immigration_profile,
                  balance_in_migration=True)
    r = project(P0, b, years=years)
    assert float(abs(r.in_migration.isel(region=1)).max()) == 0.0
    np.testing.assert_allclose(r.in_migration.sum("region"), r.out_migration.sum("region"), rtol=1e-12)
    I = r.in_migration.sel(age=slice(1, None)).sum(("sex", "age"))
    np.testing.assert_allclose(I.isel(region=2) / I.isel(region=0), 2.0, rtol=1e-9)
    assert SEX == list(r.sex.values)


def test_balanced_errors_zero_plan_and_uniform_scale_in_closed_system():
    years = [2001, 2002]
    inp = random_inputs(3, 4, 2, seed=5)
    P0, a = to_xarray(inp, years)
    zero = xr.DataArray(np.zeros((2, 3)), dims=("year", "region"), coords={"year": years, "region": P0.region.values})
    with pytest.raises(AssumptionError, match=r"in_migration summed over region.*year=2001.*must not all be 0"):
        a.replace(in_migration_shares=None, in_migration=zero, in_migration_profile=a.immigration_profile,
                  balance_in_migration=True)
    ds = dk.datasets.load("norrbotten")
    with pytest.raises(AssumptionError, match="in_migration_scale without a 'region' dim has no effect"):
        Assumptions.from_history(ds, years=range(2015, 2020), system="closed",
                                 scenarios={"main": {}, "high": {"in_migration_scale": 1.2}})


def test_a_dataset_base_population_is_left_as_it_was():
    """project(ds) reads ds.attrs with the population's; it does not write them into the user's Dataset."""
    _inp, years, P0, a = _case(3, 6, 2, seed=3)
    ds = xr.Dataset({"population": P0.assign_attrs(units="persons")}, attrs={"source": "register"})
    out = project(ds, a, years=years)
    assert dict(ds.population.attrs) == {"units": "persons"}
    assert dict(ds.attrs) == {"source": "register"}
    np.testing.assert_array_equal(out.population.values, project(P0, a, years=years).population.values)
