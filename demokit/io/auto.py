"""One entry point for every supported file: ``read(paths)`` detects each file's format and merges."""

from __future__ import annotations

import os
import re
from pathlib import Path

import xarray as xr

from ._common import ReadError
from ._labels import decode_bytes, read_bytes
from .jsonstat import read_jsonstat
from .labelled import read_labelled_csv
from .px import read_px
from .pxweb import merge_parts, read_pxweb_csv
from .regioncodes import region_names
from .scb_long import read_county_cube, read_scb_long

__all__ = ["read", "detect_format", "FORMATS"]

#: the formats :func:`read` recognises
FORMATS = {
    "pxweb_csv": "SCB PX-Web CSV with codes (Region,Alder,Kon,BE0101N1 2019,...)",
    "labelled_csv": "SCB labelled web download (region,ålder,kön,2019 with '2581 Piteå', '0 år', 'män')",
    "jsonstat": "JSON-stat 2.0 dataset (SCB's PX-Web API v2, outputFormat=json-stat2)",
    "px": "PC-Axis .px file",
    "scb_long": "long SCB CSV age,sex,region,year,value (county files)",
    "netcdf": "a cube saved as NetCDF (.nc)",
}
_CODE_COLUMN = re.compile(r"^\s*[A-Z]{2}\d{4}[A-Z0-9]*\s+\d{4}\s*$")
_PX_START = re.compile(r'^\s*[A-Za-z][A-Za-z0-9_-]*(\[[^\]]*\])?(\([^)]*\))?\s*=', re.S)


def detect_format(path) -> str:
    """Return the format of a file: one of the keys of :data:`FORMATS`.

    Detection looks at the content (not only the suffix): NetCDF/HDF5 magic
    bytes or ``.nc``; a JSON object; a ``KEYWORD=`` header with ``DATA=``
    (PX); a CSV header ``age,sex,region,year,value`` (long), with
    ``CONTENTCODE YEAR`` columns and ``Region`` (code-based PX-Web) or
    anything else with year columns (labelled).
    """
    path = os.fspath(path)
    raw = read_bytes(path)
    if raw[:4] in (b"CDF\x01", b"CDF\x02", b"\x89HDF") or path.lower().endswith(".nc"):
        return "netcdf"
    text = decode_bytes(raw)
    head = text.lstrip()
    if head.startswith("{"):
        return "jsonstat"
    if path.lower().endswith((".px", ".px.gz")) or (_PX_START.match(head) and re.search(r"\bDATA\s*=", text)
                                                   and re.search(r"\b(STUB|HEADING)\s*=", text)):
        return "px"
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    sep = "," if "," in first else (";" if ";" in first else ("\t" if "\t" in first else ","))
    cells = [c.strip().strip('"') for c in first.split(sep)]
    if [c.lower() for c in cells] == ["age", "sex", "region", "year", "value"]:
        return "scb_long"
    if "Region" in cells and any(_CODE_COLUMN.match(c) for c in cells):
        return "pxweb_csv"
    return "labelled_csv"


def _long_role(path: Path) -> str:
    n = path.name.lower()
    if "popn" in n or "population" in n or "folkm" in n:
        return "population"
    if "birth" in n or "fodda" in n or "födda" in n:
        return "births"
    if "death" in n or "doda" in n or "döda" in n:
        return "deaths"
    raise ReadError(f"{path}: cannot tell whether this long CSV holds population, births or deaths; put "
                    "'popn', 'births' or 'deaths' in its name")


