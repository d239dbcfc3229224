"""Demographic accounting (BEFPAK, METHODS §2): balance, mean population, summary measures."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._apply import check_core_chunks, is_dask, ndkernel
from ._kernels import accounting as _k
from ._periods import select_years
from .components import MIGRATION, REQUIRED_MIGRATION, balance_equation
from .cube import CubeError, check_counts, check_single_years, open_age, validate
from .lexis import check_shares, to_convention

__all__ = ["balance", "mean_population", "summary", "concentration_rate", "births_by_sex",
           "events_year_end"]

#: the migration flows of a cube with gross flows (demokit.components.COMPONENTS)
_MIGRATION = REQUIRED_MIGRATION
#: flows a cube may have in addition (e.g. emigration to an unknown country), each with its sign
_OPTIONAL = tuple((n, sign) for n, sign in MIGRATION if n not in REQUIRED_MIGRATION)


def _as_cube(ds) -> xr.Dataset:
    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name or "population")
    return ds


def births_by_sex(ds: xr.Dataset, *, boys_share: float | None = None) -> xr.DataArray:
    """Return live births by region, sex of the child and year (summed over the mother's age).

    If ``births`` has no ``sex`` dim, ``boys_share`` splits them (else an error).
    A ``boys_share`` outside [0, 1] is an error even when the births have a ``sex`` dim.
    """
    check_shares(boys_share=boys_share)
    b = ds["births"]
    if "age" in b.dims:
        b = b.sum("age", skipna=False)
    if "sex" not in b.dims:
        if boys_share is None:
            raise CubeError("births have no 'sex' dim (sex of the child); pass boys_share= to split them")
        if not 0.0 < boys_share < 1.0:
            raise CubeError(f"boys_share = {boys_share!r}: must lie in (0, 1)")
        b = xr.concat([b * (1 - boys_share), b * boys_share], dim=xr.DataArray(["female", "male"], dims="sex"))
    return b


def cohort_start_population(ds: xr.Dataset, *, boys_share: float | None = None) -> xr.DataArray:
    """Return the population at risk of each year's cohorts, by age at the end of the year.

    For every year ``t`` of ``ds`` but the first: ``P(x−1, t−1)`` at ages
    ``x ≥ 1``, ``P(ω−1, t−1) + P(ω, t−1)`` at the open age ``ω`` and the births
    ``B(t)`` (by sex of the child) at age 0 — the denominator of interval
    risks (METHODS §3.1, §5.1).  Population and births are checked for bad
    counts when in memory.
    """
    pop = ds["population"]
    if not is_dask(pop):
        check_counts(pop, "population")
    prev = pop.isel(year=slice(None, -1)).assign_coords(year=pop["year"].values[1:])
    at_risk = prev.shift(age=1, fill_value=0.0)
    last = prev["age"].values[-1]
    at_risk = xr.where(at_risk["age"] == last, at_risk + prev.sel(age=last), at_risk)
    b = births_by_sex(ds, boys_share=boys_share).isel(year=slice(1, None))
    if not is_dask(b):
        check_counts(b, "births")
    return xr.where(at_risk["age"] == prev["age"].values[0], b, at_risk)


def events_year_end(ds: xr.Dataset, name: str, *, lower_share: float = 0.5,
                    infant_lower_share: float = 0.9) -> xr.DataArray:
    """Return event variable ``name`` by age at the end of the year (converting squares if needed)."""
    return to_convention(ds[name], "year_end", lower_share=lower_share,
                         infant_lower_share=infant_lower_share)


def mean_population(ds, *, by: str = "age") -> xr.DataArray:
    """Return the mean population (medelfolkmängd) for each year but the first.

    Parameters
    ----------
    ds : xarray.Dataset or xarray.DataArray
        A cube with ``population`` by age on 31 December (or that array).
    by : {"age", "cohort"}, default "age"
        ``"age"``: by age reached (uppnådd ålder), the exposure for events by
        age at the event; ``"cohort"``: by year of birth (SCB's published
        medelfolkmängd), the exposure for events by age at the end of the year.

    Returns
    -------
    xarray.DataArray
        Person-years, dims as the population's, years ``first + 1 … last``.

    Notes
    -----
    By age: :math:`M(x, t) = (P(x, t-1) + P(x, t)) / 2`.
    By cohort: :math:`M(x, t) = (P(x-1, t-1) + P(x, t)) / 2`, with
    :math:`P(-1, t-1) = 0` (age 0: :math:`P(0, t)/2`) and the open age
    :math:`(P(ω-1, t-1) + P(ω, t-1) + P(ω, t)) / 2`.
    """
    if by not in ("age", "cohort"):
        raise CubeError(f"by = {by!r}: expected 'age' or 'cohort'")
    if isinstance(ds, xr.Dataset) and "population" not in ds.data_vars:
        validate(ds)   # raises: missing variable 'population'
    pop = ds["population"] if isinstance(ds, xr.Dataset) else ds
    # eager float64: the kernel checks the values while it reads them (one pass over memory)
    fused = _kernel_checks(pop)
    if not fused and not is_dask(pop):
        check_counts(pop, "population")
    try:
        if pop.sizes.get("year", 0) < 2:
            raise CubeError("population: mean population needs at least two years (31 Dec of t-1 and t)")
        check_single_years(pop, "cohort-wise accounting")
        yrs = np.asarray(pop["year"].values)
        if (np.diff(yrs) != 1).any():
            i = int(np.argmax(np.diff(yrs) != 1))
            raise CubeError(f"population: year={int(yrs[i + 1])} follows year={int(yrs[i])}: mean population needs "
                            "consecutive years (a missing year is never bridged)")
    except CubeError:
        if fused:
            check_counts(pop, "population")  # a bad count is reported first, as before
        raise
    years = pop["year"].values[1:]
    res, nbad = _MEAN_POPULATION(pop, by == "cohort", fused, sizes={"year": years.size}, coords={"year": years})
    if nbad:
        check_counts(pop, "population")  # raises, naming the first bad cell
        raise CubeError("population: NaN, infinite or negative counts")  # pragma: no cover
    res.name = "mean_population"
    res.attrs = {"units": "person-years", "by": by, "open_age": open_age(pop),
                 "formula": ("(P(x-1,t-1)+P(x,t))/2" if by == "cohort" else "(P(x,t-1)+P(x,t))/2")}
    return res


def _kernel_checks(da) -> bool:
    """True when a kernel reading ``da`` raw checks its counts (eager float64), so nobody else need."""
    return not is_dask(da) and da.dtype == np.float64


def net_migration(ds) -> xr.DataArray:
    """Return net migration (flyttningsnetto) ``I − O + IM − EM`` of a cube, a balance or a projection.

    Parameters
    ----------
    ds : xarray.Dataset
        Holding ``in_migration``, ``out_migration``, ``immigration`` and
        ``emigration`` (any dims), and the optional flows of the component
        table if present (``emigration_unknown``: subtracted).

    Returns
    -------
    xarray.DataArray
        ``net_migration`` with the dims of the flows.

    Notes
    -----
    ``I − O`` is the net of moves across the region's border within the
    country (inrikes flyttningsnetto), ``IM − EM`` net immigration
    (invandringsöverskott); METHODS §2.3.  The one place the formula lives:
    the signed sum of the migration flows of
    :data:`demokit.components.COMPONENTS` (exits subtracted).
    """
    miss = [v for v in _MIGRATION if v not in ds]
    if miss:
        raise CubeError(f"net_migration needs {miss[0]!r}; the data have {sorted(ds.data_vars)}")
    flows = [(n, sign) for n, sign in MIGRATION if n in ds]
    net = None
    for n, sign in flows:
        net = ds[n] if net is None else (net + ds[n] if sign > 0 else net - ds[n])
    net.name = "net_migration"
    net.attrs = {"units": "persons", "definition": " ".join(
        ("" if i == 0 else "+ " if sign > 0 else "- ") + n for i, (n, sign) in enumerate(flows)) + " (flyttningsnetto)"}
    return net


def _raise_bad_counts(ds: xr.Dataset, what: str) -> None:
    """A fused kernel found a bad count: raise the error of :func:`validate` naming the cell."""
    validate(ds)
    raise CubeError(f"{what}: NaN, infinite or negative counts")  # pragma: no cover


def balance(ds: xr.Dataset, *, lower_share: float = 0.5, infant_lower_share: float = 0.9,
            boys_share: float | None = None) -> xr.Dataset:
    """Return the cohort population balance with the adjustment term, closing exactly.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with ``population`` (31 Dec), ``births`` and ``deaths``, and
        optionally ``in_migration``, ``out_migration``, ``immigration``,
        ``emigration`` (all four or none) and the optional flows of
        :data:`demokit.components.COMPONENTS` (``emigration_unknown``: kept
        apart in the output, subtracted like emigration).
    lower_share, infant_lower_share : float
        Lexis split used only when an event variable is tabulated by age at the
        event (see :func:`demokit.lexis.at_event_to_year_end`).
    boys_share : float, optional
        Only for births without a ``sex`` dim.

    Returns
    -------
    xarray.Dataset
        For years ``first + 1 … last`` and every region, sex and year-end age:
        ``population_start`` (the cohort at the start, ``N``; at age 0 the
        births), ``births`` (by region, sex and year: the newborn cohort), ``deaths`` and the migration
        variables by age at the end of the year, ``population`` (31 Dec) and
        the residual ``adjustment`` (justeringspost) — or, when the cube has no
        migration variables, ``net_migration_and_adjustment``.  Totals such as
        ``natural_increase`` follow by summing.

    Notes
    -----
    For ``x ≥ 1`` (METHODS §2.1), with the open age starting from
    ``P(ω−1, t−1) + P(ω, t−1)``:

    .. math:: P(x,t) = P(x-1,t-1) + I - O + IM - EM - D + A

    and at age 0 the start is the births ``B(t)`` of the sex.  ``A`` is the
    residual and closes the equation exactly.  Deaths given by age at the
    event are converted with the Lexis split first; ``attrs["lexis_split"]``
    records it.
    """
    check_shares(lower_share=lower_share, infant_lower_share=infant_lower_share, boys_share=boys_share)
    ds = _as_cube(ds)
    fused, present = _balance_checks(ds)
    births, births_core, events, notes = _balance_inputs(ds, present, lower_share=lower_share,
                                                         infant_lower_share=infant_lower_share,
                                                         boys_share=boys_share)
    pop = ds["population"]
    ev_names = ["deaths"] + (list(_MIGRATION) if present else ["deaths"] * 4)  # (unread when no migration)
    check = np.array([v in fused for v in ["population", "births"] + ev_names])
    years = pop["year"].values[1:]
    kernel_events = {k: events[k] for k in ev_names}
    for name in events:   # an optional flow joins the last required flow of its sign in the kernel
        if name in dict(_OPTIONAL):
            last = _last_required_flow(dict(MIGRATION)[name])
            kernel_events[last] = kernel_events[last] + events[name]
    (start, adj), nbad = _BALANCE(pop, births, *[kernel_events[k] for k in ev_names], bool(present), check,
                                  core_dims=[_AY, births_core] + [_AY] * 5 + [None, None],
                                  sizes={"year": years.size}, coords={"year": years})
    if nbad:
        _raise_bad_counts(ds, "balance")
    return _balance_dataset(ds, start, adj, events, notes, present)


#: the core dims (age, year) of the accounting kernels
_AY = ("age", "year")
_MEAN_POPULATION = ndkernel(_k.mean_population_checked, core_dims=[_AY, None, None], outputs=[_AY],
                            returns=True)
_BALANCE = ndkernel(_k.cohort_balance_checked, core_dims=[_AY] * 7 + [None, None], outputs=[_AY, _AY],
                    returns=True)


def _last_required_flow(sign: int) -> str:
    """The last required migration flow of a sign: an optional flow of that sign joins it in the kernel."""
    return [n for n, sg in MIGRATION if sg == sign and n in _MIGRATION][-1]


def _balance_checks(ds: xr.Dataset):
    """Validate the cube for :func:`balance`; return the variables the kernel checks and the migration ones.

    Variables handed raw (eager float64, year-end ages) to the kernel are checked there while it reads
    them; every other variable is checked here by :func:`validate`.  A structural error found after a
    bad count is reported after it (as when validate() checked every value up front).
    """
    if not isinstance(ds, xr.Dataset) or "population" not in ds.data_vars:
        validate(ds, required=("population", "births", "deaths"))   # raises, naming what is missing
    births_raw = "births" in ds.data_vars and {"sex", "age"} <= set(ds["births"].dims)
    fused = [v for v in ("population", "births", "deaths") + _MIGRATION
             if v in ds.data_vars and _kernel_checks(ds[v]) and (v != "births" or births_raw)
             and ds[v].attrs.get("age_convention", "year_end") == "year_end"]
    for name, sign in _OPTIONAL:   # the kernel then reads a sum (see balance): validate checks the flow
        if name in ds.data_vars:
            fused = [v for v in fused if v != _last_required_flow(sign)]
    if is_dask(ds):  # the kernel then runs at compute time: check the eager variables here
        fused = []
    validate(ds, required=("population", "births", "deaths"), counts_checked_by_caller=tuple(fused))
    present = [v for v in _MIGRATION if v in ds.data_vars]
    try:
        if present and len(present) != len(_MIGRATION):
            missing = [v for v in _MIGRATION if v not in ds.data_vars]
            raise CubeError(f"balance: the cube has {present} but not {missing}; give all four migration "
                            "variables or none (then the residual is net migration plus adjustment)")
        if ds.sizes.get("year", 0) < 2:
            raise CubeError("balance: needs at least two years")
        check_single_years(ds["population"], "cohort-wise accounting")
    except CubeError:
        validate(ds)
        raise
    return fused, present


def _balance_inputs(ds, present, *, lower_share, infant_lower_share, boys_share):
    """Births (by the mother's age, summed in the kernel; or by sex) and the events by year-end age."""
    try:
        if "births" in ds.data_vars and {"sex", "age"} <= set(ds["births"].dims):
            check_core_chunks(ds["births"], ["age", "year"], name="births")   # (before the mother's age is renamed)
            births, births_core = ds["births"].rename(age="_bage"), ("_bage", "year")
        else:
            births, births_core = births_by_sex(ds, boys_share=boys_share), (None, "year")
        events, notes = {}, {}
        optional = tuple(n for n, _ in _OPTIONAL if n in ds.data_vars) if present else ()
        for name in ("deaths",) + tuple(present) + optional:
            e = events_year_end(ds, name, lower_share=lower_share, infant_lower_share=infant_lower_share)
            if "lexis_split" in e.attrs:
                notes[name] = e.attrs["lexis_split"]
            events[name] = e.transpose(*ds["population"].dims)
    except CubeError:
        validate(ds)  # a bad count is reported first
        raise
    return births, births_core, events, notes


def _balance_dataset(ds, start, adj, events, notes, present) -> xr.Dataset:
    """Assemble the balance from bare variables (no re-alignment of the region index per variable)."""
    pop = ds["population"]
    later = {"year": slice(1, None)}  # views, not copies
    start, adj = start.variable, adj.variable
    resid = "adjustment" if present else "net_migration_and_adjustment"
    start.attrs = {"description": "cohort at the start of the year: P(x-1,t-1); births at age 0; "
                                  "open age P(w-1,t-1)+P(w,t-1)"}
    out = {"population_start": start}
    b0 = start.isel(age=0)   # the cohort at the start at age 0 is the year's births of the sex
    b0.attrs = {"description": "live births of the sex: the cohort aged 0 at the end of the year"}
    out["births"] = b0
    for name, e in events.items():
        v = e.variable.isel(later)
        v.attrs = {**e.attrs, "age_convention": "year_end"}
        out[name] = v
    out["population"] = pop.variable.isel(later)
    adj.attrs = {"description": ("adjustment term (justeringspost): P(x,t) - N - I + O - IM + EM + D" if present else
                                 "net migration plus adjustment: P(x,t) - N + D (the cube has no migration "
                                 "variables)")}
    if present:
        adj.attrs["units"] = "persons"
    out[resid] = adj
    coords = pop.isel(later).coords  # every variable has the population's dims (births: but age)
    attrs = {"open_age": open_age(ds), "residual": resid,
             "equation": (balance_equation(list(events)) + " + adjustment" if present else
                          "population = population_start - deaths + net_migration_and_adjustment")}
    if notes:
        attrs["lexis_split"] = "; ".join(f"{k}: {v}" for k, v in notes.items())
    if present:
        attrs["note"] = ("the adjustment term absorbs events reported late and perturbations of "
                         "published tables (CKM); its size is reported, never hidden")
    return xr.Dataset(out, coords=coords, attrs=attrs)


def summary(ds: xr.Dataset, *, by_sex: bool = False, mean_age: str = "completed",
            lower_share: float = 0.5, infant_lower_share: float = 0.9) -> xr.Dataset:
    """Return BEFPAK summary measures by region and year.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with ``population`` and optionally events.
    by_sex : bool, default False
        Keep the ``sex`` dim instead of summing both sexes.
    mean_age : {"completed", "exact"}, default "completed"
        SCB's medelålder sums completed ages (``x``); ``"exact"`` uses ``x + 0.5``.

    Returns
    -------
    xarray.Dataset
        ``population``, ``mean_age``, ``median_age``, ``lower_quartile_age``,
        ``upper_quartile_age``, ``young_dependency_ratio`` (0–19 per 100 aged
        20–64), ``old_dependency_ratio`` (65+), ``dependency_ratio``; and, for
        years with the previous year present, ``population_change``,
        ``births``, ``deaths``, ``natural_increase`` (födelseöverskott),
        ``net_migration`` (flyttningsnetto ``I − O + IM − EM``),
        ``adjustment`` (or ``net_migration_and_adjustment``), and
        ``mobility_rate`` (rörlighetstal, per 1,000 mean population).

    Notes
    -----
    Quantile ages are interpolated linearly within the single year of age:
    ``x + (p·P − C(x−1)) / P(x)`` where ``C`` is the cumulative population.
    Mobility rate = ``1000 · (I + IM + O + EM) / M`` with ``M`` the mean
    population ``(P(t−1) + P(t)) / 2``.
    """
    ds = _as_cube(ds)
    if mean_age not in ("completed", "exact"):
        validate(ds)
        raise CubeError(f"mean_age = {mean_age!r}: expected 'completed' or 'exact'")
    if not isinstance(ds, xr.Dataset) or "population" not in ds.data_vars:
        validate(ds)   # raises, naming what is missing
    pop = ds["population"]
    red = ["age"] + ([] if by_sex or "sex" not in pop.dims else ["sex"])
    with_events = "births" in ds and "deaths" in ds and ds.sizes.get("year", 0) >= 2
    ev_all = [v for v in ("births", "deaths") + _MIGRATION + tuple(n for n, _ in _OPTIONAL) if v in ds] \
        if with_events else []
    # the kernel reads the population and the event variables with the population's dims raw and
    # checks their values while it reads them; validate() checks every other variable
    ev_kernel = [v for v in ev_all if set(ds[v].dims) == set(pop.dims)]
    # (with any dask input the kernel runs at compute time: then the eager variables are checked here)
    fused = () if is_dask(ds) else tuple(v for v in ["population"] + ev_kernel if _kernel_checks(ds[v]))
    validate(ds, counts_checked_by_caller=fused)
    core = ("sex" if "sex" in red else None, "age", "year")  # (sex, age, year): sex summed first
    offset = 0.5 if mean_age == "exact" else 0.0
    check_ev = np.array([v in fused for v in ev_kernel] or [False])
    (stats, qa, totals), nbad = _SUMMARY(
        pop, [ds[v] for v in ev_kernel] or [pop],   # (a dummy, not read, when there are no events)
        pop["age"].values.astype(np.float64), offset, _QUANTILES, "population" in fused, check_ev,
        core_dims=[core, core, None, None, None, None, None], sizes={"_event": len(ev_kernel)})
    if nbad:
        _raise_bad_counts(ds, "summary")
    # (after the values, so that a bad count is named first): a missing age would drop its persons from every
    # sum and bend the quantile ages, which are interpolated within single years
    check_single_years(ds, "summary (quantile ages are interpolated within single years of age)")
    # The small (region, year) arithmetic below runs on arrays without coordinates, so that no
    # operation re-aligns the region index; the coordinates are attached once at the end.  Variables
    # of the years with a previous year are NaN in the first year (as a Dataset aligns them).
    coords = qa.isel(quantile=0, drop=True).coords
    stats, qa, totals = _bare(stats), _bare(qa), _bare(totals)
    # sums over age keep the variable's attrs, as xarray's .sum() does
    stat = {name: stats.isel(_stat=k, drop=True).assign_attrs(pop.attrs)
            for k, name in enumerate(_k.SUMMARY_STATS)}
    out = _summary_structure(stat, qa, offset)
    if with_events:
        tot = {v: (totals.isel(_event=ev_kernel.index(v), drop=True).assign_attrs(ds[v].attrs)
                   if v in ev_kernel else _bare(ds[v].sum(red, skipna=False))) for v in ev_all}
        out.update(_summary_components(stat["population"], tot))
    return xr.Dataset(out, coords=coords)


#: the quantile ages of :func:`summary`: lower quartile, median, upper quartile
_QUANTILES = np.array([0.25, 0.5, 0.75])
_SUMMARY = ndkernel(_k.summary_rows, core_dims=[("sex", "age", "year")] * 2 + [None] * 5,
                    outputs=[("year", "_stat"), ("year", "quantile"), ("_event", "year")],
                    sizes={"_stat": len(_k.SUMMARY_STATS), "quantile": _QUANTILES.size}, returns=True)


def _bare(da: xr.DataArray) -> xr.DataArray:
    """``da`` without coordinates (arithmetic on it never re-aligns an index)."""
    return xr.DataArray(da.data, dims=da.dims, attrs=da.attrs)


def _summary_structure(stat: dict, qa: xr.DataArray, offset: float) -> dict:
    """Population, mean and quantile ages and dependency ratios of :func:`summary` from the kernel's sums."""
    total = stat["population"]
    out = {"population": total}
    out["mean_age"] = (stat["age_sum"] / total).assign_attrs(
        units="years", definition=("sum of completed ages / population (SCB)" if offset == 0 else
                                   "sum of (completed age + 0.5) / population"))
    for k, name in enumerate(("lower_quartile_age", "median_age", "upper_quartile_age")):
        out[name] = qa.isel(quantile=k, drop=True).assign_attrs(
            units="years", definition=f"age below which {_QUANTILES[k]:.0%} of the population is, "
                                      "interpolated within the single year of age")
    young, work, old = stat["young"], stat["working"], stat["old"]
    out["young_dependency_ratio"] = (100 * young / work).assign_attrs(definition="aged 0-19 per 100 aged 20-64")
    out["old_dependency_ratio"] = (100 * old / work).assign_attrs(definition="aged 65+ per 100 aged 20-64")
    out["dependency_ratio"] = (100 * (young + old) / work).assign_attrs(
        definition="aged 0-19 and 65+ per 100 aged 20-64")
    return out


def _summary_components(total: xr.DataArray, tot: dict) -> dict:
    """Components of change of :func:`summary` from the event totals (NaN in the first year).

    Totals over age need no Lexis conversion (it preserves totals) and no cohort balance: summed over
    ages, the cohort starts add up to births + P(t-1).
    """
    later = xr.DataArray(np.arange(total.sizes["year"]) > 0, dims="year")
    tot = {v: t.where(later) for v, t in tot.items()}
    present = [v for v in _MIGRATION if v in tot]
    if present and len(present) != len(_MIGRATION):
        raise CubeError(f"summary: the cube has {present} but not all of {list(_MIGRATION)}")
    out = {}
    previous = total.shift(year=1)
    change = out["population_change"] = (total - previous).assign_attrs(definition="P(t) - P(t-1) (folkökning)")
    out["births"] = tot["births"]
    out["deaths"] = tot["deaths"]
    nat = out["natural_increase"] = (tot["births"] - tot["deaths"]).assign_attrs(
        definition="births - deaths (födelseöverskott)")
    if present:
        net = out["net_migration"] = net_migration(tot)
        meanp = (total + previous) / 2
        moves = sum(tot[n] for n, _ in MIGRATION if n in tot)   # every gross flow (I + IM + O + EM)
        out["mobility_rate"] = (1000 * moves / meanp).assign_attrs(
            units="per 1,000 mean population",
            definition="(in-movers + immigrants + out-movers + emigrants) / mean population (rörlighetstal)")
        out["adjustment"] = (change - nat - net).assign_attrs(
            definition="population change - natural increase - net migration (justeringspost)")
    else:
        out["net_migration_and_adjustment"] = (change - nat).assign_attrs(
            definition="population change - natural increase (the cube has no migration variables)")
    return out


def concentration_rate(ds: xr.Dataset, *, ages, years, by_sex: bool = False) -> xr.DataArray:
    """Return the concentration/dilution rate (förtätnings-/utglesningstal) of an age group, in per cent.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with ``population`` and the four migration variables (else the
        balance residual net migration plus adjustment is used and said so).
    ages : slice or sequence of int
        The population group by age at the end of the year, e.g.
        ``slice(20, 29)``.
    years : sequence of int
        The period; the population at its start is that of 31 Dec of the year
        before the first.
    by_sex : bool, default False

    Returns
    -------
    xarray.DataArray
        ``100 · Σ_t net migration of the group / P_group(start)``; positive:
        the group concentrates in the region, negative: it thins out.
    """
    ds = _as_cube(ds)
    sub = select_years(ds, years, need_previous=True, name="population")
    bal = balance(sub)
    resid = bal.attrs["residual"]
    if resid == "adjustment":
        net = net_migration(bal)
        what = "net migration I - O + IM - EM"
    else:
        net = bal[resid]
        what = "net migration plus adjustment (no migration variables in the cube)"
    have = ds["age"].values.tolist()
    if not isinstance(ages, slice):
        ages = [int(a) for a in np.atleast_1d(ages)]
        miss = [a for a in ages if a not in set(have)]
        if miss:
            raise CubeError(f"ages: age={miss[0]} is not in the cube (ages {have[0]}-{have[-1]})")
    elif ds["age"].sel(age=ages).size == 0:
        raise CubeError(f"ages={ages!r} selects no age of the cube (ages {have[0]}-{have[-1]})")
    sel = {"age": ages}
    net = net.sel(sel).sum(["age", "year"])
    start = sub["population"].isel(year=0, drop=True).sel(sel).sum("age")
    if not by_sex and "sex" in net.dims:
        net, start = net.sum("sex"), start.sum("sex")
    res = 100 * net / start
    res.name = "concentration_rate"
    res.attrs = {"units": "per cent of the group's population at the start of the period",
                 "numerator": what}
    return res
