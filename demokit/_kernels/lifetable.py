"""Numba kernels: the period life table along the last axis (age), and the scale factor on the
death rates that reaches a target life expectancy.

Axes: ``(row, age)``; rows are every other dim flattened (region, sex, year,
scenario, ...).  Per-row options (sex, a0, q0, the age from which a fitted
old-age curve is used) are ``(rows,)`` arrays; rules are integer codes.
No xarray here.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import jit, parallel_ranges
from .smoothing import kannisto_fit

__all__ = ["A0_ANDREEV_KINGKADE", "A0_COALE_DEMENY", "A0_GIVEN", "AX_PAS", "AX_SHARE", "AX_UN",
           "COUNTS", "MX", "QX", "BAD_VALUE", "BAD_EXPOSURE", "DEATHS_NO_EXPOSURE", "Q_ABOVE_ONE",
           "NO_DEATHS", "life_table_rows", "life_table_rows_range", "e0_scale_rows",
           "e0_scale_range", "kannisto_rates"]

# input modes
MX, COUNTS, QX = 0, 1, 2
# a0 rules
A0_GIVEN, A0_ANDREEV_KINGKADE, A0_COALE_DEMENY = 0, 1, 2
# ax rules for ages above 0
AX_SHARE, AX_PAS, AX_UN = 0, 1, 2
# error codes returned by the row loop (0 = none)
BAD_VALUE, BAD_EXPOSURE, DEATHS_NO_EXPOSURE, Q_ABOVE_ONE, NO_DEATHS = 1, 2, 3, 4, 5

_TINY = np.finfo(np.float64).tiny


# ---------------------------------------------------------------------------
# a0 / 4a1 rules (scalars)
# ---------------------------------------------------------------------------


@jit(inline="always")
def _a0_andreev_kingkade(v, is_q, male):
    """HMD protocol v6 table 3: a0 from m0 (``is_q`` False) or from q0."""
    if is_q:
        if male:
            return 0.1493 - 2.0367 * v if v < 0.0226 else (0.0244 + 3.4994 * v if v < 0.0785 else 0.2991)
        return 0.1490 - 2.0867 * v if v < 0.0170 else (0.0438 + 4.1075 * v if v < 0.0658 else 0.3141)
    if male:
        return 0.14929 - 1.99545 * v if v < 0.02300 else (0.02832 + 3.26201 * v if v < 0.08307 else 0.29915)
    return 0.14903 - 2.05527 * v if v < 0.01724 else (0.04667 + 3.88089 * v if v < 0.06891 else 0.31411)


@jit(inline="always")
def _cd_q0(m0, c):
    """q0 implied by m0 under Coale–Demeny a0 (PAS LTPOPDTH quadratic); ``c`` = one sex's constants."""
    if m0 <= 0.0:
        return 0.0
    a = m0 * c[2]
    b = 1.0 + m0 * (1.0 - c[1])
    disc = b * b - 4.0 * a * m0
    if disc > 0.0 and a > 0.0:
        return (b - math.sqrt(disc)) / (2.0 * a)
    return 0.2


@jit(inline="always")
def _a0_coale_demeny(q0, c):
    return c[0] if q0 > 0.1 else c[1] + c[2] * q0


@jit(inline="always")
def _a14_coale_demeny(q0, c):
    return c[3] if q0 > 0.1 else c[4] - c[5] * q0


@jit(inline="always")
def _a0_rule(code, a0_given, v, is_q, male, c):
    """a0 by rule ``code`` from the infant rate ``v`` (m0, or q0 when ``is_q``)."""
    if code == A0_ANDREEV_KINGKADE:
        return _a0_andreev_kingkade(v, is_q, male)
    if code == A0_COALE_DEMENY:
        return _a0_coale_demeny(v if is_q else _cd_q0(v, c), c)
    return a0_given


# ---------------------------------------------------------------------------
# the life table row loop
# ---------------------------------------------------------------------------


@jit(inline="always")
def _first_bad(r, mode, val, expo, jk, max_count):
    """(code, age index) of the first invalid input cell of row ``r`` below ``jk`` (0, 0 if none)."""
    for j in range(jk):
        d = val[r, j]
        if not (d >= 0.0 and d <= max_count):
            return BAD_VALUE, j
        if mode == COUNTS:
            e = expo[r, j]
            if not (e >= 0.0 and e <= max_count):
                return BAD_EXPOSURE, j
            if e <= 0.0 and d > 0.0:
                return DEATHS_NO_EXPOSURE, j
    return 0, 0


