"""Kernels of demographic accounting: the cohort balance, mean population, summary measures.

Axis order everywhere: ``(n, age, year)`` where ``n`` is the flattened product
of every other dim (region, sex, scenario, ...); per-year series without an
age axis are ``(n, year)``.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit, parallel_ranges


# --- fused kernels: input checks + work in one pass over memory -----------------------------------
# The public functions (eager numpy input) hand the raw float64 arrays to these kernels, which check
# every value they read (NaN, ±inf, negative) while the row is in cache and return the number of rows
# with a bad value; the caller then runs the full check (demokit.cube.validate / check_counts) to
# raise the error naming the first offending cell.  ``check`` flags say which inputs to check (those
# already checked by the caller, converted first, or dask-backed are not).


@jit
def _block_bad(a):
    """True if the C-contiguous block ``a`` holds a NaN, an infinite or a negative value."""
    f = a.ravel()  # a view: one flat loop that LLVM vectorises
    nbad = 0
    for j in range(f.size):
        v = f[j]
        nbad += not (v >= 0.0 and v <= 1e8)   # demokit.cube.MAX_COUNT: NaN, negative, inf, implausible
    return nbad > 0


def cohort_balance_checked(pop, births, deaths, inm, outm, imm, emi, has_migration, check, start, adjustment):
    """Fill the cohort start population and the adjustment term, checking the inputs as they are read.

    Parameters (all float64)
    ----------
    pop : (n, A, T)
        Population at the end of each year ``P(x, t)``.
    births : (n, Ab, T)
        Births of the cell's sex by the mother's age (any number ``Ab`` of
        ages, 1 for births already summed); summed over ``Ab`` in age order.
    deaths, inm, outm, imm, emi : (n, A, T)
        Events by age at the end of the year: deaths, in-movers, out-movers,
        immigrants, emigrants.  The four migration arrays are read only when
        ``has_migration`` is true.
    has_migration : bool
    check : (7,) bool
        Which of ``pop, births, deaths, inm, outm, imm, emi`` to check.
    start : (n, A, T - 1), output
        ``N(x, t) = P(x−1, t−1)``; ``N(0, t) = B(t)`` (the births of the
        year); the open age gathers ``P(ω−1, t−1) + P(ω, t−1)``.
    adjustment : (n, A, T - 1), output
        ``A(x, t) = P(x, t) − N(x, t) + D − I + O − IM + EM``, the residual that
        closes the balance exactly (without migration: net migration plus
        adjustment ``P − N + D``).

    Returns
    -------
    int
        The number of rows ``n`` holding a NaN, infinite or negative value in a checked input.

    Parallel over rows: ranges of rows run in threads
    (:func:`demokit._kernels._jit.parallel_ranges`).
    """
    return sum(parallel_ranges(cohort_balance_checked_range, pop.shape[0], pop, births, deaths, inm, outm,
                               imm, emi, has_migration, check, start, adjustment))


@jit
def cohort_balance_checked_range(i0, i1, pop, births, deaths, inm, outm, imm, emi, has_migration, check,
                                 start, adjustment):
    """Rows ``i0 ≤ i < i1`` of :func:`cohort_balance_checked` (serial; run in threads by it)."""
    n, A, T = pop.shape
    Ab = births.shape[1]
    nbad = 0
    b = np.empty(T)
    for i in range(i0, i1):
        bad = False
        if check[0]:
            bad |= _block_bad(pop[i])
        if check[1]:
            bad |= _block_bad(births[i])
        if check[2]:
            bad |= _block_bad(deaths[i])
        if has_migration:
            if check[3]:
                bad |= _block_bad(inm[i])
            if check[4]:
                bad |= _block_bad(outm[i])
            if check[5]:
                bad |= _block_bad(imm[i])
            if check[6]:
                bad |= _block_bad(emi[i])
        nbad += bad
        for t in range(T):
            b[t] = 0.0
        for x in range(Ab):
            for t in range(T):
                b[t] += births[i, x, t]
        # age 0: the newborns
        for t in range(1, T):
            start[i, 0, t - 1] = b[t]
        for x in range(1, A - 1):
            for t in range(1, T):
                start[i, x, t - 1] = pop[i, x - 1, t - 1]
        if A > 1:
            for t in range(1, T):
                start[i, A - 1, t - 1] = pop[i, A - 2, t - 1] + pop[i, A - 1, t - 1]
        for x in range(A):
            if has_migration:
                for t in range(1, T):
                    adjustment[i, x, t - 1] = (pop[i, x, t] - start[i, x, t - 1] + deaths[i, x, t]
                                               - inm[i, x, t] + outm[i, x, t] - imm[i, x, t] + emi[i, x, t])
            else:
                for t in range(1, T):
                    adjustment[i, x, t - 1] = pop[i, x, t] - start[i, x, t - 1] + deaths[i, x, t]
    return nbad


def mean_population_checked(pop, by_cohort, check, out):
    """Mean population ``out`` (n, A, T−1) for years ``1..T−1`` of ``pop`` (n, A, T), with the input check.

    By age: ``(P(x, t−1) + P(x, t)) / 2``.  By cohort: ``(P(x−1, t−1) + P(x, t)) / 2``
    with ``P(−1, t−1) = 0`` and the open age ``(P(ω−1, t−1) + P(ω, t−1) + P(ω, t)) / 2``.
    Returns the number of rows with a bad value when ``check`` (see above).

    Parallel over rows: ranges of rows run in threads
    (:func:`demokit._kernels._jit.parallel_ranges`).
    """
    return sum(parallel_ranges(mean_population_checked_range, pop.shape[0], pop, by_cohort, check, out))


@jit
def mean_population_checked_range(i0, i1, pop, by_cohort, check, out):
    """Rows ``i0 ≤ i < i1`` of :func:`mean_population_checked` (serial; run in threads by it)."""
    n, A, T = pop.shape
    nbad = 0
    for i in range(i0, i1):
        if check:
            nbad += _block_bad(pop[i])
        if not by_cohort:
            for x in range(A):
                for t in range(1, T):
                    out[i, x, t - 1] = 0.5 * (pop[i, x, t - 1] + pop[i, x, t])
            continue
        for t in range(1, T):
            out[i, 0, t - 1] = 0.5 * pop[i, 0, t]
        for x in range(1, A - 1):
            for t in range(1, T):
                out[i, x, t - 1] = 0.5 * (pop[i, x - 1, t - 1] + pop[i, x, t])
        if A > 1:
            for t in range(1, T):
                out[i, A - 1, t - 1] = 0.5 * (pop[i, A - 2, t - 1] + pop[i, A - 1, t] + pop[i, A - 1, t - 1])
    return nbad


#: columns of the ``stats`` output of :func:`summary_rows`
SUMMARY_STATS = ("population", "age_sum", "young", "working", "old")


def summary_rows(pop, events, ages, offset, probs, check_pop, check_events, stats, quantiles, totals):
    """Summary sums of ``pop`` and event totals in one pass, with the input checks.

    Parameters
    ----------
    pop : (n, S, A, T) float64
        Population; the ``S`` axis (e.g. sex) is summed first, then each
        measure is computed on ``P(x, t) = Σ_s pop[i, s, x, t]``.
    events : tuple of (n, S, A, T) float64
        Event variables to total over ``S`` and age; only the first
        ``totals.shape[1]`` are read (pass a dummy 1-tuple when there are none).
    ages : (A,) float64
        Completed ages.
    offset : float
        Added to the age in the mean-age sum (0 or 0.5).
    probs : (K,) float64
        Shares for the quantile ages.
    check_pop : bool
    check_events : (totals.shape[1],) bool
    stats : (n, T, 5), output
        ``Σ_x P``, ``Σ_x P·(age + offset)``, ``Σ_{age≤19} P``, ``Σ_{20≤age≤64} P``, ``Σ_{age≥65} P``.
    quantiles : (n, T, K), output
        Ages below which a share ``probs[k]`` of ``P`` is: with cumulative
        population ``C(x−1)`` below age ``x``, ``x + (p·total − C(x−1)) / P(x)``
        (linear within the single year of age); NaN for a population of zero.
    totals : (n, len(events), T), output
        ``Σ_s Σ_x events[e][i, s, x, t]``.

    Returns
    -------
    int
        The number of rows ``n`` holding a NaN, infinite or negative value in a checked input.

    Parallel over rows: ranges of rows run in threads
    (:func:`demokit._kernels._jit.parallel_ranges`).
    """
    return sum(parallel_ranges(summary_rows_range, pop.shape[0], pop, events, ages, offset, probs, check_pop,
                               check_events, stats, quantiles, totals))


@jit
def summary_rows_range(i0, i1, pop, events, ages, offset, probs, check_pop, check_events, stats, quantiles,
                       totals):
    """Rows ``i0 ≤ i < i1`` of :func:`summary_rows` (serial; run in threads by it)."""
    nbad = 0
    for i in range(i0, i1):
        nbad += _summary_row(pop, events, i, ages, offset, probs, check_pop, check_events, stats[i],
                             quantiles[i], totals[i])
    return nbad


@jit
def _summary_row(pop, events, i, ages, offset, probs, check_pop, check_events, st, qa, tot_out):
    """Row ``i`` of :func:`summary_rows`; returns True if a checked input holds a bad value."""
    _, S, A, T = pop.shape
    K = probs.shape[0]
    bad = False
    P = np.empty((A, T))
    if check_pop:
        for s in range(S):
            bad |= _block_bad(pop[i, s])
    for x in range(A):
        for t in range(T):
            P[x, t] = pop[i, 0, x, t]
    for s in range(1, S):
        for x in range(A):
            for t in range(T):
                P[x, t] += pop[i, s, x, t]
    acc = np.zeros((5, T))  # contiguous along year: vectorised accumulation
    for x in range(A):
        a = ages[x]
        w = a + offset
        c = 2 if a <= 19 else (3 if a <= 64 else 4)
        for t in range(T):
            p = P[x, t]
            acc[0, t] += p
            acc[1, t] += p * w
            acc[c, t] += p
    for t in range(T):
        for c in range(5):
            st[t, c] = acc[c, t]
    for t in range(T):
        total = st[t, 0]
        for k in range(K):
            qa[t, k] = np.nan
        if total <= 0.0:
            continue
        k = 0
        cum = 0.0
        for x in range(A):
            p = P[x, t]
            while k < K and cum + p >= probs[k] * total and p > 0.0:
                qa[t, k] = ages[x] + (probs[k] * total - cum) / p
                k += 1
            cum += p
            if k == K:
                break
    for e in range(tot_out.shape[0]):  # events may hold a dummy when there are none
        ev = events[e]
        if check_events[e]:
            for s in range(S):
                bad |= _block_bad(ev[i, s])
        f = ev[i].ravel()  # (S·A·T) contiguous: rows of T years
        tot = np.zeros(T)
        for r in range(S * A):
            b = r * T
            for t in range(T):
                tot[t] += f[b + t]
        for t in range(T):
            tot_out[e, t] = tot[t]
    return bad
