"""Writing results for the command line: NetCDF (scipy, always available), tidy CSV and Excel (openpyxl).

CSV variants (``variant=``):

* ``"standard"`` — comma-separated, decimal point, UTF-8 with a byte-order mark
  (BOM), so that Excel opens å, ä, ö correctly while pandas, R and Python's
  ``csv`` module read it as usual (they skip the BOM);
* ``"excel-sv"`` — semicolon-separated with a decimal comma and the BOM: what a
  Swedish Excel expects when a ``.csv`` file is double-clicked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

CSV_VARIANTS = ("standard", "excel-sv")


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
        if ds[k].dtype == bool:
            ds[k] = ds[k].astype(np.int8)
    ds.to_netcdf(path, engine="scipy")


def check_csv_variant(variant: str) -> str:
    """Return ``variant`` if it is a known CSV variant, else raise a DemokitError naming the choices."""
    if variant not in CSV_VARIANTS:
        from .cube import DemokitError

        raise DemokitError(f"csv = {variant!r}: expected one of {CSV_VARIANTS}")
    return variant


def write_frame_csv(df, path: Path, *, variant: str = "standard") -> None:
    """Write a pandas DataFrame as CSV in one of :data:`CSV_VARIANTS` (UTF-8 with BOM)."""
    check_csv_variant(variant)
    sep, dec = (";", ",") if variant == "excel-sv" else (",", ".")
    df.to_csv(path, index=False, float_format="%.10g", sep=sep, decimal=dec, encoding="utf-8-sig")


def to_csv(ds: xr.Dataset, path: Path, *, variant: str = "standard") -> None:
    """Write a Dataset as a tidy CSV: one row per cell, one column per variable (see the module's variants)."""
    df = ds.to_dataframe().reset_index()
    write_frame_csv(df, path, variant=variant)


#: Excel number formats by kind of column
_FORMATS = {"persons": "#,##0", "ratio": "0.0", "rate": "0.000", "years": "0.00", "percent": "0.0",
            "share": "0.000", "int": "0", "text": "@"}


def column_kind(da: xr.DataArray) -> str:
    """Return the presentation kind of a variable from its units: persons, ratio, rate, years, percent, share."""
    units = str(da.attrs.get("units", "")).lower()
    name = str(da.name or "")
    if name == "error_percent" or units.startswith("percent"):
        return "percent"
    if name == "economic_dependency_ratio":       # not employed per employed person, about 1
        return "share"
    if units.startswith("persons per 100") or name.endswith("dependency_ratio"):
        return "ratio"
    if units in ("persons", "person") or name in ("population", "employed", "not_employed", "actual", "forecast"):
        return "persons"
    if units == "years" or name.startswith("e0"):
        return "years"
    if name == "tfr" or "per woman" in units:
        return "rate"
    if units.startswith("share"):
        return "share"
    return "rate"


#: sheets with more cells than this get no per-cell number formats (whole numbers need none; it keeps
#: writing fast): the population by single year of age
_FORMAT_CELLS_MAX = 30_000


def _cell_value(x, kind):
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (np.floating, float)):
        if not np.isfinite(x):
            return None
        return int(round(float(x))) if kind == "persons" else float(x)
    return x


def to_xlsx(path: Path, sheets, *, title: str, subtitle: str) -> None:
    """Write an Excel workbook with one sheet per table.

    ``sheets``: a sequence of ``(sheet_name, dataframe, kinds)`` where
    ``kinds`` maps a column to a kind of :func:`column_kind` (number format;
    ``"persons"`` are rounded to whole numbers).  Each sheet starts with the
    ``title`` and the ``subtitle`` (base year, source), then a header row
    (bold, frozen, with an autofilter) and the data, numbers stored as numbers.
    Large sheets (more than 30,000 cells) are written without number formats.
    """
    import pandas as pd
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    bold, big = Font(bold=True), Font(bold=True, size=13)
    for name, df, kinds in sheets:
        ws = wb.create_sheet(title=name[:31])
        cols = list(df.columns)
        conv = [kinds.get(c, "rate" if (pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]))
                          else "text") for c in cols]
        for j, c in enumerate(cols, start=1):
            ws.column_dimensions[get_column_letter(j)].width = min(max(len(str(c)), 6) + 2, 40)
        ws.freeze_panes = "A5"
        if len(df):
            ws.auto_filter.ref = f"A4:{get_column_letter(len(cols))}{len(df) + 4}"

        def styled(value, font=None, fmt=None):
            cell = WriteOnlyCell(ws, value=value)
            if font is not None:
                cell.font = font
            if fmt is not None:
                cell.number_format = fmt
            return cell

        ws.append([styled(title, big)])
        ws.append([subtitle])
        ws.append([])
        ws.append([styled(str(c), bold) for c in cols])
        fmts = [(_FORMATS.get(k) if k != "text" else None) for k in conv]
        if len(df) * len(cols) > _FORMAT_CELLS_MAX:
            fmts = [None] * len(cols)
        values = [df[c].to_numpy() for c in cols]
        for i in range(len(df)):
            ws.append([_cell_value(v[i], k) if f is None else styled(_cell_value(v[i], k), fmt=f)
                       for v, k, f in zip(values, conv, fmts)])
    wb.save(path)
