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
from ._linalg import cholesky, solve_spd
from .parametric import _kannisto_ll, kannisto_fit  # noqa: F401  (the life-table kernel imports them here)

LINK_LOG = 0
LINK_LOGIT = 1
CRIT_AIC = 0
CRIT_BIC = 1
CRIT_GCV = 2
#: the IRLS tolerance of each fit during the search over lambda (at most ``tol`` = 1e-9 by default is not
#: needed there: the criteria compared differ far more; the chosen fit is polished to 1e-12).  On the
#: 3,190 curves of a 290-kommun from_history: the same lambda for every curve, 12 % fewer iterations,
#: rates within 4e-7 (one ill-conditioned curve at lambda = 1e7: 4e-6) of a search at 1e-9.
SEARCH_TOL = 1e-6


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


@jit(inline="always")
def _eta_row(X, a, beta, base_a, lo, hi):
    """``base_a + X[a] @ beta`` over the row's non-zero span ``lo ≤ j < hi``.

    (The span comes as scalars, not as the arrays ``jlo, jhi``: read from an
    array inside the loop it is reloaded after every store, which halves the
    speed of the normal equations.)
    """
    s = base_a
    for j in range(lo, hi):
        s += X[a, j] * beta[j]
    return s


@jit
def _penalty(P, beta, bw):
    """``beta' P beta`` for a penalty of half bandwidth ``bw``."""
    K = beta.shape[0]
    pen = 0.0
    for i in range(K):
        s = 0.0
        for j in range(max(0, i - bw), min(K, i + bw + 1)):
            s += P[i, j] * beta[j]
        pen += beta[i] * s
    return pen


@jit
def _pen_deviance(y, e, base, valid, X, beta, P, lam, link, jlo, jhi, bw, ylr, pout):
    """Deviance and penalised deviance ``dev + lam beta' P beta`` of ``beta``; the means into ``pout``.

    ``ylr`` holds the terms free of ``beta`` (see :func:`_saturated_terms`),
    so that no logarithm of a mean is needed: with ``mu = e p``,

    * log link: ``y log(y / mu) - (y - mu) = ylr - y eta - (y - mu)``;
    * logit link: ``y log(y / mu) + r log(r / (e - mu)) = ylr + e softplus(eta) - y eta``
      with ``r = e - y`` and ``softplus(eta) = log(1 + exp(eta))``
      (``-log p = softplus(eta) - eta``, ``-log(1 - p) = softplus(eta)``),
      one exponential and one ``log1p`` per age, exact for any ``eta``.
    """
    dev = 0.0
    for a in range(y.shape[0]):
        if not valid[a]:
            continue
        eta = _eta_row(X, a, beta, base[a], jlo[a], jhi[a])
        if link == 1:
            z = math.exp(-abs(eta))
            pout[a] = 1.0 / (1.0 + z) if eta >= 0.0 else z / (1.0 + z)
            dev += 2.0 * (ylr[a] + e[a] * (max(eta, 0.0) + math.log1p(z)) - y[a] * eta)
            continue
        p = _mean_fn(eta, link)
        pout[a] = p
        mu = e[a] * p
        if mu >= 1e-300 and eta <= 700.0:
            dev += 2.0 * (ylr[a] - y[a] * eta - (y[a] - mu))
        else:
            dev += _dev_term(y[a], e[a], max(mu, 1e-300), link)
    if lam > 0.0:
        return dev, dev + lam * _penalty(P, beta, bw)
    return dev, dev


@jit
def _saturated_terms(y, e, valid, link, ylr):
    """The deviance's terms free of the fit, into ``ylr`` (0 where not valid).

    Log link: ``y log(y / e)``; logit link: ``y log(y / e) + r log(r / e)``
    with ``r = e - y`` (``0 log 0 = 0``).
    """
    for a in range(y.shape[0]):
        t = 0.0
        if valid[a]:
            if y[a] > 0.0:
                t = y[a] * math.log(y[a] / e[a])
            if link == 1 and e[a] - y[a] > 0.0:
                t += (e[a] - y[a]) * math.log((e[a] - y[a]) / e[a])
        ylr[a] = t


