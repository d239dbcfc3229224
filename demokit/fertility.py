"""Fertility (fruktsamhet, METHODS §4): age-specific fertility rates, TFR, mean age at childbirth."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._apply import is_dask
from ._periods import select_years
from .accounting import mean_population
from .cube import CubeError, age_convention, check_counts, first_cell, format_cell, validate_period

__all__ = ["fertility_rates", "tfr", "mean_age_at_childbirth", "fertility_parts"]


def _women(pop: xr.DataArray) -> xr.DataArray:
    if "sex" in pop.dims:
        if "female" not in pop["sex"].values:
            raise CubeError("population has no sex='female': fertility rates need the number of women")
        return pop.sel(sex="female", drop=True)
    return pop


def fertility_parts(ds: xr.Dataset, *, years, exposure: str | None = None):
    """Return ``(births, exposure, births_by_year, convention, exposure_kind, years)`` pooled over ``years``.

    ``births`` = Σ_t B(x, t) summed over the child's sex; ``exposure`` =
    Σ_t M(x, t), the women's mean population by cohort or by age (see
    :func:`fertility_rates`).
    """
    for v in ("population", "births"):
        if v not in ds:
            raise CubeError(f"fertility_rates needs {v!r}; the cube has {sorted(ds.data_vars)}")
    conv = age_convention(ds["births"], "births")
    if exposure is None:
        exposure = "cohort" if conv == "year_end" else "age"
    if exposure not in ("cohort", "age"):
        raise CubeError(f"exposure = {exposure!r}: expected None, 'cohort' or 'age'")
    sub = select_years(ds[["population", "births"]], years, need_previous=True)
    if not is_dask(sub["births"]) and not is_dask(sub["population"]):
        validate_period(sub)   # raw births by the child's sex: a NaN or negative cell never hides in a sum
    b = sub["births"].isel(year=slice(1, None))
    if "sex" in b.dims:
        b = b.sum("sex")
    if not is_dask(b):
        check_counts(b, "births")
    w = _women(sub["population"])
    m = mean_population(w.rename("population"), by=exposure)
    B = b.sum("year")
    M = m.sum("year")
    if not is_dask(B) and not is_dask(M):
        bad = (B > 0) & ~(M > 0)
        if bool(bad.any()):
            B_, M_ = xr.broadcast(B, M)
            idx = tuple(int(i) for i in np.argwhere(bad.transpose(*B_.dims).values)[0])
            cell = ", ".join(f"{d}={B_[d].values[i]!r}" for d, i in zip(B_.dims, idx))
            raise CubeError(f"births[{cell}] = {float(B_.values[idx])!r} (summed over the period) but the "
                            f"women's mean population there is 0")
    return B, M, b, conv, exposure, [int(y) for y in sub["year"].values[1:]]


def fertility_rates(ds: xr.Dataset, *, years, exposure: str | None = None) -> xr.DataArray:
    """Return age-specific fertility rates: live births per woman per year by the mother's age.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with ``population`` (by sex) and ``births`` (by the mother's
        age; a ``sex`` dim, the child's sex, is summed over).
    years : int or sequence of int
        The period; births and exposures are pooled over it (Σ births /
        Σ exposure).  The population of the year before the first is needed.
    exposure : {None, "cohort", "age"}
        The women's mean population used as exposure.  ``None`` (default)
        follows the births' ``age_convention`` (METHODS §2.2): births by age
        at the end of the year over the mean population **by cohort**
        ``(W(x−1, t−1) + W(x, t)) / 2`` (SCB's medelfolkmängd), births by
        age at the birth over the mean population **by age**
        ``(W(x, t−1) + W(x, t)) / 2``.

    Returns
    -------
    xarray.DataArray
        Rates (births per woman per year) by every dim of ``births`` except
        ``sex`` and ``year``; 0 where there are no births and no women.
        Multiply by 1,000 for SCB's "per 1,000 women".

    Raises
    ------
    CubeError
        Missing years, no women, negative or NaN counts (naming the cell),
        births where the exposure is 0, an unknown ``exposure``.

    Notes
    -----
    ``f(x) = Σ_t B(x, t) / Σ_t M(x, t)`` with ``M`` the women's mean
    population of the chosen kind; the TFR is ``Σ_x f(x)``.
    """
    B, M, b, conv, exposure, yrs = fertility_parts(ds, years=years, exposure=exposure)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = xr.where(M > 0, B / M.where(M > 0), 0.0)
    f = f.transpose(*[d for d in b.dims if d != "year"])
    f.name = "fertility_rate"
    f.attrs = {
        "units": "births per woman per year",
        "per_1000": "multiply by 1000 for SCB's births per 1,000 women",
        "long_name": "age-specific fertility rate (fruktsamhetstal) by the mother's age",
        "years": f"{yrs[0]}-{yrs[-1]}",
        "age_convention": conv,
        "exposure": (f"women's mean population by {exposure}: "
                     + ("(W(x-1,t-1)+W(x,t))/2" if exposure == "cohort" else "(W(x,t-1)+W(x,t))/2")),
        "method": "sum_t B(x,t) / sum_t M(x,t)",
    }
    return f


def _check_schedule(rates: xr.DataArray, dim: str, what: str) -> None:
    """Raise :class:`CubeError` at the first NaN, infinite or negative rate (a sum would skip a NaN).

    Dask-backed rates are not scanned (that would compute them).
    """
    if dim not in rates.dims:
        raise CubeError(f"rates have no dim {dim!r}; dims {rates.dims}")
    if is_dask(rates):
        return
    v = np.asarray(rates.values)
    if v.dtype.kind not in "biuf":
        raise CubeError(f"{rates.name or 'rates'}: expected numbers, got dtype {v.dtype}")
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(v) | (v < 0)
    if bad.any():
        raise CubeError(f"{format_cell(rates.name or 'rates', rates, first_cell(bad))}: fertility rates must be "
                        f"finite numbers >= 0 for {what}")


def tfr(rates: xr.DataArray, *, dim: str = "age") -> xr.DataArray:
    """Return the total fertility rate (summerat fruktsamhetstal): Σ_x f(x), children per woman.

    Parameters
    ----------
    rates : xarray.DataArray
        Age-specific fertility rates per woman (as from :func:`fertility_rates`);
        rates per 1,000 women (``attrs["units"]`` containing "1000" or
        "1,000") are divided by 1,000.
    dim : str
        The age dim (single years of age).

    Returns
    -------
    xarray.DataArray
        Children per woman, by every other dim.

    Notes
    -----
    ``TFR = Σ_x f(x)`` over single years of age (``n Σ f`` for ``n``-year groups
    is not handled here: ages that are not consecutive single years are an
    error); SCB: ``Σ_x f_x / 1000`` with rates per 1,000.  A NaN, infinite or
    negative rate is an error naming its cell (a sum would skip a NaN).
    """
    _check_schedule(rates, dim, "the TFR")
    age = np.asarray(rates[dim].values).tolist()
    if not all(isinstance(a, (int, float)) for a in age):
        raise CubeError(f"{dim}: ages must be numbers, got {next(a for a in age if not isinstance(a, (int, float)))!r}")
    gaps = np.flatnonzero(np.diff(age) != 1)
    if gaps.size:
        i = int(gaps[0])
        raise CubeError(f"{dim}: the TFR sums rates of consecutive single years of age; {dim}={age[i + 1]!r} "
                        f"follows {dim}={age[i]!r} (for n-year groups the TFR is n times the sum of the rates)")
    units = str(rates.attrs.get("units", ""))
    scale = 1000.0 if ("1000" in units or "1,000" in units) else 1.0
    out = rates.sum(dim) / scale
    out.name = "tfr"
    out.attrs = {"units": "children per woman", "long_name": "total fertility rate (summerat fruktsamhetstal)"}
    if "years" in rates.attrs:
        out.attrs["years"] = rates.attrs["years"]
    return out


def mean_age_at_childbirth(rates: xr.DataArray, *, dim: str = "age", exact: bool = True) -> xr.DataArray:
    """Return the mean age of mothers at childbirth implied by age-specific fertility rates.

    Parameters
    ----------
    rates : xarray.DataArray
        Fertility rates by the mother's age (from :func:`fertility_rates`).
    exact : bool
        ``True`` (default): the mean exact age at the birth; an age label ``x``
        stands for the exact age ``x − 0.5`` when births are by age at the end
        of the year (the mother turns ``x`` during the year, so she is on
        average half a year younger at the birth) and ``x + 0.5`` when they are
        by completed age at the birth.  ``False``: the plain labels ``x``.

    Returns
    -------
    xarray.DataArray
        Years, by every other dim (NaN where all rates are 0).

    Notes
    -----
    ``Σ_x (x + c) f(x) / Σ_x f(x)`` with ``c`` = −0.5 (year-end ages), +0.5
    (ages at the event) or 0 (``exact=False``): the mean age of the fertility
    schedule, independent of the age structure of the women.
    """
    _check_schedule(rates, dim, "the mean age at childbirth")
    conv = rates.attrs.get("age_convention", "year_end")
    c = (-0.5 if conv == "year_end" else 0.5) if exact else 0.0
    x = rates[dim].astype(float) + c
    tot = rates.sum(dim)
    out = (rates * x).sum(dim) / tot.where(tot > 0)
    out.name = "mean_age_at_childbirth"
    out.attrs = {"units": "years", "long_name": "mean age at childbirth of the fertility schedule",
                 "ages": (f"exact age = label {c:+.1f} ({conv} ages)" if exact else "age labels as given")}
    return out
