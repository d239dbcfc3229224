"""Small-area estimation, mortality improvement, per-region plans and one-kommun forecasts (issue 9)."""

from __future__ import annotations

import gzip
import warnings
from importlib import resources

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings, strategies as st

import demokit as dk
from demokit.small_area import ClampWarning

YEARS = range(2015, 2020)
KOMMUNER = ["2580", "2581", "2582", "2560", "2514"]


@pytest.fixture(scope="module")
def nb():
    return dk.datasets.load("norrbotten")


# ----------------------------------------------------------------------------- the estimator by hand
def test_small_area_rates_hand_worked_old_age_index_and_clamping():
    ages = np.arange(20)
    ref = xr.DataArray(np.where(ages < 15, 0.01, 0.2), dims="age", coords={"age": ages})
    exposure = np.full(20, 100.0)
    events = np.full(20, 1.0)
    exposure[3], events[3] = 0.0, 0.0                    # nobody at risk, no events
    exposure[15:] = [10, 5, 0, 2, 1]
    events[15:] = [3, 1, 2, 1, 1]                        # age 17: 2 deaths, nobody at risk -> clamped
    ev = xr.DataArray(events, dims="age", coords={"age": ages})
    ex = xr.DataArray(exposure, dims="age", coords={"age": ages})
    with pytest.warns(ClampWarning, match="1 cell"):
        res = dk.small_area_rates(ev, ex, ref, link="logit", smoothing=None, old_age=15)
    r = res["rate"].values
    # below 15: observed 1/100 = 0.01; age 3 (nobody at risk): the reference x the overall index
    # 14 / (14 * 100 * 0.01) = 1 -> 0.01
    np.testing.assert_allclose(r[:15], 0.01, rtol=1e-12)
    # from 15: O = 3+1+2+1+1 = 8, E = (10+5+0+2+1) * 0.2 = 3.6, the fitted odds ratio at 14 is 1,
    # I = (8 + 10 * 1) / (3.6 + 10) = 1.3235294...; odds scaling: I*0.2 / (0.8 + I*0.2) = 0.2486188
    index = 18 / 13.6
    np.testing.assert_allclose(r[15:], index * 0.2 / (0.8 + index * 0.2), rtol=1e-12)
    assert abs(r[15] - 0.24861878) < 1e-8
    # index over all ages: 100 * 22 / (14 + 3.6) = 125
    assert float(res["index"]) == pytest.approx(125.0)
    assert float(res["old_age_index"]) == pytest.approx(100 * index)
    assert int(res["clamped"]) == 1 and res.attrs["clamped_cells"] == 1


def test_small_area_rates_log_link_scales_in_proportion():
    ages = np.arange(30)
    ref = xr.DataArray(np.full(30, 0.1), dims="age", coords={"age": ages})
    ex = xr.DataArray(np.full(30, 10.0), dims="age", coords={"age": ages})
    ev = xr.DataArray(np.r_[np.full(20, 1.0), np.zeros(10)], dims="age", coords={"age": ages})
    res = dk.small_area_rates(ev, ex, ref, link="log", smoothing=None, old_age=20, credibility=10)
    # O = 0, E = 10 * 10 * 0.1 = 10, fitted ratio at 19 = (1/10)/0.1 = 1: I = (0 + 10) / (10 + 10) = 0.5
    np.testing.assert_allclose(res["rate"].values[20:], 0.05)