@jit(inline="always")
def _accumulate(F, rhs, X, a, lo, hi, w, z):
    """Add ``w x x'`` to the lower triangle of ``F`` and ``w z x`` to ``rhs`` for the row ``x = X[a]``.

    Only the row's non-zero span is visited; :func:`_mirror` fills the upper
    triangle once all rows are in.
    """
    for u in range(lo, hi):
        xu = X[a, u] * w
        rhs[u] += xu * z
        for v in range(lo, u + 1):
            F[u, v] += xu * X[a, v]


@jit(inline="always")
def _clear(F, rhs):
    """Zero the normal equations."""
    K = F.shape[0]
    for i in range(K):
        for j in range(K):
            F[i, j] = 0.0
        rhs[i] = 0.0


@jit(inline="always")
def _mirror(F):
    """Copy the lower triangle of ``F`` into the upper."""
    K = F.shape[0]
    for u in range(K):
        for v in range(u + 1, K):
            F[u, v] = F[v, u]


@jit
def _normal_equations(y, e, base, valid, X, beta, link, F, rhs, jlo, jhi, pm):
    """Fill ``F = X'WX`` and ``rhs = X'W z`` (z the working response minus ``base``) at ``beta``.

    ``pm`` holds the means at ``beta`` (from :func:`_pen_deviance`).

    Only the non-zero span of each row of ``X`` is used (B-spline rows have
    degree + 1 non-zeros) and only the lower triangle is summed, so the cost
    is ``A nnz (nnz + 1) / 2``, not ``A K^2``.
    """
    _clear(F, rhs)
    for a in range(y.shape[0]):
        if not valid[a]:
            continue
        eta_x = _eta_row(X, a, beta, 0.0, jlo[a], jhi[a])
        p = pm[a]
        if link == 0:
            mu = max(e[a] * p, 1e-300)
            w = mu
            z = eta_x + (y[a] - mu) / mu
        else:
            p = min(max(p, 1e-15), 1.0 - 1e-15)
            mu = e[a] * p
            w = e[a] * p * (1.0 - p)
            z = eta_x + (y[a] - mu) / w
        _accumulate(F, rhs, X, a, jlo[a], jhi[a], w, z)
    _mirror(F)


@jit
def _penalised_system(F, P, lam, G, bw):
    """``G = F + lam P`` (within the band)."""
    K = F.shape[0]
    for i in range(K):
        for j in range(max(0, i - bw), min(K, i + bw + 1)):
            G[i, j] = F[i, j] + lam * P[i, j]


@jit
def _start(y, e, base, valid, X, P, lam, link, jlo, jhi, bw, F, G, Lw, rhs, beta):
    """One weighted least-squares step on the transformed, slightly shrunk observed rates; returns the ridge.

    The ridge (added only if ``F + lam P`` is not numerically positive
    definite) is ``1e-10 max diag(F) + 1e-12`` of this first system.
    """
    _clear(F, rhs)
    nvalid = 0
    ysum = 0.0
    for a in range(y.shape[0]):
        if valid[a]:
            nvalid += 1
            ysum += y[a]
    for a in range(y.shape[0]):
        if not valid[a]:
            continue
        if link == 0:
            mu0 = y[a] + 0.1 * ysum / nvalid + 1e-8
            z = math.log(mu0 / e[a]) - base[a]
            w = mu0
        else:
            p0 = (y[a] + 0.5) / (e[a] + 1.0)
            z = math.log(p0 / (1.0 - p0)) - base[a]
            w = e[a] * p0 * (1.0 - p0)
        _accumulate(F, rhs, X, a, jlo[a], jhi[a], w, z)
    _mirror(F)
    ridge = 0.0
    for i in range(F.shape[0]):
        ridge = max(ridge, F[i, i])
    ridge = ridge * 1e-10 + 1e-12
    _penalised_system(F, P, lam, G, bw)
    if not solve_spd(G, rhs, Lw, beta, ridge, bw):
        beta[:] = 0.0
    return ridge


