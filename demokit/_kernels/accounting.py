"""Kernels of demographic accounting: the cohort balance, mean population, quantile ages.

Axis order everywhere: ``(n, age, year)`` where ``n`` is the flattened product
of every other dim (region, sex, scenario, ...); per-year series without an
age axis are ``(n, year)``.
"""

from __future__ import annotations

import numba
import numpy as np

from ._jit import jit


@jit(parallel=True)
def cohort_balance(pop, births0, deaths, inm, outm, imm, emi, has_migration, start, adjustment):
    """Fill the cohort start population and the adjustment term.

    Parameters (all float64)
    ----------
    pop : (n, A, T)
        Population at the end of each year ``P(x, t)``.
    births0 : (n, T)
        Births of the cell's sex in each year (the cohort aged 0 at year end).
    deaths, inm, outm, imm, emi : (n, A, T)
        Events by age at the end of the year: deaths, in-movers, out-movers,
        immigrants, emigrants.  The four migration arrays are read only when
        ``has_migration`` is true.
    start : (n, A, T - 1), output
        ``N(x, t) = P(x−1, t−1)``; ``N(0, t) = B(t)``; the open age gathers
        ``P(ω−1, t−1) + P(ω, t−1)``.
    adjustment : (n, A, T - 1), output
        ``A(x, t) = P(x, t) − N(x, t) + D − I + O − IM + EM``, the residual that
        closes the balance exactly (without migration: net migration plus
        adjustment ``P − N + D``).
    """
    n, A, T = pop.shape
    for i in numba.prange(n):
        for x in range(A):  # year innermost: the contiguous axis
            for t in range(1, T):
                if x == 0:
                    s = births0[i, t]
                elif x == A - 1:
                    s = pop[i, x - 1, t - 1] + pop[i, x, t - 1]
                else:
                    s = pop[i, x - 1, t - 1]
                start[i, x, t - 1] = s
                r = pop[i, x, t] - s + deaths[i, x, t]
                if has_migration:
                    r = r - inm[i, x, t] + outm[i, x, t] - imm[i, x, t] + emi[i, x, t]
                adjustment[i, x, t - 1] = r


@jit(parallel=True)
def mean_population(pop, by_cohort, out):
    """Mean population ``(n, A, T−1)`` for years ``1..T−1`` of ``pop`` ``(n, A, T)``.

    By age: ``(P(x, t−1) + P(x, t)) / 2``.  By cohort: ``(P(x−1, t−1) + P(x, t)) / 2``
    with ``P(−1, t−1) = 0`` and the open age ``(P(ω−1, t−1) + P(ω, t−1) + P(ω, t)) / 2``.
    """
    n, A, T = pop.shape
    for i in numba.prange(n):
        for x in range(A):  # year innermost: the contiguous axis
            for t in range(1, T):
                if not by_cohort:
                    s = pop[i, x, t - 1] + pop[i, x, t]
                elif x == 0:
                    s = pop[i, 0, t]
                elif x == A - 1:
                    s = pop[i, x - 1, t - 1] + pop[i, x, t] + pop[i, x, t - 1]
                else:
                    s = pop[i, x - 1, t - 1] + pop[i, x, t]
                out[i, x, t - 1] = 0.5 * s


@jit(parallel=True)
def quantile_ages(pop, ages, probs, out):
    """Ages below which a share ``probs[k]`` of the population is, ``out`` (n, T, K).

    ``pop`` is ``(n, A, T)`` by completed age ``ages`` (single years).  Linear
    interpolation within the single year of age: with cumulative population
    ``C(x−1)`` below age ``x`` and ``P(x)`` at age ``x``, the quantile is
    ``x + (p·total − C(x−1)) / P(x)``.  A population of zero gives NaN.
    """
    n, A, T = pop.shape
    K = probs.shape[0]
    for i in numba.prange(n):
        for t in range(T):
            total = 0.0
            for x in range(A):
                total += pop[i, x, t]
            for k in range(K):
                out[i, t, k] = np.nan
            if total <= 0.0:
                continue
            k = 0
            cum = 0.0
            for x in range(A):
                p = pop[i, x, t]
                while k < K and cum + p >= probs[k] * total and p > 0.0:
                    out[i, t, k] = ages[x] + (probs[k] * total - cum) / p
                    k += 1
                cum += p
                if k == K:
                    break
