"""Tests of migration risks, relative numbers and indices on hand-built cubes and Norrbotten data."""

from fractions import Fraction

import numpy as np
import pytest
import xarray as xr

import demokit as dk

YEARS = [2000, 2001, 2002, 2003]
AGES = [0, 1, 2, 3]  # 3 = open


def _cube(seed=0):
    rng = np.random.default_rng(seed)
    shape = (2, 2, 4, 4)  # region, sex, age, year
    pop = rng.integers(20, 200, shape).astype(float)
    out = rng.integers(0, 20, shape).astype(float)
    emi = rng.integers(0, 5, shape).astype(float)
    inm = rng.integers(0, 30, shape).astype(float)
    births = np.zeros(shape)
    births[:, :, 2, :] = rng.integers(10, 40, (2, 2, 4))  # by mother's age 2, child's sex
    coords = {"region": ["A", "B"], "sex": ["female", "male"], "age": AGES, "year": YEARS}
    dims = ("region", "sex", "age", "year")
    ds = xr.Dataset({"population": (dims, pop), "births": (dims, births), "out_migration": (dims, out),
                     "emigration": (dims, emi), "in_migration": (dims, inm)}, coords=coords)
    ds.attrs["open_age"] = 3
    for v in ("births", "out_migration", "emigration", "in_migration"):
        ds[v].attrs["age_convention"] = "year_end"
    return ds


def _hand_risk(ds, var, r, s, x, years):
    """Σ_t O(x,t) / Σ_t P(x-1,t-1) with plain loops and exact fractions."""
    num, den = Fraction(0), Fraction(0)
    for t in years:
        num += Fraction(int(ds[var].sel(region=r, sex=s, age=x, year=t)))
        if x == 0:
            den += Fraction(int(ds["births"].sel(region=r, sex=s, year=t).sum()))
        elif x == 3:
            den += Fraction(int(ds["population"].sel(region=r, sex=s, age=2, year=t - 1)))
            den += Fraction(int(ds["population"].sel(region=r, sex=s, age=3, year=t - 1)))
        else:
            den += Fraction(int(ds["population"].sel(region=r, sex=s, age=x - 1, year=t - 1)))
    return num / den


@pytest.mark.parametrize("func,var", [(dk.out_migration_risks, "out_migration"),
                                      (dk.emigration_risks, "emigration")])
def test_risks_equal_hand_computed_ratios(func, var):
    ds = _cube()
    years = [2001, 2002, 2003]
    u = func(ds, years=years)
    assert u.dims == ("region", "sex", "age")
    for r in ("A", "B"):
        for s in ("female", "male"):
            for x in AGES:
                expected = _hand_risk(ds, var, r, s, x, years)
                assert u.sel(region=r, sex=s, age=x).item() == float(expected), (r, s, x)
    np.testing.assert_array_equal(u["age_at_start"].values, [-1, 0, 1, 2])
    assert u.attrs["years"] == "2001-2003"
    assert u.attrs["units"] == "1"


def test_risks_zero_at_risk():
    ds = _cube()
    ds["population"].loc[dict(region="A", sex="male", age=0, year=2002)] = 0.0
    ds["out_migration"].loc[dict(region="A", sex="male", age=1, year=2003)] = 0.0
    u = dk.out_migration_risks(ds, years=2003)
    assert u.sel(region="A", sex="male", age=1).item() == 0.0
    ds["out_migration"].loc[dict(region="A", sex="male", age=1, year=2003)] = 2.0
    u = dk.out_migration_risks(ds, years=2003)
    assert np.isnan(u.sel(region="A", sex="male", age=1).item())


def test_risk_errors():
    ds = _cube()
    with pytest.raises(dk.CubeError, match="year=1999 is not in the data"):
        dk.out_migration_risks(ds, years=[2000, 2001])
    with pytest.raises(dk.CubeError, match="no 'all_out_migration'"):
        dk.out_migration_risks(ds, years=2001, variable="all_out_migration")
    bad = ds.copy(deep=True)
    bad["out_migration"][0, 0, 1, 2] = -3
    with pytest.raises(dk.CubeError, match=r"out_migration\[region='A', sex='female', age=1, year=2002\] = -3"):
        dk.out_migration_risks(bad, years=2002)


def test_migrant_distribution_by_hand():
    ds = _cube()
    d = dk.migrant_distribution(ds, years=[2002, 2003], kind="in")
    I = ds["in_migration"].sel(year=[2002, 2003]).sum("year")
    for r in ("A", "B"):
        tot = float(I.sel(region=r).sum())
        np.testing.assert_allclose(d.sel(region=r).values, 1000 * I.sel(region=r).values / tot, rtol=1e-14)
    np.testing.assert_allclose(d.sum(["sex", "age"]).values, 1000.0)
    o = dk.migrant_distribution(ds, years=2002, kind="out")
    assert o.attrs["variable"] == "out_migration"
    with pytest.raises(dk.CubeError, match="kind = 'both'"):
        dk.migrant_distribution(ds, years=2002, kind="both")