@jit
def _irls(y, e, base, valid, X, beta, dev, P, lam, link, jlo, jhi, bw, ridge, max_iter, accept, xtol, ftol,
          F, G, Lw, rhs, bnew, sol, ylr, pm, pt):
    """Penalised IRLS from ``beta`` (updated in place) with step halving on the penalised deviance.

    ``dev`` is the deviance and ``pm`` the means at ``beta`` on entry, and at
    the result on return (``pt`` is work space).

    A step is halved (up to 30 times) until the penalised deviance is at most
    ``(1 + accept)`` times its previous value (relative to ``1 + |pdev|``).
    Stops when the largest coefficient change is ``≤ xtol (1 + max|beta|)``
    or the change in penalised deviance ``≤ ftol (1 + |pdev|)``.  Returns
    ``(deviance, iterations, converged, relative last step)``.
    """
    K = beta.shape[0]
    pdev = dev + lam * _penalty(P, beta, bw) if lam > 0.0 else dev
    conv = False
    rel = np.inf
    it = 0
    for it in range(1, max_iter + 1):
        _normal_equations(y, e, base, valid, X, beta, link, F, rhs, jlo, jhi, pm)
        _penalised_system(F, P, lam, G, bw)
        if not solve_spd(G, rhs, Lw, bnew, ridge, bw):
            break
        step = 1.0
        ndev = dev
        npdev = pdev
        for h in range(30):
            for j in range(K):
                sol[j] = beta[j] + step * (bnew[j] - beta[j])
            ndev, npdev = _pen_deviance(y, e, base, valid, X, sol, P, lam, link, jlo, jhi, bw, ylr, pt)
            if npdev <= pdev + accept * (1.0 + abs(pdev)):
                break
            step *= 0.5
        dmax = 0.0
        bmax = 0.0
        for j in range(K):
            dmax = max(dmax, abs(sol[j] - beta[j]))
            bmax = max(bmax, abs(sol[j]))
            beta[j] = sol[j]
        pm[:] = pt
        change = abs(pdev - npdev)
        dev = ndev
        pdev = npdev
        rel = dmax / (1.0 + bmax)
        if rel <= xtol or change <= ftol * (1.0 + abs(pdev)):
            conv = True
            break
    return dev, it, conv, rel


@jit
def _edf(y, e, base, valid, X, beta, P, lam, link, jlo, jhi, bw, ridge, F, G, Lw, rhs, S, pm):
    """Effective degrees of freedom ``tr((F + lam P)^-1 F)`` at ``beta`` (one factorisation).

    Only the band of the inverse ``S = (F + lam P)^-1`` is needed (``F`` is
    banded), and it follows from the Cholesky factor ``L`` by the Takahashi
    recursion in ``K bw^2`` operations (Takahashi, Fagan & Chen 1973; Hutchinson
    & de Hoog 1985), with ``l_ki = L_ki / L_ii`` and ``d_i = L_ii^2``, for
    ``i = K-1, …, 0``::

        S_ji = - sum_{k=i+1}^{i+bw} l_ki S_jk        (i < j ≤ i + bw)
        S_ii = 1 / d_i - sum_{k=i+1}^{i+bw} l_ki S_ki

    and ``edf = sum_i S_ii F_ii + 2 sum_{i<j≤i+bw} S_ji F_ji``.
    """
    K = beta.shape[0]
    _normal_equations(y, e, base, valid, X, beta, link, F, rhs, jlo, jhi, pm)
    _penalised_system(F, P, lam, G, bw)
    if not cholesky(G, Lw, bw):
        for i in range(K):
            G[i, i] += ridge
        ok = cholesky(G, Lw, bw)
        for i in range(K):
            G[i, i] -= ridge
        if not ok:
            return np.nan
    edf = 0.0
    for i in range(K - 1, -1, -1):
        kmax = min(K - 1, i + bw)
        lii = Lw[i, i]
        for j in range(kmax, i, -1):
            s = 0.0
            for k in range(i + 1, kmax + 1):
                s += Lw[k, i] * (S[j, k] if j >= k else S[k, j])
            S[j, i] = -s / lii
        s = 0.0
        for k in range(i + 1, kmax + 1):
            s += Lw[k, i] * S[k, i]
        S[i, i] = 1.0 / (lii * lii) - s / lii
        edf += S[i, i] * F[i, i]
        for j in range(i + 1, kmax + 1):
            edf += 2.0 * S[j, i] * F[j, i]
    return edf


