"""Small-area estimation: a reference schedule times the area's index, smoothed relationally.

SCB's *Statistikunderlag för befolkningsprognoser* gives every municipality, however
small, risks and rates that borrow their shape from a larger reference (the country
or the county) and keep the area's own level (the index from indirect
standardisation) and its clear deviations (the relational smoothing, METHODS §5.5).
This module does the same for one region or many:

* :func:`reference_schedules` — the reference schedules by sex and age: the
  country's death risks and fertility rates shipped with demokit (SCB 2006–2019), or
  those of a reference cube the user gives (a county, another country);
* :func:`small_area_rates` — for each area, the relational fit below ``old_age`` and
  the reference times a pooled old-age index from ``old_age`` up; every risk in
  [0, 1], never a division by a zero population at risk; impossible cells (events
  above the number at risk, e.g. from CKM noise) clamped, counted and reported;
* :func:`with_open_age` — fold the oldest ages of a cube into an open age group.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import xarray as xr

from ._periods import as_years
from .cube import CubeError, DemokitError, check_counts, first_cell, format_cell

__all__ = ["ClampWarning", "clamp_impossible", "reference_schedules", "small_area_rates", "with_open_age",
           "REFERENCE_YEARS", "OLD_AGE", "CREDIBILITY"]

#: the years of the country's schedules shipped with demokit (SCB, region 00)
REFERENCE_YEARS = (2006, 2019)
#: default age from which the oldest ages are pooled into one index [choice]
OLD_AGE = 90
#: expected events of prior weight that pull a thin old-age index to the fitted level [choice]
CREDIBILITY = 10.0


class ClampWarning(UserWarning):
    """Cells whose events exceeded the number at risk were clamped (counted in ``attrs``)."""


# ---------------------------------------------------------------------------
# open age
# ---------------------------------------------------------------------------

def with_open_age(ds, open_age: int):
    """Return the cube with the ages from ``open_age`` up folded into the open age group ``open_age``.

    Parameters
    ----------
    ds : xarray.Dataset or xarray.DataArray
        A cube with an ``age`` dim of single years.
    open_age : int
        The new last (open) age, e.g. 95 for 95+.

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        Stocks and events at ages ``>= open_age`` summed into ``open_age``;
        ``attrs["open_age"] = open_age``.

    Notes
    -----
    ``P(ω, t) = Σ_{x≥ω} P(x, t)`` (NaN if one of the ages is NaN: a missing count
    is never read as 0) and likewise for events by age at the end of
    the year, whose population at risk at the open age is ``P(ω−1, t−1) + P(ω, t−1)``
    (METHODS §3.1), so risks estimated on the folded cube use the same persons.
    Births by the mother's age are not affected (``ω`` above the fertile ages).
    """
    if "age" not in ds.dims:
        raise CubeError("with_open_age needs an 'age' dim")
    ages = np.asarray(ds["age"].values)
    try:
        w = int(open_age)
    except (TypeError, ValueError):
        raise CubeError(f"open_age = {open_age!r}: expected a whole number of years") from None
    if w != open_age or w < 50 or w > int(ages.max()):
        raise CubeError(f"open_age = {open_age!r}: must be a whole age between 50 and the cube's last age "
                        f"{int(ages.max())}")
    if w == int(ages.max()):
        return ds
    low = ds.sel(age=ages[ages < w])
    top = ds.sel(age=ages[ages >= w]).sum("age", keep_attrs=True, skipna=False).expand_dims(age=[w])
    if isinstance(ds, xr.Dataset):
        for v in ds.data_vars:
            if "age" not in ds[v].dims:
                top[v] = ds[v]
            else:
                top[v].attrs = ds[v].attrs
    out = xr.concat([low, top], dim="age", data_vars="all", coords="minimal", compat="override")
    if isinstance(ds, xr.Dataset):
        for v in ds.data_vars:
            if "age" not in ds[v].dims:
                out[v] = ds[v]
            out[v].attrs = ds[v].attrs
            out[v] = out[v].transpose(*ds[v].dims)
    else:
        out = out.transpose(*ds.dims)
    out.attrs = {**ds.attrs, "open_age": w}
    return out


# ---------------------------------------------------------------------------
# reference schedules
# ---------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _embedded_national():
    from importlib import resources

    from . import io
    d = resources.files("demokit.datasets").joinpath("data", "norrbotten")
    with resources.as_file(d) as p:
        nat = io.read_pxweb(p / "births_2006_2019.csv.gz", p / "deaths_2006_2019.csv.gz",
                            p / "mean_population_2006_2019.csv.gz", regions=["00"])
    return nat.squeeze("region", drop=True).load()


def _clip_years(yrs, first, last, what):
    inside = [y for y in yrs if first <= y <= last]
    if inside:
        return inside, ""
    n = len(yrs)
    use = list(range(last - n + 1, last + 1)) if yrs[0] > last else list(range(first, first + n))
    return use, f"{what}: the period {yrs[0]}-{yrs[-1]} is outside {first}-{last}; used {use[0]}-{use[-1]}"


def _ratio(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        return xr.where(den > 0, num / den.where(den > 0), 0.0)


def _profile(counts):
    tot = counts.sum(("sex", "age"))
    return _ratio(counts, tot)


def _national_at_risk(sub):
    """Return the country's population at the start of each interval, by sex, year-end age and year.

    ``P(x−1, t−1) = M_coh(x, t) + (D − net migration)/2 ≈ M + D/2``; newborns: the births of
    their sex (exact).
    """
    D, M, B = sub["deaths"], sub["mean_population"], sub["births"]
    return xr.where(D["age"] == 0, B.sum("age").broadcast_like(D), M + D / 2)


def _national_parts(years):
    """Return the country's (events, at_risk) for deaths and (births, women) for fertility, summed over years."""
    nat = _embedded_national()
    yrs, note = _clip_years(years, *REFERENCE_YEARS, "the country's reference schedules")
    sub = nat.sel(year=yrs)
    D, M, B = sub["deaths"], sub["mean_population"], sub["births"]
    at_risk = _national_at_risk(sub)
    W = M.sel(sex="female", drop=True)
    parts = {
        "deaths": (D.sum("year"), at_risk.sum("year")),
        "fertility": (B.sum(("year", "sex")), W.sum("year")),
    }
    return parts, yrs, note


