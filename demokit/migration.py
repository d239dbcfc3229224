"""Migration statistics (flyttningar, METHODS §5): out-migration and emigration risks,
in- and out-movers in relative numbers, the index of out-migration risks and the
index of in-movers.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._apply import is_dask
from ._periods import select_years
from .accounting import cohort_start_population
from .cube import CubeError, age_convention, check_counts, check_events_at_risk, check_single_years, validate_period
from .lexis import to_convention
from .standardize import indirect_index, reference_risks

__all__ = ["out_migration_risks", "emigration_risks", "migrant_distribution", "out_migration_index",
           "in_migrant_index", "interval_parts"]


def _need(ds, names):
    for v in names:
        if v not in ds:
            raise CubeError(f"the cube has no {v!r} (it has {sorted(ds.data_vars)})")


def _check(da, name):
    if not is_dask(da):
        check_counts(da, name)


def interval_parts(ds: xr.Dataset, variable: str, *, years, boys_share=None, lower_share=0.5,
                   infant_lower_share=0.9):
    """Return ``(events, at_risk)`` by year-end age, summed over ``years``.

    ``events`` = Σ_t E(x, t) of ``variable`` (converted to year-end ages if it
    is by age at the event); ``at_risk`` = Σ_t P(x−1, t−1), with births at
    age 0 and ``P(ω−1, t−1) + P(ω, t−1)`` at the open age ω.
    """
    parts, yrs = interval_parts_of(ds, [variable], years=years, boys_share=boys_share, lower_share=lower_share,
                                   infant_lower_share=infant_lower_share)
    return (*parts[variable], yrs)


def interval_parts_of(ds: xr.Dataset, variables, *, years, boys_share=None, lower_share=0.5,
                      infant_lower_share=0.9):
    """Return ``({variable: (events, at_risk)}, years)``: :func:`interval_parts` of several event variables.

    The period is selected and checked once and the population at risk
    (which does not depend on the events) is built once for all of them.
    """
    variables = list(variables)
    _need(ds, ["population", *variables, "births"])
    check_single_years(ds, "migration risks")
    sub = select_years(ds[["population", *variables, "births"]], years, need_previous=True)
    if not any(is_dask(sub[v]) for v in sub.data_vars):
        validate_period(sub)
    at_risk_all = None
    summed = {}   # the summed population at risk by the events' dim order
    out = {}
    for variable in variables:
        ev = sub[variable]
        if age_convention(ev, variable) != "year_end":
            ev = to_convention(ev, "year_end", lower_share=lower_share, infant_lower_share=infant_lower_share)
        ev = ev.isel(year=slice(1, None))
        _check(ev, variable)
        if at_risk_all is None:
            at_risk_all = cohort_start_population(sub, boys_share=boys_share)
        at_risk = at_risk_all.transpose(*ev.dims)
        check_events_at_risk(ev, at_risk, variable)
        if ev.dims not in summed:
            summed[ev.dims] = at_risk.sum("year")
        out[variable] = (ev.sum("year"), summed[ev.dims])
    yrs = [int(y) for y in sub["year"].values[1:]]
    return out, yrs


def _risks(ds, variable, years, boys_share, name, long_name):
    E, P, yrs = interval_parts(ds, variable, years=years, boys_share=boys_share)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = xr.where(P > 0, E / P.where(P > 0), xr.where(E > 0, np.nan, 0.0))
    u = u.assign_coords(age_at_start=("age", u["age"].values - 1))
    u.name = name
    u.attrs = {
        "units": "1",
        "long_name": long_name,
        "variable": variable,
        "years": f"{yrs[0]}-{yrs[-1]}",
        "method": (f"u(x+1) = sum_t {variable}(x+1,t) / sum_t P(x,t-1); u(0) = sum_t {variable}(0,t) / "
                   "sum_t B(t); open age over P(w-1,t-1)+P(w,t-1)"),
        "index": "age = age reached at the end of the year; age_at_start = age - 1 (SCB's tables)",
        "missing": "NaN where events occurred but nobody was at risk at the start; 0 where neither",
    }
    return u


def out_migration_risks(ds: xr.Dataset, *, years, variable: str = "out_migration",
                        boys_share: float | None = None) -> xr.DataArray:
    """Return out-migration risks (utflyttningsrisker) pooled over ``years``, by year-end age.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with ``population``, ``births`` (by sex of the child) and the
        out-movers ``variable``.
    years : int or sequence of int
        The period, usually the last 3 or 5 years (the population of the year
        before the first is needed).
    variable : str
        The out-movers: ``"out_migration"`` (to other regions of the country,
        default) or e.g. ``"all_out_migration"``.
    boys_share : float, optional
        Splits births without a ``sex`` dim.

    Returns
    -------
    xarray.DataArray
        Risks (units "1") by every dim but ``year``, **indexed by the age
        reached at the end of the year** (age 0: those born in the year), with
        the coordinate ``age_at_start = age − 1``.

    Raises
    ------
    CubeError
        Missing variables or years (naming the year), negative or NaN counts
        (naming the cell).

    Notes
    -----
    ``u(x+1) = Σ_t O(x+1, t) / Σ_t P(x, t−1)``; ``u(0) = Σ_t O(0, t) / Σ_t B(t)``;
    the open age ω over ``Σ_t (P(ω−1, t−1) + P(ω, t−1))`` (METHODS §5.1).
    Out-movers can exceed the population at the start (people who both move
    in and out during the year), so a "risk" above 1 is possible and kept.
    """
    return _risks(ds, variable, years, boys_share, "out_migration_risk",
                  "out-migration risk (utflyttningsrisk) by age at the end of the year")


def emigration_risks(ds: xr.Dataset, *, years, variable: str = "emigration",
                     boys_share: float | None = None) -> xr.DataArray:
    """Return emigration risks pooled over ``years``, by year-end age.

    The same definition as :func:`out_migration_risks` with emigrants:
    ``e(x+1) = Σ_t EM(x+1, t) / Σ_t P(x, t−1)``, ``e(0) = Σ_t EM(0, t) / Σ_t B(t)``
    (METHODS §5.1).

    Returns
    -------
    xarray.DataArray
        Risks (units "1"), dims as :func:`out_migration_risks`.
    """
    return _risks(ds, variable, years, boys_share, "emigration_risk",
                  "emigration risk by age at the end of the year")


def _pooled(ds, variable, years):
    _need(ds, [variable])
    sub = select_years(ds[[variable]], years)
    ev = sub[variable]
    _check(ev, variable)
    return ev.sum("year"), [int(y) for y in sub["year"].values]


def _shares(counts, over):
    tot = counts.sum(over)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1000.0 * counts / tot.where(tot > 0)


def migrant_distribution(ds: xr.Dataset, *, years, kind: str = "in", variable: str | None = None) -> xr.DataArray:
    """Return in- or out-movers in relative numbers: per mille of the total, by sex and age.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with the movers ``variable``.
    years : int or sequence of int
        The period (usually the last 3 or 5 years).
    kind : {"in", "out"}
        In-movers (default ``variable="in_migration"``) or out-movers
        (``"out_migration"``).
    variable : str, optional
        Another variable, e.g. ``"all_in_migration"`` (incl. immigrants).

    Returns
    -------
    xarray.DataArray
        Per mille (‰) by region (and any other dims), sex and age; sums to
        1000 over sex and age for every region. NaN for a region without movers.

    Notes
    -----
    ``1000 · Σ_t I(x, s, t) / Σ_t Σ_{x,s} I(x, s, t)`` (METHODS §5.2).
    """
    if kind not in ("in", "out"):
        raise CubeError(f"kind = {kind!r}: expected 'in' or 'out'")
    variable = variable or ("in_migration" if kind == "in" else "out_migration")
    I, yrs = _pooled(ds, variable, years)
    over = [d for d in ("sex", "age") if d in I.dims]
    d = _shares(I, over)
    d.name = f"{kind}_migrant_distribution"
    d.attrs = {"units": "per mille", "variable": variable, "years": f"{yrs[0]}-{yrs[-1]}",
               "long_name": f"{kind}-movers in relative numbers ({'in' if kind == 'in' else 'ut'}flyttade i "
                            "relativa tal)",
               "method": f"1000 * sum_t {variable}(x,s,t) / sum_t sum_(x,s) {variable}(x,s,t)"}
    return d


def out_migration_index(ds: xr.Dataset, *, years, reference="national", variable: str = "out_migration",
                        by_age: bool = True, ci=0.95, boys_share: float | None = None) -> xr.Dataset:
    """Return the index of out-migration risks (indextal för utflyttningsrisker) per region.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with a ``region`` dim, ``population``, ``births`` and ``variable``.
    years : int or sequence of int
        The period.
    reference : "national" or xarray.DataArray
        ``"national"``: the out-migration risks of the sum of the cube's
        regions (= 100; the whole country when the cube is the country);
        or reference risks by (sex,) age indexed like
        :func:`out_migration_risks`.
    variable : str
        The out-movers (default ``"out_migration"``, across municipal borders
        within the country).
    by_age : bool
        Also return ``index_by_age = 100 · u_r(x) / u_ref(x)``.
    ci : float or sequence of float or None
        Confidence level(s) of the total index (exact Poisson when O < 10,
        Byar otherwise; see :func:`demokit.indirect_index`).

    Returns
    -------
    xarray.Dataset
        ``observed``, ``expected``, ``ratio``, ``index``, ``lower``,
        ``upper`` per region (and any other dims), plus ``index_by_age``
        (NaN where the region had no out-movers or nobody at risk).

    Notes
    -----
    Indirect standardisation (METHODS §5.3): ``E_r = Σ_{s,x} P_r(x−1, s) ·
    u_ref(x, s)`` (population at the start, births at age 0, summed over the
    period), ``O_r = Σ O_r``, index ``100 · O_r / E_r``.
    """
    if "region" not in ds.dims:
        raise CubeError("out_migration_index needs a 'region' dim")
    O, P, yrs = interval_parts(ds, variable, years=years, boys_share=boys_share)
    if not isinstance(reference, str) and (not isinstance(reference, xr.DataArray) or "age" not in reference.dims):
        raise CubeError("reference must be 'national' or a DataArray of risks with an 'age' dim")
    u_ref, ref_note = reference_risks(O, P, reference)
    over = [d for d in ("sex", "age") if d in P.dims]
    res = indirect_index(O, P, u_ref, ci=ci, dim=over)
    if by_age:
        with np.errstate(divide="ignore", invalid="ignore"):
            u_r = (O / P.where(P > 0)).where(O > 0)
            iba = (100.0 * u_r / u_ref.where(u_ref > 0)).transpose(*O.dims)
        res["index_by_age"] = iba.assign_coords(age_at_start=("age", O["age"].values - 1))
        res["index_by_age"].attrs = {"long_name": "100 * u_region(x) / u_reference(x)", "units": "percent",
                                     "missing": "NaN where the region had no out-movers at that age"}
    res.attrs.update({"reference": ref_note, "variable": variable, "years": f"{yrs[0]}-{yrs[-1]}",
                      "risks": "out-migration risks indexed by age at the end of the year",
                      "title": "indextal för utflyttningsrisker"})
    return res


def in_migrant_index(ds: xr.Dataset, *, years, reference="national",
                     variable: str = "in_migration") -> xr.DataArray:
    """Return the index of in-movers (indextal för inflyttare) by region, sex and age.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with a ``region`` dim and the in-movers ``variable``.
    years : int or sequence of int
        The period.
    reference : "national" or xarray.DataArray
        ``"national"``: the sex-age distribution of the in-movers of all the
        cube's regions together; or a reference distribution by (sex,) age
        (any scale: it is normalised to per mille over sex and age).
    variable : str
        The in-movers (default ``"in_migration"``, across municipal borders).

    Returns
    -------
    xarray.DataArray
        ``100 · share_r(x, s) / share_ref(x, s)`` (reference = 100); NaN where
        the reference share is 0 or the region had no in-movers.

    Notes
    -----
    ``share_r(x, s) = Σ_t I_r(x, s, t) / Σ_t Σ_{x,s} I_r(x, s, t)`` (METHODS §5.4).
    The index shows whether a region's in-movers have another sex-age
    composition than the reference; it says nothing about how many move in.
    """
    if "region" not in ds.dims:
        raise CubeError("in_migrant_index needs a 'region' dim")
    I, yrs = _pooled(ds, variable, years)
    over = [d for d in ("sex", "age") if d in I.dims]
    share = _shares(I, over)
    if isinstance(reference, str):
        if reference != "national":
            raise CubeError(f"reference must be 'national' or a DataArray, got {reference!r}")
        ref = _shares(I.sum("region"), over)
        note = "the in-movers of all regions of the cube (= 100)"
    else:
        if not isinstance(reference, xr.DataArray) or "age" not in reference.dims:
            raise CubeError("reference must be 'national' or a DataArray with an 'age' dim")
        ref = _shares(reference, [d for d in over if d in reference.dims])
        note = "given reference distribution"
    with np.errstate(divide="ignore", invalid="ignore"):
        idx = 100.0 * share / ref.where(ref > 0)
    idx = idx.transpose(*I.dims)
    idx.name = "in_migrant_index"
    idx.attrs = {"units": "percent", "long_name": "index of in-movers (indextal för inflyttare)",
                 "reference": note, "variable": variable, "years": f"{yrs[0]}-{yrs[-1]}",
                 "method": "100 * share_region(x,s) / share_reference(x,s)"}
    return idx
