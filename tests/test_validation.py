"""No silent numbers: bad input raises an error naming the variable, the cell and the value (issue 10)."""

import warnings

import numpy as np
import pytest

import demokit as dk
from demokit.small_area import ClampWarning

Y = range(2015, 2020)


@pytest.fixture(scope="module")
def nb():
    return dk.datasets.load("norrbotten")


def _set(ds, var, value, **cell):
    d = ds.copy(deep=True)
    d[var].loc[cell] = value
    return d


CASES = [
    # (label, mutation, call, message)
    ("NaN birth", lambda d: _set(d, "births", np.nan, region="2580", sex="female", age=30, year=2018),
     lambda d: dk.fertility_rates(d, years=Y),
     r"births\[region='2580', sex='female', age=30, year=2018\] = nan: counts must be finite"),
    ("negative birth of one sex", lambda d: _set(d, "births", -3, region="2580", sex="male", age=30, year=2018),
     lambda d: dk.fertility_rates(d, years=Y),
     r"births\[.*sex='male', age=30, year=2018\] = -3.0: counts must be >= 0"),
    ("births to a mother aged 8", lambda d: _set(d, "births", 2, region="2581", sex="female", age=8, year=2017),
     lambda d: dk.fertility_rates(d, years=Y), r"mothers aged 8 lie outside the fertile ages"),
    ("population without sex", lambda d: d.assign(population=d["population"].sel(sex="female", drop=True)),
     lambda d: dk.death_risks(d, years=Y), r"population lacks the dim 'sex'.*never broadcast"),
    ("region missing from one variable", lambda d: _set(d, "population", np.nan, region="2581", sex="female",
                                                           age=30, year=2018),
     lambda d: dk.fertility_rates(d, years=Y), r"population\[region='2581'.*\] = nan"),
    ("movers far above the population at risk", lambda d: _set(d, "out_migration", 5000, region="2580",
                                                                  sex="female", age=25, year=2018),
     lambda d: dk.out_migration_risks(d, years=Y), r"out_migration\[.*age=25, year=2018\] = 5000.0 but only"),
    ("one year's deaths far above the population at risk", lambda d: _set(d, "deaths", 300, region="2580",
                                                                              sex="male", age=90, year=2019),
     lambda d: dk.death_risks(d, years=Y), r"deaths\[.*age=90, year=2019\] = 300.0 but only"),
    ("1e15 in a kommun", lambda d: _set(d, "population", 1e15, region="2560", sex="male", age=40, year=2016),
     lambda d: dk.balance(d), r"population\[region='2560'.*\] = 1000000000000000.0: implausibly large"),
    ("a missing year inside the period", lambda d: d.drop_sel(year=2018),
     lambda d: dk.mean_population(d, by="cohort"), r"gap in years between year=2017 and year=2019"),
]


@pytest.mark.parametrize("label, mutate, call, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_naming_the_cell(nb, label, mutate, call, message):
    with pytest.raises(dk.DemokitError, match=message):
        call(mutate(nb))


def test_a_small_excess_of_events_is_accepted_clamped_and_counted(nb):
    # one more death than persons at risk in one tiny cell: plausible (a person moved in and died)
    from demokit.migration import interval_parts
    d = nb.sel(region=["2560"]).copy(deep=True)
    D, N, _ = interval_parts(d, "deaths", years=Y)
    free = (N.sel(region="2560", sex="male") - D.sel(region="2560", sex="male"))
    age = int(free["age"].values[int(np.argmin(free.values))])       # the cell with the least room
    d["deaths"].loc[dict(region="2560", sex="male", age=age, year=2018)] += float(free.sel(age=age)) + 2
    with pytest.warns(ClampWarning, match="deaths: 1"):
        a = dk.Assumptions.from_history(d, years=Y)
    assert a.attrs["clamped"].startswith("deaths: 1")
    assert float(a["death_risks"].max()) <= 1


def test_ckm_perturbed_cube_runs_through_balance_basis_history_and_projection(nb):
    """Issue 14: every count perturbed by SCB-like CKM noise (D=2, V=1) — nothing crashes, clamped cells are
    reported, and the 2024 totals move by the noise, not more."""
    Y5 = range(2020, 2025)
    a0 = dk.Assumptions.from_history(nb, years=Y, mortality_trend="lee_carter", projection_years=Y5)
    t0 = dk.project(nb["population"].sel(year=2019), a0, years=Y5)["population"].sel(year=2024).sum(["sex", "age"])
    moves = []
    for seed in range(3):
        pc = dk.ckm.perturbed_cube(nb, D=2, V=1, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ClampWarning)
            dk.balance(pc[["population", "births", "deaths", "in_migration", "out_migration", "immigration",
                           "emigration"]])
            sb = dk.statistical_basis(pc, years=Y)
            a = dk.Assumptions.from_history(pc, years=Y, mortality_trend="lee_carter", projection_years=Y5)
        assert "clamped" in sb.attrs and "clamped" in a.attrs
        t = dk.project(pc["population"].sel(year=2019), a, years=Y5)["population"].sel(year=2024).sum(["sex", "age"])
        moves.append(100 * (t / t0 - 1))
        print(f"\nseed {seed}: 2024 totals move by", np.round(moves[-1].values, 2), "% (", a.attrs["clamped"], ")")
    moves = np.array([m.values for m in moves])
    total = [100 * (float((m / 100 + 1) @ t0.values) / float(t0.sum()) - 1) for m in moves]
    print("sum of the five kommuner:", np.round(total, 2), "%")
    # the five kommuner together move by less than 0.5 %; Älvsbyn (7,700 inhabitants) by up to about 1 %:
    # its deaths 2015-2019 alone move by +30 of 554 under one seed's noise
    assert max(abs(x) for x in total) < 0.5
    assert np.abs(moves).max() < 1.5


def test_events_of_the_year_before_the_period_are_not_needed(nb):
    """Event files that start with the statistical period (the population one year earlier) were rejected with
    "deaths[..., year=2014] = nan" — a year the estimates do not use; now the same numbers as with full files.
    The population of the year before is still checked."""
    nb = nb.sel(region=["2580", "2582"])
    cut = nb.copy(deep=True)
    for v in ("deaths", "births", "in_migration", "out_migration", "immigration", "emigration"):
        cut[v].loc[dict(year=list(range(2006, 2015)))] = np.nan
    kw = dict(years=Y, projection_years=[2020], mortality_years=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClampWarning)
        full, part = dk.Assumptions.from_history(nb, **kw), dk.Assumptions.from_history(cut, **kw)
        for k in full.data:
            np.testing.assert_array_equal(part[k].values, full[k].values, err_msg=k)
        np.testing.assert_array_equal(dk.statistical_basis(cut, years=Y)["tfr"].values,
                                      dk.statistical_basis(nb, years=Y)["tfr"].values)
        np.testing.assert_array_equal(dk.death_rates(cut, years=Y).values, dk.death_rates(nb, years=Y).values)
        cut["population"].loc[dict(region="2580", sex="male", age=40, year=2014)] = np.nan
        with pytest.raises(dk.CubeError, match=r"population\[region='2580', sex='male', age=40, year=2014\] = nan"):
            dk.Assumptions.from_history(cut, **kw)
