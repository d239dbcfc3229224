"""Projection assumptions from history, with user paths and scenarios (``Assumptions.from_history``).

The statistical basis (METHODS §3–§5) is pooled over a period of years:
interval death, out-migration and emigration risks by the age at the end of
the year, fertility rates over the cohort mean population, in-mover and
immigrant totals and profiles, and the share of boys.  User overrides set a
TFR path (fertility scaled), a life-expectancy path (death risks scaled until
the life table reaches it), in-mover totals (e.g. from a housing plan) and
named scenarios, which become a ``scenario`` dim.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._periods import as_years, select_years
from .cube import SEXES, CubeError
from .lexis import to_convention
from .projection import AssumptionError, Assumptions
from .regions import pool

__all__ = ["SCENARIO_KEYS", "from_history", "path", "tfr_of"]

#: what a scenario may override
SCENARIO_KEYS = ("tfr", "life_expectancy", "in_migration", "immigration", "in_migration_scale",
                 "immigration_scale", "fertility_scale", "mortality_scale")


def path(values, *, years) -> xr.DataArray:
    """Return a yearly assumption path linearly interpolated between given years.

    ``path({2020: 1.70, 2030: 1.80}, years=range(2020, 2045))`` → 1.70 … 1.80, then
    constant 1.80 after 2030 (constant before the first given year too).
    """
    ks = sorted(int(k) for k in values)
    vs = [float(values[k]) for k in ks]
    yrs = [int(y) for y in years]
    return xr.DataArray(np.interp(yrs, ks, vs), dims="year", coords={"year": yrs})


def _births_by_sex(ds):
    b = ds["births"]
    if "age" in b.dims:
        b = b.sum("age")
    if "sex" not in b.dims:
        raise CubeError("births need a 'sex' dim (sex of the child) to estimate age-0 risks")
    return b


def _risk(ds, name, years, smoothing, lower_share, infant_lower_share):
    """Return pooled interval risks of event ``name`` (observed, or smoothed by :func:`demokit.smooth`)."""
    from .migration import emigration_risks, interval_parts, out_migration_risks
    from .mortality import death_risks
    kw = {"years": years, "lower_share": lower_share, "infant_lower_share": infant_lower_share}
    if name == "deaths":
        raw = death_risks(ds, kind="interval", **kw)
    elif name == "out_migration":
        raw = out_migration_risks(ds, years=years)
    else:
        raw = emigration_risks(ds, years=years)
    raw = raw.drop_vars("age_at_start", errors="ignore")
    if smoothing is None or "region" not in raw.dims or raw.sizes["region"] < 2:
        return raw
    from .smoothing import smooth
    events, at_risk, _ = interval_parts(ds, name, **kw)
    fit = smooth(events=events, exposure=at_risk, method=smoothing, link="logit")
    return fit["rate"].fillna(raw).clip(0.0, 1.0).transpose(*raw.dims)


def _fertility(ds, years, smoothing):
    from .accounting import mean_population
    from .fertility import fertility_rates
    if smoothing is None or "region" not in ds.dims or ds.sizes["region"] < 2:
        f = fertility_rates(ds, years=years)
        return f.drop_vars("sex", errors="ignore")
    sub = select_years(ds[["population", "births"]], years, need_previous=True)
    B = sub["births"].isel(year=slice(1, None))
    if "sex" in B.dims:
        B = B.sum("sex")
    W = mean_population(sub["population"].sel(sex="female"), by="cohort")
    W = W.sel(year=B.year.values).drop_vars("sex", errors="ignore")
    Bs, Ws = B.sum("year"), W.sum("year")
    f = xr.where(Ws > 0, Bs / Ws.where(Ws > 0), 0.0)
    from .smoothing import smooth
    fertile = (Bs.sum("region") > 0).values
    ages = Bs["age"].values[fertile]
    fit = smooth(events=Bs.sel(age=ages), exposure=Ws.sel(age=ages), method=smoothing, link="log")
    f = fit["rate"].reindex(age=Bs["age"].values, fill_value=0.0).fillna(0.0).transpose(*f.dims)
    f.attrs = {"units": "births per woman per year",
               "method": "sum births by mother's year-end age / sum cohort mean population of women"}
    return f


def tfr_of(fertility):
    """Return the total fertility rate Σ_x f(x) of fertility rates (births per woman per year)."""
    t = fertility.sum("age")
    t.attrs = {"units": "children per woman", "long_name": "total fertility rate"}
    return t


def _e0_scaling(q_table, target, *, iterations=60):
    """Return k (dims of ``target`` ∪ sex) such that the life table of k·q_table reaches e0 = target."""
    from .lifetable import life_table
    lo = xr.zeros_like(target, dtype=float) + np.log(0.02)
    hi = xr.zeros_like(target, dtype=float) + np.log(20.0)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        e0 = life_table(qx=(q_table * np.exp(mid)).clip(0.0, 1.0)).ex.sel(age=q_table["age"].values[0])
        too_low = e0 < target            # life expectancy too low → risks too high → lower k
        hi = xr.where(too_low, mid, hi)
        lo = xr.where(too_low, lo, mid)
    return np.exp((lo + hi) / 2)


def _as_sex_da(value, name):
    if isinstance(value, dict):
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
                 lower_share=0.5, infant_lower_share=0.9):
    """Return :class:`~demokit.Assumptions` estimated from a cube's recent history.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with ``population``, ``births`` (by mother's age, ``sex`` of the
        child), ``deaths`` and, for ``system="open"``/``"closed"``, the gross
        flows ``in_migration``, ``out_migration``, ``immigration``,
        ``emigration`` (e.g. ``dk.datasets.load("norrbotten")``).
    years : iterable of int
        The statistical period (e.g. ``range(2015, 2020)``); the population of
        the year before the first is needed too.
    smoothing : str or None, default "relational"
        Method of :func:`demokit.smooth` for the death, out-migration and
        emigration risks (logit link) and the fertility rates (log link), each
        region relative to the pooled set of regions (METHODS §5.5); ``None``
        keeps the observed pooled ratios.
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
    in_migration, immigration : float or DataArray, optional
        In-mover / immigrant totals per year (dims ``region``, ``year``...)
        replacing the average of the period (e.g. from a housing plan).  In a
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
    yrs = as_years(years)
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
    T = len(yrs)
    # ---------------------------------------------------------- statistical basis
    q = _risk(ds, "deaths", yrs, smoothing, lower_share, infant_lower_share)
    f = _fertility(ds, yrs, smoothing)
    b = _births_by_sex(select_years(ds, yrs))
    if boys_share is None:
        boys_share = float(b.sel(sex="male").sum() / b.sum())
    base = {"death_risks": q, "fertility": f, "boys_share": boys_share}
    sub = select_years(ds, yrs)
    if system in ("open", "closed"):
        base["out_migration_risks"] = _risk(ds, "out_migration", yrs, smoothing, lower_share, infant_lower_share)
        base["emigration_risks"] = _risk(ds, "emigration", yrs, smoothing, lower_share, infant_lower_share)
        tot = base["death_risks"] + base["out_migration_risks"] + base["emigration_risks"]
        over = tot > 1
        if bool(over.any()):   # tiny cells: keep the cohort non-negative, scale the three risks down
            for k in ("death_risks", "out_migration_risks", "emigration_risks"):
                base[k] = xr.where(over, base[k] / tot, base[k])
        I = to_convention(sub["in_migration"], "year_end").sum("year")
        IM = to_convention(sub["immigration"], "year_end").sum("year")
        wants_plan = in_migration is not None or any(
            k in (opts or {}) for opts in (scenarios or {}).values() for k in ("in_migration", "in_migration_scale"))
        if system == "open" or wants_plan:
            # closed with in-mover totals (a housing plan): totals × profile, balanced against the pool
            base["in_migration"] = I.sum(("sex", "age")) / T
            base["in_migration_profile"] = _profile(I, "in_migration")
        else:
            base["in_migration_shares"] = _shares(I)
        base["immigration"] = IM.sum(("sex", "age")) / T
        base["immigration_profile"] = _profile(IM, "immigration")
    else:
        from .accounting import balance
        bal = balance(select_years(ds, yrs, need_previous=True)[
            [v for v in ("population", "births", "deaths", "in_migration", "out_migration", "immigration",
                         "emigration") if v in ds]])
        bal = bal.sel(year=yrs)
        resid = bal["net_migration_and_adjustment"] if "net_migration_and_adjustment" in bal else (
            bal["in_migration"] - bal["out_migration"] + bal["immigration"] - bal["emigration"]
            + bal["adjustment"])
        base["adjustment"] = resid.mean("year")
    # observed summaries
    pooled = pool(ds) if "region" in ds.dims else ds
    from .mortality import death_risks
    q_table = death_risks(pooled, years=yrs, kind="table", lower_share=lower_share,
                          infant_lower_share=infant_lower_share)
    from .lifetable import life_table
    e0_obs = life_table(qx=q_table).ex.isel(age=0, drop=True)
    tfr_obs = float(tfr_of(_fertility(pooled, yrs, None)))
    attrs = {"years": f"{int(yrs[0])}-{int(yrs[-1])}", "smoothing": str(smoothing), "system": system,
             "tfr_observed": tfr_obs, "boys_share": float(boys_share),
             "e0_observed_female": float(e0_obs.sel(sex="female")),
             "e0_observed_male": float(e0_obs.sel(sex="male"))}
    # ---------------------------------------------------------- overrides and scenarios
    common = {"tfr": tfr, "life_expectancy": life_expectancy, "in_migration": in_migration, "immigration": immigration}
    if scenarios:
        if not isinstance(scenarios, dict):
            raise AssumptionError("scenarios: expected a dict {name: {option: value}}")
        built = {}
        for name, opts in scenarios.items():
            bad = [k for k in opts if k not in SCENARIO_KEYS]
            if bad:
                raise AssumptionError(f"scenario {name!r}: unknown option {bad[0]!r}; expected {SCENARIO_KEYS}")
            built[name] = _apply(base, q_table, tfr_obs, e0_obs, system, {**common, **opts})
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
        variables = out
    else:
        variables = _apply(base, q_table, tfr_obs, e0_obs, system, common)
    paths = {k: variables.pop(k) for k in ("_tfr", "_e0")}
    balanced = system == "closed" and "in_migration" in variables
    if balanced:
        attrs["internal_migration"] = "closed, in-mover totals balanced against the pool (IPF)"
    a = Assumptions(**variables, balance_in_migration=balanced, attrs=attrs)
    a.attrs["tfr"] = paths["_tfr"]
    a.attrs["life_expectancy"] = paths["_e0"]
    return a


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


