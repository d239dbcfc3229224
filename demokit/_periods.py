"""Selecting a period of years from a cube, with clear errors."""

from __future__ import annotations

import numpy as np

from .cube import CubeError

__all__ = ["select_years", "as_years"]


def as_years(years) -> np.ndarray:
    """Return ``years`` (an int, a range or a sequence) as a sorted int array, checking it is consecutive."""
    if isinstance(years, (int, np.integer)):
        arr = np.array([int(years)])
    else:
        arr = np.asarray(list(years), dtype=np.int64)
    if arr.size == 0:
        raise CubeError("years: the period is empty")
    arr = np.sort(arr)
    d = np.diff(arr)
    if (d == 0).any():
        raise CubeError(f"years: year {int(arr[1:][d == 0][0])} given twice")
    return arr


def select_years(obj, years, *, need_previous: bool = False, name: str | None = None):
    """Return ``obj.sel(year=years)`` after checking every year is there.

    With ``need_previous=True`` the year before the first one must exist too
    (for populations at the start of the year), and the returned object covers
    ``first − 1 … last``.
    """
    from .cube import check_structure
    check_structure(obj)   # duplicated years, renamed dims, mixed codes: named here, not inside pandas
    arr = as_years(years)
    if "year" not in obj.dims:
        raise CubeError(f"{name or getattr(obj, 'name', None) or 'cube'}: no 'year' dim; its dims are "
                        f"{tuple(obj.dims)}")
    have = set(np.asarray(obj["year"].values).tolist())
    want = ([int(arr[0]) - 1] if need_previous else []) + arr.tolist()
    missing = [y for y in want if y not in have]
    if missing:
        label = name or getattr(obj, "name", None) or "cube"
        extra = " (the year before the period is needed for the population at its start)" if (
            need_previous and missing[0] == want[0]) else ""
        raise CubeError(f"{label}: year={missing[0]} is not in the data (years "
                        f"{min(have)}–{max(have)}){extra}")
    pos = obj.get_index("year").get_indexer(want)
    if len(pos) > 1 and (np.diff(pos) == 1).all():
        return obj.isel(year=slice(int(pos[0]), int(pos[-1]) + 1))   # a view: no copy of every variable
    return obj.sel(year=want)