@jit
def _rates(r, mode, val, expo, kfit, kc0, kfrom, max_count, mx):
    """Write row ``r``'s rates into ``mx``; return (filled cells, error code, error age).

    The checks are accumulated without branching (so that the loops vectorise) and the first
    offending cell is looked up only when one is found.
    """
    a_in = val.shape[1]
    ages = mx.shape[1]
    jk = min(kfrom[r], a_in)
    ok = True
    filled = 0
    if mode == COUNTS:
        zero = False
        for j in range(a_in):
            d = val[r, j]
            e = expo[r, j]
            ok &= (d >= 0.0) & (d <= max_count) & (e >= 0.0) & (e <= max_count) & ((e > 0.0) | (d <= 0.0))
            zero |= e <= 0.0
        if ok and zero:  # zero exposure, zero deaths: the nearest lower age's rate (0 before any)
            last_def = 0.0
            for j in range(jk):
                e = expo[r, j]
                if e > 0.0:
                    last_def = val[r, j] / e
                else:
                    filled += 1
                mx[r, j] = last_def
            for j in range(jk, a_in):
                filled += expo[r, j] <= 0.0
        elif ok:
            for j in range(jk):
                mx[r, j] = val[r, j] / expo[r, j]
    else:
        for j in range(a_in):
            m = val[r, j]
            ok &= (m >= 0.0) & (m <= max_count)
            mx[r, j] = m
    if not ok:
        code, j = _first_bad(r, mode, val, expo, a_in, max_count)
        return filled, code, j
    for j in range(jk, ages):  # the fitted old-age curve, also above the data
        mx[r, j] = kfit[r, j - kc0]
    return filled, 0, 0


@jit(inline="always")
def _close_open_age(r, mx):
    """An open-age rate of 0 becomes the last positive rate below it; return (filled, ok)."""
    last = mx.shape[1] - 1
    if mx[r, last] > 0.0:
        return 0, True
    for j in range(last - 1, -1, -1):
        if mx[r, j] > 0.0:
            mx[r, last] = mx[r, j]
            return 1, True
    return 0, False


@jit(inline="always")
def _log_ratio(hi, lo):
    lo = max(lo, _TINY)
    return math.log(hi / lo) if hi > 0.0 else -np.inf


@jit(inline="always")
def _greville(r, j, mx, n, age, k):
    """UN (Mortpak) Greville ax at age index j (mod=False); ``k`` = log(m_{j+1}/m_{j-1}) to use."""
    ab = 1.0 / (n[j - 1] / 2.0 + n[j] + n[j + 1] / 2.0)
    v = n[j] / 2.0 - (n[j] * n[j] / 12.0) * (mx[r, j] - k * ab)
    if age[j] > 35:
        v = max(v, 0.97)
    if (age[j] == 5 or age[j] == 10) and n[j] == 5:
        v = 2.5
    return v


@jit
def _ax_row(r, mode, val, mx, n, age, a0_code, a0v, male, q0, ax_code, ax_share, cd, ax_out):
    """Write row ``r``'s ax for the closed ages; return a0 (before the PAS safeguard)."""
    last = mx.shape[1] - 1
    c = cd[1] if male[r] else cd[0]
    q0r = q0[r]
    has_q0 = not math.isnan(q0r)
    if mode == QX:
        v0, is_q = (q0r if has_q0 and a0_code == A0_COALE_DEMENY else val[r, 0]), True
    elif has_q0 and a0_code == A0_COALE_DEMENY:
        v0, is_q = q0r, True
    else:
        v0, is_q = mx[r, 0], False
    a0 = _a0_rule(a0_code, a0v[r], v0, is_q, male[r], c)
    if ax_code == AX_SHARE:
        for j in range(1, last):
            ax_out[r, j] = ax_share * n[j]
    else:
        if has_q0:
            qq = q0r
        else:
            m0 = mx[r, 0]
            qq = m0 / (1.0 + (1.0 - _a0_coale_demeny(_cd_q0(m0, c), c)) * m0)
        a14 = _a14_coale_demeny(qq, c)
        k = _log_ratio(mx[r, 2], mx[r, 0]) if last > 1 else 0.0
        for j in range(2, last):
            if ax_code == AX_PAS:
                ax_out[r, j] = n[j] / 2.0
            else:
                if j < last - 1:  # the last closed age keeps the slope of the one below (as Mortpak)
                    k = _log_ratio(mx[r, j + 1], mx[r, j - 1])
                ax_out[r, j] = _greville(r, j, mx, n, age, k)
        if last > 1:
            ax_out[r, 1] = a14
    ax_out[r, 0] = a0
    if ax_code == AX_PAS:
        # PAS safeguard: where mid-interval ax implies q > 1, the constant-hazard ax
        # (a = 1/m - n / (e^{nm} - 1), which gives q = 1 - e^{-nm})
        for j in range(last):
            m = mx[r, j]
            a = ax_out[r, j]
            if n[j] * m > 1.0 + (n[j] - a) * m:
                ax_out[r, j] = 1.0 / m - n[j] / math.expm1(n[j] * m)
    return a0


