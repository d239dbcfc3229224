"""Benchmark: reading one SCB population table (all 290 kommuner) in each supported format.

A synthetic table (kommuner × 4 civil statuses × 101 ages × 2 sexes × T years of random counts) is
written as SCB's code-based PX-Web CSV, as the labelled web download (';', Windows-1252), as a
JSON-stat2 response and as a .px file; each is read to the cube, and the times are compared with
the code-based reader (``read_pxweb_csv``) and with a plain pandas read (``read_csv`` + groupby,
no checks) in the same run.  Median of several runs after one warm-up run.

    python benchmarks/bench_readers.py [--years 3] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import demokit as dk


def write_table(d: Path, years: list[int], seed: int = 0) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    t = dk.io.region_table()
    kommuner = t[t["kind"] == "municipality"]
    codes, names = kommuner["code"].tolist(), kommuner["name"].tolist()
    civ = {"OG": "ogifta", "G": "gifta", "ÄNKL": "änkor/änklingar", "SK": "skilda"}
    ages = [str(a) for a in range(100)] + ["100+"]
    shape = (len(codes), len(civ), len(ages), 2, len(years))
    vals = rng.integers(0, 500, shape)
    idx = pd.MultiIndex.from_product([codes, list(civ), ages, ["1", "2"]],
                                     names=["Region", "Civilstand", "Alder", "Kon"])
    flat = vals.reshape(-1, len(years))
    code = pd.DataFrame(flat, index=idx, columns=[f"BE0101N1 {y}" for y in years]).reset_index()
    paths = {"pxweb_csv": d / "code.csv", "labelled_csv": d / "labelled.csv", "jsonstat": d / "t.json",
             "px": d / "t.px"}
    code.to_csv(paths["pxweb_csv"], index=False)
    name_of = dict(zip(codes, names))
    lab = pd.DataFrame({"region": code["Region"] + " " + code["Region"].map(name_of),
                        "civilstånd": code["Civilstand"].map(civ), "ålder": code["Alder"] + " år",
                        "kön": code["Kon"].map({"1": "män", "2": "kvinnor"})})
    for y in years:
        lab[str(y)] = code[f"BE0101N1 {y}"]
    with open(paths["labelled_csv"], "w", encoding="cp1252", newline="") as fh:
        fh.write('"Folkmängd efter region, civilstånd, ålder, kön och år"\r\n\r\n')
        lab.to_csv(fh, sep=";", index=False)
    dims = [("Region", codes), ("Civilstand", list(civ)), ("Alder", ages), ("Kon", ["1", "2"]),
            ("ContentsCode", ["BE0101N1"]), ("Tid", [str(y) for y in years])]
    doc = {"version": "2.0", "class": "dataset", "id": [k for k, _ in dims], "size": [len(c) for _, c in dims],
           "dimension": {k: {"category": {"index": c}} for k, c in dims}, "value": vals.ravel().tolist()}
    paths["jsonstat"].write_text(json.dumps(doc))
    q = lambda xs: ",".join(f'"{x}"' for x in xs)  # noqa: E731
    px = ['CHARSET="ANSI";', 'CONTENTS="Folkmängd";', 'STUB="region","civilstånd","ålder","kön";',
          'HEADING="år";', f'VALUES("region")={q(names)};', f'CODES("region")={q(codes)};',
          f'VALUES("civilstånd")={q(civ.values())};', f'VALUES("ålder")={q(a + " år" for a in ages)};',
          'VALUES("kön")="män","kvinnor";', f'VALUES("år")={q(years)};', "DATA="]
    body = "\n".join(" ".join(map(str, row)) for row in flat)
    paths["px"].write_bytes(("\n".join(px) + "\n" + body + ";\n").encode("cp1252"))
    return paths


def pandas_reference(path: Path) -> np.ndarray:
    df = pd.read_csv(path, dtype={"Region": str, "Alder": str, "Kon": str})
    return df.drop(columns="Civilstand").groupby(["Region", "Kon", "Alder"], sort=True).sum().to_numpy()


def timed(fn, repeat):
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    years = list(range(2019 - args.years + 1, 2020))
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_table(Path(tmp), years)
        ref = dk.io.read_pxweb_csv(paths["pxweb_csv"])
        for fmt in ("labelled_csv", "jsonstat", "px"):
            got = dk.io.read([paths[fmt]])
            xr.testing.assert_equal(got["population"], ref["population"])
        cells = ref["population"].size * 4
        print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; 290 kommuner × 4 × 101 × 2 "
              f"× {len(years)} years = {cells:,} cells; median of {args.repeat}")
        base = timed(lambda: dk.io.read_pxweb_csv(paths["pxweb_csv"]), args.repeat)
        plain = timed(lambda: pandas_reference(paths["pxweb_csv"]), args.repeat)
        print(f"  {'pandas read_csv + groupby (no checks)':<40} {plain:7.2f} s")
        print(f"  {'read_pxweb_csv (code-based)':<40} {base:7.2f} s")
        for fmt, fn in (("labelled_csv", dk.io.read_labelled_csv), ("jsonstat", dk.io.read_jsonstat),
                        ("px", dk.io.read_px)):
            t = timed(lambda: fn(paths[fmt]), args.repeat)
            print(f"  {fn.__name__:<40} {t:7.2f} s  ({t / base:.1f}× read_pxweb_csv, {t / plain:.1f}× pandas)")


if __name__ == "__main__":
    main()
