"""The cell key method (CKM): repeatable noise for tables built from microdata.

Every record carries a random *record key*; a cell's *cell key* is the sum of
its records' keys modulo 1 (uniform keys) or modulo ``2^k`` / the key range
(integer keys, as ONS uses); a *perturbation table* (ptable) maps the pair
(original count, cell key) to an integer perturbation ``v``.  The same persons
in a cell always give the same key and so the same noise, whichever table the
cell appears in (also as a margin).

Public functions
----------------
record_keys          record keys for ``n`` records (uniform in [0, 1) or integers)
read_ptable          a ptable in the Destatis/ABS format (``i, j, p, v, p_int_lb, p_int_ub``)
                     or the ONS format (``pcv, ckey, pvalue``), from a frame or a CSV
max_entropy_ptable   a ptable generated from (D, V, js) by maximum entropy
cell_keys            counts and cell keys of every cell of a table (and its margins)
perturb_counts       a perturbed frequency table (xarray) from microdata
perturb_sums         a perturbed magnitude table (sums, e.g. income) from microdata
perturbed_cube       an aggregate demokit cube with CKM-like noise on every count

See docs/METHODS.md, "Cell key method", for the formulas and the references.
"""

from __future__ import annotations

import itertools
import os
import warnings
import zlib
from dataclasses import dataclass, field

import numba
import numpy as np
import pandas as pd
import xarray as xr
from scipy import optimize, special

from ._kernels import ckm as _k
from ._kernels._jit import _pool, parallel_ranges
from .cube import SIGNED_VARIABLES, DemokitError

__all__ = ["CKMError", "PTable", "record_keys", "read_ptable", "max_entropy_ptable", "cell_keys",
           "perturb_counts", "perturb_sums", "perturbed_cube", "UNIFORM_DIGITS", "ONS_PCV_MAX",
           "ONS_PCV_CYCLE", "TOTAL"]

#: uniform record keys are used with 8 decimal digits (as ``cellKey::ck_generate_rkeys``,
#: ``nr_digits = 8``), i.e. as integers in units of 1e-8; sums are then exact integers.
UNIFORM_DIGITS = 8
_UNITS = 10 ** UNIFORM_DIGITS
_CHUNK = 1 << 18                      # records per tabulation chunk (2 MB of flat indices)
_SHIFT = 1 << 27                      # > _UNITS: row * _SHIFT + key is an exact int64 sort key
#: ONS ``create_perturbed_table``: counts above 750 reuse the ptable rows 501..750 cyclically
ONS_PCV_MAX = 750
ONS_PCV_CYCLE = 250
#: the label of a margin (total over a dim) in tables with ``margins``
TOTAL = "total"


class CKMError(DemokitError, ValueError):
    """Bad input to the cell key method (keys, ptable, tabulation columns)."""


# --------------------------------------------------------------------------- record keys

def record_keys(n: int, *, seed, kind: str = "uniform", modulus: int | None = None) -> np.ndarray:
    """Return ``n`` record keys drawn reproducibly from ``seed``.

    Parameters
    ----------
    n : int
        Number of records.
    seed : int or sequence of int
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same keys
        in every run and process.
    kind : {"uniform", "integer"}
        ``"uniform"``: floats in [0, 1) with 8 decimal digits (the Destatis/ABS
        convention, ptables in the ``i, j, p, v, p_int_lb, p_int_ub`` format);
        ``"integer"``: integers ``0 .. modulus-1`` (the ONS convention, ptables in
        the ``pcv, ckey, pvalue`` format).
    modulus : int, optional
        Range of integer keys (default 256, keys 0..255 as ONS's ``ptable_10_5_rule``).
        Must be ``None`` (or 1) for uniform keys.

    Returns
    -------
    numpy.ndarray
        float64 (uniform) or int64 (integer) keys.

    Notes
    -----
    Uniform: :math:`r = U / 10^8` with :math:`U` uniform on ``0 .. 10^8-1``.
    Integer: :math:`r` uniform on ``0 .. M-1``.  Store the keys with the microdata:
    every table made from the same records then gets the same noise in the same cell.
    """
    n = int(n)
    if n < 0:
        raise CKMError(f"record_keys: n = {n}: must be ≥ 0")
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        if modulus not in (None, 1):
            raise CKMError(f"record_keys: modulus = {modulus!r} is for integer keys; uniform keys are mod 1")
        return rng.integers(0, _UNITS, n, dtype=np.int64) / _UNITS
    if kind == "integer":
        m = 256 if modulus is None else int(modulus)
        if m < 2:
            raise CKMError(f"record_keys: modulus = {modulus!r}: must be an integer ≥ 2")
        return rng.integers(0, m, n, dtype=np.int64)
    raise CKMError(f"record_keys: kind = {kind!r}: must be 'uniform' or 'integer'")


# --------------------------------------------------------------------------- ptables

