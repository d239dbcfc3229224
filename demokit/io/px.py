"""Reader for PC-Axis ``.px`` files (the PX file format, AXIS-VERSION 2013)."""

from __future__ import annotations

import codecs
import gzip
import itertools
import os
import re

import numpy as np
import pandas as pd
import xarray as xr

from ._common import ReadError
from ._labels import (MISSING_MARKERS, check_missing, classify_dimension, cube_from_tidy, grid_describer,
                      read_bytes, tidy_from_grid)

__all__ = ["read_px", "parse_px"]

_KEYWORD = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)(?:\[([^\]]*)\])?(?:\(((?:"[^"]*"|[^)"])*)\))?\s*=')
_TOKEN = re.compile(r'"([^"]*)"|([^\s,"]+)|(,)')
_DATA_TOKEN = re.compile(r'"[^"]*"|[^\s,;"]+')
_SEPARATORS = str.maketrans({",": " ", ";": " ", "\t": " "})


def _decode(raw: bytes) -> str:
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    head = raw[:4000].decode("latin-1")
    m = re.search(r'CODEPAGE\s*=\s*"([^"]+)"', head)
    if m:
        try:
            codecs.lookup(m.group(1))
            return raw.decode(m.group(1))
        except (LookupError, UnicodeDecodeError):
            pass
    if re.search(r'CHARSET\s*=\s*"ANSI"', head):
        return raw.decode("cp1252", errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _values(raw: str) -> list[str]:
    """Split a keyword's value into its items: quoted strings (split lines joined) or bare words."""
    items: list[str] = []
    joinable = False
    for m in _TOKEN.finditer(raw):
        q, bare, comma = m.groups()
        if comma:
            joinable = False
        elif q is not None:
            if joinable and items:
                items[-1] += q
            else:
                items.append(q)
            joinable = True
        else:
            items.append(bare)
            joinable = False
    return items


def parse_px(text: str, where: str = "PX file"):
    """Return ``(keywords, data_text, data_line)`` of a PX file's text.

    ``keywords`` maps ``(KEYWORD, language or None, subkey or None)`` to the
    list of values; nothing in the file is evaluated.
    """
    keys: dict[tuple, list[str]] = {}
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n;":
            pos += 1
        if pos >= n:
            raise ReadError(f"{where}: no DATA keyword (a PX file ends with DATA=...;)")
        m = _KEYWORD.match(text, pos)
        if not m:
            line = text.count("\n", 0, pos) + 1
            raise ReadError(f"{where}, line {line}: expected KEYWORD=...; got {text[pos:pos + 30]!r}")
        kw, lang, sub = m.group(1).upper(), m.group(2), m.group(3)
        pos = m.end()
        if kw == "DATA":
            end = text.rfind(";")
            if end < pos:
                raise ReadError(f"{where}: DATA does not end with ';'")
            return keys, text[pos:end], text.count("\n", 0, pos) + 1
        # the value runs to the next ';' outside quotes
        i, inq = pos, False
        while i < n and (inq or text[i] != ";"):
            if text[i] == '"':
                inq = not inq
            i += 1
        if i >= n:
            line = text.count("\n", 0, pos) + 1
            raise ReadError(f"{where}, line {line}: {kw} is not ended by ';'")
        subkey = None
        if sub is not None:
            parts = re.findall(r'"([^"]*)"', sub)
            subkey = parts[0] if len(parts) == 1 else tuple(parts)
        keys[(kw, lang, subkey)] = _values(text[pos:i])
        pos = i + 1


def read_px(path, *, content=None, missing: str = "raise",
            fertile_ages: tuple[int, int] = (15, 49)) -> xr.Dataset:
    """Return the cube of a PC-Axis ``.px`` file.

    Parameters
    ----------
    path : path-like
        A ``.px`` file as saved from SCB's statistical database or PX-Win
        (optionally gzip-compressed).  The encoding follows ``CODEPAGE`` (or
        ``CHARSET="ANSI"`` = Windows-1252; UTF-8 otherwise).  Only the
        default language is read.
    content : str or dict, optional
        See :func:`read_labelled_csv`; needed when neither the content
        variable (``CONTVARIABLE``) nor ``CONTENTS``/``TITLE`` names a known
        content.
    missing : {"raise", "nan"}
        Cells written as dots (``".."``, SCB's unavailable value): raise a
        :class:`ReadError` naming the cell (default) or keep them as NaN.
        ``"-"`` is the PX format's zero.
    fertile_ages : (int, int)
        See :func:`read_labelled_csv`.

    Returns
    -------
    xarray.Dataset
        As :func:`read_labelled_csv`.

    Notes
    -----
    The variables are ``STUB`` then ``HEADING``; each has ``VALUES``
    (texts) and optionally ``CODES``.  ``DATA`` lists the cells in row-major
    order over these variables (the last heading variable varies fastest),
    separated by spaces, commas, semicolons or tabs.  Files written with
    ``KEYS`` (sparse rows) are not supported.
    """
    path = os.fspath(path)
    text = _decode(read_bytes(path))
    keys, data, data_line = parse_px(text, path)

    def get(kw, sub=None):
        return keys.get((kw, None, sub))

    if any(k[0] == "KEYS" for k in keys):
        raise ReadError(f"{path}: PX files with KEYS (sparse rows) are not read; save the table without KEYS")
    stub, heading = get("STUB") or [], get("HEADING") or []
    variables = stub + heading
    if not variables:
        raise ReadError(f"{path}: no STUB or HEADING keyword")
    contvar = (get("CONTVARIABLE") or [None])[0]
    dims = []
    for var in variables:
        labels = get("VALUES", var)
        if labels is None:
            raise ReadError(f"{path}: no VALUES(\"{var}\") for variable {var!r}")
        codes = get("CODES", var)
        if codes is not None and len(codes) != len(labels):
            raise ReadError(f"{path}: CODES(\"{var}\") has {len(codes)} items but VALUES has {len(labels)}")
        if var == contvar:
            role = "content"
        elif ("TIMEVAL", None, var) in keys:
            role = "year"
        else:
            role = classify_dimension(var)
        dims.append((var, role, list(codes) if codes is not None else list(labels), list(labels)))
    total = int(np.prod([len(d[2]) for d in dims]))
    tokens = data.translate(_SEPARATORS).split()
    if len(tokens) != total:
        raise ReadError(f"{path}: DATA has {len(tokens)} cells but the variables' values make {total} "
                        f"({' × '.join(str(len(d[2])) for d in dims)})")
    values = np.array(pd.to_numeric(pd.Series(tokens, dtype=object), errors="coerce"), dtype=float)
    symbols = np.full(total, None, dtype=object)
    for k in np.flatnonzero(np.isnan(values)):  # quoted cells and dots: one by one
        t = tokens[k].strip('"').strip()
        if t in MISSING_MARKERS:
            symbols[k] = t
        elif t in ("-", "–"):
            values[k] = 0.0
        else:
            try:
                values[k] = float(t)
            except ValueError:
                m = list(itertools.islice(_DATA_TOKEN.finditer(data), k, k + 1))[0]
                line = data_line + data.count("\n", 0, m.start())
                raise ReadError(f"{path}, line {line}: DATA cell {k + 1} {tokens[k]!r} is not a number") from None
    title = " ".join((get("CONTENTS") or []) + (get("TITLE") or [])) or None
    tidy = tidy_from_grid(dims, values, symbols, path, content=content,
                          title=(get("CONTENTS") or get("TITLE") or [None])[0] if title else None)
    describe = grid_describer(dims)
    check_missing(tidy, path, missing, describe)
    return cube_from_tidy(tidy, path, describe=describe, fertile_ages=fertile_ages,
                          source=f"Statistics Sweden (SCB), PX file {os.path.basename(path)}")
