"""Shared helpers of the readers: age labels, errors that name the file and line."""

from __future__ import annotations

import gzip
import io
import os
import re

import numpy as np
import pandas as pd

from ..cube import DemokitError

__all__ = ["ReadError", "open_text", "parse_age", "allocate_largest_remainder", "check_table",
           "fold_mothers_ages"]


class ReadError(DemokitError, ValueError):
    """A file does not have the format its reader expects."""


def open_text(path) -> str:
    """Return the text of a (possibly gzip-compressed) file, UTF-8 or Latin-1."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ReadError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, gzip.BadGzipFile) as exc:
            raise ReadError(f"{path}: damaged or truncated gzip file ({exc})") from None
    if not raw.strip():
        raise ReadError(f"{path}: the file is empty")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_csv_text(text: str, path, *, dtype=str) -> pd.DataFrame:
    """Parse CSV text into a frame of strings; malformed rows and duplicated columns name the file and line.

    A header without commas but with semicolons is read as PX-Web's Swedish
    export (``sep=";"``, decimal comma): ``df.attrs["decimal_comma"]`` is
    then ``True`` and :func:`to_numbers` reads ``"378,5"`` as 378.5.  A
    tab-separated header is an error.
    """
    first = text.split("\n", 1)[0]
    sep = ","
    if first.count(",") == 0 and first.count(";"):
        sep = ";"
    elif first.count(",") == 0 and first.count("\t"):
        raise ReadError(f"{path}, line 1: no comma- or semicolon-separated columns (the header is separated by "
                        "tab); save the file as CSV")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=dtype, keep_default_na=False, sep=sep)
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = m.group(1) if m else "?"
        raise ReadError(f"{path}, line {line}: malformed CSV row ({exc})") from None
    except pd.errors.EmptyDataError:
        raise ReadError(f"{path}: the file has no CSV header or rows") from None
    header = next(iter(pd.read_csv(io.StringIO(first), header=None, dtype=str, sep=sep).itertuples(index=False)))
    names = [str(h).strip() for h in header]
    seen = set()
    for j, h in enumerate(names):
        if h in seen:
            raise ReadError(f"{path}, line 1: column {h!r} appears twice (column {j + 1})")
        seen.add(h)
    df.attrs["decimal_comma"] = sep == ";"
    return df


def to_numbers(df: pd.DataFrame, columns) -> pd.DataFrame:
    """The numbers of ``columns`` of a :func:`read_csv_text` frame; NaN where a cell is not a number.

    In a semicolon-separated file (decimal comma) ``"378,5"`` is 378.5 and
    spaces (Swedish thousands separators, also non-breaking) are dropped.
    """
    block = df[list(columns)]
    if df.attrs.get("decimal_comma"):
        block = block.apply(lambda c: c.str.replace(r"[\s\u00a0]", "", regex=True).str.replace(",", ".",
                                                                                               regex=False))
    return block.apply(pd.to_numeric, errors="coerce")


def check_table(keys: pd.DataFrame, values: pd.DataFrame, path, *, whole=None, signed=(), halves=()) -> None:
    """Check that each cell of a table appears exactly once and holds a valid count.

    Parameters
    ----------
    keys : DataFrame
        The raw classification columns of each row (region, sex, age, other
        classifications such as civil status; for long files also year).
    values : DataFrame
        The numbers, one column per content × year (or one ``value`` column).
    path : path-like
        Named in the errors, with the line (row + 2).
    whole : iterable of str, optional
        Columns that must hold whole numbers (default: all not in
        ``signed``/``halves``).
    signed : iterable of str
        Columns of net flows: whole numbers of any sign.
    halves : iterable of str
        Columns of means (medelfolkmängd): multiples of 0.5, >= 0.

    Raises
    ------
    ReadError
        A duplicated row (naming both lines), a missing combination of the
        classifications (the table is not the full grid: a file cut short or
        rows deleted — never filled with zeros), a negative, fractional or
        infinite count (naming line and column).
    """
    k = keys.astype(str).apply(lambda c: c.str.strip())
    dup = k.duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = k.iloc[rows[0]]
        same = rows[(k.iloc[rows] == first).all(axis=1).to_numpy()]
        cell = ", ".join(f"{c}={v!r}" for c, v in first.items())
        raise ReadError(f"{path}, lines {same[0] + 2} and {same[1] + 2}: the same cell ({cell}) appears twice")
    levels = [k[c].unique() for c in k.columns]
    expected = int(np.prod([len(v) for v in levels])) if levels else 0
    if expected != len(k):
        full = pd.MultiIndex.from_product(levels, names=list(k.columns))
        have = pd.MultiIndex.from_frame(k)
        miss = full.difference(have)
        cell = ", ".join(f"{c}={v!r}" for c, v in zip(k.columns, miss[0]))
        raise ReadError(f"{path}: {len(miss)} row(s) missing from the table (e.g. {cell}); the file may be cut "
                        "short or filtered — missing rows are never read as zeros")
    v = values.to_numpy(dtype=np.float64)
    cols = list(values.columns)
    signed, halves = set(signed), set(halves)
    for j, c in enumerate(cols):
        x = v[:, j]
        bad = ~np.isfinite(x)
        what = "is not a finite number"
        if not bad.any() and c not in signed:
            bad = x < 0
            what = "is negative: counts must be >= 0"
        if not bad.any():
            if c in halves:
                bad, what = (x * 2 != np.round(x * 2)), "is not a multiple of 0.5 (a mean population)"
            elif whole is None or c in set(whole):
                bad, what = (x != np.round(x)), "is not a whole number: counts of persons are whole"
        if bad.any():
            i = int(np.argmax(bad))
            raise ReadError(f"{path}, line {i + 2}, column {c!r}: {float(x[i]):g} {what}")


_INT = re.compile(r"^\s*(\d+)\s*$")
_OPEN = re.compile(r"^\s*(\d+)\s*\+\s*$")
_BELOW = re.compile(r"^\s*<\s*(\d+)\s*$")


def parse_age(label: str) -> tuple[str, int | None]:
    """Classify an age label.

    Returns ``("age", x)`` for ``"23"``, ``("open", x)`` for ``"100+"`` or
    ``"49+"``, ``("below", x)`` for ``"<15"`` (ages under ``x``) and
    ``("unknown", None)`` for ``"no information"`` / ``"us"`` / ``"okänd"``.
    Anything else raises ``ValueError``.
    """
    s = str(label)
    m = _INT.match(s)
    if m:
        return "age", int(m.group(1))
    m = _OPEN.match(s)
    if m:
        return "open", int(m.group(1))
    m = _BELOW.match(s)
    if m:
        return "below", int(m.group(1))
    if s.strip().lower() in ("no information", "us", "okänd", "uppgift saknas", "unknown"):
        return "unknown", None
    raise ValueError(s)


def fold_mothers_ages(kinds, ages, labels, fertile_ages) -> tuple[np.ndarray, str | None, tuple[int, str] | None]:
    """Count births by the mother's age outside the fertile ages at the nearest fertile age.

    SCB's convention: its births tables (BE0101E2, the county files) give the
    mother's age as ``"-14"`` … ``"48"``, ``"49+"``, so births to mothers under
    15 are counted at 15 and births to mothers 49 and over (50, 55, … included)
    at 49, and SCB's TFR over 15–49 includes them.  demokit does the same with
    any open-ended label at or above the highest fertile age (``"49+"``,
    ``"50+"``, ``"60+"``) and any ``"<x"`` / ``"-x"`` label at or below the
    lowest; single ages outside the fertile ages are kept at their age.

    Parameters
    ----------
    kinds, ages, labels : array-like
        Per row: the kind from :func:`parse_age` (``"age"``, ``"open"``,
        ``"below"``), its age ``x`` and the file's label.
    fertile_ages : (int, int)
        ``(lo, hi)``.

    Returns
    -------
    ages : ndarray of int64
        The ages with the open groups counted at ``lo`` / ``hi``.
    note : str or None
        What was folded (for ``attrs["folded_ages"]``), naming the labels;
        ``None`` when nothing was.
    bad : (int, str) or None
        The row and the reason of a group that cannot be counted at one
        fertile age: ``"45+"`` below ``hi`` (its births at 45–49 would all land
        at 49), ``"<20"`` above ``lo``, or an open group above ``hi`` while
        single ages between ``hi`` and it are kept (``49``, ``50``, ``"51+"``).
    """
    lo, hi = (int(a) for a in fertile_ages)
    kinds = np.asarray(kinds, dtype=object)
    raw = np.asarray(ages, dtype=np.int64)
    labels = np.asarray(labels, dtype=object)
    out = raw.copy()
    is_open, is_below, is_single = kinds == "open", kinds == "below", kinds == "age"
    for mask, wrong, reason in (
            (is_open, raw < hi, lambda i: (f"mother's age {labels[i]!r} opens below the highest fertile age {hi}: "
                                           f"its births at ages {raw[i]}–{hi} cannot all be counted at {hi}; "
                                           f"pass fertile_ages=({lo}, {raw[i]})")),
            (is_below, raw - 1 > lo, lambda i: (f"mother's age {labels[i]!r} (under {raw[i]}) reaches above the "
                                                f"lowest fertile age {lo}: its births at ages {lo}–{raw[i] - 1} "
                                                f"cannot all be counted at {lo}; pass fertile_ages=({raw[i] - 1}, "
                                                f"{hi})"))):
        w = mask & wrong
        if w.any():
            i = int(np.argmax(w))
            return out, None, (i, reason(i))
    if is_open.any():
        top = int(raw[is_open].min())
        between = is_single & (raw > hi) & (raw < top)
        if between.any():
            i = int(np.argmax(between))
            return out, None, (i, f"mother's age {labels[i]!r} is kept at its age but the open group "
                                  f"{labels[int(np.argmax(is_open))]!r} would be counted at {hi}; "
                                  f"pass fertile_ages=({lo}, {int(raw[is_single & (raw < top)].max())})")
    if is_below.any():
        bottom = int(raw[is_below].max())
        between = is_single & (raw < lo) & (raw >= bottom)
        if between.any():
            i = int(np.argmax(between))
            return out, None, (i, f"mother's age {labels[i]!r} is kept at its age but the group "
                                  f"{labels[int(np.argmax(is_below))]!r} would be counted at {lo}; "
                                  f"pass fertile_ages=({int(raw[is_single & (raw >= bottom)].min())}, {hi})")
    out[is_open] = hi
    out[is_below] = lo
    parts = []
    if is_below.any():
        labs = ", ".join(repr(str(x).strip()) for x in dict.fromkeys(labels[is_below].tolist()))
        parts.append(f"mother's age under {lo} ({labs}) counted at {lo}")
    if is_open.any():
        labs = ", ".join(repr(str(x).strip()) for x in dict.fromkeys(labels[is_open].tolist()))
        parts.append(f"{hi} and over ({labs}) counted at {hi}, as SCB's '49+' does: SCB's TFR over "
                     f"{lo}–{hi} includes these births")
    return out, ("; ".join(parts) or None), None


def allocate_largest_remainder(weights: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Split integer ``total`` (shape ``S``) over the last axis of ``weights`` (``S + (n,)``).

    Proportional shares rounded by the largest-remainder (Hamilton) method, so
    that the parts are whole numbers and add up to ``total`` exactly.  Where a
    row of weights is all zero the split is uniform.
    """
    w = np.asarray(weights, dtype=float)
    t = np.asarray(total, dtype=np.int64)
    wsum = w.sum(axis=-1, keepdims=True)
    w = np.where(wsum > 0, w, 1.0)
    share = w / w.sum(axis=-1, keepdims=True)
    exact = share * t[..., None]
    base = np.floor(exact).astype(np.int64)
    rest = t - base.sum(axis=-1)
    frac = exact - base
    # rank the remainders (descending, ties by position) and give one to the top `rest`
    order = np.argsort(-frac, axis=-1, kind="stable")
    rank = np.argsort(order, axis=-1, kind="stable")
    base += (rank < rest[..., None]).astype(np.int64)
    return base
