"""Smoothing kernels: penalised Poisson/binomial IRLS (the parametric models are in :mod:`.parametric`).

Every kernel fits many curves at once.  Axes: ``(n, age)`` for data, with
``n`` the flattened broadcast dims (region, sex, ...), and ``(nx, age, k)`` for
design matrices (``nx`` is 1 when all curves share one basis, else ``n``).

Link codes: ``0`` = log link, Poisson counts with exposure ``e``
(``mu = e * exp(eta)``); ``1`` = logit link, binomial counts out of ``e``
trials (``mu = e * expit(eta)``).  Criterion codes: ``0`` AIC
(``deviance + 2 edf``), ``1`` BIC (``deviance + log(n) edf``), ``2`` GCV
(``n deviance / (n - edf)^2``), with ``n`` the number of ages that carry
information (positive exposure and a finite reference).
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import jit, parallel_ranges
from .parametric import _kannisto_ll, kannisto_fit  # noqa: F401  (the life-table kernel imports them here)

LINK_LOG = 0
LINK_LOGIT = 1
CRIT_AIC = 0
CRIT_BIC = 1
CRIT_GCV = 2


@jit
def _cholesky_solve(G, b, L, x):
    """Solve ``G x = b`` for symmetric positive definite ``G`` (K×K) via Cholesky.

    ``L`` is a K×K work array. Returns False if ``G`` is not positive definite.
    """
    K = G.shape[0]
    for i in range(K):
        for j in range(i + 1):
            s = G[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            if i == j:
                if s <= 0.0:
                    return False
                L[i, i] = math.sqrt(s)
            else:
                L[i, j] = s / L[j, j]
    # forward
    for i in range(K):
        s = b[i]
        for k in range(i):
            s -= L[i, k] * x[k]
        x[i] = s / L[i, i]
    # backward
    for i in range(K - 1, -1, -1):
        s = x[i]
        for k in range(i + 1, K):
            s -= L[k, i] * x[k]
        x[i] = s / L[i, i]
    return True


@jit
def _solve_spd(G, b, L, x, ridge):
    """Solve ``G x = b``; if ``G`` is not numerically positive definite, add ``ridge`` to its diagonal."""
    if _cholesky_solve(G, b, L, x):
        return True
    K = G.shape[0]
    for i in range(K):
        G[i, i] += ridge
    ok = _cholesky_solve(G, b, L, x)
    for i in range(K):
        G[i, i] -= ridge
    return ok


@jit
def _chol_solve_factored(L, b, x):
    K = L.shape[0]
    for i in range(K):
        s = b[i]
        for k in range(i):
            s -= L[i, k] * x[k]
        x[i] = s / L[i, i]
    for i in range(K - 1, -1, -1):
        s = x[i]
        for k in range(i + 1, K):
            s -= L[k, i] * x[k]
        x[i] = s / L[i, i]


@jit
def _mean_fn(eta, link):
    """Return the rate (log link) or probability (logit link) for ``eta``."""
    if link == 0:
        if eta > 700.0:
            eta = 700.0
        return math.exp(eta)
    if eta >= 0:
        z = math.exp(-eta)
        return 1.0 / (1.0 + z)
    z = math.exp(eta)
    return z / (1.0 + z)


@jit
def _dev_term(y, e, mu, link):
    """One age's contribution to the deviance (``y log(y/mu) - (y - mu)`` etc.)."""
    d = 0.0
    if link == 0:
        if y > 0:
            d = y * math.log(y / mu) - (y - mu)
        else:
            d = mu
    else:
        if y > 0:
            d += y * math.log(y / mu)
        r = e - y
        if r > 0:
            d += r * math.log(r / (e - mu))
    return 2.0 * d


@jit
def _eta_row(X, a, beta, base_a):
    K = X.shape[1]
    s = base_a
    for j in range(K):
        s += X[a, j] * beta[j]
    return s


