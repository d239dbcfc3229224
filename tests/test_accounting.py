"""Accounting (METHODS §2): hand-worked balances, real SCB checks, properties, errors."""

from __future__ import annotations

import gzip
import csv

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import demokit as dk
from demokit.datasets import path as data_path

from .conftest import make_cube, raise_if_dask_computes


# --- a hand-worked 3-age toy cube (ages 0, 1, 2+), one region, one sex, two years -------------
def toy():
    pop = np.array([[10, 20, 30], [14, 18, 50]], float).T  # (age, year)
    z = np.zeros((3, 2))

    def ev(values):
        a = z.copy()
        a[:, 1] = values
        return a[None, None]

    return make_cube(pop[None, None], [[[0, 12]]], deaths=ev([1, 0, 3]), in_migration=ev([2, 1, 0]),
                     out_migration=ev([0, 2, 1]), immigration=ev([1, 0, 0]), emigration=ev([0, 1, 0]))


def test_toy_balance_by_hand():
    bal = dk.balance(toy()).isel(region=0, sex=0, year=0)
    # starts: newborns 12; age 1 = P(0, t-1) = 10; open age 2+ = P(1) + P(2) = 20 + 30
    np.testing.assert_array_equal(bal["population_start"].values, [12, 10, 50])
    # A = P - N - (I - O + IM - EM - D), worked by hand:
    # age 0: 14 - 12 - (2 - 0 + 1 - 0 - 1) = 0; age 1: 18 - 10 - (1 - 2 + 0 - 1 - 0) = 10;
    # age 2+: 50 - 50 - (0 - 1 + 0 - 0 - 3) = 4
    np.testing.assert_array_equal(bal["adjustment"].values, [0, 10, 4])
    assert bal["births"].item() == 12
    assert bal.attrs["residual"] == "adjustment"


def test_shares_out_of_range_are_errors_even_when_unused():
    """balance(lower_share=2) with year-end events and births_by_sex(boys_share=-0.5) with births by
    sex used to pass silently (the share was checked only when a split needed it)."""
    with pytest.raises(dk.CubeError, match=r"lower_share = 2: a share must lie in \[0, 1\]"):
        dk.balance(toy(), lower_share=2)
    with pytest.raises(dk.CubeError, match=r"boys_share = -0\.5: a share must lie in \[0, 1\]"):
        dk.balance(toy(), boys_share=-0.5)
    from demokit.accounting import births_by_sex
    with pytest.raises(dk.CubeError, match=r"boys_share = 1\.5"):
        births_by_sex(toy(), boys_share=1.5)
    with pytest.raises(dk.CubeError, match=r"infant_lower_share = 1\.1"):
        dk.to_convention(toy()["deaths"], "year_end", infant_lower_share=1.1)
    # in range: unchanged (the hand-worked adjustment of test_toy_balance_by_hand)
    np.testing.assert_array_equal(dk.balance(toy(), lower_share=0.3)["adjustment"].isel(region=0, sex=0, year=0)
                                  .values, [0, 10, 4])


def test_toy_mean_population_by_hand():
    ds = toy()
    coh = dk.mean_population(ds, by="cohort").isel(region=0, sex=0, year=0).values
    age = dk.mean_population(ds, by="age").isel(region=0, sex=0, year=0).values
    np.testing.assert_allclose(coh, [14 / 2, (10 + 18) / 2, (20 + 30 + 50) / 2])
    np.testing.assert_allclose(age, [(10 + 14) / 2, (20 + 18) / 2, (30 + 50) / 2])


def test_toy_summary_by_hand():
    s = dk.summary(toy()).isel(region=0, year=1)
    # population 14, 18, 50 at ages 0, 1, 2 (total 82)
    assert s["population"].item() == 82
    assert s["mean_age"].item() == pytest.approx((18 + 100) / 82)
    assert s["median_age"].item() == pytest.approx(2 + (41 - 32) / 50)
    assert s["lower_quartile_age"].item() == pytest.approx(1 + (20.5 - 14) / 18)
    assert s["upper_quartile_age"].item() == pytest.approx(2 + (61.5 - 32) / 50)
    assert s["natural_increase"].item() == 12 - 4
    assert s["net_migration"].item() == (3 - 3 + 1 - 1)
    assert s["population_change"].item() == 82 - 60
    # mobility: (I + IM + O + EM) / mean population * 1000
    assert s["mobility_rate"].item() == pytest.approx(1000 * (3 + 1 + 3 + 1) / 71)
    exact = dk.summary(toy(), mean_age="exact").isel(region=0, year=1)
    assert exact["mean_age"].item() == pytest.approx((18 + 100) / 82 + 0.5)