def national_death_risks_by_year(years) -> xr.DataArray:
    """Return the country's interval death risks by sex, year-end age and year (shipped SCB data).

    Each year outside 2006–2019 takes the nearest shipped year (noted in
    ``attrs``).  Same definitions as :func:`reference_schedules`.
    """
    nat = _embedded_national()
    first, last = REFERENCE_YEARS
    yrs = [int(y) for y in years]
    use = [min(max(y, first), last) for y in yrs]
    sub = nat.sel(year=use)
    q = _ratio(sub["deaths"], _national_at_risk(sub)).assign_coords(year=yrs)
    q.attrs = {"source": "SCB, the whole country (region 00)",
               "years_used": ", ".join(f"{y}<-{u}" for y, u in zip(yrs, use) if y != u) or "as given"}
    return q


def _cube_parts(ref, years, variables):
    from .fertility import fertility_parts
    from .migration import interval_parts
    parts = {}
    for v in variables:
        if v == "fertility":
            B, M, *_ = fertility_parts(ref, years=years)
            parts[v] = (B, M)
        elif v in ref:
            E, P, _ = interval_parts(ref, v, years=years)
            parts[v] = (E, P)
    return parts


@lru_cache(maxsize=8)
def _migration_parts_cached(years):
    parts, counts, note = _migration_parts_uncached(list(years))
    return ({k: (e.load(), p.load()) for k, (e, p) in parts.items()}, {k: c.load() for k, c in counts.items()},
            note)


def _migration_parts(years):
    return _migration_parts_cached(tuple(int(y) for y in years))


def _migration_parts_uncached(years):
    """Return the pooled five Norrbotten municipalities' migration events and populations at risk."""
    from . import datasets
    from .migration import interval_parts
    from .regions import pool
    ds = pool(datasets.load("norrbotten"))
    yrs, note = _clip_years(years, REFERENCE_YEARS[0] + 1, REFERENCE_YEARS[1], "migration reference")
    parts = {v: interval_parts(ds, v, years=yrs)[:2] for v in ("out_migration", "emigration")}
    counts = {v: ds[v].sel(year=yrs).sum("year") for v in ("in_migration", "immigration")}
    return parts, counts, note


