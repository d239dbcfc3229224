"""Benchmark dk.project (the Numba multiregional kernel) against a well-vectorised numpy version.

Run:  python benchmarks/bench_projection.py            (all cases)
      python benchmarks/bench_projection.py draws      (only the 1,000-draw case, in this process)

Cases (the issue's acceptance list):
1. 290 regions × 2 sexes × 101 ages × 50 years, every component stored, vs numpy;
2. the same with only the population kept (``components=False``), vs numpy;
3. 6,160 regions (DeSO) × 30 years, population only, vs numpy;
4. 1,000 draws × 290 regions × 30 years, population only, chunked along ``draw``
   with dask (2 draws a chunk, synchronous scheduler: Numba runs the two draws of a
   chunk on the two cores; a chunk's output, 28 MB, stays below glibc's mmap
   threshold, so its memory is reused instead of being faulted in afresh),
   keeping the total population by draw, region and year;
   time and peak memory (run in a fresh process), vs numpy on 100 draws.

The numpy implementation does the same work: one Python loop over years and
whole-array operations inside (all regions, sexes, ages and draws at once),
writing into preallocated outputs like the kernel.
"""

from __future__ import annotations

import gc
import os
import resource
import subprocess
import sys
import time

import numpy as np
import xarray as xr

import demokit as dk

SEX = ["female", "male"]


def make_inputs(R, A=101, seed=0):
    rng = np.random.default_rng(seed)
    ages = np.arange(A)
    P0 = rng.uniform(20, 400, (R, 2, A))
    q = np.clip(np.exp(-9.5 + 0.09 * ages) * rng.uniform(0.8, 1.2, (R, 2, A)), 0, 0.5)
    u = rng.uniform(0.0, 0.08, (R, 2, A))
    e = rng.uniform(0.0, 0.01, (R, 2, A))
    w = rng.uniform(0.1, 1.0, (R, 2, A))
    w /= w.sum(axis=0, keepdims=True)
    f = np.zeros((R, A))
    f[:, 15:50] = rng.uniform(0.0, 0.12, (R, 35))
    boys = np.full(R, 0.513)
    imm = rng.uniform(0, 300, R)
    ip = rng.uniform(0, 1, (R, 2, A))
    ip /= ip.sum(axis=(1, 2), keepdims=True)
    return {"P0": P0, "q": q, "u": u, "e": e, "w": w, "f": f, "boys": boys, "imm": imm, "iprof": ip, "ages": ages}


def to_xarray(inp):
    R = inp["P0"].shape[0]
    regions = np.array([f"{i:05d}" for i in range(R)])
    c3 = {"region": regions, "sex": SEX, "age": inp["ages"]}
    cell = lambda v: xr.DataArray(v, dims=("region", "sex", "age"), coords=c3)
    a = dk.Assumptions(
        death_risks=cell(inp["q"]), out_migration_risks=cell(inp["u"]), emigration_risks=cell(inp["e"]),
        in_migration_shares=cell(inp["w"]),
        immigration=xr.DataArray(inp["imm"], dims="region", coords={"region": regions}),
        immigration_profile=cell(inp["iprof"]),
        fertility=xr.DataArray(inp["f"], dims=("region", "age"), coords={"region": regions, "age": inp["ages"]}),
        boys_share=0.513)
    return cell(inp["P0"]), a


def numpy_project(inp, Y, store=True, scale_f=None, scale_q=None):
    """METHODS §6 in numpy: one loop over years, whole arrays (batch, region, sex, age) inside."""
    P0, q, u, e, w, f = inp["P0"], inp["q"], inp["u"], inp["e"], inp["w"], inp["f"]
    boys, imm, ip = inp["boys"], inp["imm"], inp["iprof"]
    if scale_f is not None:                       # draws: a batch axis in front
        f = f[None] * scale_f[:, None, None]
        q = q[None] * scale_q[:, None, None, None]
        P0 = np.broadcast_to(P0, (len(scale_f),) + P0.shape)
    IM = imm[:, None, None] * ip
    shape = P0.shape[:-3] + (Y,) + P0.shape[-3:]
    out_pop = np.empty(shape)
    outs = [np.empty(shape) for _ in range(6)] if store else None
    P = P0
    N = np.empty(P0.shape)
    for t in range(Y):
        N[..., 0] = 0.0
        N[..., 1:] = P[..., :-1]
        N[..., -1] += P[..., -1]
        D = N * q
        O = N * u
        E = N * e
        I = O.sum(axis=-3, keepdims=True) * w
        new = out_pop[..., t, :, :, :]
        np.subtract(N, D, out=new)
        new -= O
        new -= E
        new += I
        new += IM
        Bx = f * (N[..., 0, :] + new[..., 0, :]) * 0.5
        Bx[..., 0] = 0.0
        B = Bx.sum(axis=-1)
        Bs = np.stack([B * (1 - boys), B * boys], axis=-1)
        D[..., 0] = Bs * q[..., 0]
        O[..., 0] = Bs * u[..., 0]
        E[..., 0] = Bs * e[..., 0]
        I[..., 0] = O[..., 0].sum(axis=-2, keepdims=True) * w[..., 0]
        new[..., 0] = Bs - D[..., 0] - O[..., 0] - E[..., 0] + I[..., 0] + IM[..., 0]
        if store:
            births = Bx[..., None, :] * np.stack([1 - boys, boys], axis=-1)[..., None]
            for o, v in zip(outs, (births, D, I, O, IM, E)):
                o[..., t, :, :, :] = v
        P = new
    return out_pop, outs


