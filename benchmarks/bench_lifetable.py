"""Benchmark: life tables for 6,160 regions x 2 sexes x 111 ages (0..110+), and life-expectancy targets.

1. In the same run, the same cube and the same table (central rates, a0 by Andreev-Kingkade,
   ax = 0.5 above 0, open age L = l/m):
   * ``dk.life_table(mx, a0="andreev_kingkade")`` — xarray in/out, input checks, Dataset;
   * its kernel, ``demokit._kernels.lifetable.life_table_rows``, on the same numpy arrays
     (the 8 output arrays allocated, as by the public function);
   * a plain, well-vectorised numpy life table written here (whole-array ops along age:
     the a0 rule with ``np.where``, ``cumprod``, reversed ``cumsum``).
   The script asserts all three give the same numbers.
2. ``Assumptions.from_history`` with a life-expectancy path in each of 3 scenarios for 290
   regions (the five Norrbotten municipalities of the shipped data repeated 58 times), with the
   default smoothing and with ``smoothing=None``, and the root finder alone
   (``dk.scale_factor_for_life_expectancy`` for 3 scenarios x 2 sexes x 21 years).

JIT warm-up first; medians of several runs.  Run: ``python benchmarks/bench_lifetable.py``
(``--only life_table`` or ``--only from_history`` runs one part).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import xarray as xr

import demokit as dk
from demokit._kernels import lifetable as kernels

R, S, A = 6160, 2, 111
RADIX = 100_000.0


def make_rates(seed=0):
    rng = np.random.default_rng(seed)
    age = np.arange(A)
    base = 0.0002 + 0.00002 * np.exp(0.105 * age)
    base[0] = 0.003
    m = base * rng.lognormal(0.0, 0.15, (R, S, A))
    return np.minimum(m, 1.5)


def numpy_life_table(m, male):
    """Plain vectorised numpy life table along the last axis (open last age), a0 Andreev-Kingkade."""
    m0 = m[..., 0]
    a0 = np.where(male, np.where(m0 < 0.02300, 0.14929 - 1.99545 * m0,
                                 np.where(m0 < 0.08307, 0.02832 + 3.26201 * m0, 0.29915)),
                  np.where(m0 < 0.01724, 0.14903 - 2.05527 * m0,
                           np.where(m0 < 0.06891, 0.04667 + 3.88089 * m0, 0.31411)))
    a = np.full_like(m, 0.5)
    a[..., 0] = a0
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
    a[..., -1] = 1.0 / m[..., -1]
    Tx = np.cumsum(Lx[..., ::-1], axis=-1)[..., ::-1]
    ex = Tx / lx
    return m, q, a, lx, dx, Lx, Tx, ex


def kernel_life_table(m2, male2):
    """The kernel alone on (rows, ages) arrays: the same table with the same a0 rule."""
    rows = m2.shape[0]
    outs, _, _, err = kernels.life_table_rows(
        kernels.MX, m2, np.empty((1, 1)), age=np.arange(A, dtype=float), n=np.r_[np.ones(A - 1), np.inf],
        a0_code=kernels.A0_ANDREEV_KINGKADE, a0v=np.zeros(rows), male=male2, q0=np.full(rows, np.nan),
        ax_code=kernels.AX_SHARE, ax_share=0.5, radix=RADIX, max_count=1e8)
    assert err[0] == 0
    return outs


CPU = {}


def timeit(f, repeat=7):
    """Median wall time; the median CPU time of the process (all threads) goes to ``CPU[f]``."""
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        f()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    CPU[f] = statistics.median(cpu)
    return statistics.median(times)


def bisection_e0(target, qt, iterations=60):
    """The previous method: bisection on log k, a whole dk.life_table per step."""
    lo = xr.zeros_like(target) + np.log(0.02)
    hi = xr.zeros_like(target) + np.log(20.0)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        e0 = dk.life_table(qx=(qt * np.exp(mid)).clip(0.0, 1.0)).ex.isel(age=0, drop=True)
        too_low = e0 < target
        hi = xr.where(too_low, mid, hi)
        lo = xr.where(too_low, lo, mid)
    return np.exp((lo + hi) / 2)


def bench_life_table():
    m = make_rates()
    male = np.broadcast_to(np.array([False, True]), (R, S))
    m2 = m.reshape(-1, A)
    male2 = np.ascontiguousarray(male).reshape(-1)
    mx = xr.DataArray(m, dims=("region", "sex", "age"),
                      coords={"region": np.arange(R), "sex": ["female", "male"], "age": np.arange(A)})

    ref = numpy_life_table(m, male)
    res = kernel_life_table(m2, male2)
    api = dk.life_table(mx, a0="andreev_kingkade")
    for i, col in enumerate(("mx", "qx", "ax", "lx", "dx", "Lx", "Tx", "ex")):
        np.testing.assert_allclose(res[i].reshape(m.shape), ref[i], rtol=1e-10, err_msg=col)
        np.testing.assert_allclose(api[col].values, ref[i], rtol=1e-10, err_msg=col)

    f_np, f_nb, f_api = (lambda: numpy_life_table(m, male)), (lambda: kernel_life_table(m2, male2)), \
        (lambda: dk.life_table(mx, a0="andreev_kingkade"))
    t_np, t_nb, t_api = timeit(f_np), timeit(f_nb), timeit(f_api)
    c_np, c_nb, c_api = CPU[f_np], CPU[f_nb], CPU[f_api]
    cells = R * S * A
    print(f"life tables: {R} regions x {S} sexes x {A} ages = {cells:,} cells (a0 Andreev-Kingkade); "
          "median wall (CPU of all threads)")
    print(f"  numpy (vectorised)         : {t_np * 1e3:8.1f} ms ({c_np * 1e3:5.1f})")
    print(f"  kernel (life_table_rows)   : {t_nb * 1e3:8.1f} ms ({c_nb * 1e3:5.1f})")
    print(f"  dk.life_table (xarray API) : {t_api * 1e3:8.1f} ms ({c_api * 1e3:5.1f})")
    print(f"  API / kernel = {t_api / t_nb:4.2f} (aim <= 1.5); numpy / API = {t_np / t_api:4.1f}x wall, "
          f"{c_np / c_api:4.1f}x CPU (aim >= 3)")


def cube_290(distinct=False):
    """Norrbotten's five municipalities × 58.  ``distinct=True`` thins each copy's events
    (binomial, p = 0.97, its own seed) so that no two regions' curves are the same (the derived
    net and total flows recomputed), as with 290 real kommuner: ``smooth`` then fits every curve."""
    nb = dk.datasets.load("norrbotten")
    flows = ["births", "deaths", "in_migration", "out_migration", "immigration", "emigration"]
    parts = []
    for i in range(58):
        codes = [f"{1000 + 5 * i + j}" for j in range(nb.sizes["region"])]
        part = nb.assign_coords(region=codes)
        if distinct and i:
            rng = np.random.default_rng(i)
            part = part.copy()
            for v in flows:
                part[v] = part[v].copy(data=rng.binomial(part[v].values.astype(np.int64), 0.97).astype(float))
            part["all_in_migration"] = part.in_migration + part.immigration
            part["all_out_migration"] = part.out_migration + part.emigration
            part["net_migration"] = part.all_in_migration - part.all_out_migration
            part["net_immigration"] = part.immigration - part.emigration
            part["net_domestic_migration"] = part.in_migration - part.out_migration
        parts.append(part)
    return xr.concat(parts, "region", combine_attrs="override")


def bench_from_history(distinct=False):
    ds = cube_290(distinct)
    pyears = list(range(2020, 2041))
    scen = {"low": {"life_expectancy": {"female": {"2020": 84.0, "2040": 85.0}, "male": {"2020": 81.0, "2040": 82.0}}},
            "main": {"life_expectancy": {"female": {"2020": 84.5, "2040": 87.0}, "male": {"2020": 81.5, "2040": 84.5}}},
            "high": {"life_expectancy": {"female": {"2020": 85.0, "2040": 89.0}, "male": {"2020": 82.0, "2040": 87.0}}}}

    def run(smoothing):
        return dk.Assumptions.from_history(ds, years=range(2015, 2020), projection_years=pyears, smoothing=smoothing,
                                           scenarios=scen)

    a = run("relational")   # warm-up (JIT)
    run(None)
    e0 = a.attrs["life_expectancy"]
    print(f"from_history, {ds.sizes['region']} regions ({'no two curves alike' if distinct else '5 x 58 copies'})"
          f" x 3 scenarios x {len(pyears)} years, e0 targets "
          f"(e.g. women 2040 'high': {float(e0.sel(scenario='high', sex='female', year=2040)):.2f})")
    t_rel = timeit(lambda: run("relational"), repeat=3)
    t_none = timeit(lambda: run(None), repeat=3)
    print(f"  smoothing='relational' : {t_rel:6.2f} s   (aim <= 1 s)")
    print(f"  smoothing=None         : {t_none:6.2f} s")
    # the root finder alone on the same shape of problem: 3 scenarios x 2 sexes x 21 years
    from demokit.assumptions import _as_sex_path
    target = xr.concat([_as_sex_path(s["life_expectancy"], "life_expectancy", pyears) for s in scen.values()],
                       dim=xr.DataArray(list(scen), dims="scenario"))
    qt = dk.life_table(dk.datasets.load("hmd_sweden").sel(year=2014).pipe(
        lambda h: h.deaths / h.exposure.where(h.exposure > 0)).fillna(0.5).sel(age=slice(0, 100))).qx
    k = dk.scale_factor_for_life_expectancy(target, qx=qt)
    t_k = timeit(lambda: dk.scale_factor_for_life_expectancy(target, qx=qt))
    kb = bisection_e0(target, qt)
    np.testing.assert_allclose(kb.transpose(*k.dims).values, k.values, rtol=1e-9)
    t_b = timeit(lambda: bisection_e0(target, qt), repeat=3)
    print(f"  e0 targets alone, {k.size} cells: scale_factor_for_life_expectancy {t_k * 1e3:6.2f} ms; "
          f"the previous bisection (60 dk.life_table calls) {t_b * 1e3:7.1f} ms")


def main(argv=()):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("life_table", "from_history"), help="run one part of the benchmark")
    ap.add_argument("--distinct", action="store_true",
                    help="from_history on a cube whose 290 regions' events all differ (thinned copies)")
    args = ap.parse_args(list(argv))
    print(f"load average: {os.getloadavg()}")
    if args.only in (None, "life_table"):
        bench_life_table()
    if args.only in (None, "from_history"):
        bench_from_history(args.distinct)
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
