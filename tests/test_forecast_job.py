"""The main job: demokit forecast --demo and with a CONFIG.toml; one-line errors for bad configs."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import demokit as dk
from demokit import cli, forecast_job
from demokit.datasets import path as data_path


@pytest.fixture(scope="module")
def demo(demo_forecast):
    return demo_forecast[0]   # `demokit forecast --demo`, run once per session (conftest)


def test_demo_writes_files(demo):
    for f in ("projection.nc", "totals_by_region.csv", "population_by_age.csv", "assumptions.csv",
              "labour_force.csv", "forecast_vs_actual.csv", "report.html"):
        assert (demo / f).stat().st_size > 0, f


def test_demo_projection_content(demo):
    proj = xr.load_dataset(demo / "projection.nc")
    assert proj["scenario"].values.tolist() == ["low", "main", "high"]
    assert proj["year"].values.tolist() == list(range(2020, 2045))
    assert sorted(proj["region"].values.tolist()) == ["2514", "2560", "2580", "2581", "2582"]
    assert (proj["population"] >= 0).all()
    # each cohort closes: P(x, t) = start - D - O - EM + I + IM (no adjustment assumed)
    import demokit as dk

    base = dk.datasets.load("norrbotten")["population"].sel(year=2019)
    p = proj["population"].sel(scenario="main", year=2021)
    prev = proj["population"].sel(scenario="main", year=2020)
    comp = proj.sel(scenario="main", year=2021)
    start = prev.shift(age=1, fill_value=0.0)
    start[dict(age=-1)] = prev.isel(age=-2) + prev.isel(age=-1)
    start[dict(age=0)] = comp["births"].sum("age")
    rhs = start - comp["deaths"] - comp["out_migration"] - comp["emigration"] + comp["in_migration"] \
        + comp["immigration"]
    np.testing.assert_allclose(p.values, rhs.transpose(*p.dims).values, rtol=1e-9, atol=1e-6)
    # the scenarios are ordered: low < main < high for the whole set in 2044
    tot = proj["population"].sel(year=2044).sum(["region", "sex", "age"])
    assert tot.sel(scenario="low") < tot.sel(scenario="main") < tot.sel(scenario="high")
    assert abs(float(proj["population"].sel(scenario="main", year=2020).sum()) / float(base.sum()) - 1) < 0.02


def test_demo_report_has_figures(demo):
    text = (demo / "report.html").read_text()
    assert text.count("<img") >= 5 and "data:image/png;base64," in text
    assert "Luleå" in text and "Scenarios" in text
    assert "illustrative employment rates" in text


def _copy_norrbotten(tmp_path):
    names = []
    for f in ("population_2006_2019.csv.gz", "births_2006_2019.csv.gz", "deaths_2006_2019.csv.gz",
              "migration_2006_2019.csv.gz"):
        src = data_path("norrbotten", f)
        dst = tmp_path / f.replace(".gz", "")
        with gzip.open(src, "rb") as a, open(dst, "wb") as b:
            shutil.copyfileobj(a, b)
        names.append(dst.name)
    return names


def _lulea_boden_config(tmp_path, head="", data=""):
    """A config for Luleå and Boden, statistics 2013-2017, forecast 2018-2019, on copied SCB files."""
    files = _copy_norrbotten(tmp_path)
    cfg = tmp_path / "forecast.toml"
    cfg.write_text(f"""{head}[data]
