"""Reader for SCB's *labelled* web downloads (PX-Web CSV with texts instead of codes)."""

from __future__ import annotations

import csv
import io
import os
import re

import numpy as np
import pandas as pd
import xarray as xr

from ._common import ReadError
from ._labels import (check_missing, classify_dimension, cube_from_tidy, decode_bytes,
                      parse_categories, parse_number, read_bytes, resolve_content)

__all__ = ["read_labelled_csv"]

_YEAR_COL = re.compile(r"^(?:(.*\S)\s+)?(\d{4})$")
_VALUE_COL = {"värde", "value", "antal", "number"}
_SEPARATORS = (";", "\t", ",")


def _cells(line: str, sep: str) -> list[str]:
    return next(csv.reader([line], delimiter=sep), [])


def _find_header(lines: list[str], path) -> tuple[int, str]:
    """Return the index of the header line and the separator (the one giving most cells there)."""
    for i, line in enumerate(lines[:20]):
        if not line.strip():
            continue
        best = None
        for sep in _SEPARATORS:
            cells = [c.strip() for c in _cells(line, sep)]
            if len(cells) >= 2 and (any(_YEAR_COL.match(c) for c in cells)
                                    or any(classify_dimension(c) == "year" for c in cells)):
                if best is None or len(cells) > best[1]:
                    best = (sep, len(cells))
        if best is not None:
            return i, best[0]
    raise ReadError(f"{path}: no header line with year columns (e.g. 'region,ålder,kön,2018,2019') "
                    "among the first 20 lines")


def read_labelled_csv(path, *, content=None, missing: str = "raise",
                      fertile_ages: tuple[int, int] = (15, 49)) -> xr.Dataset:
    """Return the cube of one SCB labelled web download (CSV with texts).

    Parameters
    ----------
    path : path-like
        A CSV saved from SCB's statistical database (PX-Web) with labels, e.g.
        header ``region,civilstånd,ålder,kön,2006,2007`` and rows
        ``"2581 Piteå",ogifta,0 år,män,…``.  Separator ``,``, ``;`` or tab;
        UTF-8 (with or without BOM) or Windows-1252/Latin-1; optionally
        gzip-compressed; title lines above the header are allowed.
    content : str or dict, optional
        The table's content when the file does not name it (or to override):
        a content code (``"BE0101D9"``), a cube variable (``"deaths"``) or a
        mapping from the file's content label to either.  Without it the
        content comes from a ``tabellinnehåll`` column, from value columns
        such as ``Folkmängd 2019``, or from a title line
        (``Folkmängd efter region, …``), via :data:`CONTENT_LABELS`.
    missing : {"raise", "nan"}
        What to do with SCB's missing-value markers (``..``): raise a
        :class:`ReadError` naming the file, line and column (default), or
        keep the cell as NaN.
    fertile_ages : (int, int)
        For births by the mother's age: ``-14 år`` is counted at the lowest,
        ``49+ år`` (or any open group at or above the highest fertile age,
        ``50+``, ``60+``) at the highest fertile age — SCB's convention: its
        ``49+`` holds the births to mothers 49 and over and its TFR over 15–49
        includes them.  The folded labels are named in the births'
        ``attrs["folded_ages"]``; an open group starting below the highest
        fertile age (``45+``) is a :class:`ReadError`.

    Returns
    -------
    xarray.Dataset
        The same variables, dims, coordinates and attributes as
        :func:`read_pxweb_csv` gives for SCB's code-based download of the same
        table, plus ``region_name`` (from the file's labels).

    Raises
    ------
    ReadError
        Unknown columns or labels, duplicated rows, missing rows (an
        incomplete region × sex × age × year grid), missing values,
        non-integer or negative counts — each naming the file, line and column.

    Notes
    -----
    Classifications other than region, sex, age and year (``civilstånd``)
    are summed over, so every cell must have every category (a row of
    zeros, as SCB writes it): a category missing for some cells is a
    :class:`ReadError` naming the cell, never a zero; ``–`` is SCB's zero.
    """
    path = os.fspath(path)
    header, data, line_no, h, sep, title = _rows(path)
    dim_cols, value_cols = _columns(header, path, h)
    nrow, ncol = data.shape

    def describe(cell):
        return f"line {line_no[int(cell) // ncol]}, column {header[int(cell) % ncol]!r}"

    parsed = _parse_dims(data, dim_cols, header, line_no, path, content)
    vj = [j for j, _, _ in value_cols]
    cells, num = _parse_values(data, vj, header, line_no, path, sep)
    rows_of = np.repeat(np.arange(nrow), len(vj))
    part = {k: v[rows_of] for k, v in parsed.items()}
    if any(y is not None for _, _, y in value_cols):
        part["year"] = np.tile(np.array([y for _, _, y in value_cols], dtype=np.int64), nrow)
    if "content" not in part:
        part["content"] = np.tile(np.array(_contents(value_cols, header, h, path, title, content), dtype=object),
                                  nrow)
    part["value"] = num
    part["symbol"] = cells
    part["_cell"] = rows_of * ncol + np.tile(np.array(vj), nrow)
    check_missing(part, path, missing, describe)
    return cube_from_tidy(part, path, describe=describe, fertile_ages=fertile_ages,
                          source=f"Statistics Sweden (SCB), labelled web download {os.path.basename(path)}")


