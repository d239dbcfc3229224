"""The demographic cube: schema, conventions, validation and errors.

A cube is an :class:`xarray.Dataset` with dims among ``region``, ``sex``,
``age`` and ``year`` (plus any extra dims such as ``scenario`` or ``draw``) and
the variables of :data:`VARIABLES`.  ``ds.attrs["open_age"]`` holds the last,
open age group.  Each event variable records the age convention of its
tabulation in ``attrs["age_convention"]``: ``"year_end"`` (age reached at the
end of the year, Lexis parallelograms, SCB's main convention) or
``"at_event"`` (completed age at the event, Lexis squares).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .components import EVENT_NAMES

__all__ = [
    "DemokitError",
    "CubeError",
    "SEXES",
    "EVENT_VARIABLES",
    "VARIABLES",
    "AGE_CONVENTIONS",
    "validate",
    "validate_period",
    "open_age",
    "age_convention",
    "from_frame",
    "format_cell",
    "first_cell",
    "is_dask",
    "check_single_years",
    "check_plausible",
    "check_events_at_risk",
    "REQUIRED_DIMS",
    "MAX_COUNT",
]

SEXES = ("female", "male")
#: the event variables: the projection's components (demokit.components.COMPONENTS) and the adjustment term
EVENT_VARIABLES = EVENT_NAMES + ("adjustment",)
VARIABLES = ("population",) + EVENT_VARIABLES
AGE_CONVENTIONS = ("year_end", "at_event")
#: variables that may be negative (the adjustment term is a signed residual)
SIGNED_VARIABLES = ("adjustment", "net_migration", "net_migration_and_adjustment")
#: dims each variable must have: a missing dim is an error, never broadcast
REQUIRED_DIMS = {"population": ("sex", "age", "year"), "births": ("year",),
                 **{v: ("sex", "age", "year") for v in EVENT_VARIABLES if v not in ("births", "adjustment")}}
#: no cell of population statistics holds more persons or events than this (Sweden: 10.5 million) [choice]
MAX_COUNT = 1e8
#: mothers' ages at which births are plausible (SCB folds "under 15" into 15 and "49+" into 49) [choice]
FERTILE_AGES = (10, 60)


class DemokitError(Exception):
    """Base class of every error demokit raises on purpose."""


class CubeError(DemokitError, ValueError):
    """A cube (or a variable of it) breaks the schema or holds impossible values."""


def is_dask(obj) -> bool:
    """Return True when ``obj`` (DataArray, Dataset or array) is backed by dask — the one test for laziness."""
    if isinstance(obj, xr.Dataset):
        return any(is_dask(v) for v in obj.data_vars.values())
    data = obj.data if isinstance(obj, (xr.DataArray, xr.Variable)) else obj
    return hasattr(data, "__dask_graph__")   # (cheaper than .chunks, which runs a typing-protocol check)


def first_cell(mask) -> tuple[int, ...]:
    """Return the positional index of the first True cell of ``mask`` (a boolean array or DataArray), C order.

    With :func:`format_cell` it names the first offending cell of a check:
    ``format_cell(name, da, first_cell(bad))``.
    """
    m = np.asarray(getattr(mask, "values", mask))
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(m)), m.shape))


def format_cell(name: str, da: xr.DataArray, index: tuple[int, ...], value=None) -> str:
    """Return ``"name[dim=coord, ...] = value"`` for the cell at positional ``index``."""
    parts = []
    for dim, i in zip(da.dims, index):
        if dim in da.coords:
            c = da.coords[dim].values[i]
            c = c.item() if hasattr(c, "item") else c
            parts.append(f"{dim}={c!r}")
        else:
            parts.append(f"{dim}={i}")
    if value is None:
        value = da.values[index]
    v = value.item() if hasattr(value, "item") else value
    return f"{name}[{', '.join(parts)}] = {v!r}"


def check_counts(da: xr.DataArray, name: str | None = None, *, allow_negative: bool = False,
                 allow_nan: bool = False, max_count: float | None = None) -> None:
    """Raise :class:`CubeError` at the first NaN / infinite / negative / implausibly large cell of ``da``.

    ``max_count`` (default :data:`MAX_COUNT`) bounds the absolute values; generic
    functions that take other numbers than a population's (e.g. smoothing's
    synthetic exposures) pass ``np.inf``.

    Dask-backed arrays are not scanned (that would compute them): only their
    dtype is checked, so that a lazy pipeline stays lazy.
    """
    name = name or da.name or "array"
    max_count = MAX_COUNT if max_count is None else max_count
    if is_dask(da):
        if da.dtype.kind not in "biuf":
            raise CubeError(f"{name}: expected numbers, got dtype {da.dtype}")
        return
    values = np.asarray(da.values)
    if values.dtype.kind not in "biuf":
        raise CubeError(f"{name}: expected numbers, got dtype {values.dtype}")
    if values.dtype.kind in "iu":
        if allow_negative or values.dtype.kind == "u":
            return
        values = values.astype(np.float64)
    if values.size == 0:
        return
    # fast path: SIMD min/max reductions (NaN propagates through both)
    lo, hi = values.min(), values.max()
    if (allow_negative or lo >= 0) and np.isfinite(lo) and np.isfinite(hi):
        if hi <= max_count and lo >= -max_count:
            return
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(values))), values.shape))
        raise CubeError(f"{format_cell(name, da, idx)}: implausibly large (more than {max_count:,.0f} "
                        "persons or events in one cell)")
    if allow_nan and not np.isfinite(lo) and not np.isinf(lo) and not np.isinf(np.nanmax(values)) and (
            allow_negative or not np.nanmin(values) < 0):
        return
    from ._kernels.checks import first_invalid

    flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    j = int(first_invalid(flat, bool(allow_negative), bool(allow_nan)))
    if j < 0:
        with np.errstate(invalid="ignore"):
            big = np.nanmax(np.abs(flat)) if flat.size else 0.0
        if big > max_count:
            idx = tuple(int(i) for i in np.unravel_index(int(np.nanargmax(np.abs(flat))), values.shape))
            raise CubeError(f"{format_cell(name, da, idx)}: implausibly large (more than {max_count:,.0f} "
                            "persons or events in one cell)")
        return
    idx = tuple(int(i) for i in np.unravel_index(j, values.shape))
    v = values[idx]
    if np.isfinite(v):
        raise CubeError(f"{format_cell(name, da, idx)}: counts must be >= 0")
    raise CubeError(f"{format_cell(name, da, idx)}: counts must be finite numbers")


def check_single_years(obj, what: str = "this computation") -> None:
    """Raise :class:`CubeError` unless the ``age`` coordinate is consecutive single years."""
    if isinstance(obj, (xr.Dataset, xr.DataArray)):
        check_structure(obj)
    if "age" not in obj.dims:
        raise CubeError(f"{what} needs an 'age' dim; the dims are {tuple(obj.dims)}")
    age = obj["age"].values
    gaps = np.flatnonzero(np.diff(age) != 1)
    if gaps.size:
        i = int(gaps[0])
        raise CubeError(f"age: ages must be consecutive single years for {what}; "
                        f"age={int(age[i + 1])} follows age={int(age[i])}")


def open_age(obj) -> int:
    """Return the open (last) age of a cube or array: ``attrs["open_age"]`` or the max age."""
    oa = obj.attrs.get("open_age")
    if oa is None and "age" in obj.coords:
        return int(obj["age"].values.max())
    if oa is None:
        raise CubeError("no 'age' coordinate and no attrs['open_age']")
    return int(oa)


def age_convention(da: xr.DataArray, name: str | None = None) -> str:
    """Return the age convention of an event variable, checking it is known."""
    name = name or da.name
    conv = da.attrs.get("age_convention", "year_end")
    if conv not in AGE_CONVENTIONS:
        raise CubeError(
            f"{name}: unknown age_convention {conv!r}; expected one of {AGE_CONVENTIONS}"
        )
    return conv


def _check_coord(ds: xr.Dataset) -> None:
    if "age" in ds.coords:
        age = ds["age"].values
        if age.dtype.kind not in "iu":
            raise CubeError(f"age: coordinates must be integers, got dtype {age.dtype}")
        u, counts = np.unique(age, return_counts=True)
        if (counts > 1).any():
            raise CubeError(f"age: duplicated age {int(u[counts > 1][0])}")
        d = np.diff(age)
        if (d <= 0).any():
            i = int(np.argmax(d <= 0))
            raise CubeError(f"age: ages must be sorted ascending; age={int(age[i + 1])} follows age={int(age[i])}")
        oa = ds.attrs.get("open_age")
        if oa is not None and int(oa) != int(age[-1]):
            raise CubeError(f"attrs['open_age'] = {oa} but the last age is {int(age[-1])}")
    if "year" in ds.coords:
        year = ds["year"].values
        if year.dtype.kind not in "iu":
            raise CubeError(f"year: coordinates must be integers, got dtype {year.dtype}")
        d = np.diff(year)
        if (d <= 0).any():
            i = int(np.argmax(d <= 0))
            raise CubeError(f"year: years must be sorted ascending and unique; year={int(year[i + 1])} "
                            f"follows year={int(year[i])}")
        if (d != 1).any():
            i = int(np.argmax(d != 1))
            raise CubeError(f"year: gap in years between year={int(year[i])} and year={int(year[i + 1])}")
    if "sex" in ds.coords:
        bad = [s for s in ds["sex"].values.tolist() if s not in SEXES]
        if bad:
            raise CubeError(f"sex: unknown value {bad[0]!r}; expected 'female' or 'male'")
    if "region" in ds.coords:
        kinds = {type(r.item() if hasattr(r, "item") else r).__name__ for r in np.atleast_1d(ds["region"].values)}
        if len(kinds) > 1:
            raise CubeError(f"region: codes of mixed types {sorted(kinds)}; give every region code as a string "
                            "(e.g. '0114', '2580')")
    for dim in ("region", "sex"):
        if dim in ds.coords:
            v = ds[dim].values
            u, counts = np.unique(v, return_counts=True)
            if (counts > 1).any():
                raise CubeError(f"{dim}: duplicated coordinate {u[counts > 1][0]!r}")


def validate(ds: xr.Dataset, *, required: tuple[str, ...] = ("population",),
             counts_checked_by_caller: tuple[str, ...] = ()) -> xr.Dataset:
    """Return ``ds`` unchanged after checking it against the cube's schema.

    Parameters
    ----------
    ds : xarray.Dataset
        The cube.
    required : tuple of str, optional
        Variables that must be present (default ``("population",)``).
    counts_checked_by_caller : tuple of str, optional
        Variables whose values (NaN, infinite, negative) the caller checks
        itself, e.g. in a kernel that reads them anyway (one pass over memory
        instead of two); their schema (age convention) is still checked here.
        The caller must then call ``validate(ds)`` when it finds a bad value,
        so that the error names the cell exactly as here.

    Returns
    -------
    xarray.Dataset
        The same object, so that ``ds = validate(ds)`` reads naturally.

    Raises
    ------
    CubeError
        Naming the variable, the coordinates and the value of the first
        offending cell: negative counts, NaN where counts are required,
        duplicated or unsorted ages, a gap in years, an unknown sex or age
        convention, a missing required variable.

    Notes
    -----
    Because coordinates live on the Dataset, regions, sexes, ages and years
    are necessarily the same for every variable of one cube; cubes combined
    from several sources are aligned by :func:`xarray.merge` with
    ``join="exact"`` in the readers, which is where mismatches are reported.
    """
    if not isinstance(ds, xr.Dataset):
        raise CubeError(f"expected an xarray.Dataset, got {type(ds).__name__}")
    for v in required:
        if v not in ds.data_vars:
            raise CubeError(f"missing variable {v!r}; the cube has {sorted(ds.data_vars)}")
    check_structure(ds)   # coordinates and every variable's dims
    for name in ds.data_vars:
        if name not in VARIABLES and name not in SIGNED_VARIABLES:
            continue
        da = ds[name]
        if name in EVENT_VARIABLES:
            age_convention(da, name)
        if name not in counts_checked_by_caller:
            check_counts(da, name, allow_negative=name in SIGNED_VARIABLES)
        check_plausible(da, name)
    return ds


def validate_period(sub: xr.Dataset, **options) -> xr.Dataset:
    """Return ``sub`` after :func:`validate` of a period selected with the year before it.

    ``sub`` covers ``first − 1 … last`` (``select_years(..., need_previous=True)``):
    every variable of the period is checked, and of the year before only the
    population (its events are not used: a file of events that starts with the
    period is not an error).
    """
    if "year" not in sub.dims or sub.sizes["year"] < 2:
        return validate(sub, **options)
    validate(sub.isel(year=slice(1, None)), **options)
    if "population" in sub.data_vars:
        check_counts(sub["population"].isel(year=[0]), "population")
    return sub


#: events above their population at risk accepted per cell and year (late registrations, moves in and out
#: within the year, CKM noise of ±2 on both counts): at most this many persons plus EXCESS_SHARE of those at risk
EXCESS_PERSONS = 5.0
EXCESS_SHARE = 0.10


def check_events_at_risk(events: xr.DataArray, at_risk: xr.DataArray, name: str, *,
                         denominator: str = "the cohort's population at the start of the year, or the births at "
                                            "age 0") -> None:
    """Raise :class:`CubeError` where a year's events exceed their population at risk impossibly.

    Checked per cell *and per year* (a period's sum can hide one impossible
    year).  A small excess — at most :data:`EXCESS_PERSONS` persons plus
    :data:`EXCESS_SHARE` of the population at risk — is plausible (moves in and
    out within the year, late registrations, CKM noise) and is left to the
    estimators, which clamp the risk at 1 and count the cell.
    """
    if is_dask(events) or is_dask(at_risk):
        return
    e, p = xr.broadcast(events, at_risk)
    bad = (e > p + EXCESS_PERSONS + EXCESS_SHARE * p).transpose(*e.dims).values
    if bad.any():
        idx = first_cell(bad)
        ev = e.transpose(*e.dims)
        raise CubeError(f"{format_cell(name, ev, idx)} but only {float(p.transpose(*e.dims).values[idx]):g} "
                        f"persons were at risk in that year ({denominator}): more than a plausible excess "
                        f"({EXCESS_PERSONS:g} persons + {EXCESS_SHARE:.0%})")


def check_structure(obj) -> None:
    """Raise :class:`CubeError` if a cube's coordinates or its variables' dims break the schema (no value scan).

    Cheap (coordinates only): called before a period is selected, so that a
    duplicated year, a renamed dim or mixed region codes are named instead of
    failing inside xarray or pandas.
    """
    if isinstance(obj, xr.DataArray):   # a single array: its coordinates only (no schema of a cube's variables)
        _check_coord(obj.to_dataset(name="_array"))
        return
    ds = obj
    if not isinstance(ds, xr.Dataset):
        raise CubeError(f"expected an xarray.Dataset, got {type(obj).__name__}")
    _check_coord(ds)
    for name in ds.data_vars:
        need = REQUIRED_DIMS.get(name, ())
        miss = [d for d in need if d not in ds[name].dims]
        if miss:
            raise CubeError(f"{name} lacks the dim {miss[0]!r}: it has {tuple(ds[name].dims)}, expected "
                            f"{need} (and optionally 'region'); a variable is never broadcast over a missing dim")


def check_plausible(da: xr.DataArray, name: str | None = None) -> None:
    """Raise :class:`CubeError` at births outside the fertile ages :data:`FERTILE_AGES`.

    (Counts above :data:`MAX_COUNT` are rejected by :func:`check_counts` and the
    fused kernel checks, in the same pass as NaN and negative counts.)
    Dask-backed arrays are not scanned.
    """
    name = name or da.name or "array"
    if is_dask(da) or da.dtype.kind not in "iuf" or da.size == 0:
        return
    if name == "births" and "age" in da.dims and int(da["age"].values.max()) >= FERTILE_AGES[1]:
        # (a toy cube of a few ages — tests, teaching — cannot place births at a mother's real age)
        ages = da["age"].values
        outside = (ages < FERTILE_AGES[0]) | (ages > FERTILE_AGES[1])
        v = np.moveaxis(np.asarray(da.values), da.dims.index("age"), 0)   # a view: ages first
        # max over the ages outside (two contiguous blocks of a sorted age axis): no copy, one read
        lo_n = int(np.searchsorted(ages, FERTILE_AGES[0]))
        hi_0 = int(np.searchsorted(ages, FERTILE_AGES[1], side="right"))
        peak = max(float(v[:lo_n].max()) if lo_n else 0.0, float(v[hi_0:].max()) if hi_0 < ages.size else 0.0)
        if outside.any() and peak > 0:
            sub = da.isel(age=np.flatnonzero(outside))
            bad = np.asarray(sub.values) > 0
            if bad.any():
                idx = first_cell(bad)
                raise CubeError(f"{format_cell('births', sub, idx)}: births to mothers aged "
                                f"{int(sub['age'].values[idx[sub.dims.index('age')]])} lie outside the fertile "
                                f"ages {FERTILE_AGES[0]}-{FERTILE_AGES[1]}")


def _numbers(col) -> np.ndarray:
    """The numbers of a frame's column as float64 (NaN where a cell is not a number)."""
    import pandas as pd

    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)


