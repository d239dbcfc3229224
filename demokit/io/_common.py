"""Shared helpers of the readers: age labels, errors that name the file and line."""

from __future__ import annotations

import gzip
import io
import os
import re

import numpy as np
import pandas as pd

from ..cube import DemokitError

__all__ = ["ReadError", "open_text", "parse_age", "allocate_largest_remainder"]


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
        raw = gzip.decompress(raw)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_csv_text(text: str, path, *, dtype=str) -> pd.DataFrame:
    """Parse CSV text into a frame of strings; malformed rows name the file and line."""
    try:
        return pd.read_csv(io.StringIO(text), dtype=dtype, keep_default_na=False)
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = m.group(1) if m else "?"
        raise ReadError(f"{path}, line {line}: malformed CSV row ({exc})") from None


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
