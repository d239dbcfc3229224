"""The forecast's tables as pandas frames with presentation headers (English or Swedish), and ``forecast.xlsx``.

The job computes the tables (:mod:`demokit.tables`, the projection, the
assumptions); this module only arranges and labels them: one frame per sheet,
headers from :func:`demokit._i18n.label`, a kind per column for the number
format (persons rounded to whole numbers in the workbook only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ._i18n import label
from ._output import column_kind, to_xlsx

def _region_names(ds, lang) -> dict:
    names = (dict(zip(ds["region"].values.tolist(), ds["region_name"].values.tolist()))
             if "region_name" in ds.coords else {})
    names["total"] = label("total", lang)
    return names


def _kinds(ds: xr.Dataset, lang: str) -> dict:
    return {label(v, lang): column_kind(ds[v]) for v in ds.data_vars}


def council_frame(table: xr.Dataset, *, lang: str = "en") -> tuple[pd.DataFrame, dict]:
    """Return the council table as one long frame (region, name, scenario, year, observed, variables) and kinds."""
    names = _region_names(table, lang)
    t = table.drop_vars([c for c in table.coords if c not in table.dims and c != "observed"])
    order = [d for d in ("region", "scenario", "year") if d in t.dims]
    df = t.to_dataframe(dim_order=order).reset_index()   # the variables in the table's order
    df.insert(1, "region_name", [names.get(r, "") for r in df["region"]])
    if "scenario" in df:
        df["scenario"] = [label(str(s), lang) for s in df["scenario"]]
    df["observed"] = np.where(df["observed"], label("yes", lang), label("no", lang))
    df = df.rename(columns={"observed": "Observed"})
    front = ["region", "region_name", "scenario", "year", "Observed"]
    df = df[[c for c in front if c in df] + [c for c in df.columns if c not in front]]
    df["region"] = [label("total", lang) if r == "total" else r for r in df["region"]]
    kinds = _kinds(t, lang) | {label("year", lang): "int"}
    df.columns = [label(str(c), lang) for c in df.columns]
    return df, kinds


def population_frame(base: xr.DataArray, projection: xr.Dataset, *, lang: str = "en") -> tuple[pd.DataFrame, dict]:
    """Return the population by region, scenario, sex and age with one column per year (the base year first)."""
    pop = projection["population"]
    b = base.drop_vars([c for c in base.coords if c not in base.dims]).sel(region=pop["region"].values)
    b = b.expand_dims(year=[int(base["year"])] if "year" not in b.dims else None)
    if "scenario" in pop.dims:
        b = b.expand_dims(scenario=pop["scenario"].values)
    p = pop.drop_vars([c for c in pop.coords if c not in pop.dims])
    both = xr.concat([b.transpose(*p.dims).astype(float), p], dim="year", join="exact")
    order = [d for d in ("region", "scenario", "sex", "age") if d in both.dims]
    wide = both.transpose(*order, "year").to_pandas() if len(order) == 1 else None
    if wide is None:
        arr = both.transpose(*order, "year").values.reshape(-1, both.sizes["year"])
        idx = pd.MultiIndex.from_product([both[d].values for d in order], names=order)
        wide = pd.DataFrame(arr, index=idx, columns=[int(y) for y in both["year"].values])
    df = wide.reset_index()
    names = _region_names(projection, lang)
    df.insert(1, "region_name", [names.get(r, "") for r in df["region"]])
    for d in ("scenario", "sex"):
        if d in df:
            df[d] = [label(str(s), lang) for s in df[d]]
    kinds = {y: "persons" for y in both["year"].values.tolist()} | {label("age", lang): "int"}
    df.columns = [label(str(c), lang) if not isinstance(c, (int, np.integer)) else int(c) for c in df.columns]
    return df, kinds


def assumptions_frame(paths: xr.Dataset, history: xr.Dataset | None, *, lang: str = "en"):
    """Return the observed (pooled regions) and assumed TFR and life expectancy by year as one frame."""
    rows = []
    yes = label("observed, pooled regions", lang)
    if history is not None:
        for y in history["year"].values.tolist():
            r = {"scenario": yes, "region": "", "region_name": "", "year": int(y),
                 "tfr": float(history["tfr"].sel(year=y))}
            if "e0" in history:
                for s in ("female", "male"):
                    r[f"e0_{s}"] = float(history["e0"].sel(year=y, sex=s))
            rows.append(r)
    names = _region_names(paths, lang)
    bare = paths.drop_vars([c for c in paths.coords if c not in paths.dims])
    if "scenario" not in bare.dims:
        bare = bare.expand_dims(scenario=["main"])
    if "region" not in bare.dims:
        bare = bare.expand_dims(region=[""])
    tfr = bare["tfr"]
    tfr = tfr.isel({d: 0 for d in tfr.dims if d == "sex"}, drop=True)
    e0 = bare["e0"].broadcast_like(tfr)
    for s in tfr["scenario"].values.tolist():
        for reg in tfr["region"].values.tolist():
            t = tfr.sel(scenario=s, region=reg)
            e = e0.sel(scenario=s, region=reg)
            for i, y in enumerate(t["year"].values.tolist()):
                rows.append({"scenario": label(str(s), lang), "region": reg, "region_name": names.get(reg, ""),
                             "year": int(y), "tfr": float(t.sel(year=y)),
                             "e0_female": float(e.sel(sex="female", year=y)),
                             "e0_male": float(e.sel(sex="male", year=y))})
    df = pd.DataFrame(rows)
    heads = {"e0_female": f"{label('e0', lang)}, {label('female', lang).lower()}",
             "e0_male": f"{label('e0', lang)}, {label('male', lang).lower()}"}
    df.columns = [heads.get(c, label(c, lang)) for c in df.columns]
    kinds = {label("tfr", lang): "rate", heads["e0_female"]: "years", heads["e0_male"]: "years",
             label("year", lang): "int"}
    return df, kinds


def dataset_frame(ds: xr.Dataset, *, order, lang: str = "en") -> tuple[pd.DataFrame, dict]:
    """Return a small Dataset (e.g. labour force, forecast vs actual) as a long frame with labelled headers."""
    names = _region_names(ds, lang)
    bare = ds.drop_vars([c for c in ds.coords if c not in ds.dims])
    df = bare.to_dataframe(dim_order=[d for d in order if d in bare.dims]).reset_index()
    if "region" in df:
        df.insert(df.columns.get_loc("region") + 1, "region_name", [names.get(r, "") for r in df["region"]])
    if "scenario" in df:
        df["scenario"] = [label(str(s), lang) for s in df["scenario"]]
    kinds = _kinds(bare, lang) | {label("year", lang): "int"}
    df.columns = [label(str(c), lang) for c in df.columns]
    return df, kinds


def write_workbook(path, *, table, observed_table, base, projection, paths, history, labour=None,
                   against=None, lang: str = "en", title: str, subtitle: str) -> None:
    """Write ``forecast.xlsx``: the council table, the observed history, population by age, assumptions,
    labour force and forecast vs actual, one sheet each."""
    sheets = [(label("Council table", lang), *council_frame(table, lang=lang))]
    if observed_table is not None:
        df, kinds = council_frame(observed_table.assign_coords(
            observed=("year", np.ones(observed_table.sizes["year"], bool))), lang=lang)
        sheets.append((label("Observed history", lang), df.drop(columns=[label("Observed", lang)]), kinds))
    sheets.append((label("Population by age", lang), *population_frame(base, projection, lang=lang)))
    sheets.append((label("Assumptions", lang), *assumptions_frame(paths, history, lang=lang)))
    if labour is not None:
        sheets.append((label("Labour force", lang), *dataset_frame(labour, order=("region", "scenario", "year"),
                                                                    lang=lang)))
    if against is not None:
        sheets.append((label("Forecast vs actual", lang), *dataset_frame(
            against, order=("region", "year", "scenario"), lang=lang)))
    to_xlsx(path, sheets, title=title, subtitle=subtitle)
