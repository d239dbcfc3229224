"""Household projection (hushållsprognos, METHODS §7): household rates and households."""

from __future__ import annotations

import xarray as xr

from ._apply import is_dask
from .cube import CubeError, check_counts, first_cell, format_cell

__all__ = ["household_rates", "households"]


def _pop(obj, name):
    if isinstance(obj, xr.Dataset):
        if "population" not in obj:
            raise CubeError(f"{name}: the Dataset has no 'population' variable")
        return obj["population"]
    if not isinstance(obj, xr.DataArray):
        raise CubeError(f"{name}: expected a DataArray or Dataset, got {type(obj).__name__}")
    return obj


def household_rates(reference_persons, population, *, years=None):
    """Return household rates (hushållskvoter): reference persons per 1,000 persons, pooled over years.

    Parameters
    ----------
    reference_persons : DataArray
        Reference persons of households (the oldest person of each household)
        by ``sex``, ``age`` (and ``region``, ``year``, ...).
    population : DataArray or Dataset
        Population on the same cells (a Dataset's ``population``).
    years : iterable of int, optional
        The years to pool (default: every year in the data; SCB pools 5).

    Returns
    -------
    xarray.DataArray
        ``rate`` per 1,000 without the ``year`` dim (``attrs["units"] = "per 1000"``);
        NaN where the pooled population is 0.

    Raises
    ------
    CubeError
        Negative or NaN counts, missing years, more reference persons than persons.

    Notes
    -----
    ``rate(s, x) = 1000 · Σ_t H(s, x, t) / Σ_t P(s, x, t)`` (pooled, not an
    average of yearly rates; METHODS §1).
    """
    P = _pop(population, "population")
    H = reference_persons
    if years is not None:
        years = [int(y) for y in years]
        for name, da in (("reference_persons", H), ("population", P)):
            if "year" not in da.dims:
                raise CubeError(f"{name} has no 'year' dim to select years from")
            have = set(da["year"].values.tolist())
            miss = [y for y in years if y not in have]
            if miss:
                raise CubeError(f"{name} lacks year={miss[0]}")
        H, P = H.sel(year=years), P.sel(year=years)
    check_counts(H, "reference_persons")
    check_counts(P, "population")
    H, P = xr.align(H, P, join="exact")
    if not is_dask(H) and not is_dask(P):
        bad = (H > P).values
        if bad.any():
            idx = first_cell(bad)
            raise CubeError(f"{format_cell('reference_persons', H, idx)} exceeds the population "
                            f"{float(P.values[idx])!r}: at most one reference person per person")
    if "year" in H.dims:
        H, P = H.sum("year"), P.sum("year")
    rate = 1000.0 * H / P.where(P > 0)
    rate.name = "household_rate"
    rate.attrs = {"units": "per 1000", "long_name": "reference persons of households per 1,000 persons",
                  "method": "pooled: 1000 * sum_t H / sum_t P (METHODS §7)"}
    return rate


def households(projection, rates, *, by_age=False):
    """Return the projected number of households (Σ population · rate / 1000).

    Parameters
    ----------
    projection : Dataset or DataArray
        Projected population (``population`` of :func:`demokit.project`).
    rates : DataArray
        Household rates per 1,000 by ``sex``, ``age`` (optionally ``region``,
        ``year``, ``scenario``...), e.g. from :func:`household_rates`.
    by_age : bool, default False
        Keep the households by the reference person's sex and age.

    Returns
    -------
    xarray.DataArray
        ``households`` with the projection's dims minus ``sex`` and ``age``
        (unless ``by_age``).

    Raises
    ------
    CubeError
        Rates missing, negative or above 1,000 where the population is positive,
        or lacking an age of the projection.

    Notes
    -----
    ``H(t) = Σ_{x,s} P(x, s, t) · rate(x, s) / 1000`` (METHODS §7).
    """
    P = _pop(projection, "projection")
    for d in rates.dims:   # every label of the projection (alignment would drop a region's or year's households)
        if d in P.dims and d in rates.coords and d in P.coords:
            miss = [v for v in P[d].values.tolist() if v not in set(rates[d].values.tolist())]
            if miss:
                raise CubeError(f"rates lack {d}={miss[0]!r} of the projection")
    r = rates.sel({d: P[d].values for d in ("sex", "age") if d in rates.dims and d in P.dims})
    if not is_dask(r) and not is_dask(P):
        # a missing rate (NaN: nobody in the cell when the rates were made) is 0 only where nobody lives now
        miss = r.isnull() & (P > 0)
        miss = miss.any([d for d in miss.dims if d not in r.dims]).transpose(*r.dims)
        if bool(miss.any()):
            raise CubeError(f"{format_cell('rates', r, first_cell(miss.values))}: a household rate is missing "
                            "where the projection has persons")
    r = r.fillna(0.0)
    if not is_dask(r):
        v = r.values
        bad = (v < 0) | (v > 1000)
        if bad.any():
            idx = first_cell(bad)
            raise CubeError(f"{format_cell('rates', r, idx)}: household rates are per 1,000 and lie in [0, 1000]")
    h = P * r / 1000.0
    if not by_age:
        h = h.sum([d for d in ("sex", "age") if d in h.dims])
    h.name = "households"
    h.attrs = {"units": "households", "method": "sum over sex and age of population * rate / 1000 (METHODS §7)"}
    return h
