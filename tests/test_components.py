"""The component table (demokit.components) and the component it made cheap: emigration to an unknown country.

Numbers are checked against an independent numpy implementation
(tests.test_projection.numpy_reference), hand-worked cubes and the counts of
the embedded Norrbotten data.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import demokit as dk
from demokit import components as C
from demokit.cube import EVENT_VARIABLES
from demokit.io import CONTENT_CODES
from demokit.projection import AssumptionError, project
from tests.test_projection import SEX, numpy_reference, random_inputs, rel_diff, to_xarray


def test_table_drives_event_variables_content_codes_and_net_migration():
    assert EVENT_VARIABLES == tuple(c.name for c in C.COMPONENTS) + ("adjustment",)
    for c in C.COMPONENTS:
        if c.content_code is not None:   # SCB's code reads into the component's variable
            assert CONTENT_CODES[c.content_code] == (c.name, "year_end"), c.name
    assert dict(C.MIGRATION) == {"in_migration": 1, "out_migration": -1, "immigration": 1, "emigration": -1,
                                 "emigration_unknown": -1}
    assert C.REQUIRED_MIGRATION == ("in_migration", "out_migration", "immigration", "emigration")
    assert C.EXIT_KEYS == ("death_risks", "out_migration_risks", "emigration_risks", "emigration_unknown_risks")


def _case(R=6, A=25, Y=5, seed=3):
    inp = random_inputs(R, A, Y, seed=seed)
    years = list(range(2021, 2021 + Y))
    P0, a = to_xarray(inp, years)
    rng = np.random.default_rng(seed + 1)
    eu = rng.uniform(0.0, 0.01, inp["e"].shape)
    eu_da = xr.DataArray(eu, dims=("year", "region", "sex", "age"), coords=a.death_risks.coords)
    return inp, years, P0, a, eu, eu_da


def test_zero_risk_component_changes_nothing():
    inp, years, P0, a, eu, eu_da = _case()
    base = project(P0, a, years=years)
    with0 = project(P0, a.replace(emigration_unknown_risks=xr.zeros_like(eu_da)), years=years)
    assert "emigration_unknown" not in base and "emigration_unknown" in with0
    assert float(abs(with0.emigration_unknown).max()) == 0.0
    for k in base.data_vars:   # bit for bit: an exit of risk 0 subtracts exactly 0
        np.testing.assert_array_equal(with0[k].values, base[k].values, err_msg=k)
    pop0 = project(P0, a.replace(emigration_unknown_risks=xr.zeros_like(a.death_risks.isel(year=0, region=0))),
                   years=years, components=False)
    np.testing.assert_array_equal(pop0.population.values, base.population.values)


def test_emigration_unknown_against_numpy_and_the_balance_closes():
    inp, years, P0, a, eu, eu_da = _case()
    res = project(P0, a.replace(emigration_unknown_risks=eu_da), years=years)
    assert list(res.data_vars) == ["population", "births", "deaths", "in_migration", "out_migration",
                                   "immigration", "emigration", "emigration_unknown"]
    # numpy: one exit with the two emigration risks added; then split by the risks
    e_all = inp["e"] + eu
    ref = numpy_reference(inp["P0"], inp["q"], inp["u"], e_all, inp["w"], inp["f"], inp["boys"],
                          inp["imm"], inp["iprof"])
    tr = lambda v: res[v].transpose("region", "sex", "age", "year").values  # noqa: E731
    assert rel_diff(tr("population"), ref["population"]) <= 1e-9
    share = np.moveaxis(eu / np.where(e_all > 0, e_all, 1.0), 0, -1)
    assert rel_diff(tr("emigration_unknown"), ref["emigration"] * share) <= 1e-9
    assert rel_diff(tr("emigration") + tr("emigration_unknown"), ref["emigration"]) <= 1e-9
    # Σ in = Σ out: dk.balance of the base year and the projection closes with the component kept apart
    cube = xr.concat([P0.expand_dims(year=[2020]).drop_vars("year", errors="ignore").assign_coords(year=[2020]),
                      res.population], "year").to_dataset(name="population")
    for v in res.data_vars:
        if v != "population":
            first = xr.zeros_like(res[v].isel(year=0)).expand_dims(year=[2020])
            cube[v] = xr.concat([first, res[v]], "year").assign_attrs(age_convention="year_end")
    cube.attrs["open_age"] = int(P0.age.max())
    bal = dk.balance(cube)
    assert float(abs(bal.adjustment).max()) < 1e-8
    np.testing.assert_array_equal(bal.emigration_unknown.transpose(*res.emigration_unknown.dims).values,
                                  res.emigration_unknown.values)
    assert "- emigration_unknown" in bal.attrs["equation"]
    # net migration subtracts both emigration flows
    net = dk.net_migration(res)
    hand = res.in_migration - res.out_migration + res.immigration - res.emigration - res.emigration_unknown
    np.testing.assert_allclose(net.values, hand.values, rtol=1e-12, atol=1e-9)
    tab = dk.forecast_table(res)
    assert "emigration_unknown" in tab
    np.testing.assert_allclose(tab.emigration_unknown.sel(region="total").values,
                               res.emigration_unknown.sum(["region", "sex", "age"]).values, rtol=1e-12)


def test_hand_made_cube_balance_and_net_migration():
    """One region, ages 0..2 (2 open), women only shown; the balance by hand.

    Women 2000: [10, 20, 30]; 2001: [12, 19, 40].  2001 events at ages [0, 1, 2]:
    deaths [0, 1, 2], in-movers [1, 2, 3], out-movers [0, 1, 1], immigrants [1, 0, 2],
    emigrants [0, 1, 0], to an unknown country [0, 2, 1]; 12 girls and 12 boys born.
    A(x) = P − N + D − I + O − IM + EM + EU with N = [12, 10, 20 + 30]:
    age 0: 12 − 12 + 0 − 1 + 0 − 1 + 0 + 0 = −2;  age 1: 19 − 10 + 1 − 2 + 1 − 0 + 1 + 2 = 12;
    age 2: 40 − 50 + 2 − 3 + 1 − 2 + 0 + 1 = −11.
    """
    ages = [0, 1, 2]
    co = {"region": ["X"], "sex": SEX, "age": ages, "year": [2000, 2001]}

    def var(f2001, f2000=(0, 0, 0)):
        v = np.zeros((1, 2, 3, 2))
        v[0, 0, :, 0] = f2000
        v[0, 0, :, 1] = f2001
        v[0, 1] = v[0, 0]
        return xr.DataArray(v, dims=("region", "sex", "age", "year"), coords=co,
                            attrs={"age_convention": "year_end"})

    ds = xr.Dataset({"population": var([12, 19, 40], [10, 20, 30]), "deaths": var([0, 1, 2]),
                     "in_migration": var([1, 2, 3]), "out_migration": var([0, 1, 1]),
                     "immigration": var([1, 0, 2]), "emigration": var([0, 1, 0]),
                     "emigration_unknown": var([0, 2, 1])})
    ds["population"].attrs = {}
    b = np.zeros((1, 2, 3, 2))
    b[0, :, 1, 1] = 12.0   # births by the mother's age 1 (toy), 12 of each sex
    ds["births"] = xr.DataArray(b, dims=("region", "sex", "age", "year"), coords=co,
                                attrs={"age_convention": "year_end"})
    ds.attrs["open_age"] = 2
    bal = dk.balance(ds)
    np.testing.assert_allclose(bal.adjustment.sel(region="X", sex="female", year=2001).values, [-2, 12, -11])
    # without the component the unknown-country emigrants fall into the adjustment term
    bal0 = dk.balance(ds.drop_vars("emigration_unknown"))
    np.testing.assert_allclose(bal0.adjustment.sel(region="X", sex="female", year=2001).values, [-2, 10, -12])
    np.testing.assert_allclose(dk.net_migration(ds).sel(region="X", sex="female", year=2001).values,
                               [1 - 0 + 1 - 0 - 0, 2 - 1 + 0 - 1 - 2, 3 - 1 + 2 - 0 - 1])
    s = dk.summary(ds)
    # summed over sex and age in 2001: I 12, O 4, IM 6, EM 2, EU 6 → net 6
    assert float(s.net_migration.sel(region="X", year=2001)) == pytest.approx(6.0)
    # a negative count is named
    bad = ds.copy()
    bad["emigration_unknown"] = var([0, -2, 1])
    with pytest.raises(dk.CubeError, match="emigration_unknown"):
        dk.balance(bad)


@pytest.fixture(scope="module")
def split_norrbotten():
    """Norrbotten with 30 % of each cell's emigrants (rounded down) moved to an unknown country."""
    ds = dk.datasets.load("norrbotten")
    eu = np.floor(ds.emigration * 0.3)
    out = ds.assign(emigration=ds.emigration - eu, emigration_unknown=eu.assign_attrs(ds.emigration.attrs))
    return ds, out