def test_small_area_rates_below_old_age_is_dk_smooth(nb):
    """Below old_age the estimate is dk.smooth with the reference (the numpy path inside small_area_rates runs
    the same fit), in the events' dim order (age first here), and the index is 100 O / E over all ages."""
    from demokit.migration import interval_parts
    ref = dk.reference_schedules(YEARS)["death_risk"]
    D, N, _ = interval_parts(nb, "deaths", years=YEARS)
    D, N = D.transpose("age", "sex", "region"), N.transpose("age", "sex", "region")
    res = dk.small_area_rates(D, N, ref, link="logit", old_age=90, warn=False)
    assert res["rate"].dims == ("age", "sex", "region") and res["index"].dims == ("sex", "region")
    young = D["age"].values < 90
    Nc = xr.where(D > N, D, N).isel(age=young)                     # the clamped cells' number at risk
    sm = dk.smooth(events=D.isel(age=young), exposure=Nc, reference=ref.sel(age=D["age"].values[young]),
                   link="logit")["rate"]
    np.testing.assert_allclose(res["rate"].isel(age=young).values, sm.transpose(*D.dims).values, rtol=1e-12)
    Dv, Nv = D.values, N.values
    R = ref.sel(age=D["age"]).transpose("age", "sex").values[:, :, None]       # the reference by (age, sex)
    expected = (Nv * R).sum(0)
    np.testing.assert_allclose(res["index"].values, 100 * Dv.sum(0) / expected, rtol=1e-12)


def test_old_age_above_the_highest_age_fits_every_age_and_at_the_open_age_pools_it():
    """small_area_rates cannot know whether the last age is open (fertility at 15-49 is not): an old_age above
    it fits every age, as old_age=None; at the open age, the open age group alone is pooled."""
    ages = np.arange(20)
    ref = xr.DataArray(np.full(20, 0.01), dims="age", coords={"age": ages})
    ex = xr.DataArray(np.full(20, 100.0), dims="age", coords={"age": ages})
    ev = ex * 0.01
    ev[-1] = 3.0   # the last age: 3 deaths where the reference expects 1
    above = dk.small_area_rates(ev, ex, ref, smoothing=None, name="deaths", old_age=25, warn=False)
    none = dk.small_area_rates(ev, ex, ref, smoothing=None, name="deaths", old_age=None, warn=False)
    np.testing.assert_array_equal(above["rate"].values, none["rate"].values)
    np.testing.assert_allclose(above["rate"].values[-1], 0.03, rtol=1e-12)   # observed 3 / 100
    at = dk.small_area_rates(ev, ex, ref, smoothing=None, name="deaths", old_age=19, warn=False)
    assert at.attrs["old_age"] == 19
    # I = (O + κ I_f) / (E + κ) with O = 3, E = 100 · 0.01 = 1, κ = 10, I_f = 1 (age 18 observed at the reference)
    index = (3 + 10 * 1.0) / (1 + 10)
    np.testing.assert_allclose(float(at["old_age_index"]), 100 * index, rtol=1e-12)
    odds = index * 0.01 / 0.99   # logit link: odds r = I · odds ref
    np.testing.assert_allclose(at["rate"].values, np.r_[np.full(19, 0.01), odds / (1 + odds)], rtol=1e-12)


def test_from_history_old_age_above_open_age_pools_the_open_age(nb):
    a85 = dk.Assumptions.from_history(nb, years=YEARS, open_age=85)            # default old_age 90
    a85b = dk.Assumptions.from_history(nb, years=YEARS, open_age=85, old_age=85)
    xr.testing.assert_identical(a85.death_risks, a85b.death_risks)


def test_small_area_rates_bad_counts_are_named():
    ages = np.arange(20)
    ref = xr.DataArray(np.full(20, 0.01), dims="age", coords={"age": ages})
    ex = xr.DataArray(np.full((2, 20), 100.0), dims=("region", "age"), coords={"region": ["a", "b"], "age": ages})
    ev = ex * 0.01
    bad = ev.copy()
    bad[1, 7] = np.nan
    with pytest.raises(dk.CubeError, match=r"deaths\[region='b', age=7\] = nan"):
        dk.small_area_rates(bad, ex, ref, smoothing=None, name="deaths", old_age=None)
    bad = ex.copy()
    bad[0, 3] = -1.0
    with pytest.raises(dk.CubeError, match=r"population at risk.*region='a', age=3.*-1"):
        dk.small_area_rates(ev, bad, ref, name="deaths")
    zero = ref.where(ref.age < 0, 0.0)                               # a reference of 0 at every age
    with pytest.raises(dk.smoothing.SmoothingError, match=r"deaths\[region='a', age=0\].*reference rate there is 0"):
        dk.small_area_rates(ev, ex, zero, name="deaths", old_age=None)
    nan_ref = ref.where(ref.age != 12)                               # NaN at age 12, where people are at risk
    with pytest.raises(dk.CubeError, match=r"reference\[age=12\] = nan"):
        dk.small_area_rates(ev, ex, nan_ref, name="deaths", old_age=None, smoothing=None)
    with pytest.raises(dk.CubeError, match="reference has dim"):
        dk.small_area_rates(ev, ex, ref.expand_dims(sex=["female"]), name="deaths")


