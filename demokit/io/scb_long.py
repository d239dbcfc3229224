"""Reader for long SCB CSVs ``age,sex,region,year,value`` (the county files)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import xarray as xr

from ..cube import CubeError
from ._common import (ReadError, allocate_largest_remainder, check_table, fold_mothers_ages, open_text, parse_age,
                      read_csv_text, to_numbers)

__all__ = ["COUNTY_CODES", "read_scb_long", "read_county_cube"]

#: SCB county (län) codes by the ASCII county names used in the long files.
COUNTY_CODES = {
    "Stockholm": "01", "Uppsala": "03", "Sodermanland": "04", "Ostergotland": "05",
    "Jonkoping": "06", "Kronoberg": "07", "Kalmar": "08", "Gotland": "09",
    "Blekinge": "10", "Skane": "12", "Halland": "13", "Gotaland": "14",
    "Varmland": "17", "Orebro": "18", "Vastmanland": "19", "Dalarna": "20",
    "Gavleborg": "21", "Vasternorrland": "22", "Jamtland": "23", "Vasterbotten": "24",
    "Norrbotten": "25",
}
#: county names with their Swedish spelling, by code
COUNTY_NAMES = {
    "01": "Stockholm", "03": "Uppsala", "04": "Södermanland", "05": "Östergötland",
    "06": "Jönköping", "07": "Kronoberg", "08": "Kalmar", "09": "Gotland",
    "10": "Blekinge", "12": "Skåne", "13": "Halland", "14": "Västra Götaland",
    "17": "Värmland", "18": "Örebro", "19": "Västmanland", "20": "Dalarna",
    "21": "Gävleborg", "22": "Västernorrland", "23": "Jämtland", "24": "Västerbotten",
    "25": "Norrbotten",
}
_SEX = {"females": "female", "female": "female", "kvinnor": "female", "2": "female",
        "males": "male", "male": "male", "män": "male", "1": "male"}
_COLUMNS = ("age", "sex", "region", "year", "value")


def _region_code(name: str) -> str:
    s = str(name).strip()
    if s in COUNTY_CODES:
        return COUNTY_CODES[s]
    if s.isdigit():
        return s
    raise ValueError(s)


def read_scb_long(path, *, name: str, fertile_ages: tuple[int, int] | None = None,
                  age_convention: str | None = None) -> xr.DataArray:
    """Return one cube variable read from a long SCB CSV ``age,sex,region,year,value``.

    Parameters
    ----------
    path : path-like
        The CSV (plain or gzip-compressed).
    name : str
        Name of the variable (``"population"``, ``"births"``, ``"deaths"``, ...).
    fertile_ages : (int, int), optional
        For births by the mother's age: the lowest and highest fertile age.
        ``"<15"`` is folded into the lowest, ``"49+"`` (or any open group at
        or above the highest fertile age, ``"50+"``: SCB's convention, its TFR
        over 15–49 counts these births at 49) into the highest, and
        births with ``"no information"`` on the mother's age are distributed
        over the ages in proportion to the known births of the same region,
        sex and year (largest-remainder rounding, so totals are preserved
        exactly and counts stay whole).  The folding is recorded in ``attrs``.
    age_convention : {"year_end", "at_event"}, optional
        Recorded in ``attrs`` of event variables.

    Returns
    -------
    xarray.DataArray
        Dims ``region, sex, age, year``; ``region`` holds SCB codes with a
        ``region_name`` coordinate.
    """
    path = os.fspath(path)
    df = read_csv_text(open_text(path), path)
    missing = [c for c in _COLUMNS if c not in df.columns]
    if missing:
        raise ReadError(f"{path}, line 1: expected columns {list(_COLUMNS)}, missing {missing}")
    n = len(df)
    kind = np.empty(n, dtype=object)
    ages = np.zeros(n, dtype=np.int64)
    cache: dict[str, tuple] = {}
    for i, lab in enumerate(df["age"].to_numpy()):
        r = cache.get(lab)
        if r is None:
            try:
                r = parse_age(lab)
            except ValueError:
                raise ReadError(f"{path}, line {i + 2}: age {lab!r} is not an age label "
                                "(expected e.g. '23', '100+', '<15' or 'no information')") from None
            cache[lab] = r
        kind[i], ages[i] = r[0], (r[1] if r[1] is not None else -1)
    sexes = df["sex"].str.strip().str.lower().map(_SEX)
    if sexes.isna().any():
        i = int(np.argmax(sexes.isna().to_numpy()))
        raise ReadError(f"{path}, line {i + 2}: sex {df['sex'].iloc[i]!r} is not 'Females'/'Males'")
    regions = []
    rcache: dict[str, str] = {}
    for i, r in enumerate(df["region"].to_numpy()):
        c = rcache.get(r)
        if c is None:
            try:
                c = rcache[r] = _region_code(r)
            except ValueError:
                raise ReadError(f"{path}, line {i + 2}: unknown region {r!r} "
                                "(expected a county name or an SCB code)") from None
        regions.append(c)
    years = pd.to_numeric(df["year"], errors="coerce")
    values = to_numbers(df, ["value"])["value"]
    for col, parsed in (("year", years), ("value", values)):
        if parsed.isna().any():
            i = int(np.argmax(parsed.isna().to_numpy()))
            raise ReadError(f"{path}, line {i + 2}: {col} {df[col].iloc[i]!r} is not a number")
    check_table(df[list(_COLUMNS[:4])], pd.DataFrame({"value": values}), path)
    tidy = pd.DataFrame({"region": regions, "sex": sexes.to_numpy(), "kind": kind, "age": ages,
                         "year": years.astype(np.int64).to_numpy(), "value": values.to_numpy()})
    attrs: dict = {}
    if fertile_ages is not None:
        lo, hi = fertile_ages
        folded_ages, note, bad = fold_mothers_ages(kind, ages, df["age"].to_numpy(), (lo, hi))
        if bad is not None:
            raise ReadError(f"{path}, line {bad[0] + 2}: {bad[1]}")
        tidy["age"] = folded_ages
        unknown = tidy[tidy["kind"] == "unknown"]
        tidy = tidy[tidy["kind"] != "unknown"]
        attrs["folded_ages"] = "; ".join(filter(None, [
            note, "births with no information on the mother's age distributed over the "
                  "ages in proportion to the known births (largest-remainder rounding)"]))
    else:
        unknown = tidy.iloc[:0]
        if (tidy["kind"].isin(["below", "unknown"])).any():
            i = int(np.argmax(tidy["kind"].isin(["below", "unknown"]).to_numpy()))
            raise ReadError(f"{path}, line {i + 2}: age {df['age'].iloc[i]!r} only allowed for births "
                            "by mother's age")
    tidy = tidy.groupby(["region", "sex", "age", "year"], as_index=False)["value"].sum()
    da = tidy.set_index(["region", "sex", "age", "year"])["value"].to_xarray().fillna(0.0)
    if len(unknown):
        u = unknown.groupby(["region", "sex", "year"])["value"].sum().to_xarray()
        u = u.reindex_like(da.isel(age=0, drop=True), fill_value=0.0)
        w = da.transpose("region", "sex", "year", "age")
        whole = np.round(u.values)
        if not np.array_equal(whole, u.values):
            raise ReadError(f"{path}: 'no information' births are not whole numbers")
        extra = allocate_largest_remainder(w.values, whole.astype(np.int64))
        da = (w + extra).transpose("region", "sex", "age", "year")
        attrs["unallocated_births_distributed"] = float(whole.sum())
    if fertile_ages is None:
        opens = sorted(set(ages[kind == "open"].tolist()))
        if len(opens) > 1:
            raise ReadError(f"{path}: several open age groups {opens}")
    da = da.astype(np.float64)
    da.name = name
    da = da.assign_coords(region_name=("region", [COUNTY_NAMES.get(r, r) for r in da["region"].values]))
    da.attrs.update(attrs)
    if age_convention is not None:
        da.attrs["age_convention"] = age_convention
    return da


def read_county_cube(popn, births, deaths, *, fertile_ages=(15, 49),
                     deaths_convention: str = "at_event",
                     births_convention: str = "year_end") -> xr.Dataset:
    """Return a cube from the three long county files (population, births, deaths).

    Births are put on the population's age axis (zero outside the fertile
    ages); deaths keep their age convention (completed age at death by
    default, as in SCB table BE0101D9).
    """
    pop = read_scb_long(popn, name="population")
    b = read_scb_long(births, name="births", fertile_ages=fertile_ages, age_convention=births_convention)
    d = read_scb_long(deaths, name="deaths", age_convention=deaths_convention)
    for other in (b, d):
        for dim in ("region", "sex", "year"):
            a, o = set(pop[dim].values.tolist()), set(other[dim].values.tolist())
            if a != o:
                diff = sorted(a ^ o)
                raise CubeError(f"{other.name}: {dim} differs from population's: {diff[:5]}")
    bages = b["age"].values.tolist()
    gaps = np.flatnonzero(np.diff(bages) != 1)
    if gaps.size:   # (ages outside the births' range are zero; a gap inside it would be read as zeros)
        i = int(gaps[0])
        raise CubeError(f"{births}: births has no rows for age={bages[i] + 1} (age={bages[i + 1]} follows "
                        f"age={bages[i]}); missing rows are never read as zeros")
    b = b.reindex(age=pop["age"], fill_value=0.0)
    dages, pages = d["age"].values.tolist(), pop["age"].values.tolist()
    if dages != pages:   # the same ages (and open age): a missing age would be read as zero deaths
        only = [a for a in pages if a not in set(dages)] or [a for a in dages if a not in set(pages)]
        which, other = (deaths, popn) if only[0] in set(pages) else (popn, deaths)
        raise CubeError(f"{which}: no rows for age={only[0]} ({other} has them; open ages: population "
                        f"{pages[-1]}+, deaths {dages[-1]}+); missing rows are never read as zeros")
    ds = xr.Dataset({"population": pop, "births": b, "deaths": d})
    ds = ds.transpose("region", "sex", "age", "year")
    ds.attrs["open_age"] = int(pop["age"].max())
    ds.attrs["source"] = "Statistics Sweden (SCB), tables BE0101N1, BE0101E2, BE0101D9"
    return ds