@jit
def _table_row(r, mode, val, n, radix, mx, qx, ax_out, lx, dx, Lx, Tx, ex):
    """Fill q, l, d, L, T, e of row ``r`` from its m (or q) and ax (closed ages)."""
    ages = mx.shape[1]
    last = ages - 1
    # pass 1 (independent across ages): q (or m from q)
    if mode == QX:
        for j in range(last):
            nj = n[j]
            q = val[r, j]
            den = nj - (nj - ax_out[r, j]) * q
            mx[r, j] = q / den if den > 0.0 else np.inf
            qx[r, j] = q
        qo = val[r, last]
        if 0.0 < qo < 1.0:   # open_risk: the open group's own one-year risk, a constant hazard within it
            mx[r, last] = -math.log1p(-qo)
        else:   # q = 1 (the table's convention) or no deaths: constant hazard beyond the last closed age
            mx[r, last] = mx[r, last - 1] if last > 0 else np.nan
    else:
        for j in range(last):
            nj = n[j]
            m = mx[r, j]
            qx[r, j] = min(1.0, nj * m / (1.0 + (nj - ax_out[r, j]) * m))
    qx[r, last] = 1.0
    mo = mx[r, last]
    a_open = 1.0 / mo if mo > 0.0 else np.inf
    ax_out[r, last] = a_open
    # pass 2 (serial): survivors
    l = radix
    for j in range(ages):
        lx[r, j] = l
        l = l * (1.0 - qx[r, j])  # not l - l q: no cancellation when q ~ 1
    # pass 3: deaths and person-years
    for j in range(last):
        d = lx[r, j] * qx[r, j]
        dx[r, j] = d
        Lx[r, j] = n[j] * lx[r, j + 1] + ax_out[r, j] * d
    dx[r, last] = lx[r, last]
    Lx[r, last] = lx[r, last] * a_open if lx[r, last] > 0.0 else 0.0
    # pass 4 (serial): T; then e
    t = 0.0
    for j in range(last, -1, -1):
        t += Lx[r, j]
        Tx[r, j] = t
    for j in range(ages):
        lj = lx[r, j]
        ex[r, j] = Tx[r, j] / lj if lj > 0.0 else ax_out[r, j]


@jit
def life_table_rows_range(i0, i1, mode, val, expo, kfit, kc0, kfrom, a0_code, a0v, male, q0, ax_code,
                          ax_share, cd, n, age, radix, max_count, mx, qx, ax_out, lx, dx, Lx, Tx, ex):
    """Rows ``i0 ≤ i < i1`` of :func:`life_table_rows` (serial; run in threads by it).

    Returns ``(zero-exposure cells filled, open-age rates filled, error code, row, age index)``;
    on an error the loop stops (code 0: none).
    """
    filled = 0
    opened = 0
    for r in range(i0, i1):
        if mode != QX:
            f, code, j = _rates(r, mode, val, expo, kfit, kc0, kfrom, max_count, mx)
            filled += f
            if code != 0:
                return filled, opened, code, r, j
            o, ok = _close_open_age(r, mx)
            if not ok:
                return filled, opened, NO_DEATHS, r, 0
            opened += o
        else:
            for j in range(val.shape[1] - 1):
                q = val[r, j]
                if not (q >= 0.0):
                    return filled, opened, BAD_VALUE, r, j
                if q > 1.0:
                    return filled, opened, Q_ABOVE_ONE, r, j
        a0 = _ax_row(r, mode, val, mx, n, age, a0_code, a0v, male, q0, ax_code, ax_share, cd, ax_out)
        q0r = q0[r]
        if mode != QX and not math.isnan(q0r):
            # the infant risk given separately (IMR): m0 = q0 / (1 - (1 - a0) q0)
            mx[r, 0] = q0r / (1.0 - (1.0 - a0) * q0r)
        _table_row(r, mode, val, n, radix, mx, qx, ax_out, lx, dx, Lx, Tx, ex)
    return filled, opened, 0, 0, 0