def test_dependency_ratios_by_hand():
    pop = np.zeros((1, 1, 101, 1))
    pop[0, 0, 10] = 30   # young
    pop[0, 0, 40] = 100  # working age
    pop[0, 0, 70] = 50   # old
    ds = make_cube(pop, [[[0]]])
    s = dk.summary(ds).isel(region=0, year=0)
    assert s["young_dependency_ratio"].item() == pytest.approx(30.0)
    assert s["old_dependency_ratio"].item() == pytest.approx(50.0)
    assert s["dependency_ratio"].item() == pytest.approx(80.0)


def test_no_migration_variables_residual_named():
    ds = toy().drop_vars(["in_migration", "out_migration", "immigration", "emigration"])
    bal = dk.balance(ds)
    assert "adjustment" not in bal and "net_migration_and_adjustment" in bal
    # age 1: 18 - 10 + 0 deaths = 8
    np.testing.assert_array_equal(bal["net_migration_and_adjustment"].isel(region=0, sex=0, year=0), [2 + 1, 8, 3])


def test_partial_migration_variables_rejected():
    ds = toy().drop_vars(["immigration"])
    with pytest.raises(dk.CubeError, match="immigration"):
        dk.balance(ds)


def test_concentration_rate_by_hand():
    ds = toy()
    # group ages 1-2 over year 2001: net migration (1-2+0-1) + (0-1+0-0) = -3; start population 20+30
    r = dk.concentration_rate(ds, ages=slice(1, 2), years=[2001]).isel(region=0).item()
    assert r == pytest.approx(100 * -3 / 50)


# --- real SCB data -------------------------------------------------------------------------------
def _raw_sum(filename, year):
    total = 0.0
    with gzip.open(data_path("sweden_counties", filename), "rt") as fh:
        for row in csv.DictReader(fh):
            if int(row["year"]) == year:
                total += float(row["value"])
    return total


def test_counties_population_2015(counties):
    assert counties["population"].sel(year=2015).sum().item() == 9_851_017


def test_counties_national_residual_2015(counties):
    bal = dk.balance(counties)
    assert bal["net_migration_and_adjustment"].sel(year=2015).sum().item() == pytest.approx(79_699, abs=1e-6)


