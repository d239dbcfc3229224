"""A self-contained HTML report of a forecast (figures embedded as PNG, made with matplotlib).

The report formats what the job computed (the council table of
:func:`demokit.forecast_table`, the observed history, the comparison with
what happened); it computes only what a figure needs to draw.  English or
Swedish (``lang="sv"``); a print layout (``@media print``: a page per region,
no navigation).
"""

from __future__ import annotations

import base64
import html
import io
from datetime import date
from pathlib import Path

import numpy as np
import xarray as xr

from . import __version__
from ._i18n import check_lang, label
from .components import EVENT_NAMES

__all__ = ["write_report"]

_COLORS = {"low": "#4c72b0", "main": "#222222", "high": "#c44e52"}
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    _plt().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _color(s, i):
    return _COLORS.get(str(s), f"C{i}")


def _num(x: float, lang: str, decimals: int = 0) -> str:
    """Format a number with thousands separators: 12,345.6 (en) or 12 345,6 (sv, no-break space); −1 with a minus.

    A value that rounds to zero is shown as 0 (never −0).
    """
    if x is None or not np.isfinite(x):
        return "–"
    if round(x, decimals) == 0:
        x = 0.0
    s = f"{x:,.{decimals}f}".replace("-", "−")   # the minus sign, not a hyphen
    if lang == "sv":
        s = s.replace(",", "\u00a0").replace(".", ",")
    return s


def _thousands(ax, lang: str, axis: str = "y", absolute: bool = False) -> None:
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda v, _: _num(abs(v) if absolute else v, lang))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def _decimal(ax, lang: str, decimals: int) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _num(v, lang, decimals)))


def _years_axis(ax, lang: str) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.set_xlabel(label("Year", lang))


def _pyramid(ax, base: xr.DataArray, horizon: xr.DataArray, base_year: int, last_year: int, main, lang):
    ages = base["age"].values.astype(float)
    edges = np.r_[ages - 0.5, ages[-1] + 0.5]
    # one step outline per sex and year (not a bar per age: far fewer artists to draw)
    for sex, sign in (("male", -1.0), ("female", 1.0)):
        ax.stairs(sign * base.sel(sex=sex).values, edges, orientation="horizontal", fill=True, color="#bbbbbb",
                  baseline=0.0, label=f"{base_year} ({label('observed', lang)})" if sex == "male" else None)
        ax.stairs(sign * horizon.sel(sex=sex).values, edges, orientation="horizontal", color="#222222", lw=1.0,
                  baseline=0.0, label=(f"{last_year} ({label('projected', lang)}, {label(str(main), lang)})"
                                       if sex == "male" else None))
    m = float(max(abs(base).max(), abs(horizon).max())) * 1.05 or 1.0
    ax.set_xlim(-m, m)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_ylabel(f"{label('age', lang)} ({label('years', lang)})")
    ax.set_xlabel(label("persons (men left, women right)", lang))
    _thousands(ax, lang, "x", absolute=True)
    ax.text(0.03, 0.97, label("Men", lang), transform=ax.transAxes, va="top", fontsize=9)
    ax.text(0.98, 0.97, label("Women", lang), transform=ax.transAxes, va="top", ha="right", fontsize=9)
    ax.set_title(label("Population pyramid", lang), fontsize=10)
    ax.set_ylim(edges[0], edges[-1] + 0.12 * (edges[-1] - edges[0]))  # room for the legend above the oldest
    ax.legend(loc="upper center", frameon=False, fontsize=7)


def _components(ax, hist: xr.Dataset | None, tab: xr.Dataset, main, lang):
    colors = {"births": "#55a868", "deaths": "#c44e52", "net_migration": "#4c72b0"}
    p = tab.sel(year=~tab["observed"]) if "observed" in tab.coords else tab
    for k, c in colors.items():
        ax.plot(p["year"], p[k].values, color=c, lw=2, label=f"{label(k, lang)} ({label('projected', lang)})")
    if hist is not None:
        for k, c in colors.items():
            ax.plot(hist["year"], hist[k].values, color=c, lw=1.2, ls="--")
        ax.axvline(float(hist["year"].values[-1]) + 0.5, color="grey", lw=0.8)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel(label("persons per year", lang))
    _thousands(ax, lang)
    _years_axis(ax, lang)
    ax.set_title(f"{label('Components of change (dashed: observed)', lang)}, {label(str(main), lang)}", fontsize=10)
    ax.legend(frameon=False, fontsize=7)