def kannisto_rates(deaths, exposure, age, fit_from, first_age, max_iter=100, tol=1e-12):
    """Kannisto rates fitted per row (Poisson ML on ages ≥ ``fit_from``) for ``age[first_age:]``.

    ``deaths``/``exposure`` (rows, ages_in) may have fewer ages than ``age``: the ages added
    above the data take part with no exposure.  Returns the rates (rows without deaths: 0)
    and the parameters (a, b) centred at ``fit_from`` (NaN without deaths).
    """
    rows, a_in = deaths.shape
    ages = len(age)
    y = np.zeros((rows, ages - first_age))
    e = np.zeros((rows, ages - first_age))
    if first_age < a_in:
        y[:, :a_in - first_age] = deaths[:, first_age:]
        e[:, :a_in - first_age] = exposure[:, first_age:]
    x = np.ascontiguousarray(age[first_age:], dtype=np.float64)
    rate = np.empty((rows, ages - first_age))
    par = np.empty((rows, 2))
    kannisto_fit(y, e, x, float(fit_from), float(x[-1]), int(max_iter), float(tol), par, rate,
                 np.empty(rows), np.empty(rows, dtype=np.int64), np.empty(rows, dtype=np.bool_))
    return rate, par


def life_table_rows(mode, val, expo, *, age, n, a0_code, a0v, male, q0, ax_code=AX_SHARE, ax_share=0.5,
                    cd=None, radix=100_000.0, kannisto=None, max_count=np.inf):
    """Return the life table columns and counts for every row of ``val`` (rows × ages).

    Parameters
    ----------
    mode : MX, COUNTS or QX
        ``val`` holds central rates, deaths (with ``expo`` person-years) or risks.
    val, expo : (rows, ages_in) float64; ``expo`` only for COUNTS (else any (1, 1) array),
        or for MX with ``kannisto`` (the fit's exposure).
    age, n : (ages,) ages and interval widths (the last, open, width is ignored);
        ``ages`` may exceed ``ages_in`` when a fitted old-age curve extends the table.
    a0_code, a0v : a0 rule and (rows,) given a0 (used with A0_GIVEN).
    male : (rows,) bool.  q0 : (rows,) infant risk given separately, NaN for none.
    ax_code, ax_share : ax rule above age 0 (AX_SHARE: ``ax_share · n``).
    cd : (2, 6) Coale–Demeny constants (female, male): a0 constant, a0 intercept, a0 slope,
        4a1 constant, 4a1 intercept, 4a1 slope.
    kannisto : None or ``(fit_from, kfrom)`` with kfrom (rows,) int64 the age index from which
        the fitted Kannisto rates replace the observed ones.

    Returns
    -------
    (mx, qx, ax, lx, dx, Lx, Tx, ex), filled, opened, (code, row, age index)

    Notes
    -----
    Per row: rates ``m = D/E`` (zero exposure and zero deaths: the nearest lower age's
    rate, 0 before any); Kannisto from ``kfrom``; an open-age rate of 0 becomes the last
    positive rate below it; a0 and ax by rule; with q0 given ``m0 = q0 / (1 − (1 − a0) q0)``.
    Closed ages: ``q = n m / (1 + (n − a) m)`` (capped at 1), ``l' = l (1 − q)``,
    ``d = l q``, ``L = n l' + a d``.  Open age: ``q = 1``, ``L = l / m``, ``a = 1/m``; from
    risks (QX) ``m`` is the last closed age's rate, or ``−ln(1 − q)`` when the open cell of
    ``val`` holds a risk strictly between 0 and 1 (the open group's own, ``open_risk``).
    ``T`` is the reversed cumulative sum of ``L`` and ``e = T / l`` (``e = a`` where ``l = 0``).
    From q: ``m = q / (n − (n − a) q)``.
    Parallel over rows: ranges of rows run in threads
    (:func:`demokit._kernels._jit.parallel_ranges`).
    """
    rows = val.shape[0]
    age = np.ascontiguousarray(age, dtype=np.float64)
    ages = len(age)
    outs = [np.empty((rows, ages)) for _ in range(8)]
    if kannisto is not None:
        fit_from, kfrom = kannisto
        # the fit needs the ages from fit_from, the table the rates from kfrom
        kc0 = int(min(kfrom.min() if rows else ages, np.searchsorted(age, fit_from)))
        d = val if mode == COUNTS else val * expo
        kfit = kannisto_rates(d, expo, age, fit_from, kc0)[0]
    else:
        kfrom = np.full(rows, ages, dtype=np.int64)
        kfit, kc0 = np.empty((1, 1)), ages
    if cd is None:
        cd = np.zeros((2, 6))
    res = parallel_ranges(life_table_rows_range, rows, np.int64(mode), val, expo, kfit, np.int64(kc0),
                          np.ascontiguousarray(kfrom, dtype=np.int64), np.int64(a0_code), a0v, male, q0,
                          np.int64(ax_code), float(ax_share), cd, np.ascontiguousarray(n, dtype=np.float64),
                          age, float(radix), float(max_count), *outs) if rows else [(0, 0, 0, 0, 0)]
    filled = sum(int(x[0]) for x in res)
    opened = sum(int(x[1]) for x in res)
    err = next(((int(x[2]), int(x[3]), int(x[4])) for x in res if x[2] != 0), (0, 0, 0))
    return tuple(outs), filled, opened, err