def reference_schedules(years, *, reference="sweden") -> xr.Dataset:
    """Return reference schedules by sex and age for small-area estimation.

    Parameters
    ----------
    years : sequence of int
        The statistical period (e.g. ``range(2015, 2020)``).
    reference : "sweden" or xarray.Dataset
        ``"sweden"`` (default): the country's death risks and fertility rates
        from SCB's national deaths, births and mean population shipped with
        demokit (2006–2019; a period outside those years uses the nearest years
        of the same length and says so in ``attrs``), and — since SCB publishes
        no national out-migration risks by municipality — the migration shapes of
        the five embedded Norrbotten municipalities pooled.  Or a reference cube
        (no ``region`` dim, or the regions are pooled) with ``population``,
        ``births``, ``deaths`` and, for the migration schedules, the flows: a
        county, the country or any larger area; schedules the cube cannot give
        come from the shipped ones.

    Returns
    -------
    xarray.Dataset
        ``death_risk``, ``out_migration_risk``, ``emigration_risk`` (interval
        risks by the age at the end of the year, dims ``sex, age``),
        ``fertility_rate`` (``age``), ``in_migration_profile``,
        ``immigration_profile`` (shares over sex and age summing to 1), and the
        parts behind each risk (``<name>_events``, ``<name>_at_risk``).
        ``attrs``: ``source``, ``years``, notes.

    Notes
    -----
    Interval risk ``q(x) = Σ_t D(x, t) / Σ_t P(x−1, t−1)`` (METHODS §3.1).  From
    SCB's national tables, which give the mean population by cohort
    ``M(x, t) = (P(x−1, t−1) + P(x, t)) / 2`` but not the population, the
    population at the start is ``M + D/2`` (exact up to half the net migration
    of the cohort in the year, a fraction of a per cent at every age), the
    newborns' the births of their sex.  Fertility ``f(x) = Σ B(x) / Σ M_women(x)``
    (§4).
    """
    yrs = [int(y) for y in as_years(years)]
    if isinstance(reference, str):
        if reference not in ("sweden", "national", "riket"):
            raise CubeError(f"reference = {reference!r}: expected 'sweden' or a reference cube (xarray.Dataset)")
        return _sweden_schedules(tuple(yrs)).copy(deep=True)
    return _reference_schedules(yrs, reference)


@lru_cache(maxsize=8)
def _sweden_schedules(yrs):
    return _reference_schedules(list(yrs), "sweden").load()


def _reference_schedules(yrs, reference):
    from .regions import pool
    notes = []
    out = {}
    if isinstance(reference, str):
        if reference not in ("sweden", "national", "riket"):
            raise CubeError(f"reference = {reference!r}: expected 'sweden' or a reference cube (xarray.Dataset)")
        parts, used, note = _national_parts(yrs)
        source = ("Statistics Sweden (SCB): the whole country (region 00), deaths by age at the end of the "
                  f"year, births by mother's age, mean population, {used[0]}-{used[-1]}")
    elif isinstance(reference, xr.Dataset):
        ref = pool(reference) if "region" in reference.dims else reference
        missing = [v for v in ("population", "births", "deaths") if v not in ref]
        if missing:
            raise CubeError(f"the reference cube lacks {missing}; it needs population, births and deaths")
        try:
            parts = _cube_parts(ref, yrs, ("deaths", "fertility", "out_migration", "emigration"))
        except CubeError as exc:   # name the cube: the cell is the reference's (regions pooled), not the data's
            raise CubeError(f"the reference cube{' (its regions pooled)' if 'region' in reference.dims else ''}: "
                            f"{exc}") from None
        note = ""
        source = str(reference.attrs.get("title", "a reference cube given by the user"))
    else:
        raise CubeError("reference must be 'sweden' or an xarray.Dataset (a reference cube)")
    if note:
        notes.append(note)
    mig_parts, mig_counts, mnote = _migration_parts(yrs)
    for v in ("out_migration", "emigration"):
        if v not in parts:
            parts[v] = mig_parts[v]
            if mnote:
                notes.append(mnote)
    names = {"deaths": "death_risk", "out_migration": "out_migration_risk", "emigration": "emigration_risk"}
    for v, name in names.items():
        E, P = parts[v]
        out[name] = _ratio(E, P)
        out[f"{name}_events"] = E
        out[f"{name}_at_risk"] = P
    Bf, Wf = parts["fertility"]
    out["fertility_rate"] = _ratio(Bf, Wf)
    for v in ("in_migration", "immigration"):
        if isinstance(reference, xr.Dataset) and v in reference:
            C = reference[v].sel(year=yrs)
            check_counts(C, f"the reference cube's {v}")   # (a NaN would be summed as 0)
            C = C.sum("year")
        else:
            C = mig_counts[v]
        if "region" in C.dims:
            C = C.sum("region")
        out[f"{v}_profile"] = _profile(C)
    out = xr.Dataset(out)
    out = out.drop_vars([c for c in out.coords if c not in ("sex", "age")])
    out.attrs = {"source": source, "years": f"{yrs[0]}-{yrs[-1]}",
                 "migration_source": ("the reference cube" if isinstance(reference, xr.Dataset)
                                      and "out_migration" in reference else
                                      "SCB: five Norrbotten municipalities pooled (Luleå, Piteå, Boden, "
                                      "Älvsbyn, Kalix)"),
                 "notes": "; ".join(dict.fromkeys(notes))}
    return out


