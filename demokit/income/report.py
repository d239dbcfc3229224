"""``demokit income``: the adjustment on a person table → NetCDF, CSV and an HTML report (tables 5–12)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import xarray as xr

from .._output import to_csv, to_netcdf
from .._progress import Progress
from ..cube import DemokitError

__all__ = ["run", "add_parser", "cmd_income"]


def _fmt(v, nd=0):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    return f"{v:,.{nd}f}".replace(",", " ")


def _table(title, head, rows, note=""):
    h = "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    n = f"<p class='note'>{html.escape(note)}</p>" if note else ""
    return f"<h2>{html.escape(title)}</h2><table><tr>{h}</tr>{body}</table>{n}"


def run(micro, out, *, names=None, top=20) -> dict:
    """Compute every table for a person table and write them to ``out``; return the datasets.

    Writes ``csfvi_national``, ``csfvi_by_region``, ``cdisp_per_cu_by_region``,
    ``cdisp_per_cu_by_household_type``, ``cdisp_per_cu_by_birth``,
    ``ranking``, ``employment_rates`` (each ``.nc`` and ``.csv``) and
    ``report.html``.
    """
    from . import adjust_cross_border, employment_rates, household_income, ranking, statistics

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prog = Progress(6, "income")
    hh = household_income(adjust_cross_border(micro))
    prog.step("adjustment and households")
    nat = statistics(hh, income="csfvi", by=["sex"], ages={"20+": (20, None), "20-64": (20, 64)})
    nat_all = statistics(hh, income="csfvi", by=[], ages={"20+": (20, None), "20-64": (20, 64)})
    reg = statistics(hh, income="csfvi", by=["region"], ages={"20+": (20, None)})
    rk = ranking(reg, measure="median", age_group="20+")
    prog.step("sammanräknad förvärvsinkomst")
    cu_reg = statistics(hh, income="cdisp_per_cu", by=["region"], ages={"all": (0, None), "20+": (20, None)})
    cu_ht = statistics(hh, income="cdisp_per_cu", by=["household_type"],
                       ages={"all": (0, None), "20+": (20, None)})
    cu_birth = statistics(hh, income="cdisp_per_cu", by=["birth_region", "years_in_sweden"],
                          ages={"20+": (20, None)})
    prog.step("disposable income per consumption unit")
    rates = employment_rates(hh)
    prog.step("employment rates")
    results = {"csfvi_national": xr.concat([nat_all.expand_dims(sex=["all"]), nat], dim="sex",
                                           data_vars="minimal", coords="minimal"),
               "csfvi_by_region": reg, "cdisp_per_cu_by_region": cu_reg,
               "cdisp_per_cu_by_household_type": cu_ht, "cdisp_per_cu_by_birth": cu_birth,
               "ranking": rk, "employment_rates": rates.to_dataset()}
    for name, ds in results.items():
        to_netcdf(ds, out / f"{name}.nc")
        to_csv(ds, out / f"{name}.csv")
    prog.step("NetCDF and CSV")
    (out / "report.html").write_text(_html(hh, results, names or {}, top), encoding="utf-8")
    prog.step("HTML report")
    return results


def _html(hh, r, names, top):
    parts = []
    n_comm = int((hh["foreign_country"].astype(str) != "").sum())
    rule_counts = hh["adjustment_rule"].value_counts()
    parts.append(_table("Adjustment rules applied (report §7.1)", ["rule", "persons"],
                        [[k, _fmt(float(v))] for k, v in rule_counts.items() if k != "none"],
                        f"{n_comm} persons with a wage in Denmark or Norway."))
    nat = r["csfvi_national"]
    head = ["measure"] + [f"{s} {a}" for s in nat["sex"].values for a in nat["age_group"].values]
    for unit, suffix, nd in (("kronor", "_diff", 0), ("per cent", "_diff_pct", 1)):
        rows = []
        for m, lab in (("median", "Median"), ("mean", "Mean")):
            rows.append([lab] + [_fmt(float(nat[m + suffix].sel(sex=s, age_group=a)), nd)
                                 for s in nat["sex"].values for a in nat["age_group"].values])
        for d in range(1, 11):
            rows.append([f"Decile group {d}, mean"] + [
                _fmt(float(nat["decile_mean" + suffix].sel(sex=s, age_group=a, decile=d)), nd)
                for s in nat["sex"].values for a in nat["age_group"].values])
        for m, lab in (("top5_mean", "Top 5 %, mean"), ("top1_mean", "Top 1 %, mean")):
            rows.append([lab] + [_fmt(float(nat[m + suffix].sel(sex=s, age_group=a)), nd)
                                 for s in nat["sex"].values for a in nat["age_group"].values])
        parts.append(_table(f"Sammanräknad förvärvsinkomst: adjusted − official, {unit} (tables 5–6)",
                            head, rows, "Helårsbefolkningen."))
    reg, rk = r["csfvi_by_region"], r["ranking"]
    pct = reg["median_diff_pct"].sel(age_group="20+").to_series().dropna().sort_values(ascending=False)
    rows = []
    for code in pct.index[:top]:
        o = float(reg["median"].sel(version="official", region=code, age_group="20+"))
        a = float(reg["median"].sel(version="adjusted", region=code, age_group="20+"))
        ro = int(rk["rank"].sel(version="official", region=code))
        ra = int(rk["rank"].sel(version="adjusted", region=code))
        rows.append([f"{code} {names.get(code, '')}".strip(), _fmt(o), _fmt(a), _fmt(a - o), _fmt(pct[code], 1),
                     f"{ro} → {ra}"])
    parts.append(_table("Kommuner with the largest change of the median sammanräknad förvärvsinkomst "
                        "(table 8, with the ranking)",
                        ["kommun", "median, official", "median, adjusted", "difference, kr", "difference, %",
                         "rank (1 = highest)"], rows, "Helårsbefolkningen 20 years and older."))
    ht = r["cdisp_per_cu_by_household_type"]
    rows = []
    for t in ht["household_type"].values:
        for a in ht["age_group"].values:
            sel = dict(household_type=t, age_group=a)
            rows.append([f"{t} ({a})", _fmt(float(ht["median_diff"].sel(**sel))),
                         _fmt(float(ht["median_diff_pct"].sel(**sel)), 1),
                         _fmt(100 * float(ht["low_income_share"].sel(version="official", **sel)), 1),
                         _fmt(100 * float(ht["low_income_share"].sel(version="adjusted", **sel)), 1),
                         _fmt(float(ht["low_income_share_diff"].sel(**sel)), 2)])
    parts.append(_table("Disposable income per consumption unit by household type (tables 9–10)",
                        ["household type", "median diff, kr", "median diff, %", "low standard %, official",
                         "low standard %, adjusted", "diff, percentage points"], rows,
                        "Low economic standard: below 60 % of the median of all persons."))
    b = r["cdisp_per_cu_by_birth"]
    rows = []
    for br in b["birth_region"].values:
        for y in b["years_in_sweden"].values:
            n = float(b["persons"].sel(version="official", birth_region=br, years_in_sweden=y, age_group="20+"))
            if n == 0:
                continue
            sel = dict(birth_region=br, years_in_sweden=y, age_group="20+")
            rows.append([f"{br}, {y}", _fmt(100 * float(b["low_income_share"].sel(version="official", **sel)), 1),
                         _fmt(100 * float(b["low_income_share"].sel(version="adjusted", **sel)), 1),
                         _fmt(float(b["low_income_share_diff"].sel(**sel)), 1)])
    parts.append(_table("Low economic standard by birth region and years in Sweden (table 11)",
                        ["birth region, years in Sweden", "official %", "adjusted %", "diff, percentage points"],
                        rows, "Helårsbefolkningen 20 years and older."))
    cu = r["cdisp_per_cu_by_region"]
    d = cu["low_income_share_diff"].sel(age_group="20+").to_series().dropna().sort_values()
    rows = [[f"{c} {names.get(c, '')}".strip(),
             _fmt(100 * float(cu["low_income_share"].sel(version="official", region=c, age_group="20+")), 1),
             _fmt(100 * float(cu["low_income_share"].sel(version="adjusted", region=c, age_group="20+")), 1),
             _fmt(d[c], 1)] for c in d.index[:top]]
    parts.append(_table("Kommuner with the largest change of the low-income share (table 12)",
                        ["kommun", "official %", "adjusted %", "diff, percentage points"], rows,
                        "Helårsbefolkningen 20 years and older."))
    er = r["employment_rates"]["employment_rate"]
    persons = hh.loc[hh["registered_dec31"]]
    w = persons.groupby(["region", "sex", "age"], observed=False).size()
    rows = []
    for code in pct.index[:10]:
        sel = er.sel(region=code, age=slice(20, 64))
        ww = xr.DataArray.from_series(w).sel(region=code, age=slice(20, 64)).reindex_like(sel).fillna(0)
        o = float((sel.sel(version="official") * ww).sum() / ww.sum())
        a = float((sel.sel(version="adjusted") * ww).sum() / ww.sum())
        rows.append([f"{code} {names.get(code, '')}".strip(), _fmt(100 * o, 1), _fmt(100 * a, 1),
                     _fmt(100 * (a - o), 1)])
    parts.append(_table("Förvärvsintensitet 20–64 years (AMPAK), official and with commuters as employed",
                        ["kommun", "official %", "adjusted %", "diff, percentage points"], rows,
                        f"Employed: arbetsinkomst above the basbelopp ({er.attrs['basbelopp']:,.0f} kr)."))
    src = html.escape(str(hh.attrs.get("source", "")))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Income statistics with cross-border commuters</title>
<style>body{{font-family:sans-serif;max-width:72em;margin:2em auto}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}td:first-child{{text-align:left}}
.note{{color:#555;font-size:90%}}</style></head><body>
<h1>Income statistics: official vs adjusted for cross-border commuters</h1>
<p>Method: SCB (2015), <i>Gränspendlingens effekt på den officiella inkomststatistiken</i>, §7–8;
definitions in demokit's docs/METHODS.md ("Income and labour-market tables"). Data: {src}.</p>
{''.join(parts)}
</body></html>"""


