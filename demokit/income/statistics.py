"""Income statistics by group (INKOPAK; the report's tables 5–12): official vs adjusted."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import xarray as xr

from .._kernels import income as k
from ._schema import BIRTH_REGIONS, SEXES, IncomeError, codes
from .households import HOUSEHOLD_TYPES

__all__ = ["statistics", "ranking", "AGE_GROUPS", "QUANTILE_METHODS", "INCOMES", "BY_DIMS",
           "prepare"]

#: default age groups of the tables (label -> (lowest, highest) age, inclusive; None = open)
AGE_GROUPS = {"all": (0, None), "20+": (20, None), "20-64": (20, 64)}
QUANTILE_METHODS = {"averaged_inverted_cdf": k.AVERAGED_INVERTED_CDF, "inverted_cdf": k.INVERTED_CDF,
                    "linear": k.LINEAR}
#: income concepts: official column, adjusted column
INCOMES = {"csfvi": ("csfvi", "csfvi_adjusted"), "cdisp": ("cdisp", "cdisp_adjusted"),
           "cdisp_per_cu": ("cdisp_per_cu", "cdisp_per_cu_adjusted"),
           "household_cdisp": ("household_cdisp", "household_cdisp_adjusted")}
YEARS_IN_SWEDEN = ("born_in_sweden", "0-4", "5-9", "10-19", "20+")
BY_DIMS = ("region", "deso", "sex", "birth_region", "years_in_sweden", "household_type")
POPULATION = {"official": "full_year", "adjusted": "full_year_adjusted"}
_DIFF_VARS = ("mean", "median", "p10", "p90", "decile_mean", "top5_mean", "top1_mean",
              "mean_earners", "median_earners")


def prepare(micro: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """Return the table with the adjustment and the household columns, computing what is missing."""
    from .adjust import adjust_cross_border
    from .households import household_income

    if "csfvi_adjusted" not in micro.columns:
        micro = adjust_cross_border(micro, **kwargs)
    if "full_year_adjusted" not in micro.columns:
        micro = household_income(micro)
    return micro


def _group_codes(micro, by):
    arrays, labels = [], []
    for d in by:
        if d in ("region", "deso"):
            if d not in micro.columns:
                raise IncomeError(f"cannot group by {d!r}: the person table has no column {d!r}")
            c, lab = codes(micro[d], dtype=None)
        elif d == "sex":
            c, lab = codes(micro["sex"], SEXES, dtype=None)
        elif d == "birth_region":
            c, lab = codes(micro["birth_region"], BIRTH_REGIONS, dtype=None)
        elif d == "household_type":
            c, lab = codes(micro["household_type"], HOUSEHOLD_TYPES, dtype=None)
        elif d == "years_in_sweden":
            b, _ = codes(micro["birth_region"], BIRTH_REGIONS)
            y = micro["years_in_sweden"].to_numpy(dtype=float)
            c = np.where(b == 0, 0, np.where(y < 5, 1, np.where(y < 10, 2, np.where(y < 20, 3, 4))))
            lab = list(YEARS_IN_SWEDEN)
        else:
            raise IncomeError(f"cannot group by {d!r}; choose among {list(BY_DIMS)} (ages via ages=)")
        if c.size and c.min() < 0:
            pos = int(np.argmax(c < 0))
            raise IncomeError(f"column {d!r}, row {micro.index[pos]!r}: missing or unknown value "
                              f"{micro[d].iloc[pos]!r}")
        arrays.append(c)
        labels.append([str(x) for x in lab])
    shape = tuple(len(lab) for lab in labels)
    if not by:
        return np.zeros(len(micro), np.int64), shape, labels
    # flat code Σ c_d · Π_{e>d} n_e (numpy.ravel_multi_index's C order), built in place in one int64 array
    g = np.array(arrays[0], dtype=np.int64)
    for c, n in zip(arrays[1:], shape[1:]):
        g *= n
        g += c
    return g, shape, labels


def _median_all(xs: np.ndarray, starts: np.ndarray, method: str) -> float:
    """The median of all persons by the quantile rule, from the groups' sorted segments."""
    lo, hi, w = k.quantile_ranks(xs.shape[0], 50, QUANTILE_METHODS[method])
    if lo == 0:
        return float("nan")
    a = k.kth_smallest(k.ro(xs), k.ro(starts), lo)
    b = a if hi == lo else k.kth_smallest(k.ro(xs), k.ro(starts), hi)
    return float(a + w * (b - a)) if w != 0.0 else float(a)