def test_from_history_and_basis_estimate_it_and_the_split_changes_no_population(split_norrbotten):
    ds, split = split_norrbotten
    yrs = range(2015, 2020)
    a = dk.Assumptions.from_history(split, years=yrs, smoothing=None, old_age=None)
    sel = {"region": "2580", "sex": "male"}
    EU = split.emigration_unknown.sel(**sel, age=25, year=list(yrs)).sum().item()
    N = split.population.sel(**sel, age=24, year=range(2014, 2019)).sum().item()
    assert EU > 0
    assert a.emigration_unknown_risks.sel(**sel, age=25).item() == pytest.approx(EU / N, rel=1e-12)
    basis = dk.statistical_basis(split, years=yrs)
    assert basis.emigration_unknown_risk.sel(**sel, age=25).item() == pytest.approx(EU / N, rel=1e-12)
    assert "emigration_unknown_risk_smoothed" in basis and "reference_emigration_unknown_risk" in basis
    # backtest-style: the two risks add up to the undivided emigration risk, so the same population
    # (every age its own ratio: old_age=None; pooled old ages borrow a logit shape, not additive)
    a0 = dk.Assumptions.from_history(ds, years=yrs, smoothing=None, old_age=None)
    years = list(range(2020, 2031))
    p0 = project(ds.sel(year=2019), a0, years=years)
    p1 = project(split.sel(year=2019), a, years=years)
    assert rel_diff(p1.population.values, p0.population.values) <= 1e-9
    both = (p1.emigration + p1.emigration_unknown).values
    assert rel_diff(both, p0.emigration.values) <= 1e-9
    assert float(p1.emigration_unknown.sum()) > 0


