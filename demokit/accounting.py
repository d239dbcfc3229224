"""Demographic accounting (BEFPAK, METHODS §2): balance, mean population, summary measures."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._apply import apply_kernel
from ._kernels import accounting as _k
from ._periods import select_years
from .cube import CubeError, check_counts, open_age, validate
from .lexis import to_convention

__all__ = ["balance", "mean_population", "summary", "concentration_rate", "births_by_sex",
           "events_year_end"]

_MIGRATION = ("in_migration", "out_migration", "immigration", "emigration")


def _as_cube(ds) -> xr.Dataset:
    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name or "population")
    return ds


def births_by_sex(ds: xr.Dataset, *, boys_share: float | None = None) -> xr.DataArray:
    """Return live births by region, sex of the child and year (summed over the mother's age).

    If ``births`` has no ``sex`` dim, ``boys_share`` splits them (else an error).
    """
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
    pop = ds["population"] if isinstance(ds, xr.Dataset) else ds
    if not _is_lazy(pop):
        check_counts(pop, "population")
    if pop.sizes.get("year", 0) < 2:
        raise CubeError("population: mean population needs at least two years (31 Dec of t-1 and t)")
    _check_single_years(pop)
    cohort = by == "cohort"

    def run(p):
        shp = p.shape
        p3 = np.ascontiguousarray(p.reshape(-1, shp[-2], shp[-1]), dtype=np.float64)
        out = np.empty(p3.shape[:2] + (p3.shape[2] - 1,))
        _k.mean_population(p3, cohort, out)
        return out.reshape(shp[:-1] + (shp[-1] - 1,))

    years = pop["year"].values[1:]
    res = apply_kernel(run, pop.rename(year="_year"), core_dims=[["age", "_year"]],
                       output_core_dims=[["age", "year"]], output_sizes={"year": years.size})
    res = res.assign_coords(year=years).transpose(*pop.dims)
    res.name = "mean_population"
    res.attrs = {"units": "person-years", "by": by, "open_age": open_age(pop),
                 "formula": ("(P(x-1,t-1)+P(x,t))/2" if cohort else "(P(x,t-1)+P(x,t))/2")}
    return res


def _check_single_years(da: xr.DataArray) -> None:
    """Cohort-wise accounting needs consecutive single years of age."""
    age = da["age"].values
    gaps = np.flatnonzero(np.diff(age) != 1)
    if gaps.size:
        i = int(gaps[0])
        raise CubeError(f"{da.name or 'population'}: ages must be consecutive single years for cohort-wise "
                        f"accounting; age={int(age[i + 1])} follows age={int(age[i])}")


def _is_lazy(da) -> bool:
    return getattr(da, "chunks", None) is not None


def balance(ds: xr.Dataset, *, lower_share: float = 0.5, infant_lower_share: float = 0.9,
            boys_share: float | None = None) -> xr.Dataset:
    """Return the cohort population balance with the adjustment term, closing exactly.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with ``population`` (31 Dec), ``births`` and ``deaths``, and
        optionally ``in_migration``, ``out_migration``, ``immigration``,
        ``emigration``.
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
    ds = _as_cube(ds)
    validate(ds, required=("population", "births", "deaths"))
    present = [v for v in _MIGRATION if v in ds.data_vars]
    if present and len(present) != len(_MIGRATION):
        missing = [v for v in _MIGRATION if v not in ds.data_vars]
        raise CubeError(f"balance: the cube has {present} but not {missing}; give all four migration "
                        "variables or none (then the residual is net migration plus adjustment)")
    if ds.sizes.get("year", 0) < 2:
        raise CubeError("balance: needs at least two years")
    pop = ds["population"]
    _check_single_years(pop)
    b0 = births_by_sex(ds, boys_share=boys_share)
    events = {}
    notes = {}
    for name in ("deaths",) + tuple(present):
        e = events_year_end(ds, name, lower_share=lower_share, infant_lower_share=infant_lower_share)
        if "lexis_split" in e.attrs:
            notes[name] = e.attrs["lexis_split"]
        events[name] = e.transpose(*pop.dims)
    b0 = b0.transpose(*[d for d in pop.dims if d != "age"])
    has_mig = bool(present)
    ev_names = ["deaths"] + (list(_MIGRATION) if has_mig else ["deaths"] * 4)

    def run(p, b, *ev):
        shp = p.shape
        n = int(np.prod(shp[:-2]))
        A, T = shp[-2], shp[-1]
        flat = [np.ascontiguousarray(e.reshape(n, A, T), dtype=np.float64) for e in (p,) + ev]
        b2 = np.ascontiguousarray(b.reshape(n, T), dtype=np.float64)
        start = np.empty((n, A, T - 1))
        adj = np.empty((n, A, T - 1))
        _k.cohort_balance(flat[0], b2, *flat[1:], has_mig, start, adj)
        return start.reshape(shp[:-1] + (T - 1,)), adj.reshape(shp[:-1] + (T - 1,))

    years = pop["year"].values[1:]
    core = ["age", "_y"]
    start, adj = apply_kernel(
        run, pop.rename(year="_y"), b0.rename(year="_y"), *[events[k].rename(year="_y") for k in ev_names],
        core_dims=[core, ["_y"]] + [core] * 5,
        output_core_dims=[["age", "year"], ["age", "year"]], output_sizes={"year": years.size})
    start = start.assign_coords(year=years).transpose(*pop.dims)
    adj = adj.assign_coords(year=years).transpose(*pop.dims)
    later = {"year": slice(1, None)}  # a view, not a copy
    out = xr.Dataset()
    out["population_start"] = start.assign_attrs(
        description="cohort at the start of the year: P(x-1,t-1); births at age 0; "
                    "open age P(w-1,t-1)+P(w,t-1)")
    out["births"] = b0.isel(later)
    out["births"].attrs = {"description": "live births of the sex: the cohort aged 0 at the end of the year"}
    for name, e in events.items():
        out[name] = e.isel(later).assign_attrs(age_convention="year_end")
    out["population"] = pop.isel(later)
    resid = "adjustment" if present else "net_migration_and_adjustment"
    out[resid] = adj.assign_attrs(
        description=("adjustment term (justeringspost): P(x,t) - N - I + O - IM + EM + D" if present else
                     "net migration plus adjustment: P(x,t) - N + D (the cube has no migration variables)"))
    out.attrs = {"open_age": open_age(ds), "residual": resid,
                 "equation": "population = population_start - deaths" +
                             (" + in_migration - out_migration + immigration - emigration + adjustment"
                              if present else " + net_migration_and_adjustment")}
    if notes:
        out.attrs["lexis_split"] = "; ".join(f"{k}: {v}" for k, v in notes.items())
    if present:
        out.attrs["note"] = ("the adjustment term absorbs events reported late and perturbations of "
                             "published tables (CKM); its size is reported, never hidden")
        out["adjustment"].attrs["units"] = "persons"
    return out


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
    validate(ds)
    if mean_age not in ("completed", "exact"):
        raise CubeError(f"mean_age = {mean_age!r}: expected 'completed' or 'exact'")
    red = ["age"] + ([] if by_sex or "sex" not in ds["population"].dims else ["sex"])
    pop = ds["population"]
    if not by_sex and "sex" in pop.dims:
        pop = pop.sum("sex", skipna=False)
    ages = pop["age"]
    total = pop.sum("age", skipna=False)
    offset = 0.5 if mean_age == "exact" else 0.0
    out = xr.Dataset()
    out["population"] = total
    out["mean_age"] = (xr.dot(pop, ages.astype(np.float64) + offset, dim="age") / total).assign_attrs(
        units="years", definition=("sum of completed ages / population (SCB)" if offset == 0 else
                                   "sum of (completed age + 0.5) / population"))
    probs = np.array([0.25, 0.5, 0.75])

    def q(p):
        shp = p.shape
        p3 = np.ascontiguousarray(p.reshape(-1, shp[-2], shp[-1]), dtype=np.float64)
        o = np.empty((p3.shape[0], shp[-1], probs.size))
        _k.quantile_ages(p3, ages.values.astype(np.float64), probs, o)
        return o.reshape(shp[:-2] + (shp[-1], probs.size))

    qa = apply_kernel(q, pop, core_dims=[["age", "year"]], output_core_dims=[["year", "quantile"]],
                      output_sizes={"quantile": probs.size})
    for k, name in enumerate(("lower_quartile_age", "median_age", "upper_quartile_age")):
        out[name] = qa.isel(quantile=k, drop=True).assign_attrs(
            units="years", definition=f"age below which {probs[k]:.0%} of the population is, "
                                      "interpolated within the single year of age")
    young = pop.sel(age=slice(None, 19)).sum("age", skipna=False)
    work = pop.sel(age=slice(20, 64)).sum("age", skipna=False)
    old = pop.sel(age=slice(65, None)).sum("age", skipna=False)
    out["young_dependency_ratio"] = (100 * young / work).assign_attrs(definition="aged 0-19 per 100 aged 20-64")
    out["old_dependency_ratio"] = (100 * old / work).assign_attrs(definition="aged 65+ per 100 aged 20-64")
    out["dependency_ratio"] = (100 * (young + old) / work).assign_attrs(
        definition="aged 0-19 and 65+ per 100 aged 20-64")
    if "births" in ds and "deaths" in ds and ds.sizes.get("year", 0) >= 2:
        # totals over age need no Lexis conversion (it preserves totals) and no cohort balance:
        # summed over ages, the cohort starts add up to births + P(t-1)
        later = {"year": slice(1, None)}
        tot = {v: ds[v].sum(red, skipna=False).isel(later) for v in
               ("births", "deaths") + _MIGRATION if v in ds}
        present = [v for v in _MIGRATION if v in tot]
        if present and len(present) != len(_MIGRATION):
            raise CubeError(f"summary: the cube has {present} but not all of {list(_MIGRATION)}")
        change = (total.isel(later) - total.shift(year=1).isel(later)).assign_attrs(
            definition="P(t) - P(t-1) (folkökning)")
        out["population_change"] = change
        out["births"] = tot["births"]
        out["deaths"] = tot["deaths"]
        out["natural_increase"] = (tot["births"] - tot["deaths"]).assign_attrs(
            definition="births - deaths (födelseöverskott)")
        if present:
            net = tot["in_migration"] - tot["out_migration"] + tot["immigration"] - tot["emigration"]
            out["net_migration"] = net.assign_attrs(definition="I - O + IM - EM (flyttningsnetto)")
            meanp = (total.isel(later) + total.shift(year=1).isel(later)) / 2
            out["mobility_rate"] = (1000 * (tot["in_migration"] + tot["immigration"] + tot["out_migration"]
                                            + tot["emigration"]) / meanp).assign_attrs(
                units="per 1,000 mean population",
                definition="(in-movers + immigrants + out-movers + emigrants) / mean population (rörlighetstal)")
            out["adjustment"] = (change - out["natural_increase"] - net).assign_attrs(
                definition="population change - natural increase - net migration (justeringspost)")
        else:
            out["net_migration_and_adjustment"] = (change - out["natural_increase"]).assign_attrs(
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
        net = bal["in_migration"] - bal["out_migration"] + bal["immigration"] - bal["emigration"]
        what = "net migration I - O + IM - EM"
    else:
        net = bal[resid]
        what = "net migration plus adjustment (no migration variables in the cube)"
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
