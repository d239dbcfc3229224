"""Projection assumptions: the checked container and its estimation from history (METHODS §6).

:class:`Assumptions` holds the inputs of a projection as xarray objects; each
may carry ``year``, ``scenario``, ``draw`` or any other extra dim, which
broadcast.  The annual engine's inputs follow the component table
(:data:`demokit.components.COMPONENTS`).  :func:`from_history` estimates them
from a cube's recent history (the statistical basis, METHODS §3–§5), with
user paths and named scenarios, which become a ``scenario`` dim.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._apply import is_dask
from ._kernels.lifetable import _OPEN_Q_MAX
from ._periods import as_years, select_years
from .components import COMPONENTS, by_kind
from .cube import SEXES, CubeError, DemokitError, first_cell, format_cell, validate_period
from .lexis import check_shares, to_convention
from .scenarios import _e0_scaling, path, tfr_of

__all__ = ["AssumptionError", "Assumptions", "BOYS_SHARE", "SCENARIO_KEYS", "from_history"]

#: what a scenario may override
SCENARIO_KEYS = ("tfr", "life_expectancy", "in_migration", "immigration", "in_migration_scale",
                 "immigration_scale", "fertility_scale", "mortality_scale")


#: SCB's share of boys among live births (about 0.513; METHODS §4)
BOYS_SHARE = 0.513

_CELL = ("year", "region", "sex", "age")
_REGION = ("year", "region")
_FERT = ("year", "region", "age")
# the annual kernel's layout: region last (see demokit._kernels.projection)
_CELL_A = ("year", "sex", "age", "region")
_FERT_A = ("year", "age", "region")

#: the annual engine's inputs: name → (core dims, kind of check), from the component table
_ANNUAL = {}
for _c in COMPONENTS:
    if _c.kind == "births":
        _ANNUAL[_c.key] = (_FERT_A, "rate")
        _ANNUAL["boys_share"] = (_REGION, "risk")
    elif _c.kind == "exit":
        _ANNUAL[_c.key] = (_CELL_A, "risk")
    elif _c.kind == "pool":
        _ANNUAL[_c.key] = (_CELL_A, "share")        # closed system: shares of the pool
        _ANNUAL[_c.name] = (_REGION, "count")       # open system: totals ...
        _ANNUAL[_c.profile] = (_CELL_A, "profile")  # ... by a sex-age profile
    elif _c.kind == "entry":
        _ANNUAL[_c.key] = (_REGION, "count")
        _ANNUAL[_c.profile] = (_CELL_A, "profile")
_ANNUAL["adjustment"] = (_CELL_A, "signed")
#: the exit risks (they sum to at most 1) and the entries' profiles
_EXITS = tuple(c.key for c in by_kind("exit"))
_PROFILES = tuple(c.profile for c in COMPONENTS if c.profile)
_NYEAR = {
    "survival": (_CELL, "risk"),
    "fertility": (_FERT, "rate"),
    "net_migration": (_CELL, "signed"),
    "boys_share": (_REGION, "risk"),
}
_TOL = 1e-6


class AssumptionError(DemokitError, ValueError):
    """Projection assumptions that are incomplete, inconsistent or impossible."""


def _as_input(value, name):
    if value is None:
        return None
    if isinstance(value, xr.DataArray):
        return value.rename(name)
    if np.isscalar(value):
        return xr.DataArray(float(value), name=name)
    raise AssumptionError(f"{name}: expected an xarray.DataArray or a number, got {type(value).__name__}")


def _first_cell(name, da, mask):
    idx = first_cell(mask)
    from .cube import format_cell
    return format_cell(name, da, idx)


class Assumptions:
    """Return a container of projection assumptions (xarray objects, checked).

    Two kinds, chosen by the inputs given:

    **Annual** (single years of age, one-year steps; METHODS §6), all interval
    risks indexed by the age at the END of the year (age 0 = born in the year):

    Parameters
    ----------
    death_risks, out_migration_risks, emigration_risks : DataArray
        Dims ``sex, age`` and optionally ``region``, ``year`` and extra dims.
        ``out_migration_risks`` / ``emigration_risks`` default to 0.
    in_migration_shares : DataArray, optional
        Closed system: each region's share of the country's pool of internal
        out-movers by sex and age (dims ``region, sex, age``; sums to 1 over ``region``).
    in_migration, in_migration_profile : DataArray, optional
        Open system: in-movers per year per region (dims ``region``, optionally
        ``year``, ``scenario``...) spread by the region's in-mover profile
        (dims ``region, sex, age``; sums to 1 over ``sex, age``).  With
        ``balance_in_migration=True`` the totals (e.g. a housing plan) are
        balanced against the pool of out-movers (see Notes).
    immigration, immigration_profile : DataArray, optional
        Immigrants per year per region and their sex-age profile (default 0).
    fertility : DataArray
        Births per woman per year by the mother's age at the end of the year
        (dims ``age``, optionally ``region``, ``year``...; ages not given are 0).
    boys_share : float or DataArray, default 0.513
        Share of boys among births.
    adjustment : DataArray, optional
        Assumed adjustment term (persons), default 0.
    **components : DataArray
        The other rows of :data:`demokit.components.COMPONENTS`, e.g.
        ``emigration_unknown_risks`` (emigrants to an unknown country:
        deregistrations), dims as the death risks.  An unknown name is an
        error.

    **n-year** (the textbook variant, ``project(..., step=n)``):

    survival : DataArray
        Survival ratios indexed by the age group reached at the end of the step
        (the first group takes the births; the open group applies to the last
        two groups together).
    net_migration : DataArray, optional
        Net migrants per step by age group (persons), default 0.
    migration_timing : {"even", "end"}
        ``"even"``: half at the start of the step (survived, and counted in
        the women exposed to fertility) and half at the end; ``"end"``: all at
        the end.
    balance_in_migration : bool, default False
        Closed system with in-mover totals: allocate the pool of out-movers to
        the regions so that each gets about its ``in_migration`` total (IPF).

    Raises
    ------
    AssumptionError
        Missing or mixed kinds, risks outside [0, 1], ``q + u + e > 1``, shares
        or profiles that do not sum to 1, naming the variable and cell.

    Notes
    -----
    Dask-backed assumptions are checked for dims only (their values are not
    scanned, so that they stay lazy).  ``.internal_migration`` is ``"closed"``
    (pool allocated by shares: ``I_r = Σ_r' O_r' · w_r``), ``"open"`` (assumed
    totals × profile), ``"balanced"`` or ``"none"``.

    ``balance_in_migration=True`` (a closed system with a housing plan): the
    in-mover totals ``T_r`` (``in_migration``) are spread by each region's
    profile ``π_r`` and balanced each year against the country's pool of
    out-movers by iterative proportional fitting: ``M_r(s, x)`` starts at
    ``T_r · π_r(s, x)``; columns are scaled to the pool ``Σ_r' O_r'(s, x)``, rows
    to ``T_r · Σ O / Σ T``, until the rows agree to 1e-10 (at most 1,000
    rounds), columns last, so ``Σ_r I_r(s, x) = Σ_r O_r(s, x)`` exactly.  The
    newborns' in-movers (age 0, whose pool exists only after the births) are
    allocated by ``T_r · π_r(s, 0)`` normalised over regions.
    """

    def __init__(self, *, death_risks=None, out_migration_risks=None, emigration_risks=None,
                 in_migration_shares=None, in_migration=None, in_migration_profile=None,
                 immigration=None, immigration_profile=None, fertility=None,
                 boys_share=BOYS_SHARE, adjustment=None, survival=None, net_migration=None,
                 migration_timing="even", balance_in_migration=False, attrs=None, **components):
        unknown = sorted(k for k in components if k not in _ANNUAL)
        if unknown:
            raise AssumptionError(f"unknown assumption {unknown[0]!r}; the annual engine takes {', '.join(_ANNUAL)}")
        given = {"death_risks": death_risks, "out_migration_risks": out_migration_risks,
                 "emigration_risks": emigration_risks, "in_migration_shares": in_migration_shares,
                 "in_migration": in_migration, "in_migration_profile": in_migration_profile,
                 "immigration": immigration, "immigration_profile": immigration_profile,
                 "fertility": fertility, "boys_share": boys_share, "adjustment": adjustment,
                 "survival": survival, "net_migration": net_migration, **components}
        self.data = {k: _as_input(v, k) for k, v in given.items() if v is not None}
        self.attrs = dict(attrs or {})
        if migration_timing not in ("even", "end"):
            raise AssumptionError(f"migration_timing={migration_timing!r}; expected 'even' or 'end'")
        self.migration_timing = migration_timing
        annual = death_risks is not None
        nyear = survival is not None
        if annual and nyear:
            raise AssumptionError("give either death_risks (annual engine) or survival (n-year variant), not both")
        if not (annual or nyear):
            raise AssumptionError("missing death_risks (annual engine) or survival (n-year variant)")
        if fertility is None:
            raise AssumptionError("missing fertility (births per woman per year by mother's age)")
        self.kind = "annual" if annual else "nyear"
        spec = _ANNUAL if annual else _NYEAR
        extra = sorted(k for k in self.data if k not in spec)
        if extra:
            raise AssumptionError(f"{', '.join(extra)} not used by the {self.kind} engine "
                                  f"(it takes {', '.join(spec)})")
        if annual:
            if in_migration_shares is not None and in_migration is not None:
                raise AssumptionError("give in_migration_shares (closed system) or in_migration "
                                      "(open system: totals spread by in_migration_profile), not both")
            if balance_in_migration and (in_migration is None or in_migration_profile is None):
                raise AssumptionError("balance_in_migration=True needs in_migration totals (e.g. a housing "
                                      "plan) and in_migration_profile, in place of in_migration_shares")
            if in_migration_shares is not None:
                self.internal_migration = "closed"
            elif in_migration is not None:
                if in_migration_profile is None:
                    raise AssumptionError("in_migration (open system) needs in_migration_profile")
                self.internal_migration = "balanced" if balance_in_migration else "open"
                if balance_in_migration and out_migration_risks is None:
                    raise AssumptionError("balance_in_migration=True balances the in-mover totals against "
                                          "the pool of out-movers: give out_migration_risks")
            else:
                if out_migration_risks is not None:
                    raise AssumptionError(
                        "out_migration_risks given without in-movers: give in_migration_shares "
                        "(closed system) or in_migration with in_migration_profile (open system)")
                self.internal_migration = "none"
            for c in by_kind("entry"):
                if (c.key in self.data) != (c.profile in self.data):
                    raise AssumptionError(f"{c.key} and {c.profile} go together")
        else:
            self.internal_migration = "net"
        self._check()

    # ------------------------------------------------------------------ checks
    def _check(self):
        spec = _ANNUAL if self.kind == "annual" else _NYEAR
        for name, da in self.data.items():
            core, kind = spec[name]
            need = {"risk": ("age",), "share": ("region",), "profile": ("region", "sex", "age"),
                    "count": ("region",), "rate": ("age",), "signed": ("age",)}[kind]
            if name == "boys_share":
                need = ()
            if kind == "share":
                need = ("region", "sex", "age")
            missing = [d for d in need if d not in da.dims]
            if missing:
                raise AssumptionError(f"{name} lacks dim(s) {', '.join(map(repr, missing))}; it has {da.dims}")
            forbid = [d for d in ("region", "sex", "age", "year") if d in da.dims and d not in core]
            if forbid:
                raise AssumptionError(f"{name} must not have dim(s) {', '.join(map(repr, forbid))} "
                                      f"(its dims are among {core} plus extra dims)")
            if "sex" in da.dims:
                bad = [s for s in da["sex"].values.tolist() if s not in SEXES]
                if bad:
                    raise AssumptionError(f"{name}: unknown sex {bad[0]!r}; expected 'female' and 'male'")
            if is_dask(da):
                continue
            v = np.asarray(da.values, dtype=float)
            if not np.isfinite(v).all():
                raise AssumptionError(f"{_first_cell(name, da, ~np.isfinite(v))}: must be a finite number")
            if kind in ("risk", "share", "profile"):
                bad = (v < 0) | (v > 1)
                if bad.any():
                    raise AssumptionError(f"{_first_cell(name, da, bad)}: must lie in [0, 1]")
            elif kind in ("count", "rate") and (v < 0).any():
                raise AssumptionError(f"{_first_cell(name, da, v < 0)}: must be >= 0")
        d = self.data
        if self.kind == "annual":
            exits = [k for k in _EXITS if k in d]
            tot = sum((d[k] for k in exits[1:]), d[exits[0]])
            if not is_dask(tot):
                bad = tot.values > 1 + 1e-12
                if bad.any():
                    raise AssumptionError(
                        f"{_first_cell(' + '.join(exits), tot, bad)}"
                        ": the risks of leaving a cohort must sum to at most 1")
            if self.internal_migration == "balanced" and not is_dask(d["in_migration"]):
                s = d["in_migration"].sum("region") if "region" in d["in_migration"].dims else d["in_migration"]
                bad = s.values <= 0
                if np.any(bad):
                    raise AssumptionError(f"{_first_cell('in_migration summed over region', s, bad)}: the "
                                          "in-mover totals to balance against the pool must not all be 0")
            if "in_migration_shares" in d and not is_dask(d["in_migration_shares"]):
                s = d["in_migration_shares"].sum("region")
                bad = np.abs(s.values - 1) > _TOL
                if bad.any():
                    raise AssumptionError(f"{_first_cell('in_migration_shares summed over region', s, bad)}"
                                          ": shares must sum to 1 over 'region'")
            for k in _PROFILES:
                if k in d and not is_dask(d[k]):
                    s = d[k].sum(("sex", "age"))
                    bad = np.abs(s.values - 1) > _TOL
                    if bad.any():
                        raise AssumptionError(f"{_first_cell(k + ' summed over sex and age', s, bad)}"
                                              ": a profile must sum to 1 over 'sex' and 'age'")

    # ------------------------------------------------------------------ views
    def __getitem__(self, name):
        return self.data[name]

    def __contains__(self, name):
        return name in self.data

    def __getattr__(self, name):
        data = self.__dict__.get("data", {})
        if name in data:
            return data[name]
        raise AttributeError(name)

    def replace(self, **changes) -> Assumptions:
        """Return a copy with some assumptions replaced (``None`` removes one)."""
        changes = dict(changes)
        timing = changes.pop("migration_timing", self.migration_timing)
        balance = changes.pop("balance_in_migration", None)
        kw = dict(self.data)
        kw.update(changes)
        kw = {k: v for k, v in kw.items() if v is not None}
        if balance is None:
            # keep the housing-plan mode while its totals stay (dropping them drops the mode)
            balance = (self.internal_migration == "balanced" and "in_migration" in kw
                       and "in_migration_shares" not in kw)
        return Assumptions(**kw, migration_timing=timing, balance_in_migration=balance, attrs=self.attrs)

    def to_dataset(self) -> xr.Dataset:
        """Return the assumptions as one Dataset (for inspection or NetCDF)."""
        ds = xr.Dataset({k: v for k, v in self.data.items()})
        ds.attrs.update(self.attrs, kind=self.kind, internal_migration=self.internal_migration)
        if self.kind == "nyear":
            ds.attrs["migration_timing"] = self.migration_timing
        return ds

    def __repr__(self):
        lines = [f"<demokit.Assumptions kind={self.kind!r} internal_migration={self.internal_migration!r}>"]
        for k, v in self.data.items():
            lines.append(f"  {k}: dims {v.dims} shape {v.shape}")
        return "\n".join(lines)

    @classmethod
    def from_history(cls, ds, *, years, **options):
        """Return :class:`Assumptions` estimated from a cube's history (see :func:`from_history`)."""
        return from_history(ds, years=years, **options)