def test_relational_fit_keeps_the_events_below_old_age(nb):
    from demokit.migration import interval_parts
    ref = dk.reference_schedules(YEARS)
    D, N, _ = interval_parts(nb.sel(region=["2560"]), "deaths", years=YEARS)
    res = dk.small_area_rates(D, N, ref["death_risk"], link="logit", old_age=90)
    young = D["age"] < 90
    fitted = (res["rate"] * N).where(young).sum(["age"])
    observed = D.where(young).sum(["age"])
    np.testing.assert_allclose(fitted.values, observed.values, rtol=1e-6)
    assert float(res["rate"].min()) >= 0 and float(res["rate"].max()) <= 1


# ----------------------------------------------------------------------------- the shipped reference
def test_reference_schedules_match_scb_published_figures():
    ref = dk.reference_schedules(YEARS)
    # SCB: life expectancy at birth 2015-2019, women 84.01 84.09 84.10 84.25 84.73 (mean 84.24),
    # men 80.31 80.60 80.72 80.78 81.34 (mean 80.75); TFR 1.85 1.85 1.78 1.76 1.70
    from demokit.assumptions import _table_risks
    e0 = dk.life_table(qx=_table_risks(ref["death_risk"])).ex.sel(age=0)
    assert abs(float(e0.sel(sex="female")) - 84.24) < 0.1
    assert abs(float(e0.sel(sex="male")) - 80.75) < 0.1
    assert abs(float(ref["fertility_rate"].sum()) - np.mean([1.85, 1.85, 1.78, 1.76, 1.70])) < 0.02
    one = dk.reference_schedules([2019])
    assert float(one["death_risk_events"].sum()) == 88766      # SCB: 88,766 deaths in Sweden in 2019
    for v in ("in_migration_profile", "immigration_profile"):
        assert float(ref[v].sum()) == pytest.approx(1.0)


def test_reference_outside_the_shipped_years_uses_the_latest_and_says_so():
    ref = dk.reference_schedules(range(2020, 2025))
    assert ref.attrs["years"] == "2020-2024"
    assert "2015-2019" in ref.attrs["notes"]


def test_reference_from_a_county_cube():
    c = dk.datasets.load("sweden_counties")
    ref = dk.reference_schedules(range(2011, 2016), reference=c.sel(region="25"))
    # Norrbotten's own fertility, from the county cube: TFR about 1.8-1.9
    assert 1.6 < float(ref["fertility_rate"].sum()) < 2.1


@pytest.mark.parametrize("kw", [{"lower_share": 1.5}, {"infant_lower_share": -0.2}, {"boys_share": 1.3}])
def test_from_history_share_out_of_range_is_an_error_at_once(nb, kw):
    """lower_share was never checked when the deaths are by year-end age (no Lexis split needed)."""
    name, v = next(iter(kw.items()))
    with pytest.raises(dk.CubeError, match=rf"{name} = {v}: a share must lie in \[0, 1\]"):
        dk.Assumptions.from_history(nb, years=YEARS, **kw)


# ----------------------------------------------------------------------------- one kommun at a time
@pytest.mark.parametrize("region", KOMMUNER)
def test_one_region_from_history_every_risk_in_range(nb, region):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClampWarning)
        a = dk.Assumptions.from_history(nb.sel(region=[region]), years=YEARS, smoothing="relational")
    for k in ("death_risks", "out_migration_risks", "emigration_risks"):
        v = a[k]
        assert float(v.min()) >= 0 and float(v.max()) <= 1, k
    assert 70 < a.attrs["e0_observed_male"] < 85 and 75 < a.attrs["e0_observed_female"] < 90