@jit
def _pen_deviance(y, e, base, valid, X, beta, P, lam, link):
    A = y.shape[0]
    K = beta.shape[0]
    dev = 0.0
    for a in range(A):
        if not valid[a]:
            continue
        p = _mean_fn(_eta_row(X, a, beta, base[a]), link)
        mu = e[a] * p
        if link == 0 and mu < 1e-300:
            mu = 1e-300
        if link == 1:
            if mu < 1e-300:
                mu = 1e-300
            if mu > e[a] * (1.0 - 1e-15):
                mu = e[a] * (1.0 - 1e-15)
        dev += _dev_term(y[a], e[a], mu, link)
    pen = 0.0
    if lam > 0.0:
        for i in range(K):
            s = 0.0
            for j in range(K):
                s += P[i, j] * beta[j]
            pen += beta[i] * s
    return dev, dev + lam * pen


@jit
def _normal_equations(y, e, base, valid, X, beta, link, F, rhs, idx):
    """Fill ``F = X'WX`` and ``rhs = X'W z`` (z the working response minus ``base``).

    Only the non-zero entries of each row of ``X`` are used (B-spline rows
    have degree + 1 of them), so the cost is ``A (nnz)^2``, not ``A K^2``.
    """
    A = y.shape[0]
    K = X.shape[1]
    for i in range(K):
        rhs[i] = 0.0
        for j in range(K):
            F[i, j] = 0.0
    for a in range(A):
        if not valid[a]:
            continue
        nz = 0
        eta_x = 0.0
        for j in range(K):
            v = X[a, j]
            if v != 0.0:
                idx[nz] = j
                nz += 1
                eta_x += v * beta[j]
        eta = base[a] + eta_x
        p = _mean_fn(eta, link)
        if link == 0:
            mu = e[a] * p
            if mu < 1e-300:
                mu = 1e-300
            w = mu
            z = eta_x + (y[a] - mu) / mu
        else:
            if p < 1e-15:
                p = 1e-15
            if p > 1.0 - 1e-15:
                p = 1.0 - 1e-15
            mu = e[a] * p
            w = e[a] * p * (1.0 - p)
            z = eta_x + (y[a] - mu) / w
        for u in range(nz):
            ju = idx[u]
            xu = X[a, ju] * w
            rhs[ju] += xu * z
            for v in range(nz):
                jv = idx[v]
                F[ju, jv] += xu * X[a, jv]


