"""Benchmark: the forecast's outputs — history_series (vectorised over years vs a loop), the council
table, forecast.xlsx and report.html — on the demo forecast (5 kommuner, 3 scenarios, 2020–2044).

JIT warm-up first (one demo run), then the median of several runs.  CPU time of this process
(``time.process_time``) as well as wall time, since the 2-core machine is often shared.

    python benchmarks/bench_report.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import xarray as xr

import demokit as dk
from demokit import forecast_job as fj


def history_loop(ds, years):
    """The first version: one pooled-rate and one life-table call per year (a Python loop)."""
    pooled = dk.regions.pool(ds)
    t, e = [], []
    for y in years:
        t.append(float(dk.tfr(dk.fertility_rates(pooled, years=[y]))))
        m = dk.death_rates(pooled, years=[y], open_age=90)
        e.append(dk.life_table(m)["ex"].isel(age=0, drop=True))
    return t, xr.concat(e, dim="year")


def timed(fn, repeat):
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if os.environ.get("DEMOKIT_NUMBA_CACHE") is None:
        from demokit._kernels._jit import enable_disk_cache

        enable_disk_cache()
    cfg = fj.check_config(copy.deepcopy(fj.DEMO_CONFIG), source="demo")
    out = Path(tempfile.mkdtemp())
    res = fj.run(cfg, out)                          # warm-up: compiles every kernel
    ds = res["data"]
    years = list(range(2007, 2020))
    history_loop(ds, years)
    rows = {
        "history_series, 13 years, vectorised": lambda: fj.history_series(ds),
        "history, 13 years, loop over years": lambda: history_loop(ds, years),
        "forecast_table (+ observed base year)": lambda: dk.forecast_table(res["projection"], observed=ds),
        "write_outputs, all files (en)": lambda: fj.write_outputs(
            out, cfg=cfg, data=ds, assumptions=res["assumptions"], projection=res["projection"],
            labour=res["labour"], history=res["history"], lang="en"),
    }
    from demokit.report import write_report

    rows["report.html alone"] = lambda: write_report(
        out / "r.html", data=ds, projection=res["projection"], assumptions=res["assumptions"],
        labour=res["labour"], history=res["history"], config=cfg, table=res["table"],
        assumed_tfr=fj.pooled_tfr(res["assumptions"],
                                  ds["population"].sel(year=res["projection"].attrs["base_year"], sex="female")))
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; median of {args.repeat}")
    for name, fn in rows.items():
        w, c = timed(fn, args.repeat)
        print(f"| {name} | {w:.3f} s | {c:.3f} s |")


if __name__ == "__main__":
    main()