# ---------------------------------------------------------------------- from history
def _births_by_sex(ds):
    b = ds["births"]
    if "age" in b.dims:
        b = b.sum("age")
    if "sex" not in b.dims:
        raise CubeError("births need a 'sex' dim (sex of the child) to estimate age-0 risks")
    return b


#: event → the reference schedule whose shape its risks borrow (from the component table)
_SCHEDULE = {c.name: c.reference for c in by_kind("exit")}


def _risk(events, at_risk, name, smoothing, ref, old_age, clamped):
    """Return interval risks of event ``name``: small-area estimates against the reference schedule.

    ``events`` and ``at_risk`` are the period's sums by year-end age
    (:func:`demokit.migration.interval_parts`).
    """
    from .small_area import small_area_rates
    res = small_area_rates(events, at_risk, ref[_SCHEDULE[name]], link="logit", smoothing=smoothing,
                           old_age=old_age, name=name, warn=False)
    clamped[name] = res.attrs["clamped_cells"]
    q = res["rate"].transpose(*events.dims)
    q.attrs = {"units": "1", "method": res.attrs["method"], "index": "age = age at the end of the year"}
    return q, res["index"]


def _fertility(ds, years, smoothing, ref, clamped):
    """Return fertility rates by mother's year-end age: small-area estimates against the reference rates."""
    from .fertility import fertility_parts
    from .small_area import small_area_rates
    B, W, *_ = fertility_parts(ds, years=years)
    fref = ref["fertility_rate"].reindex(age=B["age"].values, fill_value=0.0)
    fertile = ((fref > 0) | (B.sum([d for d in B.dims if d != "age"]) > 0)).values
    ages = B["age"].values[fertile]
    res = small_area_rates(B.sel(age=ages), W.sel(age=ages), fref.sel(age=ages), link="log",
                           smoothing=smoothing, old_age=None, name="births", warn=False)
    clamped["births"] = res.attrs["clamped_cells"]
    f = res["rate"].reindex(age=B["age"].values, fill_value=0.0).fillna(0.0).transpose(*B.dims)
    f = f.drop_vars("sex", errors="ignore")
    f.attrs = {"units": "births per woman per year", "method": res.attrs["method"] + " (log link)"}
    return f