def _thinned(ds, p, seed):
    """Return the cube with every count thinned binomially (a synthetic smaller kommun)."""
    rng = np.random.default_rng(seed)
    out = ds.copy()
    for v in ds.data_vars:
        x = ds[v].values
        out[v] = (ds[v].dims, rng.binomial(np.clip(x, 0, None).astype(np.int64), p).astype(float))
        out[v].attrs = ds[v].attrs
    return out


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.sampled_from([300, 600, 1200, 2500, 5000]), seed=st.integers(0, 10_000))
def test_property_any_area_size_risks_in_range_and_no_negative_population(nb, size, seed):
    one = nb[["population", "births", "deaths", "in_migration", "out_migration", "immigration",
              "emigration"]].sel(region=["2560"])
    p = size / float(one["population"].sel(year=2019).sum())
    small = _thinned(one, p, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClampWarning)
        a = dk.Assumptions.from_history(small, years=YEARS, mortality_trend="lee_carter",
                                        projection_years=range(2020, 2031))
    for k in ("death_risks", "out_migration_risks", "emigration_risks"):
        assert float(a[k].min()) >= 0 and float(a[k].max()) <= 1, k
    assert float((a["death_risks"] + a["out_migration_risks"] + a["emigration_risks"]).max()) <= 1 + 1e-12
    proj = dk.project(small["population"].sel(year=2019), a, years=range(2020, 2031))
    for v in proj.data_vars:
        assert float(proj[v].min()) >= 0, v


# ----------------------------------------------------------------------------- open age
def test_with_open_age_keeps_totals_and_from_history_projects_on_folded_ages(nb):
    f = dk.with_open_age(nb, 95)
    assert int(f["age"].max()) == 95 and f.attrs["open_age"] == 95
    for v in ("population", "deaths", "births"):
        np.testing.assert_allclose(f[v].sum("age").values, nb[v].sum("age").values)
    np.testing.assert_allclose(f["population"].sel(age=95).values,
                               nb["population"].sel(age=slice(95, None)).sum("age").values)
    a = dk.Assumptions.from_history(nb.sel(region=["2514"]), years=YEARS, open_age=95, smoothing=None)
    assert int(a["death_risks"]["age"].max()) == 95
    proj = dk.project(nb["population"].sel(region=["2514"], year=2019), a, years=range(2020, 2023))
    assert int(proj["age"].max()) == 95
    with pytest.raises(dk.CubeError, match="open_age"):
        dk.with_open_age(nb, 30)


# ----------------------------------------------------------------------------- Lee-Carter
def test_lee_carter_recovers_an_exact_model_and_its_drift():
    rng = np.random.default_rng(1)
    ages, years = np.arange(40), np.arange(1990, 2015)
    a = -8 + 0.08 * ages
    b = rng.uniform(0.5, 1.5, ages.size)
    b /= b.sum()
    k = -2.0 * (years - years.mean()) + rng.normal(0, 0.5, years.size)
    k -= k.mean()
    m = np.exp(a[:, None] + b[:, None] * k[None, :])
    E = xr.DataArray(np.full(m.shape, 1e6), dims=("age", "year"), coords={"age": ages, "year": years})
    D = E * m
    lc = dk.lee_carter(D, E)
    np.testing.assert_allclose(lc["a"].values, a, atol=1e-9)
    np.testing.assert_allclose(lc["b"].values, b, atol=1e-9)
    np.testing.assert_allclose(lc["k"].values, k, atol=1e-7)
    assert float(lc["drift"]) == pytest.approx((k[-1] - k[0]) / (years.size - 1))
    f = dk.improvement_factors(lc, from_year=2017, years=[2017, 2027])
    np.testing.assert_allclose(f.sel(year=2017).values, 1.0)
    np.testing.assert_allclose(f.sel(year=2027).values, np.exp(b * float(lc["drift"]) * 10))



