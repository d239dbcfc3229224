"""Birth-region groups (issue 12, item 3): the embedded Luleå data by birth region."""

import numpy as np

import demokit as dk

FLOWS = ["population", "in_migration", "out_migration", "immigration", "emigration"]


def test_lulea_birth_region_loads():
    ds = dk.datasets.load("lulea_birth_region")
    assert "lulea_birth_region" in dk.datasets.names()
    assert ds["origin"].values.tolist() == ["born_in_sweden", "born_abroad"]
    assert ds["sex"].values.tolist() == ["female", "male"]
    assert ds["year"].values.tolist() == list(range(2006, 2025))
    for v in FLOWS:
        assert ds[v].dims == ("region", "origin", "sex", "age", "year")
    assert "origin" not in ds["deaths"].dims and "origin" not in ds["births"].dims
    # SCB's totals on 31 Dec 2019 and 2024 (TAB4823)
    tot = ds["population"].sel(region="2580").sum(["sex", "age"])
    assert tot.sel(year=2019).values.tolist() == [69132, 8973]
    assert tot.sel(year=2024).values.tolist() == [69451, 10194]


def test_lulea_birth_region_sums_to_norrbotten():
    """09 + 11 gives back the shipped BE0101 data of Luleå in every cell 2006–2019."""
    ds = dk.datasets.load("lulea_birth_region").sel(region="2580", year=slice(2006, 2019))
    nb = dk.datasets.load("norrbotten").sel(region="2580")
    for v in FLOWS:
        a = ds[v].sum("origin").transpose("sex", "age", "year").values
        b = nb[v].transpose("sex", "age", "year").values
        assert a.shape == b.shape == (2, 101, 14)
        np.testing.assert_array_equal(a, b, err_msg=v)
    np.testing.assert_array_equal(ds["deaths"].values, nb["deaths"].values)


import warnings  # noqa: E402

import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from demokit.cube import CubeError  # noqa: E402

MIG = ["in_migration", "out_migration", "immigration", "emigration"]


def _split(ds, share):
    """Luleå's pooled cube split into two origin groups with the same rates (each cell share / 1 − share)."""
    pooled = ds.sum("origin", min_count=1) if "origin" in ds.dims else ds
    w = xr.DataArray([share, 1 - share], dims="origin", coords={"origin": ["born_in_sweden", "born_abroad"]})
    out = pooled.copy()
    for v in ["population", *MIG]:
        out[v] = pooled[v] * w
    return pooled, out


