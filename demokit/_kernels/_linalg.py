"""Small dense and banded Cholesky solvers shared by the fitting kernels.

Matrices are K×K float64 arrays; ``bw`` is the half bandwidth (entries with
``|i - j| > bw`` are zero and never read), ``bw = K - 1`` for a dense matrix.
"""

from __future__ import annotations

import math

from ._jit import jit


@jit
def cholesky(G, L, bw):
    """Factor ``G = L L'`` (lower ``L``, band ``bw``); False if ``G`` is not positive definite."""
    K = G.shape[0]
    for i in range(K):
        j0 = max(0, i - bw)
        for j in range(j0, i + 1):
            s = G[i, j]
            for k in range(max(j0, j - bw), j):
                s -= L[i, k] * L[j, k]
            if i == j:
                if s <= 0.0 or not math.isfinite(s):
                    return False
                L[i, i] = math.sqrt(s)
            else:
                L[i, j] = s / L[j, j]
    return True


@jit
def cholesky_solve_factored(L, b, x, bw):
    """Solve ``L L' x = b`` for a factor from :func:`cholesky`."""
    K = L.shape[0]
    for i in range(K):
        s = b[i]
        for k in range(max(0, i - bw), i):
            s -= L[i, k] * x[k]
        x[i] = s / L[i, i]
    for i in range(K - 1, -1, -1):
        s = x[i]
        for k in range(i + 1, min(K, i + bw + 1)):
            s -= L[k, i] * x[k]
        x[i] = s / L[i, i]


@jit
def cholesky_solve(G, b, L, x, bw):
    """Solve ``G x = b`` (symmetric positive definite, band ``bw``); False if ``G`` is not."""
    if not cholesky(G, L, bw):
        return False
    cholesky_solve_factored(L, b, x, bw)
    return True


@jit
def solve_spd(G, b, L, x, ridge, bw):
    """Solve ``G x = b``; if ``G`` is not numerically positive definite, add ``ridge`` to its diagonal."""
    if cholesky_solve(G, b, L, x, bw):
        return True
    K = G.shape[0]
    for i in range(K):
        G[i, i] += ridge
    ok = cholesky_solve(G, b, L, x, bw)
    for i in range(K):
        G[i, i] -= ridge
    return ok
