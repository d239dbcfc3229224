"""Smoothing kernels: penalised Poisson/binomial IRLS and nonlinear Poisson fits.

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
from numba import prange

from ._jit import jit, parallel_ranges

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


# ---------------------------------------------------------------------------
# Rogers–Castro model migration schedule (Poisson ML, Levenberg–Marquardt)
# parameter order (13): a1, alpha1, a2, alpha2, mu2, lambda2,
#                       a3, alpha3, mu3, lambda3, a4, lambda4, c
# ``use`` (13,) bool selects the free parameters; unused amplitudes are 0.
# All parameters are positive and fitted on the log scale.
# ---------------------------------------------------------------------------


@jit
def rc_curve(theta, x, use, out, grad):
    """Rogers–Castro rate at ages ``x`` and its gradient wrt log-parameters.

    ``grad`` has shape (A, 13); columns of unused parameters are 0.
    """
    A = x.shape[0]
    a1, al1, a2, al2, mu2, la2 = theta[0], theta[1], theta[2], theta[3], theta[4], theta[5]
    a3, al3, mu3, la3, a4, la4, c = theta[6], theta[7], theta[8], theta[9], theta[10], theta[11], theta[12]
    for i in range(A):
        xi = x[i]
        for j in range(13):
            grad[i, j] = 0.0
        m = 0.0
        if use[0]:
            f1 = math.exp(-al1 * xi)
            m += a1 * f1
            grad[i, 0] = a1 * f1
            grad[i, 1] = a1 * f1 * (-xi) * al1
        if use[2]:
            u = xi - mu2
            ex = math.exp(-la2 * u)
            arg = -al2 * u - ex
            f2 = math.exp(arg) if arg > -700 else 0.0
            m += a2 * f2
            grad[i, 2] = a2 * f2
            grad[i, 3] = a2 * f2 * (-u) * al2
            grad[i, 4] = a2 * f2 * (al2 - la2 * ex) * mu2
            grad[i, 5] = a2 * f2 * (u * ex) * la2
        if use[6]:
            u = xi - mu3
            ex = math.exp(-la3 * u)
            arg = -al3 * u - ex
            f3 = math.exp(arg) if arg > -700 else 0.0
            m += a3 * f3
            grad[i, 6] = a3 * f3
            grad[i, 7] = a3 * f3 * (-u) * al3
            grad[i, 8] = a3 * f3 * (al3 - la3 * ex) * mu3
            grad[i, 9] = a3 * f3 * (u * ex) * la3
        if use[10]:
            f4 = math.exp(min(la4 * xi, 700.0))
            m += a4 * f4
            grad[i, 10] = a4 * f4
            grad[i, 11] = a4 * f4 * xi * la4
        if use[12]:
            m += c
            grad[i, 12] = c
        out[i] = m


@jit
def _poisson_ll(y, e, m):
    s = 0.0
    for i in range(y.shape[0]):
        if e[i] <= 0:
            continue
        mu = e[i] * m[i]
        if mu <= 0:
            if y[i] > 0:
                return -np.inf
            continue
        s += y[i] * math.log(mu) - mu
    return s


@jit(parallel=True)
def rogers_castro_fit(y, e, x, use, theta0, max_iter, tol, theta_out, rate_out, dev_out, iter_out, conv_out):
    """Fit the Rogers–Castro schedule by Poisson ML to every curve (Levenberg–Marquardt).

    y, e (n, A); x (A,); use (13,) bool; theta0 (n, 13) positive starting
    values. After convergence all amplitudes (a1..a4, c) are scaled by
    ``sum(y) / sum(fitted)`` — the ML step for the overall level — so the fitted
    events equal the observed events.
    """
    N, A = y.shape
    npar = 0
    for j in range(13):
        if use[j]:
            npar += 1
    for n in prange(N):
        pidx = np.zeros(npar, dtype=np.int64)
        k = 0
        for j in range(13):
            if use[j]:
                pidx[k] = j
                k += 1
        th = theta0[n].copy()
        trial = th.copy()
        m = np.zeros(A)
        mt = np.zeros(A)
        grad = np.zeros((A, 13))
        gt = np.zeros((A, 13))
        I = np.zeros((npar, npar))
        G = np.zeros((npar, npar))
        Lw = np.zeros((npar, npar))
        s = np.zeros(npar)
        d = np.zeros(npar)
        yn = y[n]
        en = e[n]
        ysum = 0.0
        for a in range(A):
            if en[a] > 0:
                ysum += yn[a]
        if ysum <= 0:
            for j in range(13):
                theta_out[n, j] = np.nan
            for a in range(A):
                rate_out[n, a] = 0.0
            dev_out[n] = 0.0
            iter_out[n] = 0
            conv_out[n] = False
            continue
        rc_curve(th, x, use, m, grad)
        ll = _poisson_ll(yn, en, m)
        damp = 1e-3
        gain = 0.0
        big = 0.0
        conv = False
        it = 0
        for it in range(max_iter):
            # score and Fisher information in log-parameters
            for p in range(npar):
                s[p] = 0.0
                for q in range(npar):
                    I[p, q] = 0.0
            for a in range(A):
                if en[a] <= 0 or m[a] <= 0:
                    continue
                r = yn[a] / m[a] - en[a]
                wq = en[a] / m[a]
                for p in range(npar):
                    gp = grad[a, pidx[p]]
                    s[p] += r * gp
                    for q in range(npar):
                        I[p, q] += wq * gp * grad[a, pidx[q]]
            improved = False
            for h in range(40):
                for p in range(npar):
                    for q in range(npar):
                        G[p, q] = I[p, q]
                    G[p, p] += damp * (I[p, p] + 1e-12)
                if not _cholesky_solve(G, s, Lw, d):
                    damp *= 10.0
                    continue
                for j in range(13):
                    trial[j] = th[j]
                big = 0.0
                for p in range(npar):
                    step = d[p]
                    if step > 2.0:
                        step = 2.0
                    if step < -2.0:
                        step = -2.0
                    trial[pidx[p]] = th[pidx[p]] * math.exp(step)
                    big = max(big, abs(step))
                rc_curve(trial, x, use, mt, gt)
                llt = _poisson_ll(yn, en, mt)
                if llt >= ll - 1e-12 * abs(ll):
                    gain = llt - ll
                    for j in range(13):
                        th[j] = trial[j]
                    for a in range(A):
                        m[a] = mt[a]
                        for j in range(13):
                            grad[a, j] = gt[a, j]
                    ll = llt
                    damp = max(damp * 0.3, 1e-12)
                    improved = True
                    break
                damp *= 10.0
            if not improved:
                conv = True  # no ascent direction left
                break
            if big < tol or gain <= tol * 1e-2 * (1.0 + abs(ll)):
                conv = True
                break
        # ML step for the overall level
        fsum = 0.0
        for a in range(A):
            if en[a] > 0:
                fsum += en[a] * m[a]
        k = ysum / fsum
        for j in (0, 2, 6, 10, 12):
            th[j] *= k
        rc_curve(th, x, use, m, grad)
        dev = 0.0
        for a in range(A):
            if en[a] > 0:
                mu = max(en[a] * m[a], 1e-300)
                dev += _dev_term(yn[a], en[a], mu, 0)
            rate_out[n, a] = m[a]
        for j in range(13):
            theta_out[n, j] = th[j] if use[j] else 0.0
        dev_out[n] = dev
        iter_out[n] = it + 1
        conv_out[n] = conv


@jit
def _kannisto_ll(yn, en, x, lo, hi, la_, b_):
    s = 0.0
    for a in range(yn.shape[0]):
        if x[a] < lo or x[a] > hi or en[a] <= 0:
            continue
        t = la_ + b_ * (x[a] - lo)
        if t > 0:
            m = 1.0 / (1.0 + math.exp(-t))
        else:
            z = math.exp(t)
            m = z / (1.0 + z)
        mu = en[a] * m
        s += yn[a] * math.log(max(mu, 1e-300)) - mu
    return s


@jit(parallel=True)
def kannisto_fit(y, e, x, lo, hi, max_iter, tol, par_out, rate_out, dev_out, iter_out, conv_out):
    """Fit ``m(x) = a e^{b(x-lo)} / (1 + a e^{b(x-lo)})`` by Poisson ML on ages lo..hi.

    Newton–Raphson with step halving on (log a, b); rates are returned for
    every age in ``x``. y, e (n, A); par_out (n, 2) = (a, b).
    """
    N, A = y.shape
    for n in prange(N):
        yn = y[n]
        en = e[n]
        ysum = 0.0
        esum = 0.0
        for a in range(A):
            if x[a] >= lo and x[a] <= hi and en[a] > 0:
                ysum += yn[a]
                esum += en[a]
        if ysum <= 0:
            par_out[n, 0] = np.nan
            par_out[n, 1] = np.nan
            for a in range(A):
                rate_out[n, a] = 0.0
            dev_out[n] = 0.0
            iter_out[n] = 0
            conv_out[n] = False
            continue
        mbar = ysum / esum
        la = math.log(max(mbar, 1e-6) / 3.0)
        b = 0.1
        conv = False
        it = 0
        lt = 0.0
        ll = _kannisto_ll(yn, en, x, lo, hi, la, b)
        for it in range(max_iter):
            g0 = 0.0
            g1 = 0.0
            h00 = 0.0
            h01 = 0.0
            h11 = 0.0
            for a in range(A):
                if x[a] < lo or x[a] > hi or en[a] <= 0:
                    continue
                u = x[a] - lo
                t = la + b * u
                if t > 0:
                    m = 1.0 / (1.0 + math.exp(-t))
                else:
                    z = math.exp(t)
                    m = z / (1.0 + z)
                # d log m / d t = 1 - m ; Fisher info with mu = e m
                r = (yn[a] - en[a] * m) * (1.0 - m)
                w = en[a] * m * (1.0 - m) * (1.0 - m)
                g0 += r
                g1 += r * u
                h00 += w
                h01 += w * u
                h11 += w * u * u
            det = h00 * h11 - h01 * h01
            if det <= 0:
                break
            d0 = (h11 * g0 - h01 * g1) / det
            d1 = (h00 * g1 - h01 * g0) / det
            step = 1.0
            ok = False
            for h in range(40):
                lt = _kannisto_ll(yn, en, x, lo, hi, la + step * d0, b + step * d1)
                if lt >= ll - 1e-12 * abs(ll):
                    ok = True
                    break
                step *= 0.5
            if not ok:
                conv = True
                break
            la += step * d0
            b += step * d1
            gain = lt - ll
            ll = lt
            if abs(step * d0) + abs(step * d1) < tol or gain < tol * 1e-3 * (1 + abs(ll)):
                conv = True
                break
        a_ = math.exp(la)
        par_out[n, 0] = a_
        par_out[n, 1] = b
        dev = 0.0
        for a in range(A):
            t = la + b * (x[a] - lo)
            if t > 0:
                m = 1.0 / (1.0 + math.exp(-t))
            else:
                z = math.exp(t)
                m = z / (1.0 + z)
            rate_out[n, a] = m
            if x[a] >= lo and x[a] <= hi and en[a] > 0:
                dev += _dev_term(yn[a], en[a], max(en[a] * m, 1e-300), 0)
        dev_out[n] = dev
        iter_out[n] = it + 1
        conv_out[n] = conv
