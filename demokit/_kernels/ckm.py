"""Kernels of the cell key method: one pass over the records, no xarray, no pandas.

``tabulate(code, keys, start, table, modulus)`` counts the records of every cell and
sums their integer record keys modulo the key range in the same pass (integer
arithmetic, so a cell's key does not depend on the order or grouping of the summation).
``tabulate_fused`` / ``tabulate_fused_packed`` do the coding of up to three columns and
the tabulation in one pass (the packed one with one uint32 per cell: count · 256 + key sum).

``top_contributors(code, absval, k, ncells)`` keeps, for every cell, the row
indices of its ``k`` largest contributions (for magnitude tables).
"""

from __future__ import annotations

import numpy as np

from ._jit import jit


@jit
def tabulate(code, keys, start, table, modulus):
    """Add records ``start .. start+len(code)-1`` to their cells, in place.

    ``table`` is ``(ncells, 2)`` int32: ``[count, key sum mod modulus]`` side by
    side (one cache line per record); ``table[code[r], 0] += 1`` and
    ``table[code[r], 1] = (table[code[r], 1] + keys[start + r]) mod modulus`` for
    integer record keys in ``0 .. modulus-1`` (``modulus`` < 2^30: the sum stays
    exact in int32).  Returns -1, or the first row ``start + r`` whose key is
    outside that range.  Called chunk by chunk, so that the flat cell index of a
    chunk stays in cache.
    """
    for r in range(code.shape[0]):
        k = keys[start + r]
        if k < 0 or k >= modulus:
            return start + r
        c = code[r]
        table[c, 0] += 1
        s = table[c, 1] + k
        if s >= modulus:
            s -= modulus
        table[c, 1] = s
    return -1


@jit
def tabulate_uniform(code, keys, start, table, units):
    """:func:`tabulate` for uniform keys in [0, 1), used as integers ``rint(key * units) mod units``.

    Returns -1, or the first row whose key is outside [0, 1) (or NaN).
    """
    for r in range(code.shape[0]):
        x = keys[start + r]
        if not (x >= 0.0 and x < 1.0):
            return start + r
        c = code[r]
        k = np.int64(np.rint(x * units))
        if k >= units:
            k -= units
        table[c, 0] += 1
        s = table[c, 1] + k
        if s >= units:
            s -= units
        table[c, 1] = s
    return -1


@jit
def top_contributors(code, absval, k, ncells):
    """Return ``(ncells, k)`` row indices of the ``k`` largest ``absval`` in each cell (-1: none).

    Ties keep the earlier row (a stable order), so the choice is reproducible.
    """
    idx = np.full((ncells, k), -1, dtype=np.int64)
    val = np.full((ncells, k), -1.0)
    for r in range(code.shape[0]):
        c = code[r]
        x = absval[r]
        if x <= val[c, k - 1]:
            continue
        j = k - 1
        while j > 0 and x > val[c, j - 1]:
            val[c, j] = val[c, j - 1]
            idx[c, j] = idx[c, j - 1]
            j -= 1
        val[c, j] = x
        idx[c, j] = r
    return idx


@jit
def int_range(x):
    """Return ``(min, max)`` of a non-empty integer array in one pass."""
    lo = x[0]
    hi = x[0]
    for r in range(1, x.shape[0]):
        v = x[r]
        if v < lo:
            lo = v
        elif v > hi:
            hi = v
    return lo, hi


@jit
def int_presence(x, lo, span):
    """Return a bool array of length ``span``: which values ``lo .. lo+span-1`` occur in ``x``."""
    seen = np.zeros(span, dtype=np.bool_)
    for r in range(x.shape[0]):
        seen[x[r] - lo] = True
    return seen


@jit
def accumulate_codes(acc, x, start, lo, lut, n):
    """``acc[r] = acc[r] * n + lut[x[start + r] - lo]`` in place (a row-major flat cell index, one dim at a time).

    Returns -1, or the first row ``r`` (of ``acc``) whose value has no code
    (outside the table of ``lut`` or ``lut`` < 0), leaving ``acc`` partly updated.
    """
    m = lut.shape[0]
    for r in range(acc.shape[0]):
        j = x[start + r] - lo
        if j < 0 or j >= m:
            return r
        c = lut[j]
        if c < 0:
            return r
        acc[r] = acc[r] * n + c
    return -1


