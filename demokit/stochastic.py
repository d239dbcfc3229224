"""Scenario matrices and stochastic projections (METHODS §14).

:func:`scenario_matrix` crosses fertility, mortality and migration variants
into a ``scenario`` dim; :func:`simulate` adds a ``draw`` dim of stochastic
paths for the TFR (AR(1) fitted to the national series 1969–2015 of the
embedded county data), life expectancy at birth (random walk with drift fitted
to HMD Sweden) and migration totals (AR(1) fitted to their observed yearly
variation); :func:`demokit.project` runs every draw at once (in memory, or
lazily per chunk of draws with ``chunks=``); :func:`stochastic_summary` gives
quantiles of population, labour force, employment and the economic
dependency ratio.

Draws are reproducible: draw ``i`` uses its own generator
``numpy.random.default_rng(SeedSequence(seed).spawn(draws)[i])``, so the draws
do not depend on the chunking, the scheduler or the number of workers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import xarray as xr

from ._apply import is_dask
from .cube import SEXES, DemokitError

__all__ = ["AR1", "RandomWalk", "StochasticModel", "fit_ar1", "fit_random_walk", "scenario_matrix",
           "simulate", "stochastic_model", "stochastic_summary"]

#: the order of the standard normal shocks drawn for each draw (fixed, so that a draw's paths do not
#: depend on which parts of the assumptions exist)
SHOCKS = ("tfr", "e0_female", "e0_male", "immigration", "in_migration", "net_migration")
_CELL_A = ("year", "sex", "age", "region")   # the annual kernel's layouts (demokit.projection)
_FERT_A = ("year", "age", "region")
#: log-k grid of the e0 → death-risk factor mapping (k from e^-2 to e^2)
_LOGK = np.linspace(-2.0, 2.0, 81)


class StochasticError(DemokitError, ValueError):
    """Bad input to a stochastic projection or a scenario matrix."""


# ---------------------------------------------------------------------- time-series models
@dataclass(frozen=True)
class AR1:
    """A fitted AR(1) ``x_t − μ = φ (x_{t−1} − μ) + ε_t``, ``ε_t ~ N(0, σ²)``."""

    mean: float
    phi: float
    sigma: float
    n: int
    source: str = ""

    def stationary_sd(self) -> float:
        """Return ``σ / sqrt(1 − φ²)``, the standard deviation of the process in the long run."""
        return float(self.sigma / np.sqrt(1.0 - self.phi ** 2))

    def paths(self, shocks):
        """Return deviations ``z_t = φ z_{t−1} + σ ε_t`` from ``z_0 = 0`` (shocks ``ε``, time last)."""
        e = np.asarray(shocks, dtype=float) * self.sigma
        z = np.empty_like(e)
        prev = np.zeros(e.shape[:-1])
        for t in range(e.shape[-1]):
            prev = self.phi * prev + e[..., t]
            z[..., t] = prev
        return z


@dataclass(frozen=True)
class RandomWalk:
    """A fitted random walk with drift ``x_t = x_{t−1} + δ + ε_t``, ``ε_t ~ N(0, σ²)``."""

    drift: float
    sigma: float
    n: int
    source: str = ""

    def paths(self, shocks):
        """Return zero-drift deviations ``w_t = σ Σ_{s≤t} ε_s`` (the drift is the centre's)."""
        return np.cumsum(np.asarray(shocks, dtype=float) * self.sigma, axis=-1)


def _series(x, name):
    if isinstance(x, xr.DataArray):
        if x.ndim != 1:
            raise StochasticError(f"{name}: expected a series with one dim (year), got dims {x.dims}")
        v = np.asarray(x.values, dtype=float)
    else:
        v = np.asarray(x, dtype=float)
        if v.ndim != 1:
            raise StochasticError(f"{name}: expected a one-dimensional series, got shape {v.shape}")
    bad = ~np.isfinite(v)
    if bad.any():
        raise StochasticError(f"{name}: value {v[bad][0]!r} at position {int(np.argmax(bad))} is not finite")
    return v


def fit_ar1(series, *, source: str = "") -> AR1:
    """Return the AR(1) model of a yearly series, fitted by least squares.

    Parameters
    ----------
    series : DataArray (dim ``year``) or sequence of float
        At least 4 consecutive yearly values.
    source : str
        A description kept in the result.

    Returns
    -------
    AR1
        ``mean`` μ, ``phi`` φ, ``sigma`` σ, ``n`` (the number of values).

    Raises
    ------
    StochasticError
        Fewer than 4 values, values not finite, or ``|φ| ≥ 1`` (not stationary:
        use :func:`fit_random_walk`).

    Notes
    -----
    Ordinary least squares of ``x_t = c + φ x_{t−1} + ε_t`` for ``t = 2..n``;
    ``μ = c / (1 − φ)``; ``σ² = Σ e_t² / (n − 3)`` (``n − 1`` equations, two
    parameters).
    """
    x = _series(series, "fit_ar1 series")
    if x.size < 4:
        raise StochasticError(f"fit_ar1: need at least 4 values, got {x.size}")
    X = np.column_stack([np.ones(x.size - 1), x[:-1]])
    coef, *_ = np.linalg.lstsq(X, x[1:], rcond=None)
    c, phi = float(coef[0]), float(coef[1])
    if not abs(phi) < 1:
        raise StochasticError(f"fit_ar1: phi = {phi:.4f} is not stationary (|phi| >= 1); "
                              "fit a random walk (fit_random_walk) instead")
    e = x[1:] - X @ coef
    sigma = float(np.sqrt(e @ e / (x.size - 3)))
    return AR1(mean=c / (1 - phi), phi=phi, sigma=sigma, n=int(x.size), source=source)


def fit_random_walk(series, *, source: str = "") -> RandomWalk:
    """Return the random walk with drift of a yearly series.

    Parameters
    ----------
    series : DataArray (dim ``year``) or sequence of float
        At least 3 consecutive yearly values.
    source : str
        A description kept in the result.

    Returns
    -------
    RandomWalk
        ``drift`` δ, ``sigma`` σ, ``n``.

    Notes
    -----
    ``Δx_t = x_t − x_{t−1} = δ + ε_t``: ``δ = mean(Δx) = (x_n − x_1) / (n − 1)``,
    ``σ² = Σ (Δx_t − δ)² / (n − 2)`` (the sample variance of the increments).
    """
    x = _series(series, "fit_random_walk series")
    if x.size < 3:
        raise StochasticError(f"fit_random_walk: need at least 3 values, got {x.size}")
    d = np.diff(x)
    return RandomWalk(drift=float(d.mean()), sigma=float(d.std(ddof=1)), n=int(x.size), source=source)


@dataclass(frozen=True)
class StochasticModel:
    """The fitted models of a stochastic projection (see :func:`stochastic_model`)."""

    tfr: AR1
    life_expectancy: dict          # {"female": RandomWalk, "male": RandomWalk}
    e0_correlation: float          # correlation of the women's and men's e0 increments
    migration: dict = field(default_factory=dict)   # {"immigration" | "in_migration" | "net_migration": AR1}

    def to_dataset(self) -> xr.Dataset:
        """Return the parameters as a small Dataset (for reports and CSV)."""
        rows = [("tfr", "AR(1)", self.tfr.mean, self.tfr.phi, self.tfr.sigma, np.nan, self.tfr.n,
                 self.tfr.source)]
        for s in SEXES:
            m = self.life_expectancy[s]
            rows.append((f"e0_{s}", "random walk with drift", np.nan, np.nan, m.sigma, m.drift, m.n, m.source))
        for k, m in self.migration.items():
            rows.append((k, "AR(1)", m.mean, m.phi, m.sigma, np.nan, m.n, m.source))
        names = [r[0] for r in rows]
        cols = ["model", "mean", "phi", "sigma", "drift", "n", "source"]
        ds = xr.Dataset({c: ("series", [r[i + 1] for r in rows]) for i, c in enumerate(cols)},
                        coords={"series": names})
        ds.attrs["e0_correlation"] = self.e0_correlation
        return ds


def national_tfr_series(years=range(1969, 2016)) -> xr.DataArray:
    """Return Sweden's TFR by year from the embedded county data (``dk.datasets.load("sweden_counties")``)."""
    from . import datasets
    from .fertility import fertility_rates, tfr
    ds = datasets.load("sweden_counties").sum("region", keep_attrs=True)
    yrs = [int(y) for y in years]
    v = [float(tfr(fertility_rates(ds, years=y))) for y in yrs]
    return xr.DataArray(v, dims="year", coords={"year": yrs}, name="tfr",
                        attrs={"source": "SCB counties summed (embedded sweden_counties)"})


def hmd_e0_series(years=range(1950, 2015)) -> xr.DataArray:
    """Return life expectancy at birth by sex and year from the embedded HMD Sweden data."""
    from . import datasets
    from .lifetable import life_table
    yrs = [int(y) for y in years]
    h = datasets.load("hmd_sweden").sel(year=yrs)
    e0 = life_table(deaths=h["deaths"], exposure=h["exposure"])["ex"].isel(age=0, drop=True)
    e0.name = "e0"
    e0.attrs = {"source": "Human Mortality Database, Sweden 1x1 (embedded hmd_sweden)"}
    return e0.transpose("sex", "year")


def migration_series() -> dict:
    """Return the observed migration series the default migration models are fitted to.

    ``immigration`` and ``in_migration``: the log of the yearly total of the
    five embedded Norrbotten municipalities (2006–2019) relative to its mean;
    ``net_migration``: Sweden's net migration 1969–2015 from the county data
    (the balance residual ``P_t − P_{t−1} − B_t + D_t`` summed over counties)
    relative to its mean (``NM_t / mean(NM) − 1``).
    """
    from . import datasets
    out = {}
    nb = datasets.load("norrbotten")
    for k in ("immigration", "in_migration"):
        tot = nb[k].sum([d for d in nb[k].dims if d != "year"])
        out[k] = np.log(tot / tot.mean())
    c = datasets.load("sweden_counties")
    P = c["population"].sum(["region", "sex", "age"])
    B = c["births"].sum(["region", "sex", "age"])
    D = c["deaths"].sum(["region", "sex", "age"])
    nm = (P.diff("year") - B.isel(year=slice(1, None)) + D.isel(year=slice(1, None)))
    out["net_migration"] = nm / nm.mean() - 1
    return out


@lru_cache(maxsize=1)
def _default_model() -> StochasticModel:
    return _build_model(None, None, None)


def _build_model(tfr, life_expectancy, migration):
    if tfr is None:
        tfr = fit_ar1(national_tfr_series(), source="national TFR 1969-2015, SCB counties summed")
    elif not isinstance(tfr, AR1):
        tfr = fit_ar1(tfr, source="user series")
    if life_expectancy is None:
        e0 = hmd_e0_series()
        life_expectancy = {s: e0.sel(sex=s, drop=True) for s in SEXES}
        src = "HMD Sweden e0 1950-2014"
    else:
        src = "user series"
    if not isinstance(life_expectancy, dict) or any(s not in life_expectancy for s in SEXES):
        raise StochasticError("life_expectancy: expected a mapping {'female': ..., 'male': ...} of series or "
                              "RandomWalk fits")
    rw, corr = {}, 0.0
    incs = []
    for s in SEXES:
        v = life_expectancy[s]
        if isinstance(v, RandomWalk):
            rw[s] = v
        else:
            rw[s] = fit_random_walk(v, source=src)
            incs.append(np.diff(_series(v, f"life_expectancy[{s!r}]")))
    if len(incs) == 2 and incs[0].size == incs[1].size:
        corr = float(np.corrcoef(incs[0], incs[1])[0, 1])
    if migration is None:
        migration = {k: fit_ar1(v, source=src_) for (k, v), src_ in zip(
            migration_series().items(),
            ("log immigrants / mean, Norrbotten 2006-2019", "log in-movers / mean, Norrbotten 2006-2019",
             "Sweden's net migration / mean - 1, 1969-2015"))}
    elif not isinstance(migration, dict):
        raise StochasticError("migration: expected a mapping {variable: series or AR1 fit}")
    else:
        bad = [k for k in migration if k not in ("immigration", "in_migration", "net_migration")]
        if bad:
            raise StochasticError(f"migration: unknown series {bad[0]!r}; expected 'immigration', "
                                  "'in_migration' or 'net_migration'")
        migration = {k: v if isinstance(v, AR1) else fit_ar1(v, source="user series") for k, v in migration.items()}
    return StochasticModel(tfr=tfr, life_expectancy=rw, e0_correlation=corr, migration=migration)


def stochastic_model(*, tfr=None, life_expectancy=None, migration=None) -> StochasticModel:
    """Return the fitted time-series models of :func:`simulate`.

    Parameters
    ----------
    tfr : AR1, series or None
        The TFR model; default: :func:`fit_ar1` of the national TFR 1969–2015
        (the embedded county data summed over counties).
    life_expectancy : {"female": RandomWalk or series, "male": ...} or None
        Default: :func:`fit_random_walk` of e0 by sex from HMD Sweden 1950–2014.
    migration : {name: AR1 or series} or None
        Names ``"immigration"``, ``"in_migration"`` (log of the yearly total
        relative to its mean) and ``"net_migration"`` (relative deviation of
        the yearly total from its mean).  Default: fitted to the embedded data
        (:func:`migration_series`).

    Returns
    -------
    StochasticModel
        ``.tfr``, ``.life_expectancy``, ``.e0_correlation``, ``.migration``;
        ``.to_dataset()`` tabulates them.

    Notes
    -----
    TFR: ``F_t − μ = φ (F_{t−1} − μ) + ε_t``.  e0 (each sex):
    ``e_t = e_{t−1} + δ + η_t``; the women's and men's ``η`` are correlated
    with the correlation of the observed increments.  Migration:
    ``m_t = φ m_{t−1} + ν_t`` for the log (gross flows) or relative (net)
    deviation of the yearly total from its centre (METHODS §14).
    """
    if tfr is None and life_expectancy is None and migration is None:
        return _default_model()
    return _build_model(tfr, life_expectancy, migration)


# ---------------------------------------------------------------------- scenario matrix
def _variants(value, name):
    if isinstance(value, dict):
        if not value:
            raise StochasticError(f"{name}: no variants")
        out = {}
        for k, v in value.items():
            out[str(k)] = _factor(v, f"{name}[{k!r}]")
        return out
    if np.isscalar(value) or isinstance(value, xr.DataArray):
        value = [value]
    vals = list(value)
    if not vals:
        raise StochasticError(f"{name}: no variants")
    out = {}
    for v in vals:
        if isinstance(v, xr.DataArray):
            raise StochasticError(f"{name}: a path (DataArray) needs a name: give a mapping {{name: path}}")
        f = _factor(v, name)
        key = f"{name[0].upper()}{float(v):g}"
        if key in out:   # (the second would replace the first: one scenario fewer than asked, silently)
            raise StochasticError(f"{name}: the variant name {key!r} repeats (the factor {v!r} is given twice, or "
                                  "two factors agree to 6 digits); give a mapping {name: factor} to name them")
        out[key] = f
    return out


def _factor(v, name):
    if isinstance(v, xr.DataArray):
        bad = [d for d in v.dims if d not in ("year", "region", "sex", "age")]
        if bad:
            raise StochasticError(f"{name}: a factor may vary by year, region, sex or age, not {bad[0]!r}")
        if not is_dask(v) and (~np.isfinite(v.values) | (v.values < 0)).any():
            raise StochasticError(f"{name}: factors must be finite and >= 0")
        return v
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise StochasticError(f"{name}: expected a number (scale factor) or a DataArray, got {v!r}") from None
    if not np.isfinite(f) or f < 0:
        raise StochasticError(f"{name}: scale factor {v!r} must be a finite number >= 0")
    return f


def scenario_matrix(assumptions, *, fertility=(1.0,), mortality=(1.0,), migration=(1.0,), names=None):
    """Return assumptions with a ``scenario`` dim: every combination of the variants.

    Parameters
    ----------
    assumptions : Assumptions
        Annual assumptions without a ``scenario`` dim (e.g. from
        ``Assumptions.from_history``).
    fertility, mortality, migration : sequence of float, or mapping {name: float or DataArray}
        Variants as scale factors of the fertility rates, the death risks and
        the migration totals (``in_migration``, ``immigration`` and a net
        ``adjustment``; the emigration and out-migration risks stay).  A
        sequence is named by its factors (``F0.9``, ``M1``, ``G1.1``); a
        mapping by its keys (``{"low": 0.9, "high": 1.1}``), whose values may be
        DataArrays by ``year``, ``region``, ``sex``, ``age``.
    names : str, optional
        A format for the scenario names with the fields ``fertility``,
        ``mortality``, ``migration`` (default ``"{fertility}-{mortality}-{migration}"``).

    Returns
    -------
    Assumptions
        With a ``scenario`` dim of ``len(fertility) · len(mortality) ·
        len(migration)`` combinations in the order fertility, mortality,
        migration (the last varies fastest); coordinates ``fertility_variant``,
        ``mortality_variant``, ``migration_variant`` along ``scenario``.

    Raises
    ------
    StochasticError
        Negative or non-numeric factors, assumptions already with a
        ``scenario`` dim, repeated scenario names.

    Notes
    -----
    Scenario ``(i, j, k)``: ``f' = a_i f``, ``q' = min(1, b_j q)`` (then
    lowered where ``q' + u + e > 1`` so the exit risks sum to at most 1),
    ``IM' = c_k IM``, ``I' = c_k I`` (open system), ``A' = c_k A`` (net system).
    """
    from . import Assumptions
    if not isinstance(assumptions, Assumptions):
        raise StochasticError(f"assumptions: expected demokit.Assumptions, got {type(assumptions).__name__}")
    a = assumptions
    if a.kind != "annual":
        raise StochasticError("scenario_matrix: needs assumptions for the annual engine (death_risks=...)")
    if any("scenario" in v.dims for v in a.data.values()):
        raise StochasticError("scenario_matrix: the assumptions already have a 'scenario' dim; "
                              "select one scenario first (.sel(scenario=...))")
    fv = _variants(fertility, "fertility")
    mv = _variants(mortality, "mortality")
    gv = _variants(migration, "migration")
    # default names: F…, M…, G… (G: migration, M is mortality)
    gv = {(("G" + k[1:]) if not isinstance(migration, dict) else k): v for k, v in gv.items()}
    fmt = names or "{fertility}-{mortality}-{migration}"
    combos = list(itertools.product(fv, mv, gv))
    labels = [fmt.format(fertility=f, mortality=m, migration=g) for f, m, g in combos]
    if len(set(labels)) != len(labels):
        dup = next(x for x in labels if labels.count(x) > 1)
        raise StochasticError(f"scenario_matrix: scenario name {dup!r} repeats; give distinct variants or names=")

    def stack(values, dimvals):
        das = [v if isinstance(v, xr.DataArray) else xr.DataArray(v) for v in values]
        return xr.concat(das, dim=xr.DataArray(dimvals, dims="scenario", name="scenario"),
                         coords="minimal", compat="override")

    sc = labels
    ff = stack([fv[f] for f, _, _ in combos], sc)
    mf = stack([mv[m] for _, m, _ in combos], sc)
    gf = stack([gv[g] for _, _, g in combos], sc)
    aux = {"fertility_variant": ("scenario", [c[0] for c in combos]),
           "mortality_variant": ("scenario", [c[1] for c in combos]),
           "migration_variant": ("scenario", [c[2] for c in combos])}
    out = _scaled(a, fertility=ff, mortality=mf, migration=gf)
    for k, v in out.items():
        if isinstance(v, xr.DataArray) and "scenario" in v.dims:
            out[k] = v.assign_coords(aux)
    new = a.replace(**out)
    new.attrs["scenario_matrix"] = (f"{len(fv)} fertility x {len(mv)} mortality x {len(gv)} migration "
                                    "variants (scale factors)")
    return new


def _scaled(a, *, fertility=None, mortality=None, migration=None, net_migration=None):
    """Return the changed assumption variables: fertility, death risks, migration totals scaled."""
    d = a.data
    out = {}
    if fertility is not None:
        f = fertility * d["fertility"] if isinstance(fertility, xr.DataArray) else d["fertility"] * fertility
        out["fertility"] = f.transpose(*[x for x in f.dims if x not in _FERT_A], *[x for x in _FERT_A if x in f.dims])
    if mortality is not None:
        q0 = d["death_risks"]
        q0 = q0.transpose(*[x for x in q0.dims if x not in _CELL_A], *[x for x in _CELL_A if x in q0.dims])
        # the factor first: the product's dims come out in the kernel's order (batch, year, sex, age, region)
        q = mortality * q0 if isinstance(mortality, xr.DataArray) else q0 * mortality
        rest = None
        for k in ("out_migration_risks", "emigration_risks"):
            if k in d:
                rest = d[k] if rest is None else rest + d[k]
        # min(1, k·q), lowered where q + u + e > 1: min(k·q, 1 − (u + e)) (u + e ≤ 1 is checked)
        q = np.minimum(q, 1.0 if rest is None else 1.0 - rest)
        out["death_risks"] = q.transpose(*[x for x in q.dims if x not in _CELL_A],
                                         *[x for x in _CELL_A if x in q.dims])
    if migration is not None:
        for k in ("in_migration", "immigration"):
            if k in d:
                fk = migration.get(k) if isinstance(migration, dict) else migration
                if fk is not None:
                    out[k] = d[k] * fk
        if "adjustment" in d:
            fk = net_migration if net_migration is not None else (
                None if isinstance(migration, dict) else migration)
            if fk is not None:
                out["adjustment"] = d["adjustment"] * fk
    return out


# ---------------------------------------------------------------------- simulation
def _years_of(a, years):
    if years is not None:
        yrs = [int(y) for y in years]
        if not yrs:
            raise StochasticError("years: no year to simulate")
        return yrs
    for v in a.data.values():
        if "year" in v.dims and "year" in v.coords:
            return [int(y) for y in v["year"].values]
    raise StochasticError("simulate: the assumptions have no 'year' dim; give years=range(first, last + 1)")


def shocks(draws: int, years: int, *, seed, start: int = 0) -> np.ndarray:
    """Return standard normal shocks ``(draws, len(SHOCKS), years)`` of draws ``start … start + draws − 1``.

    Draw ``i`` uses ``default_rng(SeedSequence(seed).spawn(i + 1)[i])``, so a
    draw's shocks do not depend on how the draws are split into chunks.
    """
    children = np.random.SeedSequence(seed).spawn(start + draws)[start:]
    out = np.empty((draws, len(SHOCKS), years))
    for i, ss in enumerate(children):
        out[i] = np.random.default_rng(ss).standard_normal((len(SHOCKS), years))
    return out


def _e0_factor(death_risks, e0_dev):
    """Return k (dims of ``e0_dev`` ∪ the risks' year/scenario/sex dims) so that e0 moves by ``e0_dev``.

    The risks averaged over regions are turned into table risks; e0 of
    ``k · q`` on a grid of ``log k`` gives, by interpolation, the ``k`` whose
    life table has ``e0 = e0(1) + Δ`` (Δ = ``e0_dev``).
    """
    from .assumptions import _table_e0, _table_risks
    q = death_risks
    if "region" in q.dims:
        q = q.mean("region")
    keep = [d for d in q.dims if d != "age"]
    qt = _table_risks(q.transpose(*keep, "age"))
    g = xr.DataArray(_LOGK, dims="_logk")
    e0g = _table_e0(qt, np.exp(g))   # (the open group's own risk scaled too, kept below 1)
    e0g = e0g.transpose(..., "_logk").load()
    ref = e0g.isel(_logk=len(_LOGK) // 2, drop=True)
    target = ref + e0_dev

    def interp(t, grid):
        # e0 falls as log k rises: interpolate on the reversed grid
        return np.interp(t, grid[::-1], _LOGK[::-1])

    logk = xr.apply_ufunc(interp, target, e0g, input_core_dims=[[], ["_logk"]], vectorize=True,
                          output_dtypes=[float])
    return np.exp(logk)


def simulate(assumptions, *, draws, seed, years=None, model=None, chunks=None,
             parts=("fertility", "mortality", "migration"), first_draw=0):
    """Return assumptions with a ``draw`` dim of stochastic paths, for :func:`demokit.project`.

    Parameters
    ----------
    assumptions : Assumptions
        Annual assumptions (the centre; may carry ``scenario`` and ``year``).
    draws : int
        Number of draws (≥ 1).
    seed : int or sequence of int
        Seed of :class:`numpy.random.SeedSequence`; same seed → same draws.
    years : iterable of int, optional
        The projected years (default: the assumptions' ``year`` coordinate).
    model : StochasticModel, optional
        Default :func:`stochastic_model` (fitted to the embedded data).
    chunks : int, optional
        Draws per dask chunk: the changed assumptions become dask arrays
        chunked along ``draw`` and ``project`` runs lazily, one task per chunk.
        The draws are the same whatever the chunks.
    parts : sequence of {"fertility", "mortality", "migration"}
        Which assumptions vary (the others stay at the centre).
    first_draw : int, default 0
        Return draws ``first_draw … first_draw + draws − 1`` of the run with
        this seed (a worker of a cluster can make its own block of draws:
        docs/SCALEOUT.md).

    Returns
    -------
    Assumptions
        With a ``draw`` dim (coordinate ``first_draw`` …) on the changed variables;
        ``attrs["stochastic_paths"]`` (Dataset: ``tfr_deviation``,
        ``e0_deviation``, ``migration_factor``... by draw and year),
        ``attrs["stochastic_seed"]``, ``attrs["stochastic_draws"]``.

    Raises
    ------
    StochasticError
        ``draws < 1``, unknown ``parts``, assumptions that are not annual.

    Notes
    -----
    With shocks ``ε ~ N(0, 1)`` drawn per draw (``SHOCKS`` order), the
    centre's TFR ``F̄_{r,t} = Σ_x f_r(x, t)`` and e0 ``ē_t``:

    * TFR: ``z_t = φ z_{t−1} + σ ε_t``, ``z_0 = 0``; ``F_{r,t} = max(0, F̄_{r,t} + z_t)``;
      fertility rates × ``F_{r,t} / F̄_{r,t}`` (each region's TFR moves by the
      national deviation; the age pattern stays).
    * e0 (by sex): ``w_t = Σ_{s≤t} σ η_s`` (the drift is the centre's path;
      the sexes' ``η`` correlated by ``ρ``); death risks × ``k_t``, where the
      life table of ``k_t · q̄`` (q̄: the regions' mean risks as table risks)
      has ``e0 = ē_t + w_t``.
    * migration: ``m_t = φ m_{t−1} + σ ν_t``, ``m_0 = 0``; ``in_migration``
      and ``immigration`` totals × ``exp(m_t)`` (median 1), a net
      ``adjustment`` × ``(1 + m_t)``.

    Shocks are common to all regions and scenarios (national shocks).
    """
    from . import Assumptions
    if not isinstance(assumptions, Assumptions):
        raise StochasticError(f"assumptions: expected demokit.Assumptions, got {type(assumptions).__name__}")
    a = assumptions
    if a.kind != "annual":
        raise StochasticError("simulate: needs assumptions for the annual engine (death_risks=...)")
    if any("draw" in v.dims for v in a.data.values()):
        raise StochasticError("simulate: the assumptions already have a 'draw' dim")
    draws = int(draws)
    if draws < 1:
        raise StochasticError(f"draws={draws}: need at least one draw")
    bad = [p for p in parts if p not in ("fertility", "mortality", "migration")]
    if bad:
        raise StochasticError(f"parts: unknown {bad[0]!r}; expected 'fertility', 'mortality', 'migration'")
    if chunks is not None and int(chunks) < 1:
        raise StochasticError(f"chunks={chunks}: draws per chunk must be >= 1")
    m = model or stochastic_model()
    yrs = _years_of(a, years)
    ny = len(yrs)
    first_draw = int(first_draw)
    if first_draw < 0:
        raise StochasticError(f"first_draw={first_draw}: must be >= 0")
    eps = shocks(draws, ny, seed=seed, start=first_draw)
    coords = {"draw": np.arange(first_draw, first_draw + draws), "year": yrs}
    dims = ("draw", "year")

    def da(x):
        return xr.DataArray(x, dims=dims, coords=coords)

    paths = {}
    changes = {}
    if "fertility" in parts:
        z = da(m.tfr.paths(eps[:, 0]))
        ref = a.data["fertility"].sum("age")   # the TFR, Σ_x f(x), of each region (and year...)
        if "year" in ref.dims:
            ref = ref.sel(year=yrs)
        ref = ref.drop_vars([c for c in ref.coords if c not in ref.dims])
        fac = xr.where(ref > 0, (ref + z).clip(min=0.0) / ref.where(ref > 0), 1.0)   # no births: none drawn
        paths["tfr_deviation"] = z
        changes["fertility"] = fac
    if "mortality" in parts:
        rho = float(np.clip(m.e0_correlation, -1.0, 1.0))
        ef, em = eps[:, 1], rho * eps[:, 1] + np.sqrt(1 - rho ** 2) * eps[:, 2]
        w = xr.concat([da(m.life_expectancy["female"].paths(ef)), da(m.life_expectancy["male"].paths(em))],
                      dim=xr.DataArray(list(SEXES), dims="sex", name="sex"))
        q = a.data["death_risks"]
        if "year" in q.dims:
            q = q.sel(year=yrs)
        paths["e0_deviation"] = w
        changes["mortality"] = _e0_factor(q, w)
    mig, net = {}, None
    if "migration" in parts:
        for i, k in enumerate(("immigration", "in_migration"), start=3):
            if k in a.data and k in m.migration:
                x = da(m.migration[k].paths(eps[:, i]))
                paths[f"{k}_factor"] = np.exp(x)
                mig[k] = np.exp(x)
        if "adjustment" in a.data and "net_migration" in m.migration:
            net = 1 + da(m.migration["net_migration"].paths(eps[:, 5]))
            paths["net_migration_factor"] = net
    if chunks is not None:
        c = {"draw": int(chunks)}
        changes = {k: v.chunk(c) for k, v in changes.items()}
        mig = {k: v.chunk(c) for k, v in mig.items()}
        net = net.chunk(c) if net is not None else None
    out = _scaled(a, fertility=changes.get("fertility"), mortality=changes.get("mortality"),
                  migration=mig if mig else (None if net is None else {}), net_migration=net)
    new = a.replace(**out)
    new.attrs = dict(a.attrs)
    new.attrs["stochastic_paths"] = xr.Dataset(paths)
    new.attrs["stochastic_seed"] = str(seed)
    new.attrs["stochastic_draws"] = draws
    new.attrs["stochastic_model"] = ("TFR AR(1); e0 random walk with drift; migration totals AR(1) "
                                     "(demokit.stochastic, METHODS §14)")
    return new


# ---------------------------------------------------------------------- summary
def stochastic_summary(projection, *, quantiles=(0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95), employment_rates=None,
                       labour_ages=(20, 64), by_region=True, dim="draw"):
    """Return quantiles over draws of population, labour force, employment and dependency.

    Parameters
    ----------
    projection : Dataset
        :func:`demokit.project` of :func:`simulate`'s assumptions (a ``draw``
        dim; lazy or in memory).
    quantiles : sequence of float
        In [0, 1].
    employment_rates : DataArray, optional
        Employment rates by ``sex, age`` (see :func:`demokit.labour_force`);
        without them only ``population`` and ``labour_force`` are given.
    labour_ages : (int, int)
        The ages of the labour force (inclusive), default 20–64.
    by_region : bool, default True
        ``False`` sums the regions first (the national or county total).
    dim : str
        The dim of the draws.

    Returns
    -------
    xarray.Dataset
        Dims ``quantile`` plus the projection's other dims but ``sex``,
        ``age`` (``region`` only with ``by_region``): ``population``,
        ``labour_force`` (the population aged ``labour_ages``), and with
        ``employment_rates`` ``employed`` and ``economic_dependency_ratio``.

    Notes
    -----
    For each draw the totals are summed first, ``P = Σ_{s,x} P(s, x)``,
    ``L = Σ_{s, a ≤ x ≤ b} P``, ``E = Σ P · r``, ``EDR = (P − E) / E``; then
    the empirical quantiles over draws (numpy's ``linear`` rule).
    """
    if not isinstance(projection, xr.Dataset) or "population" not in projection:
        raise StochasticError("projection: expected the Dataset of demokit.project with 'population'")
    P = projection["population"]
    if dim not in P.dims:
        raise StochasticError(f"projection: no {dim!r} dim; project the assumptions of demokit.simulate")
    q = np.asarray(quantiles, dtype=float)
    if q.ndim != 1 or q.size == 0 or ((q < 0) | (q > 1)).any():
        raise StochasticError(f"quantiles={quantiles!r}: expected values in [0, 1]")
    T = draw_totals(projection, employment_rates=employment_rates, labour_ages=labour_ages, dim=dim)
    if not by_region and "region" in T.dims:
        T = T.sum("region", keep_attrs=True)
    return quantiles_of(T, q, dim=dim, labour_ages=labour_ages)


def draw_totals(projection, *, employment_rates=None, labour_ages=(20, 64), dim="draw") -> xr.Dataset:
    """Return each draw's totals over sex and age (computed: small), the input of the quantiles.

    ``population``, ``labour_force`` (ages ``labour_ages``), and with
    ``employment_rates`` ``employed``; dims ``draw`` and the projection's
    others but ``sex``, ``age``.  A lazy projection is computed once here.
    """
    P = projection["population"]
    lo, hi = (int(x) for x in labour_ages)
    out = {"population": P.sum(["sex", "age"]),
           "labour_force": P.where((P["age"] >= lo) & (P["age"] <= hi), 0.0).sum(["sex", "age"])}
    if employment_rates is not None:
        from .labour import labour_force
        out["employed"] = labour_force(P, employment_rates)["employed"].sum(["sex", "age"])
    T = xr.Dataset(out)
    if is_dask(T["population"]):
        T = T.compute()
    T.attrs["draws"] = int(P.sizes[dim])
    return T


def quantiles_of(totals, q, *, dim="draw", labour_ages=(20, 64)) -> xr.Dataset:
    """Return the quantiles over ``dim`` of :func:`draw_totals` (adding the economic dependency ratio)."""
    ds = totals.copy()
    if "employed" in ds:
        ds["economic_dependency_ratio"] = (ds["population"] - ds["employed"]) / ds["employed"]
    res = ds.quantile(np.asarray(q, dtype=float), dim=dim)
    lo, hi = (int(x) for x in labour_ages)
    attrs = {"population": "population at the end of the year, all ages",
             "labour_force": f"population aged {lo}-{hi} (labour-force ages)",
             "employed": "gainfully employed (employment rates x population)",
             "economic_dependency_ratio": "not employed per employed person"}
    for k in res.data_vars:
        res[k].attrs["long_name"] = attrs[k]
    res.attrs = {"draws": int(totals.sizes[dim]), "method": "empirical quantiles over draws (METHODS §14)"}
    return res