def _scenario_lines(ax, tab: xr.Dataset, hist: xr.Dataset | None, scen, lang, var="population"):
    if hist is not None:
        ax.plot(hist["year"], hist[var].values, color="grey", lw=1.5, ls="--", label=label("observed", lang))
    for i, s in enumerate(scen):
        v = tab[var].sel(scenario=s)
        ax.plot(v["year"], v.values, color=_color(s, i), lw=2, label=label(str(s), lang))
    ax.set_ylabel(label("persons", lang))
    _thousands(ax, lang)
    _years_axis(ax, lang)
    ax.set_title(label("Total population by scenario", lang), fontsize=10)
    ax.legend(frameon=False, fontsize=7)


def _region_figure(base, horizon, tab, hist, base_year, last_year, main, scen, lang) -> str:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), gridspec_kw={"width_ratios": [1.0, 1.15, 1.0]})
    _pyramid(axes[0], base, horizon, base_year, last_year, main, lang)
    _components(axes[1], hist, tab.sel(scenario=main), main, lang)
    _scenario_lines(axes[2], tab, hist, scen, lang)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.12, top=0.93, wspace=0.22)  # (tight_layout: 3x slower)
    return _png(fig)


def _assumption_paths(history: xr.Dataset, assumptions, years, tfr: xr.DataArray, lang) -> str:
    """The assumed TFR (of the set of regions, as the job computed it) and e0 against their history."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    e0 = assumptions.attrs["life_expectancy"]
    yrs = xr.DataArray(list(years), dims="year", coords={"year": list(years)})
    tfr = tfr.broadcast_like(yrs) if "year" not in tfr.dims else tfr
    e0 = e0.broadcast_like(yrs) if "year" not in e0.dims else e0
    pooled = "region" in assumptions["fertility"].dims and assumptions["fertility"].sizes["region"] > 1
    obs = label("observed, pooled regions" if pooled else "observed", lang)
    ax = axes[0]
    ax.plot(history["year"], history["tfr"], "o-", color="grey", ms=3, label=obs)
    scen = tfr["scenario"].values.tolist() if "scenario" in tfr.dims else [None]
    for i, s in enumerate(scen):
        v = tfr.sel(scenario=s) if s is not None else tfr
        v = v.mean([d for d in v.dims if d != "year"]) if v.ndim > 1 else v
        ax.plot(v["year"], v.values, color=_color(s, i), lw=2, label=label(str(s or "assumed"), lang))
    ax.set_title(label("Total fertility rate (children per woman)", lang), fontsize=10)
    ax.set_ylabel(label("children per woman", lang))
    _decimal(ax, lang, 2)
    _years_axis(ax, lang)
    ax.legend(frameon=False, fontsize=8)
    ax = axes[1]
    for j, sex in enumerate(("female", "male")):
        if "e0" in history:
            ax.plot(history["year"], history["e0"].sel(sex=sex), "o-" if sex == "female" else "s:", color="grey",
                    ms=3, label=f"{obs}, {label(sex, lang).lower()}")
        v = e0.sel(sex=sex)
        if "scenario" in v.dims:
            for i, s in enumerate(v["scenario"].values.tolist()):
                ax.plot(v["year"], v.sel(scenario=s).values, color=_color(s, i), lw=2,
                        ls="-" if sex == "female" else ":", label=f"{label(str(s), lang)}, {label(sex, lang).lower()}")
        else:
            ax.plot(v["year"], v.values, color="black", lw=2, ls="-" if sex == "female" else ":",
                    label=f"{label('assumed', lang)}, {label(sex, lang).lower()}")
    ax.set_title(label("Life expectancy at birth (years)", lang), fontsize=10)
    ax.set_ylabel(label("years", lang))
    _decimal(ax, lang, 0)
    _years_axis(ax, lang)
    ax.legend(frameon=False, fontsize=7, ncol=2)
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.13, top=0.92, wspace=0.15)
    return _png(fig)


def _labour_chart(labour, lang) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    emp = labour["employed"]
    emp = emp.sum([d for d in emp.dims if d not in ("scenario", "year")])
    for i, s in enumerate(emp["scenario"].values.tolist() if "scenario" in emp.dims else [None]):
        v = emp.sel(scenario=s) if s is not None else emp
        ax.plot(v["year"], v.values, color=_color(s, i), lw=2, label=label(str(s), lang))
    ax.set_title(f"{label('Employed persons by scenario', lang)}, {label('total', lang).lower()}", fontsize=10)
    ax.set_ylabel(label("persons", lang))
    _thousands(ax, lang)
    _years_axis(ax, lang)
    ax.legend(frameon=False)
    return _png(fig)


def _table(rows, head, *, classes=None, row_classes=None) -> str:
    h = "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
    body = []
    for i, r in enumerate(rows):
        cls = f" class='{row_classes[i]}'" if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>")
    c = f" class='{classes}'" if classes else ""
    return f"<table{c}><thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _actual_table(against: xr.Dataset, regions, names: dict, main, lang) -> str:
    """The forecast (main scenario, and the scenarios' range) against the actual population."""
    rows = []
    have = set(against["region"].values.tolist())
    # other forecasts of the same cells (extra columns of the actual CSV, e.g. SCB's own made in 2020)
    others = [v[: -len("_error_percent")] for v in against.data_vars
              if v.endswith("_error_percent") and v != "error_percent"]

    def pct(e):
        return ("+" if e >= 0 else "") + _num(e, lang, 1) + " %" if np.isfinite(e) else ""

    for r in [r for r in regions if r in have]:
        for y in against["year"].values.tolist():
            c = against.sel(region=r, year=y)
            a = float(c["actual"])
            if not np.isfinite(a):
                continue
            lo, hi = float(c["forecast"].min("scenario")), float(c["forecast"].max("scenario"))
            err = float(c["error_percent"].sel(scenario=main))
            fc = float(c["forecast"].sel(scenario=main))
            row = [r, names.get(r, ""), str(y), _num(a, lang), _num(fc, lang), pct(err),
                   f"{_num(lo, lang)}–{_num(hi, lang)}", label("yes" if lo <= a <= hi else "no", lang)]
            for o in others:
                v = float(c[o])
                row += [_num(v, lang) if np.isfinite(v) else "", pct(float(c[f"{o}_error_percent"]))]
            rows.append(row)
    if not rows:
        return ""
    head = [label(h, lang) for h in ("region", "region_name", "year", "actual")] + \
        [f"{label('forecast', lang).lower()} ({label(str(main), lang)})"] + \
        [label(h, lang) for h in ("error", "scenarios' range", "inside")]
    for o in others:
        name = o.replace("scb_forecast_", "SCB:s prognos " if lang == "sv" else "SCB's forecast ").replace("_", " ")
        head += [name, label("error", lang)]
    src = html.escape(str(against.attrs.get("source", "")))
    if lang == "sv":
        intro = ("Den faktiska folkmängden 31 december mot prognosen gjord från basåret; <i>inom</i>: inom "
                 "scenariernas intervall.")
        srcl = "Källa för utfallet"
    else:
        intro = ("The actual population on 31 December against the forecast made from the base year; "
                 "<i>inside</i>: within the scenarios' range.")
        srcl = "Source of the actual figures"
    return (f"<h2 id='actual'>{label('The forecast against what happened', lang)}</h2>\n<p>{intro}</p>\n"
            f"{_table(rows, head)}\n<p class='note'>{srcl}: {src}</p>")


#: the two halves of the council table (each fits a laptop screen and an A4 page): the population by age group,
#: and the components of change
_STOCK_COLS = ("population", "aged_0", "aged_1_5", "aged_6_15", "aged_16_19", "aged_20_64", "aged_65_79",
               "aged_80_plus", "dependency_ratio")
_FLOW_COLS = ("births", "deaths", "natural_increase", *[e for e in EVENT_NAMES if e not in ("births", "deaths")],
              "net_migration", "population_change")


def _council_tables(tab: xr.Dataset, region, scen, lang, base_year) -> str:
    """Per scenario, the council table of a region in two halves, years as rows (the base year marked observed).

    The first half holds the population on 31 December by age group and
    the dependency ratio, the second the components of change during the
    year; the 18 columns of one table do not fit a page.
    """
    halves = [(label("Population on 31 December by age group", lang), [c for c in _STOCK_COLS if c in tab]),
              (label("Components of change during the year", lang), [c for c in _FLOW_COLS if c in tab])]
    out = []
    for s in scen:
        t = tab.sel(region=region, scenario=s)
        years = t["year"].values.tolist()
        obs = t["observed"].values.astype(bool) if "observed" in t.coords else np.zeros(len(years), bool)
        first = [f"{y} ({label('observed', lang)})" if o else str(y) for y, o in zip(years, obs)]
        cls = ["obs" if o else "" for o in obs]
        out.append(f"<h3>{label('Scenario', lang)}: {html.escape(label(str(s), lang))} "
                   f"({label('base year', lang)} {base_year})</h3>")
        for title, cols in halves:
            # no line break inside "16–19", "In-migrants" or "0 år"; headers wrap only between words
            head = [label("year", lang)] + [label(c, lang).replace("–", "–\u2060").replace("-", "\u2011")
                                            .replace(" år", "\u00a0år").replace(" years", "\u00a0years")
                                            for c in cols]
            values = [t[c].values for c in cols]
            rows = [[first[i]] + [_num(float(v[i]), lang, 1 if c == "dependency_ratio" else 0)
                                  for c, v in zip(cols, values)] for i in range(len(years))]
            out.append(f"<h4>{html.escape(title)}</h4>\n" + _table(rows, head, classes="council", row_classes=cls))
    return "\n".join(out)


def _texts(lang):
    if lang == "sv":
        return {
            "intro": ("Flerregional kohort-komponentprognos efter kön och ettårsålder. Basår {base} (folkmängden "
                      "31 december {base}), {n} år till {last}, {k} {scen}. Gjord med demokit {v} den {d}; "
                      "definitionerna följer SCB (se docs/METHODS.md)."),
            "region_intro": ("Basår {base} (utfall); prognos {first}–{last}. Diagram: befolkningspyramid {base} och "
                             "{last} ({main}), befolkningsförändringar (streckat: utfall {h0}–{h1}) och folkmängd "
                             "per scenario."),
            "assump": ("Utfall per år {h0}–{h1} för regionerna sammanslagna (livslängd från ettåriga "
                       "livslängdstabeller "
                       "med öppen åldersgrupp {oa}+), antaganden {first}–{last} per scenario. Statistikperiod för "
                       "antagandena: {sp}."),
            "miss": "Medellivslängd saknas för år med för få äldre: {y}.",
            "nodata": "Utan fullständig statistik (folkmängd, födda, döda), utelämnade: {y}.",
        }
    return {
        "intro": ("Multiregional cohort-component projection by sex and single year of age. Base year {base} "
                  "(the population on 31 December {base}), {n} years to {last}, {k} {scen}. Made with demokit "
                  "{v} on {d}; definitions follow Statistics Sweden (see docs/METHODS.md)."),
        "region_intro": ("Base year {base} (observed); forecast {first}–{last}. Figures: population pyramid {base} "
                         "and {last} ({main}), components of change (dashed: observed {h0}–{h1}) and the population "
                         "by scenario."),
        "assump": ("Observed by year {h0}–{h1} for the regions pooled (life expectancy from single-year life tables "
                   "with the open age group {oa}+), assumed {first}–{last} by scenario. Statistical period of the "
                   "assumptions: {sp}."),
        "miss": "Life expectancy missing for years with too few old persons: {y}.",
        "nodata": "Years without complete statistics (population, births, deaths), left out: {y}.",
    }


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1250px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
h3 { font-size: 1.02em; margin: 1.2em 0 .3em; }
h4 { font-size: .92em; font-weight: 600; color: #444; margin: .7em 0 .2em; }
table { border-collapse: collapse; margin: .5em 0 1.2em; font-variant-numeric: tabular-nums; }
td, th { border: 1px solid #ccc; padding: .2em .5em; text-align: right; }
th { background: #f3f3f3; } td:first-child, td:nth-child(2) { text-align: left; }
table.council td:nth-child(2) { text-align: right; }
table.council { font-size: .8em; } table.council td, table.council th { padding: .15em .35em; }
table.council td:first-child { white-space: nowrap; } table.council th { hyphens: manual; }
th:first-child { text-align: left; }
tr.obs td { background: #f7f3e3; font-style: italic; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: .9em; }
img { max-width: 100%; } .note { color: #7a5b00; } .small { font-size: .9em; color: #444; }
nav { background: #f7f7f7; border: 1px solid #e3e3e3; padding: .4em 1em; margin: 1em 0; }
nav a { margin-right: 1em; white-space: nowrap; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; }
  nav { display: none; }
  section.region { break-before: page; page-break-before: always; }
  h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
  figure, tr, .block { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  table { font-size: 8.5pt; } table.council { font-size: 7.5pt; }
  td, th { padding: 1px 4px; }
  a { color: inherit; text-decoration: none; }
}
"""


def write_report(path, *, data: xr.Dataset, projection: xr.Dataset, assumptions, labour=None,
                 history: xr.Dataset | None = None, config: dict | None = None, files: dict | None = None,
                 against_actual: xr.Dataset | None = None, table: xr.Dataset | None = None,
                 observed_table: xr.Dataset | None = None, assumed_tfr: xr.DataArray | None = None,
                 lang: str = "en", stochastic: xr.Dataset | None = None,
                 by_origin: xr.Dataset | None = None) -> Path:
    """Write a self-contained HTML report of a forecast and return its path.

    Parameters
    ----------
    path : path-like
        The HTML file to write.
    data, projection, assumptions, labour
        The observed cube, :func:`demokit.project`'s result (with a
        ``scenario`` dim), the :class:`demokit.Assumptions` and optionally
        :func:`demokit.labour_force`'s result.
    history : xarray.Dataset, optional
        Observed TFR and e0 by year (:func:`demokit.forecast_job.history_series`).
    config, files : dict, optional
        The forecast's config (title, scenarios) and the written files.
    against_actual : xarray.Dataset, optional
        From :func:`demokit.forecast_job.compare_with_actual`.
    table : xarray.Dataset
        The council table (:func:`demokit.forecast_table` with the observed
        base year), as the job computed it (required).
    observed_table : xarray.Dataset, optional
        The council table of the observed years (:func:`demokit.observed_table`);
        without it the figures show no observed history.
    assumed_tfr : xarray.DataArray, optional
        The assumed TFR of the set of regions by scenario (and year)
        (:func:`demokit.forecast_job.pooled_tfr`); needed with ``history``.
    lang : {"en", "sv"}
        Language of headings, labels, table headers and chart labels.
    stochastic : xarray.Dataset, optional
        Quantiles of :func:`demokit.stochastic_summary` (a ``region``
        ``"total"`` first): fan charts and a quantile table (issue 12).
    by_origin : xarray.Dataset, optional
        The population by birth-region group (:func:`demokit.origin_table`)
        of a projection by origin: a table of the groups and the share of
        each, by region, scenario and year.

    Notes
    -----
    Sections: a summary table (population by region, base year and horizon
    by scenario), the forecast against what happened, the statistical basis
    and scenarios, the assumptions against their whole observed history,
    the labour force, and one section per region (and for the sum of the
    regions) with the council table for every scenario, the population
    pyramid, the components of change and the population by scenario.
    """
    lang = check_lang(lang)
    if table is None:
        raise ValueError("write_report formats what the job computed: pass table= (demokit.forecast_table of "
                         "the projection with the observed base year)")
    if history is not None and assumed_tfr is None:
        raise ValueError("write_report formats what the job computed: with history= pass assumed_tfr= "
                         "(demokit.forecast_job.pooled_tfr)")
    path = Path(path)
    ctx = _context(data, projection, table, observed_table, lang)
    sections, nav = _region_sections(ctx)
    from ._report_stochastic import stochastic_section   # fan charts (matplotlib imported on use)
    parts = {
        "summary": _summary_table(ctx),
        "actual": (_actual_table(against_actual, ctx["regions"], ctx["names"], ctx["main"], lang)
                   if against_actual is not None else ""),
        "basis": _basis_tables(ctx, assumptions, config),
        "assumptions": (_assumptions_block(ctx, history, assumptions, assumed_tfr)
                        if history is not None else ""),
        "labour": _labour_block(labour, config, lang) if labour is not None else "",
        "stochastic": stochastic_section(stochastic, lang=lang) if stochastic is not None else "",
        "origin": _origin_block(by_origin, ctx) if by_origin is not None else "",
        "regions": "".join(sections),
    }
    path.write_text(_document(ctx, parts, nav, config, files), encoding="utf-8")
    return path


def _context(data, proj, table, observed_table, lang) -> dict:
    """What every part of the report uses: scenarios (main first), years, regions and their names."""
    scen = proj["scenario"].values.tolist()
    main = "main" if "main" in scen else scen[0]
    scen = [main] + [s for s in scen if s != main]
    base_year = int(proj.attrs.get("base_year", int(proj["year"].values[0]) - 1))
    regions = proj["region"].values.tolist()
    names = (dict(zip(data["region"].values.tolist(), data["region_name"].values.tolist()))
             if "region_name" in data.coords else {})
    names["total"] = label("total", lang)
    try:
        from .regions import level

        region_word = "Municipality" if all(level(r) == "kommun" for r in regions) else "Region"
    except Exception:
        region_word = "Region"
    hist = observed_table
    return {"lang": lang, "data": data, "proj": proj, "table": table, "hist": hist, "scen": scen, "main": main,
            "base_year": base_year, "first_year": int(proj["year"].values[0]),
            "last_year": int(proj["year"].values[-1]), "regions": regions, "names": names,
            "region_word": region_word, "T": _texts(lang),
            "base": data["population"].sel(year=base_year).sel(region=regions),
            "h0": int(hist["year"].values[0]) if hist is not None else base_year,
            "h1": int(hist["year"].values[-1]) if hist is not None else base_year}


def _summary_table(ctx) -> str:
    """The population by region: the base year and the horizon by scenario."""
    lang, main, scen, names = ctx["lang"], ctx["main"], ctx["scen"], ctx["names"]
    base_year, last_year = ctx["base_year"], ctx["last_year"]
    tot = ctx["table"]["population"]
    rows = []
    for r in ctx["table"]["region"].values.tolist():
        t = tot.sel(region=r)
        rows.append([label("total", lang) if r == "total" else r, "" if r == "total" else names.get(r, ""),
                     _num(float(t.sel(scenario=main, year=base_year)), lang)]
                    + [_num(float(t.sel(scenario=s, year=last_year)), lang) for s in scen])
    return _table(rows, [label(ctx["region_word"], lang), label("region_name", lang),
                         f"{base_year} ({label('observed', lang)})"]
                  + [f"{last_year} {label(str(s), lang)}" for s in scen])


def _origin_block(by_origin: xr.Dataset, ctx) -> str:
    """The population by birth-region group and the share of all groups but the first (born abroad) per
    region: the base year, every fifth year and the last, each scenario (main first)."""
    lang, scen, names = ctx["lang"], ctx["scen"], ctx["names"]
    groups = by_origin["origin"].values.tolist()
    years = by_origin["year"].values.tolist()
    shown = [y for i, y in enumerate(years) if i == 0 or y == years[-1] or (y - years[0]) % 5 == 0]
    first = groups[0]
    # the share of every group but the first (born in the country): with two groups, the share born abroad
    share_of = (label(str(groups[1]), lang).lower() if len(groups) == 2 else
                ("not " if lang == "en" else "ej ") + label(str(first), lang).lower())
    out = [f"<h2 id='origin'>{label('Population by birth region', lang)}</h2>"]
    for r in by_origin["region"].values.tolist():
        t = by_origin.sel(region=r)
        head = [label("year", lang)]
        for s in scen:
            sc = label(str(s), lang)
            head += [f"{label(str(g), lang)} ({sc})" for g in groups]
            head.append(f"{label('Share', lang)} {share_of} ({sc}), %")
        rows = []
        observed = [bool(t["observed"].sel(year=y)) for y in shown]
        for y, obs in zip(shown, observed):
            row = [f"{y} ({label('observed', lang)})" if obs else str(y)]
            for s in scen:
                c = t.sel(scenario=s, year=y) if "scenario" in t.dims else t.sel(year=y)
                row += [_num(float(c["population"].sel(origin=g)), lang) for g in groups]
                row.append(_num(100.0 - float(c["population_share"].sel(origin=first)), lang, 1))
            rows.append(row)
        out.append(f"<h3>{html.escape(f'{r} {names.get(r, chr(32))}'.strip())}</h3>\n"
                   + _table(rows, head, classes="council", row_classes=["obs" if o else "" for o in observed]))
    out.append(f"<p class='small'>{html.escape(label(ORIGIN_NOTE, lang))}</p>")
    return "\n".join(out)


#: the report's note under the table by birth region
ORIGIN_NOTE = ("Newborns are counted in the first group (born in Sweden), immigrants in the groups by their own "
               "birth region; death risks and fertility are the same for every group (no deaths or births by birth "
               "region for municipalities), migration is each group's own.")


#: a scenario key of the config → its words (the scales read "fertility × 0.9")
_SCENARIO_WORDS = {
    "en": {"tfr": "TFR", "life_expectancy": "life expectancy at birth", "in_migration": "in-migrants per year",
           "immigration": "immigrants per year", "fertility_scale": "fertility ×", "mortality_scale": "mortality ×",
           "in_migration_scale": "in-migration ×", "immigration_scale": "immigration ×",
           "wave": "deregistration wave {years}: extra risk of emigrating to an unknown country {extra}, "
                   "then × {fade} a year"},
    "sv": {"tfr": "summerad fruktsamhet", "life_expectancy": "medellivslängd vid födseln",
           "in_migration": "inflyttade per år", "immigration": "invandrade per år", "fertility_scale": "fruktsamhet ×",
           "mortality_scale": "dödlighet ×", "in_migration_scale": "inflyttning ×", "immigration_scale": "invandring ×",
           "wave": "avregistreringsvåg {years}: extra risk att utvandra till okänt land {extra}, därefter × {fade} "
                   "per år"},
}


def _value_text(v, lang, names):
    """A scenario value in words: a number, a path ``1.0 (2020) → 0.8 (2024)``, by sex or by region."""
    if isinstance(v, dict):
        keys = [str(k) for k in v]
        if set(keys) <= {"female", "male"}:
            return ", ".join(f"{label(k, lang).lower()} {_value_text(x, lang, names)}" for k, x in v.items())
        if any(k in names for k in keys):   # by region code (a year would not be a region of the forecast)
            return "; ".join(f"{k} {names.get(str(k), '')}".strip() + f" {_value_text(x, lang, names)}"
                             for k, x in v.items())
        return " → ".join(f"{_value_text(x, lang, names)} ({k})" for k, x in sorted(v.items(), key=lambda kv: int(kv[0])))
    x = float(v)
    if abs(x) >= 100:
        return _num(x, lang, 0)
    t = f"{x:.3f}".rstrip("0")
    t = t + "0" if t.endswith(".") else t
    return t.replace(".", ",").replace("-", "−") if lang == "sv" else t


def _scenario_text(opts, lang, names):
    """A scenario's changes to the statistical basis in words (``fertility × 0.9; in-migration × 1.1``)."""
    words = _SCENARIO_WORDS[lang]
    parts = []
    for k, v in opts.items():
        if k == "deregistration_wave":
            ys = [int(y) for y in v["years"]]
            years = f"{ys[0]}–{ys[-1]}" if len(ys) > 1 and ys == list(range(ys[0], ys[-1] + 1)) else \
                ", ".join(str(y) for y in ys)
            parts.append(words["wave"].format(years=years, extra=_value_text(v["extra"], lang, names),
                                              fade=_value_text(v.get("fade", 0.5), lang, names)))
        else:
            parts.append(f"{words.get(k, k)} {_value_text(v, lang, names)}")
    return "; ".join(parts) or label("as observed", lang)


def _basis_tables(ctx, assumptions, config) -> str:
    """The statistical basis (as the assumptions record it) and the scenarios' changes to it."""
    lang = ctx["lang"]
    at = assumptions.attrs
    basis = _table([[label("statistical period", lang), at.get("years", "")],
                    [label("smoothing", lang), label(f"smoothing:{at.get('smoothing', '')}", lang)],
                    [label("migration system", lang), label(f"system:{at.get('system', '')}", lang)],
                    [label("observed TFR (pooled regions)", lang), _num(at.get("tfr_observed", np.nan), lang, 3)],
                    [label("observed e0 women / men", lang),
                     f"{_num(at.get('e0_observed_female', np.nan), lang, 2)} / "
                     f"{_num(at.get('e0_observed_male', np.nan), lang, 2)}"],
                    [label("share of boys among births", lang), _num(at.get("boys_share", np.nan), lang, 4)]],
                   [label("item", lang), label("value", lang)])
    scen_rows = [[label(str(s), lang), _scenario_text((config or {}).get("scenarios", {}).get(s, {}), lang,
                                                      ctx["names"])] for s in ctx["scen"]]
    scen_table = _table(scen_rows, [label("Scenario", lang), label("changes to the statistical basis", lang)])
    return f"{basis}\n<h3>{label('Scenarios', lang)}</h3>\n{scen_table}"


def _assumptions_block(ctx, history, assumptions, assumed_tfr) -> str:
    """The assumed TFR and e0 against their whole observed history."""
    lang, T = ctx["lang"], ctx["T"]
    src = _assumption_paths(history, assumptions, ctx["proj"]["year"].values.tolist(), assumed_tfr, lang)
    hy = history["year"].values
    txt = T["assump"].format(h0=int(hy[0]), h1=int(hy[-1]), oa=history.attrs.get("open_age", ""),
                             first=ctx["first_year"], last=ctx["last_year"],
                             sp=assumptions.attrs.get("years", ""))
    if history.attrs.get("e0_missing_years"):
        txt += " " + T["miss"].format(y=history.attrs["e0_missing_years"])
    if history.attrs.get("years_without_data"):
        txt += " " + T["nodata"].format(y=history.attrs["years_without_data"])
    cap = label("Assumptions: fertility and mortality", lang)
    return (f"<div class='block'><h2 id='assumptions'>{cap}</h2>\n<p class='small'>{html.escape(txt)}</p>\n"
            f"<figure><img alt='{html.escape(cap)}' src='{src}'></figure></div>")


def _labour_block(labour, config, lang) -> str:
    note = ""
    if config and config.get("labour", {}).get("note"):
        note = f"<p class='note'>{label('Labour force', lang)}: {html.escape(config['labour']['note'])}.</p>"
    cap = label("Employed persons by scenario", lang)
    return (f"<div class='block'><h2 id='labour'>{label('Labour force', lang)}</h2>\n{note}\n"
            f"<figure><img alt='{html.escape(cap)}' src='{_labour_chart(labour, lang)}'></figure></div>")


def _region_sections(ctx):
    """One section per region, and for the sum of the regions; returns (sections, navigation links)."""
    lang, T, names, table, hist = ctx["lang"], ctx["T"], ctx["names"], ctx["table"], ctx["hist"]
    main, scen, base_year, last_year = ctx["main"], ctx["scen"], ctx["base_year"], ctx["last_year"]
    base = ctx["base"]
    horizon = ctx["proj"]["population"].sel(scenario=main, year=last_year)
    sections, nav = [], []
    for r in table["region"].values.tolist():
        name = names.get(r, "")
        head = label("total", lang) if r == "total" else f"{r} {name}".strip()
        b = base.sum("region") if r == "total" else base.sel(region=r)
        hz = horizon.sum("region") if r == "total" else horizon.sel(region=r)
        hist_r = hist.sel(region=r) if hist is not None and r in hist["region"].values else None
        fig = _region_figure(b, hz, table.sel(region=r), hist_r, base_year, last_year, main, scen, lang)
        intro = T["region_intro"].format(base=base_year, first=ctx["first_year"], last=last_year,
                                         main=label(str(main), lang), h0=ctx["h0"], h1=ctx["h1"])
        anchor = f"region-{html.escape(str(r))}"
        nav.append(f"<a href='#{anchor}'>{html.escape(head)}</a>")
        notes = [label("The first row (base year) is observed; the following rows are projected. Persons rounded "
                       "to whole numbers; the NetCDF keeps the exact values.", lang),
                 label("net migration = in-migrants − out-migrants + immigrants − emigrants"
                       + (" − emigrants to an unknown country" if "emigration_unknown" in table else ""), lang),
                 label("natural increase = births − deaths; population change = the change from the year before "
                       "(natural increase + net migration in the projected years; in an observed year also SCB's "
                       "adjustment term)", lang),
                 label("dependency ratio: persons aged 0–19 and 65+ per 100 aged 20–64 (SCB's demographic "
                       "dependency ratio)", lang)]
        if "emigration_unknown" in table and bool(table["emigration_unknown"].sel(region=r).isnull().any()):
            notes.append(label("–: not in the data; the observed emigrants then include those to an unknown "
                               "country.", lang))
        if r == "total":
            notes.append(label("In the sum of all regions, in- and out-migrants include moves between the regions "
                               "(they cancel in the net).", lang))
        sections.append(
            f"<section class='region' id='{anchor}'>\n<h2>{html.escape(head)}</h2>\n"
            f"<p class='small'>{html.escape(intro)}</p>\n"
            f"<figure><img alt='{html.escape(head)}' src='{fig}'></figure>\n"
            f"<h3>{label('Population, age groups and components of change by year', lang)}</h3>\n"
            + _council_tables(table, r, scen, lang, base_year)
            + "\n<p class='small'>" + "<br>".join(html.escape(n) for n in notes) + "</p>\n</section>")
    return sections, nav


def _document(ctx, parts, nav, config, files) -> str:
    """The HTML page: title, introduction, navigation and the parts in order."""
    lang, proj, data, base_year = ctx["lang"], ctx["proj"], ctx["data"], ctx["base_year"]
    files_html = "".join(f"<li><code>{html.escape(k)}</code> — {html.escape(label(v, lang))}</li>"
                         for k, v in (files or {}).items())
    title = html.escape((config or {}).get("title", "demokit forecast"))
    k = len(ctx["scen"])
    intro = ctx["T"]["intro"].format(base=base_year, n=proj.sizes["year"], last=ctx["last_year"],
                                     k=k, scen=("scenario" if k == 1 else "scenarier") if lang == "sv" else
                                     ("scenario" if k == 1 else "scenarios"), v=__version__,
                                     d=date.today().isoformat())
    if proj.attrs.get("disclosure"):
        intro += (" Röjandeskydd: de publicerade tabellerna är skyddade med " if lang == "sv" else
                  " Disclosure control: the published tables are protected by the ") + (
            str(proj.attrs["disclosure"])) + (" — delar summerar inte alltid exakt till totaler." if lang == "sv"
                                             else " — parts need not add up exactly to published totals.")
    top_links = [f"<a href='#summary'>{label('Summary', lang)}</a>"]
    if parts["origin"]:
        top_links.append(f"<a href='#origin'>{label('Population by birth region', lang)}</a>")
    if parts["actual"]:
        top_links.append(f"<a href='#actual'>{label('The forecast against what happened', lang)}</a>")
    if parts["assumptions"]:
        top_links.append(f"<a href='#assumptions'>{label('Assumptions', lang)}</a>")
    if parts["stochastic"]:
        top_links.append("<a href='#stochastic'>" + ("Osäkerhet" if lang == "sv" else "Uncertainty") + "</a>")
    nav_html = (f"<nav><b>{label('Contents', lang)}:</b> " + " ".join(top_links) + "<br>"
                + " ".join(nav) + "</nav>")
    source = str(data.attrs.get("source", ""))
    if lang == "sv":
        source = source.replace("Statistics Sweden (SCB)", "SCB")
    data_note = (f"{label('Data', lang)}: {html.escape(source)}. "
                 f"{html.escape(str(data.attrs.get('licence', '')))}")
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title} ({label('base year', lang)} {base_year})</title>
<style>{_CSS}</style></head><body>
<h1>{title}</h1>
<p>{html.escape(intro)}</p>
{nav_html}
<h2 id="summary">{label('Population on 31 December', lang)} ({label('base year', lang)} {base_year})</h2>
{parts["summary"]}
{parts["origin"]}
{parts["actual"]}
<h2 id="basis">{label('Statistical basis and scenarios', lang)}</h2>
{parts["basis"]}
{parts["assumptions"]}
{parts["labour"]}
{parts["stochastic"]}
{parts["regions"]}
<h2 id="files">{label('Files', lang)}</h2>
<ul>{files_html}</ul>
<p class="note">{data_note}</p>
</body></html>
"""