def _as_sex_da(value, name):
    if isinstance(value, dict):
        other = [k for k in value if k not in SEXES]
        if other:   # (e.g. a 'total' target: it was ignored, silently)
            raise AssumptionError(f"{name}: unknown key {other[0]!r}; give a value for 'female' and 'male'")
        miss = [s for s in SEXES if s not in value]
        if miss:
            raise AssumptionError(f"{name}: give a value for each sex; missing {miss[0]!r}")
        vals = [value[s] for s in SEXES]
        if all(isinstance(v, xr.DataArray) for v in vals):
            return xr.concat(vals, dim=xr.DataArray(list(SEXES), dims="sex", name="sex"))
        return xr.DataArray([float(v) for v in vals], dims="sex", coords={"sex": list(SEXES)})
    if isinstance(value, xr.DataArray):
        if "sex" not in value.dims:
            raise AssumptionError(f"{name}: needs a 'sex' dim (or a dict by sex)")
        return value
    raise AssumptionError(f"{name}: expected a dict by sex or a DataArray with a 'sex' dim")


def _as_da(value, name):
    if isinstance(value, xr.DataArray):
        return value
    if np.isscalar(value):
        return xr.DataArray(float(value))
    if isinstance(value, dict):
        raise AssumptionError(f"{name}: use demokit.scenarios.path({{year: value}}, years=...) for a path")
    raise AssumptionError(f"{name}: expected a number or a DataArray")


