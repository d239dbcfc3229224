"""Tables for a municipal council: population, planning age groups, components and försörjningskvot by year."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .accounting import net_migration
from .components import COMPONENTS as _TABLE
from .components import EVENT_NAMES
from .cube import CubeError

__all__ = ["COUNCIL_AGE_GROUPS", "COMPONENTS", "age_group_name", "forecast_table", "observed_table", "origin_table"]

#: the age groups municipalities plan by: (first age, last age or None for "and over")
#: 0 (BVC/parental leave), 1–5 (förskola), 6–15 (förskoleklass, grundskola),
#: 16–19 (gymnasieskola), 20–64 (working ages), 65–79, 80+ (elderly care)
COUNCIL_AGE_GROUPS = ((0, 0), (1, 5), (6, 15), (16, 19), (20, 64), (65, 79), (80, None))

#: the components of change in the table, in the order of the columns (demokit.components.COMPONENTS;
#: an optional component, e.g. emigration to an unknown country, only when the data have it)
COMPONENTS = EVENT_NAMES
_OPTIONAL = tuple(c.name for c in _TABLE if c.optional)


def age_group_name(lo: int, hi: int | None) -> str:
    """Return the variable name of an age group: ``aged_0``, ``aged_1_5``, ``aged_80_plus``."""
    if hi is None:
        return f"aged_{lo}_plus"
    return f"aged_{lo}" if hi == lo else f"aged_{lo}_{hi}"


def _group_label(lo: int, hi: int | None) -> str:
    return f"{lo}+" if hi is None else (f"{lo}" if hi == lo else f"{lo}–{hi}")


def _by_year(ds: xr.Dataset, name: str) -> xr.DataArray:
    """Sum of ``ds[name]`` over every dim but scenario, region and year (a NaN cell makes the sum NaN)."""
    v = ds[name]
    return v.sum([d for d in v.dims if d not in ("scenario", "region", "year")], skipna=False)


#: the groups of the dependency ratio (SCB): 0–19, 20–64, 65+
_DEPENDENCY_GROUPS = {"_young": (0, 19), "_working": (20, 64), "_old": (65, None)}


def _cut_groups(groups: dict, oa: int) -> list:
    """The groups the open age ``oa`` cuts: ``oa+`` holds everyone aged ``oa`` and over, so a group ending at or
    above it would count the older persons too, and one starting above it none (an open age 60 gave 20–64
    every adult, 65–79 and 80+ zeros and a third of the dependency ratio, silently).  They are NaN."""
    return [name for name, (lo, hi) in groups.items() if lo > oa or (hi is not None and hi >= oa)]


def _rows(ds: xr.Dataset, age_groups) -> dict:
    pop = ds["population"]
    ages = pop["age"]
    out = {"population": _by_year(ds, "population")}
    groups = {age_group_name(lo, hi): (lo, hi) for lo, hi in age_groups} | _DEPENDENCY_GROUPS
    cut = _cut_groups(groups, int(ages.values.max()))
    for name, (lo, hi) in groups.items():
        inside = (ages >= lo) if hi is None else ((ages >= lo) & (ages <= hi))
        out[name] = pop.where(inside, 0.0).sum([d for d in pop.dims if d not in ("scenario", "region", "year")],
                                               skipna=False)
        if name in cut:
            out[name] = out[name] * np.nan
    for c in COMPONENTS:
        if c in ds:
            out[c] = _by_year(ds, c)
        elif c not in _OPTIONAL:   # (an optional component the data lack has no column)
            out[c] = xr.full_like(out["population"], np.nan)
    # net migration of the flows these data have: an optional flow they do not split out is part of its ordinary
    # flow (observed emigration includes the emigrants to an unknown country), so the net stays computable
    out["net_migration"] = net_migration(xr.Dataset(out))
    out["natural_increase"] = out["births"] - out["deaths"]
    return out


def _population_change(pop: xr.DataArray, before) -> xr.DataArray:
    """``P(t) − P(t−1)`` along ``year``: the previous row where it is the year before, ``before`` (the population
    of the year before the first row, by region, or None) for the first row; NaN where the year before is not
    known."""
    years = pop["year"].values
    prev = pop.shift(year=1)
    gap = np.r_[True, np.diff(years) != 1]          # the row before is not the year before
    prev = prev.where(~xr.DataArray(gap, dims="year", coords={"year": years}))
    if before is not None:
        prev = xr.where(pop["year"] == years[0], before, prev).transpose(*pop.dims)
    return pop - prev


def _finish(tab: xr.Dataset, age_groups, *, total: bool, region_names: dict, before=None,
            open_age: int) -> xr.Dataset:
    """Add the population change, the sum of all regions and the dependency ratio; order the variables.

    ``before``: the population of the year before the first row by region (or None); ``open_age``: the lowest
    open age of the rows (the groups it cuts are NaN, and say so in their attrs).
    """
    tab["population_change"] = _population_change(tab["population"], before)
    if total and tab.sizes.get("region", 1) > 1:
        all_ = tab.sum("region", skipna=False).expand_dims(region=["total"])
        tab = xr.concat([tab, all_], dim="region", data_vars="all", coords="minimal", join="exact")
    definition = net_migration(tab).attrs["definition"].replace(" (flyttningsnetto)", "")
    tab["dependency_ratio"] = 100 * (tab["_young"] + tab["_old"]) / tab["_working"].where(tab["_working"] > 0)
    comps = [c for c in COMPONENTS if c in tab]
    names = ["population"] + [age_group_name(lo, hi) for lo, hi in age_groups] + comps + \
        ["natural_increase", "net_migration", "population_change", "dependency_ratio"]
    tab = tab[names]
    if region_names and "region" in tab.dims:
        tab = tab.assign_coords(region_name=("region", [str(region_names.get(r, ""))
                                                        for r in tab["region"].values.tolist()]))
    for lo, hi in age_groups:
        tab[age_group_name(lo, hi)].attrs = {"units": "persons", "long_name": f"aged {_group_label(lo, hi)}"}
    for c in ("population", *comps, "natural_increase", "net_migration", "population_change"):
        tab[c].attrs = {"units": "persons"}
    tab["population"].attrs["long_name"] = "population on 31 December"
    tab["net_migration"].attrs["definition"] = definition
    tab["natural_increase"].attrs.update(long_name="natural increase (födelseöverskott)",
                                         definition="births - deaths")
    tab["population_change"].attrs.update(
        long_name="population change (folkökning)",
        definition="population - population of the year before (natural increase + net migration + adjustment)")
    tab["dependency_ratio"].attrs = {
        "units": "persons per 100 aged 20-64",
        "long_name": "demographic dependency ratio (demografisk försörjningskvot)",
        "definition": "100 * (aged 0-19 + aged 65+) / aged 20-64 (SCB)"}
    cut = _cut_groups({age_group_name(lo, hi): (lo, hi) for lo, hi in age_groups} | _DEPENDENCY_GROUPS, open_age)
    note = (f"NaN: the population's open age {open_age} ({open_age}+ holds everyone aged {open_age} and over) "
            "cuts this group")
    for name in cut:
        tab["dependency_ratio" if name.startswith("_") else name].attrs["note"] = note
    return tab


def _population_before(observed: xr.Dataset, year: int):
    """The observed population of ``year − 1`` summed to regions (None if the cube lacks that year)."""
    if year - 1 not in observed["year"].values:
        return None
    return _by_year(_bare(observed.sel(year=[year - 1])), "population").isel(year=0, drop=True)


def _names(ds) -> dict:
    if "region_name" not in ds.coords:
        return {}
    return dict(zip(ds["region"].values.tolist(), ds["region_name"].values.tolist()))


def _bare(ds: xr.Dataset) -> xr.Dataset:
    return ds.drop_vars([c for c in ds.coords if c not in ds.dims])


def _check_age_groups(age_groups) -> None:
    """Raise :class:`CubeError` at an age group ``(first, last)`` that is empty or not whole ages."""
    for g in age_groups:
        lo, hi = (tuple(g) + (None, None))[:2]
        if not (isinstance(lo, (int, np.integer)) and lo >= 0 and (hi is None or (isinstance(hi, (int, np.integer))
                                                                                  and hi >= lo))):
            raise CubeError(f"age_groups: {tuple(g)!r} is not an age group (first, last) with 0 <= first <= last "
                            "(last None for 'and over')")


def observed_table(observed: xr.Dataset, *, years=None, age_groups=COUNCIL_AGE_GROUPS,
                   total: bool = True) -> xr.Dataset:
    """Return the council table of observed years: the variables of :func:`forecast_table`.

    Parameters
    ----------
    observed : xarray.Dataset
        A cube with ``population`` and the components (``births``,
        ``deaths``, ``in_migration``, ``out_migration``, ``immigration``,
        ``emigration``); missing components are NaN.
    years : sequence of int, optional
        Default: every year of the cube.
    age_groups, total
        As in :func:`forecast_table`.

    Returns
    -------
    xarray.Dataset
        Dims ``region, year``; see :func:`forecast_table` (Notes there).
    """
    if "population" not in observed:
        raise CubeError(f"observed_table needs 'population'; the cube has {sorted(observed.data_vars)}")
    _check_age_groups(age_groups)
    full = observed
    if years is not None:
        years = [int(y) for y in years]
        have = set(int(y) for y in observed["year"].values)
        miss = [y for y in years if y not in have]
        if miss:
            raise CubeError(f"observed: year={miss[0]} is not in the data "
                            f"({int(observed['year'].min())}–{int(observed['year'].max())})")
        observed = observed.sel(year=years)
    tab = xr.Dataset(_rows(_bare(observed), age_groups))
    out = _finish(tab, age_groups, total=total, region_names=_names(observed),
                  before=_population_before(full, int(observed["year"].values[0])),
                  open_age=int(observed["age"].values.max()))
    out.attrs = {"note": "observed: population on 31 December and the events of the year"}
    return out


def forecast_table(projection: xr.Dataset, *, observed: xr.Dataset | None = None, base_year: int | None = None,
                   age_groups=COUNCIL_AGE_GROUPS, total: bool = True) -> xr.Dataset:
    """Return the council table: population, planning age groups, components and försörjningskvot by year.

    Parameters
    ----------
    projection : xarray.Dataset
        The output of :func:`demokit.project`: ``population`` (31 December)
        and the components ``births`` (by the mother's age), ``deaths``,
        ``in_migration``, ``out_migration``, ``immigration``, ``emigration``
        by ``region, sex, age, year`` (and optionally ``scenario``).
    observed : xarray.Dataset, optional
        The observed cube; its ``base_year`` becomes the first row
        (population on 31 December of the base year and the events during
        it), the same for every scenario.  Components the cube lacks are NaN.
    base_year : int, optional
        Default: the year before the projection's first year
        (``projection.attrs["base_year"]`` when set).
    age_groups : sequence of (int, int or None)
        ``(first, last)`` ages, ``None`` for "and over".  Default: the
        groups municipalities plan by, 0, 1–5, 6–15, 16–19, 20–64, 65–79, 80+.
    total : bool, default True
        With more than one region, add the sum of all regions as region
        ``"total"`` (its dependency ratio computed from the summed groups; its
        in- and out-migration include the moves between the regions, which
        cancel in its net migration).

    Returns
    -------
    xarray.Dataset
        Dims ``(scenario,) region, year`` (base year first; coordinate
        ``observed``: True for the base year).  Variables ``population``, one
        per age group (``aged_0``, ``aged_1_5``, …, ``aged_80_plus``),
        ``births``, ``deaths``, ``in_migration``, ``out_migration``,
        ``immigration``, ``emigration`` (and ``emigration_unknown`` when
        projected), ``natural_increase``, ``net_migration``,
        ``population_change`` and ``dependency_ratio``, in persons (exact, not rounded) and, for the
        ratio, persons per 100 aged 20–64.

    Raises
    ------
    CubeError
        No ``population`` in the projection, or ``observed`` without the base
        year.

    Notes
    -----
    Population ``P(t) = Σ_{s,x} P(s, x, t)``; an age group ``Σ_s Σ_{a≤x≤b} P``.
    Births are summed over the mother's age and the child's sex.
    ``net_migration = in_migration − out_migration + immigration − emigration``
    ``− emigration_unknown`` (SCB's flyttningsnetto, :func:`demokit.net_migration`).
    Natural increase (födelseöverskott) ``births − deaths``; population
    change (folkökning) ``P(t) − P(t−1)``, for the base year from the
    observed population of the year before (NaN if the cube lacks it); it
    equals natural increase + net migration in projected years, and adds the
    adjustment term (justeringsposten) in observed ones.
    Observed data that do not split out emigration to an unknown country
    (their emigration holds every emigrant) give NaN for
    ``emigration_unknown`` in the base year and a net without it.  Demographic dependency ratio (SCB's demografiska
    försörjningskvot): ``100 · (P(0–19) + P(65+)) / P(20–64)`` — the number of
    persons aged 0–19 and 65 and over per 100 persons aged 20–64.
    An age group that the population's open age ω cuts (one ending at or
    above ω, or starting above it: with ω = 60, 20–64, 65–79 and 80+) cannot
    be counted: it is NaN (and the dependency ratio with it), its ``attrs``
    say why.
    """
    if "population" not in projection:
        raise CubeError(f"forecast_table needs 'population'; the projection has {sorted(projection.data_vars)}")
    _check_age_groups(age_groups)
    yrs = projection["year"].values
    step = int(yrs[1] - yrs[0]) if yrs.size > 1 else 1
    start = int(projection.attrs.get("base_year", int(yrs[0]) - step))   # the year the projection starts from
    if base_year is None:
        base_year = start
    if observed is not None and int(base_year) != start:   # (the table would skip the years between, silently)
        raise CubeError(f"base_year={base_year}: the projection starts from the population of {start} (its first "
                        f"year is {int(yrs[0])}); the base year row must be {start}")
    tab = _bare(xr.Dataset(_rows(projection, age_groups)))
    if observed is not None:
        if base_year not in observed["year"].values:
            raise CubeError(f"observed: year={base_year} (the base year) is not in the data "
                            f"({int(observed['year'].min())}–{int(observed['year'].max())})")
        if "region" in projection.dims:
            have = set(observed["region"].values.tolist()) if "region" in observed.dims else set()
            miss = [r for r in projection["region"].values.tolist() if r not in have]
            if miss:
                raise CubeError(f"observed: region={miss[0]!r} of the projection is not in the observed data")
        by_region = {"region": projection["region"].values} if "region" in projection.dims else {}
        obs = _bare(observed.sel(year=[base_year], **by_region))
        first = xr.Dataset(_rows(obs, age_groups))
        if "scenario" in tab.dims:
            first = first.expand_dims(scenario=tab["scenario"].values)
        first = first.transpose(*tab["population"].dims)
        tab = xr.concat([first, tab], dim="year", data_vars="all", coords="minimal", join="exact")
    oa = int(projection["age"].values.max())
    if observed is not None:
        oa = min(oa, int(observed["age"].values.max()))
    tab = _finish(tab, age_groups, total=total, region_names=_names(projection),
                  before=None if observed is None else _population_before(
                      observed.sel(region=projection["region"].values) if "region" in projection.dims
                      else observed, base_year), open_age=oa)
    tab = tab.assign_coords(observed=("year", tab["year"].values == base_year))
    tab.attrs = {"base_year": base_year, "title": projection.attrs.get("title", ""),
                 "note": "the base year is observed (31 December and the events of the year); later years "
                         "are projected"}
    return tab


def origin_table(projection: xr.Dataset, *, observed: xr.Dataset | None = None,
                 base_year: int | None = None) -> xr.Dataset:
    """Return the population and the components by birth-region group (``origin``) and year.

    Parameters
    ----------
    projection : xarray.Dataset
        A projection with an ``origin`` dim (:func:`demokit.project` of
        assumptions by birth region).
    observed : xarray.Dataset, optional
        The observed cube by origin; its ``base_year`` becomes the first row
        (variables it has without ``origin``, such as deaths and births for
        kommuner, are NaN there).
    base_year : int, optional
        Default: ``projection.attrs["base_year"]`` or the year before the
        first projected year.

    Returns
    -------
    xarray.Dataset
        Dims ``(scenario,) region, origin, year`` (coordinate ``observed``):
        ``population`` and every component of the projection summed over sex
        and age — births as ``births_by_mother`` (by the mother's group) and
        ``newborns`` (every child in the first group, 0 in the others), so
        that a group's change is newborns − deaths + its migration — and
        ``population_share``, the group's share of the population in percent.

    Raises
    ------
    CubeError
        The projection has no ``origin`` dim, or ``observed`` lacks the base
        year.

    Notes
    -----
    ``share_g(t) = 100 · P_g(t) / Σ_g P_g(t)``.
    """
    if "origin" not in projection.dims:
        raise CubeError(f"origin_table needs a projection with an 'origin' dim; it has {projection.dims}")
    if base_year is None:
        base_year = int(projection.attrs.get("base_year", int(projection["year"].values[0]) - 1))
    names = ["population"] + [c for c in EVENT_NAMES if c in projection and "origin" in projection[c].dims]
    keep = ("scenario", "region", "origin", "year")

    def totals(ds, variables):
        return xr.Dataset({v: ds[v].sum([d for d in ds[v].dims if d not in keep], skipna=False) for v in variables})

    tab = _bare(totals(projection, names))
    if observed is not None:
        if base_year not in observed["year"].values:
            raise CubeError(f"observed: year={base_year} (the base year) is not in the data "
                            f"({int(observed['year'].min())}–{int(observed['year'].max())})")
        by_region = {"region": projection["region"].values} if "region" in projection.dims else {}
        obs = _bare(observed.sel(year=[base_year], **by_region))
        first = totals(obs, [v for v in names if v in obs and "origin" in obs[v].dims])
        for v in names:   # (no deaths or births by birth region for kommuner: NaN in the observed row)
            if v not in first:
                first[v] = xr.full_like(first["population"], np.nan)
        first = first[names]
        if "scenario" in tab.dims:
            first = first.expand_dims(scenario=tab["scenario"].values)
        first = first.transpose(*tab["population"].dims)
        tab = xr.concat([first, tab], dim="year", data_vars="all", coords="minimal", join="exact")
    tab["population_share"] = 100 * tab["population"] / tab["population"].sum("origin")
    for v in names:
        tab[v].attrs = {"units": "persons"}
    if "births" in tab:
        first_group = tab["origin"] == tab["origin"].values[0]
        newborns = xr.where(first_group, tab["births"].sum("origin", skipna=False), 0.0)
        tab["newborns"] = newborns.transpose(*tab["births"].dims).assign_attrs(
            units="persons", long_name="newborns (all in the first group)")
        tab["births"].attrs["long_name"] = "live births by the mother's birth region"
        tab = tab.rename(births="births_by_mother")
    tab["population_share"].attrs = {"units": "percent", "long_name": "share of the population"}
    tab = tab.assign_coords(observed=("year", tab["year"].values == base_year))
    tab.attrs = {"base_year": base_year,
                 "note": "births by the mother's birth region; newborns belong to the first group"}
    return tab