# ---------------------------------------------------------------------------
# life expectancy targets: the scale factor on the death rates, by Brent's method per row
# ---------------------------------------------------------------------------


#: a scaled open-age risk below 1 stays below 1 (its rate −ln(1 − q) grows smoothly with the factor)
_OPEN_Q_MAX = 1.0 - 1e-9


@jit
def _scaled_e0(k, is_q, v, m_open, a0_code, a0_given, male, c, ax_share, n):
    """e0 of the table of ``k·v`` (rates, or risks capped at 1 when ``is_q``); radix 1, one pass."""
    last = v.shape[0] - 1
    x0 = min(k * v[0], 1.0) if is_q else k * v[0]
    a0 = _a0_rule(a0_code, a0_given, x0, is_q, male, c)
    l = 1.0
    t = 0.0
    m = 0.0
    for j in range(last):
        nj = n[j]
        a = a0 if j == 0 else ax_share * nj
        if is_q:
            q = min(k * v[j], 1.0)
            den = nj - (nj - a) * q
            m = q / den if den > 0.0 else np.inf
        else:
            m = k * v[j]
            q = min(1.0, nj * m / (1.0 + (nj - a) * m))
        l1 = l * (1.0 - q)
        t += nj * l1 + a * l * q
        l = l1
    if is_q:   # the open group's own one-year risk (scaled), else constant hazard beyond the last closed age
        qo = v[last]
        mo = -math.log1p(-min(k * qo, _OPEN_Q_MAX)) if 0.0 < qo < 1.0 else m
    else:
        mo = k * m_open
    if l > 0.0:
        t += l / mo if mo > 0.0 else np.inf
    return t


@jit
def _brent(is_q, v, m_open, a0_code, a0_given, male, c, ax_share, n, target, ua, ub, fa, fb, xtol, max_iter):
    """Root in u = log k of e0(e^u) − target on [ua, ub] (f(ua), f(ub) of opposite signs).

    Brent's method as in scipy.optimize.brentq (inverse quadratic / secant steps, bisection
    when they do not shrink the bracket fast enough).
    """
    xpre, xcur = ua, ub
    fpre, fcur = fa, fb
    xblk = 0.0
    fblk = 0.0
    spre = 0.0
    scur = 0.0
    if fpre == 0.0:
        return xpre
    if fcur == 0.0:
        return xcur
    for _ in range(max_iter):
        if fpre != 0.0 and fcur != 0.0 and (fpre < 0.0) != (fcur < 0.0):
            xblk = xpre
            fblk = fpre
            spre = scur = xcur - xpre
        if abs(fblk) < abs(fcur):
            xpre = xcur
            xcur = xblk
            xblk = xpre
            fpre = fcur
            fcur = fblk
            fblk = fpre
        delta = (xtol + 4.0 * np.finfo(np.float64).eps * abs(xcur)) / 2.0
        sbis = (xblk - xcur) / 2.0
        if fcur == 0.0 or abs(sbis) < delta:
            return xcur
        if abs(spre) > delta and abs(fcur) < abs(fpre):
            if xpre == xblk:
                stry = -fcur * (xcur - xpre) / (fcur - fpre)
            else:
                dpre = (fpre - fcur) / (xpre - xcur)
                dblk = (fblk - fcur) / (xblk - xcur)
                stry = -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            if 2.0 * abs(stry) < min(abs(spre), 3.0 * abs(sbis) - delta):
                spre = scur
                scur = stry
            else:
                spre = sbis
                scur = sbis
        else:
            spre = sbis
            scur = sbis
        xpre = xcur
        fpre = fcur
        if abs(scur) > delta:
            xcur += scur
        else:
            xcur += delta if sbis > 0.0 else -delta
        fcur = _scaled_e0(math.exp(xcur), is_q, v, m_open, a0_code, a0_given, male, c, ax_share, n) - target
    return xcur


