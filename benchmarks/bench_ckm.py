"""Benchmark: the cell key method on 10 million person records.

Two tables, each tabulated and perturbed from the same 10,000,000 records:

A. kommun (290) × sex (2) × age (101), with all margins (291 × 3 × 102 cells);
B. DeSO (6,160) × sex (2) × 17 five-year age groups (209,440 cells).

Compared in the same run, on the same records with the same integer record keys
(0..255) and ONS's ``ptable_10_5_rule.csv``:

1. ``dk.ckm.perturb_counts`` (one Numba pass for counts and key sums, margins by
   summing the table, the ptable looked up by fancy indexing);
2. ONS's ``cell_key_perturbation.create_perturbed_table`` 3.1.0 (pandas groupby,
   pivot_table, merges) doing the same table (without margins, which it does not
   make: every margin is another call — the time for all 7 sub-tables of A is
   reported too, once).

demokit is also timed with uniform keys and a max-entropy ptable (D=3, V=2, js=1)
and with a Categorical column of DeSO codes (strings).  The script checks that
demokit's table equals ONS's cell for cell.  JIT warm-up first, median of 5 runs
(ONS: median of 3).

Usage: ``python benchmarks/bench_ckm.py [--n 10000000] [--ons-runs 3]``
(needs ``pip install cell-key-perturbation==3.1.0``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

import demokit as dk

PTABLE = Path(__file__).parents[1] / "tests" / "data" / "ckm" / "ptable_10_5_rule.csv.xz"


def median_time(f, n):
    """Median wall time, the wall times, the result, and the median CPU time (process_time).

    The machine is shared: CPU time is less disturbed by other processes than wall time.
    """
    ts, cs = [], []
    out = None
    for _ in range(n):
        c = time.process_time()
        t = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t)
        cs.append(time.process_time() - c)
    median_time.cpu = float(np.median(cs))
    return float(np.median(ts)), ts, out


def records(n, seed=1):
    rng = np.random.default_rng(seed)
    kommun_w = np.exp(rng.normal(0, 1.0, 290))
    deso_w = np.exp(rng.normal(0, 0.3, 6160))
    age = np.minimum(rng.gamma(2.2, 19, n).astype(np.int64), 100)
    return pd.DataFrame({
        "kommun": rng.choice(290, n, p=kommun_w / kommun_w.sum()).astype(np.int64),
        "deso": rng.choice(6160, n, p=deso_w / deso_w.sum()).astype(np.int64),
        "sex": rng.integers(1, 3, n),
        "age": age,
        "agegroup": np.minimum(age // 5, 16),
        "record_key": dk.ckm.record_keys(n, seed=seed, kind="integer", modulus=256),
        "ukey": dk.ckm.record_keys(n, seed=seed + 1),
    })


def ons_table(ons, df, ptable, by):
    with contextlib.redirect_stdout(io.StringIO()):
        t = ons(df, ptable, by[:1], by[1:], "record_key", threshold=10)
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ons-runs", type=int, default=3)
    args = ap.parse_args()
    from cell_key_perturbation.create_perturbed_table import create_perturbed_table as ons

    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, "
          f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}")
    t0 = time.perf_counter()
    df = records(args.n)
    print(f"{args.n:,} records generated in {time.perf_counter() - t0:.1f} s")
    ptable_frame = pd.read_csv(PTABLE)          # both get the same DataFrame (read once, outside the timings)
    ptable = ptable_frame
    maxent = dk.ckm.read_ptable(dk.ckm.max_entropy_ptable(D=3, V=2, js=1))
    small = df.iloc[:1000]
    dk.ckm.perturb_counts(small, by=["kommun", "sex", "age"], ptable=ptable, margins=True)   # JIT warm-up

    tables = {"A: kommun × sex × age, all margins": (["kommun", "sex", "age"], True),
              "B: DeSO × sex × age group": (["deso", "sex", "agegroup"], False)}
    rows = []
    for label, (by, margins) in tables.items():
        t_dk, ts, out = median_time(lambda: dk.ckm.perturb_counts(df, by=by, ptable=ptable, threshold=10,
                                                                   margins=margins), args.runs)
        c_dk = median_time.cpu
        t_u, _, _ = median_time(lambda: dk.ckm.perturb_counts(df, by=by, ptable=maxent, record_key="ukey",
                                                               margins=margins), args.runs)
        t_ons, ts_ons, ref = median_time(lambda: ons_table(ons, df, ptable_frame, by), args.ons_runs)
        c_ons = median_time.cpu
        # same numbers: demokit's table (without the margins) equals ONS's cell for cell
        inner = out.sel({d: out[d].values[:-1] for d in by}) if margins else out
        s = inner.to_series()
        exp = ref.set_index(by)["count"].astype("Float64").astype(float)
        assert len(exp) == s.size and np.array_equal(s.reindex(exp.index).to_numpy(), exp.to_numpy(),
                                                     equal_nan=True), label
        rows.append((label, out.size, t_dk, t_u, t_ons, c_dk))
        print(f"{label}: {out.size:,} cells; demokit {t_dk * 1e3:.0f} ms (runs {[round(t * 1e3) for t in ts]}), "
              f"uniform keys + max-entropy ptable {t_u * 1e3:.0f} ms; ONS {t_ons:.2f} s "
              f"(runs {[round(t, 2) for t in ts_ons]}); ratio {t_ons / t_dk:.0f}×; CPU time demokit "
              f"{c_dk * 1e3:.0f} ms, ONS {c_ons:.2f} s, ratio {c_ons / c_dk:.0f}×; equal cell for cell")

    # ONS needs one call per margin: the 7 sub-tables of A, once each
    t = time.perf_counter()
    c = time.process_time()
    dims = ["kommun", "sex", "age"]
    for r in (1, 2, 3):
        for kept in itertools.combinations(dims, r):
            ons_table(ons, df, ptable_frame, list(kept))
    t_all = time.perf_counter() - t
    c_all = time.process_time() - c
    print(f"A with all margins by ONS (7 calls): {t_all:.2f} s, ratio {t_all / rows[0][2]:.0f}×; "
          f"CPU {c_all:.2f} s, ratio {c_all / rows[0][5]:.0f}×")

    # DeSO codes as strings in a Categorical column
    codes = np.array([f"{k:04d}A{i:04d}" for k, i in zip(np.arange(6160) % 290 + 114, np.arange(6160))])
    df["deso_code"] = pd.Categorical.from_codes(df["deso"].to_numpy(), categories=codes)
    t_cat, _, _ = median_time(lambda: dk.ckm.perturb_counts(df, by=["deso_code", "sex", "agegroup"],
                                                             ptable=ptable), args.runs)
    print(f"B with DeSO as a Categorical of code strings: {t_cat * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
