"""Death rates, interval and table risks, the index of death risks; SCB published life expectancy."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import demokit as dk
from demokit.lifetable import life_table
from demokit.mortality import death_rates, death_risk_index, death_risks

DATA = Path(__file__).parent / "data"


def toy_cube(deaths_convention="year_end"):
    """Two regions, females only, ages 0, 1, 2+ (open), years 2000-2002."""
    pop = np.array([  # region, age, year
        [[100, 110, 120], [200, 195, 210], [300, 310, 305]],
        [[10, 12, 11], [20, 19, 21], [30, 31, 33]],
    ], float)[:, None]  # add sex
    deaths = np.array([
        [[0, 2, 3], [0, 4, 2], [0, 30, 35]],
        [[0, 0, 1], [0, 1, 0], [0, 3, 2]],
    ], float)[:, None]
    births = np.array([[0, 50, 60], [0, 5, 4]], float)[:, None]  # region, sex, year
    coords = {"region": ["a", "b"], "sex": ["female"], "age": [0, 1, 2], "year": [2000, 2001, 2002]}
    ds = xr.Dataset({
        "population": (("region", "sex", "age", "year"), pop),
        "deaths": (("region", "sex", "age", "year"), deaths, {"age_convention": deaths_convention}),
        "births": (("region", "sex", "year"), births),
    }, coords=coords, attrs={"open_age": 2})
    return ds


@pytest.mark.parametrize("kw", [{"lower_share": 1.5}, {"infant_lower_share": -0.1}, {"lower_share": float("nan")}])
def test_lexis_shares_out_of_range_are_errors_where_given(kw):
    """A share outside [0, 1] is an error at once, even when the deaths need no Lexis split (at_event
    deaths for death_rates, year_end deaths for the interval risks); it used to pass silently."""
    name = next(iter(kw))
    with pytest.raises(dk.CubeError, match=rf"{name} = .*: a share must lie in \[0, 1\]"):
        death_rates(toy_cube("at_event"), years=2001, **kw)
    with pytest.raises(dk.CubeError, match=rf"{name} = "):
        death_risks(toy_cube("year_end"), years=2001, **kw)
    with pytest.raises(dk.CubeError, match=rf"{name} = "):
        death_risk_index(toy_cube("year_end"), years=2001, **kw)
    with pytest.raises(dk.CubeError, match=r"boys_share = 1\.2"):
        death_risks(toy_cube("year_end"), years=2001, boys_share=1.2)   # the births have a sex dim
    # a valid share that the year-end deaths do not need leaves the risks unchanged
    ds = toy_cube("year_end")
    assert death_risks(ds, years=2001, lower_share=0.3).equals(death_risks(ds, years=2001))


def test_interval_risks_hand_worked_one_year():
    q = death_risks(toy_cube(), years=2001)
    a = q.sel(region="a", sex="female")
    # age 0: D(0)/B = 2/50; age 1: D(1)/P(0, 2000) = 4/100; open age 2: 30/(P(1,2000)+P(2,2000))
    np.testing.assert_allclose(a.values, [2 / 50, 4 / 100, 30 / 500])
    np.testing.assert_array_equal(q["age_at_start"].values, [-1, 0, 1])
    assert q.attrs["units"] == "1"


def test_interval_risks_hand_worked_pooled():
    q = death_risks(toy_cube(), years=[2001, 2002])
    a = q.sel(region="a", sex="female")
    expected = [(2 + 3) / (50 + 60), (4 + 2) / (100 + 110), (30 + 35) / (200 + 300 + 195 + 310)]
    np.testing.assert_allclose(a.values, expected)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_applying_interval_risks_reproduces_deaths(seed):
    rng = np.random.default_rng(seed)
    R, A, Y = 3, 6, 4
    pop = rng.integers(0, 500, (R, 2, A, Y)).astype(float)
    births = rng.integers(1, 80, (R, 2, Y)).astype(float)
    # population at risk by year-end age (numpy, written here): births at 0, P(x-1, t-1), open P(w-1)+P(w)
    at_risk = np.zeros((R, 2, A, Y - 1))
    at_risk[:, :, 0] = births[..., 1:]
    at_risk[:, :, 1:] = pop[:, :, :-1, :-1]
    at_risk[:, :, -1] += pop[:, :, -1, :-1]
    deaths = np.zeros((R, 2, A, Y))
    deaths[..., 1:] = np.floor(at_risk * rng.uniform(0, 0.5, at_risk.shape))
    ds = xr.Dataset({
        "population": (("region", "sex", "age", "year"), pop),
        "deaths": (("region", "sex", "age", "year"), deaths, {"age_convention": "year_end"}),
        "births": (("region", "sex", "year"), births),
    }, coords={"region": list("abc"), "sex": ["female", "male"], "age": np.arange(A),
               "year": np.arange(2000, 2000 + Y)})
    q = death_risks(ds, years=range(2001, 2000 + Y))
    # risks applied to the population at the start of each year give back the deaths
    np.testing.assert_allclose((q.values[..., None] * at_risk).sum(-1), deaths[..., 1:].sum(-1),
                               rtol=1e-10, atol=1e-9)


def test_at_event_deaths_converted_with_lexis_split():
    ds = toy_cube("at_event")
    q = death_risks(ds, years=2001, lower_share=0.5, infant_lower_share=0.9)
    a = q.sel(region="a", sex="female")
    # squares 2001: [2, 4, 30]; year-end: age0 = 0.9*2, age1 = 0.1*2 + 0.5*4, age2 = 0.5*4 + 30
    np.testing.assert_allclose(a.values, [1.8 / 50, 2.2 / 100, 32 / 500])
    assert "lower-triangle share" in q.attrs["lexis_split"]


def test_death_rates_hand_worked():
    ds = toy_cube("at_event")
    m = death_rates(ds, years=[2001, 2002])
    a = m.sel(region="a", sex="female")
    # M_age(x,t) = (P(x,t-1) + P(x,t)) / 2 pooled
    E0 = (100 + 110) / 2 + (110 + 120) / 2
    E2 = (300 + 310) / 2 + (310 + 305) / 2
    np.testing.assert_allclose(a.sel(age=0), (2 + 3) / E0)
    np.testing.assert_allclose(a.sel(age=2), (30 + 35) / E2)
    assert m.attrs["years"] == "2001-2002" and "per person-year" in m.attrs["units"]


def test_table_risks_hand_worked():
    ds = toy_cube("at_event")
    q = death_risks(ds, years=2001, kind="table").sel(region="a", sex="female")
    m1 = 4 / ((200 + 195) / 2)
    np.testing.assert_allclose(q.values, [2 / 50, m1 / (1 + 0.5 * m1), 1.0])


def test_table_risks_with_lower_triangle_deaths():
    ds = toy_cube("at_event")
    ds["deaths_lower"] = ds["deaths"] * 0.5
    q = death_risks(ds, years=2001, kind="table").sel(region="a", sex="female")
    R1 = (200 + 195) / 2
    assert float(q.sel(age=1)) == pytest.approx(4 / (R1 + 2))  # SCB: D / (R + d)
    # a NaN lower-triangle count was summed as 0 (q = D / R, too high), silently
    ds["deaths_lower"].loc[{"region": "a", "sex": "female", "age": 1, "year": 2001}] = np.nan
    with pytest.raises(dk.CubeError, match=r"deaths_lower\[region='a', sex='female', age=1, year=2001\] = nan"):
        death_risks(ds, years=2001, kind="table")


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------

def test_deaths_above_population_at_risk():
    ds = toy_cube()
    ds["deaths"].loc[{"region": "b", "age": 1, "year": 2001}] = 50.0
    # far above the 10 persons at risk in that year: rejected, naming the cell and the year
    with pytest.raises(dk.CubeError, match=r"deaths\[region='b', sex='female', age=1, year=2001\] = 50.0 but only 10"):
        death_risks(ds, years=2001)
    # a small excess (11 deaths of 10 at risk: a mover in who died, CKM noise) is clamped at 1 and counted
    ds["deaths"].loc[{"region": "b", "age": 1, "year": 2001}] = 11.0
    from demokit.small_area import ClampWarning
    with pytest.warns(ClampWarning, match="1 cell"):
        q = death_risks(ds, years=2001)
    assert float(q.sel(region="b", age=1).max()) == 1.0 and q.attrs["clamped_cells"] == 1


def test_nan_deaths_named():
    ds = toy_cube()
    ds["deaths"].loc[{"region": "a", "age": 2, "year": 2001}] = np.nan
    with pytest.raises(dk.CubeError, match=r"deaths\[region='a', sex='female', age=2, year=2001\] = nan"):
        death_risks(ds, years=2001)


def test_negative_population_named():
    ds = toy_cube("at_event")
    ds["population"].loc[{"region": "b", "age": 0, "year": 2000}] = -3
    with pytest.raises(dk.CubeError, match=r"population\[region='b', sex='female', age=0, year=2000\] = -3"):
        death_rates(ds, years=2001)


def test_missing_year_before_period():
    with pytest.raises(dk.CubeError, match="year=1999"):
        death_risks(toy_cube(), years=2000)


def test_zero_exposure_rates_are_zero_and_counted():
    ds = toy_cube("at_event")
    ds["population"].loc[{"region": "b", "age": 2}] = 0.0
    ds["deaths"].loc[{"region": "b", "age": 2}] = 0.0
    m = death_rates(ds, years=2001)
    assert float(m.sel(region="b", sex="female", age=2)) == 0.0
    assert m.attrs["zero_exposure_cells"] == 1
    lt = life_table(m, a0="andreev_kingkade")
    assert not lt.ex.isnull().any()  # open-age rate 0 replaced by the last positive rate (attrs)
    assert lt.attrs["open_age_rate_filled"] == 1


def test_deaths_with_zero_exposure_named():
    ds = toy_cube("at_event")
    ds["population"].loc[{"region": "b", "age": 1}] = 0.0
    with pytest.raises(dk.CubeError, match=r"deaths\[region='b', sex='female', age=1\].*zero mean population"):
        death_rates(ds, years=2001)


# ---------------------------------------------------------------------------
# SCB published life expectancy from the county data aggregated to the country
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sweden():
    ds = dk.datasets.load("sweden_counties")
    nat = ds.sum("region")
    for v in ds.data_vars:
        nat[v].attrs = dict(ds[v].attrs)
    nat.attrs = dict(ds.attrs)
    return ds, nat


def test_scb_life_expectancy(sweden):
    _, nat = sweden
    pub = pd.read_csv(DATA / "scb_life_expectancy" / "e0_sweden.csv", comment="#")
    for year, grp in pub.groupby("year"):
        lt = life_table(death_rates(nat, years=year), a0="andreev_kingkade")
        for r in grp.itertuples():
            e0 = float(lt.ex.sel(age=0, sex=r.sex))
            assert abs(e0 - r.e0) <= 0.03, (year, r.sex, e0, r.e0)


def test_county_data_match_hmd_published(sweden):
    """HMD's own published female e0 (deaths are the same as SCB's): 2013 83.72, 2014 84.05."""
    _, nat = sweden
    pub = pd.read_csv(DATA / "hmd_sweden_published" / "e0_females.csv", comment="#")
    for r in pub[pub.year >= 2013].itertuples():
        lt = life_table(death_rates(nat, years=r.year), a0="andreev_kingkade")
        assert abs(float(lt.ex.sel(age=0, sex="female")) - r.e0) <= 0.03


# ---------------------------------------------------------------------------
# index of death risks
# ---------------------------------------------------------------------------

def test_death_risk_index_toy_hand_worked():
    ds = toy_cube()
    res = death_risk_index(ds, years=2001)
    qn = np.array([2 / 55, 5 / 110, 33 / 550])  # national = a + b
    Pb = np.array([5, 10, 50])
    Eb = (Pb * qn).sum()
    assert float(res.expected.sel(region="b")) == pytest.approx(Eb)
    assert float(res["index"].sel(region="b")) == pytest.approx(100 * 4 / Eb)
    # by age: b had no deaths at age 0 -> missing, not zero
    iba = res.index_by_age.sel(region="b", sex="female")
    assert np.isnan(float(iba.sel(age=0)))
    assert float(iba.sel(age=1)) == pytest.approx(100 * (1 / 10) / qn[1])


def test_death_risk_index_counties(sweden):
    ds, _ = sweden
    res = death_risk_index(ds, years=range(2011, 2016), ci=[0.95, 0.99])
    # the whole country = 100: sum of observed equals sum of expected
    assert float(res.observed.sum()) == pytest.approx(float(res.expected.sum()), rel=1e-12)
    assert res["index"].sizes["region"] == 21
    assert (res.lower.sel(level=0.95) < res["index"]).all() and (res.upper.sel(level=0.99) > res["index"]).all()
    # Norrbotten and Gävleborg above 100, Halland below (SCB: shortest / longest lives)
    idx = res["index"]
    assert float(idx.sel(region="25")) > 100 and float(idx.sel(region="21")) > 100
    assert float(idx.sel(region="13")) < 100


@pytest.mark.parametrize("use_dask", [False, True])
def test_dask_interval_risks(sweden, use_dask):
    ds, _ = sweden
    sub = ds.sel(year=slice(2012, 2015))
    ref = death_risks(sub, years=range(2013, 2016))
    if use_dask:
        q = death_risks(sub.chunk({"region": 7}), years=range(2013, 2016))
        assert dk._apply.is_dask(q)
        xr.testing.assert_allclose(q.compute(), ref)


def test_small_area_open_age_pooling():
    """Norrbotten municipalities (deaths by year-end age): a death at an age nobody had on 31 Dec."""
    ds = dk.datasets.load("norrbotten")
    with pytest.raises(dk.CubeError, match=r"deaths\[region='2514', sex='male', age=98\].*open_age="):
        death_rates(ds, years=range(2015, 2020))
    m = death_rates(ds, years=range(2015, 2020), open_age=95)
    assert int(m.age[-1]) == 95 and m.attrs["open_age"] == 95
    lt = life_table(m, a0="andreev_kingkade")
    assert not lt.ex.isnull().any()
    e0 = lt.ex.sel(age=0)
    assert 75 < float(e0.min()) and float(e0.max()) < 90
