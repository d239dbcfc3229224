"""Numba kernels of the cohort-component projection (METHODS §6).

Axis order of every array (plain numpy, float64).  The annual engine keeps
``region`` last, so that its inner loops run over long contiguous rows of
regions (SIMD over regions; the pool of out-movers is one dot product per sex
and age):

* base population ``pop0``: ``(batch, sex, age, region)``;
* yearly cell inputs (risks, shares, profiles, adjustment): ``(batch, year, sex, age, region)``;
* fertility: ``(batch, year, age, region)`` (women's rates, births per woman per year);
* per-region scalars (in-mover / immigrant totals, share of boys): ``(batch, year, region)``;
* outputs: ``(batch, year, sex, age, region)``.

The ``n``-year variant (small, textbook sizes) keeps ``(.., region, sex, age)``.

``sex`` index 0 is female, 1 is male.  Inputs may have
length 1 along ``batch`` or ``year``: they broadcast (an assumption constant over
the years or the draws is never copied).  ``batch`` flattens every extra dim (``scenario``, ``draw``, ...); it is
the parallel axis.  Outputs are allocated by the caller; nothing is allocated
inside the year loop (a few small buffers per batch item, before the loop).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import jit, parallel_ranges

__all__ = ["annual_components", "annual_range", "components_range", "project_annual", "project_nyear"]


@jit
def _at(a, b, t):
    """``a[b, t]`` where a length-1 ``batch`` or ``year`` axis broadcasts."""
    return a[b if a.shape[0] > 1 else 0, t if a.shape[1] > 1 else 0]


@jit(fastmath={"reassoc", "nsz", "contract"})
def _dot(a, b):
    """``Σ_i a[i] · b[i]`` (summed in SIMD lanes: the order differs from a serial sum by rounding only)."""
    acc = 0.0
    for i in range(a.shape[0]):
        acc += a[i] * b[i]
    return acc


@jit
def _prep_row(s, x, qt, ut, et, ipt, imt, sv, imv):
    """Row ``(s, x)`` over all regions: the share staying ``1 − q − u − e`` and the immigrants."""
    qq = qt[s, x]
    uu = ut[s, x]
    ee = et[s, x]
    ip = ipt[s, x]
    svr = sv[s, x]
    imr = imv[s, x]
    for r in range(svr.shape[0]):
        svr[r] = 1.0 - qq[r] - uu[r] - ee[r]
        imr[r] = imt[r] * ip[r]


@jit
def _add_rows(a, b, out):
    """``out = a + b`` (the open age's cohort start ``P(ω−1) + P(ω)``); returns ``out``."""
    for r in range(out.shape[0]):
        out[r] = a[r] + b[r]
    return out


@jit
def _advance(n, s, x, nx, sv, imv, at, has_adj, ut):
    """Row ``(s, x)`` of the next year from the cohort start ``n`` (one value per region).

    Writes ``N·(1 − q − u − e) + IM (+ A)`` into ``nx[s, x]`` (the in-movers come
    later) and returns the country's pool of out-movers ``Σ_r N·u`` of that
    sex and age.
    """
    svr = sv[s, x]
    imr = imv[s, x]
    out = nx[s, x]
    nr = out.shape[0]
    if has_adj:
        aa = at[s, x]
        for r in range(nr):
            out[r] = n[r] * svr[r] + imr[r] + aa[r]
    else:
        for r in range(nr):
            out[r] = n[r] * svr[r] + imr[r]
    return _dot(n, ut[s, x])


@jit
def _in_movers(closed, p, intt, ww, out, add):
    """One row's in-movers: ``p · w`` (closed; ``p`` the pool) or ``I_tot · w`` (open).

    Added to ``out`` (``add``) or written into it.
    """
    if closed:
        if add:
            for r in range(out.shape[0]):
                out[r] += p * ww[r]
        else:
            for r in range(out.shape[0]):
                out[r] = p * ww[r]
    else:
        if add:
            for r in range(out.shape[0]):
                out[r] += intt[r] * ww[r]
        else:
            for r in range(out.shape[0]):
                out[r] = intt[r] * ww[r]


@jit
def _balanced_shares(pool, tot, prof, wb, rowsum, target, tol, max_iter):
    """In-mover shares ``wb[s, x, r]`` (Σ_r = 1) balancing a plan against the pool, by IPF.

    Start from the plan spread by each region's profile, ``M_r(s, x) = T_r · π_r(s, x)``,
    and alternate (a) scaling each sex-age column so that it sums to the pool
    ``pool(s, x)`` (ages ≥ 1) and (b) scaling each region's row so that it sums
    to ``T_r · Σ pool / Σ_r T_r`` (the plan, scaled to the persons who actually
    move), until the rows are within ``tol`` (relative) or ``max_iter``; the
    last step is (a), so the in-movers sum exactly to the pool.  Returns
    ``wb = M / pool``.  Age 0 (whose pool is known only after the births) gets
    ``T_r · π_r(s, 0)`` normalised over regions.  A column whose pool has no
    region with a positive profile is spread by the plan's totals.
    """
    ns, na, nr = wb.shape
    total_pool = 0.0
    for s in range(ns):
        for x in range(1, na):
            total_pool += pool[s, x]
    total_plan = 0.0
    for r in range(nr):
        total_plan += tot[r]
    for r in range(nr):
        target[r] = tot[r] * total_pool / total_plan if total_plan > 0 else 0.0
    for s in range(ns):
        for x in range(na):
            row = wb[s, x]
            pr = prof[s, x]
            for r in range(nr):
                row[r] = tot[r] * pr[r]
    for it in range(max_iter + 1):
        # (a) columns: shares summing to 1 over regions
        for s in range(ns):
            for x in range(na):
                row = wb[s, x]
                cs = 0.0
                for r in range(nr):
                    cs += row[r]
                if cs > 0.0:
                    for r in range(nr):
                        row[r] /= cs
                else:
                    for r in range(nr):
                        row[r] = tot[r] / total_plan if total_plan > 0 else 1.0 / nr
        if it == max_iter:
            break
        # (b) rows: each region's in-movers (ages ≥ 1) to its target
        rowsum[:] = 0.0
        for s in range(ns):
            for x in range(1, na):
                p = pool[s, x]
                row = wb[s, x]
                for r in range(nr):
                    rowsum[r] += p * row[r]
        worst = 0.0
        for r in range(nr):
            if rowsum[r] > 0.0:
                d = abs(rowsum[r] - target[r]) / max(target[r], 1e-300)
                if d > worst:
                    worst = d
                rowsum[r] = target[r] / rowsum[r]
            else:
                rowsum[r] = 1.0
        if worst <= tol:
            break
        for s in range(ns):
            for x in range(1, na):
                row = wb[s, x]
                for r in range(nr):
                    row[r] *= rowsum[r]


@jit
def annual_range(b0, b1, pop0, q, u, e, wp, in_tot, imm_tot, imm_prof, adj, f, boys, mode, out_pop):
    """Project batch items ``b0 ≤ b < b1`` over all years (layout ``(sex, age, region)``: rows run over regions).

    (Serial; :func:`project_annual` runs ranges of the batch in threads.)

    Year ``t`` in three sweeps: (1) for each sex and age ``x ≥ 1``, add the
    in-movers to ``P(x, t)`` (now final), add its women's term to each region's
    births, and start row ``x + 1`` of year ``t + 1`` from it (its out-movers
    give that row's pool at once); (2) the births and the newborns at age 0;
    (3) the age-0 in-movers (their pool is complete only now) and row 1 of
    year ``t + 1``.  Each row of a year is read once while it is in cache.
    ``mode``: 0 open (``in_tot · wp``), 1 closed (``pool · wp``), 2 balanced
    (``pool · wb`` with ``wb`` from :func:`_balanced_shares` each year).
    """
    closed = mode >= 1
    ny = out_pop.shape[1]
    ns = out_pop.shape[2]
    na = out_pop.shape[3]
    w = na - 1
    has_adj = adj.shape[0] > 0
    nr = out_pop.shape[4]
    zero = np.int64(0)
    one = np.int64(1)
    yes = np.bool_(True)
    no = np.bool_(False)
    # work buffers, once per call (rows of regions); nothing is allocated inside the loops
    pools = np.zeros((2, ns, na))
    pool0 = np.zeros(ns)
    sv = np.empty((ns, na, nr))
    imv = np.empty((ns, na, nr))
    bsum = np.empty(nr)
    tmp = np.empty(nr)
    wb = np.empty((ns, na, nr) if mode == 2 else (1, 1, 1))
    rowsum = np.empty(nr)
    target = np.empty(nr)
    for b in range(b0, b1):
        pools[:] = 0.0
        pool0[:] = 0.0
        p0 = pop0[b if pop0.shape[0] > 1 else 0]
        by_year = q.shape[1] > 1 or u.shape[1] > 1 or e.shape[1] > 1 or imm_tot.shape[1] > 1 \
            or imm_prof.shape[1] > 1
        # year 0, ages 1..ω, from the base population
        qt = _at(q, b, zero)
        ut = _at(u, b, zero)
        et = _at(e, b, zero)
        imt = _at(imm_tot, b, zero)
        ipt = _at(imm_prof, b, zero)
        at = _at(adj, b, zero) if has_adj else qt   # (a dummy of the same type)
        for s in range(ns):
            for x in range(na):
                _prep_row(s, x, qt, ut, et, ipt, imt, sv, imv)
        pool = pools[0]
        nx = out_pop[b, 0]
        for s in range(ns):
            for x in range(1, w):
                pool[s, x] = _advance(p0[s, x - 1], s, x, nx, sv, imv, at, has_adj, ut)
            pool[s, w] = _advance(_add_rows(p0[s, w - 1], p0[s, w], tmp), s, w, nx, sv, imv, at, has_adj, ut)
        for t in range(ny):
            nxt = t + 1 < ny
            t1 = t + 1 if nxt else t
            # year t
            qt = _at(q, b, t)
            ut = _at(u, b, t)
            wt = _at(wp, b, t)
            intt = _at(in_tot, b, t)
            ft = _at(f, b, t)
            bt = _at(boys, b, t)
            at = _at(adj, b, t) if has_adj else qt
            prevt = p0 if t == 0 else out_pop[b, t - 1]
            curt = out_pop[b, t]
            pool = pools[t % 2]
            if mode == 2:   # the plan's in-movers balanced against this year's pool (ages >= 1)
                _balanced_shares(pool, intt, wt, wb, rowsum, target, _IPF_TOL, _IPF_MAX_ITER)
                wt = wb
            # year t + 1
            q1 = _at(q, b, t1)
            u1 = _at(u, b, t1)
            e1 = _at(e, b, t1)
            im1 = _at(imm_tot, b, t1)
            ip1 = _at(imm_prof, b, t1)
            at1 = _at(adj, b, t1) if has_adj else q1
            nx = out_pop[b, t1]
            pooln = pools[(t + 1) % 2]
            bsum[:] = 0.0
            # (1) in-movers at ages 1..ω, the births' sum, rows 2..ω of year t + 1
            for s in range(ns):
                for x in range(1, na):
                    c = curt[s, x]
                    _in_movers(closed, pool[s, x], intt, wt[s, x], c, yes)
                    if s == 0:
                        _births_term(x, w, ft, prevt, c, bsum, bt, out_pop[b, t], no)
                    if nxt:
                        if x + 1 < w:
                            if by_year:
                                _prep_row(s, x + 1, q1, u1, e1, ip1, im1, sv, imv)
                            pooln[s, x + 1] = _advance(c, s, x + 1, nx, sv, imv, at1, has_adj, u1)
                        elif x == w and w > 1:   # (w == 1: the open age needs age 0, done in (3))
                            if by_year:
                                _prep_row(s, w, q1, u1, e1, ip1, im1, sv, imv)
                            pooln[s, w] = _advance(_add_rows(curt[s, w - 1], c, tmp), s, w, nx, sv, imv, at1,
                                                   has_adj, u1)
            # (2) the newborns: girls get 1 − boys, boys get boys; then their age-0 risks
            for s in range(ns):
                _newborns(s, bsum, bt, tmp)
                pool0[s] = _advance(tmp, s, zero, curt, sv, imv, at, has_adj, ut)
            # (3) in-movers at age 0, then row 1 of year t + 1
            for s in range(ns):
                c = curt[s, 0]
                _in_movers(closed, pool0[s], intt, wt[s, 0], c, yes)
                if nxt:
                    if by_year:
                        _prep_row(s, zero, q1, u1, e1, ip1, im1, sv, imv)
                        _prep_row(s, one, q1, u1, e1, ip1, im1, sv, imv)
                    # (w == 1: ages 0 and 1 (open) only, the open age starts from both)
                    start = _add_rows(c, curt[s, 1], tmp) if w == 1 else c
                    pooln[s, 1] = _advance(start, s, one, nx, sv, imv, at1, has_adj, u1)


@jit
def _births_term(x, w, ft, prevt, c, bsum, bt, ob, store):
    """Add age ``x``'s term of ``Σ_x f(x) · (W(x−1, t−1) + W(x, t))`` to each region's sum.

    ``c`` is ``W(x, t)`` (final).  With ``store``, also the births by the
    mother's age, ``ob[s, x]`` (girls ``1 − boys``, boys ``boys``).
    """
    ff = ft[x]
    pf = prevt[0, x - 1]
    pw = prevt[0, w]
    for r in range(c.shape[0]):
        women = pf[r] + c[r] if x < w else pf[r] + pw[r] + c[r]
        v = ff[r] * women
        bsum[r] += v
        if store:
            ob[0, x, r] = v * 0.5 * (1.0 - bt[r])
            ob[1, x, r] = v * 0.5 * bt[r]


@jit
def _newborns(s, bsum, bt, out):
    """Births of sex ``s`` by region: ``Σ / 2`` times ``1 − boys`` (girls) or ``boys``."""
    for r in range(out.shape[0]):
        out[r] = bsum[r] * 0.5 * (bt[r] if s == 1 else 1.0 - bt[r])


_IPF_TOL = 1e-10
_IPF_MAX_ITER = 1000


def project_annual(pop0, q, u, e, wp, in_tot, imm_tot, imm_prof, adj, f, boys, mode, out_pop):
    """Annual multiregional cohort-component projection: the population, in place into ``out_pop``.

    Layout: cell arrays ``(batch, year, sex, age, region)`` (``pop0``:
    ``(batch, sex, age, region)``), fertility ``(batch, year, age, region)``,
    per-region scalars ``(batch, year, region)``; ``out_pop``
    ``(batch, year, sex, age, region)``.  Parallel over the batch (scenarios,
    draws: ranges of batch items run by :func:`annual_range` in threads, the
    kernel releases the GIL); the years of one batch item are a serial recursion.  For year
    ``t``, region ``r``, sex ``s`` and year-end age ``x ≥ 1`` the cohort starts
    as ``N = P(x−1, t−1)`` (``+ P(ω, t−1)`` at the open age ``ω``): ``D = N q``,
    ``O = N u``, ``EM = N e``, ``IM = imm_tot · imm_prof``, ``I = pool(s, x) · wp``
    when ``mode == 1`` (closed: pool = Σ_r O, ``wp`` the in-migration shares),
    ``I = in_tot · wp`` when ``mode == 0`` (open: ``wp`` the in-mover profile)
    or ``I = pool(s, x) · wb`` when ``mode == 2`` (balanced: the totals
    ``in_tot`` spread by the profile ``wp`` and balanced against the pool), and
    ``P = N (1 − q − u − e) + IM + adj + I``.  Births
    ``Σ_x f(x)(W(x−1,t−1)+W(x,t))/2`` use the women at the end of the year; boys
    get ``boys``, girls ``1 − boys``; the newborns then meet their own age-0
    risks, moves and immigration.  An ``adj`` with a length-0 first axis means
    no adjustment term.  The components are computed afterwards by
    :func:`annual_components`.
    """
    parallel_ranges(annual_range, out_pop.shape[0], pop0, q, u, e, wp, in_tot, imm_tot, imm_prof, adj, f,
                    boys, mode, out_pop)


@jit
def components_range(k0, k1, pop0, q, u, e, wp, in_tot, imm_tot, imm_prof, f, boys, mode, out_pop,
                     out_b, out_d, out_i, out_o, out_im, out_em):
    """The components of items ``k0 ≤ k < k1`` (batch item ``k // ny``, year ``k % ny``).

    Each from ``P(t−1)``, ``P(t)`` and the year's inputs.

    (Serial; :func:`annual_components` runs ranges of ``k`` in threads.)

    The same arithmetic, in the same order, as :func:`annual_range` (so the
    stored components add up to the projected population).
    """
    closed = mode >= 1
    ns = out_pop.shape[2]
    na = out_pop.shape[3]
    w = na - 1
    ny = out_pop.shape[1]
    nr = out_pop.shape[4]
    zero = np.int64(0)
    yes = np.bool_(True)
    no = np.bool_(False)
    pool = np.zeros((ns, na))
    pool0 = np.zeros(ns)
    bsum = np.empty(nr)
    tmp = np.empty(nr)
    wb = np.empty((ns, na, nr) if mode == 2 else (1, 1, 1))
    rowsum = np.empty(nr)
    target = np.empty(nr)
    for k in range(k0, k1):
        b = k // ny
        t = k % ny
        pool[:] = 0.0
        pool0[:] = 0.0
        qt = _at(q, b, t)
        ut = _at(u, b, t)
        et = _at(e, b, t)
        wt = _at(wp, b, t)
        intt = _at(in_tot, b, t)
        imt = _at(imm_tot, b, t)
        ipt = _at(imm_prof, b, t)
        ft = _at(f, b, t)
        bt = _at(boys, b, t)
        prevt = pop0[b if pop0.shape[0] > 1 else 0] if t == 0 else out_pop[b, t - 1]
        curt = out_pop[b, t]
        od = out_d[b, t]
        oo = out_o[b, t]
        oe = out_em[b, t]
        oim = out_im[b, t]
        oi = out_i[b, t]
        ob = out_b[b, t]
        # deaths, out-movers, emigrants and immigrants at ages 1..ω; the pool of out-movers
        for s in range(ns):
            for x in range(1, na):
                n = _add_rows(prevt[s, w - 1], prevt[s, w], tmp) if x == w else prevt[s, x - 1]
                _events(n, s, x, qt, ut, et, imt, ipt, od, oo, oe, oim)
                pool[s, x] = _dot(n, ut[s, x])
        if mode == 2:
            _balanced_shares(pool, intt, wt, wb, rowsum, target, _IPF_TOL, _IPF_MAX_ITER)
            wt = wb
        # in-movers and births at ages 1..ω
        bsum[:] = 0.0
        for s in range(ns):
            for x in range(1, na):
                _in_movers(closed, pool[s, x], intt, wt[s, x], oi[s, x], no)
                if s == 0:
                    _births_term(x, w, ft, prevt, curt[0, x], bsum, bt, ob, yes)
        # the newborns (age 0)
        for s in range(ns):
            _newborns(s, bsum, bt, tmp)
            _events(tmp, s, zero, qt, ut, et, imt, ipt, od, oo, oe, oim)
            pool0[s] = _dot(tmp, ut[s, 0])
            ob[s, 0, :] = 0.0
        for s in range(ns):
            _in_movers(closed, pool0[s], intt, wt[s, 0], oi[s, 0], no)


@jit
def _events(n, s, x, qt, ut, et, imt, ipt, od, oo, oe, oim):
    """Row ``(s, x)``: deaths ``N·q``, out-movers ``N·u``, emigrants ``N·e``, immigrants ``IM_tot·π``."""
    qq = qt[s, x]
    uu = ut[s, x]
    ee = et[s, x]
    ip = ipt[s, x]
    d_ = od[s, x]
    o_ = oo[s, x]
    e_ = oe[s, x]
    m_ = oim[s, x]
    for r in range(d_.shape[0]):
        d_[r] = n[r] * qq[r]
        o_[r] = n[r] * uu[r]
        e_[r] = n[r] * ee[r]
        m_[r] = imt[r] * ip[r]


def annual_components(pop0, q, u, e, wp, in_tot, imm_tot, imm_prof, f, boys, mode, out_pop,
                      out_b, out_d, out_i, out_o, out_im, out_em):
    """Births, deaths, in-, out-movers, immigrants and emigrants of a finished projection.

    Once :func:`project_annual` has written ``out_pop``, every year's events
    follow from ``P(t−1)``, ``P(t)`` and the year's inputs alone, so this runs
    in parallel over batch items *and* years (ranges of them run by
    :func:`components_range` in threads: both cores write, and fault in, the
    large outputs).  Births are by the mother's age (``out_b[.., s, x, r]``:
    children of sex ``s`` born to women aged ``x``; age 0 holds 0).
    """
    parallel_ranges(components_range, out_pop.shape[0] * out_pop.shape[1], pop0, q, u, e, wp, in_tot, imm_tot,
                    imm_prof, f, boys, mode, out_pop, out_b, out_d, out_i, out_o, out_im, out_em)


@jit
def _nyear_one(b, pop0, surv, f, nm, boys, half, n, store, out_pop, out_b, out_d, out_nm):
    """Project batch item ``b`` of the ``n``-year variant over all steps."""
    ny = out_pop.shape[1]
    nr = out_pop.shape[2]
    ns = out_pop.shape[3]
    na = out_pop.shape[4]
    w = na - 1
    p0 = pop0[b if pop0.shape[0] > 1 else 0]
    for t in range(ny):
        st = _at(surv, b, t)
        mt = _at(nm, b, t)
        ft = _at(f, b, t)
        bt = _at(boys, b, t)
        if t == 0:
            prevt = p0
        else:
            prevt = out_pop[b, t - 1]
        curt = out_pop[b, t]
        for r in range(nr):
            for s in range(ns):
                prev = prevt[r, s]
                cur = curt[r, s]
                ss = st[r, s]
                mm = mt[r, s]
                for x in range(1, na):
                    start = prev[x - 1] + half * mm[x - 1]
                    if x == w:
                        start += prev[w] + half * mm[w]
                    cur[x] = ss[x] * start + half * mm[x]
                    if store:
                        out_d[b, t, r, s, x] = (1.0 - ss[x]) * start
            # births by the mother's age group (end-of-step migrants excluded if half == 0)
            prevf = prevt[r, 0]
            curf = curt[r, 0]
            mf = mt[r, 0]
            ff = ft[r]
            boy = bt[r]
            births = 0.0
            for x in range(1, na):
                bx = n * ff[x] * (prevf[x] + half * mf[x] + curf[x]) * 0.5
                births += bx
                if store:
                    out_b[b, t, r, 0, x] = bx * (1.0 - boy)
                    if ns > 1:
                        out_b[b, t, r, 1, x] = bx * boy
            for s in range(ns):
                if s == 0:
                    nn = births * (1.0 - boy)
                else:
                    nn = births * boy
                ss0 = st[r, s, 0]
                mm = mt[r, s]
                cur = curt[r, s]
                cur[0] = ss0 * nn + half * mm[0]
                if store:
                    out_d[b, t, r, s, 0] = (1.0 - ss0) * nn
                    out_b[b, t, r, s, 0] = 0.0
                if half == 0.0:
                    for x in range(na):
                        cur[x] += mm[x]
                if store:
                    for x in range(na):
                        out_nm[b, t, r, s, x] = mm[x]


@jit(parallel=True)
def project_nyear(pop0, surv, f, nm, boys, half, n, store, out_pop, out_b, out_d, out_nm):
    """``n``-year cohort-component projection with survival ratios and net migrants.

    Ages are ``n``-year groups indexed by the group reached at the end of the
    step (``surv[0]`` takes births to the first group; ``surv[ω]`` applies to
    the last two groups together).  ``half = 0.5`` adds half of the net
    migrants at the start of the step (they are survived) and half at the end;
    ``half = 0`` adds them all at the end, after births.  Births by mother's
    age group ``n · f(x) · (W_start(x) + W_end(x)) / 2`` (Preston et al. 2001,
    Box 6.2).
    """
    nb = out_pop.shape[0]
    for b in prange(nb):
        _nyear_one(np.int64(b), pop0, surv, f, nm, boys, half, n, store, out_pop, out_b, out_d, out_nm)