files = {files!r}
regions = ["2580", "2582"]
{data}[forecast]
statistics_years = [2013, 2017]
base_year = 2017
last_year = 2019
smoothing = "none"
""".replace("'", '"'))
    return cfg


def test_forecast_from_config(tmp_path, capsys):
    cfg = _lulea_boden_config(tmp_path, head='title = "Luleå and Boden"\n')
    assert cli.main(["forecast", str(cfg), "--out", str(tmp_path / "out")]) == 0
    proj = xr.load_dataset(tmp_path / "out" / "projection.nc")
    assert proj["region"].values.tolist() == ["2580", "2582"]
    assert proj["year"].values.tolist() == [2018, 2019]
    assert "Luleå and Boden" in (tmp_path / "out" / "report.html").read_text()


def test_forecast_against_actual_from_config(tmp_path):
    """[data] actual: the forecast's error against a user's CSV, in a CSV and in the report."""
    (tmp_path / "actual.csv").write_text("# my municipality's figures\nregion,year,population\n"
                                         "2580,2018,77470\n2580,2019,78105\n2582,2019,28080\n9999,2019,5\n")
    cfg = _lulea_boden_config(tmp_path, data='actual = "actual.csv"\n')
    assert cli.main(["forecast", str(cfg), "--out", str(tmp_path / "out")]) == 0
    proj = xr.load_dataset(tmp_path / "out" / "projection.nc")["population"].sum(["sex", "age"])
    cmp_ = pd.read_csv(tmp_path / "out" / "forecast_vs_actual.csv", dtype={"region": str}).dropna(subset=["actual"])
    assert len(cmp_) == 3                                   # 2582 in 2018 has no actual figure; 9999 is not projected
    for row in cmp_.itertuples():
        fc = float(proj.sel(region=row.region, year=row.year).isel(scenario=0))
        assert row.forecast == pytest.approx(fc, rel=1e-9)
        assert row.error_percent == pytest.approx(100 * (fc / row.actual - 1), rel=1e-9)
    text = (tmp_path / "out" / "report.html").read_text()
    assert "The forecast against what happened" in text and "my municipality&#x27;s figures" in text


@pytest.mark.parametrize("rows,message", [
    ("2580,2020,78000\n2580,2021,\n", "population = '' (region='2580', year='2021') is not a count of persons"),
    ("2580,2022,abc\n", "population = 'abc' (region='2580', year='2022') is not a count"),
    ("2580,2020,-5\n", "population = '-5' (region='2580', year='2020') is not a count"),
    ("2580,2020.5,5\n", "year = '2020.5' (region='2580', year='2020.5') is not a year"),
    ("180,2020,5\n", "none of its regions ['180'] is among the forecast's regions ['0180']"),
])
def test_actual_csv_bad_cells_are_errors(tmp_path, rows, message):
    """A blank or non-numeric actual population is an error (was NaN in the comparison, or a TypeError);
    an actual file none of whose regions is forecast (a lost leading zero) is an error, not silently no table."""
    p = tmp_path / "actual.csv"
    p.write_text("region,year,population\n" + rows)
    with pytest.raises(forecast_job.ConfigError, match=re.escape(message)):
        forecast_job.read_actual(str(p), regions=["0180"] if rows.startswith("180") else ["2580"],
                                 years=range(2020, 2025))
    if not rows.startswith("180"):   # the early check of run() (no regions, no years) finds the bad cell too
        with pytest.raises(forecast_job.ConfigError, match=re.escape(message)):
            forecast_job.read_actual(str(p), regions=(), years=())



def test_actual_csv_negative_other_forecast_is_an_error(tmp_path):
    """Another forecast's column (compared with ours in the report) must hold counts too; a blank cell is allowed."""
    p = tmp_path / "actual.csv"
    p.write_text("region,year,population,scb_forecast\n2580,2020,78000,77900\n2580,2021,78100,-3\n"
                 "2580,2022,78200,\n")
    with pytest.raises(forecast_job.ConfigError, match=re.escape("scb_forecast = '-3' (region='2580', year='2021') "
                                                                 "is not a count of persons")):
        forecast_job.read_actual(str(p), regions=["2580"], years=range(2020, 2025))
    p.write_text("region,year,population,scb_forecast\n2580,2020,78000,77900\n2580,2022,78200,\n")
    da = forecast_job.read_actual(str(p), regions=["2580"], years=range(2020, 2025))
    assert da["scb_forecast"].sel(region="2580", year=2020).item() == 77900.0


