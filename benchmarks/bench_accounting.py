"""Benchmark: balance + mean population + summary on a synthetic 6,160 × 2 × 101 × 10 cube.

Compares demokit (public xarray API, Numba kernels) with a plain, well-vectorised
numpy implementation of the same work (whole-array operations) in the same run.
JIT warm-up first, then the median of several runs.

    python benchmarks/bench_accounting.py [--regions 6160] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import xarray as xr

import demokit as dk
from demokit._kernels import accounting as k


def synthetic_cube(R: int, A: int = 101, T: int = 10, seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    shape = (R, 2, A, T)
    pop = rng.integers(0, 400, shape).astype(float)
    ev = lambda lam: rng.poisson(lam, shape).astype(float)  # noqa: E731
    births = np.zeros(shape)
    births[:, :, 15:50, :] = rng.poisson(2.0, (R, 2, 35, T))
    coords = {"region": [f"{i:04d}A{i:03d}0"[:9] for i in range(R)], "sex": ["female", "male"],
              "age": np.arange(A), "year": np.arange(2010, 2010 + T)}
    dims = ("region", "sex", "age", "year")
    ye = {"age_convention": "year_end"}
    return xr.Dataset({"population": (dims, pop), "births": (dims, births, ye),
                       "deaths": (dims, ev(2.0), ye), "in_migration": (dims, ev(5.0), ye),
                       "out_migration": (dims, ev(5.0), ye), "immigration": (dims, ev(1.0), ye),
                       "emigration": (dims, ev(1.0), ye)}, coords=coords, attrs={"open_age": A - 1})


def demokit_work(ds):
    bal = dk.balance(ds)
    mp = dk.mean_population(ds, by="cohort")
    s = dk.summary(ds)
    return bal, mp, s


def numpy_work(P, B, D, I, O, IM, EM):
    """The same results with whole-array numpy operations (axes region, sex, age, year)."""
    # balance
    b0 = B.sum(axis=2)
    start = np.empty(P.shape[:-1] + (P.shape[-1] - 1,))
    start[:, :, 0, :] = b0[:, :, 1:]
    start[:, :, 1:, :] = P[:, :, :-1, :-1]
    start[:, :, -1, :] += P[:, :, -1, :-1]
    net = I - O + IM - EM - D
    adj = P[..., 1:] - start - net[..., 1:]
    # mean population by cohort
    mp = np.empty_like(start)
    mp[:, :, 0] = 0.5 * P[:, :, 0, 1:]
    mp[:, :, 1:] = 0.5 * (P[:, :, :-1, :-1] + P[:, :, 1:, 1:])
    mp[:, :, -1] += 0.5 * P[:, :, -1, :-1]
    # summary on both sexes together
    Ps = P.sum(axis=1)
    ages = np.arange(P.shape[2], dtype=float)
    total = Ps.sum(axis=1)
    mean_age = (Ps * ages[None, :, None]).sum(axis=1) / total
    cum = np.cumsum(Ps, axis=1)
    q = []
    for p in (0.25, 0.5, 0.75):
        target = p * total
        idx = np.argmax(cum >= target[:, None, :], axis=1)
        below = np.take_along_axis(cum, idx[:, None, :], axis=1)[:, 0] - np.take_along_axis(Ps, idx[:, None, :], axis=1)[:, 0]
        at = np.take_along_axis(Ps, idx[:, None, :], axis=1)[:, 0]
        q.append(idx + (target - below) / at)
    young = Ps[:, :20].sum(axis=1)
    work = Ps[:, 20:65].sum(axis=1)
    old = Ps[:, 65:].sum(axis=1)
    dep = (100 * young / work, 100 * old / work, 100 * (young + old) / work)
    tot = lambda a: a.sum(axis=(1, 2))[:, 1:]  # noqa: E731
    nat = tot(B) - tot(D)
    netm = tot(I) - tot(O) + tot(IM) - tot(EM)
    meanp = (total[:, 1:] + total[:, :-1]) / 2
    mob = 1000 * (tot(I) + tot(IM) + tot(O) + tot(EM)) / meanp
    return adj, mp, mean_age, q, dep, nat, netm, mob


def timeit(f, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--regions", type=int, default=6160)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    ds = synthetic_cube(args.regions)
    arrays = [ds[v].values for v in ("population", "births", "deaths", "in_migration", "out_migration",
                                     "immigration", "emigration")]
    # warm-up (JIT) and a correctness cross-check of the two implementations
    bal, mp, s = demokit_work(synthetic_cube(3))
    bal, mp, s = demokit_work(ds)
    ref = numpy_work(*arrays)
    np.testing.assert_allclose(bal["adjustment"].values, ref[0])
    np.testing.assert_allclose(mp.values, ref[1])
    np.testing.assert_allclose(s["median_age"].values, ref[3][1], rtol=1e-10)

    t_dk, _ = timeit(lambda: demokit_work(ds), args.repeat)
    t_np, _ = timeit(lambda: numpy_work(*arrays), args.repeat)

    # kernel level: the same three computations on plain arrays, no xarray and no input checks
    P, B, D, I, O, IM, EM = arrays
    R, S, A, T = P.shape

    def kernels():
        p3 = P.reshape(R * S, A, T)
        ev = [a.reshape(R * S, A, T) for a in (D, I, O, IM, EM)]
        start = np.empty((R * S, A, T - 1))
        adj = np.empty((R * S, A, T - 1))
        k.cohort_balance(p3, B.sum(axis=2).reshape(R * S, T), *ev, True, start, adj)
        mpo = np.empty((R * S, A, T - 1))
        k.mean_population(p3, True, mpo)
        qa = np.empty((R, T, 3))
        k.quantile_ages(np.ascontiguousarray(P.sum(axis=1)), np.arange(A, dtype=float),
                        np.array([0.25, 0.5, 0.75]), qa)

    kernels()
    t_k, _ = timeit(kernels, args.repeat)
    cells = R * S * A * T
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numba threads {__import__('numba').get_num_threads()}")
    print(f"cube: {R} regions x {S} x {A} ages x {T} years = {cells:,} cells per variable, 7 variables")
    print(f"demokit (public API, incl. input validation): median {t_dk:.3f} s")
    print(f"numpy (whole-array, no validation):          median {t_np:.3f} s   ratio numpy/demokit = {t_np / t_dk:.2f}")
    print(f"demokit kernels only (balance+mean pop+quantile ages): median {t_k:.3f} s")


if __name__ == "__main__":
    main()