def from_history(ds, *, years, smoothing="relational", system=None, tfr=None, life_expectancy=None,
                 in_migration=None, immigration=None, boys_share=None, scenarios=None,
                 lower_share=0.5, infant_lower_share=0.9, reference="sweden", old_age=90,
                 open_age=None, mortality_trend=None, projection_years=None, mortality_years="auto"):
    """Return :class:`~demokit.Assumptions` estimated from a cube's recent history.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with ``population``, ``births`` (by mother's age, ``sex`` of the
        child), ``deaths`` and, for ``system="open"``/``"closed"``, the gross
        flows ``in_migration``, ``out_migration``, ``immigration``,
        ``emigration`` (e.g. ``dk.datasets.load("norrbotten")``).  An
        optional ``origin`` dim (birth-region groups, the group born in the
        country first, e.g. ``dk.datasets.load("lulea_birth_region")``) gives
        each group its own migration assumptions, with death risks and
        fertility pooled and totals given shared out to the groups (METHODS
        §6.3; ``system="net"`` and a closed system with a plan are rejected).
    years : iterable of int
        The statistical period (e.g. ``range(2015, 2020)``); the population of
        the year before the first is needed too.
    smoothing : str or None, default "relational"
        Method of :func:`demokit.smooth` for the death, out-migration and
        emigration risks (logit link), the fertility rates (log link) and the
        in-mover and immigrant profiles, each region relative to the
        ``reference`` schedule (small-area estimation,
        :func:`demokit.small_area_rates`); ``None`` keeps the observed ratios
        (the oldest ages still pooled from ``old_age``).
    reference : "sweden", "pooled" or xarray.Dataset
        The reference schedules (:func:`demokit.reference_schedules`):
        ``"sweden"`` (default) the country's, shipped with demokit, so that a
        single small municipality can be estimated from its own files;
        ``"pooled"`` the sum of the cube's regions; or a reference cube (a
        county, the country).
    old_age : int or None
        From this age up the ages are pooled into one index with the
        reference's shape (default 90); ``None`` fits every age.  Above the
        open age (after ``open_age``) the open age group alone is pooled: it
        holds the persons aged ``old_age`` and over.
    open_age : int, optional
        Fold the ages from here up into an open age group first
        (:func:`demokit.with_open_age`); the projection folds its start
        population to match.
    mortality_trend : None, "lee_carter" or xarray.Dataset
        Death risks that fall over the projection: ``"lee_carter"`` applies
        Sweden's Lee–Carter improvement (:func:`demokit.sweden_lee_carter`,
        HMD 1990–2014) to each region's own risks from the middle of the
        statistical period on (:func:`demokit.improvement_factors`); a
        Dataset is a user's own Lee–Carter fit.  Needs ``projection_years``.
        A ``life_expectancy`` target replaces the trend where it is given.
    mortality_years : "auto", None or sequence of int
        The years of the death risks: ``"auto"`` (default) lengthens the
        period backwards (at most ten years in all, as far as the cube reaches)
        until every region has at least 200 deaths of each sex — pooling years
        where deaths are thin; ``None`` uses ``years``; or the years themselves.
    projection_years : sequence of int, optional
        The projected years, for the trend and for paths given as
        ``{year: value}`` mappings (linear between the given years).
    system : {"open", "closed", "net"}, optional
        ``"open"`` (default with gross flows): in-movers and immigrants are the
        period's average yearly totals per region spread by the region's
        age-sex profile; ``"closed"``: in-movers are allocated from the pool of
        out-movers by each region's share of in-movers; ``"net"`` (default
        without gross flows): the average balance residual (net migration plus
        adjustment) per cell is the assumed ``adjustment``.
    tfr : float or DataArray, optional
        TFR path: scales the fertility rates of all regions by one factor so
        that the pooled rates reach ``tfr`` (dims ``year``, ``scenario``...; with
        a ``region`` dim each region's own TFR is set).
    life_expectancy : dict by sex or DataArray with ``sex``, optional
        e0 path: the death risks are multiplied by the factor ``k`` at which
        the pooled period life table (table risks × k) reaches it.
    in_migration, immigration : float, dict or DataArray, optional
        In-mover / immigrant totals per year replacing the average of the
        period (e.g. from a housing plan): a number is the total of all
        regions, shared by the regions' in-movers of the period (never copied
        to every region); a dict ``{region: number or {year: number}}`` or a
        DataArray with a ``region`` dim gives each region its own (regions
        left out keep the period's average).  In a
        closed system, in-mover totals (here or in any scenario) switch every
        scenario to the balanced mode: the totals (the period's average where
        a scenario gives none) are spread by each region's in-mover profile
        and balanced each year against the country's pool of out-movers by
        IPF (``Assumptions(balance_in_migration=True)``).
    boys_share : float, optional
        Default: the period's share of boys among births.
    scenarios : dict, optional
        ``{"low": {...}, "main": {...}, "high": {...}}``, each with keys among
        :data:`SCENARIO_KEYS` (``tfr``, ``life_expectancy``, ``in_migration``,
        ``immigration``, and multipliers ``in_migration_scale``,
        ``immigration_scale``, ``fertility_scale``, ``mortality_scale``);
        assumptions that differ get a ``scenario`` dim.

    Returns
    -------
    Assumptions
        Annual assumptions; ``attrs`` hold the period, the smoothing, the
        observed TFR and e0 (``tfr_observed``, ``e0_observed_female``...), and
        ``attrs["tfr"]`` / ``attrs["life_expectancy"]`` (DataArrays) give the
        assumed paths.

    Notes
    -----
    Risks: ``q(x) = Σ_t D_ye(x, t) / Σ_t P(x−1, t−1)`` (births at age 0), the
    same for out-movers ``O`` and emigrants ``EM`` (METHODS §3.1, §5.1).
    Fertility: ``f(x) = Σ_t B(x, t) / Σ_t M_coh,women(x, t)`` (§4).  Open
    system: ``I_tot = Σ_t Σ_{s,x} I / T``, profile ``Σ_t I(s, x) / Σ_t Σ I``
    (§5.2), likewise immigrants.  Closed: ``w_r(s, x) = Σ_t I_r / Σ_r Σ_t I_r``.
    """

    check_shares(lower_share=lower_share, infant_lower_share=infant_lower_share, boys_share=boys_share)
    if "origin" in ds.dims:
        kw = {k: v for k, v in locals().items() if k not in ("ds", "years")}
        return _from_history_by_origin(ds, years=years, **kw)
    from .regions import pool
    from .small_area import reference_schedules, with_open_age
    yrs = as_years(years)
    system, smoothing = _check_history(ds, yrs, system, smoothing)
    if open_age is not None:
        ds = with_open_age(ds, open_age)
    w = int(ds["age"].values.max())
    if old_age is not None and old_age > w:   # the open age group holds the persons aged old_age and over
        old_age = w
    if isinstance(reference, str) and reference == "pooled":
        ref = reference_schedules(yrs, reference=pool(ds) if "region" in ds.dims else ds)
    else:
        ref = reference_schedules(yrs, reference=reference)
    ref = _fold_reference(ref, w)
    pyears = None if projection_years is None else [int(y) for y in as_years(projection_years)]
    clamped = {}
    # ---------------------------------------------------------- statistical basis
    myrs = _mortality_years(ds, yrs, mortality_years)
    from .migration import interval_parts_of
    kw = {"lower_share": lower_share, "infant_lower_share": infant_lower_share}
    # the period's events and population at risk (one population at risk for all the exits of the period)
    exit_names = [c.name for c in by_kind("exit") if c.name != "deaths" and c.name in ds] if system in (
        "open", "closed") else []
    parts = {}
    if myrs != [int(y) for y in yrs]:
        parts["deaths_myrs"] = interval_parts_of(ds, ["deaths"], years=myrs, **kw)[0]["deaths"]
    parts.update(interval_parts_of(ds, ["deaths", *exit_names], years=yrs, **kw)[0])
    q, death_index = _risk(*parts.get("deaths_myrs", parts["deaths"]), "deaths", smoothing, ref, old_age, clamped)
    f = _fertility(ds, yrs, smoothing, ref, clamped)
    b = _births_by_sex(select_years(ds, yrs))
    if boys_share is None:
        boys_share = float(b.sel(sex="male").sum() / b.sum())
    base = {"death_risks": q, "fertility": f, "boys_share": boys_share}
    if system in ("open", "closed"):
        _gross_migration_basis(base, ds, yrs, parts, smoothing, ref, old_age, clamped,
                               wants_plan=system == "open" or in_migration is not None or any(
                                   k in (opts or {}) for opts in (scenarios or {}).values()
                                   for k in ("in_migration", "in_migration_scale")))
    else:
        base["adjustment"] = _net_adjustment(ds, yrs)
    q_table, e0_obs, tfr_obs = _observed_summaries(ds, yrs, q, parts["deaths"][1], ref)
    attrs = {"years": f"{int(yrs[0])}-{int(yrs[-1])}", "mortality_years": f"{myrs[0]}-{myrs[-1]}",
             "smoothing": str(smoothing), "system": system,
             "tfr_observed": tfr_obs, "boys_share": float(boys_share),
             "e0_observed_female": float(e0_obs.sel(sex="female")),
             "e0_observed_male": float(e0_obs.sel(sex="male")),
             "reference": ref.attrs["source"], "reference_years": ref.attrs["years"],
             "old_age": -1 if old_age is None else int(old_age), "open_age": w,
             **_clamped_attrs(clamped, stacklevel=4)}
    # ---------------------------------------------------------- mortality trend
    attrs["mortality_trend"] = _mortality_trend(base, mortality_trend, q, q_table, myrs, pyears)
    # ---------------------------------------------------------- overrides and scenarios
    common = {"tfr": tfr, "life_expectancy": life_expectancy, "in_migration": in_migration, "immigration": immigration}
    ctx = {"q_table": q_table, "tfr_obs": tfr_obs, "e0_obs": e0_obs, "system": system, "years": pyears}
    variables = _scenario_variables(base, ctx, common, scenarios) if scenarios else \
        _apply(base, ctx, common, where="from_history")
    paths = {k: variables.pop(k) for k in ("_tfr", "_e0")}
    balanced = system == "closed" and "in_migration" in variables
    if balanced:
        attrs["internal_migration"] = "closed, in-mover totals balanced against the pool (IPF)"
    a = Assumptions(**variables, balance_in_migration=balanced, attrs=attrs)
    a.attrs["tfr"] = paths["_tfr"]
    a.attrs["life_expectancy"] = paths["_e0"]
    a.attrs["death_risk_index"] = death_index
    return a