def test_lee_carter_rejects_a_year_gap_mismatched_years_and_a_missing_count():
    """A missing year made the drift (k(T) - k(1)) / (T - 1) a drift per step, not per year, silently; exposure
    lacking a year failed as 'deaths ... needs exposure > 0'; a NaN death was not named."""
    ages, years = np.arange(5), np.arange(2000, 2006)
    E = xr.DataArray(np.full((5, 6), 1e5), dims=("age", "year"), coords={"age": ages, "year": years})
    D = E * np.exp(-6 + 0.1 * ages[:, None] - 0.02 * (years - 2000)[None, :])
    # log m falls 0.02 a year at each of the 5 ages: b = 1/5 each (Σb = 1), so k falls 0.1 a year
    assert float(dk.lee_carter(D, E)["drift"]) == pytest.approx(-0.1, rel=1e-9)
    with pytest.raises(dk.CubeError, match=r"a Lee-Carter fit needs consecutive years; year=2003 follows year=2001"):
        dk.lee_carter(D.drop_sel(year=2002), E.drop_sel(year=2002))
    with pytest.raises(dk.CubeError, match=r"deaths has year=2000, which exposure lacks"):
        dk.lee_carter(D, E.sel(year=slice(2001, None)))
    with pytest.raises(dk.CubeError, match=r"deaths\[age=3, year=2004\] = nan"):
        dk.lee_carter(D.where(~((D.age == 3) & (D.year == 2004))), E)
    with pytest.raises(dk.CubeError, match=r"deaths: year=2006 is not in the data"):   # were bare KeyErrors
        dk.lee_carter(D, E, years=range(2001, 2011))
    with pytest.raises(dk.CubeError, match=r"deaths: age=5 is not in the data"):
        dk.lee_carter(D, E, ages=range(0, 8))

def test_sweden_trend_makes_life_expectancy_rise(nb):
    a = dk.Assumptions.from_history(nb, years=YEARS, mortality_trend="lee_carter",
                                    projection_years=range(2020, 2045))
    e0 = a.attrs["life_expectancy"]
    assert (e0.diff("year") > 0).all()
    gain = e0.sel(year=2044) - e0.sel(year=2020)
    # Sweden 1990-2014 gained about 1.5 (women) and 2.5 (men) years a decade; SCB's 2020 forecast
    # has about +3 (women) and +4 (men) to 2045
    assert 1.5 < float(gain.sel(sex="female")) < 5 and 2 < float(gain.sel(sex="male")) < 6
    assert (a["death_risks"].sel(year=2044) <= a["death_risks"].sel(year=2020) + 1e-6).mean() > 0.95


def test_life_expectancy_and_tfr_paths_from_mappings(nb):
    yrs = range(2020, 2031)
    a = dk.Assumptions.from_history(
        nb, years=YEARS, projection_years=yrs, smoothing=None,
        scenarios={"fall": {"tfr": {"2020": 1.7, "2024": 1.45, "2030": 1.45}},
                   "e0": {"life_expectancy": {"female": {"2020": 84, "2030": 86}, "male": 81}}})
    t = a.attrs["tfr"].sel(scenario="fall")
    # every region's rates scale by path(t) / observed pooled TFR: 1.7 in 2020, linear to 1.45 in 2024,
    # then flat, so each region's TFR in 2022 is 1.575 / 1.7 of its 2020 value
    np.testing.assert_allclose((t.sel(year=2022) / t.sel(year=2020)).values, 1.575 / 1.7)
    np.testing.assert_allclose((t.sel(year=2030) / t.sel(year=2024)).values, 1.0)
    assert a["fertility"].sel(scenario="fall").sizes["year"] == len(yrs)
    e0 = a.attrs["life_expectancy"].sel(scenario="e0")
    assert float(e0.sel(sex="female", year=2025)) == pytest.approx(85.0)


