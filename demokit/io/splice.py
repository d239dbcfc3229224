"""One time series from an old table (before a break) and a new one (after it), e.g. SCB's CKM tables."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._common import ReadError

__all__ = ["splice"]


def splice(old, new, *, break_year: int):
    """Return one series: ``old`` up to ``break_year - 1`` and ``new`` from ``break_year``.

    Parameters
    ----------
    old, new : xarray.DataArray or xarray.Dataset
        The same quantity with a ``year`` dim, e.g. SCB's table to 2024 and its
        new cell-key-method (CKM) table from 2025.  Dims other than ``year`` must
        have the same coords (reindex first if a table has fewer regions).
    break_year : int
        First year taken from ``new`` (2025 for SCB's CKM tables).

    Returns
    -------
    same type as the inputs
        ``year`` = old's years before the break + new's years from it.  ``attrs``:
        ``splice_break_year``, ``splice_overlap_years`` (years in both tables),
        and for each variable over the overlap ``splice_max_abs_difference``,
        ``splice_mean_abs_difference`` and ``splice_total_difference``
        (:math:`\\sum (new - old)`), ``splice_relative_total_difference``
        (a Dataset records them per variable as ``"<name>: <value>"``).

    Notes
    -----
    :math:`y_t = old_t` for :math:`t < b`, :math:`y_t = new_t` for :math:`t \\ge b`;
    over the overlap :math:`O` = years in both, :math:`d_t = new_t - old_t`
    (the size of the break, e.g. CKM noise and register revisions).  Nothing is
    adjusted: the break is recorded, not smoothed away.
    """
    if type(old) is not type(new) or not isinstance(old, (xr.DataArray, xr.Dataset)):
        raise ReadError("splice: old and new must both be xarray DataArrays or both Datasets")
    for name, x in (("old", old), ("new", new)):
        if "year" not in x.dims:
            raise ReadError(f"splice: {name} has no 'year' dim (dims {tuple(x.dims)})")
    b = int(break_year)
    oy = np.asarray(old["year"].values).astype(int)
    ny = np.asarray(new["year"].values).astype(int)
    if not (oy < b).any():
        raise ReadError(f"splice: old has no year before break_year={b} (years {oy.min()}–{oy.max()})")
    if not (ny >= b).any():
        raise ReadError(f"splice: new has no year from break_year={b} (years {ny.min()}–{ny.max()})")
    for d in set(old.dims) | set(new.dims):
        if d == "year":
            continue
        if d not in old.dims or d not in new.dims:
            raise ReadError(f"splice: dim {d!r} is in only one of old and new")
        a = old[d].values if d in old.coords else np.arange(old.sizes[d])
        c = new[d].values if d in new.coords else np.arange(new.sizes[d])
        if len(a) != len(c) or not np.array_equal(a, c):
            raise ReadError(f"splice: coords of {d!r} differ between old and new "
                            f"({len(a)} and {len(c)} labels); reindex one of them first")
    if isinstance(old, xr.Dataset) and set(old.data_vars) != set(new.data_vars):
        raise ReadError(f"splice: variables differ: old {sorted(old.data_vars)}, new {sorted(new.data_vars)}")
    first = old.sel(year=old["year"].values[oy < b])
    second = new.sel(year=new["year"].values[ny >= b])
    last_old, first_new = int(oy[oy < b].max()), int(ny[ny >= b].min())
    if last_old != b - 1 or first_new != b:   # (the years between would be missing from the series, silently)
        raise ReadError(f"splice: the series would have no year {last_old + 1}–{first_new - 1}: old ends at "
                        f"{last_old} and new starts at {first_new} (break_year={b}); give tables that meet at the "
                        "break")
    out = xr.concat([first, second], dim="year", join="exact")
    overlap = sorted(set(oy.tolist()) & set(ny.tolist()))
    out.attrs = dict(old.attrs)
    out.attrs.update({"splice_break_year": b, "splice_overlap_years": overlap,
                      "splice_source": f"years < {b} from the old table, ≥ {b} from the new table"})
    if overlap:
        names = [None] if isinstance(old, xr.DataArray) else list(old.data_vars)
        stats = {"splice_max_abs_difference": [], "splice_mean_abs_difference": [],
                 "splice_total_difference": [], "splice_relative_total_difference": []}
        for name in names:
            o = (old if name is None else old[name]).sel(year=overlap)
            n = (new if name is None else new[name]).sel(year=overlap).transpose(*o.dims)
            d = np.asarray(n.values, dtype=float) - np.asarray(o.values, dtype=float)
            tot = float(np.nansum(o.values))
            vals = [float(np.nanmax(np.abs(d))) if d.size else 0.0, float(np.nanmean(np.abs(d))),
                    float(np.nansum(d)), float(np.nansum(d) / tot) if tot else float("nan")]
            for key, v in zip(stats, vals):
                stats[key].append(v if name is None else f"{name}: {v:.6g}")
        for key, v in stats.items():
            out.attrs[key] = v[0] if isinstance(old, xr.DataArray) else "; ".join(v)
    return out
