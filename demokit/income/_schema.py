"""The person table (register microdata): fixed column names, validation, parquet reading."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._kernels import income as _k
from ..cube import DemokitError

__all__ = ["IncomeError", "COLUMNS", "validate_persons", "read_persons", "codes"]


class IncomeError(DemokitError, ValueError):
    """A person table breaks the schema or holds impossible values."""


SEXES = ("female", "male")
BIRTH_REGIONS = ("sweden", "nordic", "eu", "europe_other", "world")
KU_TYPES = ("none", "swedish", "ku14", "ku10")
COUNTRIES = ("", "DK", "NO")

#: column -> kind; names are fixed (extra columns are allowed and kept)
COLUMNS = {
    "person": "id", "household": "id", "region": "code", "sex": SEXES, "age": "age",
    "birth_region": BIRTH_REGIONS, "years_in_sweden": "nonneg", "registered_jan1": "bool",
    "registered_dec31": "bool", "csfvi": "nonneg", "cdisp": "real", "declared_wage": "nonneg",
    "ku_wage": "nonneg", "ku_type": KU_TYPES, "work_income": "nonneg", "foreign_country": COUNTRIES,
    "foreign_wage": "nonneg_or_nan", "foreign_tax": "nonneg_or_nan",
}


def _row(df: pd.DataFrame, pos: int):
    lab = df.index[pos]
    return lab.item() if hasattr(lab, "item") else lab


def _fail(df, col, mask, what):
    pos = int(np.argmax(mask))
    val = df[col].iloc[pos]
    val = val.item() if hasattr(val, "item") else val
    raise IncomeError(f"column {col!r}, row {_row(df, pos)!r} (person {df['person'].iloc[pos]!r}): "
                      f"value {val!r} {what}")


def codes(s: pd.Series, categories=None, *, dtype=np.int64) -> tuple[np.ndarray, list]:
    """Return integer codes (−1: missing or unknown) and their labels for a column (categorical columns
    cost nothing; ``dtype=None`` keeps their codes' small integer type, without a copy)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        if categories is not None and list(s.cat.categories) != list(categories):
            s = s.cat.set_categories(list(categories))
        return np.asarray(s.cat.codes.to_numpy(), dtype=dtype), list(s.cat.categories)
    if categories is not None:
        c = pd.Index(list(categories)).get_indexer(s.astype(object).fillna("\x00"))
        return np.asarray(c, dtype=dtype), list(categories)
    c, labels = pd.factorize(s, sort=True)
    return np.asarray(c, dtype=dtype), list(labels)


def set_column(df: pd.DataFrame, name: str, values) -> None:
    """Add a column without copying a fresh numpy array (pandas copies plain arrays on ``df[name] = a``)."""
    df[name] = pd.Series(values, index=df.index, copy=False)


def _duplicated(values: np.ndarray):
    """Mask of rows whose id occurs more than once, or None if none does (O(n) for small non-negative
    integer ids: one pass over a bitmap of the ids)."""
    if values.dtype.kind in "iu" and values.size and values.min() >= 0 and values.max() < 4 * values.size + 16:
        if not _k.has_duplicate(_k.ro(values), int(values.max()) + 1):
            return None
        return np.bincount(values)[values] > 1
    dup = pd.Series(values).duplicated(keep=False).to_numpy()
    return dup if dup.any() else None


def validate_persons(df: pd.DataFrame) -> None:
    """Check a person table; raise :class:`IncomeError` naming the column and the first bad row.

    Checks: every column of :data:`COLUMNS` present; categories (``sex``,
    ``birth_region``, ``ku_type``, ``foreign_country``) known; ages integers in
    0–130; amounts finite (``foreign_wage``/``foreign_tax`` may be NaN),
    wages, ``csfvi``, ``work_income`` and ``years_in_sweden`` ≥ 0; each person
    once (a person in two households is a duplicated ``person``); a foreign
    wage for every person with a ``foreign_country``.
    """
    if not isinstance(df, pd.DataFrame):
        raise IncomeError(f"a person table must be a pandas DataFrame, not {type(df).__name__}")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise IncomeError(f"person table lacks the column(s) {missing}; required: {list(COLUMNS)}")
    if len(df) == 0:
        raise IncomeError("person table has no rows")
    for col, kind in COLUMNS.items():
        s = df[col]
        if isinstance(kind, tuple):
            c, _ = codes(s, kind, dtype=None)
            if c.min() < 0:
                _fail(df, col, c < 0, f"is not one of {list(kind)}")
        elif kind in ("id", "code"):
            if (isinstance(s.dtype, np.dtype) and s.dtype.kind in "iub") or (isinstance(s.dtype, pd.CategoricalDtype) and s.cat.codes.min() >= 0):
                continue
            na = s.isna().to_numpy()
            if na.any():
                _fail(df, col, na, "is missing")
        elif kind == "bool":
            if s.dtype != bool:
                raise IncomeError(f"column {col!r} must be boolean (True/False), not {s.dtype}")
        elif kind == "age":
            v = s.to_numpy()
            if v.dtype.kind not in "iu":
                raise IncomeError(f"column 'age' must hold integers (completed age), not {v.dtype}")
            bad = (v < 0) | (v > 130)
            if bad.any():
                _fail(df, col, bad, "is not an age in 0–130")
        elif kind in ("nonneg", "real", "nonneg_or_nan"):
            v = s.to_numpy(dtype=float)
            if _k.amounts_ok(_k.ro(v), kind == "nonneg_or_nan", kind == "real"):
                continue
            bad = ~np.isfinite(v) if kind != "nonneg_or_nan" else np.isinf(v)
            if bad.any():
                _fail(df, col, bad, "is not a finite number")
            if kind != "real":
                neg = v < 0
                if neg.any():
                    _fail(df, col, neg, "is negative; amounts of this column must be ≥ 0")
    dup = _duplicated(df["person"].to_numpy())
    if dup is not None:
        pos = int(np.argmax(dup))
        p = df["person"].iloc[pos]
        p = p.item() if hasattr(p, "item") else p
        raise IncomeError(f"column 'person', row {_row(df, pos)!r}: person {p!r} occurs twice "
                          "(a person can be in only one household)")
    country, _ = codes(df["foreign_country"], COUNTRIES, dtype=None)
    fw = df["foreign_wage"].to_numpy(dtype=float)
    bad = (country > 0) & ~(fw >= 0)
    if bad.any():
        _fail(df, "foreign_wage", bad, "is missing for a person with a foreign_country")


def read_persons(source) -> pd.DataFrame:
    """Return a validated person table from a DataFrame or a parquet file/directory (pyarrow).

    Parquet needs the optional dependency ``pyarrow`` (``pip install demokit[income]``).
    """
    if isinstance(source, pd.DataFrame):
        df = source
    else:
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise IncomeError("reading parquet needs pyarrow: pip install 'demokit[income]'") from exc
        df = pq.read_table(source).to_pandas()
    validate_persons(df)
    return df