def from_frame(frame, *, value: str = "value", name: str = "population", open_age: int | None = None,
               age_convention: str | None = None) -> xr.DataArray:
    """Return a cube variable built from a tidy pandas frame.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per cell with columns among ``region, sex, age, year`` and
        ``value``.
    value : str
        The value column.
    name : str
        Name of the returned variable.
    open_age : int, optional
        Last, open age; defaults to the largest age.
    age_convention : {"year_end", "at_event"}, optional
        Recorded on event variables.

    Returns
    -------
    xarray.DataArray
        Dims in cube order; cells absent from the frame are filled with 0
        (a row whose value is NaN, infinite or not a number is an error).
    """
    dims = [d for d in ("region", "sex", "age", "year") if d in frame.columns]
    dup = frame.duplicated(dims)
    if dup.any():
        row = {k: (v.item() if hasattr(v, "item") else v) for k, v in frame[dup].iloc[0].items()}
        raise CubeError(f"{name}: duplicated cell " + ", ".join(f"{d}={row[d]!r}" for d in dims))
    vals = _numbers(frame[value])
    bad = ~np.isfinite(vals)
    if bad.any():   # (absent cells are 0; a NaN value in a row is not a count and would become 0 silently)
        row = {k: (v.item() if hasattr(v, "item") else v) for k, v in frame[bad].iloc[0].items()}
        raise CubeError(f"{name}[" + ", ".join(f"{d}={row[d]!r}" for d in dims) + f"] = {row[value]!r}: "
                        "counts must be finite numbers")
    da = frame.set_index(dims)[value].to_xarray().fillna(0)
    da.name = name
    if "age" in da.dims:
        da = da.sortby("age")
        da.attrs["open_age"] = int(open_age if open_age is not None else da["age"].max())
    if age_convention is not None:
        if age_convention not in AGE_CONVENTIONS:
            raise CubeError(f"{name}: unknown age_convention {age_convention!r}")
        da.attrs["age_convention"] = age_convention
    return da
