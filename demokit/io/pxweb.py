"""Reader for SCB's PX-Web CSV download format.

One row per region × (civil status) × age × sex, one column per
``CONTENTCODE YEAR`` (e.g. ``BE0101A2 2006``).  Content codes map to cube
variables by :data:`CONTENT_CODES`; dimensions other than region, age and sex
(such as ``Civilstand``) are summed over.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import xarray as xr

from ..cube import CubeError
from ._common import (ReadError, check_table, fold_mothers_ages, open_text, parse_age, read_csv_text,
                      to_numbers)
from .regioncodes import region_names

__all__ = ["CONTENT_CODES", "read_pxweb_csv", "read_pxweb", "merge_parts"]

#: SCB content code → (cube variable, age convention or None for stocks)
CONTENT_CODES = {
    "BE0101N1": ("population", None),
    "BE0101E2": ("births", "year_end"),
    "BE0101D8": ("deaths", "year_end"),          # by age reached during the year
    "BE0101D9": ("deaths", "at_event"),          # by completed age at death
    "BE0101A5": ("mean_population", None),       # medelfolkmängd by year of birth
    "BE0101AU": ("all_in_migration", "year_end"),   # in-movers incl. immigrants
    "BE0101AV": ("all_out_migration", "year_end"),  # out-movers incl. emigrants
    "BE0101AX": ("immigration", "year_end"),
    "BE0101AY": ("emigration", "year_end"),
    "BE0101AZ": ("net_migration", "year_end"),
    "BE0101A1": ("net_immigration", "year_end"),
    "BE0101A2": ("in_migration", "year_end"),    # from other Swedish municipalities
    "BE0101A3": ("out_migration", "year_end"),   # to other Swedish municipalities
    "BE0101A4": ("net_domestic_migration", "year_end"),
}
_AGE_COLUMNS = ("Alder", "Ålder", "AlderModer", "Ålder modern", "age")
_SEX_COLUMNS = ("Kon", "Kön", "sex")
_SEX_CODES = {"1": "male", "2": "female", "män": "male", "kvinnor": "female",
              "male": "male", "female": "female"}
_CONTENT = re.compile(r"^\s*([A-Za-z0-9]+)\s+(\d{4})\s*$")


def read_pxweb_csv(path, *, fertile_ages: tuple[int, int] = (15, 49)) -> xr.Dataset:
    """Return the variables of one PX-Web CSV file as a Dataset.

    Parameters
    ----------
    path : path-like
        A CSV downloaded from SCB's statistical database (PX-Web), optionally
        gzip-compressed; comma-separated, or semicolon-separated with decimal
        commas (PX-Web's export in Swedish, or a file re-saved by a Swedish
        Excel).
    fertile_ages : (int, int)
        For births by the mother's age: ``"<15"`` is folded into the lowest and
        an open group at or above the highest (``"49+"``, ``"50+"``) into the
        highest fertile age, as SCB's tables do (their ``"49+"`` holds the
        births to mothers 49 and over, and SCB's TFR over 15–49 includes them);
        the folded labels are named in the births' ``attrs["folded_ages"]``.
        An open group that starts below the highest fertile age (``"45+"``)
        is a :class:`ReadError` (see :func:`~demokit.io._common.fold_mothers_ages`).

    Returns
    -------
    xarray.Dataset
        One variable per content code (named by :data:`CONTENT_CODES`), dims
        ``region, sex, age, year``; other classifications are summed over.
    """
    path = os.fspath(path)
    df = read_csv_text(open_text(path), path)
    cols = list(df.columns)
    if "Region" not in cols:
        raise ReadError(f"{path}, line 1: expected a 'Region' column, got {cols[:6]}")
    age_col = next((c for c in _AGE_COLUMNS if c in cols), None)
    sex_col = next((c for c in _SEX_COLUMNS if c in cols), None)
    if age_col is None or sex_col is None:
        raise ReadError(f"{path}, line 1: expected an age column ({'/'.join(_AGE_COLUMNS[:3])}) "
                        f"and a sex column (Kon), got {cols[:6]}")
    value_cols, codes, years = [], [], []
    for c in cols:
        m = _CONTENT.match(c)
        if m:
            value_cols.append(c)
            codes.append(m.group(1))
            years.append(int(m.group(2)))
    if not value_cols:
        raise ReadError(f"{path}, line 1: no 'CONTENTCODE YEAR' columns (e.g. 'BE0101N1 2019')")
    unknown = sorted({c for c in codes if c not in CONTENT_CODES})
    if unknown:
        raise ReadError(f"{path}, line 1: unknown content code {unknown[0]!r}; "
                        f"known: {sorted(CONTENT_CODES)}")
    # ages
    is_births = any(CONTENT_CODES[c][0] == "births" for c in codes)
    ages = np.empty(len(df), dtype=np.int64)
    kinds = np.empty(len(df), dtype=object)
    opens = set()
    for i, lab in enumerate(df[age_col].to_numpy()):
        try:
            kind, x = parse_age(lab)
        except ValueError:
            kind, x = "bad", None
        if kind == "age" or kind == "open" or (kind == "below" and is_births):
            ages[i], kinds[i] = x, kind
            if kind == "open":
                opens.add(x)
        else:
            raise ReadError(f"{path}, line {i + 2}: {age_col} {lab!r} is not an age "
                            "(expected e.g. '23' or '100+')")
    folded = None
    if is_births:
        ages, folded, bad = fold_mothers_ages(kinds, ages, df[age_col].to_numpy(), fertile_ages)
        if bad is not None:
            raise ReadError(f"{path}, line {bad[0] + 2}: {bad[1]}")
    sexes = df[sex_col].str.strip().str.lower().map(_SEX_CODES)
    if sexes.isna().any():
        i = int(np.argmax(sexes.isna().to_numpy()))
        raise ReadError(f"{path}, line {i + 2}: {sex_col} {df[sex_col].iloc[i]!r} is not a sex code "
                        "(expected 1 = men, 2 = women)")
    values = to_numbers(df, value_cols)
    bad = values.isna().to_numpy()
    if bad.any():
        i, j = np.unravel_index(int(np.argmax(bad)), bad.shape)
        raw = df[value_cols[j]].iloc[i]
        if str(raw).strip() in ("..", ".", "-"):
            raise ReadError(f"{path}, line {i + 2}, column {value_cols[j]!r}: value {raw!r} is missing "
                            "(SCB's marker for an unpublished cell); a count is required")
        raise ReadError(f"{path}, line {i + 2}, column {value_cols[j]!r}: {raw!r} is not a number")
    nets = {"BE0101AZ", "BE0101A1", "BE0101A4"}
    check_table(df[[c for c in cols if c not in value_cols]], values, path,
                signed=[c for c, code in zip(value_cols, codes) if code in nets],
                halves=[c for c, code in zip(value_cols, codes) if code == "BE0101A5"])
    keys = pd.DataFrame({"region": df["Region"].astype(str).str.strip().to_numpy(),
                         "sex": sexes.to_numpy(), "age": ages})
    out = {}
    for code in dict.fromkeys(codes):
        name, conv = CONTENT_CODES[code]
        sel = [k for k, c in enumerate(codes) if c == code]
        block = values.iloc[:, sel].copy()
        block.columns = [years[k] for k in sel]
        long = pd.concat([keys, block], axis=1).groupby(["region", "sex", "age"]).sum()
        long.columns.name = "year"
        da = xr.DataArray(long.to_numpy(dtype=np.float64), dims=("cell", "year"),
                          coords={"cell": long.index, "year": np.asarray(long.columns, dtype=np.int64)})
        da = da.unstack("cell").fillna(0.0).transpose("region", "sex", "age", "year")
        da = da.sortby(["region", "age", "year"])
        da.name = name
        da.attrs["content_code"] = code
        if conv is not None:
            da.attrs["age_convention"] = conv
        if name == "births" and folded:
            da.attrs["folded_ages"] = folded
        out[name] = da
    ds = xr.Dataset(out)
    ds.attrs["source"] = f"Statistics Sweden (SCB), PX-Web CSV {os.path.basename(path)}"
    if not is_births and opens:
        ds.attrs["open_age"] = int(max(opens))
    codes = ds["region"].values.tolist()
    return ds.assign_coords(region_name=("region", region_names(codes)))


def read_pxweb(*paths, regions=None, fertile_ages: tuple[int, int] = (15, 49)) -> xr.Dataset:
    """Return a cube merged from several PX-Web CSV files.

    Parameters
    ----------
    *paths : path-like
        Files with population, births, deaths, migration, ...
    regions : sequence of str, optional
        Keep only these region codes (e.g. to drop the country ``"00"`` that
        some tables carry).  Without it every file must hold the same regions.
    fertile_ages : (int, int)
        See :func:`read_pxweb_csv`.

    Returns
    -------
    xarray.Dataset
        Dims ``region, sex, age, year``; births on the population's age axis
        (zero outside the fertile ages); ``attrs["open_age"]`` from the
        population's open age group.
    """
    if not paths:
        raise ReadError("read_pxweb: no files given")
    parts = [read_pxweb_csv(p, fertile_ages=fertile_ages) for p in paths]
    merged = merge_parts(parts, [os.fspath(p) for p in paths], regions=regions)
    merged.attrs["source"] = "Statistics Sweden (SCB), PX-Web CSV: " + ", ".join(
        os.path.basename(os.fspath(p)) for p in paths)
    return merged


def _check_same_axes(parts, names, ages, oa) -> None:
    """Raise :class:`CubeError` where a file's ages or sexes do not cover the cube's (they would be zeros).

    Every variable but births must list every age of the merged cube and every
    sex of the other files; births (by the mother's age) list a run of consecutive ages without
    a gap, zero outside it.  A file whose open age group ends below another
    file's (``90+`` against ``100+``) is named with both open ages.
    """
    sexes = sorted(set().union(*(p["sex"].values.tolist() for p in parts if "sex" in p.dims)))
    for p, part in zip(names, parts):
        have = part["age"].values.tolist()
        for v in part.data_vars:
            if "age" not in part[v].dims:
                continue
            if v == "births":
                gaps = np.flatnonzero(np.diff(have) != 1)
                if gaps.size:
                    i = int(gaps[0])
                    raise CubeError(f"{p}: births has no rows for age={have[i] + 1} (age={have[i + 1]} follows "
                                    f"age={have[i]}); births by the mother's age must list every age of their "
                                    "range — missing rows are never read as zeros")
                continue
            missing = sorted(set(ages) - set(have))
            if missing:
                own = part.attrs.get("open_age")
                if own is not None and oa is not None and int(own) < oa:
                    other = next(n for n, q in zip(names, parts) if int(q.attrs.get("open_age", -1)) == oa)
                    raise CubeError(f"{p}: {v} ends with the open age group {int(own)}+ but {other} goes to "
                                    f"{oa}+; give every file the same open age group")
                raise CubeError(f"{p}: {v} has no rows for age={missing[0]}"
                                f"{f' (and {len(missing) - 1} more ages)' if len(missing) > 1 else ''}; every age "
                                f"{ages[0]}-{ages[-1]} of the other files is needed — missing rows are never "
                                "read as zeros")
        if "sex" in part.dims:
            lacking = [s for s in sexes if s not in part["sex"].values.tolist()]
            if lacking:
                other = next(n for n, q in zip(names, parts) if "sex" in q.dims and lacking[0] in q["sex"].values)
                raise CubeError(f"{p}: {', '.join(part.data_vars)} has no rows for sex={lacking[0]!r} ({other} "
                                "has them); missing rows are never read as zeros")


def _lost_zero_hint(codes, others) -> str:
    """A hint when a region code differs from another only by leading zeros ('180' and '0180': Excel drops them)."""
    others = [str(o) for o in others]
    for c in codes:
        twin = next((o for o in others if o != str(c) and o.lstrip("0") == str(c).lstrip("0")), None)
        if twin is not None:
            short, long_ = sorted((str(c), twin), key=len)
            return (f" ('{short}' and '{long_}' differ only by a leading zero, which a spreadsheet drops: write "
                    "region codes as text, e.g. '0180')")
    return ""


def merge_parts(parts, names, *, regions=None) -> xr.Dataset:
    """Return one cube merged from per-file Datasets (the core of :func:`read_pxweb` and :func:`read`).

    ``names`` (the files, for messages) are as long as ``parts``.  With
    ``regions`` only those region codes are kept (each file must hold them);
    without it every part must hold the same regions.  Ages a table does not
    list (births outside the fertile ages) are zero; years a table does not
    cover stay missing (NaN).  A variable may come from one file only.  The
    ``region_name`` coordinate is taken from the files' labels where they
    have one, else from :func:`region_names`.
    """
    from .regioncodes import region_names

    labels: dict[str, str] = {}
    for part in parts:
        if "region_name" in part.coords:
            for r, n in zip(part["region"].values.tolist(), part["region_name"].values.tolist()):
                if n and r not in labels:
                    labels[r] = n
    parts = [p.drop_vars("region_name") if "region_name" in p.coords else p for p in parts]
    if regions is not None:
        regions = [str(r) for r in regions]
        for p, part in zip(names, parts):
            missing = sorted(set(regions) - set(part["region"].values.tolist()))
            if missing:
                raise CubeError(f"{p}: regions {missing} not in the file"
                                f"{_lost_zero_hint(missing, part['region'].values.tolist())}")
        parts = [p.sel(region=regions) for p in parts]
    else:
        first = set(parts[0]["region"].values.tolist())
        for p, part in zip(names[1:], parts[1:]):
            other = set(part["region"].values.tolist())
            if other != first:
                raise CubeError(f"{p}: regions differ from {names[0]}'s: "
                                f"{sorted(first ^ other)}; pass regions=[...] to choose"
                                f"{_lost_zero_hint(sorted(first ^ other), sorted(first | other))}")
    oa = max((int(p.attrs["open_age"]) for p in parts if "open_age" in p.attrs), default=None)
    ages = sorted(set().union(*(p["age"].values.tolist() for p in parts)))
    years = sorted(set().union(*(p["year"].values.tolist() for p in parts)))
    _check_same_axes(parts, names, ages, oa)
    seen: dict[str, str] = {}
    for p, part in zip(names, parts):
        for v in part.data_vars:
            if v in seen:
                raise CubeError(f"variable {v!r} found in more than one file ({seen[v]}, {p})")
            seen[v] = p
    merged = xr.merge([p.reindex(age=ages, year=years, fill_value=np.nan) for p in parts],
                      join="outer", combine_attrs="drop")
    for v in merged.data_vars:
        # ages a table does not list (births outside fertile ages) are zero; years stay missing
        # (a missing value the caller kept as NaN stays NaN)
        present = [p for p in parts if v in p.data_vars][0]
        outside = ~merged["age"].isin(present["age"]) | ~merged["sex"].isin(present["sex"])
        merged[v] = xr.where(outside, 0.0, merged[v]).where(merged["year"].isin(present["year"]))
        merged[v].attrs = present[v].attrs
    merged = merged.transpose("region", "sex", "age", "year")
    if oa is not None:
        merged.attrs["open_age"] = oa
    codes = merged["region"].values.tolist()
    merged = merged.assign_coords(region_name=("region", [labels.get(c) or n
                                                          for c, n in zip(codes, region_names(codes))]))
    return merged