def test_a_region_and_its_part_are_not_forecast_together(tmp_path):
    """A file with the county (or Riket) and its kommuner: the total of the regions counted those persons twice."""
    ds = dk.datasets.load("norrbotten")[["population", "births", "deaths"]]
    nested = ds.assign_coords(region=["25" if r == "2514" else r for r in ds["region"].values.tolist()])
    nested.drop_vars("region_name").to_netcdf(tmp_path / "nested.nc")
    with pytest.raises(forecast_job.ConfigError, match=r"region '25' and its part '2580'"):
        forecast_job._read_data({"data": {"files": [str(tmp_path / "nested.nc")]}})
    ok = forecast_job._read_data({"data": {"files": [str(tmp_path / "nested.nc")], "regions": ["2580", "2581"]}})
    assert ok["region"].values.tolist() == ["2580", "2581"]
    forecast_job._check_not_nested(["2580", "2581", "my_district"])   # other levels only; own codes not checked

def test_actual_csv_region_codes_are_stripped(tmp_path):
    p = tmp_path / "actual.csv"
    p.write_text("region,year,population\n 2580 ,2020,5\n")
    assert forecast_job.read_actual(str(p), regions=["2580"], years=[2020]).sel(region="2580", year=2020) == 5

@pytest.mark.parametrize("text,message", [
    ("[data\n", "not valid TOML"),
    ("[forecast]\nstatistics_years=[2015,2019]\nbase_year=2019\nlast_year=2030\n", "[data] needs"),
    ("[data]\ndataset='norrbotten'\n", "missing the [forecast] section"),
    ("[data]\ndataset='norrbotten'\n[forecast]\nstatistics_years=[2015,2019]\nbase_year=2019\nlast_year=2030\n"
     "horizon=3\n", "unknown key 'horizon'"),
    ("[data]\ndataset='norrbotten'\n[forecast]\nstatistics_years=[2019,2015]\nbase_year=2019\nlast_year=2030\n",
     "statistics_years must be [first, last]"),
    ("[data]\ndataset='norrbotten'\n[forecast]\nstatistics_years=[2015,2019]\nbase_year=2025\nlast_year=2030\n",
     "base_year 2025 is not in the data"),
    ("[data]\ndataset='norrbotten'\nactual='nope.csv'\n[forecast]\nstatistics_years=[2015,2019]\nbase_year=2019\n"
     "last_year=2021\n", "[data] actual: "),
    ("[data]\ndataset='norrbotten'\nactual=3\n[forecast]\nstatistics_years=[2015,2019]\nbase_year=2019\n"
     "last_year=2021\n", "[data] actual must be the path of a CSV"),
    ("[data]\ndataset='norrbotten'\nregions=['2580', '9999']\n[forecast]\nstatistics_years=[2015,2019]\n"
     "base_year=2019\nlast_year=2021\n", "[data] regions: region '9999' is not in dataset 'norrbotten'"),
])
def test_bad_config_one_line_error(tmp_path, text, message, capsys):
    """In process (the CLI's own entry point; one case below runs it as a process)."""
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    assert cli.main(["forecast", str(cfg), "--out", str(tmp_path / "o")]) != 0
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err


def test_data_with_an_open_age_under_80_fail_before_projecting(tmp_path, capsys):
    """The council table's 65-79 and 80+ cannot be counted from 75+ data (they were zeros, silently)."""
    from demokit.small_area import with_open_age
    ds = with_open_age(dk.datasets.load("norrbotten").sel(region=["2580"]), 75)
    ds.drop_vars("region_name").to_netcdf(tmp_path / "d75.nc")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[data]\nfiles=['{tmp_path / 'd75.nc'}']\n[forecast]\nstatistics_years=[2015,2019]\n"
                   "base_year=2019\nlast_year=2021\n")
    assert cli.main(["forecast", str(cfg), "--out", str(tmp_path / "o")]) != 0
    assert "the data's open age is 75: the council table counts 65–79 and 80+" in capsys.readouterr().err
    assert not (tmp_path / "o" / "projection.nc").exists()


