"""The Finance Ministry's question: a scenario matrix with uncertainty, for Sweden and its counties.

From the embedded SCB county data (21 counties, 1968–2015): assumptions from
2011–2015 with Sweden's Lee–Carter mortality trend, a 3 × 3 × 3 matrix of
fertility × mortality × migration variants, and 500 stochastic draws around the
central variant (TFR AR(1), e0 random walk, net migration AR(1); METHODS §14).
Prints the national population, labour-force ages (20–64), employed and economic
dependency ratio in 2025 and 2045 (quantiles), and per county the 90 % interval of
the population in 2045; ``--html`` writes fan charts.

    python examples/stochastic_counties.py [--draws 500] [--seed 2026] [--html fan.html]
"""

from __future__ import annotations

import argparse

import numpy as np
import xarray as xr

import demokit as dk

YEARS = list(range(2016, 2046))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--html", default=None)
    args = ap.parse_args(argv)
    ds = dk.datasets.load("sweden_counties")
    a = dk.Assumptions.from_history(ds, years=range(2011, 2016), projection_years=YEARS,
                                    mortality_trend="lee_carter")
    base = ds["population"].sel(year=2015)
    # the matrix: every combination of the variants, deterministic
    m = dk.scenario_matrix(a, fertility={"F-low": 0.85, "F-main": 1.0, "F-high": 1.15},
                           mortality={"M-high": 1.15, "M-main": 1.0, "M-low": 0.85},
                           migration={"G-low": 0.5, "G-main": 1.0, "G-high": 1.5})
    pm = dk.project(base, m, years=YEARS, components=False)["population"].sum(["region", "sex", "age"])
    print("Population of Sweden in 2045 by scenario (millions):")
    for s, v in zip(pm["scenario"].values, pm.sel(year=2045).values):
        print(f"  {s:24s} {v / 1e6:6.2f}")
    # uncertainty around the central variant
    rates = xr.DataArray(np.where((np.arange(101) >= 20) & (np.arange(101) <= 64), 0.8, 0.0)[None, :]
                         * np.array([[0.96], [1.0]]), dims=("sex", "age"),
                         coords={"sex": ["female", "male"], "age": np.arange(101)})   # illustrative rates
    s = dk.simulate(a, draws=args.draws, seed=args.seed, years=YEARS, chunks=50)
    p = dk.project(base, s, years=YEARS, components=False)
    T = dk.stochastic.draw_totals(p, employment_rates=rates)
    q = [0.05, 0.25, 0.5, 0.75, 0.95]
    nat = dk.stochastic.quantiles_of(T.sum("region"), q)
    print("\nSweden, quantiles over draws:")
    print(nat.sel(year=[2025, 2045]).to_dataframe().round(3).to_string())
    cty = dk.stochastic.quantiles_of(T, [0.05, 0.5, 0.95])["population"].sel(year=2045)
    print("\nCounties, population 2045: 5 % / median / 95 %")
    for r in cty["region"].values:
        v = cty.sel(region=r).values
        print(f"  {r} {str(ds['region_name'].sel(region=r).item()):16s} {v[0]:10,.0f} {v[1]:10,.0f} {v[2]:10,.0f}")
    if args.html:
        from demokit._report_stochastic import stochastic_section
        nat.attrs.update(seed=args.seed, scenario="central")
        with open(args.html, "w", encoding="utf-8") as f:
            f.write("<!DOCTYPE html><html><body>" + stochastic_section(nat) + "</body></html>")
        print(f"\nwrote {args.html}")


if __name__ == "__main__":
    main()