def cmd_income(args) -> int:
    from ..datasets import kommuner, synthetic_register
    from ._schema import read_persons

    if args.demo:
        micro = synthetic_register(args.persons, seed=args.seed)
        out = Path(args.out or "income-demo")
    else:
        if not args.persons_file:
            raise DemokitError("give a person table (parquet) or --demo")
        micro = read_persons(args.persons_file)
        out = Path(args.out or "income-output")
    names = dict(zip(kommuner()["region"], kommuner()["name"]))
    run(micro, out, names=names)
    print(f"wrote {out}/report.html and the tables (NetCDF, CSV)")
    return 0


def add_parser(sub) -> None:
    """Add ``income`` to the CLI's sub-commands."""
    p = sub.add_parser("income", help="income and labour-market tables with the cross-border commuter adjustment",
                       description="Adjust register incomes for wages earned in Denmark and Norway (SCB 2015, "
                                   "§7), recompute households and helårsbefolkningen, and write the income "
                                   "tables (NetCDF, CSV) and an HTML report like the report's tables 5-12.")
    p.add_argument("persons_file", nargs="?", metavar="PERSONS.parquet",
                   help="person table (parquet file or directory; columns in docs/METHODS.md)")
    p.add_argument("--demo", action="store_true", help="use a synthetic register (not real data)")
    p.add_argument("--persons", type=int, default=300_000, help="persons in the synthetic register (--demo)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic register (--demo)")
    p.add_argument("--out", metavar="DIR", help="output folder (default income-demo / income-output)")
    p.set_defaults(func=cmd_income)
