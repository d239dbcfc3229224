"""Integer parts that add up to given totals (for CKM-perturbed, inconsistent inputs)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import sparse
from scipy.sparse.csgraph import maximum_flow

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


def reconcile(parts: xr.DataArray, totals, *, dims, max_iter: int = 1000, tol: float = 1e-10) -> xr.DataArray:
    """Return integer ``parts`` scaled and rounded so that they add up to ``totals`` over ``dims``.

    Parameters
    ----------
    parts : xarray.DataArray
        Non-negative counts, e.g. population by ``region, sex, age`` (single years,
        or DeSO areas), perturbed independently of the totals.
    totals : xarray.DataArray, or a list of two
        Non-negative whole numbers with the dims of ``parts`` except ``dims``, e.g.
        a published kommun total by ``region, sex``; coords must equal those of ``parts``.
        Two margins of a two-way table: ``[T_a, T_b]`` with ``dims=[a, b]``, ``T_a``
        the sums over dim ``a`` and ``T_b`` the sums over dim ``b`` (e.g. DeSO × age
        parts with published DeSO totals and kommun totals by age).
    dims : str or sequence of str
        The dims summed over: ``parts.sum(dims)`` must equal ``totals``; with two
        margins, one dim per margin.
    max_iter, tol : int, float
        Iterative proportional fitting (two margins): at most ``max_iter`` sweeps,
        until every margin is met to ``tol`` persons.

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
    Two margins (for each combination of the other dims): if the margins' grand
    totals differ, the second margin is first reconciled to the first's grand total
    (as above).  Then iterative proportional fitting (Deming & Stephan 1940):
    scale rows, then columns, until both margins hold to ``tol``; zero parts stay
    zero (a margin that no table with those zeros can meet is a
    :class:`ReconcileError`).  Then controlled rounding (Cox 1987): every cell
    gets :math:`\\lfloor s_{ij} \\rfloor`, and the cells rounded up are a maximum
    flow in the network source → row :math:`i` (capacity: row total minus its
    floors) → column :math:`j` (capacity 1 where :math:`s_{ij}` is fractional) → sink
    (column total minus its floors), scipy's ``maximum_flow``; the fractional
    parts themselves are a feasible flow, so an integral one exists (the
    integrality theorem) and both margins hold exactly with every cell within
    ±1 of :math:`s_{ij}`.  Values are loaded (dask arrays are computed).
    """
    if isinstance(totals, (list, tuple)):
        return _reconcile_two(parts, list(totals), dims, max_iter=max_iter, tol=tol)
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


def _round_two_way(s: np.ndarray, R: np.ndarray, C: np.ndarray, where: str) -> np.ndarray:
    """Controlled rounding of ``s`` (rows sum to R, columns to C, both integer) by a maximum flow."""
    s = np.where(np.abs(s - np.rint(s)) < 1e-7, np.rint(s), s)
    low = np.floor(s)
    frac = s - low
    need_r = (R - low.sum(axis=1)).round().astype(np.int64)
    need_c = (C - low.sum(axis=0)).round().astype(np.int64)
    na, nb = s.shape
    ii, jj = np.nonzero(frac > 0)
    if need_r.sum() == 0:
        return low.astype(np.int64)
    # nodes: 0 source, 1..na rows, na+1..na+nb columns, na+nb+1 sink
    src, snk = 0, na + nb + 1
    rows = np.r_[np.zeros(na, np.int64), 1 + ii, na + 1 + np.arange(nb)]
    cols = np.r_[1 + np.arange(na), na + 1 + jj, np.full(nb, snk)]
    cap = np.r_[need_r, np.ones(ii.size, np.int64), need_c].astype(np.int32)
    g = sparse.csr_array((cap, (rows, cols)), shape=(snk + 1, snk + 1))
    res = maximum_flow(g, src, snk)
    if res.flow_value != need_r.sum():
        raise ReconcileError(f"reconcile: {where}: no controlled rounding found (margins inconsistent "
                             "with the fitted table)")
    flow = res.flow.tocoo()
    up = (flow.row >= 1) & (flow.row <= na) & (flow.col > na) & (flow.col <= na + nb) & (flow.data > 0)
    out = low.astype(np.int64)
    out[flow.row[up] - 1, flow.col[up] - na - 1] += 1
    return out


def _reconcile_two(parts, totals, dims, *, max_iter: int, tol: float) -> xr.DataArray:
    if len(totals) != 2:
        raise ReconcileError(f"reconcile: give one total or two margins, got {len(totals)}")
    dims = [dims] if isinstance(dims, str) else list(dims)
    if len(dims) != 2 or dims[0] == dims[1]:
        raise ReconcileError(f"reconcile: two margins need two different dims (one per margin), got {dims}")
    if not isinstance(parts, xr.DataArray) or not all(isinstance(t, xr.DataArray) for t in totals):
        raise ReconcileError("reconcile: parts and totals must be xarray DataArrays")
    a, b = dims
    for d in dims:
        if d not in parts.dims:
            raise ReconcileError(f"reconcile: dims: {d!r} is not a dim of parts {parts.dims}")
    batch = [d for d in parts.dims if d not in dims]
    for t, d in zip(totals, dims):
        want = [x for x in parts.dims if x != d]
        if set(t.dims) != set(want):
            raise ReconcileError(f"reconcile: the margin summed over {d!r} has dims {t.dims}; "
                                 f"expected {tuple(want)}")
        for x in want:
            pa = parts[x].values if x in parts.coords else np.arange(parts.sizes[x])
            ta = t[x].values if x in t.coords else np.arange(t.sizes[x])
            if len(pa) != len(ta) or not np.array_equal(pa, ta):
                raise ReconcileError(f"reconcile: coords of {x!r} differ between parts and a margin")
    pname = parts.name or "parts"
    x = _check(parts.transpose(*batch, a, b), pname)
    Ta = totals[0].transpose(*batch, b)            # sums over a: one per column b
    Tb = totals[1].transpose(*batch, a)            # sums over b: one per row a
    ta = _check(Ta, Ta.name or "totals[0]")
    tb = _check(Tb, Tb.name or "totals[1]")
    for t, da in ((ta, Ta), (tb, Tb)):
        if (t != np.round(t)).any():
            idx = np.unravel_index(int(np.flatnonzero(t != np.round(t))[0]), t.shape)
            raise ReconcileError(f"reconcile: {format_cell(da.name or 'totals', da, idx)}: "
                                 "totals must be whole numbers")
    gshape = x.shape[:len(batch)]
    G = int(np.prod(gshape, dtype=np.int64))
    x3 = x.reshape(G, x.shape[-2], x.shape[-1])
    C = ta.reshape(G, -1).astype(np.int64)         # column totals (over a)
    R = tb.reshape(G, -1).astype(np.int64)         # row totals (over b)
    out = np.zeros(x3.shape, dtype=np.int64)
    diff_r, diff_c, margin_gap, sweeps = [], [], [], 0
    for g in range(G):
        where = "group " + ", ".join(f"{d}={_label(parts, d, i)}" for d, i in
                                     zip(batch, np.unravel_index(g, gshape))) if batch else "table"
        xg, Rg, Cg = x3[g], R[g].copy(), C[g].copy()
        diff_r.append(xg.sum(axis=1) - Rg)
        diff_c.append(xg.sum(axis=0) - Cg)
        margin_gap.append(int(Cg.sum() - Rg.sum()))
        if Cg.sum() != Rg.sum():                   # make the margins agree: the first margin's grand total
            if Rg.sum() == 0:
                raise ReconcileError(f"reconcile: {where}: the margin over {b!r} is all 0 but the margin "
                                     f"over {a!r} adds up to {Cg.sum()}")
            Rg = _largest_remainder(Rg.astype(float), int(Cg.sum()))
        s = xg.astype(float)
        for it in range(max_iter):
            rs = s.sum(axis=1)
            if ((rs == 0) & (Rg > 0)).any():
                i = int(np.flatnonzero((rs == 0) & (Rg > 0))[0])
                raise ReconcileError(f"reconcile: {where}: {a}={_label(parts, a, i)} has parts all 0 "
                                     f"but a total of {Rg[i]}")
            s *= np.where(rs > 0, Rg / np.where(rs > 0, rs, 1), 0)[:, None]
            cs = s.sum(axis=0)
            if ((cs == 0) & (Cg > 0)).any():
                j = int(np.flatnonzero((cs == 0) & (Cg > 0))[0])
                raise ReconcileError(f"reconcile: {where}: {b}={_label(parts, b, j)} has parts all 0 "
                                     f"but a total of {Cg[j]}")
            s *= np.where(cs > 0, Cg / np.where(cs > 0, cs, 1), 0)[None, :]
            if np.abs(s.sum(axis=1) - Rg).max() <= tol:
                break
        else:
            raise ReconcileError(f"reconcile: {where}: iterative proportional fitting did not meet both "
                                 f"margins within {max_iter} sweeps (the zero parts leave no table with "
                                 "these margins)")
        sweeps = max(sweeps, it + 1)
        out[g] = _round_two_way(s, Rg, Cg, where)
    dr, dc = np.abs(np.array(diff_r)), np.abs(np.array(diff_c))
    res = xr.DataArray(out.reshape(x.shape), dims=(*batch, a, b),
                       coords={k: v for k, v in parts.coords.items() if set(parts[k].dims) <= set(parts.dims)},
                       name=parts.name).transpose(*parts.dims)
    res.attrs.update({
        "method": "margins made consistent (largest remainder), iterative proportional fitting, "
                  "controlled rounding by maximum flow",
        "inconsistency_max": float(max(dr.max(initial=0), dc.max(initial=0))),
        "inconsistency_sum": float(dr.sum() + dc.sum()),
        "margin_total_gap_max": float(np.abs(margin_gap).max(initial=0)),
        "ipf_sweeps": int(sweeps),
        "groups": int(G),
    })
    return res


def _label(da: xr.DataArray, dim: str, i: int):
    v = da[dim].values[i] if dim in da.coords else i
    return v.item() if hasattr(v, "item") else v


def _largest_remainder(w: np.ndarray, total: int) -> np.ndarray:
    """Whole numbers proportional to ``w`` adding up to ``total`` (Hamilton's method)."""
    s = w * (total / w.sum())
    low = np.floor(s)
    frac = np.where(w > 0, s - low, -1.0)
    k = int(total - low.sum())
    order = np.argsort(-frac, kind="stable")
    low[order[:k]] += 1
    return low.astype(np.int64)
