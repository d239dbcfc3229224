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
    if units.startswith("persons per 100") or name.endswith("dependency_ratio"):
        return "ratio"
    if units in ("persons", "person") or name in ("population", "employed", "not_employed", "actual", "forecast"):
        return "persons"
    if name == "error_percent" or units.startswith("percent"):
        return "percent"
    if units == "years" or name.startswith("e0"):
        return "years"
    if name == "tfr" or "per woman" in units:
        return "rate"
    if units.startswith("share"):
        return "share"
    return "rate"


def to_xlsx(path: Path, sheets, *, title: str, subtitle: str) -> None:
    """Write an Excel workbook with one sheet per table.

    ``sheets``: a sequence of ``(sheet_name, dataframe, kinds)`` where
    ``kinds`` maps a column to a kind of :func:`column_kind` (number format;
    ``"persons"`` are rounded to whole numbers).  Each sheet starts with the
    ``title`` and the ``subtitle`` (base year, source), then a header row
    (bold, frozen, with an autofilter) and the data, numbers stored as numbers.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    for name, df, kinds in sheets:
        ws = wb.create_sheet(title=name[:31])
        ws.append([title])
        ws["A1"].font = Font(bold=True, size=13)
        ws.append([subtitle])
        ws.append([])
        ws.append([str(c) for c in df.columns])
        for cell in ws[4]:
            cell.font = bold
        cols = list(df.columns)
        conv = []
        for c in cols:
            k = kinds.get(c, "text" if df[c].dtype == object else "rate")
            conv.append(k)
        values = [df[c].to_numpy() for c in cols]
        for i in range(len(df)):
            row = []
            for v, k in zip(values, conv):
                x = v[i]
                if isinstance(x, (np.bool_, bool)):
                    x = bool(x)
                elif isinstance(x, (np.integer,)):
                    x = int(x)
                elif isinstance(x, (np.floating, float)):
                    x = None if not np.isfinite(x) else (int(round(float(x))) if k == "persons" else float(x))
                row.append(x)
            ws.append(row)
        for j, k in enumerate(conv, start=1):
            fmt = _FORMATS.get(k)
            width = max(len(str(cols[j - 1])), 6) + 2
            ws.column_dimensions[get_column_letter(j)].width = min(width, 40)
            if fmt and k != "text":
                for (cell,) in ws.iter_rows(min_row=5, min_col=j, max_col=j):
                    cell.number_format = fmt
        ws.freeze_panes = "A5"
        if len(df):
            ws.auto_filter.ref = f"A4:{get_column_letter(len(cols))}{len(df) + 4}"
    wb.save(path)
