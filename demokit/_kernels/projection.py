"""Numba kernels of the cohort-component projection (METHODS §6).

Axis order of every array (plain numpy, float64):

* base population ``pop0``: ``(batch, region, sex, age)``;
* yearly cell inputs (risks, shares, profiles, adjustment): ``(batch, year, region, sex, age)``;
* fertility: ``(batch, year, region, age)`` (women's rates, births per woman per step);
* per-region scalars (in-mover / immigrant totals, share of boys): ``(batch, year, region)``;
* outputs: ``(batch, year, region, sex, age)``.

``sex`` index 0 is female, 1 is male.  Inputs may have
length 1 along ``batch`` or ``year``: they broadcast (an assumption constant over
the years or the draws is never copied).  ``batch`` flattens every extra dim (``scenario``, ``draw``, ...); it is
the parallel axis.  Outputs are allocated by the caller; nothing is allocated
inside the year loop (one small pool buffer per batch item, before the loop).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import jit

__all__ = ["project_annual", "project_nyear"]


@jit
def _at(a, b, t):
    """``a[b, t]`` where a length-1 ``batch`` or ``year`` axis broadcasts."""
    return a[b if a.shape[0] > 1 else 0, t if a.shape[1] > 1 else 0]


@jit
def _prepare(r, qt, ut, et, ipt, imt, do_sv, do_im, sv, imv):
    """Region ``r``: the share staying ``1 − q − u − e`` and the immigrants ``IM_tot · profile``."""
    ns = sv.shape[1]
    na = sv.shape[2]
    for s in range(ns):
        if do_sv:
            qq = qt[r, s]
            uu = ut[r, s]
            ee = et[r, s]
            svr = sv[r, s]
            for x in range(na):
                svr[x] = 1.0 - qq[x] - uu[x] - ee[x]
        if do_im:
            it = imt[r]
            ip = ipt[r, s]
            imr = imv[r, s]
            for x in range(na):
                imr[x] = it * ip[x]


@jit
def _pass1(r, b, t, prevt, curt, qt, ut, et, ipt, imt, at, has_adj, closed, store, pool,
           out_d, out_o, out_em, out_im, sv, imv):
    """Ages 1..ω of region ``r``: survivors, emigrants, out-movers (into ``pool``), immigrants."""
    ns = curt.shape[1]
    na = curt.shape[2]
    w = na - 1
    it = imt[r]
    for s in range(ns):
        prev = prevt[r, s]
        cur = curt[r, s]
        qq = qt[r, s]
        uu = ut[r, s]
        ee = et[r, s]
        ip = ipt[r, s]
        svr = sv[r, s]
        imr = imv[r, s]
        if closed:
            ps = pool[s]
            for x in range(1, na):
                n = prev[x - 1]
                cur[x] = n * svr[x] + imr[x]
                ps[x] += n * uu[x]
            ps[w] += prev[w] * uu[w]
        else:
            for x in range(1, na):
                cur[x] = prev[x - 1] * svr[x] + imr[x]
        cur[w] += prev[w] * svr[w]
        if has_adj:
            aa = at[r, s]
            for x in range(1, na):
                cur[x] += aa[x]
        if store:
            od = out_d[b, t, r, s]
            oo = out_o[b, t, r, s]
            oe = out_em[b, t, r, s]
            oi = out_im[b, t, r, s]
            for x in range(1, na):
                n = prev[x - 1]
                od[x] = n * qq[x]
                oo[x] = n * uu[x]
                oe[x] = n * ee[x]
                oi[x] = it * ip[x]
            n = prev[w - 1] + prev[w]
            od[w] = n * qq[w]
            oo[w] = n * uu[w]
            oe[w] = n * ee[w]


@jit
def _pass2(r, b, t, prevt, curt, qt, ut, et, wt, intt, ipt, imt, at, ft, bt, has_adj, closed, store,
           pool, pool0, out_b, out_d, out_i, out_o, out_im, out_em, sv, imv):
    """Region ``r``: internal in-movers at ages 1..ω, births, the newborns (age 0) without in-movers."""
    ns = curt.shape[1]
    na = curt.shape[2]
    w = na - 1
    tot = intt[r]
    for s in range(ns):
        cur = curt[r, s]
        ww = wt[r, s]
        if closed:
            ps = pool[s]
            if store:
                oi = out_i[b, t, r, s]
                for x in range(1, na):
                    v = ps[x] * ww[x]
                    oi[x] = v
                    cur[x] += v
            else:
                for x in range(1, na):
                    cur[x] += ps[x] * ww[x]
        else:
            if store:
                oi = out_i[b, t, r, s]
                for x in range(1, na):
                    v = tot * ww[x]
                    oi[x] = v
                    cur[x] += v
            else:
                for x in range(1, na):
                    cur[x] += tot * ww[x]
    # births: Σ_x f(x) · (women at the start of the cohort + women at the end) / 2
    prevf = prevt[r, 0]
    curf = curt[r, 0]
    ff = ft[r]
    boy = bt[r]
    # four partial sums break the addition's latency chain (the order differs from a plain sum
    # only by rounding)
    b0 = 0.0
    b1 = 0.0
    b2 = 0.0
    b3 = 0.0
    x = 1
    while x + 3 < w:
        b0 += ff[x] * (prevf[x - 1] + curf[x])
        b1 += ff[x + 1] * (prevf[x] + curf[x + 1])
        b2 += ff[x + 2] * (prevf[x + 1] + curf[x + 2])
        b3 += ff[x + 3] * (prevf[x + 2] + curf[x + 3])
        x += 4
    while x < w:
        b0 += ff[x] * (prevf[x - 1] + curf[x])
        x += 1
    births = (b0 + b1) + (b2 + b3)
    births += ff[w] * (prevf[w - 1] + prevf[w] + curf[w])
    births *= 0.5
    if store:
        for x in range(1, w):
            bx = ff[x] * (prevf[x - 1] + curf[x]) * 0.5
            out_b[b, t, r, 0, x] = bx * (1.0 - boy)
            if ns > 1:
                out_b[b, t, r, 1, x] = bx * boy
        bx = ff[w] * (prevf[w - 1] + prevf[w] + curf[w]) * 0.5
        out_b[b, t, r, 0, w] = bx * (1.0 - boy)
        if ns > 1:
            out_b[b, t, r, 1, w] = bx * boy
    for s in range(ns):
        if s == 0:
            n = births * (1.0 - boy)
        else:
            n = births * boy
        q0 = qt[r, s, 0]
        u0 = ut[r, s, 0]
        e0 = et[r, s, 0]
        im = imv[r, s, 0]
        v = n * sv[r, s, 0] + im
        if has_adj:
            v += at[r, s, 0]
        curt[r, s, 0] = v
        pool0[s] += n * u0
        if store:
            out_d[b, t, r, s, 0] = n * q0
            out_o[b, t, r, s, 0] = n * u0
            out_em[b, t, r, s, 0] = n * e0
            out_im[b, t, r, s, 0] = im
            out_b[b, t, r, s, 0] = 0.0


@jit
def _pass3(r, b, t, curt, wt, intt, closed, store, pool0, out_i):
    """Region ``r``: in-movers at age 0 (the pool of newborn out-movers is complete now)."""
    ns = curt.shape[1]
    for s in range(ns):
        if closed:
            v = pool0[s] * wt[r, s, 0]
        else:
            v = intt[r] * wt[r, s, 0]
        curt[r, s, 0] += v
        if store:
            out_i[b, t, r, s, 0] = v


@jit
def _annual_one(b, pop0, q, u, e, wp, in_tot, imm_tot, imm_prof, adj, f, boys, closed, store,
                out_pop, out_b, out_d, out_i, out_o, out_im, out_em, pool, pool0, sv, imv):
    """Project batch item ``b`` over all years, serially over regions."""
    ny = out_pop.shape[1]
    nr = out_pop.shape[2]
    has_adj = adj.shape[0] > 0
    p0 = pop0[b if pop0.shape[0] > 1 else 0]
    for t in range(ny):
        qt = _at(q, b, t)
        ut = _at(u, b, t)
        et = _at(e, b, t)
        wt = _at(wp, b, t)
        intt = _at(in_tot, b, t)
        imt = _at(imm_tot, b, t)
        ipt = _at(imm_prof, b, t)
        at = _at(adj, b, t) if has_adj else out_pop[b, t]
        ft = _at(f, b, t)
        bt = _at(boys, b, t)
        prevt = p0 if t == 0 else out_pop[b, t - 1]
        curt = out_pop[b, t]
        pool[:, :] = 0.0
        pool0[:] = 0.0
        do_sv = t == 0 or q.shape[1] > 1 or u.shape[1] > 1 or e.shape[1] > 1
        do_im = t == 0 or imm_tot.shape[1] > 1 or imm_prof.shape[1] > 1
        for r in range(nr):
            _prepare(r, qt, ut, et, ipt, imt, do_sv, do_im, sv, imv)
            _pass1(r, b, t, prevt, curt, qt, ut, et, ipt, imt, at, has_adj, closed, store, pool,
                   out_d, out_o, out_em, out_im, sv, imv)
        for r in range(nr):
            _pass2(r, b, t, prevt, curt, qt, ut, et, wt, intt, ipt, imt, at, ft, bt, has_adj, closed, store,
                   pool, pool0, out_b, out_d, out_i, out_o, out_im, out_em, sv, imv)
        for r in range(nr):
            _pass3(r, b, t, curt, wt, intt, closed, store, pool0, out_i)


@jit(parallel=True)
def project_annual(pop0, q, u, e, wp, in_tot, imm_tot, imm_prof, adj, f, boys, closed, store,
                   out_pop, out_b, out_d, out_i, out_o, out_im, out_em):
    """Annual multiregional cohort-component projection, in place into the ``out_*`` arrays.

    Parallel over the batch (scenarios, draws).  For year ``t``, region ``r``,
    sex ``s`` and year-end age ``x ≥ 1`` the cohort starts as
    ``N = P(x−1, t−1)`` (``+ P(ω, t−1)`` at the open age ``ω``): ``D = N q``,
    ``O = N u``, ``EM = N e``, ``IM = imm_tot · imm_prof``, ``I = pool(s, x) · wp``
    when ``closed`` (pool = Σ_r O, ``wp`` the in-migration shares) or
    ``I = in_tot · wp`` otherwise (``wp`` the in-mover profile), and
    ``P = N (1 − q − u − e) + I + IM + adj``.  Births
    ``Σ_x f(x)(W(x−1,t−1)+W(x,t))/2`` use the women at the end of the year; boys
    get ``boys``, girls ``1 − boys``; the newborns then meet their own age-0
    risks, moves and immigration.  ``store=False`` keeps only ``out_pop`` (the
    other outputs may be dummies); an ``adj`` with a length-0 first axis means
    no adjustment term.
    """
    nb = out_pop.shape[0]
    ns = out_pop.shape[3]
    na = out_pop.shape[4]
    nr = out_pop.shape[2]
    for b in prange(nb):
        pool = np.zeros((ns, na))
        pool0 = np.zeros(ns)
        sv = np.empty((nr, ns, na))
        imv = np.empty((nr, ns, na))
        _annual_one(np.int64(b), pop0, q, u, e, wp, in_tot, imm_tot, imm_prof, adj, f, boys, closed, store,
                    out_pop, out_b, out_d, out_i, out_o, out_im, out_em, pool, pool0, sv, imv)


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
