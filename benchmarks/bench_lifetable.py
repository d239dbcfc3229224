"""Benchmark: life tables for 6,160 regions x 2 sexes x 111 ages (0..110+).

Compares, in the same run, demokit's Numba kernel (one fused pass per row,
``prange`` over rows) with a plain, well-vectorised numpy implementation of
the same table (whole-array ops along age: cumprod, reversed cumsum), and
reports the full public ``dk.life_table`` call (xarray in/out, a0 rule,
validation) too.  Checks that both give the same numbers.

Run: ``python benchmarks/bench_lifetable.py``
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import xarray as xr

import demokit as dk
from demokit._kernels.lifetable import life_table_nd

R, S, A = 6160, 2, 111
RADIX = 100_000.0


def make_rates(seed=0):
    rng = np.random.default_rng(seed)
    age = np.arange(A)
    base = 0.0002 + 0.00002 * np.exp(0.105 * age)
    base[0] = 0.003
    m = base * rng.lognormal(0.0, 0.15, (R, S, A))
    return np.minimum(m, 1.5)


def numpy_life_table(m, a):
    """Plain vectorised numpy life table along the last axis (open last age)."""
    q = m / (1.0 + (1.0 - a) * m)
    q[..., -1] = 1.0
    p = 1.0 - q
    lx = np.empty_like(m)
    lx[..., 0] = RADIX
    np.cumprod(p[..., :-1], axis=-1, out=lx[..., 1:])
    lx[..., 1:] *= RADIX
    dx = lx * q
    Lx = np.empty_like(m)
    Lx[..., :-1] = lx[..., 1:] + a[..., :-1] * dx[..., :-1]
    Lx[..., -1] = lx[..., -1] / m[..., -1]
    Tx = np.cumsum(Lx[..., ::-1], axis=-1)[..., ::-1]
    ex = Tx / lx
    return q, lx, dx, Lx, Tx, ex


def numpy_life_table_out(m, a, out):
    """The same numpy table writing into preallocated arrays (no fresh memory)."""
    q, lx, dx, Lx, Tx, ex, tmp = out
    np.multiply(1.0 - a, m, out=tmp)
    tmp += 1.0
    np.divide(m, tmp, out=q)
    q[..., -1] = 1.0
    np.subtract(1.0, q, out=tmp)
    lx[..., 0] = RADIX
    np.cumprod(tmp[..., :-1], axis=-1, out=lx[..., 1:])
    lx[..., 1:] *= RADIX
    np.multiply(lx, q, out=dx)
    np.multiply(a[..., :-1], dx[..., :-1], out=Lx[..., :-1])
    Lx[..., :-1] += lx[..., 1:]
    np.divide(lx[..., -1], m[..., -1], out=Lx[..., -1])
    np.cumsum(Lx[..., ::-1], axis=-1, out=Tx[..., ::-1])
    np.divide(Tx, lx, out=ex)


def timeit(f, repeat=7):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    m = make_rates()
    a = np.full_like(m, 0.5)
    a[..., 0] = 0.15
    n = np.ones(A)

    # warm-up (JIT compile) and correctness check
    res = life_table_nd(m, a, n, RADIX)
    ref = numpy_life_table(m, a)
    np.testing.assert_allclose(res[7], ref[5], rtol=1e-10)
    np.testing.assert_allclose(res[3], ref[1], rtol=1e-10)

    t_np = timeit(lambda: numpy_life_table(m, a))
    t_nb = timeit(lambda: life_table_nd(m, a, n, RADIX))

    # compute only: both write into preallocated outputs
    from demokit._kernels.lifetable import life_table_rows

    m2, a2 = m.reshape(-1, A), a.reshape(-1, A)
    outs_nb = [np.empty_like(m2) for _ in range(7)]
    outs_np = [np.empty_like(m2) for _ in range(7)]
    dummy = np.empty((1, 1))
    life_table_rows(m2, a2, n, RADIX, False, dummy, *outs_nb)
    numpy_life_table_out(m2, a2, outs_np)
    np.testing.assert_allclose(outs_nb[6], outs_np[5], rtol=1e-10)
    t_np_out = timeit(lambda: numpy_life_table_out(m2, a2, outs_np))
    t_nb_out = timeit(lambda: life_table_rows(m2, a2, n, RADIX, False, dummy, *outs_nb))

    mx = xr.DataArray(m, dims=("region", "sex", "age"),
                      coords={"region": np.arange(R), "sex": ["female", "male"], "age": np.arange(A)})
    dk.life_table(mx, a0="andreev_kingkade")  # warm-up
    t_api = timeit(lambda: dk.life_table(mx, a0="andreev_kingkade"), repeat=5)

    cells = R * S * A
    print(f"life tables: {R} regions x {S} sexes x {A} ages = {cells:,} cells")
    print(f"numpy (vectorised)        : {t_np * 1e3:8.1f} ms")
    print(f"numba kernel              : {t_nb * 1e3:8.1f} ms   ratio numpy/numba = {t_np / t_nb:5.1f}x")
    print(f"into preallocated outputs: numpy {t_np_out * 1e3:6.1f} ms, numba {t_nb_out * 1e3:6.1f} ms, "
          f"ratio {t_np_out / t_nb_out:4.1f}x")
    print(f"dk.life_table (xarray API): {t_api * 1e3:8.1f} ms   (a0 rule, checks, Dataset)")


if __name__ == "__main__":
    main()
