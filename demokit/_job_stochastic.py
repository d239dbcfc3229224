"""The ``[stochastic]`` section of a forecast job (issue 12; docs/CONFIG.md): check it, run it.

Kept apart from :mod:`demokit.forecast_job`, which calls :func:`check` from
``check_config`` and :func:`run` from ``run``.
"""

from __future__ import annotations

import xarray as xr

KEYS = {"draws", "seed", "scenario", "chunks", "quantiles"}
DEFAULT_QUANTILES = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]


def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check(st, scenarios, source):
    """Raise ConfigError naming the key if the ``[stochastic]`` table is wrong; return it with defaults."""
    from .forecast_job import ConfigError, _unknown
    if not isinstance(st, dict):
        raise ConfigError(f"{source}: [stochastic] must be a table, got {st!r}")
    _unknown(st, KEYS, "[stochastic]", source)
    d = st.get("draws", 500)
    if not _int(d) or not 1 <= d <= 1_000_000:
        raise ConfigError(f"{source}: [stochastic] draws must be a whole number between 1 and 1000000, got {d!r}")
    seed = st.get("seed", 0)
    if not _int(seed) or seed < 0:
        raise ConfigError(f"{source}: [stochastic] seed must be a whole number >= 0, got {seed!r}")
    c = st.get("chunks")
    if c is not None and (not _int(c) or c < 1):
        raise ConfigError(f"{source}: [stochastic] chunks (draws per dask chunk) must be a whole number >= 1, "
                          f"got {c!r}")
    sc = st.get("scenario", list(scenarios)[0])
    if sc not in scenarios:
        raise ConfigError(f"{source}: [stochastic] scenario {sc!r} is not among the scenarios {list(scenarios)}")
    q = st.get("quantiles", DEFAULT_QUANTILES)
    if not (isinstance(q, list) and q and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                              and 0 <= x <= 1 for x in q)):
        raise ConfigError(f"{source}: [stochastic] quantiles must be a list of numbers in [0, 1], got {q!r}")
    return {"draws": d, "seed": seed, "chunks": c, "scenario": sc, "quantiles": [float(x) for x in q]}


def run(st, *, base, assumptions, years, rates=None) -> xr.Dataset:
    """Return the quantiles by region (and ``"total"``, the regions' sum) of a stochastic projection."""
    from .projection import project
    from .stochastic import draw_totals, quantiles_of, simulate
    a = assumptions
    if any("scenario" in v.dims for v in a.data.values()):
        a = a.replace(**{k: v.sel(scenario=st["scenario"], drop=True) for k, v in a.data.items()
                         if "scenario" in v.dims})
    sim = simulate(a, draws=st["draws"], seed=st["seed"], years=years, chunks=st["chunks"])
    p = project(base, sim, years=years, components=False)
    T = draw_totals(p, employment_rates=rates)   # computed once
    by = quantiles_of(T, st["quantiles"])
    tot = quantiles_of(T.sum("region", keep_attrs=True), st["quantiles"]).expand_dims(region=["total"])
    keep = [c for c in by.coords if c not in by.dims and "region" in by[c].dims]
    out = xr.concat([tot, by.drop_vars(keep)], dim="region").transpose("region", "quantile", "year")
    names = base["region_name"] if "region_name" in base.coords else None
    if names is not None and "region" in names.dims:   # the report's headings name the regions
        out = out.assign_coords(region_name=("region", [""] + [str(n) for n in names.sel(region=by["region"]).values]))
    out.attrs = {**by.attrs, "seed": st["seed"], "scenario": st["scenario"]}
    return out