def _threads() -> int:
    import numba

    return max(1, int(numba.get_num_threads()))


def _split(starts: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Split the groups into ``parts`` ranges of about equal numbers of persons."""
    G = starts.shape[0] - 1
    cuts = np.searchsorted(starts[1:], np.linspace(0, starts[-1], parts + 1)[1:-1], side="left")
    edges = [0] + sorted(set(int(c) + 1 for c in cuts)) + [G]
    edges = sorted(set(min(max(e, 0), G) for e in edges))
    return [(e0, e1) for e0, e1 in zip(edges[:-1], edges[1:]) if e1 > e0]


def _scatter(pool, x, payload, rows, gcode, G):
    """:func:`k.group_scatter`, on the pool's threads: each counts, then scatters, a consecutive
    range of rows from the offsets left by the ranges before it (the same, stable, result)."""
    n, parts = rows.shape[0], _threads()
    if pool is None or parts < 2 or n < 2 * parts:
        return k.group_scatter(x, payload, rows, gcode, G)
    cuts = np.linspace(0, n, parts + 1).astype(np.int64)
    ranges = [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]
    counts = list(pool.map(lambda r: k.group_count(rows, gcode, r[0], r[1], G), ranges))
    starts = np.zeros(G + 1, np.int64)
    np.cumsum(np.sum(counts, axis=0), out=starts[1:])
    offsets, pos = [], starts[:-1].copy()
    for c in counts:
        offsets.append(pos.copy())
        pos += c
    keys = np.empty(n, np.uint64)
    ps = np.empty(n, np.int32)
    list(pool.map(lambda j: k.group_scatter_part(x, payload, rows, gcode, ranges[j][0], ranges[j][1],
                                                 offsets[j], keys, ps), range(len(ranges))))
    return keys, ps, starts


def _sort_by_group_value(pool, x, payload, rows, gcode, G):
    """Values (ascending within groups), payloads and group starts of ``rows`` sorted by
    (group, value); on the pool's threads, or on this thread if ``pool`` is None."""
    keys, ps, starts = _scatter(pool, x, payload, rows, gcode, G)
    xs = np.empty(keys.shape[0])
    if pool is None:
        k.sort_segments(keys, ps, starts, 0, G, xs)
    else:
        list(pool.map(lambda r: k.sort_segments(keys, ps, starts, r[0], r[1], xs), _split(starts, _threads())))
    return xs, ps, starts


def _changed_rows(pool, x_off, x_adj, pop_off, pop_adj, age):
    """:func:`k.changed_rows` on the pool's threads (consecutive ranges of persons; same lists)."""
    n, parts = x_off.shape[0], _threads()
    if pool is None or parts < 2 or n < 2 * parts:
        return k.changed_rows(x_off, x_adj, pop_off, pop_adj, age)
    cuts = np.linspace(0, n, parts + 1).astype(np.int64)
    ranges = [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]
    payload = np.empty(n, np.int32)
    counts = list(pool.map(lambda r: k.changed_rows_part(x_off, x_adj, pop_off, pop_adj, age, r[0], r[1],
                                                          payload), ranges))
    offs = np.zeros((len(ranges) + 1, 2), np.int64)
    np.cumsum(np.array(counts, np.int64), axis=0, out=offs[1:])
    rows = np.empty(int(offs[-1, 0]), np.int64)
    new = np.empty(int(offs[-1, 1]), np.int64)
    list(pool.map(lambda j: k.changed_rows_fill(pop_off, pop_adj, payload, ranges[j][0], ranges[j][1], rows,
                                                int(offs[j, 0]), new, int(offs[j, 1])), range(len(ranges))))
    return payload, rows, new


def _group_sorted_versions(pool, x_off, x_adj, pop_off, pop_adj, gcode, age, G, on_official=None):
    """Both versions' values and ages in group-major order, ascending within groups.

    One MSD radix sort of the official population by (group, value); the
    adjusted version is the official one with the changed persons (few:
    cross-border commuters and their households) taken out and merged back in
    with their new values — no second sort of all persons.  ``on_official(xs,
    ages, starts)`` is called as soon as the official version is sorted (to
    start its measures on the pool's threads while this thread sorts the few
    changed persons and merges them).
    """
    ro = k.ro
    x_off, x_adj, gcode = ro(x_off), ro(x_adj), ro(gcode)
    payload, rows, new = _changed_rows(pool, x_off, x_adj, ro(pop_off), ro(pop_adj), ro(age))
    payload = ro(payload)
    xs, ps, starts = _sort_by_group_value(pool, x_off, payload, ro(rows), gcode, G)
    official = (xs, ps, starts)   # payloads: ages in the low 8 bits (grouped_measures masks them)
    if on_official is not None:
        on_official(*official)
    xn, pn, new_starts = _sort_by_group_value(None, x_adj, payload, ro(new), gcode, G)
    xa, pa, starts_a = k.merge_changed(ro(xs), ro(ps), ro(starts), ro(xn), ro(pn), ro(new_starts))
    return {"official": official, "adjusted": (xa, pa, starts_a)}


def statistics(micro: pd.DataFrame, *, income: str = "csfvi", by=("region",), ages=None,
               quantile_method: str = "averaged_inverted_cdf", low_income_fraction: float = 0.6,
               low_income_threshold=None) -> xr.Dataset:
    """Return income statistics by group, official and adjusted for cross-border commuters.

    Parameters
    ----------
    micro : DataFrame
        Person table; the adjustment (:func:`adjust_cross_border`) and the
        household columns (:func:`household_income`) are computed if missing.
    income : {"csfvi", "cdisp", "cdisp_per_cu", "household_cdisp"}, default "csfvi"
        Sammanräknad förvärvsinkomst, individual disposable income
        (nettoinkomst), household disposable income per consumption unit, or
        household disposable income.
    by : sequence of str, default ("region",)
        Dims among ``region``, ``deso`` (if the table has it), ``sex``, ``birth_region``, ``years_in_sweden``
        (born in Sweden, 0–4, 5–9, 10–19, 20+ years), ``household_type``.
    ages : dict, default :data:`AGE_GROUPS`
        Age groups (label → (lowest, highest or None)); they may overlap.
    quantile_method : {"averaged_inverted_cdf", "inverted_cdf", "linear"}
        Percentile rule (default: the empirical distribution function with
        averaging, Hyndman & Fan type 2, SAS's default PCTLDEF=5).
    low_income_fraction : float, default 0.6
        Low economic standard: income per consumption unit below this fraction
        of the median of *all persons* (whole population, all ages).
    low_income_threshold : float or dict, optional
        Fix the low-income limit instead of deriving it from these data: one
        value, or ``{"official": ..., "adjusted": ...}`` (e.g. the national
        limit when the table holds one kommun, or in :func:`statistics_from_parquet`).

    Returns
    -------
    xarray.Dataset
        Dims ``version`` (official, adjusted), the ``by`` dims, ``age_group``
        and ``decile`` (1–10).  Variables: ``persons``, ``mean``, ``median``,
        ``p10``, ``p90``, ``decile_mean``, ``top5_mean``, ``top1_mean``,
        ``earners``, ``mean_earners``, ``median_earners`` (income earners,
        income > 0: TAXOPAK's median; ``median`` is INKOPAK's over the whole
        population); for ``cdisp_per_cu`` also ``low_income_share`` and
        ``low_income_threshold``; and the differences adjusted − official
        ``<var>_diff`` (kronor) and ``<var>_diff_pct`` (per cent;
        ``low_income_share_diff`` in percentage points).

    Notes
    -----
    Population: helårsbefolkningen of each version (``full_year``,
    ``full_year_adjusted``).  Within a group of ``n`` persons sorted by income
    (ranks ``r = 1..n``): decile group ``⌈10 r / n⌉``; top 5 % ``r > 0.95 n``;
    top 1 % ``r > 0.99 n``; percentile ``p`` with ``n p/100 = j + g``:
    ``x_(j+1)`` if ``g > 0`` else ``(x_(j) + x_(j+1))/2`` (P10 and P90 are the
    upper limits of percentiles 10 and 90).  Low economic standard: share with
    ``x < fraction · median_all``.
    Implementation: one MSD radix sort of the official population by the key
    (group, value); the adjusted version by an O(n) merge of the changed
    persons; then one Numba pass per group (:mod:`demokit._kernels.income`).
    The kernels release the GIL: the per-group sorts and passes run in
    ``numba.get_num_threads()`` threads on disjoint ranges of groups.
    """
    if income not in INCOMES:
        raise IncomeError(f"income must be one of {list(INCOMES)}, got {income!r}")
    if quantile_method not in QUANTILE_METHODS:
        raise IncomeError(f"quantile_method must be one of {list(QUANTILE_METHODS)}, got {quantile_method!r}")
    by = tuple(by)
    if len(set(by)) != len(by):
        raise IncomeError(f"by has a dim twice: {by}")
    ages = dict(AGE_GROUPS if ages is None else ages)
    for lab, (lo, hi) in ages.items():
        if lo is None or lo < 0 or (hi is not None and hi < lo):
            raise IncomeError(f"age group {lab!r}: bad limits {(lo, hi)!r}")
    micro = prepare(micro)
    col_off, col_adj = INCOMES[income]
    gcode, shape, labels = _group_codes(micro, by)
    G = int(np.prod(shape)) if shape else 1
    age = np.asarray(micro["age"].to_numpy(), np.int64)
    age_lo = np.array([lo for lo, _ in ages.values()], np.int64)
    age_hi = np.array([10**6 if hi is None else hi for _, hi in ages.values()], np.int64)
    A = len(ages)
    qlev = np.array([10, 50, 90], np.int64)
    method = QUANTILE_METHODS[quantile_method]
    x = {"official": np.ascontiguousarray(micro[col_off].to_numpy(dtype=float)),
         "adjusted": np.ascontiguousarray(micro[col_adj].to_numpy(dtype=float))}
    pop = {v: micro[c].to_numpy(dtype=bool) for v, c in POPULATION.items()}
    low = income == "cdisp_per_cu"
    res, jobs = {}, []

    def measure(pool, v, xs, ages_s, starts):
        thr = -np.inf
        if low and low_income_threshold is not None:
            thr = float(low_income_threshold[v] if isinstance(low_income_threshold, dict)
                        else low_income_threshold)
        elif low:
            thr = low_income_fraction * _median_all(xs, starts, quantile_method)
        scal = np.empty((G, A, k.N_OUT))
        qs = np.empty((G, A, 3))
        dm = np.empty((G, A, 10))
        args = (k.ro(xs), k.ro(ages_s), k.ro(starts), k.ro(age_lo), k.ro(age_hi), k.ro(qlev), method,
                float(thr), scal, qs, dm)
        jobs.extend(pool.submit(k.grouped_measures, *args, g0, g1) for g0, g1 in _split(starts, _threads()))
        res[v] = (scal, qs, dm, thr)

    with ThreadPoolExecutor(_threads()) as pool:
        sorted_ = _group_sorted_versions(pool, x["official"], x["adjusted"], pop["official"], pop["adjusted"],
                                         gcode, age, G, on_official=lambda *o: measure(pool, "official", *o))
        measure(pool, "adjusted", *sorted_["adjusted"])
        for j in jobs:
            j.result()
    dims = by + ("age_group",)
    full = tuple(shape) + (A,)

    def stack(f, extra=()):
        return np.stack([f(res[v]).reshape(full + extra) for v in ("official", "adjusted")])

    coords = {"version": ["official", "adjusted"], "age_group": list(ages), "decile": np.arange(1, 11)}
    coords.update({d: lab for d, lab in zip(by, labels)})
    vd = ("version",) + dims
    # numpy arrays first, one Dataset at the end (xarray's per-variable assignment costs more here)
    arrs = {}
    names = {0: "persons", 1: "mean", 2: "top5_mean", 3: "top1_mean", 5: "earners", 6: "mean_earners",
             7: "median_earners"}
    for i, name in names.items():
        arrs[name] = (vd, stack(lambda r, i=i: r[0][..., i]))
    for j, name in enumerate(("p10", "median", "p90")):
        arrs[name] = (vd, stack(lambda r, j=j: r[1][..., j]))
    arrs["decile_mean"] = (vd + ("decile",), stack(lambda r: r[2], (10,)))
    if low:
        share = stack(lambda r: r[0][..., 9])
        arrs["low_income_share"] = (vd, share)
        arrs["low_income_threshold"] = ("version", [res["official"][3], res["adjusted"][3]])
        arrs["low_income_share_diff"] = (vd[1:], 100 * (share[1] - share[0]), {"units": "percentage points"})
    for name in _DIFF_VARS:
        dd, v = arrs[name][0], arrs[name][1]
        off, adj = v[0], v[1]
        d = adj - off
        arrs[name + "_diff"] = (dd[1:], d, {"units": "SEK", "long_name": f"{name}: adjusted − official"})
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = 100 * d / np.where(off != 0, off, np.nan)
        arrs[name + "_diff_pct"] = (dd[1:], pct, {"units": "%", "long_name": f"{name}: (adjusted − official) / official"})
    ds = xr.Dataset(arrs, coords=coords)
    ds["persons"].attrs = {"units": "persons", "long_name": "persons in helårsbefolkningen"}
    ds.attrs = {"income": income, "quantile_method": quantile_method,
                "population": "helårsbefolkningen (registered 1 Jan and 31 Dec, household cdisp != 0)",
                "low_income_fraction": low_income_fraction,
                "source": "SCB (2015) Gränspendlingens effekt på den officiella inkomststatistiken, §7–8"}
    return ds


def ranking(stats: xr.Dataset, *, measure: str = "median", age_group: str = "20+") -> xr.Dataset:
    """Return each region's rank by ``measure`` (1 = highest) before and after the adjustment.

    Parameters
    ----------
    stats : Dataset
        Output of :func:`statistics` with a ``region`` dim.
    measure : str, default "median"
    age_group : str, default "20+"

    Returns
    -------
    xarray.Dataset
        ``rank`` (version, region, ...), ``rank_change`` = official rank −
        adjusted rank (positive: moved up), and the measure.

    Notes
    -----
    Ranks descending by value, ties get the lowest rank of their block
    (``scipy.stats.rankdata(−x, method="min")``); regions without persons
    get no rank (NaN).  Årjäng 2012: 282 → 136 (report §8.1).
    """
    if "region" not in stats.dims:
        raise IncomeError("ranking needs statistics by region (by=['region', ...])")
    if measure not in stats:
        raise IncomeError(f"statistics have no measure {measure!r}")
    if age_group not in stats["age_group"].values.tolist():
        raise IncomeError(f"statistics have no age_group {age_group!r}")
    m = stats[measure].sel(age_group=age_group)
    if "decile" in m.dims:
        raise IncomeError(f"measure {measure!r} has a decile dim; select a decile first")

    import scipy.stats

    def _rank(a):
        return scipy.stats.rankdata(-a, method="min", axis=-1, nan_policy="omit")

    r = xr.apply_ufunc(_rank, m, input_core_dims=[["region"]], output_core_dims=[["region"]])
    r = r.transpose(*m.dims)
    out = xr.Dataset({"rank": r, measure: m,
                      "rank_change": r.sel(version="official") - r.sel(version="adjusted")})
    out["rank"].attrs = {"long_name": f"rank by {measure} (1 = highest)"}
    out.attrs = {"measure": measure, "age_group": age_group}
    return out
