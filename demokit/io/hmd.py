"""Reader for the Human Mortality Database's text format (``Deaths_1x1``, ``Exposures_1x1``)."""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from ._common import ReadError, open_text, parse_age

__all__ = ["read_hmd_table", "read_hmd"]

_HEADER = ["Year", "Age", "Female", "Male", "Total"]


def read_hmd_table(path, *, name: str) -> xr.DataArray:
    """Return one HMD 1x1 table as an array with dims ``sex, age, year``.

    The file has two header lines (title and a blank line), then a line
    ``Year Age Female Male Total`` and one row per year and age; the last age
    is ``110+`` (recorded as ``attrs["open_age"] = 110``).  HMD's missing-value
    marker ``.`` becomes NaN.
    """
    path = os.fspath(path)
    lines = open_text(path).splitlines()
    start = None
    for i, line in enumerate(lines[:5]):
        if line.split()[:5] == _HEADER:
            start = i + 1
            break
    if start is None:
        raise ReadError(f"{path}, line 3: expected the header 'Year Age Female Male Total'")
    years, ages, fem, mal, where = [], [], [], [], []
    open_age = None
    for i in range(start, len(lines)):
        f = lines[i].split()
        if not f:
            continue
        if len(f) != 5:
            raise ReadError(f"{path}, line {i + 1}: expected 5 fields (Year Age Female Male Total), got {len(f)}")
        try:
            kind, x = parse_age(f[1])
            if kind not in ("age", "open"):
                raise ValueError
            y = int(f[0])
            vals = [np.nan if v == "." else float(v) for v in f[2:4]]
        except ValueError:
            raise ReadError(f"{path}, line {i + 1}: expected 'YEAR AGE FEMALE MALE TOTAL' numbers, "
                            f"got {lines[i].strip()!r}") from None
        if kind == "open":
            open_age = x
        years.append(y)
        ages.append(x)
        where.append(i + 1)
        fem.append(vals[0])
        mal.append(vals[1])
    years = np.asarray(years)
    ages = np.asarray(ages)
    uy, yi = np.unique(years, return_inverse=True)
    ua, ai = np.unique(ages, return_inverse=True)
    key = yi.astype(np.int64) * ua.size + ai
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    if (counts > 1).any():   # (the later row would silently replace the earlier one)
        k = int(np.flatnonzero(counts > 1)[0])
        j = int(first[k])
        again = int(np.flatnonzero(key == key[j])[1])
        raise ReadError(f"{path}, lines {where[j]} and {where[again]}: year {years[j]}, age {ages[j]} appears twice")
    out = np.full((2, ua.size, uy.size), np.nan)
    out[0, ai, yi] = fem
    out[1, ai, yi] = mal
    da = xr.DataArray(out, dims=("sex", "age", "year"),
                      coords={"sex": ["female", "male"], "age": ua, "year": uy}, name=name)
    da.attrs["open_age"] = int(open_age if open_age is not None else ua.max())
    if name == "deaths":
        da.attrs["age_convention"] = "at_event"
    return da


def read_hmd(deaths, exposures) -> xr.Dataset:
    """Return a Dataset with HMD ``deaths`` and ``exposure`` (dims ``sex, age, year``)."""
    d = read_hmd_table(deaths, name="deaths")
    e = read_hmd_table(exposures, name="exposure")
    ds = xr.merge([d, e], join="exact", combine_attrs="drop")
    ds["deaths"].attrs = d.attrs
    ds["exposure"].attrs = {"units": "person-years", "open_age": e.attrs["open_age"]}
    ds.attrs["open_age"] = d.attrs["open_age"]
    ds.attrs["source"] = ("Human Mortality Database. Max Planck Institute for Demographic Research, "
                          "University of California, Berkeley, and French Institute for Demographic "
                          "Studies. www.mortality.org (CC BY 4.0)")
    return ds