# ----------------------------------------------------------------------------- housing plans
def test_in_migration_scalar_is_shared_by_weights_and_mapping_is_per_region(nb):
    two = nb.sel(region=["2580", "2581"])
    a = dk.Assumptions.from_history(two, years=YEARS, smoothing=None,
                                    scenarios={"base": {}, "total": {"in_migration": 2000},
                                               "map": {"in_migration": {"2581": 1500}}})
    base = a["in_migration"].sel(scenario="base")
    tot = a["in_migration"].sel(scenario="total")
    assert float(tot.sum()) == pytest.approx(2000)
    np.testing.assert_allclose((tot / tot.sum()).values, (base / base.sum()).values)
    m = a["in_migration"].sel(scenario="map")
    assert float(m.sel(region="2581")) == 1500
    assert float(m.sel(region="2580")) == pytest.approx(float(base.sel(region="2580")))
    with pytest.raises(dk.AssumptionError, match="9999"):
        dk.Assumptions.from_history(two, years=YEARS, smoothing=None, in_migration={"9999": 10})


# ----------------------------------------------------------------------------- the CLI for one kommun
def _write_kommun_files(tmp, region, *, thin=None, seed=0):
    """Write one kommun's SCB PX-Web CSVs (no national rows); ``thin`` scales every count binomially."""
    import pandas as pd
    d = resources.files("demokit.datasets").joinpath("data", "norrbotten")
    rng = np.random.default_rng(seed)
    for f in ("population", "births", "deaths", "migration"):
        with gzip.open(d / f"{f}_2006_2019.csv.gz", "rt", encoding="utf-8") as fh:
            df = pd.read_csv(fh, dtype=str)
        df = df[df["Region"] == region]
        if thin is not None:
            for c in [c for c in df.columns if c[:2] == "BE"]:
                if c.split()[0] in ("BE0101AZ", "BE0101A1", "BE0101A4"):   # net flows: not counts
                    df = df.drop(columns=c)
                else:
                    df[c] = rng.binomial(df[c].astype(np.int64).values, thin)
        df.to_csv(tmp / f"{f}.csv", index=False)
    (tmp / "forecast.toml").write_text(f'''title = "{region}"
[data]
files = ["population.csv", "births.csv", "deaths.csv", "migration.csv"]
actual = "actual.csv"
[forecast]
statistics_years = [2015, 2019]
base_year = 2019
last_year = 2030
[scenarios.main]
''', encoding="utf-8")
    act = resources.files("demokit.datasets").joinpath("data", "norrbotten", "actual_2021_2024.csv")
    (tmp / "actual.csv").write_text(act.read_text(encoding="utf-8"), encoding="utf-8")


