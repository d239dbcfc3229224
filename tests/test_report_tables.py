"""The council table (dk.forecast_table) against numpy, the observed history, forecast.xlsx, CSV variants, --lang sv."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import demokit as dk
from demokit import forecast_job
from demokit.tables import COUNCIL_AGE_GROUPS, forecast_table, observed_table

AGES = np.arange(101)
COMPONENTS = ("births", "deaths", "in_migration", "out_migration", "immigration", "emigration")


def _cube(rng, years, regions=("A", "B"), scenarios=None):
    dims = (["scenario"] if scenarios else []) + ["region", "sex", "age", "year"]
    coords = {"region": list(regions), "sex": ["female", "male"], "age": AGES, "year": list(years)}
    if scenarios:
        coords = {"scenario": list(scenarios)} | coords
    shape = tuple(len(coords[d]) for d in dims)
    ds = xr.Dataset({v: (dims, rng.uniform(0, 50, shape)) for v in ("population",) + COMPONENTS}, coords=coords)
    return ds


def test_forecast_table_against_numpy():
    rng = np.random.default_rng(9)
    proj = _cube(rng, range(2020, 2024), scenarios=["low", "main"])
    obs = _cube(rng, range(2017, 2020))
    tab = forecast_table(proj, observed=obs)
    assert tab["year"].values.tolist() == [2019, 2020, 2021, 2022, 2023]
    assert tab["observed"].values.tolist() == [True, False, False, False, False]
    assert tab["region"].values.tolist() == ["A", "B", "total"]
    # plain numpy: axes (scenario, region, sex, age, year) -> sum over sex and the group's ages
    P = proj["population"].values
    Pobs = obs["population"].sel(year=2019).values          # (region, sex, age)
    for s in range(2):
        for r in range(2):
            for lo, hi in COUNCIL_AGE_GROUPS:
                a = (AGES >= lo) & (AGES <= (hi if hi is not None else 1000))
                expect = np.r_[Pobs[r][:, a].sum(), P[s, r][:, a, :].sum(axis=(0, 1))]
                name = dk.tables.age_group_name(lo, hi)
                np.testing.assert_allclose(tab[name].isel(scenario=s, region=r).values, expect, rtol=1e-12)
            comp = {c: np.r_[obs[c].sel(year=2019).values[r].sum(), proj[c].values[s, r].sum(axis=(0, 1))]
                    for c in COMPONENTS}
            for c in COMPONENTS:
                np.testing.assert_allclose(tab[c].isel(scenario=s, region=r).values, comp[c], rtol=1e-12)
            net = comp["in_migration"] - comp["out_migration"] + comp["immigration"] - comp["emigration"]
            np.testing.assert_allclose(tab["net_migration"].isel(scenario=s, region=r).values, net, rtol=1e-12)
            pop = np.r_[Pobs[r].sum(), P[s, r].sum(axis=(0, 1))]
            young = np.r_[Pobs[r][:, :20].sum(), P[s, r][:, :20].sum(axis=(0, 1))]
            work = np.r_[Pobs[r][:, 20:65].sum(), P[s, r][:, 20:65].sum(axis=(0, 1))]
            old = np.r_[Pobs[r][:, 65:].sum(), P[s, r][:, 65:].sum(axis=(0, 1))]
            np.testing.assert_allclose(tab["population"].isel(scenario=s, region=r).values, pop, rtol=1e-12)
            np.testing.assert_allclose(tab["dependency_ratio"].isel(scenario=s, region=r).values,
                                       100 * (young + old) / work, rtol=1e-12)
        # the sum of the regions: its ratio from the summed groups, not the sum of the ratios
        young = P[s][:, :, :20].sum(axis=(0, 1, 2))
        work = P[s][:, :, 20:65].sum(axis=(0, 1, 2))
        old = P[s][:, :, 65:].sum(axis=(0, 1, 2))
        np.testing.assert_allclose(tab["dependency_ratio"].isel(scenario=s).sel(region="total").values[1:],
                                   100 * (young + old) / work, rtol=1e-12)
    # every scenario starts from the same observed base year
    assert float(tab["population"].sel(scenario="low", region="A", year=2019)) == \
        float(tab["population"].sel(scenario="main", region="A", year=2019))


def test_observed_row_without_the_unknown_country_split():
    """Observed data that do not split out emigration to an unknown country (their emigration holds every
    emigrant): the base year's emigration_unknown is NaN and its net migration I - O + IM - EM; the projected
    years subtract the unknown-country emigrants too."""
    rng = np.random.default_rng(4)
    proj = _cube(rng, range(2020, 2022), regions=("A",))
    proj["emigration_unknown"] = proj["emigration"] * 0.25
    obs = _cube(rng, range(2018, 2020), regions=("A",))
    tab = forecast_table(proj, observed=obs).sel(region="A")
    o = {c: obs[c].sel(year=2019).values.sum() for c in COMPONENTS}
    assert np.isnan(float(tab["emigration_unknown"].sel(year=2019)))
    assert float(tab["net_migration"].sel(year=2019)) == pytest.approx(
        o["in_migration"] - o["out_migration"] + o["immigration"] - o["emigration"], rel=1e-12)
    p = {c: proj[c].sel(year=2021).values.sum() for c in (*COMPONENTS, "emigration_unknown")}
    assert float(tab["net_migration"].sel(year=2021)) == pytest.approx(
        p["in_migration"] - p["out_migration"] + p["immigration"] - p["emigration"] - p["emigration_unknown"],
        rel=1e-12)
    # a projected NaN stays NaN (never read as zero)
    proj["emigration_unknown"][0, 0, 0, 1] = np.nan
    assert np.isnan(float(forecast_table(proj, observed=obs)["net_migration"].sel(region="A", year=2021)))


def test_natural_increase_and_population_change():
    """Födelseöverskott = births - deaths; folkökning = P(t) - P(t-1): in projected years natural increase + net
    migration (a projection's balance closes), in the base year from the observed year before, whose change
    also holds the adjustment term; a year whose year before is unknown gets NaN."""
    ds = dk.datasets.load("norrbotten")
    a = dk.Assumptions.from_history(ds, years=range(2015, 2020))
    proj = dk.project(ds["population"].sel(year=2019), a, years=range(2020, 2025))
    tab = forecast_table(proj, observed=ds)
    P = ds["population"].sum(["sex", "age"])
    for r in ["2580", "total"]:
        t = tab.sel(region=r)
        np.testing.assert_allclose(t["natural_increase"].values, (t["births"] - t["deaths"]).values, rtol=1e-12)
        np.testing.assert_allclose(t["population_change"].values[1:],
                                   (t["natural_increase"] + t["net_migration"]).values[1:], rtol=1e-9)
    Pr = P.sel(region="2580")
    assert float(tab["population_change"].sel(region="2580", year=2019)) == float(Pr.sel(year=2019) - Pr.sel(year=2018))
    assert float(tab["population_change"].sel(region="2580", year=2020)) == pytest.approx(
        float(proj["population"].sel(region="2580", year=2020).sum() - Pr.sel(year=2019)), rel=1e-12)
    # the observed table: every year from the year before; the first year of the cube and a gap get NaN
    obs = observed_table(ds, years=[2010, 2011, 2015])
    ch = obs["population_change"].sel(region="2580")
    assert float(ch.sel(year=2010)) == float(Pr.sel(year=2010) - Pr.sel(year=2009))
    assert float(ch.sel(year=2011)) == float(Pr.sel(year=2011) - Pr.sel(year=2010))
    assert np.isnan(float(ch.sel(year=2015)))
    first = int(ds["year"].min())
    assert np.isnan(float(observed_table(ds)["population_change"].sel(region="2580", year=first)))


def test_origin_table_against_numpy():
    rng = np.random.default_rng(5)
    proj = _cube(rng, range(2020, 2023), regions=("A",), scenarios=["main"])
    proj = xr.concat([proj, proj * 0.5], dim=xr.DataArray(["born_in_sweden", "born_abroad"], dims="origin"))
    obs = _cube(rng, range(2018, 2020), regions=("A",))[["population", "in_migration"]]
    obs = xr.concat([obs, obs * 0.25], dim=xr.DataArray(["born_in_sweden", "born_abroad"], dims="origin"))
    obs["deaths"] = _cube(rng, [2018, 2019], regions=("A",))["deaths"]          # no origin (as for kommuner)
    tab = dk.origin_table(proj, observed=obs, base_year=2019)
    assert tab["year"].values.tolist() == [2019, 2020, 2021, 2022] and tab["observed"].values[0]
    P = proj["population"].values                     # (origin, scenario, region, sex, age, year)
    np.testing.assert_allclose(tab["population"].sel(scenario="main", region="A").values[:, 1:],
                               P[:, 0, 0].sum(axis=(1, 2)), rtol=1e-12)
    Po = obs["population"].sel(year=2019).values      # (origin, region, sex, age)
    np.testing.assert_allclose(tab["population"].sel(scenario="main", region="A", year=2019).values,
                               Po[:, 0].sum(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(tab["population_share"].sel(origin="born_abroad", year=2019).values.ravel(),
                               100 * Po[1].sum() / Po.sum(), rtol=1e-12)
    assert np.isnan(tab["deaths"].sel(year=2019)).all() and tab["deaths"].sel(year=2020).notnull().all()
    with pytest.raises(dk.CubeError, match="needs a projection with an 'origin' dim"):
        dk.origin_table(proj.sum("origin"))


def test_forecast_table_of_one_area_without_a_region_dim():
    rng = np.random.default_rng(2)
    proj = _cube(rng, range(2020, 2022), regions=("A",)).isel(region=0, drop=True)
    obs = _cube(rng, range(2018, 2020), regions=("A",)).isel(region=0, drop=True)
    tab = forecast_table(proj, observed=obs)
    assert "region" not in tab.dims and tab["year"].values.tolist() == [2019, 2020, 2021]
    assert float(tab["population"].sel(year=2019)) == pytest.approx(float(obs["population"].sel(year=2019).sum()))
    assert float(tab["population_change"].sel(year=2019)) == pytest.approx(
        float(obs["population"].sel(year=2019).sum() - obs["population"].sel(year=2018).sum()))


def test_dependency_ratio_hand_worked():
    """One person of each sex at every age 0..100 (202 persons).

    0-19: 2 x 20 = 40; 20-64: 2 x 45 = 90; 65+: 2 x 36 = 72 -> 100 (40 + 72) / 90 = 124.44...
    Groups: 0: 2, 1-5: 10, 6-15: 20, 16-19: 8, 20-64: 90, 65-79: 30, 80+: 2 x 21 = 42.
    """
    ones = xr.DataArray(np.ones((1, 2, 101, 1)), dims=("region", "sex", "age", "year"),
                        coords={"region": ["X"], "sex": ["female", "male"], "age": AGES, "year": [2030]})
    proj = xr.Dataset({"population": ones} | {c: ones * 0 for c in COMPONENTS})
    tab = forecast_table(proj).isel(region=0, year=0)
    assert float(tab["dependency_ratio"]) == pytest.approx(100 * 112 / 90)
    assert [float(tab[v]) for v in ("aged_0", "aged_1_5", "aged_6_15", "aged_16_19", "aged_20_64", "aged_65_79",
                                    "aged_80_plus")] == [2, 10, 20, 8, 90, 30, 42]
    assert float(tab["population"]) == 202
    assert "total" not in forecast_table(proj)["region"].values       # one region: no sum row


def test_age_groups_cut_by_the_open_age_are_nan():
    """Open age 60 (60+ holds everyone 60 and over): 20-64 counted every adult, 65-79 and 80+ zeros and the
    dependency ratio a third of the truth, silently; now they are NaN and say why.  Open age 80 still gives
    the hand-worked groups of test_dependency_ratio_hand_worked."""
    ones = xr.DataArray(np.ones((1, 2, 61, 1)), dims=("region", "sex", "age", "year"),
                        coords={"region": ["X"], "sex": ["female", "male"], "age": np.arange(61), "year": [2030]})
    proj = xr.Dataset({"population": ones} | {c: ones * 0 for c in COMPONENTS})
    tab = forecast_table(proj).isel(region=0, year=0)
    # by hand: 0: 2, 1-5: 10, 6-15: 20, 16-19: 8 (below 60: counted); 20-64, 65-79, 80+ and the ratio: NaN
    assert [float(tab[v]) for v in ("aged_0", "aged_1_5", "aged_6_15", "aged_16_19")] == [2, 10, 20, 8]
    for v in ("aged_20_64", "aged_65_79", "aged_80_plus", "dependency_ratio"):
        assert np.isnan(float(tab[v])), v
        assert "open age 60" in tab[v].attrs["note"], v
    assert float(tab["population"]) == 122 and "note" not in tab["aged_16_19"].attrs
    assert np.isnan(observed_table(proj)["aged_80_plus"]).all()
    # open age 80: one person of each sex at 0..79 and 21 each in 80+ (the 80..100 of the hand-worked test)
    pop = np.ones((1, 2, 81, 1))
    pop[:, :, 80] = 21
    p80 = xr.DataArray(pop, dims=ones.dims, coords={"region": ["X"], "sex": ["female", "male"],
                                                    "age": np.arange(81), "year": [2030]})
    tab = forecast_table(xr.Dataset({"population": p80} | {c: p80 * 0 for c in COMPONENTS})).isel(region=0, year=0)
    assert [float(tab[v]) for v in ("aged_20_64", "aged_65_79", "aged_80_plus")] == [90, 30, 42]
    assert float(tab["dependency_ratio"]) == pytest.approx(100 * 112 / 90)
    assert "note" not in tab["aged_80_plus"].attrs


def test_forecast_table_errors():
    rng = np.random.default_rng(1)
    proj = _cube(rng, range(2020, 2022))
    with pytest.raises(dk.CubeError, match="year=2019 .*base year"):
        forecast_table(proj, observed=_cube(rng, range(2010, 2015)))
    with pytest.raises(dk.CubeError, match="needs 'population'"):
        forecast_table(proj.drop_vars("population"))
    with pytest.raises(dk.CubeError, match="year=2030"):
        observed_table(_cube(rng, range(2010, 2015)), years=[2012, 2030])
    # was a bare KeyError; a table silently jumping from the base year 2017 to 2020; an empty age group of zeros
    obs = _cube(rng, range(2015, 2020))
    with pytest.raises(dk.CubeError, match=r"observed: region='B' of the projection is not in the observed data"):
        forecast_table(proj, observed=obs.sel(region=["A"]))
    with pytest.raises(dk.CubeError, match=r"base_year=2017: the projection starts from the population of 2019"):
        forecast_table(proj, observed=obs, base_year=2017)
    with pytest.raises(dk.CubeError, match=r"age_groups: \(5, 1\) is not an age group"):
        forecast_table(proj, age_groups=[(0, 0), (5, 1)])
    with pytest.raises(dk.CubeError, match=r"age_groups: \(-1, 4\) is not an age group"):
        observed_table(obs, age_groups=[(-1, 4)])


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, demo_forecast):
    """The demo run once (`demokit forecast --demo`: English, standard CSV, shared with test_forecast_job),
    its outputs written again in Swedish with excel-sv CSVs."""
    sv = tmp_path_factory.mktemp("sv")
    en, res = demo_forecast
    cfg = forecast_job.check_config(copy.deepcopy(forecast_job.DEMO_CONFIG), source="demo")
    forecast_job.write_outputs(sv, cfg=cfg, data=res["data"], assumptions=res["assumptions"],
                               projection=res["projection"], labour=res["labour"], history=res["history"],
                               lang="sv", csv="excel-sv")
    return res, en, sv


def test_history_series_every_year_against_numpy(outputs):
    ds = dk.datasets.load("norrbotten")
    h = outputs[0]["history"]                                      # what the job computed: every year
    assert h["year"].values.tolist() == list(range(2007, 2020))   # 2006's rates need 2005's population
    # TFR(t) = sum_x B(x, t) / ((W(x-1, t-1) + W(x, t)) / 2) for the pooled regions, plain numpy
    W = ds["population"].sel(sex="female").sum("region").transpose("age", "year").values
    B = ds["births"].sum(["region", "sex"]).transpose("age", "year").values
    for j, y in enumerate(range(2007, 2020), start=1):
        prev = np.r_[0.0, W[:-1, j - 1]]
        M = (prev + W[:, j]) / 2
        fertile = B[:, j] > 0
        assert float(h["tfr"].sel(year=y)) == pytest.approx((B[fertile, j] / M[fertile]).sum(), rel=1e-10)
    # e0: every year at once equals one year at a time (the vectorised cut into year pairs)
    one = forecast_job.history_series(ds, [2012])
    np.testing.assert_allclose(one["e0"].values, h["e0"].sel(year=[2012]).values, rtol=1e-12)
    assert 82 < float(h["e0"].sel(sex="female", year=2019)) < 85 and 78 < float(h["e0"].sel(sex="male").mean()) < 81


def test_xlsx_holds_numbers_with_headers(outputs):
    from openpyxl import load_workbook

    res, en, sv = outputs
    table = res["table"]
    for folder, lang, sheet, heads in (
            (en, "en", "Council table", ["Region", "Name", "Scenario", "Year", "Observed", "Population", "0 years",
                                         "1–5", "6–15", "16–19", "20–64", "65–79", "80+", "Births", "Deaths",
                                         "In-migrants", "Out-migrants", "Immigrants", "Emigrants", "Natural increase",
                                         "Net migration", "Population change", "Dependency ratio"]),
            (sv, "sv", "Prognostabell", ["Region", "Namn", "Scenario", "År", "Utfall", "Folkmängd", "0 år", "1–5 år",
                                         "6–15 år", "16–19 år", "20–64 år", "65–79 år", "80+ år", "Födda", "Döda",
                                         "Inflyttade", "Utflyttade", "Invandrade", "Utvandrade", "Födelseöverskott",
                                         "Flyttnetto", "Folkökning", "Försörjningskvot"])):
        wb = load_workbook(folder / "forecast.xlsx", read_only=True)
        assert wb.sheetnames[0] == sheet and len(wb.sheetnames) == 6
        rows = list(wb[sheet].iter_rows(values_only=True))
        assert "2019" in rows[1][0] and ("Källa: SCB" if lang == "sv" else "Statistics Sweden (SCB)") in rows[1][0]
        assert list(rows[3]) == heads
        body = [r for r in rows[4:] if r[0] == "2580" and r[2] in ("main", "huvud")]
        assert [r[3] for r in body] == list(range(2019, 2045))
        for r, y in zip(body, range(2019, 2045)):
            t = table.sel(region="2580", scenario="main", year=y)
            assert isinstance(r[5], int) and r[5] == round(float(t["population"]))     # persons rounded
            assert isinstance(r[22], float) and r[22] == pytest.approx(float(t["dependency_ratio"]))
            assert r[19] == round(float(t["births"] - t["deaths"])) and r[20] == round(float(t["net_migration"]))
            assert r[21] == round(float(t["population_change"]))
        total = [r for r in rows[4:] if r[0] in ("All regions", "Samtliga kommuner")]
        assert len(total) == 3 * 26
        pop_sheet = wb.sheetnames[2]
        prow = list(wb[pop_sheet].iter_rows(min_row=4, max_row=5, values_only=True))
        assert prow[0][-1] == "2044" and prow[0][5] == "2019" and isinstance(prow[1][-1], int)
        wb.close()


def test_csv_bom_and_excel_sv_variant(outputs):
    res, en, sv = outputs
    raw = (en / "forecast_table.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw[3:].split(b"\n")[0].count(b",") > 10
    df = pd.read_csv(en / "forecast_table.csv", dtype={"region": str})
    assert df.columns[0] == "scenario" and (df["base_year"] == 2019).all()
    raw_sv = (sv / "forecast_table.csv").read_bytes()
    assert raw_sv.startswith(b"\xef\xbb\xbf") and b";" in raw_sv.split(b"\n")[0]
    dsv = pd.read_csv(sv / "forecast_table.csv", sep=";", decimal=",", dtype={"region": str}, encoding="utf-8-sig")
    pd.testing.assert_frame_equal(dsv, df)
    row = df[(df.region == "2580") & (df.scenario == "main") & (df.year == 2030)].iloc[0]
    assert row["dependency_ratio"] == pytest.approx(
        float(res["table"]["dependency_ratio"].sel(region="2580", scenario="main", year=2030)), rel=1e-9)
    # a decimal comma in the Swedish variant's numbers, e.g. the dependency ratio
    line = next(ln for ln in raw_sv.decode("utf-8-sig").splitlines() if ln.startswith("main;2580;2030"))
    assert "," in line.split(";")[-3] or "," in line


def test_report_in_swedish_for_every_region(outputs):
    res, en, sv = outputs
    text = (sv / "report.html").read_text(encoding="utf-8")
    assert '<html lang="sv">' in text
    for word in ("Folkmängd", "Födda", "Döda", "Inflyttade", "Utflyttade", "Invandrade", "Utvandrade",
                 "Flyttnetto", "Försörjningskvot", "Scenario", "Kommun", "År", "Prognosen mot utfallet",
                 "basår 2019", "Samtliga kommuner", "78\u00a0105"):
        assert word in text, word
    for word in ("Births", "Net migration", "Population on 31 December (base year", "Components of change"):
        assert word not in text, word
    assert text.count("<section class='region'") == 6                 # five kommuner and their sum
    # the scenarios, methods and files in words, not config keys; no "−0"
    assert "3 scenarier" in text and "fruktsamhet × 1,0 (2020) → 0,8 (2024)" in text
    assert "inflyttning × 0,9; invandring × 0,8" in text and "öppen (inflyttade" in text
    assert "denna rapport" in text and "Data: SCB" in text
    for word in ("scenario(n)", "_scale", "{'20", "this report", ">−0<"):
        assert word not in text, word
    assert "@media print" in text and "break-before: page" in text
    # the council table in two halves that fit a page: the population by age group, the components of change
    import re
    heads = [h.count("<th>") for h in re.findall(r"<table class='council'><thead>(.*?)</thead>", text)]
    assert len(heads) == 6 * 3 * 2 and max(heads) <= 10, heads
    assert text.count("Folkmängd 31 december efter åldersgrupp") == text.count("Befolkningsförändringar under året")
    en_text = (en / "report.html").read_text(encoding="utf-8")
    assert "Dependency ratio" in en_text and "base year 2019" in en_text and "78,105" in en_text
    assert en_text.count("<img") >= 8


def test_output_config_keys(tmp_path):
    base = "[data]\ndataset='norrbotten'\n[forecast]\nstatistics_years=[2015,2019]\nbase_year=2019\nlast_year=2021\n"
    for extra, msg in (("[output]\nlang='fi'\n", "lang = 'fi'"), ("[output]\ncsv='tab'\n", "csv = 'tab'"),
                       ("[output]\nsep=';'\n", "unknown key 'sep'")):
        p = tmp_path / "c.toml"
        p.write_text(base + extra)
        with pytest.raises(forecast_job.ConfigError, match=msg):
            forecast_job.load_config(p)
    p.write_text(base + "[output]\nlang='sv'\ncsv='excel-sv'\n")
    assert forecast_job.load_config(p)["output"] == {"lang": "sv", "csv": "excel-sv"}


def test_history_series_gives_every_year_of_a_tiny_area():
    """A very small area: a death at 85 in 2010 where no one aged 85 lived at the start or the end of 2010."""
    ds = dk.datasets.load("norrbotten").sel(region=["2560"], year=slice(2007, 2012))
    ds["population"].loc[dict(sex="male", age=85, year=[2009, 2010])] = 0.0
    ds["deaths"].loc[dict(sex="male", age=85, year=2010)] = 1.0
    h = forecast_job.history_series(ds)
    assert h.attrs["e0_missing_years"] == ""
    assert np.isfinite(h["e0"]).all() and np.isfinite(h["tfr"]).all()
    assert (70 < h["e0"]).all() and (h["e0"] < 90).all()


def test_history_series_of_data_with_an_open_age_under_90():
    """The small-area old-age pooling starts at the open age (85) when that is under 90: every year's TFR and e0
    computed, the TFR that of the unfolded data, e0 within 0.3 years of it (the open group 85+ closes the table
    with its own rate −ln(1 − q): with the rate of age 84 beyond it, e0 was 0.8–1.4 years too high)."""
    from demokit.small_area import with_open_age
    ds = dk.datasets.load("norrbotten")
    h85 = forecast_job.history_series(with_open_age(ds, 85), [2015, 2016])
    h = forecast_job.history_series(ds, [2015, 2016])
    assert np.isfinite(h85["e0"]).all() and np.isfinite(h85["tfr"]).all()
    np.testing.assert_allclose(h85["tfr"], h["tfr"], rtol=1e-12)     # births by the mother's age: no folding
    assert float(abs(h85["e0"] - h["e0"]).max()) < 0.3


def test_history_series_leaves_out_years_without_statistics():
    """Years a file does not cover (NaN in the cube) were pooled as zero births or deaths: a TFR of 0 and a life
    expectancy of 110 (or 0.3) in the report's history, silently.  Now they are left out and listed."""
    ds = dk.datasets.load("norrbotten").sel(region=["2580", "2582"], year=slice(2010, 2016))
    full = forecast_job.history_series(ds)
    assert full["year"].values.tolist() == list(range(2011, 2017)) and full.attrs["years_without_data"] == ""
    cut = ds.copy(deep=True)
    cut["deaths"].loc[dict(year=[2011, 2012])] = np.nan    # a deaths file from 2013
    cut["births"].loc[dict(region="2582", year=2014)] = np.nan
    h = forecast_job.history_series(cut)
    assert h["year"].values.tolist() == [2013, 2015, 2016]
    assert h.attrs["years_without_data"] == "2011, 2012, 2014"
    xr.testing.assert_allclose(h, full.sel(year=[2013, 2015, 2016]), rtol=1e-12)   # the others unchanged
    cut["population"].loc[dict(region="2580", sex="female", age=30, year=2015)] = np.nan   # 2015 and 2016 need it
    assert forecast_job.history_series(cut)["year"].values.tolist() == [2013]
    with pytest.raises(dk.CubeError, match="no year 2011–2016 has complete population, births and deaths"):
        forecast_job.history_series(cut.assign(deaths=cut["deaths"] * np.nan))


def test_pooling_and_folding_keep_a_missing_count_missing():
    """dk.regions.pool / aggregate and dk.with_open_age summed with skipna: a NaN count became 0."""
    ds = dk.datasets.load("norrbotten")[["population"]].sel(year=[2018, 2019])
    ds["population"].loc[dict(region="2580", sex="male", age=99, year=2019)] = np.nan
    assert np.isnan(float(dk.regions.pool(ds)["population"].sel(sex="male", age=99, year=2019)))
    assert float(dk.regions.pool(ds)["population"].sel(sex="male", age=99, year=2018)) > 0
    agg = dk.regions.aggregate(ds, to="lan")["population"]
    assert np.isnan(float(agg.sel(region="25", sex="male", age=99, year=2019)))
    folded = dk.with_open_age(ds, 95)["population"]
    assert np.isnan(float(folded.sel(region="2580", sex="male", age=95, year=2019)))
    assert float(folded.sel(region="2581", sex="male", age=95, year=2019)) == float(
        ds["population"].sel(region="2581", sex="male", age=slice(95, None), year=2019).sum())

def test_scenario_changes_in_words():
    from demokit.report import _num, _scenario_text

    names = {"2580": "Luleå", "2184": "Hudiksvall"}
    opts = {"fertility_scale": {"2024": 0.8, "2020": 1.0}, "life_expectancy": {"female": 85.0, "male": {"2030": 83}},
            "in_migration": {"2580": 3000, "2184": {"2025": 1500, "2030": 1800}},
            "deregistration_wave": {"years": [2023, 2024], "extra": 0.004}}
    assert _scenario_text(opts, "en", names) == (
        "fertility × 1.0 (2020) → 0.8 (2024); life expectancy at birth women 85.0, men 83.0 (2030); "
        "in-migrants per year 2580 Luleå 3,000; 2184 Hudiksvall 1,500 (2025) → 1,800 (2030); "
        "deregistration wave 2023–2024: extra risk of emigrating to an unknown country 0.004, then × 0.5 a year")
    assert _scenario_text({"mortality_scale": 0.95, "tfr": 1.6}, "sv", names) == \
        "dödlighet × 0,95; summerad fruktsamhet 1,6"
    assert _scenario_text({}, "sv", names) == "som utfallet"
    assert _num(-0.4, "sv") == "0" and _num(-0.6, "sv") == "−1" and _num(-0.04, "en", 1) == "0.0"