@jit
def glm_fit_range(n0, n1, y, e, base, valid, X, P, vconst, lambdas, link, crit, max_iter, tol, patience,
                  beta_out, rate_out, dev_out, edf_out, lam_out, crit_out, iter_out, conv_out):
    """Fit curves ``n0 ≤ n < n1`` (see :func:`penalized_glm_fit`); writes rows ``n`` of the outputs.

    (Serial, one curve after another with the same work buffers;
    :func:`penalized_glm_fit` runs ranges of curves in threads.)
    """
    NX = X.shape[0]
    A = y.shape[1]
    K = X.shape[2]
    L_ = lambdas.shape[0]
    F = np.zeros((K, K))
    G = np.zeros((K, K))
    Lw = np.zeros((K, K))
    rhs = np.zeros(K)
    beta = np.zeros(K)
    bnew = np.zeros(K)
    best = np.zeros(K)
    col = np.zeros(K)
    sol = np.zeros(K)
    idx = np.zeros(K, dtype=np.int64)
    for n in range(n0, n1):
        Xn = X[n if NX > 1 else 0]
        yn = y[n]
        en = e[n]
        bn = base[n]
        vn = valid[n]
        for buf in (F, G, Lw):   # fresh buffers for every curve, as if allocated here
            buf[:] = 0.0
        for vec in (rhs, beta, bnew, best, col, sol):
            vec[:] = 0.0
        idx[:] = 0
        nvalid = 0
        ysum = 0.0
        for a in range(A):
            if vn[a]:
                nvalid += 1
                ysum += yn[a]
        if nvalid == 0 or ysum <= 0.0:
            # no information or no events: the ML rate is 0 (log link) / 0 (logit)
            for j in range(K):
                beta_out[n, j] = np.nan
            for a in range(A):
                rate_out[n, a] = 0.0 if math.isfinite(bn[a]) else np.nan
            dev_out[n] = 0.0
            edf_out[n] = 0.0
            lam_out[n] = np.nan
            crit_out[n] = np.nan
            iter_out[n] = 0
            conv_out[n] = nvalid > 0
            continue
        # starting values: one weighted least-squares step on the
        # transformed, slightly shrunk observed rates with the stiffest lambda
        for i in range(K):
            rhs[i] = 0.0
            for j in range(K):
                F[i, j] = 0.0
        for a in range(A):
            if not vn[a]:
                continue
            if link == 0:
                mu0 = yn[a] + 0.1 * ysum / nvalid + 1e-8
                z = math.log(mu0 / en[a]) - bn[a]
                w = mu0
            else:
                p0 = (yn[a] + 0.5) / (en[a] + 1.0)
                z = math.log(p0 / (1.0 - p0)) - bn[a]
                w = en[a] * p0 * (1.0 - p0)
            for i in range(K):
                xi = Xn[a, i] * w
                if xi == 0.0:
                    continue
                rhs[i] += xi * z
                for j in range(K):
                    F[i, j] += xi * Xn[a, j]
        lam0 = lambdas[0]
        ridge = 0.0
        for i in range(K):
            ridge = max(ridge, F[i, i])
        ridge = ridge * 1e-10 + 1e-12
        for i in range(K):
            for j in range(K):
                G[i, j] = F[i, j] + lam0 * P[i, j]
        if not _solve_spd(G, rhs, Lw, beta, ridge):
            for j in range(K):
                beta[j] = 0.0
        best_crit = np.inf
        best_edf = np.nan
        best_lam = np.nan
        total_iter = 0
        worse = 0
        for li in range(L_):
            lam = lambdas[li]
            dev, pdev = _pen_deviance(yn, en, bn, vn, Xn, beta, P, lam, link)
            conv = False
            for it in range(max_iter):
                total_iter += 1
                _normal_equations(yn, en, bn, vn, Xn, beta, link, F, rhs, idx)
                for i in range(K):
                    for j in range(K):
                        G[i, j] = F[i, j] + lam * P[i, j]
                if not _solve_spd(G, rhs, Lw, bnew, ridge):
                    break
                # step halving on the penalised deviance
                step = 1.0
                ndev = 0.0
                npdev = 0.0
                for h in range(30):
                    for j in range(K):
                        sol[j] = beta[j] + step * (bnew[j] - beta[j])
                    ndev, npdev = _pen_deviance(yn, en, bn, vn, Xn, sol, P, lam, link)
                    if npdev <= pdev + 1e-10 * (1.0 + abs(pdev)):
                        break
                    step *= 0.5
                dmax = 0.0
                bmax = 0.0
                for j in range(K):
                    dmax = max(dmax, abs(sol[j] - beta[j]))
                    bmax = max(bmax, abs(sol[j]))
                    beta[j] = sol[j]
                change = abs(pdev - npdev)
                dev = ndev
                pdev = npdev
                if dmax <= tol * (1.0 + bmax) or change <= tol * 1e-3 * (1.0 + abs(pdev)):
                    conv = True
                    break
            # effective degrees of freedom: tr((F + lam P)^-1 F) at the fit
            _normal_equations(yn, en, bn, vn, Xn, beta, link, F, rhs, idx)
            for i in range(K):
                for j in range(K):
                    G[i, j] = F[i, j] + lam * P[i, j]
            # factor once, then solve for each column of F
            _solve_spd(G, rhs, Lw, bnew, ridge)
            edf = 0.0
            for c in range(K):
                for i in range(K):
                    col[i] = F[i, c]
                _chol_solve_factored(Lw, col, sol)
                edf += sol[c]
            if crit == 0:
                cv = dev + 2.0 * edf
            elif crit == 1:
                cv = dev + math.log(nvalid) * edf
            else:
                d = nvalid - edf
                if d <= 0:
                    cv = np.inf
                else:
                    cv = nvalid * dev / (d * d)
            if cv < best_crit:
                worse = 0
                best_crit = cv
                best_edf = edf
                best_lam = lam
                for j in range(K):
                    best[j] = beta[j]
            else:
                worse += 1
                if patience > 0 and worse >= patience:
                    break
        # polish the chosen fit (tight convergence so that fitted totals match)
        lam = best_lam
        for j in range(K):
            beta[j] = best[j]
        dev, pdev = _pen_deviance(yn, en, bn, vn, Xn, beta, P, lam, link)
        conv = False
        for it in range(max_iter):
            total_iter += 1
            _normal_equations(yn, en, bn, vn, Xn, beta, link, F, rhs, idx)
            for i in range(K):
                for j in range(K):
                    G[i, j] = F[i, j] + lam * P[i, j]
            if not _solve_spd(G, rhs, Lw, bnew, ridge):
                break
            step = 1.0
            for h in range(30):
                for j in range(K):
                    sol[j] = beta[j] + step * (bnew[j] - beta[j])
                ndev, npdev = _pen_deviance(yn, en, bn, vn, Xn, sol, P, lam, link)
                if npdev <= pdev + 1e-12 * (1.0 + abs(pdev)):
                    break
                step *= 0.5
            dmax = 0.0
            bmax = 0.0
            for j in range(K):
                dmax = max(dmax, abs(sol[j] - beta[j]))
                bmax = max(bmax, abs(sol[j]))
                beta[j] = sol[j]
            dev = ndev
            pdev = npdev
            if dmax <= 1e-12 * (1.0 + bmax):
                conv = True
                break
            conv = dmax <= tol * (1.0 + bmax)
        # level step along ``vconst`` (X @ vconst = 1, P @ vconst = 0): the exact ML
        # of the overall level given the shape, which makes sum(fitted) = sum(observed)
        # even where the penalised system is ill-conditioned (very large lambda)
        for k in range(50):
            sy = 0.0
            smu = 0.0
            sw = 0.0
            for a in range(A):
                if not vn[a]:
                    continue
                p = _mean_fn(_eta_row(Xn, a, beta, bn[a]), link)
                sy += yn[a]
                smu += en[a] * p
                sw += en[a] * p * (1.0 - p) if link == 1 else en[a] * p
            if smu <= 0.0 or sw <= 0.0:
                break
            c = math.log(sy / smu) if link == 0 else (sy - smu) / sw
            for j in range(K):
                beta[j] += c * vconst[j]
            if abs(c) < 1e-15:
                break
        dev, pdev = _pen_deviance(yn, en, bn, vn, Xn, beta, P, lam, link)
        for j in range(K):
            beta_out[n, j] = beta[j]
        for a in range(A):
            if math.isfinite(bn[a]):
                rate_out[n, a] = _mean_fn(_eta_row(Xn, a, beta, bn[a]), link)
            else:
                rate_out[n, a] = np.nan
        dev_out[n] = dev
        edf_out[n] = best_edf
        lam_out[n] = best_lam
        crit_out[n] = best_crit
        iter_out[n] = total_iter
        conv_out[n] = conv