def _observed_summaries(ds, yrs, q, at_risk, ref):
    """The table risks (interval risks pooled over regions by the persons at risk), their e0 by sex, and the
    observed TFR of the regions pooled."""
    from .regions import pool
    q_table = _pooled_table_risks(q, at_risk)
    e0_obs = _table_e0(q_table)
    pooled = pool(ds) if "region" in ds.dims else ds
    tfr_obs = float(tfr_of(_fertility(pooled, yrs, None, ref, {})))
    return q_table, e0_obs, tfr_obs


def _check_history(ds, yrs, system, smoothing):
    """The migration system (default: open if the cube has the gross flows, else net) and the smoothing
    (``False``/``"none"`` → ``None``) of :func:`from_history`; named errors for every variable it uses."""
    has_flows = all(v in ds for v in ("in_migration", "out_migration", "immigration", "emigration"))
    if system is None:
        system = "open" if has_flows else "net"
    if system not in ("open", "closed", "net"):
        raise AssumptionError(f"system={system!r}; expected 'open', 'closed' or 'net'")
    if system in ("open", "closed") and not has_flows:
        missing = [v for v in ("in_migration", "out_migration", "immigration", "emigration") if v not in ds]
        raise CubeError(f"system={system!r} needs gross migration flows; the cube lacks {missing} "
                        "(use system='net' to carry the balance residual as the adjustment term)")
    if smoothing in (False, "none"):
        smoothing = None
    need = ["population", "births", "deaths"] + (
        ["in_migration", "out_migration", "immigration", "emigration"] if system in ("open", "closed") else [])
    miss = [v for v in need if v not in ds.data_vars]
    if miss:
        raise CubeError(f"from_history needs {miss[0]!r}; the cube has {sorted(ds.data_vars)}")
    # every variable used, over the period and the year before it: named errors before any estimation
    validate_period(select_years(ds[need], yrs, need_previous=True).assign_attrs(ds.attrs))
    return system, smoothing


def _gross_migration_basis(base, ds, yrs, parts, smoothing, ref, old_age, clamped, *, wants_plan):
    """Add the open/closed system's migration assumptions to ``base``: the exit risks (their sum kept ≤ 1),
    the in-mover totals and profile (or, closed without a plan, the shares of the pool) and the immigrants'."""
    exits = ["death_risks"]
    for c in by_kind("exit"):   # every exit the cube has (optional ones, e.g. to an unknown country)
        if c.name != "deaths" and c.name in ds:
            base[c.key], _ = _risk(*parts[c.name], c.name, smoothing, ref, old_age, clamped)
            exits.append(c.key)
    tot = sum((base[k] for k in exits[1:]), base[exits[0]])
    over = tot > 1
    if bool(over.any()):   # tiny cells: keep the cohort non-negative, scale the risks down
        clamped["risk_sum"] = int(over.sum())
        for k in exits:
            base[k] = xr.where(over, base[k] / tot, base[k])
    sub = select_years(ds, yrs)
    T = len(yrs)
    I = to_convention(sub["in_migration"], "year_end").sum("year")  # noqa: E741
    IM = to_convention(sub["immigration"], "year_end").sum("year")
    if wants_plan:
        # open, or closed with in-mover totals (a housing plan): totals × profile, balanced against the pool
        base["in_migration"] = I.sum(("sex", "age")) / T
        base["in_migration_profile"] = _smoothed_profile(I, ref["in_migration_profile"], smoothing,
                                                         old_age, "in_migration")
    else:
        base["in_migration_shares"] = _shares(I)
    base["immigration"] = IM.sum(("sex", "age")) / T
    base["immigration_profile"] = _smoothed_profile(IM, ref["immigration_profile"], smoothing, old_age,
                                                    "immigration")


def _net_adjustment(ds, yrs):
    """The net system's adjustment term: the period's mean of net migration and adjustment (the balance residual)."""
    from .accounting import balance, net_migration
    bal = balance(select_years(ds, yrs, need_previous=True)[
        [v for v in ("population", "births", "deaths", "in_migration", "out_migration", "immigration",
                     "emigration") if v in ds]])
    bal = bal.sel(year=yrs)
    resid = bal["net_migration_and_adjustment"] if "net_migration_and_adjustment" in bal else (
        net_migration(bal) + bal["adjustment"])
    return resid.mean("year")


def _mortality_trend(base, mortality_trend, q, q_table, myrs, pyears):
    """Add the Lee-Carter improved risks ``_q_trend`` and their e0 ``_e0_trend`` to ``base``; return the attr text."""
    if mortality_trend is None or mortality_trend is False or mortality_trend == "none":
        return "none (constant risks)"
    from .trends import improvement_factors, sweden_lee_carter
    if pyears is None:
        raise AssumptionError("mortality_trend needs projection_years (the years the risks must cover)")
    if isinstance(mortality_trend, str):
        if mortality_trend not in ("lee_carter", "lee-carter"):
            raise AssumptionError(f"mortality_trend = {mortality_trend!r}: expected 'lee_carter', None or a "
                                  "Lee-Carter fit (xarray.Dataset)")
        lc = sweden_lee_carter()
    elif isinstance(mortality_trend, xr.Dataset) and {"b", "drift"} <= set(mortality_trend.data_vars):
        lc = mortality_trend
    else:
        raise AssumptionError("mortality_trend: expected 'lee_carter', None or a Lee-Carter fit with 'b' and "
                              "'drift' (demokit.lee_carter)")
    mid = (int(myrs[0]) + int(myrs[-1])) / 2   # the middle of the years the death risks describe
    R = improvement_factors(lc, from_year=mid, years=pyears, ages=q["age"].values)
    base["_q_trend"] = (q * R).clip(0.0, 1.0)
    base["_e0_trend"] = _table_e0(q_table, R)
    return (f"Lee-Carter ({lc.attrs.get('years', '')}) improvement from {mid:g}; "
            f"drift {', '.join(f'{float(v):.3f}' for v in np.atleast_1d(lc['drift'].values))}")


def _scenario_variables(base, ctx, common, scenarios):
    """The assumption variables of every scenario, concatenated along ``scenario`` where they differ."""
    if not isinstance(scenarios, dict):
        raise AssumptionError("scenarios: expected a dict {name: {option: value}}")
    built = {}
    for name, opts in scenarios.items():
        if not isinstance(opts, dict):
            raise AssumptionError(f"scenario {name!r}: expected a mapping of options, got {opts!r}")
        bad = [k for k in opts if k not in SCENARIO_KEYS]
        if bad:
            raise AssumptionError(f"scenario {name!r}: unknown option {bad[0]!r}; expected {SCENARIO_KEYS}")
        built[name] = _apply(base, ctx, {**common, **opts}, where=f"scenario {name!r}")
    names = list(built)
    out = {}
    for k in built[names[0]]:
        vals = [built[n][k] for n in names]
        if all(v is vals[0] for v in vals):
            out[k] = vals[0]
        else:
            vals = [v if isinstance(v, xr.DataArray) else xr.DataArray(v) for v in vals]
            out[k] = xr.concat(vals, dim=xr.DataArray(names, dims="scenario", name="scenario"),
                               coords="minimal", compat="override")
    return out