def test_deregistration_wave():
    inp, years, P0, a, eu, eu_da = _case(Y=6)
    w = dk.deregistration_wave(a, years=[2022, 2023], extra=0.02, fade=0.5, projection_years=years)
    g = w.emigration_unknown_risks.isel(sex=0, age=5).transpose("year")
    np.testing.assert_allclose(g.values, [0, 0.02, 0.02, 0.01, 0.005, 0.0025])
    assert "2022, 2023" in w.attrs["deregistration_wave"]
    r0 = project(P0, a, years=years)
    r1 = project(P0, w, years=years)
    # the wave's exits are N · risk: N = P(x−1, t−1) at interior ages
    prev = r1.population.shift(year=1).sel(year=years[1:])
    N = prev.shift(age=1).sel(age=slice(1, 20))
    got = r1.emigration_unknown.sel(year=years[1:], age=slice(1, 20))
    want = N * w.emigration_unknown_risks.sel(year=years[1:], age=slice(1, 20))
    np.testing.assert_allclose(got.transpose(*want.dims).values, want.values, rtol=1e-12)
    assert float(r1.emigration_unknown.sel(year=2021).sum()) == 0.0
    np.testing.assert_array_equal(r1.population.sel(year=2021).values, r0.population.sel(year=2021).values)
    assert float(r1.population.sel(year=years[-1]).sum()) < float(r0.population.sel(year=years[-1]).sum())
    # adds to the assumptions' own risk
    w2 = dk.deregistration_wave(a.replace(emigration_unknown_risks=eu_da), years=[2022], extra=0.01,
                                fade=0.0, projection_years=years)
    np.testing.assert_allclose(w2.emigration_unknown_risks.values - eu_da.values,
                               np.array([0, 0.01, 0, 0, 0, 0])[:, None, None, None] + 0 * eu_da.values,
                               atol=1e-15)
    with pytest.raises(AssumptionError, match="fade=2"):
        dk.deregistration_wave(a, years=[2022], extra=0.01, fade=2, projection_years=years)
    with pytest.raises(AssumptionError, match="year=2040"):
        dk.deregistration_wave(a, years=[2040], extra=0.01, projection_years=years)
    with pytest.raises(AssumptionError, match="extra"):
        dk.deregistration_wave(a, years=[2022], extra=1.5, projection_years=years)
    with pytest.raises(AssumptionError, match="emigration_unknown_risks"):   # exits summing above 1
        dk.deregistration_wave(a, years=[2022], extra=0.99, projection_years=years)