def test_counties_residual_equals_dp_minus_b_plus_d(counties):
    bal = dk.balance(counties)
    resid = bal["net_migration_and_adjustment"].sum(["sex", "age"])
    p = counties["population"].sum(["sex", "age"])
    b = counties["births"].sum(["sex", "age"])
    d = counties["deaths"].sum(["sex", "age"])
    expected = (p.values[:, 1:] - p.values[:, :-1]) - b.values[:, 1:] + d.values[:, 1:]
    np.testing.assert_allclose(resid.values, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("year", [1968, 1990, 2015])
def test_counties_births_total_includes_no_information(counties, year):
    # totals straight from the raw file, every label included ('<15', '49+', 'no information')
    assert counties["births"].sel(year=year).sum().item() == _raw_sum("births.csv.gz", year)
    assert counties["deaths"].sel(year=year).sum().item() == _raw_sum("deaths.csv.gz", year)


def test_counties_births_2015_and_deaths_2015(counties):
    assert counties["births"].sel(year=2015).sum().item() == 114_870
    assert counties["deaths"].sel(year=2015).sum().item() == 90_907


def test_norrbotten_lulea(norrbotten):
    lulea = norrbotten.sel(region="2580")
    assert lulea["population"].sel(year=2019).sum().item() == 78_105
    bal = dk.balance(norrbotten).sel(region="2580")
    adj = bal["adjustment"].sum(["sex", "age"]).values
    t = lulea.sum(["sex", "age"])
    dp = np.diff(t["population"].values)
    expected = (dp - t["births"].values[1:] + t["deaths"].values[1:]
                - (t["in_migration"] + t["immigration"] - t["out_migration"] - t["emigration"]).values[1:])
    np.testing.assert_array_equal(adj, expected)
    assert adj.min() >= -8 and adj.max() <= 16
    # cell by cell the adjustment is small
    assert np.abs(bal["adjustment"]).max().item() <= 5


def test_norrbotten_mean_population_equals_scb_medelfolkmangd(norrbotten):
    mp = dk.mean_population(norrbotten, by="cohort")
    scb = norrbotten["mean_population"].sel(year=mp["year"])
    np.testing.assert_array_equal(mp.values, scb.values)


def test_all_movers_are_domestic_plus_international(norrbotten):
    # SCB: AU = A2 + AX and AV = A3 + AY; checks the reader's mapping of content codes
    n = norrbotten
    np.testing.assert_array_equal(n["all_in_migration"], n["in_migration"] + n["immigration"])
    np.testing.assert_array_equal(n["all_out_migration"], n["out_migration"] + n["emigration"])


# --- errors -----------------------------------------------------------------------------------
def test_negative_population_error_names_cell():
    ds = toy()
    ds["population"][0, 0, 1, 0] = -3
    with pytest.raises(dk.CubeError) as e:
        dk.balance(ds)
    msg = str(e.value)
    assert "population[" in msg and "age=1" in msg and "year=2000" in msg and "-3" in msg
    assert isinstance(e.value, ValueError) and isinstance(e.value, dk.DemokitError)


def test_nan_deaths_error():
    ds = toy()
    ds["deaths"][0, 0, 2, 1] = np.nan
    with pytest.raises(dk.CubeError, match=r"deaths\[.*age=2.*year=2001"):
        dk.balance(ds)


def test_unknown_convention_error():
    ds = toy()
    ds["deaths"].attrs["age_convention"] = "mid_year"
    with pytest.raises(dk.CubeError, match="mid_year"):
        dk.balance(ds)


def test_year_gap_and_unsorted_ages():
    ds = toy().assign_coords(year=[2000, 2002])
    with pytest.raises(dk.CubeError, match="gap in years"):
        dk.validate(ds)
    ds = toy().assign_coords(age=[0, 2, 1])
    with pytest.raises(dk.CubeError, match="sorted"):
        dk.validate(ds)
    ds = toy().assign_coords(age=[0, 1, 1])
    with pytest.raises(dk.CubeError, match="duplicated age 1"):
        dk.validate(ds)


def test_unknown_sex():
    ds = toy().assign_coords(sex=["kvinnor"])
    with pytest.raises(dk.CubeError, match="kvinnor"):
        dk.validate(ds)


# --- properties -------------------------------------------------------------------------------
cube_shapes = st.tuples(st.integers(1, 4), st.integers(2, 6), st.integers(2, 4))


@st.composite
def random_cube(draw):
    R, A, T = draw(cube_shapes)
    ints = lambda shape: draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 500))).astype(float)
    shape = (R, 2, A, T)
    ds = make_cube(ints(shape), ints((R, 2, T)), deaths=ints(shape), in_migration=ints(shape),
                   out_migration=ints(shape), immigration=ints(shape), emigration=ints(shape),
                   sexes=("female", "male"))
    return ds