#: deaths of each sex a mortality period should hold before it is lengthened (mortality_years="auto") [choice]
THIN_DEATHS = 200
#: the longest mortality period "auto" builds, in years [choice]
MAX_MORTALITY_YEARS = 10


#: assumptions estimated from the pooled events (no origin dim): SCB publishes no deaths or births by birth region
_POOLED_BY_ORIGIN = ("death_risks", "fertility", "boys_share", "survival")


def _origin_parts(ds):
    """Split a cube with an ``origin`` dim: the pooled cube and one cube per group (named errors).

    Variables without ``origin`` (deaths, births: SCB publishes none by birth
    region for municipalities) are shared out to the groups by their share of
    the population (women for births); only the groups' migration schedules
    are used from the parts.
    """
    groups = ds["origin"].values.tolist()
    with_o = [v for v in ds.data_vars if "origin" in ds[v].dims]
    if "population" not in with_o:
        raise CubeError("origin: the cube has an origin dim but 'population' lacks it; "
                        f"variables with origin: {with_o}")
    for v in ("in_migration", "out_migration", "immigration", "emigration"):
        if v in ds and v not in with_o:
            raise CubeError(f"{v} lacks an origin dim: with birth-region groups the migration flows are "
                            "needed by origin (SCB TAB4693)")
    for v in with_o:   # a cell missing in one group but not in another would vanish from the pooled sum
        miss = ds[v].isnull()
        partial = miss & ~miss.all("origin")
        if bool(partial.any()):
            raise CubeError(f"{format_cell(v, ds[v], first_cell(partial.transpose(*ds[v].dims)))} "
                            "(missing in this group but not in the others)")
    pooled = pool_origin(ds)
    pop = ds["population"]
    share = (pop / pop.sum("origin")).fillna(0.0)
    women = pop.sel(sex="female").sum("age") if "sex" in pop.dims else pop.sum("age")
    wshare = (women / women.sum("origin")).fillna(0.0)
    parts = []
    for g in groups:
        sub = {v: (ds[v].sel(origin=g, drop=True) if v in with_o else ds[v]) for v in ds.data_vars}
        for v in ("deaths", "mean_population"):
            if v in sub and v not in with_o:
                sub[v] = ds[v] * share.sel(origin=g, drop=True)
        if "births" in sub and "births" not in with_o:
            sub["births"] = ds["births"] * wshare.sel(origin=g, drop=True)
        parts.append(xr.Dataset(sub, attrs=ds.attrs))
    return pooled, parts, groups


def pool_origin(ds: xr.Dataset) -> xr.Dataset:
    """Return the cube summed over its birth-region groups (``origin``); variables without the dim unchanged.

    A cell missing in any group is missing in the sum (never read as 0).
    """
    return xr.Dataset({v: ds[v].sum("origin", skipna=False) if "origin" in ds[v].dims else ds[v]
                       for v in ds.data_vars}, attrs=ds.attrs)


def _each_group(fn, parts, groups, **options):
    """``[fn(part, **options) for part in parts]``, an error naming its group (a part has no origin dim)."""
    out = []
    for g, p in zip(groups, parts):
        try:
            out.append(fn(p, **options))
        except DemokitError as err:
            raise type(err)(f"origin={g!r}: {err}") from None
    return out


#: totals of all groups (numbers, by region or paths, also in scenarios): shared out to the groups
_TOTALS_BY_ORIGIN = ("in_migration", "immigration")


def _from_history_by_origin(ds, *, years, **options):
    """:func:`from_history` for a cube with an ``origin`` dim (birth-region groups).

    Migration risks (out-movers, emigrants), in-mover and immigrant totals and
    profiles are each group's own, from the flows by origin.  Death risks and
    fertility come from the pooled events (SCB publishes no deaths or births by
    birth region for municipalities) and apply to every group; variables with
    an ``origin`` dim are summed over it for them.  Each group's own estimate
    uses its events with deaths and births shared out by the group's share of
    the population (women for births) — only its migration assumptions are kept.
    In-mover and immigrant totals (the period's, or given as ``in_migration=``,
    ``immigration=`` or in a scenario) are the pooled estimate's, shared out to
    the groups by each group's share of the period's in-movers (immigrants) in
    the region: ``T_g,r = T_r · I_g,r / Σ_g I_g,r`` (equal shares where the
    period had none), so that the groups sum to the totals given.
    """
    system = options.get("system")
    if system == "net":
        raise AssumptionError("system='net' with an origin dim: the net migration and adjustment by group need the "
                              "newborns by group (all are born in the first group) and the deaths by group, which "
                              "SCB does not publish for kommuner; use system='open' or 'closed' with the flows by "
                              "origin")
    pooled, parts_ds, groups = _origin_parts(ds)
    import warnings

    from .small_area import ClampWarning
    # the groups' own estimates without totals given by the user (those are shared out below)
    part_opts = {k: (None if k in _TOTALS_BY_ORIGIN else v) for k, v in options.items()}
    if options.get("scenarios"):
        part_opts["scenarios"] = {n: {k: v for k, v in (sc or {}).items() if k not in _TOTALS_BY_ORIGIN}
                                  for n, sc in options["scenarios"].items()}
    with warnings.catch_warnings():   # (one warning below, for the estimates used)
        warnings.simplefilter("ignore", ClampWarning)
        base = from_history(pooled, years=years, **options)
        if base.internal_migration == "balanced":
            raise AssumptionError("system='closed' with in_migration totals (a housing plan) and an origin dim: "
                                  "the plan would be balanced against the pool of every group at once, which the "
                                  "projection does not do with groups; give the plan with system='open', or use "
                                  "system='closed' without in_migration")
        parts = _each_group(from_history, parts_ds, groups, years=years, **part_opts)
    origin = xr.DataArray(groups, dims="origin", name="origin")
    data = {}
    for k, v in base.data.items():
        if k in _POOLED_BY_ORIGIN or k not in parts[0].data:
            data[k] = v
        elif k in _TOTALS_BY_ORIGIN:
            own = xr.concat([p.data[k] for p in parts], dim=origin)
            tot = own.sum("origin")
            share = xr.where(tot > 0, own / tot.where(tot > 0), 1.0 / len(groups))
            data[k] = v * share
        else:
            data[k] = xr.concat([p.data[k] for p in parts], dim=origin)
    attrs = dict(base.attrs)
    # clamped cells of the estimates used: deaths and births pooled, the migration of each group
    counts = {k: v for k, v in _clamped_counts(base.attrs["clamped"]).items() if k in ("deaths", "births")}
    for g, p in zip(groups, parts):
        counts.update({f"{k} ({g})": v for k, v in _clamped_counts(p.attrs["clamped"]).items()
                       if k not in ("deaths", "births")})
    attrs.update(_clamped_attrs(counts, stacklevel=5))
    attrs["origin"] = ("migration by origin group; death risks and fertility pooled over origin and applied "
                       "to every group (no deaths or births by birth region for municipalities)")
    return Assumptions(**data, migration_timing=base.migration_timing, attrs=attrs)


