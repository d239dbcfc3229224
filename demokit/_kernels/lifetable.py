"""Numba kernel: the period life table along the last axis (age).

Axes: ``(row, age)``; rows are every other dim flattened (region, sex, year,
scenario, ...).  Inputs are contiguous float64.  No xarray here.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit, parallel_ranges

__all__ = ["life_table_nd", "life_table_rows"]


def life_table_rows(mx, ax, n, radix, from_q, qx_in, qx, ax_out, lx, dx, Lx, Tx, ex):
    """Fill the life table columns for every row of ``mx`` (rows × ages).

    Parameters (all float64 arrays of shape (rows, ages) unless stated)
    ----------
    mx : central death rates; the last age is open.
    ax : mean years lived in the interval by those dying in it (closed ages;
        the open age's value is ignored and replaced by ``1/m``).
    n : (ages,) interval widths (the last one is ignored).
    radix : l at the first age.
    from_q : if True, ``qx_in`` are given and ``mx`` is ignored for closed
        ages (``m = q / (n − (n − a) q)`` is written back into ``mx``).
    qx_in : (rows, ages) input risks when ``from_q``.
    qx, ax_out, lx, dx, Lx, Tx, ex : outputs.

    Notes
    -----
    Closed ages: ``q = n m / (1 + (n − a) m)`` (capped at 1), ``d = l q``,
    ``l' = l (1 − q)``, ``L = n l' + a d``.  Each row is done in four short
    passes over its ages (independent ones vectorise; only the ``l`` and ``T``
    recurrences are serial) while the row stays in L1 cache.  Open age: ``q = 1``, ``d = l``,
    ``L = l / m``, ``a = 1 / m``.  ``T`` is the reversed cumulative sum of
    ``L`` and ``e = T / l``; where ``l = 0`` (every earlier person dead),
    ``e = a``.

    Parallel over rows: ranges of rows run in threads
    (:func:`demokit._kernels._jit.parallel_ranges`).
    """
    parallel_ranges(life_table_rows_range, mx.shape[0], mx, ax, n, radix, from_q, qx_in, qx, ax_out, lx, dx,
                    Lx, Tx, ex)


@jit
def life_table_rows_range(i0, i1, mx, ax, n, radix, from_q, qx_in, qx, ax_out, lx, dx, Lx, Tx, ex):
    """Rows ``i0 ≤ i < i1`` of :func:`life_table_rows` (serial; run in threads by it)."""
    rows, ages = mx.shape
    last = ages - 1
    for r in range(i0, i1):
        # pass 1 (independent across ages, vectorisable): q (or m from q) and a
        if from_q:
            for j in range(last):
                nj = n[j]
                a = ax[r, j]
                q = qx_in[r, j]
                den = nj - (nj - a) * q
                mx[r, j] = q / den if den > 0.0 else np.inf
                qx[r, j] = q
                ax_out[r, j] = a
            m = mx[r, last]
            if not (m > 0.0) and last > 0:
                mx[r, last] = mx[r, last - 1]  # constant hazard beyond the last closed age
        else:
            for j in range(last):
                nj = n[j]
                a = ax[r, j]
                m = mx[r, j]
                q = nj * m / (1.0 + (nj - a) * m)
                qx[r, j] = min(1.0, q)
                ax_out[r, j] = a
        qx[r, last] = 1.0
        a_open = 1.0 / mx[r, last]
        ax_out[r, last] = a_open
        # pass 2 (serial): survivors
        l = radix
        for j in range(ages):
            lx[r, j] = l
            l = l * (1.0 - qx[r, j])  # not l - l q: no cancellation when q ~ 1
        # pass 3 (vectorisable): deaths and person-years
        for j in range(last):
            d = lx[r, j] * qx[r, j]
            dx[r, j] = d
            Lx[r, j] = n[j] * lx[r, j + 1] + ax_out[r, j] * d
        dx[r, last] = lx[r, last]
        Lx[r, last] = lx[r, last] * a_open
        # pass 4 (serial): T; then e (vectorisable)
        t = 0.0
        for j in range(last, -1, -1):
            t += Lx[r, j]
            Tx[r, j] = t
        for j in range(ages):
            lj = lx[r, j]
            ex[r, j] = Tx[r, j] / lj if lj > 0.0 else ax_out[r, j]


def life_table_nd(mx, ax, n, radix=100_000.0, qx_in=None):
    """Return ``(mx, qx, ax, lx, dx, Lx, Tx, ex)`` for arrays with age last.

    Any leading dims are flattened into rows and restored.
    """
    mx = np.ascontiguousarray(mx, dtype=np.float64)
    shape = mx.shape
    ages = shape[-1]
    from_q = qx_in is not None
    # the kernel writes m back only when it derives it from q: copy only then
    m2 = mx.reshape(-1, ages).copy() if from_q else mx.reshape(-1, ages)
    ax = np.asarray(ax, dtype=np.float64)
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    if ax.shape == shape:
        a2 = np.ascontiguousarray(ax).reshape(-1, ages)
    elif ax.size == ages:  # one ax per age for every row: a broadcast view, not a copy
        a2 = np.broadcast_to(ax.reshape(ages), (rows, ages))
    else:
        a2 = np.ascontiguousarray(np.broadcast_to(ax, shape)).reshape(-1, ages)
    if from_q:
        q2 = np.ascontiguousarray(np.broadcast_to(qx_in, shape), dtype=np.float64).reshape(-1, ages)
    else:
        q2 = np.empty((1, 1))
    outs = [np.empty_like(m2) for _ in range(7)]
    life_table_rows(m2, a2, np.ascontiguousarray(n, dtype=np.float64), float(radix), from_q, q2, *outs)
    return tuple(o.reshape(shape) for o in [m2] + outs)
