"""Benchmark: register microdata → income tables with the cross-border commuter adjustment.

10 million persons (about 4.7 million households) from ``dk.datasets.synthetic_register``:
the adjustment (report §7.1–7.2), households, consumption units and helårsbefolkningen,
then every measure (persons, mean, median, P10, P90, decile-group means, top 5 % and 1 %
means, earners' median; low-income share for income per consumption unit) by
290 kommuner × 2 sexes × 3 age groups (all, 20+, 20–64), official and adjusted —
for sammanräknad förvärvsinkomst and for disposable income per consumption unit.

The same work is done in the same run by pandas (groupby + quantile + rank) and by
polars (group_by/over expressions).  Each contender runs in its own process (so that
its peak memory can be reported: ru_maxrss minus the RSS after loading the data);
the data are generated once and shared as a parquet file.  demokit: JIT warm-up on a
small register first, then the median of ``--repeat`` runs; pandas and polars: the
median of ``--repeat-others`` runs.

    python benchmarks/bench_income.py [--persons 10000000] [--repeat 3] [--repeat-others 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's demokit

AGES = {"all": (0, 200), "20+": (20, 200), "20-64": (20, 64)}
BY = ["region", "sex"]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    """Wall-clock and CPU (process) time of each step: ``with clock("step"): ...``."""

    def __init__(self):
        self.wall, self.cpu = {}, {}

    def __call__(self, name):
        clock = self

        class _Step:
            def __enter__(self):
                self.w, self.c = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                clock.wall[name] = time.perf_counter() - self.w
                clock.cpu[name] = time.process_time() - self.c

        return _Step()


# ------------------------------------------------------------------------------------------
# demokit
# ------------------------------------------------------------------------------------------

def demokit_work(df):
    import demokit as dk

    t = Clock()
    with t("adjust (incl. validation)"):
        a = dk.income.adjust_cross_border(df)
    with t("households, CU, helår"):
        h = dk.income.household_income(a)
    with t("statistics csfvi"):
        s1 = dk.income.statistics(h, income="csfvi", by=BY)
    with t("statistics cdisp_per_cu"):
        s2 = dk.income.statistics(h, income="cdisp_per_cu", by=BY)
    return t, (s1, s2)


# ------------------------------------------------------------------------------------------
# pandas: the same work, well vectorised (numpy for the rules, groupby for the rest)
# ------------------------------------------------------------------------------------------

def _adjust_numpy(country, F, T, dec, kuw, ku, csfvi, cdisp, danish_tax):
    F = np.where(country > 0, np.nan_to_num(F), 0.0)
    has = F > 0
    no_wage = (dec == 0) & (kuw == 0)
    within = np.abs(F + kuw - dec) <= 0.1 * dec * (1 + 1e-12)
    add = has & (no_wage | (~no_wage & (ku <= 1) & ~within) | (~no_wage & (ku == 2)))
    T = np.where(np.isnan(T) & add, danish_tax(F), T)
    net = np.where(add & (T <= F), F - np.nan_to_num(T), 0.0)
    return csfvi + np.where(add, F, 0.0), cdisp + net


def pandas_work(df):
    from demokit.income import DANISH_TAX_2012

    t = Clock()
    with t("adjust"):
        d = df
        csa, cda = _adjust_numpy(d["foreign_country"].cat.codes.to_numpy(), d["foreign_wage"].to_numpy(),
                                 d["foreign_tax"].to_numpy(), d["declared_wage"].to_numpy(), d["ku_wage"].to_numpy(),
                                 d["ku_type"].cat.codes.to_numpy(), d["csfvi"].to_numpy(), d["cdisp"].to_numpy(),
                                 DANISH_TAX_2012)
        d = d.assign(csfvi_adjusted=csa, cdisp_adjusted=cda)
    with t("households, CU, helår"):
        child = d["age"] <= 19
        g = d.assign(child=child, adult=~child).groupby("household")
        hs = g[["cdisp", "cdisp_adjusted", "child", "adult"]].transform("sum")
        a, c = hs["adult"].to_numpy(), hs["child"].to_numpy()
        a2 = np.where((a == 0) & (c > 0), 1, a)
        c2 = np.where((a == 0) & (c > 0), c - 1, c)
        cu = 1.0 * (a2 >= 1) + 0.51 * (a2 >= 2) + 0.6 * np.maximum(a2 - 2, 0) + 0.52 * (c2 >= 1) + 0.42 * np.maximum(c2 - 1, 0)
        reg = d["registered_jan1"] & d["registered_dec31"]
        d = d.assign(cdisp_per_cu=hs["cdisp"].to_numpy() / cu, cdisp_per_cu_adjusted=hs["cdisp_adjusted"].to_numpy() / cu,
                     full_year=reg & (hs["cdisp"] != 0), full_year_adjusted=reg & (hs["cdisp_adjusted"] != 0))
    for inc in ("csfvi", "cdisp_per_cu"):
        with t(f"statistics {inc}"):
            for col, pop in ((inc, "full_year"), (inc + "_adjusted", "full_year_adjusted")):
                thr = 0.6 * d.loc[d[pop], col].median() if inc == "cdisp_per_cu" else None
                for lo, hi in AGES.values():
                    x = d.loc[d[pop] & (d["age"] >= lo) & (d["age"] <= hi), BY + [col]]
                    gg = x.groupby(BY, observed=True)[col]
                    basic = gg.agg(["size", "mean"])
                    q = gg.quantile([0.1, 0.5, 0.9])
                    r = gg.rank(method="first").to_numpy()
                    n = gg.transform("size").to_numpy()
                    dec = np.ceil(10 * r / n)
                    dm = x.groupby(BY + [dec], observed=True)[col].mean()
                    t5 = x[r > 0.95 * n].groupby(BY, observed=True)[col].mean()
                    t1 = x[r > 0.99 * n].groupby(BY, observed=True)[col].mean()
                    em = x[x[col] > 0].groupby(BY, observed=True)[col].median()
                    if thr is not None:
                        low = (x[col] < thr).groupby([x["region"], x["sex"]], observed=True).mean()
    return t, (basic, q, dm, t5, t1, em, low if thr is not None else None)


# ------------------------------------------------------------------------------------------
# polars: the same work with expressions
# ------------------------------------------------------------------------------------------

def polars_work(pdf):
    import polars as pl
    from demokit.income import DANISH_TAX_2012

    t = Clock()
    with t("adjust"):
        F = pl.when(pl.col("foreign_country") != "").then(pl.col("foreign_wage").fill_nan(0.0)).otherwise(0.0)
        d = pdf.with_columns(F=F)
        no_wage = (pl.col("declared_wage") == 0) & (pl.col("ku_wage") == 0)
        within = (pl.col("F") + pl.col("ku_wage") - pl.col("declared_wage")).abs() <= 0.1 * pl.col("declared_wage") * (1 + 1e-12)
        ku = pl.col("ku_type")
        add = (pl.col("F") > 0) & (no_wage | (~no_wage & ku.is_in(["none", "swedish"]) & ~within) | (~no_wage & (ku == "ku14")))
        p = DANISH_TAX_2012
        w = pl.col("F") / p.sek_per_dkk
        flat = p.municipal_rate + p.health_rate + p.bottom_rate
        top = min(p.top_rate, max(0.0, p.tax_ceiling - flat))
        dktax = (p.am_rate * w + flat * (w * (1 - p.am_rate) - p.personal_allowance).clip(lower_bound=0)
                 + top * (w * (1 - p.am_rate) - p.top_threshold).clip(lower_bound=0)) * p.sek_per_dkk
        d = d.with_columns(add=add).with_columns(
            T=pl.when(pl.col("foreign_tax").is_nan() & pl.col("add")).then(dktax).otherwise(pl.col("foreign_tax")))
        d = d.with_columns(
            csfvi_adjusted=pl.col("csfvi") + pl.when(pl.col("add")).then(pl.col("F")).otherwise(0.0),
            cdisp_adjusted=pl.col("cdisp") + pl.when(pl.col("add") & (pl.col("T") <= pl.col("F")))
            .then(pl.col("F") - pl.col("T").fill_nan(0.0)).otherwise(0.0))
        d = d.collect() if isinstance(d, pl.LazyFrame) else d
    with t("households, CU, helår"):
        child = (pl.col("age") <= 19).cast(pl.Int64)
        d = d.with_columns(c=child.sum().over("household"), a=(1 - child).sum().over("household"),
                           hc=pl.col("cdisp").sum().over("household"),
                           hca=pl.col("cdisp_adjusted").sum().over("household"))
        a2 = pl.when((pl.col("a") == 0) & (pl.col("c") > 0)).then(1).otherwise(pl.col("a"))
        c2 = pl.when((pl.col("a") == 0) & (pl.col("c") > 0)).then(pl.col("c") - 1).otherwise(pl.col("c"))
        d = d.with_columns(a2=a2, c2=c2).with_columns(
            cu=1.0 * (pl.col("a2") >= 1) + 0.51 * (pl.col("a2") >= 2) + 0.6 * (pl.col("a2") - 2).clip(lower_bound=0)
            + 0.52 * (pl.col("c2") >= 1) + 0.42 * (pl.col("c2") - 1).clip(lower_bound=0))
        reg = pl.col("registered_jan1") & pl.col("registered_dec31")
        d = d.with_columns(cdisp_per_cu=pl.col("hc") / pl.col("cu"), cdisp_per_cu_adjusted=pl.col("hca") / pl.col("cu"),
                           full_year=reg & (pl.col("hc") != 0), full_year_adjusted=reg & (pl.col("hca") != 0))
    out = None
    for inc in ("csfvi", "cdisp_per_cu"):
        with t(f"statistics {inc}"):
            for col, pop in ((inc, "full_year"), (inc + "_adjusted", "full_year_adjusted")):
                thr = 0.6 * d.filter(pl.col(pop))[col].median() if inc == "cdisp_per_cu" else None
                for lo, hi in AGES.values():
                    x = d.filter(pl.col(pop) & (pl.col("age") >= lo) & (pl.col("age") <= hi)).select(BY + [col])
                    x = x.with_columns(r=pl.col(col).rank("ordinal").over(BY), n=pl.len().over(BY))
                    v = pl.col(col)
                    aggs = [pl.len().alias("persons"), v.mean().alias("mean"), v.quantile(0.1, "nearest").alias("p10"),
                            v.median().alias("median"), v.quantile(0.9, "nearest").alias("p90"),
                            v.filter(pl.col("r") > 0.95 * pl.col("n")).mean().alias("top5"),
                            v.filter(pl.col("r") > 0.99 * pl.col("n")).mean().alias("top1"),
                            v.filter(v > 0).median().alias("median_earners")]
                    if thr is not None:
                        aggs.append((v < thr).mean().alias("low"))
                    out = x.group_by(BY).agg(aggs)
                    dm = x.with_columns(dec=(10 * pl.col("r") / pl.col("n")).ceil()).group_by(BY + ["dec"]).agg(v.mean())
    return t, (out, dm)


# ------------------------------------------------------------------------------------------

def child(args):
    data = args.data
    if args.child == "polars":
        import polars as pl

        df = pl.read_parquet(data)
        df = df.with_columns([pl.col(c).cast(pl.Utf8) for c in ("region", "sex", "ku_type", "foreign_country")])
    else:
        df = pd.read_parquet(data)
    base = rss_mb()
    runs = []
    if args.child == "demokit":
        import demokit as dk

        small = dk.datasets.synthetic_register(20_000, seed=1)
        demokit_work(small)      # JIT warm-up
        for _ in range(args.repeat):
            runs.append(demokit_work(df)[0])
    elif args.child == "pandas":
        for _ in range(args.repeat_others):
            runs.append(pandas_work(df)[0])
    else:
        for _ in range(args.repeat_others):
            runs.append(polars_work(df)[0])
    res = {}
    for kind in ("wall", "cpu"):
        d = [getattr(r, kind) for r in runs]
        med = {k: statistics.median(x[k] for x in d) for k in d[0]}
        med["total"] = statistics.median(sum(x.values()) for x in d)
        res[kind] = med
    print(json.dumps({"times": res, "peak_mb": peak_mb() - base, "runs": len(runs),
                      "loadavg": os.getloadavg()[0]}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--repeat-others", type=int, default=1)
    ap.add_argument("--child", choices=["demokit", "pandas", "polars"])
    ap.add_argument("--data")
    ap.add_argument("--only", default="demokit,pandas,polars")
    args = ap.parse_args()
    if args.child:
        return child(args)
    import demokit as dk

    tmp = Path(tempfile.mkdtemp(prefix="bench_income_"))
    data = tmp / "register.parquet"
    t0 = time.perf_counter()
    df = dk.datasets.synthetic_register(args.persons, seed=2012)
    gen = time.perf_counter() - t0
    hh = df["household"].nunique()
    df.to_parquet(data)
    del df
    print(f"# {args.persons:,} persons in {hh:,} households (generated in {gen:.1f} s); "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    res = {}
    for who in args.only.split(","):
        cmd = [sys.executable, __file__, "--child", who, "--data", str(data), "--repeat", str(args.repeat),
               "--repeat-others", str(args.repeat_others)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{who} failed:\n{out.stderr[-2000:]}")
            continue
        res[who] = json.loads(out.stdout.strip().splitlines()[-1])
        r = res[who]
        print(f"\n{who} (median of {r['runs']}; peak memory above the loaded data: {r['peak_mb']:,.0f} MB; "
              f"load average {r['loadavg']:.1f})")
        print(f"  {'step':<28} {'wall s':>8} {'CPU s':>8}")
        for k, v in r["times"]["wall"].items():
            print(f"  {k:<28} {v:8.2f} {r['times']['cpu'][k]:8.2f}")
    if "demokit" in res:
        for who in ("pandas", "polars"):
            if who in res:
                w = res[who]["times"]["wall"]["total"] / res["demokit"]["times"]["wall"]["total"]
                c = res[who]["times"]["cpu"]["total"] / res["demokit"]["times"]["cpu"]["total"]
                print(f"demokit vs {who}: {w:.1f}x faster (wall), {c:.1f}x less CPU")
    for p in tmp.iterdir():
        p.unlink()
    tmp.rmdir()


if __name__ == "__main__":
    main()
