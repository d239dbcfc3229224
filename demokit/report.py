"""A self-contained HTML report of a forecast (figures embedded as PNG, made with matplotlib)."""

from __future__ import annotations

import base64
import html
import io
from datetime import date
from pathlib import Path

import numpy as np
import xarray as xr

from . import __version__

__all__ = ["write_report"]

_COLORS = {"low": "#4c72b0", "main": "#222222", "high": "#c44e52"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _color(s, i):
    return _COLORS.get(str(s), f"C{i}")


def _pyramid(base: xr.DataArray, horizon: xr.DataArray, base_year: int, last_year: int, title: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 5.5))
    ages = base["age"].values
    for pop, year, style in ((base, base_year, dict(color="#bbbbbb", label=f"{base_year}")),
                             (horizon, last_year, dict(color="none", edgecolor="#222222", label=f"{last_year}"))):
        ax.barh(ages, -pop.sel(sex="male").values, height=1.0, **style)
        style = dict(style)
        style.pop("label")
        ax.barh(ages, pop.sel(sex="female").values, height=1.0, **style)
    m = float(max(abs(base).max(), abs(horizon).max())) * 1.05
    ax.set_xlim(-m, m)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_ylabel("age")
    ax.set_xlabel("persons (men left, women right)")
    ticks = ax.get_xticks()
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{abs(t):,.0f}" for t in ticks])
    ax.set_title(title)
    ax.legend(loc="upper right", frameon=False)
    return _png(fig)


def _components(hist_bal: xr.Dataset | None, proj: xr.Dataset, scenario) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    p = proj.sel(scenario=scenario).sum(["region", "sex", "age"])
    series = {"births": p["births"], "deaths": p["deaths"],
              "net migration": p["in_migration"] - p["out_migration"] + p["immigration"] - p["emigration"]}
    colors = {"births": "#55a868", "deaths": "#c44e52", "net migration": "#4c72b0"}
    for k, v in series.items():
        ax.plot(v["year"], v.values, color=colors[k], lw=2, label=f"{k} (projected, {scenario})")
    if hist_bal is not None:
        h = hist_bal.sum(["region", "sex", "age"] if "age" in hist_bal["deaths"].dims else ["region", "sex"])
        hb = hist_bal["births"].sum([d for d in hist_bal["births"].dims if d != "year"])
        hist = {"births": hb, "deaths": h["deaths"],
                "net migration": h["in_migration"] - h["out_migration"] + h["immigration"] - h["emigration"]}
        for k, v in hist.items():
            ax.plot(v["year"], v.values, color=colors[k], lw=1.2, ls="--")
        ax.axvline(float(hist_bal["year"].values[-1]) + 0.5, color="grey", lw=0.8)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel("persons per year")
    ax.set_title("Components of change (dashed: observed)")
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def _set_tfr(assumptions, women: xr.DataArray) -> xr.DataArray:
    """TFR of the set of regions: the regions' rates weighted by the women of each age (base year)."""
    f = assumptions["fertility"]
    if "region" not in f.dims:
        return f.sum("age")
    w = women.sel(region=f["region"]).reindex(age=f["age"].values, fill_value=0.0)
    pooled = (f * w).sum("region") / w.sum("region").where(w.sum("region") > 0)
    return pooled.fillna(0.0).sum("age")


