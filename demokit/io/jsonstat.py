"""Reader for JSON-stat 2.0 datasets (PX-Web API v2, ``outputFormat=json-stat2``)."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import xarray as xr

from ._common import ReadError
from ._labels import (check_missing, classify_dimension, cube_from_tidy, decode_bytes, grid_describer,
                      read_bytes, tidy_from_grid)

__all__ = ["read_jsonstat"]


def _categories(dim_id: str, dim: dict, size: int, where: str) -> tuple[list[str], list[str | None]]:
    cat = dim.get("category")
    if not isinstance(cat, dict):
        raise ReadError(f"{where}: dimension {dim_id!r} has no 'category'")
    index = cat.get("index")
    labels = cat.get("label") or {}
    if index is None:  # allowed by the format when there is a single category (or only labels)
        codes = list(labels)
    elif isinstance(index, list):
        codes = [str(c) for c in index]
    elif isinstance(index, dict):
        codes = [None] * len(index)
        for code, pos in index.items():
            if not isinstance(pos, int) or not 0 <= pos < len(index) or codes[pos] is not None:
                raise ReadError(f"{where}: dimension {dim_id!r}: category.index {code!r}: {pos!r} is not a "
                                "free position")
            codes[pos] = str(code)
    else:
        raise ReadError(f"{where}: dimension {dim_id!r}: category.index must be an array or an object")
    if len(codes) != size:
        raise ReadError(f"{where}: dimension {dim_id!r} has {len(codes)} categories but size says {size}")
    return codes, [labels.get(c) for c in codes]


def tidy_from_jsonstat(obj: dict, where: str, *, content=None):
    """Return ``(tidy frame, describe)`` of a JSON-stat 2.0 dataset (see :mod:`demokit.io._labels`)."""
    if not isinstance(obj, dict) or obj.get("class") != "dataset":
        raise ReadError(f"{where}: not a JSON-stat 2.0 dataset (expected \"class\": \"dataset\", got "
                        f"{obj.get('class') if isinstance(obj, dict) else type(obj).__name__!r})")
    ids, size, dims = obj.get("id"), obj.get("size"), obj.get("dimension")
    if not isinstance(ids, list) or not isinstance(size, list) or not isinstance(dims, dict) or len(ids) != len(size):
        raise ReadError(f"{where}: a JSON-stat dataset needs 'id' and 'size' arrays of equal length and a "
                        "'dimension' object")
    role = obj.get("role") or {}
    by_role = {}
    for r, names in role.items():
        for name in names or []:
            by_role[name] = {"time": "year", "geo": "region", "metric": "content"}.get(r)
    spec = []
    for dim_id, n in zip(ids, size):
        if dim_id not in dims:
            raise ReadError(f"{where}: dimension {dim_id!r} listed in 'id' but not in 'dimension'")
        d = dims[dim_id]
        codes, labels = _categories(dim_id, d, int(n), where)
        r = classify_dimension(dim_id, d.get("label")) or by_role.get(dim_id)
        spec.append((dim_id, r, codes, labels))
    total = int(np.prod([int(n) for n in size]))
    raw = obj.get("value")
    values = np.full(total, np.nan)
    if isinstance(raw, list):
        if len(raw) != total:
            raise ReadError(f"{where}: {len(raw)} values for a cube of {total} cells")
        try:
            values = np.array(raw, dtype=float)  # null -> NaN
        except (TypeError, ValueError):
            for i, v in enumerate(raw):
                if v is not None:
                    values[i] = _number(v, i, where)
    elif isinstance(raw, dict):
        for k, v in raw.items():
            if v is not None:
                values[int(k)] = _number(v, int(k), where)
    else:
        raise ReadError(f"{where}: 'value' must be an array or an object")
    status = obj.get("status")
    symbols = np.full(total, None, dtype=object)
    if isinstance(status, str):
        symbols[:] = status
    elif isinstance(status, list):
        symbols[: len(status)] = status
    elif isinstance(status, dict):
        for k, v in status.items():
            symbols[int(k)] = v
    symbols = np.where(np.isnan(values) & pd.isna(symbols), "null", symbols)
    tidy = tidy_from_grid(spec, values, symbols, where, content=content, title=obj.get("label"))
    return tidy, grid_describer(spec)


def _number(v, i, where):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        try:
            return float(str(v))
        except ValueError:
            raise ReadError(f"{where}: value[{i}] = {v!r} is not a number") from None
    return float(v)


def read_jsonstat(source, *, content=None, missing: str = "raise",
                  fertile_ages: tuple[int, int] = (15, 49)) -> xr.Dataset:
    """Return the cube of a JSON-stat 2.0 dataset (SCB's PX-Web API v2 response).

    Parameters
    ----------
    source : path-like or dict
        A ``.json`` file (optionally gzip-compressed) or the parsed JSON.
        Dimensions are recognised by id or label (``Region``, ``Kon``/kön,
        ``Alder``/ålder, ``Civilstand``, ``ContentsCode``/tabellinnehåll,
        ``Tid``/år) or by the dataset's ``role``; categories by code
        (``2581``, ``100+``, ``1``/``2``, ``BE0101N1``) or label.
    content : str or dict, optional
        See :func:`read_labelled_csv`; needed when the content is neither a
        known content code nor a known label (SCB's v2 tables use new codes
        such as ``000000LV``, whose label, e.g. ``Folkmängd``, is recognised).
    missing : {"raise", "nan"}
        Cells whose value is ``null`` (SCB's ``status`` ``".."``): raise a
        :class:`ReadError` naming the cell (default) or keep them as NaN.
    fertile_ages : (int, int)
        See :func:`read_labelled_csv`.

    Returns
    -------
    xarray.Dataset
        As :func:`read_labelled_csv`.

    Notes
    -----
    JSON-stat stores the cube as one array in row-major order: the cell of
    category indices :math:`(i_1, …, i_k)` of dimensions of sizes
    :math:`(n_1, …, n_k)` is ``value[((i_1 n_2 + i_2) n_3 + i_3) …]``, the
    last dimension varying fastest.
    """
    if isinstance(source, dict):
        obj, where, name = source, "JSON-stat response", "JSON-stat response"
    else:
        where = os.fspath(source)
        name = os.path.basename(where)
        try:
            obj = json.loads(decode_bytes(read_bytes(where)))
        except json.JSONDecodeError as exc:
            raise ReadError(f"{where}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
    tidy, describe = tidy_from_jsonstat(obj, where, content=content)
    check_missing(tidy, where, missing, describe)
    return cube_from_tidy(tidy, where, describe=describe, fertile_ages=fertile_ages,
                          source=f"Statistics Sweden (SCB), JSON-stat2 {name}")
