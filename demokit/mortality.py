"""Mortality: death rates, interval and table death risks, the index of death risks.

Definitions follow SCB (docs/METHODS.md §3).  Deaths are read in the
convention recorded in ``deaths.attrs["age_convention"]`` and converted with
the Lexis split (:mod:`demokit.lexis`) where a function needs the other one.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._apply import is_dask
from ._periods import select_years
from .accounting import births_by_sex, cohort_start_population, mean_population
from .cube import (CubeError, age_convention, check_counts, check_events_at_risk, check_single_years, first_cell,
                   check_structure, format_cell, validate_period)
from .lexis import check_shares, to_convention
from .standardize import indirect_index, reference_risks

__all__ = ["death_rates", "death_risk_index", "death_risks"]


def _check_in_memory(da, name, **kw):
    if not is_dask(da):
        check_counts(da, name, **kw)


def _collapse_open_age(da, open_age_):
    """Sum ages >= open_age_ into the open age ``open_age_``."""
    ages = da["age"].values
    if open_age_ not in ages:
        raise CubeError(f"open_age={open_age_!r} is not one of the ages {int(ages[0])}..{int(ages[-1])}")
    head = da.sel(age=ages[ages < open_age_])
    tail = da.sel(age=ages[ages >= open_age_]).sum("age").expand_dims(age=[open_age_])
    out = xr.concat([head, tail], dim="age").transpose(*da.dims)
    out.attrs = dict(da.attrs)
    return out


def death_rates(ds, *, years, open_age=None, lower_share=0.5, infant_lower_share=0.9):
    """Return central death rates m(x) by completed age, pooled over ``years``.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with ``population`` (31 December, including the year before the
        period) and ``deaths``.
    years : int or sequence of int
        The period (consecutive years), e.g. ``range(2011, 2016)``.
    open_age : int, optional
        Pool deaths and exposure at this age and above into one open age
        (e.g. 90 or 95 for a municipality, where a few old persons die at ages
        with no mean population after the Lexis conversion).  Default: the
        cube's open age.
    lower_share, infant_lower_share : float
        Lexis split used only when deaths are by age at the end of the year
        (they are converted to completed age first, METHODS §1).

    Returns
    -------
    xarray.DataArray
        ``mx`` with every dim of the deaths except ``year`` (region, sex, age,
        ...), ``attrs``: units, years, method, ``zero_exposure_cells``.

    Raises
    ------
    CubeError
        A missing year (including the year before the period), negative or
        NaN counts, deaths where the exposure is zero (naming the cell).

    Notes
    -----
    ``m(x) = Σ_t D(x, t) / Σ_t M_age(x, t)`` with ``M_age(x, t) = (P(x, t−1) +
    P(x, t)) / 2`` (deaths by completed age at death, Lexis squares).  Events
    and exposures are pooled before dividing, never annual rates averaged.
    Cells with zero exposure and zero deaths get ``m = 0`` (no one at risk,
    nobody died) so that life tables never become NaN; their number is in
    ``attrs["zero_exposure_cells"]``.  The open age ω gathers ω and above.
    """
    check_shares(lower_share=lower_share, infant_lower_share=infant_lower_share)
    if "deaths" not in ds or "population" not in ds:
        raise CubeError(f"death_rates needs 'population' and 'deaths'; the cube has {sorted(ds.data_vars)}")
    check_single_years(ds, "death rates and risks")
    need = ["population", "deaths"]
    sub = select_years(_need(ds, need, "death rates")[need], years, need_previous=True)
    if not any(is_dask(sub[v]) for v in sub.data_vars):
        validate_period(sub)
    deaths = sub["deaths"].isel(year=slice(1, None))
    conv = age_convention(ds["deaths"], "deaths")
    deaths.attrs = dict(ds["deaths"].attrs)
    _check_in_memory(deaths, "deaths")
    note = "deaths by completed age at death"
    if conv == "year_end":
        if not is_dask(deaths):
            # the cohort at the start of the year, P(x-1, t-1) (open age: + P(w, t-1)); newborns: those alive
            # at the end of the year plus those who died
            pop = sub["population"]
            prev = pop.isel(year=slice(None, -1)).assign_coords(year=pop["year"].values[1:])
            start = prev.shift(age=1, fill_value=0.0)
            w = prev["age"].values[-1]
            start = xr.where(start["age"] == w, start + prev.sel(age=w), start)
            start = xr.where(start["age"] == prev["age"].values[0], pop.isel(year=slice(1, None)) + deaths, start)
            check_events_at_risk(deaths, start.transpose(*deaths.dims), "deaths")
        deaths = to_convention(deaths, "at_event", upper_share=1.0 - lower_share)
        note = f"deaths by age at the end of the year converted to completed age ({deaths.attrs['lexis_split']})"
    exposure = mean_population(sub["population"], by="age")
    if not is_dask(deaths):
        # a central rate above 2 cannot come from a year (q = m / (1 + m/2) <= 1): checked per cell and year
        check_events_at_risk(deaths, 2 * exposure.transpose(*deaths.dims), "deaths",
                             denominator="twice the mean population by age: a central rate above 2 is impossible")
    D = deaths.sum("year")
    E = exposure.sum("year")
    D, E = xr.align(D, E, join="exact")
    if open_age is not None:
        D, E = _collapse_open_age(D, int(open_age)), _collapse_open_age(E, int(open_age))
    yrs = [int(y) for y in sub.year.values[1:]]
    if not is_dask(D) and not is_dask(E):
        bad = (E <= 0) & (D > 0)
        if bool(bad.any()):
            idx = first_cell(bad)
            raise CubeError(f"{format_cell('deaths', D, idx)} summed over years {yrs[0]}-{yrs[-1]} "
                            "with zero mean population: deaths without population at risk (small area? "
                            "pool the oldest ages with open_age=, e.g. open_age=95)")
        n_zero = int(((E <= 0) & (D <= 0)).sum())
    else:
        n_zero = "not counted (dask)"
    with np.errstate(divide="ignore", invalid="ignore"):
        m = xr.where(E > 0, D / E.where(E > 0), 0.0)
    m = m.transpose(*[d for d in ds["deaths"].dims if d != "year"])
    m.name = "mx"
    m.attrs = {
        "units": "deaths per person-year",
        "long_name": "central death rate m(x) by completed age",
        "years": f"{yrs[0]}-{yrs[-1]}",
        "method": f"sum deaths / sum mean population by age (P(x,t-1)+P(x,t))/2; {note}",
        "zero_exposure_cells": n_zero,
        "zero_exposure_rule": "m = 0 where mean population and deaths are both 0",
        "open_age": int(m["age"].values[-1]),
    }
    return m


def _need(ds, names, what):
    """Return ``ds`` after checking it is a Dataset holding ``names`` (the error names the missing one)."""
    if not isinstance(ds, xr.Dataset):
        raise CubeError(f"{what} need a cube (xarray.Dataset), got {type(ds).__name__}")
    miss = [v for v in names if v not in ds.data_vars]
    if miss:
        raise CubeError(f"{what} need {miss[0]!r}; the cube has {sorted(ds.data_vars)}")
    return ds


def _year_end_deaths(ds, lower_share, infant_lower_share):
    d = ds["deaths"]
    return to_convention(d, "year_end", lower_share=lower_share, infant_lower_share=infant_lower_share)


def _interval_parts(ds, years, lower_share, infant_lower_share, boys_share):
    """Return (deaths by year-end age, population at risk) pooled over the period."""
    check_structure(_need(ds, ["population", "deaths"], "death risks"))
    check_single_years(ds, "death rates and risks")
    need = ["population", "deaths"] + (["births"] if "births" in ds else [])
    if "births" not in ds:
        raise CubeError("interval death risks need 'births' (the population at risk at age 0)")
    sub = select_years(_need(ds, need, "death risks")[need], years, need_previous=True)
    if not any(is_dask(sub[v]) for v in sub.data_vars):
        validate_period(sub)
    d = _year_end_deaths(sub, lower_share, infant_lower_share).isel(year=slice(1, None))
    _check_in_memory(d, "deaths")
    # population at risk indexed by year-end age: P(x-1, t-1); open age P(w-1,t-1) + P(w,t-1)
    at_risk = cohort_start_population(sub, boys_share=boys_share).transpose(*d.dims)
    check_events_at_risk(d, at_risk, "deaths")
    return d, at_risk, sub


def death_risks(ds, *, years, kind="interval", lower_share=0.5, infant_lower_share=0.9, a0="andreev_kingkade",
                boys_share=None):
    """Return death risks pooled over ``years``: interval risks (default) or table risks.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with ``population``, ``deaths`` and, for interval risks and
        the table's q0, ``births`` (by sex of the child).
    years : int or sequence of int
        The period (consecutive years).
    kind : {"interval", "table"}
        ``"interval"`` (intervalldödsrisker): the risk of dying during the year
        for those aged x at its start, **indexed by the age reached at the end
        of the year** (age 0: those born in the year), with a coordinate
        ``age_at_start = age − 1``.  ``"table"`` (tabelldödsrisker): the life
        table's q(x) between exact ages x and x+1.
    lower_share, infant_lower_share : float
        Lexis split when deaths must change convention (METHODS §1).
    a0 : float or str
        a0 rule for table risks when ``births`` are missing (else q0 = D0/B).
    boys_share : float, optional
        Splits births without a ``sex`` dim.

    Returns
    -------
    xarray.DataArray
        Risks (probabilities, units "1") by every dim but ``year``.

    Raises
    ------
    CubeError
        Missing years, negative or NaN counts, a year's deaths far above the
        population at risk (naming the cell and year; a small excess — moves
        within the year, CKM noise — is accepted, the risk clamped at 1, the
        cells counted in ``attrs["clamped_cells"]`` and a ``ClampWarning``
        issued), unknown ``kind``.

    Notes
    -----
    Interval: ``q(x+1) = Σ_t D_ye(x+1, t) / Σ_t P(x, t−1)``, ``q(0) = Σ_t D_ye(0, t) /
    Σ_t B(t)``, the open age ω: ``Σ D_ye(ω) / Σ (P(ω−1, t−1) + P(ω, t−1))``;
    deaths by age at the event are first moved to year-end ages with the Lexis
    split.  A population at risk of 0 with no deaths gives risk 0.

    Table: ``m(x)`` from :func:`death_rates`, ``q(x) = m / (1 + (1 − a) m)``
    with ``a = 0.5``; ``q(0) = Σ D(0) / Σ B`` (deaths under one year over
    births; SCB); the open age ``q = 1``.  Where the cube has lower-triangle
    deaths ``deaths_lower`` (by completed age, events after the birthday in the
    year), SCB's ``q(x) = D(x) / (R(x) + d(x))`` with ``R`` the mean population
    by age is used for x ≥ 1.
    """
    check_shares(lower_share=lower_share, infant_lower_share=infant_lower_share, boys_share=boys_share)
    if kind not in ("interval", "table"):
        raise CubeError(f"kind must be 'interval' or 'table', got {kind!r}")
    if kind == "interval":
        return _interval_death_risks(ds, years, lower_share, infant_lower_share, boys_share)
    return _table_death_risks(ds, years, lower_share, infant_lower_share, a0, boys_share)


def _interval_death_risks(ds, years, lower_share, infant_lower_share, boys_share):
    """Interval risks of :func:`death_risks`, by age at the end of the year; excess cells clamped at 1."""
    d, at_risk, sub = _interval_parts(ds, years, lower_share, infant_lower_share, boys_share)
    D = d.sum("year")
    P = at_risk.sum("year")
    n_clamped = 0
    if not is_dask(D) and not is_dask(P):
        # a small excess per year passed _interval_parts' check (moves within the year, CKM noise):
        # the risk is clamped at 1, the cells counted and warned about; NaN where nobody was at risk
        over = D > P
        n_clamped = int(over.sum())
        if n_clamped:
            import warnings
            from .small_area import ClampWarning
            idx = first_cell(over)
            warnings.warn(f"death_risks: {n_clamped} cell(s) with more deaths than persons at risk, e.g. "
                          f"{format_cell('deaths', D, idx)} against {float(P.values[idx]):g}; risks clamped "
                          "at 1 (attrs['clamped_cells'])", ClampWarning, stacklevel=3)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = xr.where(P > 0, (D / P.where(P > 0)).clip(max=1.0), xr.where(D > 0, 1.0, 0.0))
    q = q.transpose(*[x for x in ds["deaths"].dims if x != "year"])
    q = q.assign_coords(age_at_start=("age", q["age"].values - 1))
    yrs = [int(y) for y in sub.year.values[1:]]
    q.name = "interval_death_risk"
    q.attrs = {
        "clamped_cells": n_clamped,
        "units": "1",
        "long_name": "interval death risk (intervalldödsrisk) by age at the end of the year",
        "years": f"{yrs[0]}-{yrs[-1]}",
        "method": ("q(x+1) = sum D_ye(x+1,t) / sum P(x,t-1); q(0) = sum D_ye(0,t) / sum B(t); open age "
                   "over P(w-1,t-1)+P(w,t-1)"),
        "index": "age = age reached at the end of the year; age_at_start = age - 1 (SCB's tables)",
        "lexis_split": d.attrs.get("lexis_split", "none (deaths by age at the end of the year)"),
    }
    return q


def _table_death_risks(ds, years, lower_share, infant_lower_share, a0, boys_share):
    """Table risks q(x) of :func:`death_risks`: from m(x), SCB's lower-triangle rule, q0 = D0 / B, open age 1."""
    m = death_rates(ds, years=years, lower_share=lower_share, infant_lower_share=infant_lower_share)
    q = m / (1.0 + 0.5 * m)
    ages = m["age"].values
    note = "q = m / (1 + 0.5 m) for x >= 1"
    if "deaths_lower" in ds:
        need = ["population", "deaths", "deaths_lower"]
        sub = select_years(_need(ds, need, "death risks")[need], years, need_previous=True)
        D = sub["deaths"].isel(year=slice(1, None)).sum("year")
        low = sub["deaths_lower"].isel(year=slice(1, None))
        check_counts(low, "deaths_lower")   # (not a cube variable validate knows: a NaN was summed as 0)
        dl = low.sum("year")
        R = mean_population(sub["population"], by="age").sum("year")
        with np.errstate(divide="ignore", invalid="ignore"):
            q_scb = xr.where(R + dl > 0, D / (R + dl), 0.0)
        q = xr.where(q["age"] > ages[0], q_scb, q)
        note = "q = D / (R + d) with lower-triangle deaths d (SCB) for x >= 1"
    if "births" in ds:
        need = ["population", "deaths", "births"]
        sub = select_years(_need(ds, need, "death risks")[need], years)
        b = births_by_sex(sub, boys_share=boys_share).sum("year")
        d0 = sub["deaths"].sel(age=ages[0]).sum("year")
        if age_convention(ds["deaths"], "deaths") == "year_end":
            d0 = _year_end_deaths(sub, lower_share, infant_lower_share).sel(age=ages[0]).sum("year")
        with np.errstate(divide="ignore", invalid="ignore"):
            q0 = xr.where(b > 0, d0 / b.where(b > 0), 0.0)
        q = xr.where(q["age"] == ages[0], q0, q)
        note += "; q0 = D0 / B"
    else:
        from .lifetable import life_table

        q0 = life_table(m, a0=a0).qx.sel(age=ages[0])
        q = xr.where(q["age"] == ages[0], q0, q)
        note += f"; q0 from m0 with a0 = {a0}"
    q = xr.where(q["age"] == ages[-1], 1.0, q).transpose(*m.dims)
    q.name = "table_death_risk"
    q.attrs = {"units": "1", "long_name": "table death risk (tabelldödsrisk) q(x)", "years": m.attrs["years"],
               "method": note + "; open age q = 1"}
    return q


