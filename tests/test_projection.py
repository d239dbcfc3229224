"""Tests of dk.project / dk.Assumptions (METHODS §6) against independent numbers.

* a plain numpy implementation of METHODS §6 written here (290 regions × 50 years);
* Preston, Heuveline & Guillot (2001) Box 6.2 (Sweden 1993 → 1998), to the person;
* hand-worked small examples;
* hypothesis properties (no negatives, pure ageing, region-order invariance).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import demokit as dk
from demokit.cube import CubeError
from demokit.projection import AssumptionError, Assumptions, constrain, project

DATA = Path(__file__).parent / "data"
SEX = ["female", "male"]


# --------------------------------------------------------------------------- reference
def ipf_in_movers(pool, tot, prof):
    """Plain numpy IPF on the in-mover matrix itself (not on shares), ages >= 1.

    ``M(r, s, x)`` starts at ``tot_r · prof_r(s, x)``; columns are scaled to the
    pool, rows to ``tot_r · Σ pool / Σ tot``, until the rows agree to 1e-13.
    """
    M = tot[:, None, None] * prof[..., 1:]
    target = tot * pool[:, 1:].sum() / tot.sum()
    for _ in range(10000):
        M = M * (pool[None, :, 1:] / M.sum(axis=0, keepdims=True))
        rows = M.sum(axis=(1, 2))
        if np.max(np.abs(rows - target) / target) < 1e-13:
            break
        M = M * (target / rows)[:, None, None]
    return M


def numpy_reference(P0, q, u, e, w, f, boys, imm, iprof, *, closed=True, in_tot=None, adj=None,
                    balanced=False):
    """METHODS §6 in plain numpy, one Python loop over years.

    P0 (R,S,A); q,u,e,w,iprof (Y,R,S,A); f (Y,R,A); boys, imm (Y,R).  In the
    open mode ``w`` is the in-mover profile and ``in_tot`` (Y,R) the totals;
    ``balanced=True``: closed, the totals spread by ``w`` and balanced by IPF.
    """
    Y = q.shape[0]
    res = {k: [] for k in ("population", "births", "deaths", "in_migration", "out_migration",
                           "immigration", "emigration")}
    P = P0.copy()
    for t in range(Y):
        N = np.zeros_like(P)
        N[..., 1:] = P[..., :-1]
        N[..., -1] += P[..., -1]
        D, O, E = N * q[t], N * u[t], N * e[t]
        IM = imm[t][:, None, None] * iprof[t]
        if balanced:
            I = np.zeros_like(N)
            I[..., 1:] = ipf_in_movers(O.sum(axis=0), in_tot[t], w[t])
        elif closed:
            I = O.sum(axis=0)[None] * w[t]
        else:
            I = in_tot[t][:, None, None] * w[t]
        A = np.zeros_like(N) if adj is None else adj[t]
        new = N - D - O - E + I + IM + A
        Wf = (N[:, 0] + new[:, 0]) / 2                      # mean women of each cohort
        Bx = f[t] * Wf
        Bx[:, 0] = 0.0
        B = Bx.sum(axis=-1)
        Bs = np.stack([B * (1 - boys[t]), B * boys[t]], axis=1)   # (R, S)
        D[..., 0] = Bs * q[t][..., 0]
        O[..., 0] = Bs * u[t][..., 0]
        E[..., 0] = Bs * e[t][..., 0]
        if balanced:
            m0 = in_tot[t][:, None] * w[t][..., 0]
            I[..., 0] = O[..., 0].sum(axis=0)[None] * m0 / m0.sum(axis=0)
        elif closed:
            I[..., 0] = O[..., 0].sum(axis=0)[None] * w[t][..., 0]
        new[..., 0] = Bs - D[..., 0] - O[..., 0] - E[..., 0] + I[..., 0] + IM[..., 0] + A[..., 0]
        births = np.stack([Bx * (1 - boys[t])[:, None], Bx * boys[t][:, None]], axis=1)
        for k, v in zip(res, (new, births, D, I, O, IM, E)):
            res[k].append(v)
        P = new
    return {k: np.stack(v, axis=-1) for k, v in res.items()}   # (R,S,A,Y)


def random_inputs(R, A, Y, seed=0, year_varying=True):
    rng = np.random.default_rng(seed)
    ages = np.arange(A)
    P0 = rng.uniform(50, 1000, (R, 2, A))
    Yq = Y if year_varying else 1
    q = np.broadcast_to(rng.uniform(0.0005, 0.02, (Yq, R, 2, A)), (Y, R, 2, A)).copy()
    q[..., -5:] = rng.uniform(0.1, 0.4, (Yq, R, 2, 5)) if A > 5 else q[..., -5:]
    u = np.broadcast_to(rng.uniform(0.0, 0.08, (Yq, R, 2, A)), (Y, R, 2, A)).copy()
    e = np.broadcast_to(rng.uniform(0.0, 0.01, (Yq, R, 2, A)), (Y, R, 2, A)).copy()
    w = rng.uniform(0.1, 1.0, (Y, R, 2, A))
    w /= w.sum(axis=1, keepdims=True)
    f = np.zeros((Y, R, A))
    fa = (ages >= 15) & (ages <= 49)
    f[..., fa] = rng.uniform(0.0, 0.12, (Y, R, int(fa.sum())))
    boys = rng.uniform(0.50, 0.53, (Y, R))
    imm = rng.uniform(0, 300, (Y, R))
    ip = rng.uniform(0, 1, (Y, R, 2, A))
    ip /= ip.sum(axis=(2, 3), keepdims=True)
    return {"P0": P0, "q": q, "u": u, "e": e, "w": w, "f": f, "boys": boys, "imm": imm, "iprof": ip, "ages": ages}


def to_xarray(inp, years, regions=None):
    R = inp["P0"].shape[0]
    regions = regions if regions is not None else [f"{i:04d}" for i in range(R)]
    ages = inp["ages"]
    c4 = {"year": years, "region": regions, "sex": SEX, "age": ages}
    cell = lambda v: xr.DataArray(v, dims=("year", "region", "sex", "age"), coords=c4)
    P0 = xr.DataArray(inp["P0"], dims=("region", "sex", "age"),
                      coords={"region": regions, "sex": SEX, "age": ages}).assign_coords(year=years[0] - 1)
    a = Assumptions(
        death_risks=cell(inp["q"]), out_migration_risks=cell(inp["u"]), emigration_risks=cell(inp["e"]),
        in_migration_shares=cell(inp["w"]),
        immigration=xr.DataArray(inp["imm"], dims=("year", "region"), coords={"year": years, "region": regions}),
        immigration_profile=cell(inp["iprof"]),
        fertility=xr.DataArray(inp["f"], dims=("year", "region", "age"),
                               coords={"year": years, "region": regions, "age": ages}),
        boys_share=xr.DataArray(inp["boys"], dims=("year", "region"), coords={"year": years, "region": regions}),
    )
    return P0, a


def rel_diff(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1.0)))


# --------------------------------------------------------------------------- 290 × 50
def test_290_regions_50_years_against_numpy_reference():
    Y = 50
    inp = random_inputs(290, 101, Y, seed=1)
    years = list(range(2021, 2021 + Y))
    P0, a = to_xarray(inp, years)
    res = project(P0, a, years=years)
    ref = numpy_reference(inp["P0"], inp["q"], inp["u"], inp["e"], inp["w"], inp["f"], inp["boys"],
                          inp["imm"], inp["iprof"])
    for k, v in ref.items():
        got = res[k].transpose("region", "sex", "age", "year").values
        assert rel_diff(got, v) <= 1e-9, k
    # internal migration is conserved for every sex, age and year
    np.testing.assert_allclose(res.in_migration.sum("region"), res.out_migration.sum("region"),
                               rtol=1e-12, atol=1e-9)
    assert res.attrs["internal_migration"] == "closed"
    assert res.population.attrs["units"] == "persons"
    assert res.deaths.attrs["age_convention"] == "year_end"
    # the accounting identity holds cell by cell: P(x,t) = N + I − O + IM − EM − D
    prev = xr.concat([P0.drop_vars("year").expand_dims(year=[2020]), res.population], "year")
    N = prev.shift(age=1, fill_value=0.0)
    N = N.where(N.age < 100, N + prev.where(prev.age == 100, 0.0))
    N = N.isel(year=slice(None, -1)).assign_coords(year=years)
    bal = (N + res.in_migration - res.out_migration + res.immigration - res.emigration - res.deaths)
    bal = bal.where(bal.age > 0, res.births.sum("age") + bal)
    assert float(abs(bal - res.population).max()) < 1e-6


@pytest.mark.parametrize("closed", [True, False])
def test_many_regions_and_adjustment(closed):
    """600 regions, open and closed systems, an adjustment term varying by year."""
    Y = 3
    inp = random_inputs(600, 101, Y, seed=7)
    years = [2001, 2002, 2003]
    P0, a = to_xarray(inp, years)
    rng = np.random.default_rng(8)
    adj = rng.uniform(-2, 2, (Y, 600, 2, 101))
    in_tot = rng.uniform(100, 500, (Y, 600))
    adj_da = xr.DataArray(adj, dims=("year", "region", "sex", "age"), coords=a.death_risks.coords)
    if closed:
        a = a.replace(adjustment=adj_da)
    else:
        a = a.replace(in_migration_shares=None, adjustment=adj_da,
                      in_migration=xr.DataArray(in_tot, dims=("year", "region"),
                                                coords={"year": years, "region": P0.region.values}),
                      in_migration_profile=a.immigration_profile)
    res = project(P0, a, years=years)
    ref = numpy_reference(inp["P0"], inp["q"], inp["u"], inp["e"], inp["w"] if closed else inp["iprof"],
                          inp["f"], inp["boys"], inp["imm"], inp["iprof"], closed=closed, in_tot=in_tot, adj=adj)
    for k, v in ref.items():
        assert rel_diff(res[k].transpose("region", "sex", "age", "year").values, v) <= 1e-9, k
    pop = project(P0, a, years=years, components=False)
    xr.testing.assert_allclose(pop.population, res.population, rtol=1e-13)


def test_balanced_in_migration_housing_plan_against_numpy_ipf():
    """Closed system with in-mover totals (a housing plan) balanced by IPF against the pool."""
    Y, R = 4, 40
    inp = random_inputs(R, 101, Y, seed=11)
    years = list(range(2021, 2021 + Y))
    P0, a = to_xarray(inp, years)
    rng = np.random.default_rng(12)
    plan = rng.uniform(200, 2000, (Y, R))
    plan[:, 3] *= 5                                  # one region with a large building programme
    plan_da = xr.DataArray(plan, dims=("year", "region"), coords={"year": years, "region": P0.region.values})
    b = a.replace(in_migration_shares=None, in_migration=plan_da, in_migration_profile=a.immigration_profile,
                  balance_in_migration=True)
    assert b.internal_migration == "balanced"
    res = project(P0, b, years=years)
    ref = numpy_reference(inp["P0"], inp["q"], inp["u"], inp["e"], inp["iprof"], inp["f"], inp["boys"],
                          inp["imm"], inp["iprof"], in_tot=plan, balanced=True)
    for k, v in ref.items():
        assert rel_diff(res[k].transpose("region", "sex", "age", "year").values, v) <= 1e-9, k
    # every in-mover comes from the pool, for every sex, age and year
    np.testing.assert_allclose(res.in_migration.sum("region"), res.out_migration.sum("region"), rtol=1e-12)
    # each region's in-movers (ages >= 1) follow the plan, scaled to the persons who actually move
    got = res.in_migration.sel(age=slice(1, None)).sum(("sex", "age")).transpose("year", "region").values
    pool = res.out_migration.sel(age=slice(1, None)).sum(("region", "sex", "age")).values
    np.testing.assert_allclose(got, plan * (pool / plan.sum(axis=1))[:, None], rtol=1e-9)
    assert res.attrs["internal_migration"] == "balanced"
    # errors
    with pytest.raises(AssumptionError, match="needs in_migration totals"):
        a.replace(balance_in_migration=True)
    with pytest.raises(AssumptionError, match="give out_migration_risks"):
        b.replace(out_migration_risks=None)


def test_components_false_keeps_only_population():
    inp = random_inputs(7, 30, 6, seed=2)
    years = list(range(2001, 2007))
    P0, a = to_xarray(inp, years)
    full = project(P0, a, years=years)
    pop = project(P0, a, years=years, components=False)
    assert list(pop.data_vars) == ["population"]
    xr.testing.assert_allclose(pop.population, full.population, rtol=1e-14)


def test_constant_assumptions_broadcast_over_years_and_scenarios():
    """Year-less assumptions apply to every year; a scenario dim gives one projection per scenario."""
    inp = random_inputs(4, 20, 5, seed=3, year_varying=False)
    for k in ("w", "f", "boys", "imm", "iprof"):
        inp[k] = np.broadcast_to(inp[k][:1], inp[k].shape).copy()
    years = list(range(2001, 2006))
    P0, a = to_xarray(inp, years)
    a1 = Assumptions(**{k: v.isel(year=0, drop=True) for k, v in a.data.items()})
    r0 = project(P0, a, years=years)
    r1 = project(P0, a1, years=years)
    xr.testing.assert_allclose(r0, r1, rtol=1e-13)
    scale = xr.DataArray([0.5, 1.0, 1.5], dims="scenario", coords={"scenario": ["low", "main", "high"]})
    a2 = a1.replace(fertility=a1.fertility * scale)
    r2 = project(P0, a2, years=years)
    assert r2.population.dims == ("scenario", "region", "sex", "age", "year")
    xr.testing.assert_allclose(r2.population.sel(scenario="main", drop=True), r1.population, rtol=1e-13)
    r_low = project(P0, a1.replace(fertility=a1.fertility * 0.5), years=years)
    xr.testing.assert_allclose(r2.population.sel(scenario="low", drop=True), r_low.population, rtol=1e-13)
    assert float(r2.births.sel(scenario="high").sum()) > float(r2.births.sel(scenario="low").sum())


def test_open_system_hand_worked():
    """One region, ages 0..2 (2 open), one year, open system; numbers by hand.

    Women P0 = [100, 80, 50], men P0 = [100, 90, 40]; q = 0.1 everywhere, u = 0.2,
    e = 0; in-movers 30 per year with profile 1/6 in every cell; no immigration;
    fertility 0.5 at age 1 only; boys 0.5.
    Age 1 women: N = 100 → D 10, O 20, I 5 → 75;  age 2 women: N = 80 + 50 = 130 →
    D 13, O 26, I 5 → 96.  Births = 0.5 · (100 + 75) / 2 = 43.75 → 21.875 girls:
    D 2.1875, O 4.375, I 5 → 20.3125.  Men age 1: 100 − 10 − 20 + 5 = 75; age 2:
    130 − 39 + 5 = 96; age 0 as girls.
    """
    ages = [0, 1, 2]
    P0 = xr.DataArray([[[100, 80, 50], [100, 90, 40]]], dims=("region", "sex", "age"),
                      coords={"region": ["A"], "sex": SEX, "age": ages}).astype(float)
    risk = lambda v: xr.DataArray(np.full((2, 3), v), dims=("sex", "age"), coords=dict(sex=SEX, age=ages))  # noqa
    prof = xr.DataArray(np.full((1, 2, 3), 1 / 6), dims=("region", "sex", "age"),
                        coords={"region": ["A"], "sex": SEX, "age": ages})
    a = Assumptions(death_risks=risk(0.1), out_migration_risks=risk(0.2),
                    in_migration=xr.DataArray([30.0], dims="region", coords={"region": ["A"]}),
                    in_migration_profile=prof,
                    fertility=xr.DataArray([0.0, 0.5, 0.0], dims="age", coords={"age": ages}), boys_share=0.5)
    r = project(P0, a, years=[2001])
    np.testing.assert_allclose(r.population.sel(region="A", year=2001, sex="female").values, [20.3125, 75, 96])
    np.testing.assert_allclose(r.population.sel(region="A", year=2001, sex="male").values, [20.3125, 75, 96])
    np.testing.assert_allclose(float(r.births.sum()), 43.75)
    np.testing.assert_allclose(r.in_migration.sum().item(), 30.0)
    assert r.attrs["internal_migration"] == "open"


def test_closed_system_hand_worked():
    """Two regions, one cohort: out-movers of A and B pool and are shared 25/75."""
    ages = [0, 1]
    P0 = xr.DataArray(np.array([[[100.0, 0], [0, 0]], [[300.0, 0], [0, 0]]]), dims=("region", "sex", "age"),
                      coords={"region": ["A", "B"], "sex": SEX, "age": ages})
    zero = xr.DataArray(np.zeros((2, 2)), dims=("sex", "age"), coords={"sex": SEX, "age": ages})
    w = xr.DataArray(np.array([np.full((2, 2), 0.25), np.full((2, 2), 0.75)]), dims=("region", "sex", "age"),
                     coords={"region": ["A", "B"], "sex": SEX, "age": ages})
    a = Assumptions(death_risks=zero, out_migration_risks=zero + 0.1, in_migration_shares=w,
                    fertility=xr.DataArray([0.0, 0.0], dims="age", coords={"age": ages}))
    r = project(P0, a, years=[2001]).sel(year=2001, sex="female", age=1)
    # pool = 10 + 30 = 40 → A gets 10, B gets 30: A = 100 − 10 + 10, B = 300 − 30 + 30
    np.testing.assert_allclose(r.population.values, [100.0, 300.0])
    np.testing.assert_allclose(r.in_migration.values, [10.0, 30.0])
    np.testing.assert_allclose(r.out_migration.values, [10.0, 30.0])


# --------------------------------------------------------------------------- Preston Box 6.2
def _preston():
    d = pd.read_csv(DATA / "preston_sweden_1993" / "inputs_and_expected.csv")
    exp = pd.read_csv(DATA / "preston_sweden_1993" / "expected_1998.csv")
    sc = json.loads((DATA / "preston_sweden_1993" / "scalars.json").read_text())
    ages = d["age_start"].values

    def two(fcol, mcol):
        return xr.DataArray(np.stack([d[fcol].values, d[mcol].values]).astype(float), dims=("sex", "age"),
                            coords={"sex": SEX, "age": ages})
    return d, exp, sc, ages, two


@pytest.mark.parametrize("use_dask", [False, True])
def test_preston_box_6_2_to_the_person(use_dask):
    d, exp, sc, ages, two = _preston()
    P0 = two("P0F", "P0M").assign_coords(year=1993)
    if use_dask:
        P0 = P0.chunk()
    srb = sc["srb"]
    a = Assumptions(survival=two("SxF", "SxM"),
                    fertility=xr.DataArray(d["asfr"].values, dims="age", coords={"age": ages}),
                    net_migration=two("NMxF", "NMxM"), boys_share=srb / (1 + srb),
                    migration_timing=sc["mig_assumption"])
    r = project(P0, a, years=[1998], step=sc["n"])
    if use_dask:
        assert r.population.chunks is not None
    pop = r.population.sel(year=1998)
    np.testing.assert_array_equal(np.round(pop.sel(sex="female").values), exp["PzF_expected_1998"].values)
    np.testing.assert_array_equal(np.round(pop.sel(sex="male").values), exp["PzM_expected_1998"].values)
    births = r.births.sel(year=1998).sum("sex")
    np.testing.assert_array_equal(np.round(births.values), exp["Bx_expected_births_by_mother_age_1993_1998"])
    assert r.attrs["step"] == 5


def test_nyear_end_timing_adds_migrants_after_births():
    d, _exp, _sc, ages, two = _preston()
    P0 = two("P0F", "P0M")
    kw = {"survival": two("SxF", "SxM"), "fertility": xr.DataArray(d["asfr"].values, dims="age",
                                                                   coords={"age": ages}), "boys_share": 0.5}
    nm = two("NMxF", "NMxM")
    r_end = project(P0, Assumptions(**kw, net_migration=nm, migration_timing="end"), years=[1998], step=5)
    r_none = project(P0, Assumptions(**kw), years=[1998], step=5)
    # all migrants added at the end: they neither die nor give birth in the step
    xr.testing.assert_allclose(r_end.population - r_none.population, nm.expand_dims(year=[1998]).transpose(
        "sex", "age", "year"))


# --------------------------------------------------------------------------- properties
def _small_case(data, R, A, Y):
    rng = np.random.default_rng(data)
    q = rng.uniform(0, 1, (Y, R, 2, A))
    u = rng.uniform(0, 1, (Y, R, 2, A))
    e = rng.uniform(0, 1, (Y, R, 2, A))
    tot = q + u + e
    scale = np.where(tot > 1, 1 / tot, 1.0)
    inp = {"P0": rng.uniform(0, 100, (R, 2, A)), "q": q * scale, "u": u * scale, "e": e * scale,
               "f": rng.uniform(0, 1, (Y, R, A)), "boys": rng.uniform(0, 1, (Y, R)),
               "imm": rng.uniform(0, 50, (Y, R)), "ages": np.arange(A)}
    w = rng.uniform(0, 1, (Y, R, 2, A)) + 1e-3
    inp["w"] = w / w.sum(axis=1, keepdims=True)
    ip = rng.uniform(0, 1, (Y, R, 2, A)) + 1e-3
    inp["iprof"] = ip / ip.sum(axis=(2, 3), keepdims=True)
    return inp


dims_st = st.tuples(st.integers(0, 2**31), st.integers(1, 5), st.integers(2, 8), st.integers(1, 6))


@settings(max_examples=30, deadline=None)
@given(dims_st)
def test_property_no_negative_population(args):
    seed, R, A, Y = args
    inp = _small_case(seed, R, A, Y)
    years = list(range(2001, 2001 + Y))
    P0, a = to_xarray(inp, years)
    r = project(P0, a, years=years)
    scale = max(1.0, float(r.population.max()))
    for k in r.data_vars:
        assert float(r[k].min()) >= -1e-12 * scale, k


@settings(max_examples=20, deadline=None)
@given(dims_st)
def test_property_zero_rates_only_ageing(args):
    seed, R, A, Y = args
    inp = _small_case(seed, R, A, Y)
    for k in ("q", "u", "e", "f", "imm"):
        inp[k] = np.zeros_like(inp[k])
    years = list(range(2001, 2001 + Y))
    P0, a = to_xarray(inp, years)
    r = project(P0, a, years=years)
    P = inp["P0"].copy()
    for t in range(Y):
        new = np.zeros_like(P)
        new[..., 1:] = P[..., :-1]
        new[..., -1] += P[..., -1]
        P = new
        np.testing.assert_array_equal(r.population.isel(year=t).values, P)


@settings(max_examples=20, deadline=None)
@given(dims_st, st.randoms(use_true_random=False))
def test_property_region_order_invariance(args, rnd):
    seed, R, A, Y = args
    inp = _small_case(seed, R, A, Y)
    years = list(range(2001, 2001 + Y))
    regions = [f"r{i}" for i in range(R)]
    P0, a = to_xarray(inp, years, regions)
    r = project(P0, a, years=years)
    perm = list(range(R))
    rnd.shuffle(perm)
    perm_regions = [regions[i] for i in perm]
    # permute the base population and every assumption independently
    P0p = P0.sel(region=perm_regions)
    rnd.shuffle(perm)
    ap = Assumptions(**{k: (v.sel(region=[regions[i] for i in perm]) if "region" in v.dims else v)
                        for k, v in a.data.items()})
    rp = project(P0p, ap, years=years)
    assert list(rp.region.values) == perm_regions
    xr.testing.assert_allclose(rp.sel(region=regions), r, rtol=1e-12, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(dims_st, st.randoms(use_true_random=False))
def test_property_balanced_conserves_and_ignores_region_order(args, rnd):
    """Housing-plan mode: Σ in = Σ out for every cell; permuting the regions permutes the result."""
    seed, R, A, Y = args
    inp = _small_case(seed, R, A, Y)
    years = list(range(2001, 2001 + Y))
    regions = [f"r{i}" for i in range(R)]
    P0, a = to_xarray(inp, years, regions)
    plan = xr.DataArray(np.random.default_rng(seed).uniform(1, 100, (Y, R)), dims=("year", "region"),
                        coords={"year": years, "region": regions})
    a = a.replace(in_migration_shares=None, in_migration=plan, in_migration_profile=a.immigration_profile,
                  balance_in_migration=True)
    r = project(P0, a, years=years)
    scale = max(1.0, float(r.out_migration.sum("region").max()))
    assert float(abs(r.in_migration.sum("region") - r.out_migration.sum("region")).max()) <= 1e-12 * scale
    perm = regions[:]
    rnd.shuffle(perm)
    ap = Assumptions(**{k: (v.sel(region=perm) if "region" in v.dims else v) for k, v in a.data.items()},
                     balance_in_migration=True)
    rp = project(P0.sel(region=perm), ap, years=years)
    xr.testing.assert_allclose(rp.sel(region=regions), r, rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------- errors
def _tiny():
    inp = random_inputs(3, 10, 2, seed=5)
    years = [2001, 2002]
    return inp, years, *to_xarray(inp, years)


def test_error_shares_do_not_sum_to_one():
    _inp, _years, _P0, a = _tiny()
    with pytest.raises(AssumptionError, match="in_migration_shares summed over region.*sum to 1"):
        Assumptions(death_risks=a.death_risks, out_migration_risks=a.out_migration_risks,
                    in_migration_shares=a.in_migration_shares * 1.1, fertility=a.fertility)


def test_error_risks_sum_above_one_and_out_of_range():
    _inp, _years, _P0, a = _tiny()
    with pytest.raises(AssumptionError, match=r"death_risks \+ out_migration_risks.*at most 1"):
        a.replace(death_risks=xr.full_like(a.death_risks, 0.97))
    bad = a.death_risks.copy()
    bad[0, 1, 0, 3] = -0.1
    with pytest.raises(AssumptionError, match=r"death_risks\[year=2001, region='0001', sex='female', age=3\]"):
        a.replace(death_risks=bad)


def test_error_missing_pieces():
    _inp, years, P0, a = _tiny()
    with pytest.raises(AssumptionError, match="in_migration_shares.*or in_migration"):
        Assumptions(death_risks=a.death_risks, out_migration_risks=a.out_migration_risks, fertility=a.fertility)
    with pytest.raises(AssumptionError, match="either death_risks.*or survival"):
        Assumptions(death_risks=a.death_risks, survival=a.death_risks, fertility=a.fertility)
    with pytest.raises(AssumptionError, match="missing fertility"):
        Assumptions(death_risks=a.death_risks)
    with pytest.raises(AssumptionError, match="lacks year=2003"):
        project(P0, a, years=[2001, 2002, 2003])
    with pytest.raises(CubeError, match="first projected year must be 2001"):
        project(P0, a, years=[2005])
    with pytest.raises(CubeError, match="consecutive"):
        project(P0, a, years=[2001, 2003])
    with pytest.raises(AssumptionError, match="lacks region='0002'"):
        project(P0, a.replace(death_risks=a.death_risks.isel(region=[0, 1])), years=years)
    with pytest.raises(AssumptionError, match="n-year inputs"):
        project(P0, a, years=years, step=5)



def test_error_gap_in_fertility_ages_duplicated_region_and_missing_age():
    """A fertility schedule lacking one age inside its range was projected with 0 births there; a base
    population with a region twice was projected twice; a missing age was named only as '[0, 1, 2, 3]...'."""
    _inp, years, P0, a = _tiny()
    f = a.fertility.sel(age=slice(1, None))   # ages 1.. : age 0 outside the range counts 0 (allowed)
    project(P0, a.replace(fertility=f), years=years)
    with pytest.raises(AssumptionError, match=r"fertility lacks age=2 inside its ages 1-"):
        project(P0, a.replace(fertility=f.drop_sel(age=2)), years=years)
    twice = xr.concat([P0, P0.isel(region=[0])], dim="region")
    with pytest.raises(CubeError, match=r"base_population: duplicated region '0000'"):
        project(twice, a, years=years)
    with pytest.raises(CubeError, match=r"base_population: ages must be 0, 1, 2, .*age=3 follows age=1"):
        project(P0.drop_sel(age=2), a, years=years)

def test_error_chunked_core_dim_names_dims():
    _inp, years, P0, a = _tiny()
    with pytest.raises(CubeError, match=r"death_risks is chunked along 'region'.*rechunk with \.chunk\("
                                        r"\{'region': -1\}\)"):
        project(P0, a.replace(death_risks=a.death_risks.chunk(region=1)), years=years)
    with pytest.raises(CubeError, match=r"base_population is chunked along 'age'"):
        project(P0.chunk(age=5), a, years=years)


# --------------------------------------------------------------------------- constrain
@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 6))
def test_property_constrained_sub_areas_sum_to_parent(seed, K):
    rng = np.random.default_rng(seed)
    sub = xr.DataArray(rng.uniform(0.5, 100, (K, 2, 5, 3)), dims=("region", "sex", "age", "year"))
    parent = xr.DataArray(rng.uniform(0, 500, (2, 5, 3)), dims=("sex", "age", "year"))
    c = constrain(sub, to=parent)
    np.testing.assert_allclose(c.population.sum("region").values, parent.values, rtol=1e-12)
    # the factor is the same for every sub-area: shares within sex and age are kept
    np.testing.assert_allclose((c.population / sub).values, np.broadcast_to(c.factor.values, sub.shape))


def test_constrain_hand_worked_and_errors():
    sub = xr.DataArray([[10.0, 0.0], [30.0, 0.0]], dims=("region", "age"), coords={"region": ["a", "b"]})
    c = constrain(sub, to=xr.DataArray([20.0, 0.0], dims="age"))
    np.testing.assert_allclose(c.population.values, [[5.0, 0.0], [15.0, 0.0]])
    np.testing.assert_allclose(c.factor.values, [0.5, 1.0])
    with pytest.raises(CubeError, match=r"parent\[age=1\].*cannot be placed"):
        constrain(sub, to=xr.DataArray([20.0, 3.0], dims="age"))
    with pytest.raises(CubeError, match="must not have the dim 'region'"):
        constrain(sub, to=sub)
    # different labels: alignment dropped the parent's year 2019 (its persons never placed), or failed unnamed
    sub = xr.DataArray(np.ones((2, 2, 1)), dims=("region", "age", "year"),
                       coords={"region": ["a", "b"], "age": [0, 1], "year": [2020]})
    par = xr.DataArray(np.ones((2, 2)), dims=("age", "year"), coords={"age": [0, 1], "year": [2019, 2020]})
    with pytest.raises(CubeError, match=r"parent has year=2019, which sub_areas lacks"):
        constrain(sub, to=par)
    with pytest.raises(CubeError, match=r"sub_areas has age=1, which parent lacks"):
        constrain(sub, to=par.sel(age=[0], year=[2020]))


# --------------------------------------------------------------------------- from_history
@pytest.fixture(scope="module")
def norrbotten():
    return dk.datasets.load("norrbotten")


def test_from_history_observed_values_by_hand(norrbotten):
    ds = norrbotten
    a = Assumptions.from_history(ds, years=range(2015, 2020), smoothing=None)
    assert a.internal_migration == "open"
    sel = {"region": "2580", "sex": "female"}
    P = ds.population.sel(**sel)
    # out-migration risk at year-end age 25: Σ_t O(25, t) / Σ_t P(24, t−1), t = 2015..2019
    O = ds.out_migration.sel(**sel, age=25, year=range(2015, 2020)).sum().item()
    N = P.sel(age=24, year=range(2014, 2019)).sum().item()
    assert a.out_migration_risks.sel(**sel, age=25).item() == pytest.approx(O / N, rel=1e-12)
    # age 0: emigrants born in the year over the girls born
    E0 = ds.emigration.sel(**sel, age=0, year=range(2015, 2020)).sum().item()
    B0 = ds.births.sel(region="2580", sex="female", year=range(2015, 2020)).sum().item()
    assert a.emigration_risks.sel(**sel, age=0).item() == pytest.approx(E0 / B0, rel=1e-12)
    # fertility over SCB's own published mean population by cohort (medelfolkmängd)
    B = ds.births.sel(region="2580", age=30, year=range(2015, 2020)).sum().item()
    M = ds.mean_population.sel(**sel, age=30, year=range(2015, 2020)).sum().item()
    assert a.fertility.sel(region="2580", age=30).item() == pytest.approx(B / M, rel=1e-9)
    # open system: the average yearly in-movers (A2) and their age-sex profile
    I = ds.in_migration.sel(region="2580", year=range(2015, 2020))
    assert a.in_migration.sel(region="2580").item() == pytest.approx(I.sum().item() / 5)
    assert a.in_migration_profile.sel(region="2580", sex="male", age=20).item() == pytest.approx(
        I.sel(sex="male", age=20).sum().item() / I.sum().item())
    b = ds.births.sel(year=range(2015, 2020)).sum(["region", "age", "year"])
    assert a.boys_share.item() == pytest.approx((b.sel(sex="male") / b.sum()).item())


def test_from_history_smoothed_paths_and_scenarios(norrbotten):
    ds = norrbotten
    a = Assumptions.from_history(ds, years=range(2015, 2020))      # relational smoothing
    raw = Assumptions.from_history(ds, years=range(2015, 2020), smoothing=None)
    for k in ("death_risks", "out_migration_risks", "emigration_risks"):
        assert float(a[k].max()) <= 1 and float(a[k].min()) >= 0
    # the smoothed fertility keeps each region's level (Poisson ML: fitted births = observed births)
    np.testing.assert_allclose(a.attrs["tfr"].values, raw.attrs["tfr"].values, rtol=0.05)
    # a TFR path: one factor for all regions, so the pooled TFR of the unsmoothed rates reaches it
    from demokit.scenarios import path
    p = path({2020: 1.6, 2030: 1.9}, years=range(2020, 2045))
    assert p.sel(year=2025).item() == pytest.approx(1.75) and p.sel(year=2040).item() == pytest.approx(1.9)
    at = Assumptions.from_history(ds, years=range(2015, 2020), smoothing=None, tfr=p)
    ratio = at.fertility / raw.fertility
    np.testing.assert_allclose(ratio.where(raw.fertility > 0).max(["region", "age"]).values,
                               (p / raw.attrs["tfr_observed"]).values)
    assert at.fertility.dims == ("year", "region", "age") or set(at.fertility.dims) == {"year", "region", "age"}
    # a life-expectancy target: the pooled life table of the scaled table risks reaches it
    from demokit.lifetable import life_table
    from demokit.mortality import death_risks
    from demokit.scenarios import _e0_scaling
    tot = ds.sum("region", keep_attrs=True)
    for v in ds.data_vars:
        tot[v].attrs = ds[v].attrs
    qt = death_risks(tot, years=range(2015, 2020), kind="table")
    target = xr.DataArray([86.0, 83.0], dims="sex", coords={"sex": SEX})
    k = _e0_scaling(qt, target)
    e0 = life_table(qx=(qt * k).clip(0, 1)).ex.sel(age=0)
    np.testing.assert_allclose(e0.values, target.values, atol=1e-6)
    assert (k < 1).all()
    # scenarios become a dim; the projection runs per scenario
    sc = Assumptions.from_history(ds, years=range(2015, 2020), scenarios={
        "low": {"tfr": 1.5, "in_migration_scale": 0.9}, "main": {},
        "high": {"tfr": 2.0, "in_migration_scale": 1.1, "life_expectancy": {"female": 86.0, "male": 83.0}}})
    assert list(sc.fertility.scenario.values) == ["low", "main", "high"]
    assert "scenario" not in sc.out_migration_risks.dims
    np.testing.assert_allclose(sc.in_migration.sel(scenario="high") / sc.in_migration.sel(scenario="main"), 1.1)
    r = project(ds.population.sel(year=2019), sc, years=range(2020, 2025))
    tot = r.population.sum(["region", "sex", "age"]).sel(year=2024)
    assert float(tot.sel(scenario="low")) < float(tot.sel(scenario="main")) < float(tot.sel(scenario="high"))
    main = project(ds.population.sel(year=2019), a, years=range(2020, 2025))
    xr.testing.assert_allclose(r.population.sel(scenario="main", drop=True), main.population, rtol=1e-12)


def test_from_history_closed_system_with_housing_plan(norrbotten):
    """A housing plan for Luleå in a closed system: every scenario is balanced against the pool."""
    ds = norrbotten
    plain = Assumptions.from_history(ds, years=range(2015, 2020), system="closed")
    assert plain.internal_migration == "closed"
    avg = (ds.in_migration.sel(year=range(2015, 2020)).sum(("sex", "age")).mean("year"))
    plan = avg.copy()
    plan.loc["2580"] = 2 * avg.sel(region="2580")            # Luleå builds for twice its usual in-movers
    sc = Assumptions.from_history(ds, years=range(2015, 2020), system="closed",
                                  scenarios={"main": {}, "plan": {"in_migration": plan}})
    assert sc.internal_migration == "balanced"
    np.testing.assert_allclose(sc.in_migration.sel(scenario="main"), avg, rtol=1e-12)
    r = project(ds.population.sel(year=2019), sc, years=range(2020, 2025))
    np.testing.assert_allclose(r.in_migration.sum("region"), r.out_migration.sum("region"), rtol=1e-12,
                               atol=1e-9)
    I = r.in_migration.sel(age=slice(1, None)).sum(("sex", "age"))
    share = I / I.sum("region")
    # in each scenario the regions' in-movers (ages >= 1) are proportional to the totals
    for name, tot in (("main", avg), ("plan", plan)):
        np.testing.assert_allclose(share.sel(scenario=name).transpose("region", "year"),
                                   (tot / tot.sum()).broadcast_like(share.sel(scenario=name)).transpose(
                                       "region", "year"), rtol=1e-9)
    assert float(share.sel(scenario="plan", region="2580").isel(year=0)) > \
        1.3 * float(share.sel(scenario="main", region="2580").isel(year=0))


def test_from_history_errors(norrbotten):
    with pytest.raises(AssumptionError, match="unknown option 'tfrr'"):
        Assumptions.from_history(norrbotten, years=range(2015, 2020), scenarios={"x": {"tfrr": 1.5}})
    counties = dk.datasets.load("sweden_counties")
    with pytest.raises(CubeError, match="needs gross migration flows"):
        Assumptions.from_history(counties, years=range(2006, 2011), system="open")
    with pytest.raises(CubeError, match="year=2004 is not in the data"):
        Assumptions.from_history(norrbotten, years=range(2005, 2010))



def test_scenario_path_years_given_twice_or_not_whole(norrbotten):
    """{2020: 1.0, "2020": 0.5}: the last one won, silently; 2020.5 was cut to 2020; dk.scenarios.path with the
    text keys of a TOML table was a bare KeyError."""
    np.testing.assert_allclose(dk.scenarios.path({"2020": 1.0, "2030": 0.8}, years=[2020, 2025, 2035]).values,
                               [1.0, 0.9, 0.8])
    two = norrbotten.sel(region=["2580", "2582"])
    opts = dict(years=range(2015, 2020), smoothing=None, mortality_trend=None, projection_years=range(2020, 2031))
    with pytest.raises(AssumptionError, match=r"fertility_scale: year 2020 is given twice in the path"):
        Assumptions.from_history(two, scenarios={"main": {"fertility_scale": {2020: 1.0, "2020": 0.5}}}, **opts)
    with pytest.raises(AssumptionError, match=r"fertility_scale: year 2020.5 of the path is not a whole year"):
        Assumptions.from_history(two, scenarios={"main": {"fertility_scale": {2020.5: 1.0}}}, **opts)
    with pytest.raises(AssumptionError, match=r"life_expectancy: unknown key 'total'; give a value for 'female' and "
                                              r"'male'"):   # (the total target was ignored)
        Assumptions.from_history(two, life_expectancy={"female": 85.0, "male": 82.0, "total": 84.0}, **opts)
    with pytest.raises(AssumptionError, match=r"in_migration: region '2580' is given twice"):
        Assumptions.from_history(two, scenarios={"main": {"in_migration": {2580: 100, "2580": 200}}}, **opts)
