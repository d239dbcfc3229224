"""Integer parts that add up to given totals (for CKM-perturbed, inconsistent inputs)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .cube import DemokitError, format_cell

__all__ = ["ReconcileError", "reconcile"]


class ReconcileError(DemokitError, ValueError):
    """Parts and totals that cannot be reconciled (bad values, mismatched coords, no parts to scale)."""


def _check(da: xr.DataArray, name: str) -> np.ndarray:
    x = np.asarray(da.values, dtype=float)
    bad = ~np.isfinite(x) | (x < 0)
    if bad.any():
        idx = np.unravel_index(int(np.flatnonzero(bad)[0]), x.shape)
        raise ReconcileError(f"reconcile: {format_cell(name, da, idx)}: must be a finite count ≥ 0")
    return x


def reconcile(parts: xr.DataArray, totals: xr.DataArray, *, dims) -> xr.DataArray:
    """Return integer ``parts`` scaled and rounded so that they add up to ``totals`` over ``dims``.

    Parameters
    ----------
    parts : xarray.DataArray
        Non-negative counts, e.g. population by ``region, sex, age`` (single years,
        or DeSO areas), perturbed independently of the totals.
    totals : xarray.DataArray
        Non-negative whole numbers with the dims of ``parts`` except ``dims``, e.g.
        a published kommun total by ``region, sex``; coords must equal those of ``parts``.
    dims : str or sequence of str
        The dims summed over: ``parts.sum(dims)`` must equal ``totals``.

    Returns
    -------
    xarray.DataArray
        int64, the dims and coords of ``parts``; ``attrs``: ``inconsistency_max``
        (largest :math:`|\\sum parts - total|` over the groups), ``inconsistency_sum``
        (sum of those), ``inconsistency_relative_max`` (largest relative to the
        total), ``groups_inconsistent`` (groups whose parts did not add up),
        ``groups`` and ``method``.

    Notes
    -----
    For a group :math:`g` (a cell of ``totals``) with parts :math:`x_{gi}` and total
    :math:`T_g`: iterative proportional fitting to one margin converges in one step,
    :math:`s_{gi} = x_{gi} T_g / \\sum_i x_{gi}`.  Then largest-remainder (Hamilton)
    rounding: every part gets :math:`\\lfloor s_{gi} \\rfloor` and the
    :math:`T_g - \\sum_i \\lfloor s_{gi} \\rfloor` parts with the largest fractional parts
    get one more (ties: the first in order).  So :math:`\\sum_i y_{gi} = T_g`
    exactly, :math:`|y_{gi} - s_{gi}| < 1`, and :math:`x_{gi} = 0 \\Rightarrow y_{gi} = 0`
    (the remainder is less than the number of positive parts).  A group whose parts
    are all 0 with :math:`T_g > 0` cannot be scaled: a :class:`ReconcileError`.
    For two margins at once (e.g. age totals and region totals), reconcile the
    margins with each other first, then the table to each in turn.  Values are
    loaded (dask arrays are computed).
    """
    if not isinstance(parts, xr.DataArray) or not isinstance(totals, xr.DataArray):
        raise ReconcileError("reconcile: parts and totals must be xarray DataArrays")
    dims = [dims] if isinstance(dims, str) else list(dims)
    for d in dims:
        if d not in parts.dims:
            raise ReconcileError(f"reconcile: dims: {d!r} is not a dim of parts {parts.dims}")
        if d in totals.dims:
            raise ReconcileError(f"reconcile: totals has dim {d!r}, which parts are summed over")
    keep = [d for d in parts.dims if d not in dims]
    if set(totals.dims) != set(keep):
        raise ReconcileError(f"reconcile: totals has dims {totals.dims}; expected {tuple(keep)} "
                             f"(the dims of parts except {tuple(dims)})")
    for d in keep:
        if d in parts.coords or d in totals.coords:
            a = parts[d].values if d in parts.coords else np.arange(parts.sizes[d])
            b = totals[d].values if d in totals.coords else np.arange(totals.sizes[d])
            if len(a) != len(b) or not np.array_equal(a, b):
                raise ReconcileError(f"reconcile: coords of {d!r} differ between parts and totals")
    pname = parts.name or "parts"
    tname = totals.name or "totals"
    x = _check(parts.transpose(*keep, *dims), pname)
    tt = totals.transpose(*keep)
    t = _check(tt, tname)
    if (t != np.round(t)).any():
        idx = np.unravel_index(int(np.flatnonzero(t != np.round(t))[0]), t.shape)
        raise ReconcileError(f"reconcile: {format_cell(tname, tt, idx)}: totals must be whole numbers")
    gshape = x.shape[:len(keep)]
    x2 = x.reshape(int(np.prod(gshape, dtype=np.int64)), -1)
    t1 = t.reshape(-1).astype(np.int64)
    s = x2.sum(axis=1)
    empty = (s == 0) & (t1 > 0)
    if empty.any():
        idx = np.unravel_index(int(np.flatnonzero(empty)[0]), gshape)
        raise ReconcileError(f"reconcile: {format_cell(tname, tt, idx)}: the parts are all 0, "
                             "nothing to scale to this total")
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(s[:, None] > 0, x2 * (t1 / np.where(s > 0, s, 1))[:, None], 0.0)
    low = np.floor(scaled)
    frac = np.where(x2 > 0, scaled - low, -1.0)          # zero parts are never rounded up
    rem = t1 - low.sum(axis=1).astype(np.int64)
    order = np.argsort(-frac, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(x2.shape[1])[None, :].repeat(x2.shape[0], 0), axis=1)
    y = (low + (rank < rem[:, None])).astype(np.int64)
    diff = s - t1
    rel = np.where(t1 > 0, np.abs(diff) / np.where(t1 > 0, t1, 1), np.where(diff != 0, np.inf, 0.0))
    out = xr.DataArray(y.reshape(x.shape), dims=(*keep, *dims),
                       coords={k: v for k, v in parts.coords.items()
                               if set(parts[k].dims) <= set(parts.dims)},
                       name=parts.name).transpose(*parts.dims)
    out.attrs.update({
        "method": "proportional scaling (IPF to one margin), then largest-remainder rounding per total",
        "inconsistency_max": float(np.abs(diff).max()) if diff.size else 0.0,
        "inconsistency_sum": float(np.abs(diff).sum()),
        "inconsistency_relative_max": float(rel.max()) if rel.size else 0.0,
        "groups_inconsistent": int((diff != 0).sum()),
        "groups": int(diff.size),
    })
    return out