def death_risk_index(ds, *, years, reference="national", by_age=True, ci=0.95, lower_share=0.5,
                     infant_lower_share=0.9, boys_share=None):
    """Return SCB's index of death risks (indextal för dödsrisker) per region, total and by age.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with a ``region`` dim, ``population``, ``deaths``, ``births``.
    years : int or sequence of int
        The period.
    reference : "national" or xarray.DataArray
        ``"national"``: the interval risks of the sum of all regions of the cube
        (the whole country = 100); or given reference interval risks by
        (sex,) age.
    by_age : bool
        Also return the index by age ``100 · q_r(x) / q_ref(x)``.
    ci : float or sequence of float
        Confidence level(s) of the total index (exact Poisson for O < 10,
        Byar otherwise).

    Returns
    -------
    xarray.Dataset
        From :func:`demokit.indirect_index` over ``sex`` and ``age``:
        ``observed``, ``expected``, ``ratio``, ``index``, ``lower``, ``upper``
        per region; plus ``index_by_age`` (region, sex, age), missing (NaN)
        where the region had no deaths at that age or nobody at risk.

    Notes
    -----
    ``E_r = Σ_{s,x} P_r(x−1, s) · q_ref(x, s)`` with ``P_r`` the population at
    the start of the year (summed over the period; births at age 0),
    ``O_r = Σ D_r``, index ``= 100 · O_r / E_r``; by age ``100 · q_r / q_ref``
    (METHODS §3.3).  Both use interval risks indexed by age at the end of the
    year.
    """
    check_shares(lower_share=lower_share, infant_lower_share=infant_lower_share, boys_share=boys_share)
    if "region" not in ds.dims:
        raise CubeError("death_risk_index needs a 'region' dim")
    d, at_risk, _ = _interval_parts(ds, years, lower_share, infant_lower_share, boys_share)
    D = d.sum("year")
    P = at_risk.sum("year")
    q_ref, ref_note = reference_risks(D, P, reference)
    over = [x for x in ("sex", "age") if x in P.dims]
    res = indirect_index(D, P, q_ref, ci=ci, dim=over)
    if by_age:
        with np.errstate(divide="ignore", invalid="ignore"):
            q_r = (D / P.where(P > 0)).where(D > 0)
            res["index_by_age"] = (100.0 * q_r / q_ref.where(q_ref > 0)).transpose(*D.dims)
        res["index_by_age"] = res["index_by_age"].assign_coords(age_at_start=("age", D["age"].values - 1))
        res["index_by_age"].attrs = {"long_name": "100 * q_region(x) / q_reference(x)", "units": "percent",
                                     "missing": "NaN where the region had no deaths at that age"}
    res.attrs.update({"reference": ref_note, "risks": "interval death risks indexed by age at the end of the year",
                      "title": "indextal för dödsrisker"})
    return res
