"""Labour force (sysselsättning, förvärvsintensitet; METHODS §8)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._apply import is_dask
from .cube import CubeError, first_cell, format_cell

__all__ = ["labour_force", "shift_profile"]


def _first(name, da, mask):
    idx = first_cell(mask)
    return format_cell(name, da, idx)


def shift_profile(rates, *, years, above=60):
    """Return employment rates with the profile above age ``above`` moved ``years`` years older.

    ``rate'(x) = rate(max(above, x − years))`` for ``x ≥ above`` (linear
    interpolation for a fractional shift); ages below ``above`` are unchanged.
    A positive ``years`` models later retirement.
    """
    if "age" not in rates.dims:
        raise CubeError("employment rates lack the dim 'age'")
    if years == 0:
        return rates
    age = rates["age"].values.astype(float)
    src = np.where(age >= above, np.maximum(above, age - years), age)
    shifted = rates.interp(age=src)
    shifted = shifted.assign_coords(age=rates["age"].values)
    return shifted.transpose(*rates.dims)


def _check_covers(name, da, P) -> None:
    """Raise :class:`CubeError` where ``da`` lacks a label of the population on a shared dim other than age.

    (Arithmetic would align them: the persons of a region, year or scenario the rates lack would be dropped.)
    """
    if da is None:
        return
    for d in da.dims:
        if d == "age" or d not in P.dims or d not in da.coords or d not in P.coords:
            continue
        have = set(da[d].values.tolist())
        miss = [v for v in P[d].values.tolist() if v not in have]
        if miss:
            raise CubeError(f"{name} lack {d}={miss[0]!r} of the projection (the persons there would be dropped)")


def labour_force(projection, employment_rates, *, retirement_shift=0, shift_above=60, scale=None,
                 commuters=None):
    """Return the employed, the not employed and the economic dependency ratio.

    Parameters
    ----------
    projection : Dataset or DataArray
        Projected population (night population, nattbefolkning).
    employment_rates : DataArray
        Share (0–1) of residents of a sex and age who are gainfully employed
        (förvärvsintensitet), dims ``sex, age`` and optionally ``region``,
        ``year``, ``scenario``...; ages not given count as 0.
    retirement_shift : float, default 0
        Scenario: move the profile above ``shift_above`` this many years older
        (later retirement), see :func:`shift_profile`.
    shift_above : int, default 60
    scale : DataArray, optional
        Scenario: multipliers of the rates by ``age`` (and ``sex``...); ages not
        given are multiplied by 1.  Rates are capped at 1 (the number of capped
        cells is in ``attrs["capped_cells"]``).
    commuters : DataArray, optional
        Scenario: cross-border commuters (to Norway, Denmark) by ``sex``, ``age``
        (and ``region``, ``year``...), persons counted as not employed in the
        Swedish register statistics; they are added to the employed.

    Returns
    -------
    xarray.Dataset
        ``employed``, ``not_employed`` (same dims as the population),
        ``employment_rate`` (the rates used, after scenario changes) and
        ``economic_dependency_ratio`` (not employed per employed person, all
        ages, by the remaining dims such as ``region``, ``year``).

    Raises
    ------
    CubeError
        Rates outside [0, 1], negative commuters, or employed more than the
        population in a cell, naming the cell.

    Notes
    -----
    ``E(x, s, t) = P(x, s, t) · r'(x, s) + C(x, s)``, ``r' = min(1, scale · shift(r))``;
    ``not employed = P − E``; economic dependency ratio ``Σ (P − E) / Σ E``
    over sex and age (METHODS §8).
    """
    P = projection["population"] if isinstance(projection, xr.Dataset) else projection
    r = employment_rates
    for d in ("sex", "age"):
        if d not in r.dims:
            raise CubeError(f"employment_rates lack the dim {d!r}")
    if not is_dask(r):
        bad = ~np.isfinite(r.values) | (r.values < 0) | (r.values > 1)
        if bad.any():
            raise CubeError(f"{_first('employment_rates', r, bad)}: employment rates are shares in [0, 1]")
    for name, da in (("employment_rates", r), ("scale", scale), ("commuters", commuters)):
        _check_covers(name, da, P)
    extra = [a for a in r["age"].values.tolist() if a not in set(P["age"].values.tolist())]
    if extra:
        raise CubeError(f"employment_rates have age={extra[0]!r}, which the projection lacks")
    r = r.reindex(age=P["age"].values, fill_value=0.0).sel(sex=P["sex"].values)
    r = shift_profile(r, years=retirement_shift, above=shift_above)
    capped = 0
    if scale is not None:
        s = scale.reindex(age=P["age"].values, fill_value=1.0) if "age" in scale.dims else scale
        r = r * s
        if not is_dask(r):
            capped = int((r > 1).sum())
        r = r.clip(0.0, 1.0)
    E = P * r
    if commuters is not None:
        if not is_dask(commuters) and (commuters.values < 0).any():
            raise CubeError(f"{_first('commuters', commuters, commuters.values < 0)}: must be >= 0")
        c = commuters.reindex(age=P["age"].values, fill_value=0.0) if "age" in commuters.dims else commuters
        E = E + c
    E = E.transpose(*[d for d in E.dims if d not in P.dims], *P.dims)
    if not is_dask(E) and not is_dask(P):
        Pb = P.broadcast_like(E)
        bad = (E > Pb + 1e-9).values
        if bad.any():
            raise CubeError(f"{_first('employed', E, bad)} exceeds the population "
                            f"{float(Pb.values[np.unravel_index(int(np.argmax(bad)), bad.shape)])!r} "
                            "(too many commuters?)")
    NE = P - E
    edr = NE.sum(["sex", "age"]) / E.sum(["sex", "age"])
    E.attrs = {"units": "persons", "long_name": "gainfully employed (förvärvsarbetande)"}
    NE.attrs = {"units": "persons", "long_name": "not employed"}
    r.attrs = {"units": "1", "long_name": "employment rate used (after scenario changes)"}
    edr.attrs = {"units": "1", "long_name": "economic dependency ratio: not employed per employed person"}
    out = xr.Dataset({"employed": E, "not_employed": NE, "employment_rate": r,
                      "economic_dependency_ratio": edr})
    out.attrs = {"retirement_shift": retirement_shift, "shift_above": shift_above, "capped_cells": capped,
                 "commuters_added": int(commuters is not None), "method": "METHODS §8"}
    return out
