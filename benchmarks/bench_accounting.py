"""Benchmark: balance + mean population + summary on a synthetic 6,160 × 2 × 101 × 10 cube.

Compares demokit (public xarray API, Numba kernels) with a plain, well-vectorised
numpy implementation of the same work (whole-array operations) in the same run.
JIT warm-up first, then the median of several runs.

    python benchmarks/bench_accounting.py [--regions 6160] [--repeat 7]
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


def numpy_quartile_ages(Ps, cum, total):
    """Quartile ages (25, 50, 75 %) interpolated within the single year, whole-array numpy."""
    q = []
    for p in (0.25, 0.5, 0.75):
        target = p * total
        idx = np.argmax(cum >= target[:, None, :], axis=1)
        below = np.take_along_axis(cum, idx[:, None, :], axis=1)[:, 0] - np.take_along_axis(Ps, idx[:, None, :], axis=1)[:, 0]
        at = np.take_along_axis(Ps, idx[:, None, :], axis=1)[:, 0]
        q.append(idx + (target - below) / at)
    return q


def numpy_work(P, B, D, I, O, IM, EM, *, einsum=False):
    """The same results with whole-array numpy operations (axes region, sex, age, year).

    Each total is computed once and the balance and mean population are built in place (no
    temporaries beyond the outputs).  ``einsum=False``: reductions with ``ndarray.sum`` — the plain
    numpy idiom; ``einsum=True``: every reduction over sex and age with ``np.einsum`` instead, which
    is 3-4x faster than ``sum`` over non-contiguous axes here (year, of length 10, is the contiguous
    axis) — a tuned numpy baseline.
    """
    R, S, A, T = P.shape
    if einsum:
        red = lambda a, sub, out: np.einsum(f"{sub}->{out}", a)  # noqa: E731
    else:
        red = lambda a, sub, out: a.sum(axis=tuple(i for i, c in enumerate(sub) if c not in out))  # noqa: E731
    later = (slice(None),) * 3 + (slice(1, None),)
    # balance: A = P - N + D - I + O - IM + EM (N the cohort start), built in place
    b0 = red(B, "rsat", "rst")
    start = np.empty((R, S, A, T - 1))
    start[:, :, 0, :] = b0[:, :, 1:]
    start[:, :, 1:, :] = P[:, :, :-1, :-1]
    start[:, :, -1, :] += P[:, :, -1, :-1]
    adj = np.subtract(P[later], start)
    adj += D[later]
    adj -= I[later]
    adj += O[later]
    adj -= IM[later]
    adj += EM[later]
    # mean population by cohort
    mp = np.empty_like(start)
    mp[:, :, 0] = P[:, :, 0, 1:]
    np.add(P[:, :, :-1, :-1], P[:, :, 1:, 1:], out=mp[:, :, 1:])
    mp[:, :, -1] += P[:, :, -1, :-1]
    mp *= 0.5
    # summary on both sexes together
    Ps = red(P, "rsat", "rat")
    ages = np.arange(A, dtype=float)
    total = red(Ps, "rat", "rt")
    mean_age = (np.einsum("rat,a->rt", Ps, ages) if einsum else (Ps * ages[None, :, None]).sum(axis=1)) / total
    cum = np.cumsum(Ps, axis=1)
    q = numpy_quartile_ages(Ps, cum, total)
    young = red(Ps[:, :20], "rat", "rt")
    work = red(Ps[:, 20:65], "rat", "rt")
    old = red(Ps[:, 65:], "rat", "rt")
    dep = (100 * young / work, 100 * old / work, 100 * (young + old) / work)
    tot = {k: red(a, "rsat", "rt")[:, 1:] for k, a in zip("BDIOME", (B, D, I, O, IM, EM))}
    nat = tot["B"] - tot["D"]
    netm = tot["I"] - tot["O"] + tot["M"] - tot["E"]
    meanp = (total[:, 1:] + total[:, :-1]) / 2
    mob = 1000 * (tot["I"] + tot["M"] + tot["O"] + tot["E"]) / meanp
    return adj, mp, mean_age, q, dep, nat, netm, mob


def numpy_work_original(P, B, D, I, O, IM, EM):
    """The first version of the baseline (before this benchmark was reviewed), kept for the record:
    ``net = I - O + IM - EM - D`` with four full-size temporaries and the totals of I, O, IM, EM
    computed twice."""
    b0 = B.sum(axis=2)
    start = np.empty(P.shape[:-1] + (P.shape[-1] - 1,))
    start[:, :, 0, :] = b0[:, :, 1:]
    start[:, :, 1:, :] = P[:, :, :-1, :-1]
    start[:, :, -1, :] += P[:, :, -1, :-1]
    net = I - O + IM - EM - D
    adj = P[..., 1:] - start - net[..., 1:]
    mp = np.empty_like(start)
    mp[:, :, 0] = 0.5 * P[:, :, 0, 1:]
    mp[:, :, 1:] = 0.5 * (P[:, :, :-1, :-1] + P[:, :, 1:, 1:])
    mp[:, :, -1] += 0.5 * P[:, :, -1, :-1]
    Ps = P.sum(axis=1)
    ages = np.arange(P.shape[2], dtype=float)
    total = Ps.sum(axis=1)
    mean_age = (Ps * ages[None, :, None]).sum(axis=1) / total
    cum = np.cumsum(Ps, axis=1)
    q = numpy_quartile_ages(Ps, cum, total)
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


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--regions", type=int, default=6160)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    ds = synthetic_cube(args.regions)
    arrays = [ds[v].values for v in ("population", "births", "deaths", "in_migration", "out_migration",
                                     "immigration", "emigration")]
    P, B, D, I, O, IM, EM = arrays
    R, S, A, T = P.shape

    # kernel level: the same three computations on plain arrays, no xarray; the kernels check every
    # input value (NaN, inf, negative) as the public API does, and allocate their outputs
    ages = np.arange(A, dtype=float)
    probs = np.array([0.25, 0.5, 0.75])

    def kernels():
        f3 = lambda a: a.reshape(R * S, A, T)  # noqa: E731  (views)
        start, adj = np.empty((R * S, A, T - 1)), np.empty((R * S, A, T - 1))
        bad = k.cohort_balance_checked(f3(P), f3(B), *[f3(a) for a in (D, I, O, IM, EM)], True,
                                       np.ones(7, bool), start, adj)
        mpo = np.empty((R * S, A, T - 1))
        bad += k.mean_population_checked(f3(P), True, True, mpo)
        stats, qa, tot = np.empty((R, T, 5)), np.empty((R, T, 3)), np.empty((R, 6, T))
        bad += k.summary_rows(P, (B, D, I, O, IM, EM), ages, 0.0, probs, True, np.ones(6, bool), stats, qa, tot)
        assert bad == 0
        return adj, mpo, qa

    # warm-up (JIT) and a correctness cross-check of the implementations
    demokit_work(synthetic_cube(3))
    bal, mp, s = demokit_work(ds)
    for ref in (numpy_work(*arrays), numpy_work(*arrays, einsum=True), numpy_work_original(*arrays)):
        np.testing.assert_allclose(bal["adjustment"].values, ref[0], atol=1e-9)
        np.testing.assert_allclose(mp.values, ref[1])
        np.testing.assert_allclose(s["median_age"].values, ref[3][1], rtol=1e-10)
        np.testing.assert_allclose(s["mean_age"].values, ref[2], rtol=1e-12)
        np.testing.assert_allclose(s["dependency_ratio"].values, ref[4][2], rtol=1e-12)
        np.testing.assert_allclose(s["mobility_rate"].values[:, 1:], ref[7], rtol=1e-12)
    adj_k, mp_k, qa_k = kernels()
    np.testing.assert_array_equal(adj_k.reshape(bal["adjustment"].shape), bal["adjustment"].values)
    np.testing.assert_array_equal(qa_k[..., 1], s["median_age"].values)
    del bal, mp, s, adj_k, mp_k, qa_k

    # interleave the implementations so that load from other processes hits all of them alike
    work = {"demokit": lambda: demokit_work(ds), "kernels": kernels,
            "numpy": lambda: numpy_work(*arrays), "numpy_einsum": lambda: numpy_work(*arrays, einsum=True),
            "numpy_original": lambda: numpy_work_original(*arrays)}
    times = {name: [] for name in work}
    for _ in range(args.repeat):
        for name, f in work.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(t) for name, t in times.items()}
    cells = R * S * A * T
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numba threads {__import__('numba').get_num_threads()}, load average {os.getloadavg()[0]:.2f}")
    print(f"cube: {R} regions x {S} x {A} ages x {T} years = {cells:,} cells per variable, 7 variables; "
          f"median of {args.repeat} interleaved runs")
    print(f"demokit public API (xarray, incl. input validation): {med['demokit']:.3f} s")
    print(f"demokit kernels only (incl. value checks, no xarray): {med['kernels']:.3f} s")
    for name, label in (("numpy", "numpy, plain (ndarray.sum)"), ("numpy_einsum", "numpy, tuned (np.einsum sums)"),
                        ("numpy_original", "numpy, first baseline version")):
        print(f"{label:34s} {med[name]:.3f} s   numpy/public API = {med[name] / med['demokit']:.2f}x   "
              f"numpy/kernels = {med[name] / med['kernels']:.2f}x")


if __name__ == "__main__":
    main()