# one kommun in the default suite, the others (the same path, ~1.5 s each) with -m slow
@pytest.mark.parametrize("region", [KOMMUNER[0]] + [pytest.param(r, marks=pytest.mark.slow) for r in KOMMUNER[1:]])
def test_cli_forecast_for_one_kommun_from_its_own_files(tmp_path, region, capsys):
    from demokit.cli import main
    _write_kommun_files(tmp_path, region)
    out = tmp_path / "out"
    rc = main(["forecast", str(tmp_path / "forecast.toml"), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    for f in ("projection.nc", "report.html", "forecast_vs_actual.csv"):
        assert (out / f).stat().st_size > 0
    proj = xr.load_dataset(out / "projection.nc")
    assert float(proj["population"].min()) >= 0
    err = xr.open_dataset(out / "projection.nc")  # readable
    err.close()


def test_cli_forecast_for_a_synthetic_kommun_of_2500(tmp_path, capsys):
    from demokit.cli import main
    _write_kommun_files(tmp_path, "2560", thin=2500 / 8066, seed=7)    # Älvsbyn thinned to ~2,500
    out = tmp_path / "out"
    rc = main(["forecast", str(tmp_path / "forecast.toml"), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    proj = xr.load_dataset(out / "projection.nc")
    start = float(proj["population"].sum(["sex", "age"]).isel(year=0).squeeze())
    assert 2000 < start < 3000
    assert float(proj["population"].min()) >= 0


def test_thin_deaths_lengthen_the_mortality_period(nb):
    from demokit.assumptions import _mortality_years
    # the five kommuner have at least 268 deaths of each sex in 2015-2019: the period stays
    assert _mortality_years(nb, list(YEARS), "auto") == list(YEARS)
    small = _thinned(nb.sel(region=["2560"]), 2500 / 8066, 1)   # about 85 deaths of each sex in 5 years
    yrs = _mortality_years(small, list(YEARS), "auto")
    assert yrs[-1] == 2019 and len(yrs) > 5 and len(yrs) <= 10
    tot = small["deaths"].sel(year=yrs).sum(["age", "year"])
    assert bool((tot >= 200).all()) or len(yrs) == 10


def test_auto_mortality_years_never_reach_a_year_without_deaths(nb):
    """'auto' lengthened the period into years a deaths file does not cover (their NaN summed as 0 deaths), as far
    as the population reached; now it stops at the first year without complete deaths or population."""
    from demokit.assumptions import _mortality_years
    small = _thinned(nb.sel(region=["2560"]), 2500 / 8066, 1)
    assert _mortality_years(small, list(YEARS), "auto")[0] < 2013          # thin: it reaches back past 2013
    cut = small.copy(deep=True)
    cut["deaths"].loc[dict(year=list(range(2006, 2013)))] = np.nan          # deaths only from 2013
    assert _mortality_years(cut, list(YEARS), "auto") == list(range(2013, 2020))
    cut["population"].loc[dict(year=2013)] = np.nan                         # 2014 needs the population of 2013
    assert _mortality_years(cut, list(YEARS), "auto") == list(range(2015, 2020))


def test_cli_forecast_with_disclosure_control_states_it(tmp_path, capsys):
    from demokit.cli import main
    _write_kommun_files(tmp_path, "2514")
    cfg = (tmp_path / "forecast.toml").read_text(encoding="utf-8")
    cfg = (cfg.replace("last_year = 2030", "last_year = 2024")
           + "[disclosure]\nD = 2\nV = 1.0\nseed = 5\ninputs = true\n")
    (tmp_path / "forecast.toml").write_text(cfg, encoding="utf-8")
    rc = main(["forecast", str(tmp_path / "forecast.toml"), "--out", str(tmp_path / "out")])
    assert rc == 0, capsys.readouterr().err
    proj = xr.load_dataset(tmp_path / "out" / "projection.nc")
    assert "cell key method" in proj.attrs["disclosure"]
    pop = proj["population"].values
    assert np.array_equal(pop, np.round(pop)) and pop.min() >= 0      # whole persons, never negative
    assert "Disclosure control" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_cli_forecast_with_a_reference_from_files(tmp_path, capsys):
    """A kommun estimated against a larger area's own SCB files ([forecast] reference = [...])."""
    from demokit.cli import main
    _write_kommun_files(tmp_path, "2560")
    ref = tmp_path / "ref"
    ref.mkdir()
    import pandas as pd
    d = resources.files("demokit.datasets").joinpath("data", "norrbotten")
    for f in ("population", "births", "deaths", "migration"):      # the five kommuner, no national rows
        with gzip.open(d / f"{f}_2006_2019.csv.gz", "rt", encoding="utf-8") as fh:
            df = pd.read_csv(fh, dtype=str)
        df[df["Region"] != "00"].to_csv(ref / f"{f}.csv", index=False)
    cfg = (tmp_path / "forecast.toml").read_text(encoding="utf-8").replace(
        "last_year = 2030", 'last_year = 2024\nreference = ["ref/population.csv", "ref/births.csv", '
                            '"ref/deaths.csv", "ref/migration.csv"]')
    (tmp_path / "forecast.toml").write_text(cfg, encoding="utf-8")
    rc = main(["forecast", str(tmp_path / "forecast.toml"), "--out", str(tmp_path / "out")])
    assert rc == 0, capsys.readouterr().err
    proj = xr.load_dataset(tmp_path / "out" / "projection.nc")
    assert 7000 < float(proj["population"].sum(["sex", "age"]).isel(year=-1).squeeze()) < 9000


def test_a_missing_count_in_a_reference_cube_is_named_as_the_reference(nb):
    """A NaN in a reference cube was summed as 0 (pooling its regions, or its in-mover counts); now an error that
    says it is the reference cube's cell."""
    two = nb.sel(region=["2580", "2582"])
    hole = (nb.age == 50) & (nb.year == 2017) & (nb.region == "2581")
    ref = nb.assign(deaths=nb["deaths"].where(~hole))
    with pytest.raises(dk.CubeError, match=r"the reference cube \(its regions pooled\): deaths\[sex='female', "
                                           r"age=50, year=2017\] = nan"):
        dk.Assumptions.from_history(two, years=YEARS, reference=ref, projection_years=[2020])
    ref = nb.assign(in_migration=nb["in_migration"].where(~hole))
    with pytest.raises(dk.CubeError, match=r"the reference cube's in_migration\[region='2581', sex='female', age=50, "
                                           r"year=2017\] = nan"):
        dk.Assumptions.from_history(two, years=YEARS, reference=ref, projection_years=[2020])


def test_small_area_rates_descending_ages_give_the_same_rates(nb):
    """Ages in descending order: the same estimate, in the order given (the old-age index takes its level from
    the age just below old_age, not from the last age of the array)."""
    from demokit.migration import interval_parts
    ref = dk.reference_schedules(YEARS)["death_risk"]
    D, N, _ = interval_parts(nb.sel(region=["2560"]), "deaths", years=YEARS)
    up = dk.small_area_rates(D, N, ref, link="logit", old_age=90, smoothing=None, warn=False)
    down = dk.small_area_rates(D.isel(age=slice(None, None, -1)), N.isel(age=slice(None, None, -1)), ref,
                               link="logit", old_age=90, smoothing=None, warn=False)
    assert down["age"].values[0] == D["age"].values[-1]
    np.testing.assert_allclose(down["rate"].sel(age=D["age"]).values, up["rate"].values, rtol=1e-12)
    np.testing.assert_allclose(down["old_age_index"].values, up["old_age_index"].values, rtol=1e-12)


def test_small_area_rates_name_a_cell_the_exposure_or_reference_lacks(nb):
    """A population at risk or a reference lacking a region or an age: the broadcast dropped those rates (or
    raised a bare KeyError), silently."""
    one = nb.sel(year=2019)
    D, N = one["deaths"].astype(float), one["population"].astype(float)
    ref = (D.sum("region") / N.sum("region")).clip(0, 1)
    assert dk.small_area_rates(D, N, ref, smoothing=None, warn=False)["rate"].sizes["region"] == 5
    with pytest.raises(dk.CubeError, match=r"the population at risk lacks region='2560' of the events"):
        dk.small_area_rates(D, N.isel(region=[0, 1, 2]), ref, smoothing=None)
    with pytest.raises(dk.CubeError, match=r"the population at risk lacks age=96 of the events"):
        dk.small_area_rates(D, N.sel(age=slice(0, 95)), ref, smoothing=None)
    with pytest.raises(dk.CubeError, match=r"the reference lacks age=96 of the events"):
        dk.small_area_rates(D, N, ref.sel(age=slice(0, 95)), smoothing=None)
    with pytest.raises(dk.CubeError, match=r"the reference lacks region='2582' of the events"):
        dk.small_area_rates(D, N, ref.expand_dims(region=["2580", "2581"]).copy(), smoothing=None)
    # a NaN reference rate at an old age made the region's risk there 0 (nobody dies at 95), silently
    r95 = dk.small_area_rates(D, N, ref, smoothing=None, warn=False)["rate"].sel(age=95)
    assert (r95 > 0.1).all()
    with pytest.raises(dk.CubeError, match=r"reference\[sex='female', age=95\] = nan: the reference rate must be a "
                                           r"finite number >= 0 at every age"):
        dk.small_area_rates(D, N, ref.where(ref.age != 95), smoothing=None)
    with pytest.raises(dk.DemokitError, match=r"credibility = -5: expected a number of expected events >= 0"):
        dk.small_area_rates(D, N, ref, smoothing=None, credibility=-5)   # was accepted: a weight below 0