def penalized_glm_fit(y, e, base, valid, X, P, vconst, lambdas, link, crit, max_iter, tol, patience,
                      beta_out, rate_out, dev_out, edf_out, lam_out, crit_out, iter_out, conv_out):
    """Fit ``eta = base + X beta`` by penalised IRLS for every curve; choose lambda per curve.

    Parameters (axes)
    -----------------
    y, e, base : (n, A) float64
        Events, exposure (Poisson) or trials (binomial), and the fixed part of
        the linear predictor on the link scale (log or logit of a reference
        curve; 0 without one).
    valid : (n, A) bool
        Ages that enter the likelihood (positive exposure, finite base).
    X : (nx, A, K) float64
        Design matrix (shared when ``nx == 1``).
    P : (K, K) float64
        Penalty matrix (``D'D`` for a difference penalty; zeros for none).
    vconst : (K,) float64
        Coefficients of the constant function (``X @ vconst = 1``,
        ``P @ vconst = 0``): ones for B-splines, ``(1, 0)`` for Brass.
    lambdas : (L,) float64
        Grid of smoothing parameters, sorted descending (warm starts run from
        the stiffest fit to the most flexible).
    link, crit, max_iter, tol : int, int, int, float
    patience : int
        Stop the descent along the grid once the criterion has failed to
        improve on its best value for ``patience`` consecutive lambdas
        (0: search the whole grid).

    Outputs (filled in place)
    -------------------------
    beta_out (n, K), rate_out (n, A) (NaN where ``base`` is not finite),
    dev_out, edf_out, lam_out, crit_out (n,), iter_out (n,) int64,
    conv_out (n,) bool.
    """
    parallel_ranges(glm_fit_range, y.shape[0], y, e, base, valid, X, P, vconst, lambdas, link, crit, max_iter,
                    tol, patience, beta_out, rate_out, dev_out, edf_out, lam_out, crit_out, iter_out, conv_out)
