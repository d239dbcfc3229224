"""The statistical basis for a population forecast of Luleå, 2015–2019.

SCB sells municipalities a "Statistikunderlag för befolkningsprognoser": fertility
rates, death and out-migration risks with indices against the country, in- and
out-movers in relative numbers, observed and smoothed.  This example builds it
from the embedded SCB data for five Norrbotten municipalities (Luleå, Piteå,
Boden, Älvsbyn, Kalix), with their sum as the reference ("= 100") because the
national cube is not embedded; pass ``--reference others`` to compare Luleå
with the other four only.

    python examples/statistical_basis_lulea.py [--reference five|others] [--plot lulea.png]
"""

from __future__ import annotations

import argparse

import numpy as np

import demokit as dk


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", choices=["five", "others"], default="five")
    ap.add_argument("--plot", metavar="PNG", help="save a figure of Luleå's schedules")
    args = ap.parse_args()

    ds = dk.datasets.load("norrbotten")
    years = range(2015, 2020)
    if args.reference == "five":
        sb = dk.statistical_basis(ds, years=years)            # reference: the five municipalities
    else:
        others = ds.sel(region=["2581", "2582", "2560", "2514"]).sum("region", keep_attrs=True)
        for v in ds.data_vars:
            others[v].attrs = dict(ds[v].attrs)
        others.attrs["title"] = "Piteå, Boden, Älvsbyn and Kalix"
        sb = dk.statistical_basis(ds.sel(region=["2580"]), years=years, reference=others)
    lulea = sb.sel(region="2580")

    print(f"Statistikunderlag för befolkningsprognoser — Luleå {sb.attrs['years']}")
    print(f"reference (= 100): {sb.attrs['reference']}")
    print(f"smoothing: {sb.attrs['smoothing']}\n")
    print(f"TFR observed {float(lulea.tfr):.3f}, smoothed {float(lulea.tfr_smoothed):.3f}; "
          f"mean age at childbirth {float(lulea.mean_age_at_childbirth):.1f}")
    for name, label in (("death_risk_index", "index of death risks"),
                        ("out_migration_index", "index of out-migration risks")):
        print(f"{label:30s} {float(lulea[name]):6.1f}  (95% CI {float(lulea[name + '_lower']):.1f}–"
              f"{float(lulea[name + '_upper']):.1f})")

    print("\nOut-migration risks per 1,000 (age at the end of the year), women and men:")
    print(" age   observed F  smoothed F   observed M  smoothed M")
    for age in (0, 5, 10, 16, 18, 19, 20, 22, 25, 30, 35, 40, 50, 65, 80):
        r = lulea.sel(age=age)
        print(f"{age:4d}   {1000 * float(r.out_migration_risk.sel(sex='female')):9.1f}"
              f"  {1000 * float(r.out_migration_risk_smoothed.sel(sex='female')):10.1f}"
              f"   {1000 * float(r.out_migration_risk.sel(sex='male')):10.1f}"
              f"  {1000 * float(r.out_migration_risk_smoothed.sel(sex='male')):10.1f}")

    print("\nFertility rates per 1,000 women (mother's age at the end of the year):")
    for age in range(18, 46, 3):
        print(f"{age:4d}   observed {1000 * float(lulea.fertility_rate.sel(age=age)):6.1f}"
              f"   smoothed {1000 * float(lulea.fertility_rate_smoothed.sel(age=age)):6.1f}")

    im = lulea.in_migrant_index_smoothed
    young = float(im.sel(age=slice(19, 24)).mean())
    print(f"\nIndex of in-movers (smoothed), mean over ages 19–24: {young:.0f} "
          "(above 100: Luleå's in-movers are younger than the reference's — students)")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(2, 2, figsize=(11, 8))
        for sex, c in (("female", "C3"), ("male", "C0")):
            r = lulea.sel(sex=sex)
            ax[0, 0].plot(r.age, r.out_migration_risk, ".", color=c, alpha=0.5)
            ax[0, 0].plot(r.age, r.out_migration_risk_smoothed, "-", color=c, label=sex)
            ax[0, 1].semilogy(r.age, r.death_risk.where(r.death_risk > 0), ".", color=c, alpha=0.5)
            ax[0, 1].semilogy(r.age, r.death_risk_smoothed, "-", color=c, label=sex)
            ax[1, 1].plot(r.age, r.in_migrants_per_mille, ".", color=c, alpha=0.5)
            ax[1, 1].plot(r.age, r.in_migrants_per_mille_smoothed, "-", color=c, label=sex)
        ax[1, 0].plot(lulea.age, lulea.fertility_rate, ".k", alpha=0.5)
        ax[1, 0].plot(lulea.age, lulea.fertility_rate_smoothed, "-k")
        ax[1, 0].set_xlim(14, 50)
        for a, t in zip(ax.ravel(), ("out-migration risk", "death risk", "fertility rate",
                                     "in-movers per mille")):
            a.set_title(f"Luleå {sb.attrs['years']}: {t}")
            a.set_xlabel("age at the end of the year")
        ax[0, 0].legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"\nfigure saved to {args.plot}")
    return sb


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
