"""A seeded fuzz harness: mutated cubes give a DemokitError naming the variable, or an unchanged result.

Each mutation damages one cell or one coordinate of the embedded Norrbotten cube;
each public function is then called on it.  Allowed outcomes:

* a :class:`demokit.DemokitError` whose message names the mutated variable (or the
  dim/coordinate for structural mutations) — never another exception type;
* a result identical to the unmutated one, when the mutation lies outside the
  cells the function uses (e.g. a year outside the period).

Anything else — a changed result without an error, NaN or impossible numbers, a
traceback naming nothing the user wrote — fails.  ``pytest -m fuzz`` runs the full
set (>= 1,000 mutations × functions); the default run takes a fast subset.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import demokit as dk
from demokit.small_area import ClampWarning

Y = [2015, 2016, 2017, 2018, 2019]
VARS = ("population", "births", "deaths", "in_migration", "out_migration", "immigration", "emigration")


def _history(d):
    return dk.Assumptions.from_history(d, years=Y, mortality_trend="lee_carter", projection_years=[2020, 2021])


def _project(d):
    a = _history(d)   # first: it validates the cube (the selection below is the test's own code)
    return dk.project(d["population"].sel(year=2019), a, years=[2020, 2021])


def _heavy():
    """The workflows: the statistical basis, the assumptions from history and a projection from them."""
    return {
        "statistical_basis": lambda d: dk.statistical_basis(d, years=Y),
        "from_history": lambda d: _history(d).to_dataset(),
        "project": _project,
    }


def _functions():
    return {
        "balance": lambda d: dk.balance(d[[v for v in VARS if v in d]].assign_attrs(d.attrs)),
        "summary": lambda d: dk.summary(d[[v for v in VARS if v in d]].assign_attrs(d.attrs)),
        "mean_population": lambda d: dk.mean_population(d, by="cohort"),
        "death_risks": lambda d: dk.death_risks(d, years=Y),
        "death_rates": lambda d: dk.death_rates(d, years=Y, open_age=95),
        "fertility_rates": lambda d: dk.fertility_rates(d, years=Y),
        "out_migration_risks": lambda d: dk.out_migration_risks(d, years=Y),
        "emigration_risks": lambda d: dk.emigration_risks(d, years=Y),
    }


# ------------------------------------------------------------------------------------------- mutations
def _cell(rng, d, var):
    da = d[var]
    return {dim: da[dim].values[rng.integers(da.sizes[dim])] for dim in da.dims}


def _set_one(value_of):
    """A mutation: one random cell of a random variable set to ``value_of(rng)``."""
    def mutate(rng, d):
        v = str(rng.choice(VARS))
        c = _cell(rng, d, v)
        d[v].loc[c] = value_of(rng)
        return v, c
    return mutate


m_nan = _set_one(lambda rng: np.nan)
m_negative = _set_one(lambda rng: -float(rng.integers(1, 50)))
m_huge = _set_one(lambda rng: 1e15)
m_inf = _set_one(lambda rng: np.inf)
for _f, _n in ((m_nan, "m_nan"), (m_negative, "m_negative"), (m_huge, "m_huge"), (m_inf, "m_inf")):
    _f.__name__ = _n


def m_many_events(rng, d):
    v = str(rng.choice(("deaths", "out_migration", "emigration")))
    c = _cell(rng, d, v)
    c["age"] = int(rng.integers(1, 100))
    d[v].loc[c] = float(d["population"].sel(region=c["region"], sex=c["sex"], age=c["age"] - 1,
                                            year=c["year"] - 1 if c["year"] > 2006 else c["year"])) * 3 + 50
    return v, c


def m_young_mother(rng, d):
    c = _cell(rng, d, "births")
    c["age"] = int(rng.integers(1, 10))
    d["births"].loc[c] = float(rng.integers(1, 5))
    return "births", c


def m_drop_sex(rng, d):
    v = str(rng.choice(("population", "deaths")))
    d[v] = d[v].sel(sex="female", drop=True)
    return v, {"dim": "sex"}


def m_missing_variable(rng, d):
    v = str(rng.choice(VARS))
    del d[v]
    return v, {}


def m_rename_dim(rng, d):
    dim = str(rng.choice(("age", "year", "sex")))
    return dim, {"dim": dim, "_ds": d.rename({dim: {"age": "alder", "year": "ar", "sex": "kon"}[dim]})}


def m_duplicate_year(rng, d):
    y = int(rng.choice(d["year"].values[1:-1]))
    return "year", {"dim": "year", "year": y,
                    "_ds": xr.concat([d, d.sel(year=[y])], dim="year", data_vars="minimal").sortby("year")}


def m_drop_year(rng, d):
    y = int(rng.choice(d["year"].values[1:-1]))
    return "year", {"dim": "year", "year": y, "_ds": d.drop_sel(year=y)}


MUTATIONS = [m_nan, m_negative, m_huge, m_inf, m_many_events, m_young_mother, m_drop_sex, m_missing_variable,
             m_rename_dim, m_duplicate_year, m_drop_year]


def _uses(fname, var, cell):
    """Whether a function reads this cell (False -> the result must be unchanged)."""
    need = {
        "balance": set(VARS), "summary": set(VARS), "mean_population": {"population"},
        "death_risks": {"population", "deaths", "births"}, "death_rates": {"population", "deaths"},
        "fertility_rates": {"population", "births"},
        "out_migration_risks": {"population", "out_migration", "births"},
        "emigration_risks": {"population", "emigration", "births"},
        "statistical_basis": {"population", "births", "deaths", "in_migration", "out_migration", "emigration"},
        "from_history": set(VARS), "project": set(VARS),
    }[fname]
    if var not in need:
        return False
    year = cell.get("year")
    if year is None or fname in ("balance", "summary", "mean_population"):
        return True
    years = set(Y) | {Y[0] - 1} if var == "population" else set(Y)
    return int(year) in years


def _equal(a, b):
    try:
        xr.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
        return True
    except AssertionError:
        return False


@pytest.fixture(scope="module")
def base():
    return dk.datasets.load("norrbotten")


@pytest.fixture(scope="module")
def baseline(base):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClampWarning)
        return {k: f(base) for k, f in _functions().items()}


@pytest.fixture(scope="module")
def baseline_heavy(base):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClampWarning)
        return {k: f(base) for k, f in _heavy().items()}


def _run(base, baseline, seed, fnames):
    rng = np.random.default_rng(seed)
    mutation = MUTATIONS[seed % len(MUTATIONS)]
    d = base.copy(deep=True)
    var, cell = mutation(rng, d)
    d = cell.pop("_ds", d)   # structural mutations return a new cube
    structural = "dim" in cell and var in ("age", "year", "sex")
    failures = []
    funcs = {**_functions(), **_heavy()}
    for fname in fnames:
        f = funcs[fname]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ClampWarning)
                res = f(d)
        except dk.DemokitError as exc:
            msg = str(exc)
            if var not in msg and cell.get("dim", "@") not in msg:
                failures.append(f"{mutation.__name__} {var} {cell} -> {fname}: error names neither: {msg[:150]}")
            continue
        except Exception as exc:   # noqa: BLE001 - any other exception is a finding
            failures.append(f"{mutation.__name__} {var} {cell} -> {fname}: {type(exc).__name__}: {str(exc)[:150]}")
            continue
        if mutation is m_many_events and fname in ("balance", "summary"):
            continue   # accounting reports the inconsistency in the adjustment term (METHODS §2.1)
        if mutation is m_missing_variable and fname == "statistical_basis" and var == "emigration":
            continue   # the basis reports emigration risks only when the cube has emigrants (documented)
        if mutation is m_missing_variable and fname == "summary" and var != "population":
            continue   # summary computes the measures its variables allow (fewer outputs, none wrong)
        if mutation is m_drop_sex and fname == "mean_population":
            continue   # the mean of a population without sex is a plain mean: nothing is broadcast
        if structural and mutation is m_rename_dim and var == "sex" and fname == "mean_population":
            continue   # a mean population needs no sex dim: the renamed one is carried along, nothing broadcast
        if structural:
            # a renamed dim must fail; a duplicated or dropped year may leave a period untouched (then identical)
            if mutation is m_rename_dim or not _equal(res, baseline[fname]):
                failures.append(f"{mutation.__name__} {var} {cell} -> {fname}: accepted, no error")
            continue
        if _uses(fname, var, cell):
            failures.append(f"{mutation.__name__} {var} {cell} -> {fname}: accepted, no error")
        elif not _equal(res, baseline[fname]):
            failures.append(f"{mutation.__name__} {var} {cell} -> {fname}: result silently changed")
    return failures


FAST = list(range(24))


@pytest.mark.parametrize("seed", FAST)
def test_fuzz_fast(base, baseline, seed):
    fnames = list(_functions())
    assert _run(base, baseline, seed, fnames) == []


@pytest.mark.parametrize("seed", [3, 4, 6, 7])
def test_fuzz_workflows_fast(base, baseline_heavy, seed):
    assert _run(base, baseline_heavy, seed, list(_heavy())) == []


@pytest.mark.fuzz
def test_fuzz_workflows_full(base, baseline_heavy):
    """The statistical basis, the assumptions from history and the projection under 40 mutations."""
    failures, calls = [], 0
    for seed in range(2000, 2040):
        failures += _run(base, baseline_heavy, seed, list(_heavy()))
        calls += len(_heavy())
    print(f"\nfuzz (workflows): {calls} calls, {len(failures)} failures")
    assert failures == [], "\n".join(failures[:20])


@pytest.mark.fuzz
def test_fuzz_full(base, baseline):
    """>= 1,000 mutation × function calls; counts recorded in docs/VALIDATION.md."""
    fnames = list(_functions())
    failures, calls = [], 0
    for seed in range(1000, 1000 + 130):
        failures += _run(base, baseline, seed, fnames)
        calls += len(fnames)
    print(f"\nfuzz: {calls} calls, {len(failures)} failures")
    assert calls >= 1000
    assert failures == [], "\n".join(failures[:20])