@jit
def _criterion(crit, dev, edf, nvalid):
    """AIC ``dev + 2 edf``, BIC ``dev + log(n) edf`` or GCV ``n dev / (n - edf)^2``."""
    if crit == 0:
        return dev + 2.0 * edf
    if crit == 1:
        return dev + math.log(nvalid) * edf
    d = nvalid - edf
    if d <= 0:
        return np.inf
    return nvalid * dev / (d * d)


@jit
def _level_step(y, e, base, valid, X, beta, vconst, link, jlo, jhi):
    """Move ``beta`` along ``vconst`` (X @ vconst = 1, P @ vconst = 0) to the exact ML of the overall level.

    This makes sum(fitted) = sum(observed) even where the penalised system is
    ill-conditioned (very large lambda).
    """
    for k in range(50):
        sy = 0.0
        smu = 0.0
        sw = 0.0
        for a in range(y.shape[0]):
            if not valid[a]:
                continue
            p = _mean_fn(_eta_row(X, a, beta, base[a], jlo[a], jhi[a]), link)
            sy += y[a]
            smu += e[a] * p
            sw += e[a] * p * (1.0 - p) if link == 1 else e[a] * p
        if smu <= 0.0 or sw <= 0.0:
            break
        c = math.log(sy / smu) if link == 0 else (sy - smu) / sw
        for j in range(beta.shape[0]):
            beta[j] += c * vconst[j]
        if abs(c) < 1e-15:
            break