@dataclass(frozen=True, eq=False)
class PTable:
    """A perturbation table ready for vectorised look-up (build it with :func:`read_ptable`).

    ``kind`` is ``"uniform"`` (Destatis/ABS format, cell keys in [0, 1)) or
    ``"integer"`` (ONS format, integer cell keys ``0 .. modulus-1``).  ``frame``
    is the table as read.  :meth:`perturbation` gives ``v`` for arrays of
    (count, cell key in integer units).
    """

    kind: str
    modulus: int
    frame: pd.DataFrame = field(repr=False)
    max_deviation: int
    _imax: int = field(repr=False, default=0)
    _bounds: np.ndarray = field(repr=False, default=None)
    _values: np.ndarray = field(repr=False, default=None)
    _dense: np.ndarray = field(repr=False, default=None)

    def perturbation(self, counts: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Return the int64 perturbation of cells with original ``counts`` and integer cell ``keys``.

        Uniform tables: the row is ``min(count, i_max)``; the entry is the first
        with ``cell key ≤ p_int_ub`` (as ``cellKey``); a count of 0 is never
        perturbed.  ONS tables: the row is ``pcv = count`` up to 750 and
        ``((count - 1) mod 250) + 501`` above; a (pcv, ckey) pair missing from the
        table (e.g. ``pcv = 0``) gets 0, as ONS's left join with ``fillna(0)``.
        """
        c = np.asarray(counts, dtype=np.int64)
        k = np.asarray(keys, dtype=np.int64)
        if self.kind == "integer":
            pcv = np.where(c <= ONS_PCV_MAX, c, (c - 1) % ONS_PCV_CYCLE + (ONS_PCV_MAX - ONS_PCV_CYCLE + 1))
            return self._dense[pcv, k]
        row = np.minimum(c, self._imax)
        pos = np.searchsorted(self._bounds, row * _SHIFT + k, side="left")
        return np.where(c == 0, 0, self._values[np.minimum(pos, self._values.size - 1)])

    def key_to_float(self, keys: np.ndarray) -> np.ndarray:
        """Return cell keys as published: floats in [0, 1) (uniform) or the integers (ONS)."""
        return keys / _UNITS if self.kind == "uniform" else keys


def _item(x):
    """A numpy scalar as the plain Python value (for error messages)."""
    return x.item() if hasattr(x, "item") else x


def _read_csv(path) -> pd.DataFrame:
    path = os.fspath(path)
    try:
        df = pd.read_csv(path)
        if len(df.columns) == 1:           # the ptable package's export uses ';'
            df = pd.read_csv(path, sep=";")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CKMError(f"ptable {path}: cannot read ({exc})") from None
    return df


def _integral(s: pd.Series, name: str, where: str) -> np.ndarray:
    x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(x) | (x != np.round(x))
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise CKMError(f"{where}: column {name!r}, row {r}: {_item(s.iloc[r])!r} is not an integer")
    return x.astype(np.int64)


def read_ptable(ptable) -> PTable:
    """Return a :class:`PTable` from a DataFrame or a CSV path in the Destatis/ABS or ONS format.

    Parameters
    ----------
    ptable : PTable, pandas.DataFrame, str or path
        Destatis/ABS format (R packages ``ptable``/``cellKey``, τ-Argus): columns
        ``i, v, p_int_ub`` (also ``j, p, p_int_lb``), one row per (original value
        ``i``, perturbation ``v``), the last ``i`` applying to all larger counts.
        ONS format (``cell-key-perturbation``): columns ``pcv, ckey, pvalue``.
        A CSV path may be separated by ``,`` or ``;``; ``.gz``/``.xz`` are read too.

    Returns
    -------
    PTable

    Notes
    -----
    Destatis/ABS: for original value :math:`i` the entries with
    :math:`v_1, v_2, \\dots` have cumulative bounds :math:`p^{ub}_1 < p^{ub}_2 < \\dots = 1`;
    a cell with key :math:`c` gets the first :math:`v_m` with :math:`c \\le p^{ub}_m`.
    ONS: the entry ``(pcv, ckey)`` directly.
    """
    if isinstance(ptable, PTable):
        return ptable
    where = "ptable"
    if isinstance(ptable, (str, os.PathLike)):
        where = f"ptable {os.fspath(ptable)}"
        ptable = _read_csv(ptable)
    if not isinstance(ptable, pd.DataFrame):
        raise CKMError(f"ptable: expected a DataFrame, a CSV path or a PTable, got {type(ptable).__name__}")
    df = ptable.rename(columns=lambda c: str(c).strip().lower())
    cols = set(df.columns)
    if {"pcv", "ckey", "pvalue"} <= cols:
        return _ons_ptable(df, where)
    if {"i", "v", "p_int_ub"} <= cols:
        return _destatis_ptable(df, where)
    raise CKMError(f"{where}: columns {sorted(cols)} are neither the Destatis/ABS format "
                   "(i, j, p, v, p_int_lb, p_int_ub) nor the ONS format (pcv, ckey, pvalue)")


def _ons_ptable(df: pd.DataFrame, where: str) -> PTable:
    pcv = _integral(df["pcv"], "pcv", where)
    ckey = _integral(df["ckey"], "ckey", where)
    pval = _integral(df["pvalue"], "pvalue", where)
    for name, x in (("pcv", pcv), ("ckey", ckey)):
        if (x < 0).any():
            r = int(np.flatnonzero(x < 0)[0])
            raise CKMError(f"{where}: column {name!r}, row {r}: {x[r]} is negative")
    modulus = int(ckey.max()) + 1             # as ONS: cell key = key sum mod (max ckey + 1)
    if modulus > 2 ** 30:
        raise CKMError(f"{where}: cell keys up to {modulus - 1}: at most 2^30 - 1 are supported")
    dense = np.zeros((max(int(pcv.max()), ONS_PCV_MAX) + 1, modulus), dtype=np.int64)
    flat = pcv * modulus + ckey
    u, first, cnt = np.unique(flat, return_index=True, return_counts=True)
    if (cnt > 1).any():
        r = int(np.sort(np.flatnonzero(flat == u[cnt > 1][0]))[1])
        raise CKMError(f"{where}: row {r}: (pcv={pcv[r]}, ckey={ckey[r]}) appears twice")
    neg = pcv + pval < 0
    if neg.any():
        r = int(np.flatnonzero(neg)[0])
        raise CKMError(f"{where}: row {r}: pcv={pcv[r]} + pvalue={pval[r]} < 0")
    dense[pcv, ckey] = pval
    return PTable("integer", modulus, df[["pcv", "ckey", "pvalue"]].copy(), int(np.abs(pval).max()),
                  _dense=dense)


def _destatis_ptable(df: pd.DataFrame, where: str) -> PTable:
    i = _integral(df["i"], "i", where)
    v = _integral(df["v"], "v", where)
    ub = pd.to_numeric(df["p_int_ub"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(ub) | (ub < 0) | (ub > 1 + 1e-9)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise CKMError(f"{where}: column 'p_int_ub', row {r}: {_item(df['p_int_ub'].iloc[r])!r} is not in [0, 1]")
    if (i < 0).any() or (i + v < 0).any():
        r = int(np.flatnonzero((i < 0) | (i + v < 0))[0])
        raise CKMError(f"{where}: row {r}: i={i[r]}, v={v[r]}: i and i + v must be ≥ 0")
    order = np.lexsort((ub, i))
    i, v, ub = i[order], v[order], ub[order]
    imax = int(i.max())
    rows = np.unique(i)
    missing = sorted(set(range(1, imax + 1)) - set(rows.tolist()))
    if missing:
        raise CKMError(f"{where}: no entries for original value i={missing[0]} (rows 1..{imax} are needed)")
    last = np.r_[i[1:] != i[:-1], True]
    off = np.abs(ub[last] - 1.0) > 1e-6
    if off.any():
        raise CKMError(f"{where}: i={int(i[last][off][0])}: the last p_int_ub is "
                       f"{_item(ub[last][off][0])!r}, not 1 (probabilities must sum to 1)")
    ubi = np.floor(ub * _UNITS + 1e-6).astype(np.int64)
    ubi[last] = _UNITS
    bounds = i * _SHIFT + ubi
    return PTable("uniform", _UNITS, df.copy(), int(np.abs(v).max()), _imax=imax, _bounds=bounds,
                  _values=v)


def _row_support(i: int, D: int, js: int) -> np.ndarray:
    v = np.arange(-D, D + 1)
    j = i + v
    return v[(j >= 0) & ~((j >= 1) & (j <= js))]


def _maxent_row(v: np.ndarray, V: float) -> tuple[np.ndarray, float]:
    """Maximum-entropy p on support ``v`` with Σp = 1, Σp v = 0, Σp v² = V (or the nearest feasible V)."""
    v = v.astype(float)
    if v.size == 1:
        return np.ones(1), 0.0
    # feasible variances under Σp = 1, Σpv = 0, p ≥ 0 (two linear programs)
    A = np.vstack([np.ones_like(v), v])
    lo = optimize.linprog(v ** 2, A_eq=A, b_eq=[1, 0], bounds=(0, None), method="highs")
    hi = optimize.linprog(-v ** 2, A_eq=A, b_eq=[1, 0], bounds=(0, None), method="highs")
    vmin, vmax = lo.fun, -hi.fun
    if V <= vmin + 1e-12 or V >= vmax - 1e-12:   # boundary: the LP's distribution is the only one
        p = np.clip((lo if V <= vmin + 1e-12 else hi).x, 0, None)
        p /= p.sum()
        return p, float(p @ v ** 2)
    X = np.vstack([v, v ** 2])

    def dual(lam):                    # log Z(λ) − λ·(0, V): convex, gradient E[v], E[v²] − V
        return special.logsumexp(lam @ X) - lam[1] * V

    def probs(lam):
        s = lam @ X
        return np.exp(s - special.logsumexp(s))

    def grad(lam):
        return X @ probs(lam) - np.array([0.0, V])

    def hess(lam):
        p = probs(lam)
        m = X @ p
        return (X * p) @ X.T - np.outer(m, m)

    res = optimize.minimize(dual, np.zeros(2), jac=grad, hess=hess, method="trust-exact",
                            options={"gtol": 1e-10, "maxiter": 500})
    # polish: Newton on the gradient (the moment equations) from the minimiser
    lam = optimize.root(grad, res.x, jac=hess, method="hybr", tol=1e-15).x
    p = probs(lam)
    if np.abs(grad(lam)).max() > 1e-11:
        raise CKMError(f"max_entropy_ptable: no convergence for support {v.astype(int).tolist()}, V={V}")
    return p, float(p @ v ** 2)


def max_entropy_ptable(*, D: int, V: float, js: int = 0) -> pd.DataFrame:
    """Return a count ptable (Destatis/ABS format) generated by maximum entropy.

    Parameters
    ----------
    D : int
        Maximum deviation: :math:`|v| \\le D`.
    V : float
        Variance of the noise, :math:`0 < V`.
    js : int
        Blocked small values: no perturbed count in ``1..js`` (0: none blocked).

    Returns
    -------
    pandas.DataFrame
        Columns ``i, j, p, v, p_int_lb, p_int_ub``; rows ``i = 0 .. D + js + 1``,
        the last applying to every larger count.  ``attrs``: ``D, V, js`` and
        ``row_variance`` (the variance reached in each row ``i``).

    Notes
    -----
    For every original value :math:`i` (Giessing 2016; the method of the R
    package ``ptable``, Enderle, Giessing & Tent 2018) choose :math:`p(v)` on
    :math:`S_i = \\{v : |v| \\le D,\\ i + v \\ge 0,\\ i + v \\notin 1..js\\}` maximising
    :math:`-\\sum p \\ln p` subject to :math:`\\sum p = 1`, :math:`\\sum p v = 0`,
    :math:`\\sum p v^2 = V`.  The solution is :math:`p(v) \\propto e^{\\lambda_1 v + \\lambda_2 v^2}`;
    :math:`\\lambda` minimises the convex dual :math:`\\ln \\sum_{S_i} e^{\\lambda_1 v + \\lambda_2 v^2}
    - \\lambda_2 V` (scipy ``trust-exact``).  :math:`i = 0` stays 0.  Where :math:`V` is
    outside the variances a mean-0 distribution on :math:`S_i` can have (rows
    :math:`i \\le js` with few support points), the row takes the nearest
    feasible variance (a linear programme's solution) and ``row_variance`` says
    which; a warning names the rows.
    """
    D, js = int(D), int(js)
    V = float(V)
    if D < 1:
        raise CKMError(f"max_entropy_ptable: D = {D}: must be ≥ 1")
    if not (np.isfinite(V) and 0 < V):
        raise CKMError(f"max_entropy_ptable: V = {V}: must be > 0")
    if V > D * D:
        raise CKMError(f"max_entropy_ptable: V = {V} > D² = {D * D}: impossible with |v| ≤ D")
    if not 0 <= js <= D - 1:
        raise CKMError(f"max_entropy_ptable: js = {js}: must be in 0..D-1 (D = {D})")
    rows, var, relaxed = [], {}, []
    for i in range(D + js + 2):
        v = _row_support(i, D, js) if i > 0 else np.array([0])
        p, vi = _maxent_row(v, V) if i > 0 else (np.ones(1), 0.0)
        var[i] = vi
        if i > 0 and abs(vi - V) > 1e-9:
            relaxed.append(i)
        keep = p > 0
        ub = np.cumsum(p[keep])
        ub[-1] = 1.0
        lb = np.r_[0.0, ub[:-1]]
        rows.append(pd.DataFrame({"i": i, "j": i + v[keep], "p": p[keep], "v": v[keep],
                                  "p_int_lb": lb, "p_int_ub": ub}))
    if relaxed:
        warnings.warn(f"max_entropy_ptable: V = {V} is not reachable in rows i = {relaxed} "
                      f"(variances {[round(var[i], 6) for i in relaxed]}); see attrs['row_variance']",
                      stacklevel=2)
    out = pd.concat(rows, ignore_index=True)
    out.attrs.update({"D": D, "V": V, "js": js, "row_variance": var})
    return out


# --------------------------------------------------------------------------- tabulation

def _column(data, name: str) -> np.ndarray | pd.Series:
    try:
        col = data[name]
    except (KeyError, IndexError, TypeError):
        raise CKMError(f"column {name!r} is not in the data "
                       f"(columns: {list(getattr(data, 'columns', getattr(data, 'keys', list)()))})") from None
    return col


def _encode(col, name: str, categories):
    """Return ``(x, lo, lut, labels)`` of one tabulation column: record r's code is ``lut[x[r] - lo]``.

    Integer columns with a compact range are coded through a look-up table on
    their values (no sorting, no hashing); Categoricals through their codes;
    anything else through :func:`pandas.factorize`.  A code < 0 marks a value
    without a label (missing, or not among ``categories``).
    """
    if isinstance(col, pd.Series) and isinstance(col.dtype, pd.CategoricalDtype):
        x = col.cat.codes.to_numpy()
        labels = np.asarray(col.cat.categories)
        lut = np.arange(len(labels), dtype=np.int64)
        if categories is not None:
            lut = pd.Index(np.asarray(categories)).get_indexer(labels).astype(np.int64)
            labels = np.asarray(categories)
        return x, -1, np.r_[np.int64(-1), lut], labels
    x = np.asarray(col)
    is_bool = x.dtype.kind == "b"
    if x.dtype.kind in "iub" and x.size:
        if is_bool:
            x = x.view(np.uint8)
        elif x.dtype == np.uint64 and int(x.max()) < 2 ** 63:
            x = x.astype(np.int64)
        elif x.dtype == np.uint64:
            codes, uniq = pd.factorize(x, sort=True)
            return _factorized(codes, uniq, categories)
        present, small = (_k.small_int_presence(x, 1 << 16) if categories is None else (None, False))
        if small:                          # one pass: codes, ages, years, … in 0..65535
            nz = np.flatnonzero(present)
            lo, hi = int(nz[0]), int(nz[-1])
            present = present[lo:hi + 1]
        else:
            lo, hi = (int(v) for v in _k.int_range(x))
        span = hi - lo + 1
        if span <= max(10 * x.size, 1 << 20):
            if categories is None:
                if not small:
                    present = _k.int_presence(x, lo, span)
                labels = np.flatnonzero(present) + lo
                labels = labels.astype(bool) if is_bool else labels
                lut = np.where(present, np.cumsum(present) - 1, -1).astype(np.int64)
            else:
                labels = np.asarray(categories)
                lut = pd.Index(labels).get_indexer(np.arange(lo, hi + 1)).astype(np.int64)
            return x, lo, lut, labels
    codes, uniq = pd.factorize(x, sort=True)
    return _factorized(codes, uniq, categories)


def _factorized(codes, uniq, categories):
    uniq = np.asarray(uniq)
    if categories is None:
        labels, lut = uniq, np.arange(len(uniq), dtype=np.int64)
    else:
        labels = np.asarray(categories)
        lut = pd.Index(labels).get_indexer(uniq).astype(np.int64)
    return codes, -1, np.r_[np.int64(-1), lut], labels


def _codes(x, lo, lut) -> np.ndarray:
    """Per-record int64 codes of one encoded column (all valid: checked while tabulating)."""
    return lut[(np.asarray(x, dtype=np.int64) - lo)]


def _record_keys(col, name: str, pt: PTable) -> np.ndarray:
    """The record-key column as int64 (integer ptables) or float64 (uniform ptables).

    The range (``0..M-1`` or [0, 1)) is checked while tabulating (:func:`_key_error`).
    """
    k = np.asarray(col)
    if pt.kind == "integer":
        if k.dtype.kind not in "iu":
            kf = k.astype(float)
            bad = ~np.isfinite(kf) | (kf != np.round(kf))
            if bad.any():
                r = int(np.flatnonzero(bad)[0])
                raise CKMError(f"record key column {name!r}, row {r}: {_item(k[r])!r} is not an integer "
                               f"(this ptable takes integer keys 0..{pt.modulus - 1})")
            k = kf
        return k.astype(np.int64, copy=False)
    if k.dtype.kind not in "iuf":
        raise CKMError(f"record key column {name!r}: dtype {k.dtype} is not numeric")
    return k.astype(np.float64, copy=False)


def _key_error(keys, r: int, name: str, pt: PTable) -> CKMError:
    if pt.kind == "integer":
        return CKMError(f"record key column {name!r}, row {r}: {_item(keys[r])!r} is outside "
                        f"0..{pt.modulus - 1} (the ptable's cell keys)")
    return CKMError(f"record key column {name!r}, row {r}: {_item(keys[r])!r} is not in [0, 1) "
                    "(this ptable takes uniform keys)")


def _key_units(keys: np.ndarray, pt: PTable) -> np.ndarray:
    """Per-record integer keys (units of 1e-8 for uniform keys); the range was checked when tabulating."""
    return keys if pt.kind == "integer" else _k.uniform_key_units(keys, _UNITS)[0]


def _margin_axes(margins, by: list[str]) -> list[int]:
    if margins is True:
        return list(range(len(by)))
    if margins is False or margins is None:
        return []
    ms = [margins] if isinstance(margins, str) else list(margins)
    for m in ms:
        if m not in by:
            raise CKMError(f"margins: {m!r} is not one of by = {by}")
    return [by.index(m) for m in ms]


def _add_margins(arr: np.ndarray, axes: list[int]) -> np.ndarray:
    for ax in axes:
        arr = np.concatenate([arr, arr.sum(axis=ax, keepdims=True)], axis=ax)
    return arr


def _value_error(data, name: str, row: int) -> CKMError:
    val = _item(np.asarray(_column(data, name))[row])
    what = "is missing" if pd.isna(val) else "is not among the categories given"
    return CKMError(f"column {name!r}, row {row}: value {val!r} {what}")


def _tabulate_chunked(data, by, encoded, keys, record_key, pt, ncells):
    """Counts and key sums (int64, flat): per chunk of records, the flat cell index column by
    column (:func:`_k.accumulate_codes`), then :func:`_k.tabulate` (any number of columns, any keys)."""
    n = keys.shape[0]
    table = np.zeros((ncells, 2), dtype=np.int32)          # [count, key sum mod M] per cell
    buf = np.empty(min(n, _CHUNK), dtype=np.int64)
    for start in range(0, n, _CHUNK):            # chunks: the flat cell index stays in cache
        flat = buf[:min(_CHUNK, n - start)]
        flat[:] = 0
        for name, (x, lo, lut, lab) in zip(by, encoded):
            bad = _k.accumulate_codes(flat, x, start, lo, lut, len(lab))
            if bad >= 0:
                raise _value_error(data, name, start + bad)
        if pt.kind == "integer":
            bad = _k.tabulate(flat, keys, start, table, pt.modulus)
        else:
            bad = _k.tabulate_uniform(flat, keys, start, table, _UNITS)
        if bad >= 0:
            raise _key_error(keys, bad, record_key, pt)
    return table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)


#: records per thread below which the tabulation stays in one thread
_RECORDS_PER_THREAD = 1_000_000


def _tabulate_fused(data, by, encoded, keys, record_key, pt, shape, ncells):
    """Counts and key sums (int64, flat) of up to three columns and integer keys in one pass over the
    records (:func:`_k.tabulate_fused`): each column's look-up table holds its code times its
    row-major stride, so a record's cell is the sum of three look-ups.  With a modulus ≤ 256 and
    fewer than 2^24 records, count and key sum share one uint32 per cell
    (:func:`_k.tabulate_fused_packed`): half the table's memory, which is what the random
    scatter of records into cells is bound by."""
    strides = np.cumprod((shape[1:] + (1,))[::-1])[::-1]
    args = []
    for (x, lo, lut, _), st in zip(encoded, strides):
        args += [x, lo, np.where(lut >= 0, lut * int(st), -1)]
    while len(args) < 9:                     # unused column slots (ignored by the kernel)
        args += args[:3]
    n = keys.shape[0]
    if pt.modulus <= 256 and n < 2 ** 24:
        # the records in ranges on the cores (one packed table each, added afterwards); one range for
        # small inputs, where a table per thread would cost more than it saves
        nt = max(1, min(numba.get_num_threads(), n // _RECORDS_PER_THREAD))
        tables = np.zeros((nt, ncells), dtype=np.uint32)
        if nt > 1:
            results = parallel_ranges(_k.tabulate_fused_packed_range, n, *args, len(by), keys, tables, pt.modulus,
                                      np.int64(n), np.int64(nt), ranges=nt)
        else:
            results = [_k.tabulate_fused_packed(*args, len(by), keys, 0, n, tables[0], pt.modulus)]
        bad = [rc for rc in results if rc[0] >= 0]   # (row, column) of each range's first bad value
        row, col = min(bad) if bad else (-1, -1)
        counts = (tables >> 8).sum(axis=0, dtype=np.int64)
        sums = (tables & 255).sum(axis=0, dtype=np.int64) % pt.modulus
    else:
        table = np.zeros((ncells, 2), dtype=np.int32)
        row, col = _k.tabulate_fused(*args, len(by), keys, table, pt.modulus)
        counts, sums = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
    if row >= 0:
        raise _key_error(keys, row, record_key, pt) if col == len(by) else _value_error(data, by[col], row)
    return counts, sums


def _tabulate(data, by, record_key: str, pt: PTable, margins, categories, need_codes=False):
    by = [by] if isinstance(by, str) else list(by)
    if not by:
        raise CKMError("by: give at least one column to tabulate by")
    categories = categories or {}
    for name in categories:
        if name not in by:
            raise CKMError(f"categories: {name!r} is not one of by = {by}")
    cols = [_column(data, name) for name in by]
    if len(by) > 1 and len(cols[0]) >= 2 * _RECORDS_PER_THREAD and numba.get_num_threads() > 1:
        # the columns' coding passes (GIL-free kernels) run in the pool's threads and this one
        later = [_pool().submit(_encode, c, name, categories.get(name)) for c, name in zip(cols[1:], by[1:])]
        encoded = [_encode(cols[0], by[0], categories.get(by[0]))] + [f.result() for f in later]
    else:
        encoded = [_encode(c, name, categories.get(name)) for c, name in zip(cols, by)]
    labels = [enc[3] for enc in encoded]
    keys = _record_keys(_column(data, record_key), record_key, pt)
    shape = tuple(len(lab) for lab in labels)
    n = keys.shape[0]
    for name, (x, *_rest) in zip(by, encoded):
        if len(x) != n:
            raise CKMError(f"column {name!r} has {len(x)} rows, the record keys {n}")
    ncells = int(np.prod(shape, dtype=np.int64))
    if n >= 2 ** 31:
        raise CKMError(f"{n} records: at most 2^31 - 1 per table (int32 counts)")
    if len(by) <= 3 and pt.kind == "integer":
        counts, sums = _tabulate_fused(data, by, encoded, keys, record_key, pt, shape, ncells)
    else:
        counts, sums = _tabulate_chunked(data, by, encoded, keys, record_key, pt, ncells)
    codes = [_codes(x, lo, lut) for x, lo, lut, _ in encoded] if need_codes else None
    counts, sums = counts.reshape(shape), sums.reshape(shape)
    axes = _margin_axes(margins, by)
    counts, sums = _add_margins(counts, axes), _add_margins(sums, axes)
    coords = {}
    for ax, (name, lab) in enumerate(zip(by, labels)):
        if ax in axes:
            lab = np.concatenate([lab.astype(object), np.array([TOTAL], dtype=object)])
        coords[name] = lab
    keys = _key_units(keys, pt) if need_codes else None
    return by, coords, counts, sums % pt.modulus, codes, labels, keys, axes


def cell_keys(data, *, by, record_key: str = "record_key", ptable=None, modulus: int | None = None,
              margins=False, categories: dict | None = None) -> xr.Dataset:
    """Return the counts and cell keys of every cell of the table of ``data`` by ``by``.

    Parameters
    ----------
    data : pandas.DataFrame or mapping of column name → array
        One row per record.
    by : str or list of str
        The columns to tabulate by (the dims of the result).
    record_key : str
        Column of record keys (see :func:`record_keys`).
    ptable : optional
        Fixes the kind of keys and the modulus (as in :func:`perturb_counts`).
        Without it, ``modulus`` (integer keys) or uniform keys (``modulus=None``).
    margins : bool or list of str
        ``True``: every ``by`` dim gets an extra label ``"total"`` (the sum over
        that dim); a list: only those dims.
    categories : dict, optional
        ``{column: labels}`` to fix a dim's labels (cells without records are
        then part of the table); otherwise the labels found, sorted (as ONS).

    Returns
    -------
    xarray.Dataset
        ``count`` (int64) and ``cell_key`` (float in [0, 1) for uniform keys,
        int for integer keys).

    Notes
    -----
    :math:`c_{cell} = \\left(\\sum_{r \\in cell} k_r\\right) \\bmod M` with :math:`M = 1`
    (uniform keys, summed exactly as integers in units of :math:`10^{-8}`) or
    :math:`M` the integer key range.  A margin's key is the same sum over its
    records, so a cell has one key whichever table it belongs to.
    """
    if ptable is None:
        if modulus is None:
            pt = PTable("uniform", _UNITS, pd.DataFrame(), 0)
        elif not 2 <= int(modulus) <= 2 ** 30:
            raise CKMError(f"cell_keys: modulus = {modulus!r}: must be in 2..2^30")
        else:
            pt = PTable("integer", int(modulus), pd.DataFrame(), 0)
    else:
        pt = read_ptable(ptable)
    by, coords, counts, ck, *_ = _tabulate(data, by, record_key, pt, margins, categories)
    return xr.Dataset({"count": (by, counts), "cell_key": (by, pt.key_to_float(ck))}, coords=coords)


def perturb_counts(data, *, by, record_key: str = "record_key", ptable, threshold: int = 0,
                   margins=False, categories: dict | None = None,
                   keep_original: bool = False) -> xr.DataArray:
    """Return the frequency table of ``data`` by ``by`` perturbed by the cell key method.

    Parameters
    ----------
    data : pandas.DataFrame or mapping of column name → array
        One row per person (or other unit), with a record-key column.
    by : str or list of str
        Columns to tabulate by, e.g. ``["region", "sex", "age"]``: the result's dims.
    record_key : str
        Column of record keys (:func:`record_keys`): uniform in [0, 1) for a
        Destatis/ABS ptable, integers ``0..M-1`` for an ONS ptable.
    ptable : PTable, pandas.DataFrame, str or path
        The perturbation table (:func:`read_ptable`, :func:`max_entropy_ptable`).
    threshold : int
        Cells whose *perturbed* count is below ``threshold`` become NaN, as ONS's
        ``create_perturbed_table`` (whose default is 10).  Default 0: nothing is
        suppressed; small counts are protected by the ptable (blocked values ``js``).
    margins : bool or list of str
        ``True``: every dim gets a label ``"total"`` (the sum over it); a list:
        only those dims.  A margin is perturbed like any cell, from its own count
        and key, so it is the value the same cell has in a table without that dim.
    categories : dict, optional
        ``{column: labels}`` fixing a dim's labels; otherwise the labels present,
        sorted, and every combination of them (the full cross table, as ONS).
    keep_original : bool
        Also return the original counts, cell keys and perturbations as coords
        ``original``, ``cell_key``, ``perturbation`` (not for publication).

    Returns
    -------
    xarray.DataArray
        ``count``: float64 (NaN where suppressed), dims ``by``.

    Notes
    -----
    For a cell with original count :math:`n` and records :math:`r`:
    cell key :math:`c = (\\sum_r k_r) \\bmod M`; perturbation :math:`v = P(n, c)` from
    the ptable; published :math:`\\hat n = n + v`, or NaN if :math:`\\hat n <` threshold.
    Empty cells (:math:`n = 0`) have :math:`c = 0` and :math:`v = 0`: they stay 0
    (NaN if ``threshold > 0``, as ONS).  Counts and key sums (mod :math:`M`) are
    accumulated in integer arithmetic by Numba passes over the records, then margins by
    summing the table.
    """
    pt = read_ptable(ptable)
    if not isinstance(threshold, (int, np.integer)) or isinstance(threshold, bool):
        raise CKMError(f"threshold = {threshold!r}: must be an integer")
    by, coords, counts, ck, *_ = _tabulate(data, by, record_key, pt, margins, categories)
    v = pt.perturbation(counts.ravel(), ck.ravel()).reshape(counts.shape)
    pert = counts + v
    out = np.where(pert < threshold, np.nan, pert.astype(float))
    da = xr.DataArray(out, dims=by, coords=coords, name="count")
    if keep_original:
        da = da.assign_coords(original=(by, counts), cell_key=(by, pt.key_to_float(ck)),
                              perturbation=(by, v))
    da.attrs.update({"long_name": "perturbed count", "units": "persons",
                     "disclosure_control": "cell key method",
                     "ckm_ptable": f"{'Destatis/ABS' if pt.kind == 'uniform' else 'ONS'} format, "
                                   f"max |v| = {pt.max_deviation}",
                     "ckm_threshold": int(threshold), "ckm_suppressed_cells": int(np.isnan(out).sum())})
    return da


def perturb_sums(data, *, value: str, by, record_key: str = "record_key", ptable=None,
                 top_k: int = 3, magnitude: float = 0.05, margins=False,
                 categories: dict | None = None, keep_original: bool = False) -> xr.DataArray:
    """Return the table of sums of ``value`` by ``by`` (a magnitude table) perturbed by CKM.

    Parameters
    ----------
    data : pandas.DataFrame or mapping of column name → array
        One row per unit, with ``value`` (e.g. income) and uniform record keys.
    value : str
        Column summed in each cell.
    by, record_key, margins, categories, keep_original
        As :func:`perturb_counts`.
    ptable : optional
        A Destatis/ABS-format ptable whose last row (the symmetric noise for large
        counts) gives the noise; default ``max_entropy_ptable(D=2, V=1)``.
    top_k : int
        Number of largest contributors perturbed (Thompson et al. 2013 use the top few).
    magnitude : float
        Perturbation magnitude :math:`m`: a contributor's value moves by at most
        :math:`m |x|`.

    Returns
    -------
    xarray.DataArray
        ``sum``: float64, dims ``by``.

    Notes
    -----
    The top-contributor method of the ABS (Thompson, Broadfoot & Elazar 2013) as
    generalised in ``cellKey`` (Giessing & Tent 2019): with :math:`x_{(1)}, \\dots,
    x_{(k)}` the cell's ``top_k`` largest contributions in absolute value and
    :math:`k_{(j)}` their record keys,

    .. math:: \\hat S = S + \\sum_{j=1}^{k} m\\,|x_{(j)}|\\,\\frac{v_j}{D},\\qquad
              v_j = P\\bigl(i_{max}, (c + k_{(j)}) \\bmod 1\\bigr),

    where :math:`c` is the cell key and :math:`P(i_{max}, \\cdot)` the ptable's
    symmetric row (mean 0, variance :math:`V`, :math:`|v| \\le D`), so each term
    is bounded by :math:`m|x_{(j)}|` and has mean 0.  The same records in a cell
    give the same noise in every table.  Empty cells stay 0.
    """
    pt = read_ptable(max_entropy_ptable(D=2, V=1) if ptable is None else ptable)
    if pt.kind != "uniform":
        raise CKMError("perturb_sums: the ptable must be in the Destatis/ABS format (uniform keys)")
    if int(top_k) < 1:
        raise CKMError(f"perturb_sums: top_k = {top_k}: must be ≥ 1")
    if not (np.isfinite(magnitude) and magnitude >= 0):
        raise CKMError(f"perturb_sums: magnitude = {magnitude}: must be ≥ 0")
    x = np.asarray(_column(data, value), dtype=float)
    if not np.isfinite(x).all():
        r = int(np.flatnonzero(~np.isfinite(x))[0])
        raise CKMError(f"column {value!r}, row {r}: {_item(x[r])!r} is not a finite number")
    by, coords, counts, ck, codes, labels, keys, axes = _tabulate(
        data, by, record_key, pt, margins, categories, need_codes=True)
    shape = tuple(len(lab) for lab in labels)
    ext = tuple(n + (1 if ax in axes else 0) for ax, n in enumerate(shape))
    sums = np.zeros(ext)
    noise = np.zeros(ext)
    absx = np.abs(x)
    k = int(top_k)
    # every combination of margin dims: the records' codes with those dims set to "total"
    for r in range(len(axes) + 1):
        for tot in itertools.combinations(axes, r):
            cc = [np.full_like(c, shape[ax]) if ax in tot else c for ax, c in enumerate(codes)]
            # only the cells of this combination: dims in tot at "total", others at labels
            fl = np.ravel_multi_index(cc, ext)
            sums.ravel()[:] += np.bincount(fl, weights=x, minlength=sums.size)
            top = _k.top_contributors(fl, absx, k, sums.size)
            sel = np.unique(fl)
            t = top[sel]
            ok = t >= 0
            tk = np.where(ok, keys[np.maximum(t, 0)], 0)
            cj = (ck.ravel()[sel][:, None] + tk) % _UNITS
            vj = pt.perturbation(np.full(cj.shape, pt._imax), cj)
            noise.ravel()[sel] = (magnitude * absx[np.maximum(t, 0)] * vj / pt.max_deviation * ok).sum(axis=1)
    out = sums + noise
    da = xr.DataArray(out, dims=by, coords=coords, name="sum")
    if keep_original:
        da = da.assign_coords(original=(by, sums), count=(by, counts), perturbation=(by, noise))
    da.attrs.update({"long_name": f"perturbed sum of {value}", "disclosure_control":
                     f"cell key method, top-{k} contributors, magnitude {magnitude}"})
    return da


# --------------------------------------------------------------------------- aggregate cubes

def _label_hash(labels: np.ndarray) -> np.ndarray:
    return np.array([zlib.crc32(str(x.item() if hasattr(x, "item") else x).encode()) for x in labels],
                    dtype=np.uint64)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _cube_cell_keys(da: xr.DataArray, name: str, seed: int) -> np.ndarray:
    """Integer cell keys (units of 1e-8) from the seed, the variable and each cell's labels."""
    h = np.full(da.shape, np.uint64(zlib.crc32(f"{int(seed)}:{name}".encode())), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for dim in sorted(da.dims):
            ax = da.dims.index(dim)
            lab = da[dim].values if dim in da.coords else np.arange(da.sizes[dim])
            hd = _label_hash(lab) | (np.uint64(zlib.crc32(dim.encode())) << np.uint64(32))
            shape = [1] * da.ndim
            shape[ax] = -1
            h = _mix(h ^ hd.reshape(shape))
    return (h % np.uint64(_UNITS)).astype(np.int64)


def _derived(name: str) -> bool:
    """Signed or derived variables, not perturbed by default (net flows, the adjustment, means)."""
    return name in SIGNED_VARIABLES or name.startswith(("net_", "mean_"))


def perturbed_cube(ds: xr.Dataset, *, D: int = 2, V: float = 1.0, js: int = 0, seed: int = 0,
                   variables=None) -> xr.Dataset:
    """Return ``ds`` with CKM-like integer noise added to every count (for robustness tests).

    Parameters
    ----------
    ds : xarray.Dataset
        An aggregate demokit cube (population, births, deaths, flows).
    D, V, js : int, float, int
        Parameters of the noise: the ptable :func:`max_entropy_ptable` ``(D, V, js)``.
    seed : int
        The same seed gives the same noise in every run and process.
    variables : list of str, optional
        Variables to perturb; default every variable except the signed and derived
        ones (``adjustment``, ``net_*``, ``mean_*``), which are left as they are
        (recompute them from the perturbed counts if needed).

    Returns
    -------
    xarray.Dataset
        A copy with perturbed counts (dtype kept), ``attrs['ckm_perturbed']``
        describing the noise.

    Notes
    -----
    There are no record keys in an aggregate cube, so each cell's key is a hash
    of (``seed``, variable, the cell's labels): :math:`c = h \\bmod 10^8 / 10^8`
    with a splitmix64 mix of the CRC-32 of each label.  The cell then gets
    :math:`\\hat n = [x] + P([x], c)` from the maximum-entropy ptable, :math:`[x]`
    the value rounded to a whole number (a projection's fractional persons are
    published rounded): zeros stay zero, :math:`|v| \\le D`, :math:`\\hat n \\ge 0`, no :math:`\\hat n`
    in ``1..js``; NaN stays NaN.  The same cell gets the same noise in a subset
    or reordering of the cube.  The values are loaded (dask arrays are computed).
    """
    if not isinstance(ds, xr.Dataset):
        raise CKMError(f"perturbed_cube: expected an xarray.Dataset, got {type(ds).__name__}")
    pt = read_ptable(max_entropy_ptable(D=D, V=V, js=js))
    names = ([n for n in ds.data_vars if not _derived(str(n))] if variables is None
             else [variables] if isinstance(variables, str) else list(variables))
    out = ds.copy()
    for name in names:
        if name not in ds.data_vars:
            raise CKMError(f"perturbed_cube: variable {name!r} is not in the cube")
        da = ds[name]
        x = np.asarray(da.values, dtype=float)
        bad = np.isfinite(x) & (x < 0)
        if bad.any():
            idx = np.unravel_index(int(np.flatnonzero(bad)[0]), x.shape)
            from .cube import format_cell
            raise CKMError(f"perturbed_cube: {format_cell(name, da, idx)}: counts must be ≥ 0")
        ok = np.isfinite(x)
        n = np.where(ok, np.rint(x), 0).astype(np.int64)
        v = pt.perturbation(n, _cube_cell_keys(da, name, seed))
        y = np.where(ok, n + v, x)          # whole numbers, as published counts
        out[name] = da.copy(data=y.astype(da.dtype) if da.dtype.kind in "iu" else y)
    out.attrs["ckm_perturbed"] = (f"cell-key-like noise: max-entropy ptable D={int(D)}, V={float(V)}, "
                                  f"js={int(js)}, seed={int(seed)}; variables {names}")
    return out