def _assumption_paths(history: xr.Dataset, assumptions, years, women: xr.DataArray) -> str:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    tfr = _set_tfr(assumptions, women)
    e0 = assumptions.attrs["life_expectancy"]
    yrs = xr.DataArray(list(years), dims="year", coords={"year": list(years)})
    tfr = tfr.broadcast_like(yrs) if "year" not in tfr.dims else tfr
    e0 = e0.broadcast_like(yrs) if "year" not in e0.dims else e0
    ax = axes[0]
    ax.plot(history["year"], history["tfr"], "o-", color="grey", label="observed")
    scen = tfr["scenario"].values.tolist() if "scenario" in tfr.dims else [None]
    for i, s in enumerate(scen):
        v = tfr.sel(scenario=s) if s is not None else tfr
        v = v.mean([d for d in v.dims if d != "year"]) if v.ndim > 1 else v
        ax.plot(v["year"], v.values, color=_color(s, i), lw=2, label=str(s or "assumed"))
    ax.set_title("Total fertility rate, all regions (children per woman)", fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    ax = axes[1]
    for j, sex in enumerate(("female", "male")):
        ax.plot(history["year"], history["e0"].sel(sex=sex), "o-", color="grey", ms=3,
                label="observed" if j == 0 else None)
        v = e0.sel(sex=sex)
        if "scenario" in v.dims:
            for i, s in enumerate(v["scenario"].values.tolist()):
                ax.plot(v["year"], v.sel(scenario=s).values, color=_color(s, i), lw=2,
                        ls="-" if sex == "female" else ":", label=f"{s} {sex}")
        else:
            ax.plot(v["year"], v.values, color="black", lw=2, ls="-" if sex == "female" else ":",
                    label=f"assumed {sex}")
    ax.set_title("Life expectancy at birth (years)")
    ax.legend(frameon=False, fontsize=7, ncol=2)
    return _png(fig)


def _scenarios(proj: xr.Dataset, labour, base_total: float, base_year: int) -> str:
    plt = _plt()
    n = 2 if labour is not None else 1
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 3.8), squeeze=False)
    tot = proj["population"].sum(["region", "sex", "age"])
    ax = axes[0, 0]
    for i, s in enumerate(proj["scenario"].values.tolist()):
        v = tot.sel(scenario=s)
        ax.plot(np.r_[base_year, v["year"].values], np.r_[base_total, v.values], color=_color(s, i), lw=2,
                label=str(s))
    ax.set_title("Total population by scenario")
    ax.legend(frameon=False)
    if labour is not None:
        ax = axes[0, 1]
        emp = labour["employed"]
        emp = emp.sum([d for d in emp.dims if d not in ("scenario", "year")])
        for i, s in enumerate(emp["scenario"].values.tolist() if "scenario" in emp.dims else [None]):
            v = emp.sel(scenario=s) if s is not None else emp
            ax.plot(v["year"], v.values, color=_color(s, i), lw=2, label=str(s))
        ax.set_title("Employed persons (labour force) by scenario")
        ax.legend(frameon=False)
    return _png(fig)


def _actual_table(against: xr.Dataset, regions, names: dict, main) -> str:
    """The forecast (main scenario, and the scenarios' range) against the actual population."""
    rows = []
    have = set(against["region"].values.tolist())
    for r in [r for r in regions if r in have]:
        for y in against["year"].values.tolist():
            c = against.sel(region=r, year=y)
            a = float(c["actual"])
            if not np.isfinite(a):
                continue
            lo, hi = float(c["forecast"].min("scenario")), float(c["forecast"].max("scenario"))
            rows.append([r, names.get(r, ""), str(y), f"{a:,.0f}", f"{float(c['forecast'].sel(scenario=main)):,.0f}",
                         f"{float(c['error_percent'].sel(scenario=main)):+.1f} %",
                         f"{lo:,.0f}–{hi:,.0f}", "yes" if lo <= a <= hi else "no"])
    if not rows:
        return ""
    head = ["region", "name", "year", "actual", f"forecast ({main})", "error", "scenarios' range", "inside"]
    src = html.escape(str(against.attrs.get("source", "")))
    return (f"<h2>The forecast against what happened</h2>\n<p>The actual population on 31 December "
            f"against the forecast made from the base year; <i>inside</i>: within the scenarios' range.</p>\n"
            f"{_table(rows, head)}\n<p class='note'>Source of the actual figures: {src}</p>")