def _clamped_attrs(counts: dict, *, stacklevel: int) -> dict:
    """``attrs["clamped_cells"]`` and ``attrs["clamped"]`` of clamped-cell counts by estimate; a
    :class:`~demokit.small_area.ClampWarning` when there are any (``stacklevel`` points at the user's call)."""
    out = {"clamped_cells": int(sum(counts.values())),
           "clamped": ", ".join(f"{k}: {v}" for k, v in counts.items() if v) or "none"}
    if out["clamped_cells"]:
        import warnings

        from .small_area import ClampWarning
        warnings.warn(f"from_history: {out['clamped']} cell(s) with more events than persons at risk were "
                      "clamped (risks kept in [0, 1]; attrs['clamped'])", ClampWarning, stacklevel=stacklevel)
    return out


def _clamped_counts(text: str) -> dict:
    """``attrs["clamped"]`` (``"deaths: 2, out_migration: 1"`` or ``"none"``) as a dict of counts."""
    if text == "none":
        return {}
    return {k: int(v) for k, v in (part.rsplit(": ", 1) for part in text.split(", "))}


def _mortality_years(ds, yrs, spec):
    """Return the years of the death risks: the period, a given one, or "auto" (lengthened where deaths are thin).

    "auto": years before the period are added one at a time (as far as the
    cube reaches with complete deaths and population, at most
    :data:`MAX_MORTALITY_YEARS` in all) until every region has at least
    :data:`THIN_DEATHS` deaths of each sex in the period.
    """
    yrs = [int(y) for y in yrs]
    if spec is None:
        return yrs
    if isinstance(spec, str):
        if spec != "auto":
            raise AssumptionError(f"mortality_years = {spec!r}: expected 'auto', None or a sequence of years")
        have = [int(y) for y in ds["year"].values]
        D = ds["deaths"]
        # only years with statistics: deaths of the year and the population of the year before without a missing
        # (NaN) cell (a file covering fewer years than the others) — never a year the data do not have
        full_d = ~D.isnull().any([d for d in D.dims if d != "year"])
        full_p = ~ds["population"].isnull().any([d for d in ds["population"].dims if d != "year"])
        usable = {y for y in have if y - 1 in have and bool(full_d.sel(year=y)) and bool(full_p.sel(year=y - 1))}
        out = list(yrs)
        while len(out) < MAX_MORTALITY_YEARS and out[0] - 2 >= have[0] and out[0] - 1 in usable:
            tot = D.sel(year=out).sum([d for d in D.dims if d not in ("region", "sex")])
            if bool((tot >= THIN_DEATHS).all()):
                break
            out.insert(0, out[0] - 1)
        return out
    out = [int(y) for y in as_years(spec)]
    if out[-1] > yrs[-1]:
        raise AssumptionError(f"mortality_years end in {out[-1]}, after the statistical period {yrs[0]}-{yrs[-1]}")
    return out


def _fold_reference(ref, w):
    """Return the reference schedules with the ages from ``w`` up folded into ``w`` (risks from their parts)."""
    if int(ref["age"].values.max()) == w:
        return ref
    from .small_area import with_open_age
    out = ref.sel(age=ref["age"].values[ref["age"].values <= w]).copy()
    for name in ("death_risk", "out_migration_risk", "emigration_risk"):
        E = with_open_age(ref[f"{name}_events"], w)
        P = with_open_age(ref[f"{name}_at_risk"], w)
        out[name] = xr.where(P > 0, E / P.where(P > 0), 0.0)
    for name in ("in_migration_profile", "immigration_profile"):
        out[name] = with_open_age(ref[name], w)
    return out


def _smoothed_profile(counts, ref_profile, smoothing, old_age, name):
    """Return the age-sex profile of in-movers or immigrants, smoothed relative to the reference profile."""
    p = _profile(counts, name)
    if smoothing is None:
        return p
    from .small_area import small_area_rates
    tot = counts.sum(("sex", "age"))
    res = small_area_rates(counts, xr.ones_like(counts), ref_profile * tot, link="log", smoothing=smoothing,
                           old_age=old_age, name=name, warn=False)
    fitted = res["rate"].transpose(*counts.dims)
    sm = fitted / fitted.sum(("sex", "age"))
    sm.attrs = {"units": "1", "method": f"{p.attrs['method']}; smoothed relative to the reference profile"}
    return sm


def _table_risks(q_int):
    """Return period table risks ``q_x`` from interval risks by year-end age (for summaries and e0 targets).

    The interval risk at year-end age ``x+1`` covers exact ages of about
    ``[x + 0.5, x + 1.5)``, so ``1 − q_x ≈ sqrt((1 − q_int(x)) (1 − q_int(x+1)))``;
    ``1 − q_0 = (1 − q_int(0)) sqrt(1 − q_int(1))`` (the newborns' risk covers
    most of the first year's deaths); the open age keeps its interval risk, the
    open group's one-year risk, which :func:`demokit.life_table` turns into the
    group's rate ``−ln(1 − q)`` (with ``q = 1`` there, a table would take the
    last closed age's rate: e0 about 1.4 years too high with an open age of 85).
    """
    ages = q_int["age"].values
    nxt = q_int.shift(age=-1)
    s = np.sqrt((1 - q_int) * (1 - nxt))
    s0 = (1 - q_int.isel(age=0)) * np.sqrt(1 - q_int.isel(age=1))
    qt = 1 - s
    qt = xr.where(q_int["age"] == ages[0], 1 - s0, qt)
    qt = xr.where(q_int["age"] == ages[-1], q_int, qt)
    return qt.clip(0.0, 1.0)


def _open_risk(qt, scale=1.0):
    """The open group's own one-year risk in the open cell of table risks ``qt`` (:func:`_table_risks`) times
    ``scale``, kept below 1 (its rate ``−ln(1 − q)`` grows smoothly with the factor); where ``qt`` itself holds
    a table's conventional 1 there, 1 (:func:`demokit.life_table` then takes the last closed age's rate)."""
    o = qt.isel(age=-1, drop=True)
    s = scale.isel(age=-1, drop=True) if isinstance(scale, xr.DataArray) and "age" in scale.dims else scale
    return xr.where(o >= 1.0, 1.0, (o * s).clip(0.0, _OPEN_Q_MAX))


def _table_e0(qt, scale=1.0):
    """e0 of the table risks ``scale · qt`` (capped at 1), ``qt`` from :func:`_table_risks`: the open age's
    rate is ``−ln(1 − scale · q_ω)`` (:func:`demokit.life_table`'s ``open_risk``)."""
    from .lifetable import life_table
    return life_table(qx=(qt * scale).clip(0.0, 1.0), open_risk=_open_risk(qt, scale)).ex.isel(age=0, drop=True)


def _pooled_table_risks(q, N):
    """Return table risks of the regions pooled (interval risks weighted by the persons at risk ``N``)."""
    q_int = q
    if "region" in q.dims:
        Nt = N.sum("region")
        q_int = xr.where(Nt > 0, (q * N).sum("region") / Nt.where(Nt > 0), q.mean("region"))
    return _table_risks(q_int.transpose(*[d for d in q_int.dims if d != "age"], "age"))