@jit
def e0_scale_range(i0, i1, is_q, vals, vrow, target, a0_code, a0v, male, cd, ax_share, n, k_lo, k_hi, xtol,
                   max_iter, k_out, e0_lo, e0_hi):
    """Rows ``i0 ≤ i < i1`` of :func:`e0_scale_rows` (serial; run in threads by it).

    Returns the number of rows whose target lies outside ``[e0(k_hi), e0(k_lo)]`` (their
    ``k_out`` is NaN).
    """
    ua = math.log(k_lo)
    ub = math.log(k_hi)
    bad = 0
    last = vals.shape[1] - 1
    for r in range(i0, i1):
        v = vals[vrow[r]]
        c = cd[1] if male[r] else cd[0]
        m_open = v[last]
        if not is_q and not (m_open > 0.0):  # an open-age rate of 0: the last positive rate below
            for j in range(last - 1, -1, -1):
                if v[j] > 0.0:
                    m_open = v[j]
                    break
        hi_e0 = _scaled_e0(k_lo, is_q, v, m_open, a0_code, a0v[r], male[r], c, ax_share, n)
        lo_e0 = _scaled_e0(k_hi, is_q, v, m_open, a0_code, a0v[r], male[r], c, ax_share, n)
        e0_lo[r] = lo_e0
        e0_hi[r] = hi_e0
        fa = hi_e0 - target[r]
        fb = lo_e0 - target[r]
        if not (fa >= 0.0 and fb <= 0.0):
            k_out[r] = np.nan
            bad += 1
            continue
        u = _brent(is_q, v, m_open, a0_code, a0v[r], male[r], c, ax_share, n, target[r], ua, ub, fa, fb, xtol,
                   max_iter)
        k_out[r] = math.exp(u)
    return bad


def e0_scale_rows(is_q, vals, vrow, target, *, a0_code, a0v, male, cd=None, ax_share=0.5, n=None,
                  bounds=(0.02, 20.0), xtol=1e-14, max_iter=200):
    """Return ``(k, e0(k_hi), e0(k_lo), unreachable rows)``: per row the factor k with e0(k·v) = target.

    Parameters
    ----------
    is_q : bool
        ``vals`` are risks q (scaled and capped at 1) rather than central rates m.
    vals : (R, ages) float64 schedules; row ``r`` uses ``vals[vrow[r]]`` (no broadcast copy).
    vrow : (rows,) int64.  target, a0v : (rows,) float64.  male : (rows,) bool.
    a0_code, cd, ax_share, n : the a0 rule, Coale–Demeny constants, ax share and widths
        as in :func:`life_table_rows`.
    bounds : the bracket of k searched.
    xtol : absolute tolerance on log k.

    Notes
    -----
    e0 decreases with k, so each row's root is bracketed by ``bounds`` when
    ``e0(k_hi) ≤ target ≤ e0(k_lo)``; Brent's method on ``u = log k`` (scipy's ``brentq``
    algorithm) finds it in about ten life tables per row.  Rows run in threads.
    """
    rows = len(target)
    vals = np.ascontiguousarray(vals, dtype=np.float64)
    if n is None:
        n = np.ones(vals.shape[1])
    if cd is None:
        cd = np.zeros((2, 6))
    k = np.empty(rows)
    e0_lo = np.empty(rows)
    e0_hi = np.empty(rows)
    if rows == 0:
        return k, e0_lo, e0_hi, 0
    res = parallel_ranges(e0_scale_range, rows, bool(is_q), vals, np.ascontiguousarray(vrow, dtype=np.int64),
                          np.ascontiguousarray(target, dtype=np.float64), np.int64(a0_code),
                          np.ascontiguousarray(a0v, dtype=np.float64), np.ascontiguousarray(male, dtype=np.bool_),
                          np.ascontiguousarray(cd, dtype=np.float64), float(ax_share),
                          np.ascontiguousarray(n, dtype=np.float64), float(bounds[0]), float(bounds[1]),
                          float(xtol), np.int64(max_iter), k, e0_lo, e0_hi)
    return k, e0_lo, e0_hi, int(sum(res))