# ---------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------

def clamp_impossible(events: xr.DataArray, exposure: xr.DataArray, *, link: str = "logit"):
    """Return ``(exposure, clamped)``: the exposure raised where the events make the cell impossible.

    With ``link="logit"`` (risks) a cell is impossible when its events exceed
    the number at risk; with ``"log"`` (rates) when it has events but no
    exposure.  There the exposure is raised to the events (an observed risk or
    rate of 1), so that a fit can use the cell; ``clamped`` (bool, dims of the
    broadcast inputs) marks those cells.  Such cells come from small numbers,
    events registered late, or CKM noise (METHODS §5.6, §10).
    """
    events, exposure = xr.broadcast(events, exposure)
    over = (events > exposure) if link == "logit" else ((events > 0) & (exposure <= 0))
    return xr.where(over, events, exposure), over


def _scale(ref, index, link):
    """Return the reference scaled by an index: proportional (log) or in the odds (logit)."""
    if link == "logit":
        return index * ref / (1.0 - ref + index * ref)
    return ref * index


def small_area_rates(events: xr.DataArray, exposure: xr.DataArray, reference: xr.DataArray, *,
                     link: str = "logit", smoothing: str | None = "relational", old_age: int | None = OLD_AGE,
                     credibility: float = CREDIBILITY, criterion: str = "bic", name: str = "events",
                     warn: bool = True) -> xr.Dataset:
    """Return small-area rates or risks: the reference schedule times the area's index, smoothed relationally.

    Parameters
    ----------
    events, exposure : xarray.DataArray
        Events and the population at risk (``link="logit"``) or exposure
        (``"log"``) pooled over the period, with an ``age`` dim and any others
        (``region``, ``sex``...).
    reference : xarray.DataArray
        The reference rates or risks along ``age`` (e.g. from
        :func:`reference_schedules`), broadcast against ``events``.
    link : {"logit", "log"}
        ``"logit"`` for risks (binomial, never above 1), ``"log"`` for rates
        (Poisson).
    smoothing : {"relational", "brass", "pspline"} or None
        The fit below ``old_age`` (:func:`demokit.smooth`); ``None`` keeps the
        observed ratios there (the reference times the pooled index where
        nobody was at risk).
    old_age : int or None
        From this age up the ages are pooled: one index over all of them, with
        the reference's shape (default 90).  ``None`` fits every age, and
        so does an ``old_age`` above the highest age (a schedule such as
        fertility at 15–49 has nothing to pool; with an open age group, pass at
        most the open age to pool it, as :func:`from_history` does).
    credibility : float
        Prior weight, in expected events, of the fitted level just below
        ``old_age`` in the pooled old-age index (default 10).
    criterion : str
        The smoothing parameter's criterion.
    name : str
        The events' name in messages.
    warn : bool
        Warn (:class:`ClampWarning`) when cells were clamped.

    Returns
    -------
    xarray.Dataset
        ``rate`` (dims of ``events``), ``index`` (100 · observed / expected
        over all ages, per curve), ``old_age_index`` (the pooled index used from
        ``old_age`` up, 100 = the reference), ``clamped`` (cells per curve whose
        events exceeded the number at risk).  ``attrs``: the method, ``old_age``,
        ``clamped_cells`` (total).

    Raises
    ------
    CubeError
        A NaN, infinite or negative count in ``events`` or ``exposure`` or
        rate in ``reference`` (naming the cell), a region or age of the events
        that the exposure or the reference lacks, or a reference with a dim the
        events lack.
    DemokitError
        An unknown ``link`` or a negative ``credibility``.
    SmoothingError
        Events in a curve whose reference is nowhere positive (naming the
        cell).

    Notes
    -----
    Below ``old_age``: ``g(r(x)) = g(ref(x)) + f(x)`` with ``f`` a P-spline
    chosen by ``criterion`` (METHODS §5.5): fitted events equal observed events.
    From ``old_age`` up: ``r(x) = ref(x) · I`` (log link) or
    ``odds r(x) = I · odds ref(x)`` (logit link) with the credibility-weighted
    index ``I = (O + κ I_f) / (E + κ)``, ``O = Σ_{x≥a} events``,
    ``E = Σ_{x≥a} exposure · ref``, ``I_f`` the fitted ratio to the
    reference at ``old_age − 1`` and ``κ`` = ``credibility``: a thin old-age
    population keeps the level of the ages below, a large one its own.
    Cells with more events than persons at risk (impossible for a risk; they
    come from small numbers, moves counted before the period or CKM noise) are
    fitted with the number at risk raised to the events; they are counted in
    ``clamped`` and a :class:`ClampWarning` says how many.  No cell divides by
    a zero population at risk: where nobody was at risk the rate comes from the
    fit or the reference.
    """
    if link not in ("logit", "log"):
        raise DemokitError(f"link = {link!r}: expected 'logit' or 'log'")
    if not (isinstance(credibility, (int, float, np.integer, np.floating)) and np.isfinite(credibility)
            and credibility >= 0):   # (a negative weight could make the old-age index negative or divide by ~0)
        raise DemokitError(f"credibility = {credibility!r}: expected a number of expected events >= 0")
    if "age" not in events.dims:
        raise CubeError(f"{name}: needs an 'age' dim")
    for d in events.dims:   # the same cells (a broadcast would drop or NaN-fill a region or an age, silently)
        for other, da, exact in (("the population at risk", exposure, True), ("the reference", reference, False)):
            if d not in da.dims or d not in events.coords or d not in da.coords:
                continue
            a, b = events[d].values.tolist(), da[d].values.tolist()
            miss = [v for v in a if v not in set(b)]
            if miss:
                raise CubeError(f"{name}: {other} lacks {d}={miss[0]!r} of the events")
            extra = [v for v in b if v not in set(a)] if exact else []
            if extra:
                raise CubeError(f"{name}: {other} has {d}={extra[0]!r}, which the events lack")
    events, exposure = xr.broadcast(events.astype(float), exposure.astype(float))
    ages = events["age"].values
    if old_age is not None and old_age <= int(ages.min()) + 10:
        raise CubeError(f"old_age = {old_age!r}: must leave at least ten younger ages to fit")
    extra = [d for d in reference.dims if d not in events.dims]
    if extra:
        raise CubeError(f"{name}: the reference has dim(s) {extra} that the events lack")
    dims_in = events.dims
    dims = [d for d in events.dims if d != "age"] + ["age"]
    ages_in = ages
    if (np.diff(ages) < 0).any():   # the old-age index takes the level of the last age below old_age
        events, exposure = events.sortby("age"), exposure.sortby("age")
        ages = events["age"].values
    events, exposure = events.transpose(*dims), exposure.transpose(*dims)
    ref = reference.astype(float).sel(age=ages)
    # a NaN reference rate became a rate of 0 (at the old ages: nobody dies), silently.  (A dask reference is
    # checked too: the estimate below computes it anyway.)
    with np.errstate(invalid="ignore"):
        bad_ref = ~(np.isfinite(ref.values) & (ref.values >= 0))
    if bad_ref.any():
        raise CubeError(f"{name}: {format_cell('reference', ref, first_cell(bad_ref))}: the reference rate must "
                        "be a finite number >= 0 at every age (a reference with events but nobody at risk at an "
                        "age gives NaN: fold the oldest ages with open_age=..., or use another reference)")
    ref = ref.broadcast_like(events).transpose(*dims)
    check_counts(events, name, max_count=np.inf)
    check_counts(exposure, f"{name} (population at risk)", max_count=np.inf)
    E, X, R = events.values, exposure.values, ref.values
    young = ages < old_age if old_age is not None else np.ones(ages.size, bool)
    rate, index, clamped, old_idx, bad = _small_area_core(E, X, R, ages, young, link=link, smoothing=smoothing,
                                                          credibility=credibility, criterion=criterion)
    if bad is not None:
        from .smoothing import SmoothingError
        raise SmoothingError(
            f"{format_cell(name, events.isel(age=young), bad)} but the reference rate there is "
            f"{float(R[..., young][bad])!r}: a relational fit cannot place events where the reference is 0 or "
            "missing")
    n_clamped = int(clamped.sum())
    curve_coords = {k: c for k, c in events.coords.items() if "age" not in c.dims}
    out = xr.Dataset({"rate": (dims, rate), "index": (dims[:-1], index), "clamped": (dims[:-1], clamped)},
                     coords=events.coords)
    if old_idx is not None:
        out["old_age_index"] = xr.DataArray(100.0 * old_idx, dims=dims[:-1], coords=curve_coords)
    out = out.transpose(*dims_in)
    if (ages != ages_in).any():
        out = out.sel(age=ages_in)
    out["rate"].attrs = {"units": "1" if link == "logit" else "events per person-year",
                         "description": "small-area estimate: reference x index, smoothed relationally"}
    out["index"].attrs = {"units": "percent", "description": "100 * observed / expected with the reference"}
    out.attrs = {"method": f"{smoothing or 'observed'} below age {old_age}; reference x pooled index from "
                           f"age {old_age} up (credibility {credibility:g} expected events)"
                 if old_age is not None else f"{smoothing or 'observed'} at every age",
                 "link": link, "old_age": -1 if old_age is None else int(old_age), "clamped_cells": n_clamped}
    if n_clamped and warn:
        warnings.warn(f"{name}: {n_clamped} cell(s) with more events than persons at risk were clamped "
                      "(risk at most 1; counted in attrs['clamped_cells'])", ClampWarning, stacklevel=2)
    return out