def _profile(counts, name):
    tot = counts.sum(("sex", "age"))
    if bool((tot <= 0).any()):
        r = tot.where(tot <= 0, drop=True)["region"].values.tolist() if "region" in tot.dims else []
        raise CubeError(f"{name}: no events in the period for region(s) {r}; cannot form an age-sex profile")
    p = counts / tot
    p.attrs = {"units": "1", "method": "sum_t events(s, x) / sum_t sum_{s,x} events (METHODS §5.2)"}
    return p


def _shares(counts):
    tot = counts.sum("region")
    n = counts.sizes["region"]
    return xr.where(tot > 0, counts / tot.where(tot > 0), 1.0 / n)


def _as_path(value, name, years):
    """Return a number, a DataArray, or a ``{year: value}`` mapping as a path over ``years``."""
    if isinstance(value, dict):
        try:
            pairs = [(int(k), float(v)) for k, v in value.items()]
        except (TypeError, ValueError):
            raise AssumptionError(f"{name}: a path is a mapping {{year: number}}, got {value!r}") from None
        bad = [k for k in value if float(k) != int(k)] if all(isinstance(k, (int, float)) for k in value) else []
        if bad:   # (2020.5 was cut to 2020)
            raise AssumptionError(f"{name}: year {bad[0]!r} of the path is not a whole year")
        pts = dict(pairs)
        if len(pts) < len(pairs):   # (2020 and "2020": the last one won, silently)
            dup = next(k for i, (k, _) in enumerate(pairs) if k in [q for q, _ in pairs[:i]])
            raise AssumptionError(f"{name}: year {dup} is given twice in the path {value!r}")
        if not pts:
            raise AssumptionError(f"{name}: an empty path")
        if years is None:
            raise AssumptionError(f"{name}: a path {{year: value}} needs projection_years")
        return path(pts, years=years)
    return _as_da(value, name)


def _as_sex_path(value, name, years):
    if isinstance(value, dict) and set(value) <= set(SEXES):
        miss = [sx for sx in SEXES if sx not in value]
        if miss:
            raise AssumptionError(f"{name}: give a value for each sex; missing {miss[0]!r}")
        vals = [_as_path(value[sx], f"{name}[{sx}]", years) for sx in SEXES]
        return xr.concat(vals, dim=xr.DataArray(list(SEXES), dims="sex", name="sex"), coords="minimal",
                         compat="override")
    return _as_sex_da(value, name)


def _migration_totals(value, key, base_total, years):
    """Return in-mover or immigrant totals: per region as given, or a total shared by the period's weights."""
    regions_known = ([str(r) for r in base_total["region"].values]
                     if base_total is not None and "region" in base_total.dims else [])
    is_path = isinstance(value, dict) and value and all(
        str(k).isdigit() and len(str(k)) == 4 and 1900 < int(k) < 2200 for k in value) and not any(
        str(k) in regions_known for k in value)
    if isinstance(value, dict) and value and not is_path:
        # {region: number or {year: number}}
        if base_total is None or "region" not in base_total.dims:
            raise AssumptionError(f"{key}: totals by region need a cube with a 'region' dim")
        regions = [str(r) for r in base_total["region"].values]
        unknown = [str(r) for r in value if str(r) not in regions]
        if unknown:
            raise AssumptionError(f"{key}: region {unknown[0]!r} is not among the forecast's regions {regions}")
        codes = [str(r) for r in value]
        if len(set(codes)) < len(codes):   # (2580 and "2580": one of them was ignored, silently)
            dup = next(c for i, c in enumerate(codes) if c in codes[:i])
            raise AssumptionError(f"{key}: region {dup!r} is given twice")
        per = []
        for r in regions:
            v = value.get(r, value.get(int(r)) if r.isdigit() and int(r) in value else None)
            per.append(base_total.sel(region=r, drop=True) if v is None
                       else _as_path(v, f"{key}[{r!r}]", years))
        per = [xr.DataArray(p) if not isinstance(p, xr.DataArray) else p for p in per]
        out = xr.concat(per, dim=xr.DataArray(regions, dims="region", name="region"), coords="minimal",
                        compat="override")
        return out.transpose("region", ...)
    total = _as_path(value, key, years)
    if base_total is not None and "region" in base_total.dims and "region" not in total.dims:
        w = base_total / base_total.sum("region")
        if bool((base_total.sum("region") <= 0).any()):
            w = xr.full_like(base_total, 1.0 / base_total.sizes["region"])
        total = total * w   # the total of all regions shared by the period's in-movers (never copied)
    return total


def _apply(base, ctx, opts, *, where="scenario"):
    """Return the assumption variables of one scenario (objects unchanged where no option applies)."""
    years = ctx["years"]
    v = {k: val for k, val in base.items() if not k.startswith("_")}
    # fertility: TFR path, then a multiplier
    f = base["fertility"]
    tfr = opts.get("tfr")
    if tfr is not None:
        target = _as_path(tfr, "tfr", years)
        # one factor for all regions (their pooled TFR reaches the target), or each region's own
        current = tfr_of(f) if "region" in target.dims else ctx["tfr_obs"]
        f = f * (target / current)
    if opts.get("fertility_scale") is not None:
        f = f * _as_path(opts["fertility_scale"], "fertility_scale", years)
    v["fertility"] = f
    # mortality: e0 path, or the trend; then a multiplier
    q = base["death_risks"]
    e0 = ctx["e0_obs"]
    if opts.get("life_expectancy") is not None:
        target = _as_sex_path(opts["life_expectancy"], "life_expectancy", years)
        k = _e0_scaling(ctx["q_table"], target)
        q = (q * k).clip(0.0, 1.0)
        e0 = target
    elif "_q_trend" in base:
        q = base["_q_trend"]
        e0 = base["_e0_trend"]
    if opts.get("mortality_scale") is not None:
        ms = _as_path(opts["mortality_scale"], "mortality_scale", years)
        q = (q * ms).clip(0.0, 1.0)
        factor = (base["_q_trend"] / base["death_risks"]).fillna(1.0) if (
            "_q_trend" in base and opts.get("life_expectancy") is None) else 1.0
        if opts.get("life_expectancy") is not None:
            factor = k
        e0 = _table_e0(ctx["q_table"], factor * ms)
    others = [k for k in _EXITS if k in v and k != "death_risks"]
    if q is not base["death_risks"] and others:
        tot = sum((v[k] for k in others), q)
        q = xr.where(tot > 1, q - (tot - 1), q).clip(0.0, 1.0)
    v["death_risks"] = q
    # migration totals
    system = ctx["system"]
    for key in ("in_migration", "immigration"):
        if opts.get(key) is not None:
            if system == "net":
                raise AssumptionError(f"{where}: {key} totals need gross flows (system='open')")
            v[key] = _migration_totals(opts[key], key, base.get(key), years)
        sc = opts.get(f"{key}_scale")
        if sc is not None and key == "in_migration" and system == "closed" \
                and "region" not in _as_path(sc, "in_migration_scale", years).dims:
            raise AssumptionError(
                "in_migration_scale without a 'region' dim has no effect in a closed system (the in-movers "
                "are the pool of out-movers; a plan only shares them out): scale out_migration_risks, give "
                "per-region in_migration totals or a scale by region, or use system='open'")
        if sc is not None:
            if key not in v:
                raise AssumptionError(f"{where}: {key}_scale needs {key} totals (system='open' or 'closed')")
            v[key] = v[key] * _as_path(sc, f"{key}_scale", years)
    v["_tfr"] = tfr_of(v["fertility"])
    v["_e0"] = e0
    return v