def read(paths, *, regions=None, content=None, missing: str = "raise",
         fertile_ages: tuple[int, int] = (15, 49)) -> xr.Dataset:
    """Return one cube read from files of any supported format, detected file by file.

    Parameters
    ----------
    paths : path-like or sequence of path-like
        Files in any of :data:`FORMATS`, mixed freely: SCB PX-Web CSVs with
        codes or with labels, JSON-stat2 responses, ``.px`` files, long SCB
        CSVs (names containing popn/births/deaths) or one NetCDF cube.
    regions : sequence of str, optional
        Keep only these region codes.  Without it the regions of the file
        with population are kept (e.g. dropping the country ``"00"`` that
        SCB's event tables carry) and every other file must hold them; with
        no population file all files must hold the same regions.
    content : str or dict, optional
        For labelled files that do not name their content; see
        :func:`read_labelled_csv`.  Applies to every labelled file.
    missing : {"raise", "nan"}
        SCB's missing-value marker ``..``: a :class:`ReadError` naming the
        file, line/cell and column (default), or NaN kept in the cube.
    fertile_ages : (int, int)
        Folding of births by the mother's age; see :func:`read_pxweb_csv`.

    Returns
    -------
    xarray.Dataset
        Dims ``region, sex, age, year``; the variables of all files (each
        variable from one file only); births on the population's age axis;
        ``region_name`` from the files' labels or from :func:`region_names`;
        ``attrs["open_age"]`` and ``attrs["source"]``.

    Notes
    -----
    Three long files (population, births, deaths) alone are read with
    :func:`read_county_cube`; one ``.nc`` file alone is loaded as it is.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ReadError("read: no files given")
    for p in paths:
        if not p.exists():
            raise ReadError(f"{p}: no such file")
    formats = [detect_format(p) for p in paths]
    if formats == ["netcdf"]:
        ds = xr.load_dataset(paths[0])
        return _keep_regions(_with_names(ds), regions, paths[0])
    if set(formats) == {"scb_long"}:
        roles = {_long_role(p): p for p in paths}
        if set(roles) == {"population", "births", "deaths"} and len(paths) == 3:
            ds = read_county_cube(roles["population"], roles["births"], roles["deaths"],
                                  fertile_ages=fertile_ages)
            return _keep_regions(ds, regions, roles["population"])
    parts, names = [], []
    for p, fmt in zip(paths, formats):
        if fmt == "pxweb_csv":
            part = read_pxweb_csv(p, fertile_ages=fertile_ages)
        elif fmt == "labelled_csv":
            part = read_labelled_csv(p, content=content, missing=missing, fertile_ages=fertile_ages)
        elif fmt == "jsonstat":
            part = read_jsonstat(p, content=content, missing=missing, fertile_ages=fertile_ages)
        elif fmt == "px":
            part = read_px(p, content=content, missing=missing, fertile_ages=fertile_ages)
        elif fmt == "scb_long":
            role = _long_role(p)
            da = read_scb_long(p, name=role, fertile_ages=fertile_ages if role == "births" else None,
                               age_convention={"population": None, "births": "year_end",
                                               "deaths": "at_event"}[role])
            part = da.to_dataset()
            if role == "population":
                part.attrs["open_age"] = int(da["age"].max())
        else:  # netcdf among other files
            part = xr.load_dataset(p)
            if not {"region", "sex", "age", "year"} <= set(part.dims):
                raise ReadError(f"{p}: a NetCDF cube needs dims region, sex, age, year; got {dict(part.sizes)}")
            part = part.transpose("region", "sex", "age", "year", ...)
        parts.append(part)
        names.append(str(p))
    if regions is None:
        pop = next((part for part in parts if "population" in part.data_vars), None)
        if pop is not None and len(parts) > 1:
            regions = pop["region"].values.tolist()
    ds = merge_parts(parts, names, regions=regions)
    ds.attrs["source"] = "; ".join(part.attrs.get("source", os.path.basename(n)) for part, n in zip(parts, names))
    return ds


def _with_names(ds: xr.Dataset) -> xr.Dataset:
    if "region" in ds.dims and "region_name" not in ds.coords:
        codes = [str(c) for c in ds["region"].values.tolist()]
        ds = ds.assign_coords(region_name=("region", region_names(codes)))
    return ds


def _keep_regions(ds: xr.Dataset, regions, path) -> xr.Dataset:
    """``ds`` with only ``regions`` (all when None); a region the data lack is a :class:`ReadError`."""
    if regions is None:
        return ds
    regions = [str(r) for r in regions]
    have = [str(r) for r in ds["region"].values.tolist()] if "region" in ds.dims else []
    missing = [r for r in regions if r not in have]
    if missing:
        raise ReadError(f"{path}: region {missing[0]!r} is not in the data (regions {have[:8]}"
                        f"{' ...' if len(have) > 8 else ''})")
    return ds.sel(region=regions)
