"""SCB regional codes (METHODS §9) and aggregation up the hierarchy."""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import xarray as xr

from .cube import CubeError

__all__ = ["level", "parent", "parse", "aggregate", "pool", "LEVELS"]

#: levels from the top, with the pattern of their codes
LEVELS = {
    "riket": re.compile(r"^(00|SE)$"),
    "lan": re.compile(r"^\d{2}$"),
    "kommun": re.compile(r"^\d{4}$"),
    "regso": re.compile(r"^\d{4}R\d{3}$"),
    "deso": re.compile(r"^\d{4}[ABC]\d{3}[0-9A-Z]$"),
}
_ORDER = ("riket", "lan", "kommun", "regso", "deso")


def level(code: str) -> str:
    """Return the level of an SCB region code: ``"riket"``, ``"lan"``, ``"kommun"``, ``"regso"`` or ``"deso"``.

    Examples: ``"00"`` riket, ``"01"`` län, ``"0114"`` kommun, ``"0114R001"``
    RegSO, ``"0114A0010"`` DeSO (municipality, category letter A/B/C, three
    digits, one reserve character).
    """
    s = str(code).strip()
    for name, pat in LEVELS.items():
        if pat.match(s):
            return name
    raise CubeError(f"region={code!r}: not an SCB region code (expected e.g. '01', '0114', "
                    "'0114R001' or '0114A0010')")


def parse(code: str) -> dict:
    """Return the parts of an SCB code: level, län, kommun and (for DeSO) the category letter."""
    s = str(code).strip()
    lv = level(s)
    out = {"code": s, "level": lv, "lan": None, "kommun": None}
    if lv != "riket":
        out["lan"] = s[:2]
    if lv in ("kommun", "regso", "deso"):
        out["kommun"] = s[:4]
    if lv == "deso":
        out["category"] = s[4]
    return out


def parent(code: str, to: str) -> str:
    """Return the code of the region at level ``to`` that contains ``code``."""
    if to not in _ORDER:
        raise CubeError(f"to = {to!r}: expected one of {_ORDER} or a mapping")
    p = parse(code)
    if _ORDER.index(to) > _ORDER.index(p["level"]):
        raise CubeError(f"region={code!r} is a {p['level']}; it has no parent at level {to!r}")
    if to == "riket":
        return "00"
    if to == p["level"]:
        return p["code"]
    if to in ("lan", "kommun"):
        return p[to]
    raise CubeError(f"region={code!r}: RegSO of a DeSO is not derivable from the code; pass a mapping")


def aggregate(ds, *, to="riket", dim: str = "region"):
    """Return counts summed to a higher regional level or a user grouping.

    Parameters
    ----------
    ds : xarray.Dataset or xarray.DataArray
        Counts (population, events) by ``region``; rates must not be summed.
    to : {"riket", "lan", "kommun"} or mapping
        A level derived from the codes, or a mapping ``{region: group}`` (a
        dict, pandas Series or DataArray along ``region``) for any other
        grouping (area types, planning areas).  Every region must be mapped.

    Returns
    -------
    Same type as ``ds``, with ``region`` holding the groups (sorted).
    Non-index coordinates along ``region`` (e.g. names) are dropped.  A
    group with a missing (NaN) count in one of its regions is NaN there.
    """
    codes = [str(c) for c in ds[dim].values.tolist()]
    if isinstance(to, str):
        groups = [parent(c, to) for c in codes]
    else:
        if isinstance(to, xr.DataArray):
            mapping = dict(zip(to[dim].values.tolist(), to.values.tolist()))
        elif isinstance(to, Mapping) or hasattr(to, "to_dict"):
            mapping = dict(to) if isinstance(to, Mapping) else to.to_dict()
        else:
            raise CubeError(f"to = {to!r}: expected a level name or a mapping region -> group")
        missing = [c for c in codes if c not in mapping]
        if missing:
            raise CubeError(f"{dim}={missing[0]!r} is not in the mapping (and {len(missing) - 1} more)")
        groups = [str(mapping[c]) for c in codes]
    drop = [k for k, v in ds.coords.items() if dim in v.dims and k != dim]
    obj = ds.drop_vars(drop)
    g = xr.DataArray(np.asarray(groups, dtype=object), dims=dim, coords={dim: obj[dim]}, name="_group")
    out = obj.groupby(g).sum(dim, skipna=False)   # a missing (NaN) count stays missing, never 0
    out = out.rename({"_group": dim}) if "_group" in out.dims else out
    out.attrs = dict(ds.attrs)
    out.attrs["aggregated_to"] = to if isinstance(to, str) else "user mapping"
    for v in getattr(out, "data_vars", {}):
        out[v].attrs = dict(ds[v].attrs)
    return out


def pool(ds, *, dim: str = "region"):
    """Return counts summed over all regions (the set as one area), keeping every variable's attrs.

    Unlike :func:`aggregate` the ``region`` dim is dropped; age conventions
    and other attributes survive, so the result feeds rate functions directly.
    A missing (NaN) count in one region makes the pooled cell NaN.
    """
    out = ds.sum(dim, keep_attrs=True, skipna=False)   # a missing (NaN) count stays missing, never 0
    for v in getattr(ds, "data_vars", {}):
        out[v].attrs = dict(ds[v].attrs)
    out.attrs = dict(ds.attrs)
    return out
