"""Parametric age curves and one maximum-likelihood fitter for all of them.

Axes: data ``(n, A)`` (``n`` curves, ``A`` ages), parameters ``(n, P)``.
Every model is a curve kernel ``m(x; θ)`` with its gradient ``∂m/∂θ``
(natural parameters), selected by a model code:

====  =================  ==  ==================================================
code  model              P   m(x)
====  =================  ==  ==================================================
0     Kannisto           2   a e^{b t} / (1 + a e^{b t}),  t = x - x0
1     Gompertz           2   a e^{b t}
2     Makeham            3   a e^{b t} + c
3     Heligman–Pollard   8   S / (1 + S),  S = A^{(x+B)^C}
                             + D e^{-E (ln x - ln F)^2} + G H^x  (a risk q)
4     Rogers–Castro      13  a1 e^{-α1 x} + a2 exp(-α2 u2 - e^{-λ2 u2})
                             + a3 exp(-α3 u3 - e^{-λ3 u3}) + a4 e^{λ4 x} + c,
                             u_k = x - μ_k; a component with amplitude 0 is absent
5     Brass (logit)      2   expit(α + β s(x)),  s = logit of a standard
6     Brass (log)        2   exp(α + β s(x)),    s = log of a standard
====  =================  ==  ==================================================

Likelihood codes: ``0`` Poisson (events ~ Poisson(exposure · m)), ``1``
binomial (events ~ Binomial(exposure, m), ``m`` a risk).

:func:`fit_range` maximises the likelihood by Fisher scoring with
Levenberg–Marquardt damping (one ascent loop for every model), on the log
scale for the parameters flagged positive; standard errors come from the
inverse Fisher information in the natural parameters.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import jit, parallel_ranges
from ._linalg import cholesky, cholesky_solve, cholesky_solve_factored

KANNISTO = 0
GOMPERTZ = 1
MAKEHAM = 2
HELIGMAN_POLLARD = 3
ROGERS_CASTRO = 4
BRASS_LOGIT = 5
BRASS_LOG = 6
N_PARAMETERS = (2, 2, 3, 8, 13, 2, 2)

POISSON = 0
BINOMIAL = 1


@jit
def _expit(t):
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    z = math.exp(t)
    return z / (1.0 + z)


@jit
def _exp(t):
    return math.exp(min(t, 700.0)) if t > -745.0 else 0.0


@jit
def _rc_peak(a, al, mu, la, xi, g, k):
    """One Rogers–Castro peak ``a exp(−α(x−μ) − exp(−λ(x−μ)))`` at ``xi``; its gradient in ``g[k:k+4]``."""
    u = xi - mu
    ex = _exp(-la * u)
    f = _exp(-al * u - ex)
    g[k] = f
    g[k + 1] = -a * f * u
    g[k + 2] = a * f * (al - la * ex)
    g[k + 3] = a * f * u * ex
    return a * f


@jit
def _rogers_castro_at(th, xi, g):
    a1, al1, a2, al2, mu2, la2 = th[0], th[1], th[2], th[3], th[4], th[5]
    a3, al3, mu3, la3, a4, la4, c = th[6], th[7], th[8], th[9], th[10], th[11], th[12]
    m = 0.0
    if a1 != 0.0:
        f1 = _exp(-al1 * xi)
        m += a1 * f1
        g[0] = f1
        g[1] = -a1 * f1 * xi
    if a2 != 0.0:
        m += _rc_peak(a2, al2, mu2, la2, xi, g, 2)   # labour force peak
    if a3 != 0.0:
        m += _rc_peak(a3, al3, mu3, la3, xi, g, 6)   # retirement peak
    if a4 != 0.0:
        f4 = _exp(la4 * xi)
        m += a4 * f4
        g[10] = f4
        g[11] = a4 * f4 * xi
    if c != 0.0:
        m += c
        g[12] = 1.0
    return m


@jit
def _heligman_pollard_at(th, xi, g):
    A, B, C, D, E, F, G, H = th[0], th[1], th[2], th[3], th[4], th[5], th[6], th[7]
    xb = xi + B
    u = xb ** C
    lnA = math.log(A)
    s1 = _exp(lnA * u)
    s2 = 0.0
    L = 0.0
    if xi > 0.0:
        L = math.log(xi) - math.log(F)
        s2 = D * _exp(-E * L * L)
    s3 = G * _exp(xi * math.log(H))
    S = s1 + s2 + s3
    q = S / (1.0 + S)
    dq = 1.0 / ((1.0 + S) * (1.0 + S))
    g[0] = dq * s1 * u / A
    g[1] = dq * s1 * lnA * C * (u / xb)
    g[2] = dq * s1 * lnA * u * math.log(xb)
    g[3] = dq * (s2 / D if D > 0.0 else 0.0)
    g[4] = -dq * s2 * L * L
    g[5] = dq * s2 * 2.0 * E * L / F
    g[6] = dq * s3 / G if G > 0.0 else 0.0
    g[7] = dq * s3 * xi / H
    return q


@jit
def curve(model, th, x, s, x0, out, grad):
    """Evaluate model ``model`` with parameters ``th`` at ages ``x`` into ``out`` (A,), gradient into ``grad`` (A, P).

    ``s`` (A,) is the transformed standard (Brass models; ignored by the
    others); ``x0`` the centring age of Kannisto, Gompertz and Makeham.
    """
    A = x.shape[0]
    P = th.shape[0]
    for i in range(A):
        g = grad[i]
        for j in range(P):
            g[j] = 0.0
        xi = x[i]
        if model == 0 or model == 1 or model == 2:
            t = xi - x0
            z = th[0] * _exp(th[1] * t)
            if model == 0:
                m = z / (1.0 + z)
                dz = 1.0 / ((1.0 + z) * (1.0 + z))
                g[0] = dz * z / th[0] if th[0] > 0.0 else 0.0
                g[1] = dz * z * t
            else:
                m = z
                g[0] = z / th[0] if th[0] > 0.0 else _exp(th[1] * t)
                g[1] = z * t
                if model == 2:
                    m += th[2]
                    g[2] = 1.0
        elif model == 3:
            m = _heligman_pollard_at(th, xi, g)
        elif model == 4:
            m = _rogers_castro_at(th, xi, g)
        elif model == 5:
            si = s[i]
            if math.isfinite(si):
                m = _expit(th[0] + th[1] * si)
                w = m * (1.0 - m)
                g[0] = w
                g[1] = w * si
            else:
                m = 0.0 if si < 0 else 1.0
        else:
            si = s[i]
            if math.isfinite(si):
                m = _exp(th[0] + th[1] * si)
                g[0] = m
                g[1] = m * si
            else:
                m = 0.0 if si < 0 else np.inf
        out[i] = m


@jit
def _use(y, e, inside, a):
    return inside[a] and e[a] > 0.0


@jit
def loglik(lik, y, e, m, inside):
    """Log-likelihood (up to a constant) of events ``y`` given exposure ``e`` and curve ``m``."""
    s = 0.0
    for a in range(y.shape[0]):
        if not _use(y, e, inside, a):
            continue
        ma = m[a]
        if not math.isfinite(ma):
            return -np.inf
        if lik == 0:
            mu = e[a] * ma
            if mu <= 0.0:
                if y[a] > 0.0:
                    return -np.inf
                continue
            s += y[a] * math.log(mu) - mu
        else:
            if ma <= 0.0 or ma >= 1.0:
                if (ma <= 0.0 and y[a] > 0.0) or (ma >= 1.0 and y[a] < e[a]):
                    return -np.inf
                continue
            s += y[a] * math.log(ma) + (e[a] - y[a]) * math.log1p(-ma)
    return s


@jit
def deviance(lik, y, e, m, inside):
    """Poisson or binomial deviance ``2 Σ [y log(y/μ) - (y - μ)]`` (binomial: the two-outcome form)."""
    d = 0.0
    for a in range(y.shape[0]):
        if not _use(y, e, inside, a):
            continue
        mu = max(e[a] * m[a], 1e-300)
        ya = y[a]
        if lik == 0:
            d += (ya * math.log(ya / mu) if ya > 0 else 0.0) - (ya - mu)
        else:
            if ya > 0:
                d += ya * math.log(ya / mu)
            r = e[a] - ya
            if r > 0:
                d += r * math.log(r / max(e[a] - mu, 1e-300))
    return 2.0 * d


@jit
def information(lik, y, e, m, grad, inside, pidx, scale, s, I):
    """Score ``s`` and Fisher information ``I`` in the parameters ``pidx``, each gradient column times ``scale``.

    ``scale[p]`` is ``θ`` for a parameter fitted on the log scale, else 1.
    """
    npar = pidx.shape[0]
    for p in range(npar):
        s[p] = 0.0
        for q in range(npar):
            I[p, q] = 0.0
    for a in range(y.shape[0]):
        if not _use(y, e, inside, a):
            continue
        ma = m[a]
        if lik == 0:
            if ma <= 0.0:
                continue
            r = y[a] / ma - e[a]
            w = e[a] / ma
        else:
            v = ma * (1.0 - ma)
            if v <= 0.0:
                continue
            r = (y[a] - e[a] * ma) / v
            w = e[a] / v
        ga = grad[a]
        for p in range(npar):
            gp = ga[pidx[p]] * scale[p]
            if gp == 0.0:
                continue
            s[p] += r * gp
            for q in range(npar):
                I[p, q] += w * gp * ga[pidx[q]] * scale[q]


@jit
def _propose(th, d, step, pidx, logp, trial):
    """``trial = th`` moved by ``step · d`` (log-scale parameters multiplicatively, steps capped at ±2)."""
    for j in range(th.shape[0]):
        trial[j] = th[j]
    big = 0.0
    for p in range(pidx.shape[0]):
        j = pidx[p]
        dp = step * d[p]
        if logp[j]:
            dp = min(max(dp, -2.0), 2.0)
            trial[j] = th[j] * math.exp(dp)
            big = max(big, abs(dp))
        else:
            trial[j] = th[j] + dp
            big = max(big, abs(dp) / (1.0 + abs(th[j])))
    return big


@jit
def ascend(model, lik, y, e, x, s, x0, inside, pidx, logp, th, max_iter, tol, work_m, work_g, trial_m, trial_g):
    """Maximise the likelihood over the parameters ``pidx`` from ``th`` (updated in place).

    Fisher scoring with Levenberg–Marquardt damping: a step that does not
    raise the likelihood is retried with ten times the damping (a shorter step
    turned towards the score), up to 40 times.  Stops when the largest step
    (relative, or on the log scale) is below ``tol``, the gain in
    log-likelihood below ``max(1e-2 tol (1 + |ll|), 1e-9)`` (a parameter
    drifting to a bound of 0 then stops), or no step gains.  Returns
    ``(ll, iterations, converged)``; ``work_m``/``work_g`` hold the curve and
    gradient at the result.
    """
    npar = pidx.shape[0]
    P = th.shape[0]
    trial = np.empty(P)
    scale = np.empty(npar)
    I = np.zeros((npar, npar))
    G = np.zeros((npar, npar))
    Lw = np.zeros((npar, npar))
    sc = np.zeros(npar)
    d = np.zeros(npar)
    curve(model, th, x, s, x0, work_m, work_g)
    ll = loglik(lik, y, e, work_m, inside)
    damp = 1e-3
    conv = False
    it = 0
    for it in range(max_iter):
        for p in range(npar):
            scale[p] = th[pidx[p]] if logp[pidx[p]] else 1.0
        information(lik, y, e, work_m, work_g, inside, pidx, scale, sc, I)
        improved = False
        gain = 0.0
        big = 0.0
        for h in range(40):
            for p in range(npar):
                for q in range(npar):
                    G[p, q] = I[p, q]
                G[p, p] += damp * (I[p, p] + 1e-12)
            if not cholesky_solve(G, sc, Lw, d, npar - 1):
                damp *= 10.0
                continue
            big = _propose(th, d, 1.0, pidx, logp, trial)
            curve(model, trial, x, s, x0, trial_m, trial_g)
            llt = loglik(lik, y, e, trial_m, inside)
            if llt >= ll - 1e-12 * abs(ll):
                gain = llt - ll
                th[:] = trial
                work_m[:] = trial_m
                work_g[:, :] = trial_g
                ll = llt
                damp = max(damp * 0.3, 1e-12)
                improved = True
                break
            damp *= 10.0
        if not improved:
            conv = True   # no ascent direction left: a maximum to working precision
            break
        if big < tol or gain <= max(tol * 1e-2 * (1.0 + abs(ll)), 1e-9):
            conv = True
            break
    return ll, it + 1, conv


@jit
def covariance(lik, y, e, m, grad, inside, pidx, cov):
    """Inverse Fisher information in the natural parameters ``pidx`` into ``cov`` (P×P; NaN elsewhere).

    NaN throughout when the information is singular.
    """
    npar = pidx.shape[0]
    P = cov.shape[0]
    for i in range(P):
        for j in range(P):
            cov[i, j] = np.nan
    scale = np.ones(npar)
    I = np.zeros((npar, npar))
    sc = np.zeros(npar)
    information(lik, y, e, m, grad, inside, pidx, scale, sc, I)
    L = np.zeros((npar, npar))
    if not cholesky(I, L, npar - 1):
        return
    col = np.zeros(npar)
    out = np.zeros(npar)
    for c in range(npar):
        col[:] = 0.0
        col[c] = 1.0
        cholesky_solve_factored(L, col, out, npar - 1)
        for r in range(npar):
            cov[pidx[r], pidx[c]] = out[r]


@jit
def _level_step(y, e, m, inside, th, level):
    """Scale the parameters flagged ``level`` (m linear in them) by Σ events / Σ fitted: the ML level."""
    ys = 0.0
    fs = 0.0
    for a in range(y.shape[0]):
        if _use(y, e, inside, a):
            ys += y[a]
            fs += e[a] * m[a]
    if fs <= 0.0:
        return
    k = ys / fs
    for j in range(th.shape[0]):
        if level[j]:
            th[j] *= k


@jit
def fit_range(n0, n1, model, lik, y, e, x, s, x0, inside, free, logp, level, theta0, max_iter, tol,
              theta_out, rate_out, dev_out, cov_out, iter_out, conv_out):
    """Fit curves ``n0 ≤ n < n1`` (see :func:`fit`); writes rows ``n`` of the outputs."""
    A = y.shape[1]
    P = theta0.shape[1]
    NS = s.shape[0]
    npar = 0
    for j in range(P):
        if free[j]:
            npar += 1
    pidx = np.zeros(npar, dtype=np.int64)
    k = 0
    for j in range(P):
        if free[j]:
            pidx[k] = j
            k += 1
    m = np.zeros(A)
    g = np.zeros((A, P))
    mt = np.zeros(A)
    gt = np.zeros((A, P))
    th = np.zeros(P)
    for n in range(n0, n1):
        yn = y[n]
        en = e[n]
        sn = s[n if NS > 1 else 0]
        ysum = 0.0
        for a in range(A):
            if _use(yn, en, inside, a):
                ysum += yn[a]
        if ysum <= 0.0:   # no events: no information on the parameters, rate 0
            for j in range(P):
                theta_out[n, j] = np.nan
                for i in range(P):
                    cov_out[n, j, i] = np.nan
            for a in range(A):
                rate_out[n, a] = 0.0
            dev_out[n] = 0.0
            iter_out[n] = 0
            conv_out[n] = False
            continue
        th[:] = theta0[n]
        ll, it, conv = ascend(model, lik, yn, en, x, sn, x0, inside, pidx, logp, th, max_iter, tol, m, g, mt, gt)
        if lik == 0:
            _level_step(yn, en, m, inside, th, level)
        curve(model, th, x, sn, x0, m, g)
        covariance(lik, yn, en, m, g, inside, pidx, cov_out[n])
        theta_out[n] = th
        rate_out[n] = m
        dev_out[n] = deviance(lik, yn, en, m, inside)
        iter_out[n] = it
        conv_out[n] = conv


def fit(model, lik, y, e, x, s, x0, inside, free, logp, level, theta0, max_iter, tol,
        theta_out, rate_out, dev_out, cov_out, iter_out, conv_out):
    """Fit parametric model ``model`` to every curve by maximum likelihood (threads over curves).

    Parameters (axes)
    -----------------
    model, lik : int
        Model and likelihood codes (module docstring).
    y, e : (n, A) float64
        Events and exposure (Poisson) or number at risk (binomial).
    x : (A,) float64
        Ages.
    s : (ns, A) float64
        Transformed standard for the Brass models (``ns`` 1 or ``n``); any
        array for the others.
    x0 : float
        Centring age (Kannisto, Gompertz, Makeham).
    inside : (A,) bool
        Ages that enter the likelihood (with positive exposure).
    free, logp, level : (P,) bool
        Parameters fitted (the others stay at ``theta0``), fitted on the log
        scale (positive), and entering ``m`` linearly (scaled by the final
        Poisson level step, which makes Σ fitted = Σ observed).
    theta0 : (n, P) float64
        Starting values.

    Outputs (filled in place)
    -------------------------
    theta_out (n, P), rate_out (n, A) (the curve at every age), dev_out (n,),
    cov_out (n, P, P) (NaN for fixed parameters), iter_out (n,) int64,
    conv_out (n,) bool.  A curve without events gets NaN parameters and rate 0.
    """
    parallel_ranges(fit_range, y.shape[0], np.int64(model), np.int64(lik), y, e, x, s, float(x0), inside, free,
                    logp, level, theta0, np.int64(max_iter), float(tol), theta_out, rate_out, dev_out, cov_out,
                    iter_out, conv_out)


# ---------------------------------------------------------------------------
# Kannisto with the old interface (used by the life-table kernel)
# ---------------------------------------------------------------------------


@jit
def _kannisto_ll(yn, en, x, lo, hi, la_, b_):
    """Poisson log-likelihood of the Kannisto curve ``a = e^{la_}``, ``b = b_`` (centred at ``lo``) on ages lo..hi."""
    s = 0.0
    for a in range(yn.shape[0]):
        if x[a] < lo or x[a] > hi or en[a] <= 0:
            continue
        m = _expit(la_ + b_ * (x[a] - lo))
        mu = en[a] * m
        s += yn[a] * math.log(max(mu, 1e-300)) - mu
    return s


@jit
def kannisto_fit(y, e, x, lo, hi, max_iter, tol, par_out, rate_out, dev_out, iter_out, conv_out):
    """Fit ``m(x) = a e^{b(x-lo)} / (1 + a e^{b(x-lo)})`` by Poisson ML on ages lo..hi.

    y, e (n, A); par_out (n, 2) = (a, b); rates for every age in ``x``.
    Start ``a = mean rate / 3``, ``b = 0.1``; the fit is :func:`fit_range`
    (Kannisto, Poisson).  A row without deaths gets NaN parameters and rate 0.
    """
    N, A = y.shape
    inside = (x >= lo) & (x <= hi)
    theta0 = np.empty((N, 2))
    for n in range(N):
        ys = 0.0
        es = 0.0
        for a in range(A):
            if inside[a] and e[n, a] > 0:
                ys += y[n, a]
                es += e[n, a]
        mbar = ys / es if es > 0 else 0.0
        theta0[n, 0] = max(mbar, 1e-6) / 3.0
        theta0[n, 1] = 0.1
    free = np.ones(2, dtype=np.bool_)
    logp = np.array([True, False])
    level = np.zeros(2, dtype=np.bool_)
    cov = np.empty((N, 2, 2))
    s = np.zeros((1, A))
    fit_range(0, N, KANNISTO, POISSON, y, e, x, s, float(lo), inside, free, logp, level, theta0, max_iter, tol,
              par_out, rate_out, dev_out, cov, iter_out, conv_out)


@jit
def evaluate(model, theta, x, s, x0, out):
    """Curves of ``model`` at ages ``x`` for every row of ``theta`` (n, P) into ``out`` (n, A); NaN rows stay NaN."""
    N = theta.shape[0]
    A = x.shape[0]
    NS = s.shape[0]
    g = np.zeros((A, theta.shape[1]))
    for n in range(N):
        ok = True
        for j in range(theta.shape[1]):
            if not math.isfinite(theta[n, j]):
                ok = False
        if not ok:
            for a in range(A):
                out[n, a] = np.nan
            continue
        curve(model, theta[n], x, s[n if NS > 1 else 0], x0, out[n], g)