@jit
def glm_fit_range(n0, n1, y, e, base, valid, X, jlo, jhi, bw, P, vconst, lambdas, link, crit, max_iter, tol,
                  patience, beta_out, rate_out, dev_out, edf_out, lam_out, crit_out, iter_out, conv_out):
    """Fit curves ``n0 ≤ n < n1`` (see :func:`penalized_glm_fit`); writes rows ``n`` of the outputs.

    (Serial, one curve after another with the same work buffers;
    :func:`penalized_glm_fit` runs ranges of curves in threads.)  Per curve:
    starting values, a descent along the lambda grid (IRLS to convergence,
    edf and criterion at each lambda, warm starts; each fit to :data:`SEARCH_TOL`),
    the chosen fit polished to 1e-12, the exact level step, the outputs.
    """
    NX = X.shape[0]
    A = y.shape[1]
    K = X.shape[2]
    F = np.zeros((K, K))
    G = np.zeros((K, K))
    Lw = np.zeros((K, K))
    rhs = np.zeros(K)
    beta = np.zeros(K)
    bnew = np.zeros(K)
    best = np.zeros(K)
    S = np.zeros((K, K))
    sol = np.zeros(K)
    pm = np.zeros(A)
    pt = np.zeros(A)
    ylr = np.zeros(A)
    for n in range(n0, n1):
        ix = n if NX > 1 else 0
        Xn, jl, jh = X[ix], jlo[ix], jhi[ix]
        yn, en, bn, vn = y[n], e[n], base[n], valid[n]
        for buf in (F, G, Lw):   # fresh buffers for every curve, as if allocated here
            buf[:] = 0.0
        nvalid = 0
        ysum = 0.0
        for a in range(A):
            if vn[a]:
                nvalid += 1
                ysum += yn[a]
        if nvalid == 0 or ysum <= 0.0:
            # no information or no events: the ML rate is 0 (log link) / 0 (logit)
            beta_out[n, :] = np.nan
            for a in range(A):
                rate_out[n, a] = 0.0 if math.isfinite(bn[a]) else np.nan
            dev_out[n] = 0.0
            edf_out[n] = 0.0
            lam_out[n] = np.nan
            crit_out[n] = np.nan
            iter_out[n] = 0
            conv_out[n] = nvalid > 0
            continue
        _saturated_terms(yn, en, vn, link, ylr)
        ridge = _start(yn, en, bn, vn, Xn, P, lambdas[0], link, jl, jh, bw, F, G, Lw, rhs, beta)
        dev = _pen_deviance(yn, en, bn, vn, Xn, beta, P, 0.0, link, jl, jh, bw, ylr, pm)[0]
        best_crit = np.inf
        best_edf = np.nan
        best_lam = np.nan
        total_iter = 0
        worse = 0
        for li in range(lambdas.shape[0]):
            lam = lambdas[li]
            dev, it, conv, rel = _irls(yn, en, bn, vn, Xn, beta, dev, P, lam, link, jl, jh, bw, ridge, max_iter,
                                       1e-10, max(tol, SEARCH_TOL), max(tol, SEARCH_TOL) * 1e-3, F, G, Lw, rhs,
                                       bnew, sol, ylr, pm, pt)
            total_iter += it
            edf = _edf(yn, en, bn, vn, Xn, beta, P, lam, link, jl, jh, bw, ridge, F, G, Lw, rhs, S, pm)
            cv = _criterion(crit, dev, edf, nvalid)
            if cv < best_crit:
                worse = 0
                best_crit = cv
                best_edf = edf
                best_lam = lam
                best[:] = beta
            else:
                worse += 1
                if patience > 0 and worse >= patience:
                    break
        # polish the chosen fit (tight convergence so that fitted totals match)
        beta[:] = best
        dev = _pen_deviance(yn, en, bn, vn, Xn, beta, P, 0.0, link, jl, jh, bw, ylr, pm)[0]
        dev, it, strict, rel = _irls(yn, en, bn, vn, Xn, beta, dev, P, best_lam, link, jl, jh, bw, ridge, max_iter,
                                     1e-12, 1e-12, -1.0, F, G, Lw, rhs, bnew, sol, ylr, pm, pt)
        total_iter += it
        _level_step(yn, en, bn, vn, Xn, beta, vconst, link, jl, jh)
        dev = _pen_deviance(yn, en, bn, vn, Xn, beta, P, 0.0, link, jl, jh, bw, ylr, pt)[0]
        beta_out[n] = beta
        for a in range(A):
            if math.isfinite(bn[a]):
                rate_out[n, a] = _mean_fn(_eta_row(Xn, a, beta, bn[a], jl[a], jh[a]), link)
            else:
                rate_out[n, a] = np.nan
        dev_out[n] = dev
        edf_out[n] = best_edf
        lam_out[n] = best_lam
        crit_out[n] = best_crit
        iter_out[n] = total_iter
        conv_out[n] = strict or rel <= tol


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

    Notes
    -----
    The non-zero span of each row of ``X`` and the half bandwidth of
    ``X'WX + lam P`` are found here once, so that the normal equations cost
    ``A nnz^2`` and the Cholesky factorisations ``K bw^2`` (B-splines of
    degree 3 with a second-order penalty: ``nnz = 4``, ``bw = 3``).
    """
    nz = X != 0.0
    jlo = np.where(nz.any(-1), nz.argmax(-1), 0).astype(np.int64)
    jhi = np.where(nz.any(-1), X.shape[2] - nz[..., ::-1].argmax(-1), 0).astype(np.int64)
    pi, pj = np.nonzero(P)
    bw = int(max(int((jhi - jlo).max()) - 1 if jhi.size else 0, int(np.abs(pi - pj).max()) if pi.size else 0, 0))
    parallel_ranges(glm_fit_range, y.shape[0], y, e, base, valid, X, np.ascontiguousarray(jlo),
                    np.ascontiguousarray(jhi), np.int64(bw), P, vconst, lambdas, link, crit, max_iter, tol, patience,
                    beta_out, rate_out, dev_out, edf_out, lam_out, crit_out, iter_out, conv_out)
