"""Scenario matrix and stochastic projections (issue 12 item 4; METHODS §14)."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import demokit as dk
from demokit.stochastic import AR1, StochasticError, shocks

YEARS = list(range(2020, 2050))


@pytest.fixture(scope="module")
def cube():
    return dk.datasets.load("norrbotten")


@pytest.fixture(scope="module")
def central(cube):
    return dk.Assumptions.from_history(cube, years=range(2015, 2020), projection_years=YEARS)


@pytest.fixture(scope="module")
def base(cube):
    return cube["population"].sel(year=2019)


@pytest.fixture(scope="module")
def sim(central):
    return dk.simulate(central, draws=300, seed=2024, years=YEARS)


@pytest.fixture(scope="module")
def proj(base, sim):
    return dk.project(base, sim, years=YEARS, components=False)


# ---------------------------------------------------------------------- fits against closed-form OLS
def _ols_ar1(x):
    """Closed-form simple regression of x_t on x_{t-1} (slope = Sxy / Sxx)."""
    y, z = x[1:], x[:-1]
    zb, yb = z.mean(), y.mean()
    phi = ((z - zb) * (y - yb)).sum() / ((z - zb) ** 2).sum()
    c = yb - phi * zb
    e = y - c - phi * z
    return c / (1 - phi), phi, np.sqrt((e ** 2).sum() / (len(x) - 3))


def test_fit_ar1_matches_closed_form_ols():
    rng = np.random.default_rng(7)
    x = np.empty(60)
    x[0] = 1.8
    for t in range(1, 60):
        x[t] = 1.8 + 0.8 * (x[t - 1] - 1.8) + 0.05 * rng.standard_normal()
    f = dk.fit_ar1(x)
    mu, phi, sigma = _ols_ar1(x)
    assert f.mean == pytest.approx(mu, rel=1e-12)
    assert f.phi == pytest.approx(phi, rel=1e-12)
    assert f.sigma == pytest.approx(sigma, rel=1e-12)
    assert f.n == 60


def test_fit_ar1_recovers_parameters_of_a_long_series():
    rng = np.random.default_rng(11)
    n = 20_000
    x = np.empty(n)
    x[0] = 0.0
    for t in range(1, n):
        x[t] = 0.6 * x[t - 1] + 0.3 * rng.standard_normal()
    f = dk.fit_ar1(x + 5.0)
    assert f.phi == pytest.approx(0.6, abs=0.02)
    assert f.sigma == pytest.approx(0.3, abs=0.01)
    assert f.mean == pytest.approx(5.0, abs=0.05)


def test_fit_random_walk_closed_form():
    x = np.array([70.0, 70.4, 70.5, 71.1, 71.0, 71.6])
    f = dk.fit_random_walk(x)
    d = np.array([0.4, 0.1, 0.6, -0.1, 0.6])
    assert f.drift == pytest.approx((71.6 - 70.0) / 5, rel=1e-12)
    assert f.sigma == pytest.approx(np.sqrt(((d - d.mean()) ** 2).sum() / 4), rel=1e-12)


def test_fit_errors_name_the_problem():
    with pytest.raises(StochasticError, match="at least 4"):
        dk.fit_ar1([1.0, 2.0, 3.0])
    with pytest.raises(StochasticError, match="not stationary"):
        dk.fit_ar1(np.arange(10.0) ** 2)
    with pytest.raises(StochasticError, match="not finite"):
        dk.fit_random_walk([1.0, np.nan, 2.0])


def test_default_model_fitted_to_embedded_series():
    m = dk.stochastic_model()
    tfr = dk.stochastic.national_tfr_series()
    assert m.tfr.n == tfr.sizes["year"] == 47
    mu, phi, sigma = _ols_ar1(tfr.values)
    assert (m.tfr.phi, m.tfr.sigma) == pytest.approx((phi, sigma), rel=1e-10)
    # Sweden's TFR 1969-2015 lay between 1.49 and 2.14 (SCB); its AR(1) mean inside that range
    assert 1.49 < m.tfr.mean < 2.14 and 0 < m.tfr.phi < 1
    e0 = dk.stochastic.hmd_e0_series()
    for s in ("female", "male"):
        v = e0.sel(sex=s).values
        assert m.life_expectancy[s].drift == pytest.approx((v[-1] - v[0]) / (len(v) - 1), rel=1e-12)
    # e0 rose about 0.16-0.18 years a year in Sweden 1950-2014 (HMD)
    assert 0.12 < m.life_expectancy["male"].drift < 0.22
    assert set(m.migration) == {"immigration", "in_migration", "net_migration"}


# ---------------------------------------------------------------------- draws
def test_same_seed_same_draws_and_chunks_do_not_matter(central):
    a = dk.simulate(central, draws=12, seed=5, years=YEARS)
    b = dk.simulate(central, draws=12, seed=5, years=YEARS)
    c = dk.simulate(central, draws=12, seed=5, years=YEARS, chunks=5)
    d = dk.simulate(central, draws=12, seed=6, years=YEARS)
    for k in ("fertility", "death_risks", "immigration", "in_migration"):
        np.testing.assert_array_equal(a[k].values, b[k].values)
        assert c[k].chunks is not None
        np.testing.assert_array_equal(a[k].values, c[k].values)
        assert not np.array_equal(a[k].values, d[k].values)
    # the first draws of a larger run are the same draws
    e = dk.simulate(central, draws=20, seed=5, years=YEARS)
    np.testing.assert_array_equal(e["fertility"].isel(draw=slice(0, 12)).values, a["fertility"].values)
    # a block of draws made on its own (a cluster worker) is the same block
    f = dk.simulate(central, draws=8, seed=5, years=YEARS, first_draw=12)
    np.testing.assert_array_equal(f["death_risks"].values, e["death_risks"].isel(draw=slice(12, 20)).values)
    assert f["death_risks"]["draw"].values.tolist() == list(range(12, 20))


def test_shocks_independent_of_split():
    whole = shocks(10, 4, seed=99)
    np.testing.assert_array_equal(np.concatenate([shocks(3, 4, seed=99), shocks(7, 4, seed=99, start=3)]), whole)
    assert abs(whole.mean()) < 0.5


def test_lazy_projection_equals_in_memory(central, base):
    a = dk.simulate(central, draws=6, seed=3, years=YEARS[:8])
    b = dk.simulate(central, draws=6, seed=3, years=YEARS[:8], chunks=4)
    pa = dk.project(base, a, years=YEARS[:8])
    pb = dk.project(base, b, years=YEARS[:8])
    assert pb["population"].chunks is not None
    np.testing.assert_allclose(pb["population"].values, pa["population"].values, rtol=0, atol=1e-9)


def test_tfr_paths_follow_the_ar1(central, sim):
    m = dk.stochastic_model()
    eps = shocks(300, len(YEARS), seed=2024)[:, 0]
    z = np.zeros_like(eps)
    prev = np.zeros(300)
    for t in range(len(YEARS)):
        prev = m.tfr.phi * prev + m.tfr.sigma * eps[:, t]
        z[:, t] = prev
    ref = central["fertility"].sum("age")   # each region's TFR
    tfr_draws = sim["fertility"].sum("age").transpose("region", "draw", "year").values
    expect = np.maximum(ref.values[:, None, None] + z[None], 0.0)
    np.testing.assert_allclose(tfr_draws, expect, rtol=1e-12)


def test_e0_of_the_draws_moves_by_the_random_walk(central, sim):
    from demokit.assumptions import _table_risks
    w = sim.attrs["stochastic_paths"]["e0_deviation"]
    q0 = central["death_risks"].mean("region")
    e0c = dk.life_table(qx=_table_risks(q0.transpose("sex", "age")).where(q0["age"] < 100, 1.0))["ex"].isel(age=0)
    qd = sim["death_risks"].isel(draw=[0, 1], year=[0, 29]).mean("region")
    e0d = dk.life_table(qx=_table_risks(qd.transpose(..., "age")).where(qd["age"] < 100, 1.0))["ex"].isel(age=0)
    target = e0c + w.isel(draw=[0, 1], year=[0, 29])
    # the mapping is on the regions' mean risks; the mean of k·q_r is k times the mean
    np.testing.assert_allclose(e0d.transpose(*target.dims).values, target.values, atol=0.01)


def test_median_close_to_deterministic_and_bands_widen(central, base, proj):
    det = dk.project(base, central, years=YEARS, components=False)["population"].sum(["region", "sex", "age"])
    s = dk.stochastic_summary(proj, quantiles=[0.05, 0.5, 0.95], by_region=False)
    med = s["population"].sel(quantile=0.5)
    np.testing.assert_allclose(med.values, det.values, rtol=0.02)
    width = (s["population"].sel(quantile=0.95) - s["population"].sel(quantile=0.05)).values
    assert width[0] < width[9] < width[19] < width[29]
    assert (np.diff(width[::5]) > 0).all()


def test_summary_quantiles_match_numpy(proj):
    rates = xr.DataArray(np.where((np.arange(101) >= 20) & (np.arange(101) <= 64), 0.8, 0.0)[None, :]
                         * np.array([[0.95], [1.0]]), dims=("sex", "age"),
                         coords={"sex": ["female", "male"], "age": np.arange(101)})
    s = dk.stochastic_summary(proj, quantiles=[0.1, 0.5, 0.9], employment_rates=rates)
    P = proj["population"].sel(region="2580", year=2035).transpose("draw", "sex", "age").values
    tot = P.sum((1, 2))
    lab = P[:, :, 20:65].sum((1, 2))
    emp = (P * rates.values).sum((1, 2))
    edr = (tot - emp) / emp
    for var, v in (("population", tot), ("labour_force", lab), ("employed", emp),
                   ("economic_dependency_ratio", edr)):
        np.testing.assert_allclose(s[var].sel(region="2580", year=2035).values,
                                   np.quantile(v, [0.1, 0.5, 0.9]), rtol=1e-12)


def test_simulate_errors(central):
    with pytest.raises(StochasticError, match="draws=0"):
        dk.simulate(central, draws=0, seed=1, years=YEARS)
    with pytest.raises(StochasticError, match="parts"):
        dk.simulate(central, draws=2, seed=1, years=YEARS, parts=("weather",))
    with pytest.raises(StochasticError, match="no 'year' dim"):
        dk.simulate(central, draws=2, seed=1)
    with pytest.raises(StochasticError, match="no 'draw' dim"):
        dk.stochastic_summary(xr.Dataset({"population": xr.DataArray([1.0], dims="year")}))


# ---------------------------------------------------------------------- scenario matrix
def test_scenario_matrix_combinations_and_values(central):
    m = dk.scenario_matrix(central, fertility=[0.9, 1.0, 1.1], mortality=[0.8, 1.0], migration=[0.5, 1.0, 1.5])
    sc = m["fertility"]["scenario"].values.tolist()
    assert len(sc) == 3 * 2 * 3
    assert sc[0] == "F0.9-M0.8-G0.5" and sc[-1] == "F1.1-M1-G1.5"
    f = m["fertility"].sel(scenario="F1.1-M0.8-G0.5").transpose(*central["fertility"].dims)
    np.testing.assert_allclose(f.values, 1.1 * central["fertility"].values, rtol=1e-15)
    imm = m["immigration"].sel(scenario="F0.9-M1-G1.5").transpose(*central["immigration"].dims)
    np.testing.assert_allclose(imm.values,
                               1.5 * central["immigration"].values, rtol=1e-15)
    q = m["death_risks"].sel(scenario="F0.9-M0.8-G1").transpose(*central["death_risks"].dims)
    np.testing.assert_allclose(q.values, np.minimum(0.8 * central["death_risks"].values, 1.0), rtol=1e-15)
    assert m["fertility"]["migration_variant"].sel(scenario="F1-M1-G1.5").item() == "G1.5"
    with pytest.raises(StochasticError, match=r"fertility: the variant name 'F1' repeats \(the factor 1.0 is given "
                                              r"twice"):   # was one scenario instead of two, silently
        dk.scenario_matrix(central, fertility=[1.0, 1.0])


def test_scenario_matrix_named_variants_and_exit_cap(central, base):
    m = dk.scenario_matrix(central, fertility={"low": 0.8, "high": 1.2}, mortality={"high_mortality": 50.0})
    assert m["fertility"]["scenario"].values.tolist() == ["low-high_mortality-G1", "high-high_mortality-G1"]
    tot = m["death_risks"] + central["out_migration_risks"] + central["emigration_risks"]
    assert float(tot.max()) <= 1 + 1e-12
    p = dk.project(base, m, years=YEARS[:3], components=False)
    assert p["population"].sizes["scenario"] == 2


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.lists(st.floats(0.1, 3.0), min_size=1, max_size=3, unique=True),
       st.lists(st.floats(0.1, 3.0), min_size=1, max_size=3, unique=True))
def test_scenario_matrix_count_property(fs, gs):
    a = dk.Assumptions(death_risks=xr.DataArray(np.full((2, 3), 0.01), dims=("sex", "age"),
                                                coords={"sex": ["female", "male"], "age": [0, 1, 2]}),
                       fertility=xr.DataArray([0.0, 0.5, 0.5], dims="age", coords={"age": [0, 1, 2]}))
    names = [f"F{f:g}" for f in fs]
    if len(set(names)) < len(names):
        with pytest.raises(StochasticError, match="repeats"):
            dk.scenario_matrix(a, fertility=fs, migration=gs)
        return
    gnames = [f"G{g:g}" for g in gs]
    if len(set(gnames)) < len(gnames):
        return
    m = dk.scenario_matrix(a, fertility=fs, migration=gs)
    assert m["fertility"].sizes["scenario"] == len(fs) * len(gs)
    assert len(set(m["fertility"]["scenario"].values.tolist())) == len(fs) * len(gs)


def test_scenario_matrix_errors(central):
    with pytest.raises(StochasticError, match="fertility: scale factor -1"):
        dk.scenario_matrix(central, fertility=[-1])
    m = dk.scenario_matrix(central, fertility=[0.9, 1.1])
    with pytest.raises(StochasticError, match="already have a 'scenario'"):
        dk.scenario_matrix(m, fertility=[1.0])
    with pytest.raises(StochasticError, match="needs a name"):
        dk.scenario_matrix(central, fertility=[xr.DataArray(1.0)])


def test_stochastic_on_a_scenario_matrix(central, base):
    m = dk.scenario_matrix(central, fertility=[0.9, 1.1])
    s = dk.simulate(m, draws=4, seed=1, years=YEARS[:5])
    p = dk.project(base, s, years=YEARS[:5], components=False)
    assert {"scenario", "draw"} <= set(p["population"].dims)
    # the same draw in two fertility variants: the TFR deviation is common
    f = s["fertility"].sum("age").isel(region=0, year=4, draw=0)
    ratio = float(f.sel(scenario="F1.1-M1-G1") / f.sel(scenario="F0.9-M1-G1"))
    assert ratio != pytest.approx(1.0)


def test_ar1_paths_hand_worked():
    m = AR1(mean=0.0, phi=0.5, sigma=2.0, n=10)
    np.testing.assert_allclose(m.paths([[1.0, 1.0, -1.0]]), [[2.0, 3.0, -0.5]])
    assert m.stationary_sd() == pytest.approx(2 / np.sqrt(0.75))


# ---------------------------------------------------------------------- forecast job, report
def test_forecast_job_stochastic_section(tmp_path):
    import copy

    from demokit import forecast_job as fj
    cfg = copy.deepcopy(fj.DEMO_CONFIG)
    cfg["forecast"]["last_year"] = 2029
    cfg["stochastic"] = {"draws": 30, "seed": 4, "scenario": "main", "chunks": 15, "quantiles": [0.1, 0.5, 0.9]}
    cfg = fj.check_config(cfg)
    res = fj.run(cfg, tmp_path)
    q = res["stochastic"]
    assert q["region"].values.tolist()[0] == "total"
    # the total's median of the sum is not the sum of the medians, but each quantile of the total is a quantile
    # of sums of the regions: it lies between the sums of the regions' 10% and 90% quantiles ... roughly; exact:
    assert (q["population"].sel(quantile=0.1) <= q["population"].sel(quantile=0.9)).all()
    csv = (tmp_path / "stochastic_quantiles.csv").read_text(encoding="utf-8-sig").splitlines()
    assert csv[0].startswith("region,quantile,year,population,labour_force,employed,economic_dependency_ratio")
    assert len(csv) == 1 + 6 * 3 * 10
    rep = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "id='stochastic'" in rep and "30 simulated paths" in rep and "seed 4" in rep
    assert "<h3>2580 Luleå</h3>" in rep   # the regions named in the section's headings


@pytest.mark.parametrize("bad, msg", [({"draws": 0}, "draws"), ({"seed": -1}, "seed"), ({"chunks": "x"}, "chunks"),
                                      ({"scenario": "nope"}, "scenario 'nope'"), ({"quantiles": [2]}, "quantiles"),
                                      ({"drawz": 3}, "drawz")])
def test_stochastic_config_errors(bad, msg):
    import copy

    from demokit import forecast_job as fj
    cfg = copy.deepcopy(fj.DEMO_CONFIG)
    cfg["stochastic"] = bad
    with pytest.raises(fj.ConfigError, match=msg):
        fj.check_config(cfg)


@pytest.mark.slow
def test_bench_distributed_tiny():
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "bench_distributed.py"
    spec = importlib.util.spec_from_file_location("bench_distributed", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ref, res = mod.main(["--draws", "8", "--regions", "4", "--years", "3", "--chunk", "3", "--runs", "1"])
    assert ref.sizes["draw"] == 8 and set(res) == {1, 2}   # main() asserts the cluster's numbers equal ref


def test_net_system_adjustment_follows_the_net_migration_ar1():
    c = {"sex": ["female", "male"], "age": [0, 1, 2]}
    a = dk.Assumptions(death_risks=xr.DataArray(np.full((2, 3), 0.01), dims=("sex", "age"), coords=c),
                       fertility=xr.DataArray([0.0, 0.9, 0.9], dims="age", coords={"age": [0, 1, 2]}),
                       adjustment=xr.DataArray([[10.0, -4.0, 2.0], [8.0, 3.0, -1.0]], dims=("sex", "age"), coords=c))
    s = dk.simulate(a, draws=5, seed=8, years=[2021, 2022, 2023], parts=("migration",))
    m = dk.stochastic_model().migration["net_migration"]
    eps = shocks(5, 3, seed=8)[:, 5]
    z1 = m.sigma * eps[:, 0]
    z2 = m.phi * z1 + m.sigma * eps[:, 1]
    adj = s["adjustment"].transpose("draw", "year", "sex", "age").values
    np.testing.assert_allclose(adj[:, 0], (1 + z1)[:, None, None] * a["adjustment"].values, rtol=1e-12)
    np.testing.assert_allclose(adj[:, 1], (1 + z2)[:, None, None] * a["adjustment"].values, rtol=1e-12)
    # fertility and mortality untouched with parts=("migration",)
    assert s["fertility"] is a["fertility"] or "draw" not in s["fertility"].dims
    assert "draw" not in s["death_risks"].dims


def test_stochastic_section_one_region_once_and_table_years():
    """One region: its 'total' is itself and is shown once; the table's years are the first, every tenth
    (at least five years before the last) and the last."""
    from demokit._report_stochastic import stochastic_section
    q, yrs = [0.05, 0.5, 0.95], np.arange(2020, 2045)
    base = np.linspace(8000, 7000, yrs.size)
    pop = xr.DataArray(np.stack([base * f for f in (0.9, 1.0, 1.1)])[:, :, None].repeat(2, axis=2),
                       dims=("quantile", "year", "region"),
                       coords={"quantile": q, "year": yrs, "region": ["total", "2560"]})
    html = stochastic_section(xr.Dataset({"population": pop}, attrs={"draws": 10, "seed": 1}), lang="en")
    assert html.count("<figure>") == 1 and "All regions" not in html and "<h3>2560</h3>" in html
    assert "<th>2020</th><th>2030</th><th>2044</th>" in html.replace("'", "")