def test_assumption_errors_name_the_component():
    inp, years, P0, a, eu, eu_da = _case()
    with pytest.raises(AssumptionError, match="emigration_unknown_risks.*must lie in"):
        a.replace(emigration_unknown_risks=eu_da - 0.5)
    with pytest.raises(AssumptionError, match="unknown assumption 'emigration_typo'"):
        dk.Assumptions(death_risks=a.death_risks, fertility=a.fertility, emigration_typo=a.death_risks)


# --------------------------------------------------------------------------- origin groups
def _split_by_origin(P0, seed):
    share = xr.DataArray(np.random.default_rng(seed).uniform(0.0, 1.0, P0.shape), dims=P0.dims, coords=P0.coords)
    return xr.concat([P0 * share, P0 * (1 - share)],
                     dim=xr.DataArray(["born_in_sweden", "born_abroad"], dims="origin", name="origin"))


@settings(max_examples=15, deadline=None)
@given(R=st.integers(1, 5), A=st.integers(3, 12), Y=st.integers(1, 4), seed=st.integers(0, 10_000),
       closed=st.booleans())
def test_property_origin_groups_with_equal_rates_sum_to_the_pooled_projection(R, A, Y, seed, closed):
    inp = random_inputs(R, A, Y, seed=seed)
    years = list(range(2021, 2021 + Y))
    P0, a = to_xarray(inp, years)
    if not closed:   # open system: each group's in-mover totals (they add up to the pooled totals)
        tot = xr.DataArray(np.random.default_rng(seed).uniform(0, 50, R), dims="region", coords={"region": P0.region})
        prof = a.immigration_profile
        a = a.replace(in_migration_shares=None, in_migration=tot, in_migration_profile=prof,
                      out_migration_risks=None)
        a_o = a.replace(in_migration=xr.concat([0.3 * tot, 0.7 * tot], "origin").assign_coords(
            origin=["born_in_sweden", "born_abroad"]))
    else:
        a_o = a
    P0o = _split_by_origin(P0, seed)
    pooled = project(P0, a, years=years)
    groups = project(P0o, a_o, years=years)
    for v in pooled.data_vars:
        assert rel_diff(groups[v].sum("origin").values, pooled[v].values) <= 1e-9, v
    # newborns enter the first group; immigrants are born abroad
    assert float(groups.immigration.sel(origin="born_in_sweden").sum()) == 0.0
    ab0 = groups.sel(origin="born_abroad", age=0)
    np.testing.assert_allclose(ab0.population.values, (ab0.immigration + ab0.in_migration).values,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("system", ["closed", "open", "origin"])
def test_one_projection_on_two_threads_is_the_serial_projection_bit_for_bit(system):
    """A single projection runs the women and the men on two threads (the men wait for each year's births);
    the numbers are those of the serial kernel (one thread), bit for bit."""
    numba = pytest.importorskip("numba")
    inp = random_inputs(7, 40, 6, seed=11)
    years = list(range(2021, 2027))
    P0, a = to_xarray(inp, years)
    if system == "open":
        tot = xr.DataArray(np.linspace(5, 60, 7), dims="region", coords={"region": P0.region})
        a = a.replace(in_migration_shares=None, in_migration=tot, in_migration_profile=a.immigration_profile,
                      out_migration_risks=None)
    if system == "origin":
        P0 = _split_by_origin(P0, 3)
        origin = xr.DataArray(["born_in_sweden", "born_abroad"], dims="origin", name="origin")
        a = a.replace(fertility=xr.concat([a.fertility, 1.4 * a.fertility], origin),
                      death_risks=xr.concat([a.death_risks, 0.8 * a.death_risks], origin))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = project(P0, a, years=years, components=False).population.values
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = project(P0, a, years=years, components=False).population.values
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(two, serial)
    assert float(np.abs(serial).sum()) > 0


def _project_in_child(P0, a, years, conn):
    conn.send(project(P0, a, years=years, components=False).population.values)
    conn.close()


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="fork is POSIX")
def test_a_forked_child_projects_after_the_parent_used_the_thread_pool():
    """The parent's thread pool survives a fork without its threads; the child makes its own (it hung before)."""
    import multiprocessing

    inp = random_inputs(5, 30, 4, seed=2)
    years = list(range(2021, 2025))
    P0, a = to_xarray(inp, years)
    parent = project(P0, a, years=years, components=False).population.values   # (the pool is used here)
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_project_in_child, args=(P0, a, years, send))
    child.start()
    got = recv.recv() if recv.poll(120) else None
    child.join(10)
    if child.is_alive():
        child.kill()
    assert got is not None, "the forked child's projection hung"
    np.testing.assert_array_equal(got, parent)