def test_equal_rates_by_origin_total_equals_pooled():
    """Two groups with equal rates: from_history + project, summed over origin, equal the pooled run."""
    ds = dk.datasets.load("lulea_birth_region").sel(year=slice(2006, 2019))
    pooled, split = _split(ds, 0.3)
    opts = dict(years=range(2010, 2015), smoothing=None, mortality_years=None, old_age=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a_p = dk.Assumptions.from_history(pooled, **opts)
        a_o = dk.Assumptions.from_history(split, **opts)
    # the groups' migration risks equal the pooled ones; entry totals are shared 0.3 / 0.7
    np.testing.assert_allclose(a_o["out_migration_risks"].sel(origin="born_abroad"),
                               a_p["out_migration_risks"], rtol=1e-12)
    np.testing.assert_allclose(a_o["immigration"].sum("origin"), a_p["immigration"], rtol=1e-12)
    # immigrants of each group enter their own group here (entry totals with an origin dim)
    r_p = dk.project(pooled["population"].sel(year=2014), a_p, years=range(2015, 2025))
    r_o = dk.project(split["population"].sel(year=2014), a_o, years=range(2015, 2025))
    np.testing.assert_allclose(r_o["population"].sum("origin").transpose(*r_p["population"].dims),
                               r_p["population"], rtol=1e-9, atol=1e-9)


def test_origin_risks_by_plain_numpy():
    """Out-migration risks of each group = Σ_t O(x, t) / Σ_t P(x−1, t−1), computed here with numpy."""
    ds = dk.datasets.load("lulea_birth_region").sel(year=slice(2006, 2019))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = dk.Assumptions.from_history(ds, years=range(2010, 2015), smoothing=None, mortality_years=None,
                                        old_age=None)
    for g in ("born_in_sweden", "born_abroad"):
        O = ds["out_migration"].sel(region="2580", origin=g, sex="female").transpose("age", "year").values
        P = ds["population"].sel(region="2580", origin=g, sex="female").transpose("age", "year").values
        yrs = ds["year"].values
        t = np.isin(yrs, range(2010, 2015))
        tm1 = np.isin(yrs, range(2009, 2014))
        for x in (25, 40):   # hand-check two cells
            expect = O[x, t].sum() / P[x - 1, tm1].sum()
            got = float(a["out_migration_risks"].sel(origin=g, region="2580", sex="female", age=x))
            assert got == pytest.approx(expect, rel=1e-12), (g, x)
    # death risks and fertility have no origin dim (pooled events)
    assert "origin" not in a["death_risks"].dims and "origin" not in a["fertility"].dims
    assert "pooled" in a.attrs["origin"]


def test_lulea_backtest_born_abroad_2019():
    """from_history 2010–2014, project 2015–2019 by origin from the 2014 base; compare 2019 with SCB.

    Tolerance: born abroad within 20 % (the 2015–2016 refugee immigration was far above the
    2010–2014 average the assumptions carry forward), born in Sweden and the total within 2 %.
    """
    ds = dk.datasets.load("lulea_birth_region")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = dk.Assumptions.from_history(ds, years=range(2010, 2015))
    r = dk.project(ds["population"].sel(year=2014), a, years=range(2015, 2020))
    proj = r["population"].sel(year=2019).sum(["sex", "age"]).squeeze()
    obs = ds["population"].sel(year=2019).sum(["sex", "age"]).squeeze()
    imm = ds["immigration"].sel(origin="born_abroad").sum(["sex", "age"]).squeeze()
    print("2019 projected", proj.values.round(0), "observed", obs.values,
          "| immigrants born abroad/yr 2010–14", float(imm.sel(year=slice(2010, 2014)).mean()),
          "2015–19", float(imm.sel(year=slice(2015, 2019)).mean()))
    assert obs.sel(origin="born_abroad") == 8973
    assert float(proj.sel(origin="born_abroad")) == pytest.approx(8973, rel=0.20)
    assert float(proj.sel(origin="born_in_sweden")) == pytest.approx(float(obs.sel(origin="born_in_sweden")), rel=0.02)
    assert float(proj.sum()) == pytest.approx(float(obs.sum()), rel=0.02)


def test_origin_errors_name_the_variable():
    ds = dk.datasets.load("lulea_birth_region").sel(year=slice(2006, 2019))
    bad = ds.copy()
    bad["emigration"] = ds["emigration"].sum("origin")
    with pytest.raises(CubeError, match="emigration lacks an origin dim"):
        dk.Assumptions.from_history(bad, years=range(2010, 2015))
    bad = ds.copy()
    bad["population"] = ds["population"].sum("origin")
    with pytest.raises(CubeError, match="'population' lacks it"):
        dk.Assumptions.from_history(bad, years=range(2010, 2015))


def test_statistical_basis_by_origin():
    """The basis report by origin: out-migration risks by group, death risks pooled (no origin)."""
    ds = dk.datasets.load("lulea_birth_region").sel(year=slice(2006, 2019))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = dk.statistical_basis(ds, years=range(2010, 2015))
    assert "origin" in b["out_migration_risk"].dims
    assert "origin" not in b["death_risk"].dims and "origin" not in b["fertility_rate"].dims
    assert "pooled" in b.attrs["origin"]
    # born abroad move out more often at 25–34 than born in Sweden (observed ratios, both sexes)
    r = b["out_migration_risk"].sel(region="2580", age=slice(25, 34)).mean(["sex", "age"])
    assert float(r.sel(origin="born_abroad")) > float(r.sel(origin="born_in_sweden"))


def test_totals_given_are_shared_out_to_the_groups():
    """in_migration=/immigration= (and a scenario's totals) are the totals of all groups, shared by the
    period's flows by group (review: each group used to get the whole total)."""
    ds = dk.datasets.load("lulea_birth_region").sel(year=slice(2006, 2019))
    yrs = list(range(2015, 2020))
    opts = dict(years=yrs, smoothing=None, mortality_years=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = dk.Assumptions.from_history(ds, in_migration=3000.0, immigration=500.0,
                                        scenarios={"plan": {"in_migration": 4000.0}, "as_observed": {}}, **opts)
        own = dk.Assumptions.from_history(ds, **opts)
    for k, total in (("in_migration", 3000.0), ("immigration", 500.0)):
        flows = ds[k].sel(region="2580", year=yrs).sum(["sex", "age", "year"]).values
        expect = total * flows / flows.sum()            # plain numpy: the period's share of each group
        got = a.data[k].sel(region="2580", scenario="as_observed").transpose("origin", ...).values.ravel()
        np.testing.assert_allclose(got, expect, rtol=1e-12, err_msg=k)
    plan = a.data["in_migration"].sel(region="2580", scenario="plan")
    assert float(plan.sum()) == pytest.approx(4000.0, rel=1e-12)
    # without totals given, each group keeps its own period average (sum over the 5 years / 5)
    got = own.data["immigration"].sel(region="2580").transpose("origin", ...).values.ravel()
    np.testing.assert_allclose(got, ds["immigration"].sel(region="2580", year=yrs).sum(["sex", "age", "year"]) / 5,
                               rtol=1e-12)


def test_origin_rejects_what_the_groups_cannot_carry():
    from demokit.assumptions import AssumptionError

    ds = dk.datasets.load("lulea_birth_region").sel(year=slice(2006, 2019))
    with pytest.raises(AssumptionError, match="system='net' with an origin dim"):
        dk.Assumptions.from_history(ds, years=range(2015, 2020), system="net", smoothing=None)
    with pytest.raises(AssumptionError, match="housing plan.*origin dim"):
        dk.Assumptions.from_history(ds, years=range(2015, 2020), system="closed", in_migration=3000.0,
                                    smoothing=None)


def test_origin_errors_name_the_group():
    ds = dk.datasets.load("lulea_birth_region").sel(year=slice(2006, 2019))
    bad = ds.copy(deep=True)
    bad["population"].loc[dict(origin="born_abroad", sex="female", age=25, year=2017)] = np.nan
    with pytest.raises(CubeError, match=r"population\[region='2580', origin='born_abroad', sex='female', age=25, "
                                        r"year=2017\] = nan \(missing in this group"):
        dk.Assumptions.from_history(bad, years=range(2015, 2020), smoothing=None)
    bad = ds.copy(deep=True)
    cell = dict(sex="female", age=24, year=2016)
    assert float(ds["emigration"].sel(origin="born_in_sweden", region="2580", **cell)) >= 1
    bad["emigration"].loc[dict(origin="born_abroad", **cell)] = -1.0   # the pooled sum stays >= 0
    with pytest.raises(CubeError, match=r"origin='born_abroad': .*emigration.*-1"):
        dk.Assumptions.from_history(bad, years=range(2015, 2020), smoothing=None)


def test_born_abroad_first_is_an_error():
    """Sorted alphabetically, born_abroad comes first and would receive every newborn (review)."""
    ds = dk.datasets.load("lulea_birth_region").sel(year=slice(2006, 2019))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = dk.Assumptions.from_history(ds, years=range(2015, 2020), smoothing=None)
    P0 = ds["population"].sel(year=2019).sortby("origin")
    with pytest.raises(CubeError, match=r"origin='born_abroad' is the first group.*sel\(origin=\['born_in_sweden', "
                                        r"'born_abroad'\]\)"):
        dk.project(P0, a, years=range(2020, 2022))


def test_clamped_cells_of_a_group_are_counted():
    """A born-abroad cell with more out-movers than persons at risk over the period is clamped in that group's
    estimate (the one used); attrs["clamped"] names it with its group, and the counts add up (was: the pooled
    estimate's counts)."""
    import warnings

    ds = dk.datasets.load("lulea_birth_region").sel(year=slice(2006, 2019))
    bad = ds.copy(deep=True)
    cell = dict(region="2580", sex="male", age=94, year=2017)
    # at risk: P(93, 2016) = 2 born-abroad men (and none in the period's other years): 4 out-movers are a
    # plausible excess in the year, impossible over the period -> clamped
    assert float(ds["population"].sel(origin="born_abroad", region="2580", sex="male", age=93, year=2016)) == 2
    bad["out_migration"].loc[dict(origin="born_abroad", **cell)] = 4.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = dk.Assumptions.from_history(bad, years=range(2015, 2020), smoothing=None)
    clamp = [w for w in caught if issubclass(w.category, dk.small_area.ClampWarning)]
    assert len(clamp) == 1 and "out_migration (born_abroad): 1" in str(clamp[0].message)   # one, for what is used
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = dk.Assumptions.from_history(ds, years=range(2015, 2020), smoothing=None)
    assert "out_migration (born_abroad): 1" in a.attrs["clamped"]
    assert a.attrs["clamped_cells"] == clean.attrs["clamped_cells"] + 1


def test_pool_origin_keeps_a_missing_cell_missing():
    import xarray as xr

    from demokit.assumptions import pool_origin
    ds = xr.Dataset({"population": (("age", "origin"), [[10.0, np.nan], [3.0, 4.0]])},
                    coords={"age": [0, 1], "origin": ["born_in_sweden", "born_abroad"]})
    out = pool_origin(ds)["population"].values
    assert np.isnan(out[0]) and out[1] == 7.0
