"""Mortality improvement: the Lee–Carter model and the factors it gives a projection.

Constant death risks make a forecast's deaths too high (the backtests show it): life
expectancy in Sweden has risen by about two years a decade.  :func:`lee_carter` fits
``log m(x, t) = a(x) + b(x) k(t)`` to a long national series (the Human Mortality
Database's Sweden, shipped with demokit, or any deaths/exposure cube);
:func:`improvement_factors` turns its drift into yearly factors that multiply a
region's own risks (its index stays, the national pace of improvement is borrowed).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import xarray as xr

from .cube import CubeError, check_counts, first_cell

__all__ = ["lee_carter", "improvement_factors", "sweden_lee_carter", "LC_YEARS"]

#: the fitting window of the shipped national trend (HMD Sweden) [choice]
LC_YEARS = (1990, 2014)


def lee_carter(deaths: xr.DataArray, exposure: xr.DataArray, *, years=None, ages=None,
               zero_deaths: float = 0.5) -> xr.Dataset:
    """Return the Lee–Carter parameters ``a(x)``, ``b(x)``, ``k(t)`` and the drift of ``k``.

    Parameters
    ----------
    deaths, exposure : xarray.DataArray
        Deaths and person-years by ``age`` and ``year`` (and any other dims,
        e.g. ``sex``, each fitted separately), e.g. the Human Mortality
        Database's ``Deaths_1x1`` and ``Exposures_1x1``.
    years, ages : sequence of int, optional
        The fitting window (default: all).
    zero_deaths : float
        Cells without deaths (children in a low-mortality country) enter the
        log as this many deaths (default 0.5, a continuity correction) [choice].

    Returns
    -------
    xarray.Dataset
        ``a`` (dims ``age`` + others), ``b`` (Σ_x b = 1), ``k`` (``year``;
        Σ_t k = 0), ``drift`` (mean yearly change of ``k``), ``fitted_log_rate``.

    Notes
    -----
    Lee & Carter (1992): ``a(x) = mean_t log m(x, t)``; the first singular
    vectors of the centred matrix ``log m − a`` give ``b`` and ``k``,
    normalised so that ``Σ b = 1`` and ``Σ k = 0``; the drift of a random walk
    for ``k`` is ``(k(T) − k(1)) / (T − 1)``.  (The second-stage re-estimation of
    ``k`` to match observed deaths is not done: the factors use only ``b`` and the
    drift.)  Cells without exposure are not allowed.
    """
    if years is not None:
        from ._periods import select_years
        deaths, exposure = select_years(deaths, years, name="deaths"), select_years(exposure, years, name="exposure")
    if ages is not None:
        ages = [int(a) for a in ages]
        for name, da in (("deaths", deaths), ("exposure", exposure)):
            miss = [a for a in ages if a not in set(da["age"].values.tolist())]
            if miss:
                raise CubeError(f"{name}: age={miss[0]} is not in the data")
        deaths, exposure = deaths.sel(age=ages), exposure.sel(age=ages)
    for d in deaths.dims:   # the same labels (a broadcast would fill a missing year with NaN)
        if d in exposure.dims and d in deaths.coords and d in exposure.coords:
            a, b = deaths[d].values.tolist(), exposure[d].values.tolist()
            only = [v for v in a if v not in set(b)] or [v for v in b if v not in set(a)]
            if only:
                which, other = ("deaths", "exposure") if only[0] in set(a) else ("exposure", "deaths")
                raise CubeError(f"{which} has {d}={only[0]!r}, which {other} lacks")
    yrs = deaths["year"].values.tolist()
    gaps = np.flatnonzero(np.diff(yrs) != 1)
    if gaps.size:   # k(t) is a yearly series: the drift (k(T) - k(1)) / (T - 1) counts steps of one year
        i = int(gaps[0])
        raise CubeError(f"year: a Lee-Carter fit needs consecutive years; year={yrs[i + 1]!r} follows "
                        f"year={yrs[i]!r}")
    deaths, exposure = xr.broadcast(deaths.astype(float), exposure.astype(float))
    check_counts(deaths, "deaths", max_count=np.inf)
    check_counts(exposure, "exposure", max_count=np.inf)
    deaths = deaths.where(deaths > 0, float(zero_deaths))
    bad = ~((deaths > 0) & (exposure > 0))
    if bool(bad.any()):
        from .cube import format_cell
        m = bad.transpose(*deaths.dims).values
        idx = first_cell(m)
        raise CubeError(f"{format_cell('deaths', deaths, idx)}: a Lee-Carter fit needs deaths and exposure > 0 "
                        "in every cell; narrow the ages or years")
    logm = np.log(deaths / exposure)
    other = [d for d in logm.dims if d not in ("age", "year")]
    logm = logm.transpose(*other, "age", "year")
    a = logm.mean("year")
    Z = (logm - a).values
    U, S, Vt = np.linalg.svd(Z, full_matrices=False)
    u1, v1, s1 = U[..., :, 0], Vt[..., 0, :], S[..., 0]
    su = u1.sum(-1, keepdims=True)
    b = u1 / su
    k = (s1[..., None] * v1) * su
    k = k - k.mean(-1, keepdims=True)
    dims_b = (*other, "age")
    dims_k = (*other, "year")
    coords = {d: logm[d] for d in logm.dims}
    out = xr.Dataset({"a": a,
                      "b": xr.DataArray(b, dims=dims_b, coords={d: coords[d] for d in dims_b}),
                      "k": xr.DataArray(k, dims=dims_k, coords={d: coords[d] for d in dims_k})})
    T = out.sizes["year"]
    out["drift"] = (out["k"].isel(year=-1) - out["k"].isel(year=0)) / (T - 1)
    out["fitted_log_rate"] = out["a"] + out["b"] * out["k"]
    out["drift"].attrs = {"description": "mean yearly change of k (random walk with drift)"}
    out.attrs = {"model": "log m(x,t) = a(x) + b(x) k(t) (Lee & Carter 1992), SVD, sum b = 1, sum k = 0",
                 "years": f"{int(out['year'][0])}-{int(out['year'][-1])}"}
    return out


@lru_cache(maxsize=4)
def _sweden(first: int, last: int, top: int) -> xr.Dataset:
    from . import datasets
    from .small_area import with_open_age
    h = datasets.load("hmd_sweden")
    d = with_open_age(h["deaths"], top)
    e = with_open_age(h["exposure"], top)
    return lee_carter(d, e, years=range(first, last + 1)).load()


def sweden_lee_carter(*, years=LC_YEARS, open_age: int = 100) -> xr.Dataset:
    """Return the Lee–Carter fit of Sweden's mortality by sex (Human Mortality Database, shipped).

    Parameters
    ----------
    years : (int, int)
        First and last year of the fit (default 1990–2014, the last 25 years of
        the shipped series).
    open_age : int
        Ages from here up are pooled (default 100, as SCB's tables).

    Returns
    -------
    xarray.Dataset
        See :func:`lee_carter`.
    """
    return _sweden(int(years[0]), int(years[1]), int(open_age)).copy()


def improvement_factors(trend: xr.Dataset, *, from_year: float, years, ages=None) -> xr.DataArray:
    """Return yearly factors by which death risks fall: ``exp(b(x) · drift · (t − from_year))``.

    Parameters
    ----------
    trend : xarray.Dataset
        A Lee–Carter fit (:func:`lee_carter`, :func:`sweden_lee_carter`).
    from_year : float
        The year the risks describe (e.g. the middle of the statistical period,
        2017 for 2015–2019); the factor is 1 there.
    years : sequence of int
        The projected years.
    ages : array_like, optional
        Ages of the risks; ages beyond the fit take the last fitted age's ``b``.

    Returns
    -------
    xarray.DataArray
        Dims of ``b`` (``sex``, ``age``) and ``year``.

    Notes
    -----
    Under Lee–Carter with a random walk with drift, the expected ratio of the
    rate in year ``t`` to the rate in year ``t0`` is ``exp(b(x) d (t − t0))``
    (``d`` the drift of ``k``); applied to the risks of a region, its own level
    (its index against the country) stays and the country's improvement is
    borrowed.  For risks below about 0.5 the ratio of risks is close to the
    ratio of rates; risks stay in [0, 1] since the factors are at most 1 when
    ``d < 0``.
    """
    b = trend["b"]
    if ages is not None:
        ages = np.asarray(ages)
        b = b.sel(age=np.clip(ages, int(b["age"].min()), int(b["age"].max()))).assign_coords(age=ages)
    yrs = xr.DataArray([int(y) for y in years], dims="year", name="year")
    yrs = yrs.assign_coords(year=yrs)
    f = np.exp(b * trend["drift"] * (yrs - float(from_year)))
    f.attrs = {"description": f"mortality improvement factors relative to {from_year:g}",
               "model": trend.attrs.get("model", ""), "fitted_years": trend.attrs.get("years", "")}
    return f