def _table(rows, head) -> str:
    h = "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def write_report(path, *, data: xr.Dataset, projection: xr.Dataset, assumptions, labour=None,
                 history: xr.Dataset | None = None, config: dict | None = None, files: dict | None = None,
                 against_actual: xr.Dataset | None = None) -> Path:
    """Write a self-contained HTML report of a forecast and return its path.

    Figures: population pyramids (base vs horizon, main scenario), components
    of change over time (observed and projected), the TFR and life-expectancy
    assumptions against their observed history, and the scenario comparison
    of total population and of the labour force.  Tables: population by
    region and scenario, the statistical basis in brief and, with
    ``against_actual`` (from :func:`demokit.forecast_job.compare_with_actual`),
    the forecast's error against what happened.
    """
    from .accounting import balance

    path = Path(path)
    proj = projection
    scen = proj["scenario"].values.tolist()
    main = "main" if "main" in scen else scen[0]
    base_year = int(proj["year"].values[0]) - 1
    last_year = int(proj["year"].values[-1])
    base = data["population"].sel(year=base_year)
    horizon = proj["population"].sel(scenario=main, year=last_year)
    names = (dict(zip(data["region"].values.tolist(), data["region_name"].values.tolist()))
             if "region_name" in data.coords else {})
    figs = []
    figs.append(("Population pyramid, all regions", _pyramid(
        base.sum("region"), horizon.sum("region"), base_year, last_year,
        f"All regions: {base_year} (grey) and {last_year} ({main} scenario)")))
    first = proj["region"].values.tolist()[0]
    figs.append((f"Population pyramid, {first} {names.get(first, '')}", _pyramid(
        base.sel(region=first), horizon.sel(region=first), base_year, last_year,
        f"{first} {names.get(first, '')}: {base_year} and {last_year} ({main})")))
    hist_bal = None
    keep = [v for v in ("population", "births", "deaths", "in_migration", "out_migration", "immigration",
                        "emigration") if v in data]
    if all(v in data for v in ("in_migration", "out_migration", "immigration", "emigration")):
        hist_bal = balance(data[keep].assign_attrs(data.attrs))
    figs.append(("Components of change", _components(hist_bal, proj, main)))
    if history is not None:
        figs.append(("Assumptions: fertility and mortality",
                     _assumption_paths(history, assumptions, proj["year"].values.tolist(),
                                       base.sel(sex="female"))))
    figs.append(("Scenarios", _scenarios(proj, labour, float(base.sum()), base_year)))

    tot = proj["population"].sum(["sex", "age"])
    rows = []
    for r in proj["region"].values.tolist():
        row = [r, names.get(r, ""), f"{float(base.sel(region=r).sum()):,.0f}"]
        for s in scen:
            row.append(f"{float(tot.sel(scenario=s, region=r, year=last_year)):,.0f}")
        rows.append(row)
    rows.append(["all", "", f"{float(base.sum()):,.0f}"] +
                [f"{float(tot.sel(scenario=s, year=last_year).sum()):,.0f}" for s in scen])
    pop_table = _table(rows, ["region", "name", f"{base_year}"] + [f"{last_year} {s}" for s in scen])

    at = assumptions.attrs
    basis = _table([["statistical period", at.get("years", "")],
                    ["smoothing", at.get("smoothing", "")],
                    ["migration system", at.get("system", "")],
                    ["observed TFR (pooled regions)", f"{at.get('tfr_observed', float('nan')):.3f}"],
                    ["observed e0 women / men",
                     f"{at.get('e0_observed_female', float('nan')):.2f} / {at.get('e0_observed_male', float('nan')):.2f}"],
                    ["share of boys among births", f"{at.get('boys_share', float('nan')):.4f}"]],
                   ["item", "value"])
    scen_rows = [[s, ", ".join(f"{k} = {v}" for k, v in (config or {}).get("scenarios", {}).get(s, {}).items())
                  or "as observed"] for s in scen]
    scen_table = _table(scen_rows, ["scenario", "changes to the statistical basis"])
    actual_html = (_actual_table(against_actual, proj["region"].values.tolist(), names, main)
                   if against_actual is not None else "")
    lab_note = ""
    if config and config.get("labour", {}).get("note"):
        lab_note = f"<p class='note'>Labour force: {html.escape(config['labour']['note'])}.</p>"
    files_html = "".join(f"<li><code>{html.escape(k)}</code> — {html.escape(v)}</li>"
                         for k, v in (files or {}).items())
    title = html.escape((config or {}).get("title", "demokit forecast"))
    fig_html = "\n".join(f"<figure><img alt='{html.escape(t)}' src='{src}'><figcaption>{html.escape(t)}"
                         "</figcaption></figure>" for t, src in figs)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1050px; margin: 2em auto; color: #222; }}
h1 {{ font-size: 1.6em; }} h2 {{ border-bottom: 1px solid #ddd; padding-bottom: .2em; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: .25em .6em; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child, td:nth-child(2) {{ text-align: left; }}
figure {{ margin: 1em 0; }} figcaption {{ color: #555; font-size: .9em; }}
img {{ max-width: 100%; }} .note {{ color: #7a5b00; }}
</style></head><body>
<h1>{title}</h1>
<p>Multiregional cohort-component projection by sex and single year of age, base
{base_year} (population on 31 December), {proj.sizes['year']} years to {last_year},
{len(scen)} scenario(s). Made with demokit {__version__} on {date.today().isoformat()}; definitions
follow Statistics Sweden (see docs/METHODS.md).</p>
<h2>Population on 31 December</h2>
{pop_table}
{actual_html}
<h2>Statistical basis and scenarios</h2>
{basis}
{scen_table}
{lab_note}
<h2>Figures</h2>
{fig_html}
<h2>Files</h2>
<ul>{files_html}</ul>
<p class="note">Data: {html.escape(str(data.attrs.get('source', '')))}. {html.escape(str(data.attrs.get('licence', '')))}</p>
</body></html>
"""
    path.write_text(doc, encoding="utf-8")
    return path