@jit
def uniform_key_units(k, units):
    """Return ``(int64 keys, bad_row)``: ``rint(k * units) mod units``; ``bad_row`` ≥ 0 if a key is outside [0, 1)."""
    out = np.empty(k.shape[0], dtype=np.int64)
    for r in range(k.shape[0]):
        x = k[r]
        if not (x >= 0.0 and x < 1.0):
            return out, r
        out[r] = np.int64(np.rint(x * units)) % units
    return out, -1


@jit
def small_int_presence(x, cap):
    """Return ``(seen, ok)``: which values ``0..cap-1`` occur in ``x``; ``ok`` False if any value is outside."""
    seen = np.zeros(cap, dtype=np.bool_)
    for r in range(x.shape[0]):
        v = x[r]
        if v < 0 or v >= cap:
            return seen, False
        seen[v] = True
    return seen, True


@jit
def _cell(x, lo, lut, r):
    """Scaled code ``lut[x[r] - lo]`` of record ``r`` in one column, or -1 if it has none."""
    j = x[r] - lo
    if j < 0 or j >= lut.shape[0]:
        return -1
    return lut[j]


@jit
def tabulate_fused(x0, lo0, lut0, x1, lo1, lut1, x2, lo2, lut2, ncols, keys, table, modulus):
    """Code up to three columns and tabulate in one pass over the records (no flat-index buffer).

    ``lut*`` hold each column's code already multiplied by its row-major stride
    (−1: no code), so the cell is ``lut0[x0[r]-lo0] + lut1[x1[r]-lo1] + lut2[x2[r]-lo2]``
    (columns beyond ``ncols`` are ignored).  Integer keys ``0..modulus-1`` as in
    :func:`tabulate`.  Returns ``(-1, -1)``, or ``(row, column)`` of the first
    value without a code (column ``ncols``: a key out of range).
    """
    for r in range(keys.shape[0]):
        c = _cell(x0, lo0, lut0, r)
        if c < 0:
            return r, 0
        if ncols > 1:
            c1 = _cell(x1, lo1, lut1, r)
            if c1 < 0:
                return r, 1
            c += c1
        if ncols > 2:
            c2 = _cell(x2, lo2, lut2, r)
            if c2 < 0:
                return r, 2
            c += c2
        k = keys[r]
        if k < 0 or k >= modulus:
            return r, ncols
        table[c, 0] += 1
        s = table[c, 1] + k
        if s >= modulus:
            s -= modulus
        table[c, 1] = s
    return -1, -1


@jit
def tabulate_fused_packed_range(lo, hi, x0, lo0, lut0, x1, lo1, lut1, x2, lo2, lut2, ncols, keys, tables, modulus,
                                n, nt):
    """:func:`tabulate_fused_packed` over the records ``lo .. hi-1`` of one of ``nt`` ranges
    (:func:`demokit._kernels._jit.parallel_ranges`) into that range's own table ``tables[i]``: range
    ``i`` starts at ``n·i // nt``, so ``i = ceil(lo·nt / n)``.  The tables are added afterwards
    (counts and key sums mod ``modulus``)."""
    i = (lo * nt + n - 1) // n
    return tabulate_fused_packed(x0, lo0, lut0, x1, lo1, lut1, x2, lo2, lut2, ncols, keys, lo, hi, tables[i],
                                 modulus)


@jit
def tabulate_fused_packed(x0, lo0, lut0, x1, lo1, lut1, x2, lo2, lut2, ncols, keys, r0, r1, table, modulus):
    """:func:`tabulate_fused` over records ``r0 .. r1-1`` into a packed table: one uint32 per cell,
    ``count · 256 + (key sum mod modulus)`` (``modulus ≤ 256`` and fewer than 2^24 records), half
    the memory of the count/key pair, so that a 200,000-cell table stays in a 1 MB L2 cache."""
    for r in range(r0, r1):
        c = _cell(x0, lo0, lut0, r)
        if c < 0:
            return r, 0
        if ncols > 1:
            c1 = _cell(x1, lo1, lut1, r)
            if c1 < 0:
                return r, 1
            c += c1
        if ncols > 2:
            c2 = _cell(x2, lo2, lut2, r)
            if c2 < 0:
                return r, 2
            c += c2
        k = keys[r]
        if k < 0 or k >= modulus:
            return r, ncols
        v = table[c]
        s = (v & 255) + k
        if s >= modulus:
            s -= modulus
        table[c] = (v & ~np.uint32(255)) + np.uint32(256) + np.uint32(s)
    return -1, -1
