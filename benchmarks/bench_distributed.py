"""Stochastic projection on a dask.distributed cluster: same numbers as in memory, speed-up 1 → 2 workers.

Run:  python benchmarks/bench_distributed.py                       (1,000 draws × 290 regions × 30 years)
      python benchmarks/bench_distributed.py --draws 40 --regions 20 --years 5 --runs 1   (tiny)

Work: ``dk.simulate`` (TFR AR(1), e0 random walk, migration AR(1); seed 2026) of synthetic
assumptions for 290 regions × 2 sexes × 101 ages, ``dk.project(..., components=False)``,
keeping the total population by draw, region and year.  Three ways, same run:

* in memory: blocks of draws in this process, eager numpy/Numba path (no dask) — the reference;
* ``graph``: the lazy assumptions of ``simulate(..., chunks=c)`` → lazy ``project`` → ``.sum``,
  computed on a LocalCluster (processes, 1 thread each, ``NUMBA_NUM_THREADS=1``);
* ``map``: ``client.map`` of one function over blocks of draws; each worker makes its own draws
  (``simulate(..., first_draw=i, draws=c)``: the draws depend only on the seed and the draw
  number) and returns the block's totals — only the central assumptions travel (scattered once).

Both cluster results are asserted equal to the in-memory totals (rtol 1e-12), with 1 and
with 2 worker processes.  JIT warm-up on every worker first; median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import xarray as xr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
SEED = 2026


def central(R, A=101):
    """Return (base population, central assumptions) for ``R`` synthetic regions (closed system)."""
    from bench_projection import make_inputs, to_xarray
    inp = make_inputs(R, A, seed=0)
    return to_xarray(inp)


def block_totals(P0, a, years, first, n, seed=SEED):
    """Return the total population by draw, region, year of draws ``first … first + n − 1`` (eager)."""
    import demokit as dk
    # one chunk of n draws: lazy inputs skip the eager value scans of Assumptions (the risks are
    # k·q with k from the e0 mapping, bounded by construction); computed here, single-threaded
    s = dk.simulate(a, draws=n, seed=seed, years=years, first_draw=first, chunks=n)
    p = dk.project(P0, s, years=years, components=False)
    return p["population"].sum(["sex", "age"]).transpose("draw", "region", "year").compute(scheduler="sync")


def in_memory(P0, a, years, draws, chunk, sample=None):
    """The reference in this process, no cluster: every block, or ``sample`` blocks spread over the draws."""
    starts = list(range(0, draws, chunk))
    if sample is not None and sample < len(starts):
        starts = [starts[i] for i in np.linspace(0, len(starts) - 1, sample).round().astype(int)]
    return xr.concat([block_totals(P0, a, years, i, min(chunk, draws - i)) for i in starts], dim="draw")


def lazy_totals(P0, a, years, draws, chunk):
    import demokit as dk
    s = dk.simulate(a, draws=draws, seed=SEED, years=years, chunks=chunk)
    return dk.project(P0, s, years=years, components=False)["population"].sum(["sex", "age"]).transpose(
        "draw", "region", "year")


def _warm():
    import demokit as dk
    P0, a = central(3)
    block_totals(P0, a, [2021, 2022], 0, 2)
    dk.stochastic_model()
    return os.environ.get("NUMBA_NUM_THREADS")


def on_cluster(n_workers, P0, a, years, draws, chunk, runs, reference, graph=True):
    from dask.distributed import Client, LocalCluster, wait
    os.environ["NUMBA_NUM_THREADS"] = "1"      # one core per worker process (inherited by the workers)
    os.environ["PYTHONPATH"] = os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")])
    times = {"graph": [], "map": []} if graph else {"map": []}
    results = []
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit="4GiB") as cluster, Client(cluster) as client:
        threads = client.run(_warm)
        assert all(v == "1" for v in threads.values()), threads
        fa, fp = client.scatter([a, P0], broadcast=True)
        for _ in range(runs):
            if graph:
                t = time.perf_counter()
                g = lazy_totals(P0, a, years, draws, chunk).compute()
                times["graph"].append(time.perf_counter() - t)
                np.testing.assert_allclose(g.sel(draw=reference["draw"]).values, reference.values, rtol=1e-12,
                                           atol=0)
            cpu0 = client.run(time.process_time)
            t = time.perf_counter()
            futs = client.map(lambda i, aa, pp: block_totals(pp, aa, years, i, min(chunk, draws - i)),
                              list(range(0, draws, chunk)), aa=fa, pp=fp, pure=False)
            wait(futs)
            m = xr.concat(client.gather(futs), dim="draw")
            times["map"].append(time.perf_counter() - t)
            cpu1 = client.run(time.process_time)
            # the cores the workers actually got: their CPU seconds over the wall time
            times["map cores"] = sum(cpu1[w] - cpu0[w] for w in cpu1) / times["map"][-1]
            np.testing.assert_allclose(m.sel(draw=reference["draw"]).values, reference.values, rtol=1e-12, atol=0)
            results.append(m)
    return {k: float(np.median(v)) for k, v in times.items()}, results[-1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--regions", type=int, default=290)
    ap.add_argument("--years", type=int, default=30)
    ap.add_argument("--chunk", type=int, default=10, help="draws per task")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--sample", type=int, default=None,
                    help="check the cluster against this many in-memory blocks (default: all)")
    ap.add_argument("--no-graph", action="store_true", help="time only client.map (not the dask graph)")
    args = ap.parse_args(argv)
    P0, a = central(args.regions)
    years = list(range(2021, 2021 + args.years))
    _warm()
    t = time.perf_counter()
    ref = in_memory(P0, a, years, args.draws, args.chunk, sample=args.sample)
    t_mem = time.perf_counter() - t
    print(f"{args.draws} draws x {args.regions} regions x {args.years} years, {args.chunk} draws a task; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"in memory (this process, {ref.sizes['draw']} draws): {t_mem:.2f} s", flush=True)
    res, full, seq = {}, {}, []
    for n in [int(x) for x in args.workers.split(",")]:   # e.g. "1,2,1,2": alternate on a shared machine
        t, full[n] = on_cluster(n, P0, a, years, args.draws, args.chunk, args.runs, ref, graph=not args.no_graph)
        seq.append((n, t))
        res.setdefault(n, []).append(t)
        print(f"{n} worker(s): " + ", ".join(f"{k} {v:.2f}" + ("" if "cores" in k else " s") for k, v in t.items())
              + f" (same numbers as in memory); load average {os.getloadavg()[0]:.2f}", flush=True)
    res = {n: {k: float(np.median([t[k] for t in ts])) for k in ts[0]} for n, ts in res.items()}
    if len(full) > 1:
        first = next(iter(full.values()))
        assert all(np.array_equal(first.values, v.values) for v in full.values()), "workers disagree"
        print("all draws identical between the clusters (exact)")
    if 1 in res and 2 in res:
        for k in [k for k in res[1] if "cores" not in k]:
            print(f"speed-up 1 -> 2 workers ({k}, medians): {res[1][k] / res[2][k]:.2f}x")
    return ref, res


if __name__ == "__main__":
    main()