def _rows(path):
    """The file's header cells, its data rows (object array, up to the first blank line: notes below), their
    1-based line numbers, the header's line index, the separator and the title above the header."""
    text = decode_bytes(read_bytes(path))
    lines = text.splitlines()
    h, sep = _find_header(lines, path)
    title = " ".join(ln.strip().strip('"').strip() for ln in lines[:h] if ln.strip())
    header = [c.strip() for c in _cells(lines[h], sep)]
    try:
        frame = pd.read_csv(io.StringIO("\n".join(lines[h + 1:])), sep=sep, header=None, names=range(len(header)),
                            dtype=object, keep_default_na=False, skip_blank_lines=False, quotechar='"',
                            engine="c")
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"line {h + 1 + int(m.group(1))}" if m else "below the header"
        raise ReadError(f"{path}, {where}: more cells than the header's {len(header)} ({exc})") from None
    data = frame.to_numpy(dtype=object)
    line_no = np.arange(len(data)) + h + 2   # 1-based file lines of the rows
    empty = (pd.isna(frame) | (frame == "")).all(axis=1).to_numpy()
    start_row = int(np.argmax(~empty)) if (~empty).any() else len(data)
    stop = start_row + (int(np.argmax(empty[start_row:])) if empty[start_row:].any() else len(data) - start_row)
    data, line_no = data[start_row:stop], line_no[start_row:stop]   # below a blank line: notes
    if not len(data):
        raise ReadError(f"{path}: no data rows below the header")
    short = pd.isna(data).any(axis=1)
    if short.any():
        i = int(np.argmax(short))
        raise ReadError(f"{path}, line {line_no[i]}: {int((~pd.isna(data[i])).sum())} cells but the header has "
                        f"{len(header)} ({header})")
    return header, data, line_no, h, sep, title


def _columns(header, path, h):
    """The classification columns by role and the value columns ``(index, label, year or None)``."""
    dim_cols: dict[str, list[int]] = {}
    value_cols: list[tuple[int, str | None, int | None]] = []
    for j, name in enumerate(header):
        m = _YEAR_COL.match(name)
        if m:
            value_cols.append((j, m.group(1), int(m.group(2))))
            continue
        role = classify_dimension(name)
        if role is None:
            if resolve_content(None, name) is not None or name.casefold() in _VALUE_COL:
                value_cols.append((j, name, None))
                continue
            raise ReadError(f"{path}, line {h + 1}: unknown column {name!r} (expected region, kön, ålder, "
                            "civilstånd, tabellinnehåll, år or year columns such as '2019')")
        dim_cols.setdefault(role, []).append(j)
    for role in ("region", "sex", "age"):
        if role not in dim_cols:
            raise ReadError(f"{path}, line {h + 1}: no {role} column in {header}")
    for role, js in dim_cols.items():
        if len(js) > 1 and role != "extra":
            raise ReadError(f"{path}, line {h + 1}: more than one {role} column: {[header[j] for j in js]}")
    if "year" in dim_cols and any(y is not None for _, _, y in value_cols):
        raise ReadError(f"{path}, line {h + 1}: both a year column and year columns")
    if not value_cols:
        raise ReadError(f"{path}, line {h + 1}: no value columns (years such as '2019')")
    return dim_cols, value_cols


def _parse_dims(data, dim_cols, header, line_no, path, content):
    """Each classification column parsed once per distinct label, as arrays over the rows."""
    parsed: dict[str, np.ndarray] = {}
    for role, js in dim_cols.items():
        for j in js:
            col = data[:, j]
            inv, uniq = pd.factorize(col)
            _, first = np.unique(inv, return_index=True)
            uniq = np.asarray(uniq, dtype=object)
            cats = parse_categories(role, [None] * len(uniq), uniq.tolist(), path=path, dim=f"column {header[j]!r}",
                                    override=content,
                                    where=[f"line {line_no[i]}" for i in first])
            if role == "extra":
                parsed[f"extra:{header[j]}"] = cats["extra"][inv]
            else:
                for c in cats:
                    parsed[c] = cats[c][inv]
    return parsed


def _parse_values(data, vj, header, line_no, path, sep):
    """All value cells at once, in file order (row by row, column by column): the texts and the numbers."""
    cells = data[:, vj].ravel()
    num = np.array(pd.to_numeric(pd.Series(cells, dtype=object), errors="coerce"), dtype=float)
    for k in np.flatnonzero(np.isnan(num)):  # markers, spaces, decimal commas: cell by cell
        try:
            x = parse_number(cells[k], decimal_comma=sep != ",")
        except ValueError:
            raise ReadError(f"{path}, line {line_no[k // len(vj)]}, column {header[vj[k % len(vj)]]!r}: "
                            f"{cells[k]!r} is not a number") from None
        num[k] = np.nan if x is None else x
    return cells, num


def _contents(value_cols, header, h, path, title, content):
    """The content code of each value column: from its label, the title, or ``content=``."""
    codes = []
    for j, label, _ in value_cols:
        if label is not None and label.casefold() not in _VALUE_COL:
            code = resolve_content(None, label, override=content)
            if code is None:
                raise ReadError(f"{path}, line {h + 1}, column {header[j]!r}: unknown content {label!r}; "
                                "pass content=... (a content code or a cube variable)")
        else:
            code = resolve_content(None, title, override=content) if (title or content is not None) else None
            if code is None:
                raise ReadError(f"{path}: cannot tell what the table counts (no tabellinnehåll column, "
                                f"no content in the column names, title {title!r}); pass content=... "
                                "(e.g. 'population' or 'BE0101N1')")
        codes.append(code)
    return codes
