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
     lambda d: dk.mean_population(d, by="cohort"), r"year=2019 follows year=2017"),
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


def _noisy(ds, seed, D=2):
    """Every count perturbed by integer noise in [-D, D], zeros kept zero (CKM-like)."""
    rng = np.random.default_rng(seed)
    out = ds.copy(deep=True)
    for v in ("population", "births", "deaths", "in_migration", "out_migration", "immigration", "emigration"):
        x = out[v].values
        out[v].values = np.where(x > 0, np.maximum(x + rng.integers(-D, D + 1, x.shape), 0), 0).astype(float)
    return out


def test_ckm_like_noise_runs_through_basis_history_and_projection(nb):
    noisy = _noisy(nb, 11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClampWarning)
        sb = dk.statistical_basis(noisy, years=Y)
        a = dk.Assumptions.from_history(noisy, years=Y, mortality_trend="lee_carter",
                                        projection_years=range(2020, 2025))
        a0 = dk.Assumptions.from_history(nb, years=Y, mortality_trend="lee_carter",
                                         projection_years=range(2020, 2025))
    assert "clamped" in sb.attrs and "clamped" in a.attrs
    p = dk.project(noisy["population"].sel(year=2019), a, years=range(2020, 2025))
    p0 = dk.project(nb["population"].sel(year=2019), a0, years=range(2020, 2025))
    t = p["population"].sel(year=2024).sum(["sex", "age"])
    t0 = p0["population"].sel(year=2024).sum(["sex", "age"])
    change = 100 * (t / t0 - 1)
    print("\n2024 totals, perturbed vs unperturbed (%):", np.round(change.values, 3))
    assert float(abs(change).max()) < 0.5
