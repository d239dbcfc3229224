"""The stochastic section of the HTML report: fan charts and a quantile table (issue 12; METHODS §14).

Formats :func:`demokit.stochastic_summary`'s quantiles; computes nothing but
what a figure needs.  Used by :func:`demokit.report.write_report` (``stochastic=``).
"""

from __future__ import annotations

import html

import numpy as np
import xarray as xr

from ._i18n import label

__all__ = ["fan_chart", "stochastic_section"]

_VARS = ("population", "labour_force", "employed", "economic_dependency_ratio")
_TITLES = {
    "en": {"population": "Population", "labour_force": "Labour force ages", "employed": "Employed",
           "economic_dependency_ratio": "Economic dependency ratio",
           "head": "Uncertainty: stochastic projection",
           "intro": ("{draws} simulated paths of the TFR (AR(1) fitted to the national TFR 1969–2015), life "
                     "expectancy at birth (random walk with drift fitted to HMD Sweden 1950–2014) and migration "
                     "totals (AR(1) fitted to their observed yearly variation), seed {seed}{scen}. The bands hold "
                     "the central {bands} of the draws; the line is the median (METHODS §14)."),
           "scen": ", around the scenario {s}", "year": "Year", "q": "quantile"},
    "sv": {"population": "Folkmängd", "labour_force": "Befolkning i arbetsför ålder",
           "employed": "Förvärvsarbetande", "economic_dependency_ratio": "Ekonomisk försörjningskvot",
           "head": "Osäkerhet: stokastisk prognos",
           "intro": ("{draws} simulerade banor för summerad fruktsamhet (AR(1) skattad på rikets serie 1969–2015), "
                     "förväntad livslängd vid födseln (slumpvandring med drift skattad på HMD Sverige 1950–2014) och "
                     "flyttningar (AR(1) skattad på den observerade variationen), frö {seed}{scen}. "
                     "Banden rymmer "
                     "de mittersta {bands} av dragningarna; linjen är medianen (METHODS §14)."),
           "scen": ", kring scenariot {s}", "year": "År", "q": "kvantil"},
}


def _pairs(qs):
    """Return the symmetric quantile pairs (lo, hi) of the summary, widest first."""
    qs = sorted(float(q) for q in qs)
    out = []
    for lo in qs:
        hi = round(1 - lo, 10)
        if lo < 0.5 and any(abs(hi - q) < 1e-9 for q in qs):
            out.append((lo, next(q for q in qs if abs(hi - q) < 1e-9)))
    return out


def fan_chart(ax, summary_var: xr.DataArray, *, color="#4c72b0", title="", lang="en"):
    """Draw a fan chart of one variable's quantiles (dims ``quantile``, ``year``) on ``ax``."""
    qs = summary_var["quantile"].values
    yrs = summary_var["year"].values
    pairs = _pairs(qs)
    for i, (lo, hi) in enumerate(pairs):
        alpha = 0.18 + 0.5 * i / max(1, len(pairs))
        ax.fill_between(yrs, summary_var.sel(quantile=lo).values, summary_var.sel(quantile=hi).values,
                        color=color, alpha=alpha, lw=0, label=f"{lo:.0%}–{hi:.0%}")
    if np.any(np.isclose(qs, 0.5)):
        ax.plot(yrs, summary_var.sel(quantile=qs[np.isclose(qs, 0.5)][0]).values, color="#222222", lw=1.6,
                label=label("median", lang))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)


def _figure(summary, lang):
    from .report import _png, _plt, _thousands, _years_axis
    plt = _plt()
    from matplotlib.ticker import MaxNLocator
    T = _TITLES.get(lang, _TITLES["en"])
    names = [v for v in _VARS if v in summary]
    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 3.3), squeeze=False)
    for ax, v in zip(axes[0], names):
        fan_chart(ax, summary[v], title=T[v], lang=lang)
        if v != "economic_dependency_ratio":
            _thousands(ax, lang)
        _years_axis(ax, lang)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))   # four panels: few year labels
    axes[0][0].legend(frameon=False, fontsize=7, loc="best")
    fig.tight_layout()
    return _png(fig)


def _one(summary, dim, default):
    if dim in summary.dims:
        pick = default if default in summary[dim].values.tolist() else summary[dim].values[0]
        return summary.sel({dim: pick}), pick
    return summary, None


def stochastic_section(summary: xr.Dataset, *, lang: str = "en", regions=None, max_regions: int = 12) -> str:
    """Return the HTML of the report's stochastic section from :func:`demokit.stochastic_summary`.

    ``summary`` has dims ``quantile, year`` and optionally ``region`` (one
    figure per region; a region ``"total"`` first), ``scenario`` (the first
    is shown).  ``regions`` limits the regions drawn (at most ``max_regions``).
    """
    from .report import _num, _table
    T = _TITLES.get(lang, _TITLES["en"])
    s, scen = _one(summary, "scenario", None)
    qs = s["quantile"].values
    pairs = _pairs(qs)
    bands = ", ".join(f"{hi - lo:.0%}" for lo, hi in pairs)
    intro = T["intro"].format(draws=summary.attrs.get("draws", "?"), seed=summary.attrs.get("seed", "?"),
                              scen=T["scen"].format(s=scen) if scen is not None else
                              (T["scen"].format(s=summary.attrs["scenario"]) if summary.attrs.get("scenario")
                               else ""), bands=bands)
    parts = [f"<div class='block'><h2 id='stochastic'>{html.escape(T['head'])}</h2>",
             f"<p class='small'>{html.escape(intro)}</p>"]
    if "region" in s.dims:
        regs = list(regions) if regions is not None else s["region"].values.tolist()
        if "total" in regs:
            others = [r for r in regs if r != "total"]
            # one region: its total is itself (shown once, under its own name)
            regs = others if len(others) == 1 else ["total"] + others
        regs = regs[:max_regions]
    else:
        regs = [None]
    yrs = s["year"].values.tolist()
    # the first year, every tenth year after it while at least five years before the last, and the last
    pick = sorted({yrs[0], yrs[-1]} | {y for y in yrs[10:-1:10] if y <= yrs[-1] - 5})
    for r in regs:
        sr = s.sel(region=r) if r is not None else s
        name = (label("total", lang) if r == "total" else str(r)) if r is not None else ""
        if r is not None and "region_name" in sr.coords and r != "total":
            name = f"{r} {sr['region_name'].item()}"
        if name:
            parts.append(f"<h3>{html.escape(name)}</h3>")
        parts.append(f"<figure><img alt='{html.escape(T['head'] + ' ' + name)}' src='{_figure(sr, lang)}'>"
                     "</figure>")
        rows = []
        for v in [x for x in _VARS if x in sr]:
            dec = 3 if v == "economic_dependency_ratio" else 0
            for q in qs:
                rows.append([T[v], f"{q:g}"] + [_num(float(sr[v].sel(quantile=q, year=y)), lang, dec) for y in pick])
        parts.append(_table(rows, ["", T["q"]] + [str(y) for y in pick]))
    parts.append("</div>")
    return "\n".join(parts)