def test_out_migration_index_hand_and_national_balance():
    ds = _cube()
    years = [2001, 2002, 2003]
    res = dk.out_migration_index(ds, years=years)
    # hand: national risks from the sum of regions, expected = Σ P_r(x-1) u_nat(x)
    for r in ("A", "B"):
        e = Fraction(0)
        for s in ("female", "male"):
            for x in AGES:
                O_nat = sum(int(ds["out_migration"].sel(region=rr, sex=s, age=x, year=years).sum()) for rr in "AB")
                P_nat = sum(_at_risk(ds, rr, s, x, years) for rr in "AB")
                e += _at_risk(ds, r, s, x, years) * Fraction(O_nat, P_nat)
        obs = int(ds["out_migration"].sel(region=r, year=years).sum())
        assert res["expected"].sel(region=r).item() == pytest.approx(float(e), rel=1e-12)
        assert res["index"].sel(region=r).item() == pytest.approx(100 * obs / float(e), rel=1e-12)
    # with national risks from the same regions, observed and expected totals balance
    assert res["observed"].sum().item() == pytest.approx(res["expected"].sum().item(), rel=1e-12)
    assert "index_by_age" in res and "lower" in res
    assert res.attrs["title"] == "indextal för utflyttningsrisker"


def _at_risk(ds, r, s, x, years):
    den = 0
    for t in years:
        if x == 0:
            den += int(ds["births"].sel(region=r, sex=s, year=t).sum())
        elif x == 3:
            den += int(ds["population"].sel(region=r, sex=s, age=[2, 3], year=t - 1).sum())
        else:
            den += int(ds["population"].sel(region=r, sex=s, age=x - 1, year=t - 1))
    return den


def test_out_migration_index_given_reference_equal_risks_gives_100():
    ds = _cube()
    u = dk.out_migration_risks(ds.sel(region=["A"]), years=2003).squeeze("region", drop=True)
    res = dk.out_migration_index(ds, years=2003, reference=u)
    assert res["index"].sel(region="A").item() == pytest.approx(100.0, rel=1e-12)


def test_in_migrant_index_by_hand():
    ds = _cube()
    idx = dk.in_migrant_index(ds, years=[2002, 2003])
    I = ds["in_migration"].sel(year=[2002, 2003]).sum("year")
    nat = I.sum("region")
    share_nat = nat / nat.sum()
    for r in ("A", "B"):
        share = I.sel(region=r) / I.sel(region=r).sum()
        np.testing.assert_allclose(idx.sel(region=r).values, (100 * share / share_nat).values, rtol=1e-13)
    ref = nat * 7.0  # any scale
    idx2 = dk.in_migrant_index(ds, years=[2002, 2003], reference=ref)
    xr.testing.assert_allclose(idx, idx2.drop_attrs() if hasattr(idx2, "drop_attrs") else idx2)


def test_norrbotten_lulea():
    ds = dk.datasets.load("norrbotten")
    years = range(2015, 2020)
    u = dk.out_migration_risks(ds, years=years)
    lulea = u.sel(region="2580")
    # students and young adults move most: the peak lies between 19 and 26
    peak = int(lulea.sel(sex="female").idxmax("age"))
    assert 19 <= peak <= 26
    assert float(lulea.sel(age=slice(40, 60)).mean()) < 0.03
    # check one cell against the raw data
    O = ds["out_migration"].sel(region="2580", sex="male", age=30, year=list(years)).sum()
    P = ds["population"].sel(region="2580", sex="male", age=29, year=[y - 1 for y in years]).sum()
    assert lulea.sel(sex="male", age=30).item() == pytest.approx(float(O / P), rel=1e-14)
    e = dk.emigration_risks(ds, years=years)
    assert (e.sel(region="2580").sum("age") < u.sel(region="2580").sum("age")).all()
    d = dk.migrant_distribution(ds, years=years, kind="in", variable="all_in_migration")
    np.testing.assert_allclose(d.sum(["sex", "age"]).values, 1000.0)
    idx = dk.out_migration_index(ds, years=years)
    assert np.isfinite(idx["index"]).all()
    assert idx["observed"].sum().item() == pytest.approx(idx["expected"].sum().item(), rel=1e-10)
    im = dk.in_migrant_index(ds, years=years)
    assert im.sizes == {"region": 5, "sex": 2, "age": 101}


def test_dask_in_dask_out():
    pytest.importorskip("dask")
    ds = _cube()
    eager = dk.out_migration_risks(ds, years=[2001, 2002])
    lazy = dk.out_migration_risks(ds.chunk({"region": 1}), years=[2001, 2002])
    assert lazy.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), eager)