def test_origin_groups_own_rates_and_errors():
    inp = random_inputs(3, 30, 3, seed=7)
    years = [2021, 2022, 2023]
    P0, a = to_xarray(inp, years)
    P0o = _split_by_origin(P0, 1)
    origin = xr.DataArray(["born_in_sweden", "born_abroad"], dims="origin", name="origin")
    f = xr.concat([a.fertility, 0.0 * a.fertility], origin)          # the born-abroad women have no children
    q = xr.concat([a.death_risks, 0.5 * a.death_risks], origin)      # and half the death risks
    r = project(P0o, a.replace(fertility=f, death_risks=q), years=years)
    assert float(r.births.sel(origin="born_abroad").sum()) == 0.0
    assert float(r.births.sel(origin="born_in_sweden").sum()) > 0
    # deaths are N · q of each group: at interior ages N = P(x−1, t−1)
    N = r.population.shift(year=1).sel(year=[2022, 2023]).shift(age=1).sel(age=slice(1, 25))
    want = (N * q.sel(year=[2022, 2023], age=slice(1, 25))).transpose(*N.dims)
    np.testing.assert_allclose(r.deaths.sel(year=[2022, 2023], age=slice(1, 25)).transpose(*N.dims).values,
                               want.values, rtol=1e-12)
    with pytest.raises(AssumptionError, match="fertility has an origin dim but the base population has none"):
        project(P0, a.replace(fertility=f), years=years)
    with pytest.raises(dk.CubeError, match="at least two groups"):
        project(P0o.isel(origin=[0]), a, years=years)
    adj = xr.zeros_like(a.death_risks)
    with pytest.raises(AssumptionError, match="adjustment lacks an origin dim"):
        project(P0o, a.replace(adjustment=adj), years=years)


def test_origin_groups_dask_equals_in_memory():
    inp = random_inputs(4, 15, 3, seed=11)
    years = [2021, 2022, 2023]
    P0, a = to_xarray(inp, years)
    P0o = _split_by_origin(P0, 2)
    scen = xr.DataArray([1.0, 0.9], dims="scenario", coords={"scenario": ["main", "low"]})
    a2 = a.replace(fertility=a.fertility * scen)
    eager = project(P0o, a2, years=years)
    lazy = project(P0o, a2.replace(fertility=(a.fertility * scen).chunk(scenario=1)), years=years)
    for v in eager.data_vars:
        np.testing.assert_allclose(lazy[v].transpose(*eager[v].dims).values, eager[v].values, rtol=1e-13)


def test_no_import_cycle_between_projection_and_scenarios():
    """scenarios imports nothing of demokit at import time; its old names still resolve (lazily)."""
    import ast
    import inspect

    import demokit.scenarios as sc
    tree = ast.parse(inspect.getsource(sc))
    top = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.level > 0]
    assert top == []
    from demokit.scenarios import SCENARIO_KEYS, Assumptions, from_history
    assert Assumptions is dk.Assumptions and from_history is dk.assumptions.from_history
    assert "tfr" in SCENARIO_KEYS