def _small_area_core(E, X, R, ages, young, *, link, smoothing, credibility, criterion):
    """numpy core of :func:`small_area_rates` on arrays ``(..., age)``.

    Returns ``(rate, index, clamped, old_index or None, bad)`` with ``bad``
    the positional index (within the young ages) of the first cell with events
    where the reference is not positive, or ``None``.
    """
    logit = link == "logit"
    over = (E > X) if logit else ((E > 0) & (X <= 0))
    Xc = np.where(over, E, X)                       # impossible cells: the exposure raised to the events
    clamped = over.sum(-1)
    Ey, Xy, Ry = E[..., young], Xc[..., young], R[..., young]
    # where the reference is 0 but the area has events, give the reference a tiny level
    with np.errstate(invalid="ignore"):
        pos = Ry > 0
        floor = np.where(pos, Ry, np.inf).min(-1, keepdims=True)
        floor = np.where(np.isfinite(floor), floor * 0.1, np.nan)
        Ry = np.where((Ry <= 0) & (Ey > 0), floor, Ry)
    with np.errstate(divide="ignore", invalid="ignore"):
        if smoothing is None:
            # observed; nobody at risk → the reference times the area's overall index
            tot_e = np.sum(Xy * Ry, axis=-1, keepdims=True)
            idx_all = np.where(tot_e > 0, np.sum(Ey, axis=-1, keepdims=True) / tot_e, 1.0)
            obs = Ey / np.where(Xy > 0, Xy, np.nan)
            rate_y = np.where(np.isnan(obs), _scale(Ry, idx_all, link), obs)
        else:
            bad = (Ey > 0) & ~(Ry > 0)
            if bad.any():
                return None, None, None, None, first_cell(bad)
            from .smoothing import _glm_rates
            shape = Ey.shape
            rate_y = _glm_rates(Ey.reshape(-1, shape[-1]), Xy.reshape(-1, shape[-1]), Ry.reshape(-1, shape[-1]),
                               ages[young], method=smoothing, link=link, criterion=criterion).reshape(shape)
    if logit:
        rate_y = np.clip(rate_y, 0.0, 1.0)
    rate = np.empty(E.shape)
    rate[..., young] = rate_y
    old_idx = None
    old = ~young
    if old.any():
        ref_o = R[..., old]
        obs_old = np.sum(E[..., old], axis=-1)
        exp_old = np.sum(X[..., old] * ref_o, axis=-1)
        r_last, f_last = rate_y[..., -1], Ry[..., -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            i_f = (r_last / (1 - r_last)) / (f_last / (1 - f_last)) if logit else r_last / f_last
        i_f = np.where(np.isfinite(i_f) & (i_f > 0), i_f, 1.0)
        old_idx = (obs_old + credibility * i_f) / (exp_old + credibility)
        rate[..., old] = _scale(ref_o, old_idx[..., None], link)
    rate = np.nan_to_num(rate, nan=0.0, posinf=np.inf, neginf=-np.inf)
    if logit:
        rate = np.clip(rate, 0.0, 1.0)
    expected = np.sum(X * R, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        index = 100.0 * np.sum(E, axis=-1) / np.where(expected > 0, expected, np.nan)
    return rate, index, clamped, old_idx, None
