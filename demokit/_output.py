"""Writing results for the command line: NetCDF (scipy, always available) and tidy CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr


def to_netcdf(ds: xr.Dataset, path: Path) -> None:
    """Write a Dataset as NetCDF (format 3, with scipy)."""
    ds = ds.copy()
    for k in list(ds.coords):
        if ds[k].dtype == object:
            ds[k] = ds[k].astype(str)
    for v in ds.variables.values():
        v.attrs = {k: (val if isinstance(val, (str, int, float, np.number)) else str(val))
                   for k, val in v.attrs.items()}
    ds.attrs = {k: (val if isinstance(val, (str, int, float, np.number)) else str(val))
                for k, val in ds.attrs.items()}
    # scipy's NetCDF3 writer is always there (scipy is a core dependency); NetCDF3 has no int64
    for k in list(ds.variables):
        if ds[k].dtype == np.int64:
            ds[k] = ds[k].astype(np.int32)
    ds.to_netcdf(path, engine="scipy")


def to_csv(ds: xr.Dataset, path: Path) -> None:
    """Write a Dataset as a tidy CSV: one row per cell, one column per variable."""
    df = ds.to_dataframe().reset_index()
    df.to_csv(path, index=False, float_format="%.10g")