def test_bad_config_one_line_error_from_a_process(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[data]\ndataset='norrbotten'\n[forecast]\nstatistics_years=[2015,2019]\nbase_year=2025\n"
                   "last_year=2030\n")
    r = subprocess.run([sys.executable, "-m", "demokit.cli", "forecast", str(cfg), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "base_year 2025 is not in the data" in lines[0], r.stderr


def test_employment_rates_from_groups():
    rates = forecast_job.employment_rates({"ages": [16, 20, 65], "female": [0.3, 0.8, 0.1],
                                           "male": [0.4, 0.9, 0.2]}, np.arange(0, 101))
    assert rates.sel(sex="female", age=15).item() == 0.0
    assert rates.sel(sex="female", age=16).item() == 0.3
    assert rates.sel(sex="male", age=64).item() == 0.9
    assert rates.sel(sex="male", age=100).item() == 0.2


def test_demo_against_what_happened(demo):
    """The demo forecast (2015-2019 statistics) against SCB's actual populations 2021-2024."""
    import pathlib

    import pandas as pd

    actual = pd.read_csv(pathlib.Path(__file__).parent / "data" / "scb_actual_2021_2024.csv", comment="#",
                         dtype={"region": str})
    proj = xr.load_dataset(demo / "projection.nc")["population"].sum(["sex", "age"])
    for row in actual.itertuples():
        p = proj.sel(region=row.region, year=row.year)
        err = float(p.sel(scenario="main")) / row.population - 1
        # a regression guard, not a proof: the main scenario was within 3 % of every outcome
        assert abs(err) < 0.035, (row.region, row.year, err)
        if row.year == 2024:  # and the low-high band covers what happened
            assert float(p.sel(scenario="low")) <= row.population <= float(p.sel(scenario="high"))
    # the job writes the same comparison (from its own copy of the figures) into a CSV and the report
    written = pd.read_csv(demo / "forecast_vs_actual.csv", dtype={"region": str})
    written = written[written["scenario"] == "main"].set_index(["region", "year"])
    for row in actual.itertuples():
        assert written.loc[(row.region, row.year), "actual"] == row.population
    text = (demo / "report.html").read_text()
    assert "The forecast against what happened" in text and "79,645" in text   # Luleå 2024


def test_pooled_tfr_hand_worked():
    """Two regions, two ages: the rates weighted by the women of each age, summed over age."""
    ages, regions = [20, 30], ["a", "b"]
    f = xr.DataArray([[0.1, 0.3], [0.2, 0.1]], dims=("age", "region"), coords={"age": ages, "region": regions})
    women = xr.DataArray([[100.0, 300.0], [0.0, 0.0]], dims=("region", "age"),
                         coords={"region": regions, "age": ages})
    a = xr.Dataset({"fertility": f})
    # age 20: (0.1*100 + 0.3*0) / 100 = 0.1; age 30: (0.2*300 + 0.1*0) / 300 = 0.2
    assert float(forecast_job.pooled_tfr(a, women)) == pytest.approx(0.3, rel=1e-15)
    assert float(forecast_job.pooled_tfr(xr.Dataset({"fertility": f.sel(region="a")}), women)) == \
        pytest.approx(0.3, rel=1e-15)


def test_report_only_formats_what_the_job_computed(tmp_path):
    from demokit.report import write_report

    with pytest.raises(ValueError, match="pass table="):
        write_report(tmp_path / "r.html", data=xr.Dataset(), projection=xr.Dataset(), assumptions=None)
    src = (forecast_job.Path(forecast_job.__file__).parent / "report.py").read_text()
    for call in ("balance(", "forecast_table(", "observed_table(", ".sum(\"age\")"):
        assert call not in src.replace("demokit.forecast_table", ""), call


@pytest.mark.parametrize("trend", ["lee_carter", "none"])
def test_deregistration_wave_from_config_in_one_scenario(tmp_path, trend):
    """[scenarios.low] deregistration_wave: in a wave year the extra exits are extra × the cohorts at the
    start (P(t-1) over all ages plus the newborns); after the wave they fade; other scenarios have none
    (also when nothing else differs between the scenarios: no trend, main empty)."""
    import copy
    cfg = copy.deepcopy(forecast_job.DEMO_CONFIG)
    cfg["forecast"]["last_year"] = 2024
    cfg["forecast"]["mortality_trend"] = trend
    cfg.pop("labour", None)
    cfg["scenarios"] = {"main": {}, "low": {"deregistration_wave": {"years": [2021], "extra": 0.004,
                                                                     "fade": 0.5}}}
    res = forecast_job.run(forecast_job.check_config(cfg), tmp_path)
    p = res["projection"].sum(["sex", "age", "region"])
    assert list(p["scenario"].values) == ["main", "low"]
    low, main = p.sel(scenario="low"), p.sel(scenario="main")
    assert float(main["emigration_unknown"].sum()) == 0.0
    start = float(low["population"].sel(year=2020) + low["births"].sel(year=2021))
    assert float(low["emigration_unknown"].sel(year=2021)) == pytest.approx(0.004 * start, rel=1e-12)
    start = float(low["population"].sel(year=2021) + low["births"].sel(year=2022))
    assert float(low["emigration_unknown"].sel(year=2022)) == pytest.approx(0.002 * start, rel=1e-12)
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Emigrants to an unknown country" in text
    # the observed base year has no unknown-country split: "–", explained, and its net migration is a number
    assert "– emigrants to an unknown country" in text.replace("−", "–") and "–: not in the data" in text
    assert res["table"]["net_migration"].sel(year=2019).notnull().all()


@pytest.mark.parametrize("wave, msg", [
    ({"years": [2021]}, "deregistration_wave must be a table"),
    ({"years": [2021], "extra": 0.5}, "extra"),
    ({"years": "2021", "extra": 0.004}, "list of years"),
    ({"years": [2021], "extra": 0.004, "fading": 1}, "did you mean"),
    ({"years": [2030, 2050], "extra": 0.004}, r"\[2030, 2050\] must lie in the projected years 2020–2044"),
])
def test_deregistration_wave_bad_config(wave, msg):
    import copy
    cfg = copy.deepcopy(forecast_job.DEMO_CONFIG)
    cfg["scenarios"]["low"]["deregistration_wave"] = wave
    with pytest.raises(forecast_job.ConfigError, match=msg):
        forecast_job.check_config(cfg)


def test_forecast_by_birth_region_from_a_config(tmp_path):
    """[data] dataset = "lulea_birth_region" (an origin dim): the job projects by birth region; projection.nc
    keeps the groups, totals_by_origin.csv holds them, every other table is their sum, and the report shows the
    population by birth region."""
    import copy

    import demokit as dk
    cfg = copy.deepcopy(forecast_job.DEMO_CONFIG)
    cfg["data"] = {"dataset": "lulea_birth_region"}
    cfg["forecast"]["last_year"] = 2030
    cfg["scenarios"] = {"main": {}, "low": {"immigration_scale": 0.7}}
    cfg["output"] = {"lang": "sv"}
    res = forecast_job.run(forecast_job.check_config(cfg), tmp_path)
    proj = xr.load_dataset(tmp_path / "projection.nc")
    assert proj["origin"].values.tolist() == ["born_in_sweden", "born_abroad"]
    ds = dk.datasets.load("lulea_birth_region")
    a = dk.Assumptions.from_history(ds, years=range(2015, 2020), scenarios=cfg["scenarios"],
                                    mortality_trend="lee_carter", projection_years=range(2020, 2031))
    direct = dk.project(ds["population"].sel(year=2019), a, years=range(2020, 2031))
    np.testing.assert_allclose(proj["population"].transpose(*direct["population"].dims).values,
                               direct["population"].values, rtol=1e-12)
    # the council table is the sum over the groups
    tab = res["table"]
    np.testing.assert_allclose(tab["population"].sel(region="2580", scenario="main", year=2030),
                               float(direct["population"].sel(scenario="main", year=2030).sum()), rtol=1e-12)
    assert float(tab["population"].sel(region="2580", scenario="main", year=2019)) == 78105.0
    by = pd.read_csv(tmp_path / "totals_by_origin.csv")
    row = by[(by["origin"] == "born_abroad") & (by["scenario"] == "low") & (by["year"] == 2030)]
    assert float(row["population"].iloc[0]) == pytest.approx(
        float(direct["population"].sel(scenario="low", origin="born_abroad", year=2030).sum()), abs=1e-6)  # (CSV: 6 decimals)
    assert float(by[(by["origin"] == "born_abroad") & (by["year"] == 2019)]["population"].iloc[0]) == 8973.0
    # each group balances: newborns (all in the first group) - deaths + its migration
    for g in ("born_in_sweden", "born_abroad"):
        b = by[(by["origin"] == g) & (by["scenario"] == "main")].sort_values("year")
        net = b["newborns"] - b["deaths"] + b["in_migration"] - b["out_migration"] + b["immigration"] - \
            b["emigration"]
        np.testing.assert_allclose(b["population"].diff().values[1:], net.values[1:], atol=1e-5)
    assert (by[by["origin"] == "born_abroad"]["newborns"].fillna(0) == 0).all()
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Folkmängd efter födelseregion" in text and "Född utomlands (huvud)" in text
    share = 100 * 8973 / 78105
    assert f"{share:.1f}".replace(".", ",") in text


def test_disclosure_by_birth_region_perturbs_the_sum_over_the_groups(tmp_path):
    """[disclosure] with data by birth region: the published tables are the cell key method applied to the sum
    over the groups (perturbing the smaller cells by group and summing them biased every total downwards);
    projection.nc holds the groups' own perturbed cells."""
    import copy

    import demokit as dk
    from demokit.ckm import perturbed_cube
    cfg = copy.deepcopy(forecast_job.DEMO_CONFIG)
    cfg["data"] = {"dataset": "lulea_birth_region"}
    cfg["forecast"]["last_year"] = 2024
    cfg["scenarios"] = {"main": {}}
    cfg["disclosure"] = {"D": 2, "V": 1.0, "seed": 3}
    cfg.pop("labour", None)
    res = forecast_job.run(forecast_job.check_config(cfg), tmp_path)
    ds = dk.datasets.load("lulea_birth_region")
    a = dk.Assumptions.from_history(ds, years=range(2015, 2020), scenarios=cfg["scenarios"],
                                    mortality_trend="lee_carter", projection_years=range(2020, 2025))
    direct = dk.project(ds["population"].sel(year=2019), a, years=range(2020, 2025)).expand_dims(scenario=["main"])
    opts = forecast_job._ckm_options(cfg["disclosure"])
    pooled = perturbed_cube(direct.sum("origin"), **opts)
    for v in ("population", "deaths", "emigration"):
        np.testing.assert_allclose(res["table"][v].sel(region="2580", scenario="main").values[1:],
                                   pooled[v].sel(scenario="main").sum(["sex", "age"]).values.ravel(), rtol=1e-12)
    by_group = perturbed_cube(direct, **opts)
    proj = xr.load_dataset(tmp_path / "projection.nc")
    np.testing.assert_array_equal(proj["deaths"].transpose(*by_group["deaths"].dims).values,
                                  by_group["deaths"].values)