def _apply(base, q_table, tfr_obs, e0_obs, system, opts):
    """Return the assumption variables of one scenario (objects unchanged where no option applies)."""
    v = dict(base)
    # fertility: TFR path, then a multiplier
    f = base["fertility"]
    tfr = opts.get("tfr")
    if tfr is not None:
        target = _as_da(tfr, "tfr")
        # one factor for all regions (their pooled TFR reaches the target), or each region's own
        current = tfr_of(f) if "region" in target.dims else tfr_obs
        f = f * (target / current)
    if opts.get("fertility_scale") is not None:
        f = f * _as_da(opts["fertility_scale"], "fertility_scale")
    v["fertility"] = f
    # mortality: e0 path, then a multiplier
    q = base["death_risks"]
    e0 = e0_obs
    if opts.get("life_expectancy") is not None:
        target = _as_sex_da(opts["life_expectancy"], "life_expectancy")
        k = _e0_scaling(q_table, target)
        q = (q * k).clip(0.0, 1.0)
        e0 = target
    if opts.get("mortality_scale") is not None:
        q = (q * _as_da(opts["mortality_scale"], "mortality_scale")).clip(0.0, 1.0)
    if q is not base["death_risks"] and "out_migration_risks" in v:
        tot = q + v["out_migration_risks"] + v["emigration_risks"]
        q = xr.where(tot > 1, q - (tot - 1), q).clip(0.0, 1.0)
    v["death_risks"] = q
    # migration totals
    for key in ("in_migration", "immigration"):
        if opts.get(key) is not None:
            if system == "net":
                raise AssumptionError(f"{key} totals need gross flows (system='open')")
            v[key] = _as_da(opts[key], key)
        sc = opts.get(f"{key}_scale")
        if sc is not None and key == "in_migration" and system == "closed" \
                and "region" not in _as_da(sc, "in_migration_scale").dims:
            raise AssumptionError(
                "in_migration_scale without a 'region' dim has no effect in a closed system (the in-movers "
                "are the pool of out-movers; a plan only shares them out): scale out_migration_risks, give "
                "per-region in_migration totals or a scale by region, or use system='open'")
        if sc is not None:
            if key not in v:
                raise AssumptionError(f"{key}_scale needs {key} totals (system='open' or 'closed')")
            v[key] = v[key] * _as_da(sc, f"{key}_scale")
    v["_tfr"] = tfr_of(v["fertility"])
    v["_e0"] = e0
    return v