def timeit(fn, n=5):
    """Return (median, min) wall time of ``n`` runs after a warm-up run (JIT compile, caches)."""
    fn()
    ts = []
    for _ in range(n):
        gc.collect()
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)), float(np.min(ts))


def case_components(R=290, Y=50):
    inp = make_inputs(R)
    P0, a = to_xarray(inp)
    years = range(2021, 2021 + Y)
    res = dk.project(P0, a, years=years)
    ref, _ = numpy_project(inp, Y)
    assert np.allclose(res.population.transpose("year", "region", "sex", "age").values, ref, rtol=1e-9)
    t_dk = timeit(lambda: dk.project(P0, a, years=years))
    t_np = timeit(lambda: numpy_project(inp, Y))
    t_dk0 = timeit(lambda: dk.project(P0, a, years=years, components=False), n=11)
    t_np0 = timeit(lambda: numpy_project(inp, Y, store=False), n=5)
    return [(f"{R} regions x 2 x 101 x {Y} years, all components", t_dk, t_np),
            (f"{R} regions x 2 x 101 x {Y} years, population only", t_dk0, t_np0)]


def case_deso(R=6160, Y=30):
    inp = make_inputs(R, seed=1)
    P0, a = to_xarray(inp)
    years = range(2021, 2021 + Y)
    t_dk = timeit(lambda: dk.project(P0, a, years=years, components=False), n=5)
    t_np = timeit(lambda: numpy_project(inp, Y, store=False), n=3)
    return [(f"{R} regions x 2 x 101 x {Y} years, population only", t_dk, t_np)]


def draws_inputs(n_draws, R=290):
    inp = make_inputs(R, seed=2)
    P0, a = to_xarray(inp)
    rng = np.random.default_rng(3)
    sf = rng.normal(1.0, 0.1, n_draws)
    sq = rng.normal(1.0, 0.05, n_draws)
    d = np.arange(n_draws)
    a = a.replace(fertility=a.fertility * xr.DataArray(sf, dims="draw", coords={"draw": d}),
                  death_risks=a.death_risks * xr.DataArray(sq, dims="draw", coords={"draw": d}))
    return inp, P0, a, sf, sq


def case_draws(n_draws=1000, Y=30, chunk=2):
    """Run in this process; print time and peak RSS."""
    inp, P0, a, sf, sq = draws_inputs(n_draws)
    years = range(2021, 2021 + Y)
    lazy_a = a.replace(fertility=a.fertility.chunk(draw=chunk), death_risks=a.death_risks.chunk(draw=chunk))
    # warm-up (compile) on a few draws
    dk.project(P0, a.replace(fertility=a.fertility.isel(draw=slice(0, 2)),
                             death_risks=a.death_risks.isel(draw=slice(0, 2))), years=years, components=False)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ts = []
    for _ in range(3):
        t = time.perf_counter()
        tot = dk.project(P0, lazy_a, years=years, components=False).population.sum(["sex", "age"], skipna=False)
        tot = tot.compute(scheduler="synchronous")   # numba runs the draws of a chunk in parallel
        ts.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # the same work for 100 draws in numpy (in memory), for the ratio
    inp100, _, _, sf100, sq100 = draws_inputs(100)
    t_np100 = timeit(lambda: numpy_project(inp100, Y, store=False, scale_f=sf100, scale_q=sq100)
                     [0].sum(axis=(-2, -1)), n=1)[0]
    # check one draw against the numpy result
    ref, _ = numpy_project(inp, Y, store=False, scale_f=sf[:3], scale_q=sq[:3])
    assert np.allclose(tot.isel(draw=slice(0, 3)).transpose("draw", "year", "region").values,
                       ref.sum(axis=(-2, -1)), rtol=1e-9)
    print(f"DRAWS {float(np.median(ts)):.3f} {peak:.0f} {rss0:.0f} {t_np100:.3f}")


def main():
    print(f"numba threads: {os.environ.get('NUMBA_NUM_THREADS', 'default')}, cores: {os.cpu_count()}")
    rows = case_components() + case_deso()
    out = subprocess.run([sys.executable, __file__, "draws"], capture_output=True, text=True, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("DRAWS")).split()
    t_draws, peak, rss0, t_np100 = float(line[1]), float(line[2]), float(line[3]), float(line[4])
    print(f"\n{'case (median; min in brackets)':58s} {'demokit':>18s} {'numpy':>18s} {'ratio':>7s}")
    for name, t_dk, t_np in rows:
        print(f"{name:58s} {t_dk[0] * 1e3:7.1f} ({t_dk[1] * 1e3:6.1f})ms {t_np[0] * 1e3:7.1f} "
              f"({t_np[1] * 1e3:6.1f})ms {t_np[0] / t_dk[0]:6.1f}x")
    print(f"{'1000 draws x 290 regions x 30 years, population only':58s} {t_draws:9.2f}s "
          f"{t_np100 * 10:9.2f}s {t_np100 * 10 / t_draws:6.1f}x  (numpy: 100 draws x 10)")
    print(f"  peak RSS of that process {peak:.0f} MB (after imports and warm-up {rss0:.0f} MB); "
          f"dask chunks of 2 draws, total population by draw, region and year kept")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "draws":
        case_draws()
    else:
        main()