@settings(max_examples=40, deadline=None)
@given(random_cube())
def test_balance_closes_exactly(ds):
    bal = dk.balance(ds)
    rhs = (bal["population_start"] - bal["deaths"] + bal["in_migration"] - bal["out_migration"]
           + bal["immigration"] - bal["emigration"] + bal["adjustment"])
    np.testing.assert_array_equal(rhs.values, bal["population"].values)
    # totals: population change = natural increase + net migration + adjustment
    s = dk.summary(ds).isel(year=slice(1, None))
    np.testing.assert_allclose(s["population_change"], s["natural_increase"] + s["net_migration"]
                               + s["adjustment"], atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(random_cube(), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_region_order(ds, rnd):
    regions = list(ds["region"].values)
    rnd.shuffle(regions)
    a = dk.balance(ds)
    b = dk.balance(ds.sel(region=regions)).sel(region=a["region"])
    xr.testing.assert_identical(a, b)
    sa, sb = dk.summary(ds), dk.summary(ds.sel(region=regions)).sel(region=ds["region"])
    xr.testing.assert_allclose(sa, sb)


# --- kernels against a plain numpy reference ----------------------------------------------------
def numpy_balance(pop, births0, d, i, o, im, em):
    net = i - o + im - em - d
    start = np.empty(pop.shape[:-1] + (pop.shape[-1] - 1,))
    start[..., 0, :] = births0[..., 1:]
    start[..., 1:, :] = pop[..., :-1, :-1]
    start[..., -1, :] += pop[..., -1, :-1]
    return start, pop[..., 1:] - start - net[..., 1:]


def test_balance_kernel_matches_numpy():
    from demokit._kernels import accounting as k

    rng = np.random.default_rng(1)
    pop = rng.integers(0, 1000, (7, 11, 5)).astype(float)
    b0 = rng.integers(0, 100, (7, 5)).astype(float)
    ev = [rng.normal(size=(7, 11, 5)) for _ in range(5)]
    start, adj = np.empty((7, 11, 4)), np.empty((7, 11, 4))
    no_check = np.zeros(7, bool)
    k.cohort_balance_checked(pop, b0[:, None], *ev, True, no_check, start, adj)  # births already summed
    es, ea = numpy_balance(pop, b0, *ev)
    np.testing.assert_array_equal(start, es)
    np.testing.assert_allclose(adj, ea, rtol=0, atol=1e-12)
    # without migration the residual is P - N + D
    k.cohort_balance_checked(pop, b0[:, None], ev[0], ev[0], ev[0], ev[0], ev[0], False, no_check, start, adj)
    z = np.zeros_like(ev[0])
    np.testing.assert_allclose(adj, numpy_balance(pop, b0, ev[0], z, z, z, z)[1], rtol=0, atol=1e-12)


def bisection_quantiles(pop, ages, probs):
    """Quantile ages of ``pop`` (n, A, T) by inverting the piecewise-linear CDF by bisection; (n, T, K)."""
    n, _, T = pop.shape
    out = np.full((n, T, probs.size), np.nan)
    for i in range(n):
        for t in range(T):
            p = pop[i, :, t]
            if p.sum() == 0:
                continue
            # the CDF is piecewise linear between the edges of single years; the smallest age a with F(a) >= q
            edges = np.r_[0.0, np.cumsum(p)] / p.sum()
            xs = np.r_[ages, ages[-1] + 1]
            for k_, q in enumerate(probs):
                lo, hi = 0.0, xs[-1]
                for _ in range(200):
                    mid = 0.5 * (lo + hi)
                    lo, hi = (lo, mid) if np.interp(mid, xs, edges) >= q else (mid, hi)
                out[i, t, k_] = hi
    return out


def test_quantile_ages_of_the_summary_kernel_match_bisection():
    from demokit._kernels import accounting as k

    rng = np.random.default_rng(2)
    pop = rng.integers(0, 50, (6, 30, 3)).astype(float)
    pop[0, :, 0] = 0  # empty population -> NaN
    ages = np.arange(30, dtype=float)
    probs = np.array([0.25, 0.5, 0.75])
    stats, out, tot = np.empty((6, 3, 5)), np.empty((6, 3, 3)), np.empty((6, 0, 3))
    p4 = pop[:, None]
    k.summary_rows(p4, (p4,), ages, 0.0, probs, False, np.zeros(1, bool), stats, out, tot)
    assert np.isnan(out[0, 0]).all()
    np.testing.assert_allclose(out, bisection_quantiles(pop, ages, probs), rtol=0, atol=1e-9)


# --- dask: lazy in, lazy out, same numbers ----------------------------------------------------------
def test_dask_input_gives_dask_output(norrbotten):
    pytest.importorskip("dask")
    eager = dk.balance(norrbotten)
    lazy_in = norrbotten.chunk({"region": 2})
    with raise_if_dask_computes():
        lazy = dk.balance(lazy_in)
        mp = dk.mean_population(lazy_in, by="cohort")
        summ = dk.summary(lazy_in)
    assert lazy["adjustment"].chunks is not None and mp.chunks is not None
    assert summ["median_age"].chunks is not None
    xr.testing.assert_allclose(lazy.compute(), eager)
    xr.testing.assert_allclose(summ.compute(), dk.summary(norrbotten))


def test_dask_core_dim_chunked_error(norrbotten):
    pytest.importorskip("dask")
    with pytest.raises(dk.CubeError, match=r"rechunk.*'age': -1"):
        dk.mean_population(norrbotten.chunk({"age": 10}))
    # the balance names the variable and the cube's own dims (births by the mother's age included)
    for f in (dk.balance, dk.summary):
        with pytest.raises(dk.CubeError, match=r"chunked along 'age'.*rechunk with \.chunk\(\{'age': -1\}\)"):
            f(norrbotten.chunk({"age": 10}))
    with pytest.raises(dk.CubeError, match=r"births is chunked along 'age'"):
        dk.balance(norrbotten.chunk({"age": 10}).assign(population=norrbotten["population"]))


def test_ages_must_be_single_years():
    ds = toy().assign_coords(age=[0, 1, 5]).assign_attrs(open_age=5)
    with pytest.raises(dk.CubeError, match="consecutive single years for cohort-wise accounting; age=5 follows age=1"):
        dk.balance(ds)


def test_cube_from_tidy_frame():
    import pandas as pd

    from demokit.cube import from_frame

    df = pd.DataFrame({"region": ["01", "01", "01"], "sex": ["female"] * 3, "age": [1, 0, 2],
                       "year": [2020] * 3, "value": [5.0, 3.0, 7.0]})
    da = from_frame(df, name="deaths", age_convention="at_event")
    assert da["age"].values.tolist() == [0, 1, 2] and da.attrs["open_age"] == 2
    assert da.sel(age=1).item() == 5.0 and da.attrs["age_convention"] == "at_event"
    with pytest.raises(dk.CubeError, match=r"deaths: duplicated cell region='01', sex='female', age=1, year=2020$"):
        from_frame(pd.concat([df, df.iloc[:1]]), name="deaths")
    with pytest.raises(dk.CubeError, match="unknown age_convention"):
        from_frame(df, name="deaths", age_convention="midyear")
    # a NaN (or text) value in a row was filled with 0 like an absent cell
    nan = df.assign(value=[5.0, np.nan, 7.0])
    with pytest.raises(dk.CubeError, match=r"deaths\[region='01', sex='female', age=0, year=2020\] = nan: counts "
                                           r"must be finite"):
        from_frame(nan, name="deaths")
    with pytest.raises(dk.CubeError, match=r"age=2, year=2020\] = 'x'"):
        from_frame(df.assign(value=[5.0, 3.0, "x"]), name="deaths")


# --- fused kernels (input checks + work in one pass) against plain numpy references --------------
def test_fused_balance_kernel_matches_numpy():
    from demokit._kernels import accounting as k

    rng = np.random.default_rng(3)
    n, A, T = 7, 11, 5
    pop = rng.integers(0, 1000, (n, A, T)).astype(float)
    births = rng.integers(0, 50, (n, 6, T)).astype(float)  # by mother's age (6 ages)
    ev = [rng.integers(0, 30, (n, A, T)).astype(float) for _ in range(5)]
    start, adj = np.empty((n, A, T - 1)), np.empty((n, A, T - 1))
    nbad = k.cohort_balance_checked(pop, births, *ev, True, np.ones(7, bool), start, adj)
    assert nbad == 0
    es, ea = numpy_balance(pop, births.sum(axis=1), *ev)
    np.testing.assert_array_equal(start, es)
    np.testing.assert_allclose(adj, ea, rtol=0, atol=1e-9)
    # each input's bad values are found (NaN, +inf, -inf, negative) in the row where they are, and only
    # when that input is checked; -0.0 is a valid count
    for j, arr in enumerate([pop, births] + ev):
        for bad in (np.nan, np.inf, -np.inf, -1.0):
            keep = arr[2, 1, 3]
            arr[2, 1, 3] = bad
            assert k.cohort_balance_checked(pop, births, *ev, True, np.ones(7, bool), start, adj) == 1
            chk = np.ones(7, bool)
            chk[j] = False
            assert k.cohort_balance_checked(pop, births, *ev, True, chk, start, adj) == 0
            arr[2, 1, 3] = keep
    pop[0, 0, 0] = -0.0
    assert k.cohort_balance_checked(pop, births, *ev, True, np.ones(7, bool), start, adj) == 0


def numpy_mean_population(pop, by_cohort):
    if not by_cohort:
        return 0.5 * (pop[..., :-1] + pop[..., 1:])
    mp = np.empty(pop.shape[:-1] + (pop.shape[-1] - 1,))
    mp[..., 0, :] = 0.5 * pop[..., 0, 1:]
    mp[..., 1:, :] = 0.5 * (pop[..., :-1, :-1] + pop[..., 1:, 1:])
    mp[..., -1, :] += 0.5 * pop[..., -1, :-1]
    return mp


@pytest.mark.parametrize("by_cohort", [True, False])
def test_fused_mean_population_kernel_matches_numpy(by_cohort):
    from demokit._kernels import accounting as k

    rng = np.random.default_rng(4)
    pop = rng.integers(0, 1000, (9, 12, 4)).astype(float)
    out = np.empty((9, 12, 3))
    assert k.mean_population_checked(pop, by_cohort, True, out) == 0
    np.testing.assert_allclose(out, numpy_mean_population(pop, by_cohort), rtol=1e-15)
    pop[4, 11, 0] = np.nan
    pop[6, 0, 3] = -2.0
    assert k.mean_population_checked(pop, by_cohort, True, out) == 2
    assert k.mean_population_checked(pop, by_cohort, False, out) == 0


@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_summary_rows_kernel_matches_numpy(offset):
    from demokit._kernels import accounting as k

    rng = np.random.default_rng(5)
    n, S, A, T = 5, 2, 90, 3
    pop = rng.integers(0, 60, (n, S, A, T)).astype(float)
    pop[1, :, :, 2] = 0  # empty population: NaN quantiles
    events = tuple(rng.integers(0, 9, (n, S, A, T)).astype(float) for _ in range(3))
    ages = np.arange(A, dtype=float)
    probs = np.array([0.25, 0.5, 0.75])
    stats, qa, tot = np.empty((n, T, 5)), np.empty((n, T, 3)), np.empty((n, 3, T))
    assert k.summary_rows(pop, events, ages, offset, probs, True, np.ones(3, bool), stats, qa, tot) == 0
    P = pop.sum(axis=1)  # (n, A, T)
    np.testing.assert_array_equal(stats[..., 0], P.sum(axis=1))
    np.testing.assert_allclose(stats[..., 1], np.einsum("nat,a->nt", P, ages + offset), rtol=1e-14)
    np.testing.assert_array_equal(stats[..., 2], P[:, :20].sum(axis=1))
    np.testing.assert_array_equal(stats[..., 3], P[:, 20:65].sum(axis=1))
    np.testing.assert_array_equal(stats[..., 4], P[:, 65:].sum(axis=1))
    np.testing.assert_allclose(qa, bisection_quantiles(P, ages, probs), rtol=0, atol=1e-9)
    assert np.isnan(qa[1, 2]).all()
    np.testing.assert_array_equal(tot, np.stack([e.sum(axis=(1, 2)) for e in events], axis=1))
    # no events: a dummy tuple is not read
    assert k.summary_rows(pop, (pop,), ages, offset, probs, True, np.zeros(1, bool), stats, qa,
                          np.empty((n, 0, T))) == 0
    events[2][3, 1, 50, 0] = np.inf
    pop[0, 0, 0, 0] = np.nan
    assert k.summary_rows(pop, events, ages, offset, probs, True, np.ones(3, bool), stats, qa, tot) == 2
    assert k.summary_rows(pop, events, ages, offset, probs, False, np.array([True, True, False]),
                          stats, qa, tot) == 0


@pytest.mark.parametrize("name", ["population", "births", "deaths", "in_migration", "emigration"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -4.0])
def test_public_functions_reject_bad_counts_naming_the_cell(name, bad):
    ds = toy()
    ds[name][0, 0, 2, 1] = bad
    pattern = rf"{name}\[.*age=2.*year=2001"
    with pytest.raises(dk.CubeError, match=pattern):
        dk.balance(ds)
    with pytest.raises(dk.CubeError, match=pattern):
        dk.summary(ds)
    with pytest.raises(dk.CubeError, match=pattern):
        dk.summary(ds, by_sex=True)
    if name == "population":
        with pytest.raises(dk.CubeError, match=pattern):
            dk.mean_population(ds, by="cohort")
        with pytest.raises(dk.CubeError, match=pattern):
            dk.mean_population(ds["population"])


def test_bad_count_reported_before_structural_errors():
    # as when every value was checked first: the bad cell wins over later structural errors
    ds = toy().assign_coords(age=[0, 1, 5]).assign_attrs(open_age=5)
    ds["population"][0, 0, 1, 0] = -3
    with pytest.raises(dk.CubeError, match=r"population\[.*age=1"):
        dk.balance(ds)
    with pytest.raises(dk.CubeError, match=r"population\[.*age=1"):
        dk.mean_population(ds, by="cohort")
    ds = toy().drop_vars("immigration")
    ds["deaths"][0, 0, 0, 1] = np.nan
    with pytest.raises(dk.CubeError, match=r"deaths\["):
        dk.balance(ds)



def test_summary_of_a_cube_with_a_missing_age_is_an_error(norrbotten):
    """A gap in the ages dropped those persons from the totals and bent the quantile ages, silently."""
    gap = norrbotten.drop_sel(age=50)
    with pytest.raises(dk.CubeError, match=r"age: ages must be consecutive single years for summary.*"
                                           r"age=51 follows age=49"):
        dk.summary(gap)
    five = toy().assign_coords(age=[0, 1, 5]).assign_attrs(open_age=5)
    with pytest.raises(dk.CubeError, match="age=5 follows age=1"):
        dk.summary(five)

def test_integer_and_float32_counts_checked_and_same_numbers():
    ds = toy()
    ints = ds.copy(deep=True)
    for v in ints.data_vars:
        ints[v] = ints[v].astype(np.int64)
    xr.testing.assert_allclose(dk.balance(ints), dk.balance(ds))
    xr.testing.assert_allclose(dk.summary(ints), dk.summary(ds))
    ints["out_migration"][0, 0, 1, 1] = -1
    with pytest.raises(dk.CubeError, match=r"out_migration\[.*age=1"):
        dk.balance(ints)
    f32 = ds.astype(np.float32)
    f32["population"][0, 0, 0, 0] = np.nan
    with pytest.raises(dk.CubeError, match=r"population\[.*age=0"):
        dk.summary(f32)


def test_mixed_dask_and_numpy_cube_still_checks_the_numpy_variables():
    pytest.importorskip("dask")
    ds = toy()
    ds["deaths"][0, 0, 2, 1] = np.nan
    ds["population"] = ds["population"].chunk({"region": 1})
    with pytest.raises(dk.CubeError, match=r"deaths\[.*age=2.*year=2001"):
        dk.balance(ds)
    with pytest.raises(dk.CubeError, match=r"deaths\[.*age=2.*year=2001"):
        dk.summary(ds)


def test_net_migration_is_one_formula(norrbotten):
    """dk.net_migration: I - O + IM - EM, the one home of the formula (summary and the council table use it)."""
    ds = norrbotten
    net = dk.net_migration(ds)
    by_hand = (ds["in_migration"].values - ds["out_migration"].values + ds["immigration"].values
               - ds["emigration"].values)
    np.testing.assert_array_equal(net.values, by_hand)
    # SCB's own net migration (BE0101AZ, all in-movers - all out-movers) equals it cell for cell
    np.testing.assert_array_equal(net.values, ds["net_migration"].values)
    s = dk.summary(ds).isel(year=slice(1, None))       # (the first year has no balance)
    total = net.sum(["sex", "age"]).isel(year=slice(1, None)).transpose(*s["net_migration"].dims)
    np.testing.assert_array_equal(s["net_migration"].values, total.values)
    with pytest.raises(dk.CubeError, match="net_migration needs 'emigration'"):
        dk.net_migration(ds.drop_vars("emigration"))


def test_concentration_rate_names_an_age_the_cube_lacks(norrbotten):
    """A list of ages with one the cube lacks was a bare KeyError; a slice selecting no age gave NaN."""
    ok = dk.concentration_rate(norrbotten, ages=slice(20, 29), years=range(2015, 2020))
    xr.testing.assert_equal(dk.concentration_rate(norrbotten, ages=range(20, 30), years=range(2015, 2020)), ok)
    with pytest.raises(dk.CubeError, match=r"ages: age=150 is not in the cube \(ages 0-100\)"):
        dk.concentration_rate(norrbotten, ages=[20, 25, 150], years=range(2015, 2020))
    with pytest.raises(dk.CubeError, match=r"selects no age of the cube"):
        dk.concentration_rate(norrbotten, ages=slice(150, 160), years=range(2015, 2020))
