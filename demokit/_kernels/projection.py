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
def _annual_one(b, pop0, q, u, e, wp, in_tot, imm_tot, imm_prof, adj, f, boys, closed, store,
                out_pop, out_b, out_d, out_i, out_o, out_im, out_em, pool):
    """Project batch item ``b`` over all years (serial over regions)."""
    ny = out_pop.shape[1]
    nr = out_pop.shape[2]
    ns = out_pop.shape[3]
    na = out_pop.shape[4]
    w = na - 1
    p0 = pop0[b if pop0.shape[0] > 1 else 0]
    for t in range(ny):
        qt = _at(q, b, t)
        ut = _at(u, b, t)
        et = _at(e, b, t)
        wt = _at(wp, b, t)
        int_ = _at(in_tot, b, t)
        imt = _at(imm_tot, b, t)
        ipt = _at(imm_prof, b, t)
        at = _at(adj, b, t)
        ft = _at(f, b, t)
        bt = _at(boys, b, t)
        if t == 0:
            prevt = p0
        else:
            prevt = out_pop[b, t - 1]
        curt = out_pop[b, t]
        # ---- pass 1: ages 1..ω — deaths, out-movers, emigrants, immigrants, adjustment
        for s in range(ns):
            for x in range(na):
                pool[s, x] = 0.0
        for r in range(nr):
            it = imt[r]
            for s in range(ns):
                prev = prevt[r, s]
                cur = curt[r, s]
                qq = qt[r, s]
                uu = ut[r, s]
                ee = et[r, s]
                ip = ipt[r, s]
                aa = at[r, s]
                for x in range(1, na):
                    n = prev[x - 1]
                    if x == w:
                        n += prev[w]
                    dd = n * qq[x]
                    oo = n * uu[x]
                    em = n * ee[x]
                    im = it * ip[x]
                    pool[s, x] += oo
                    cur[x] = n - dd - oo - em + im + aa[x]
                    if store:
                        out_d[b, t, r, s, x] = dd
                        out_o[b, t, r, s, x] = oo
                        out_em[b, t, r, s, x] = em
                        out_im[b, t, r, s, x] = im
        # ---- pass 2: internal in-movers at ages 1..ω, births, the newborns' own events
        for r in range(nr):
            tot = int_[r]
            for s in range(ns):
                cur = curt[r, s]
                ww = wt[r, s]
                for x in range(1, na):
                    if closed:
                        ii = pool[s, x] * ww[x]
                    else:
                        ii = tot * ww[x]
                    cur[x] += ii
                    if store:
                        out_i[b, t, r, s, x] = ii
            # births: Σ_x f(x) · (women at the start of the cohort + women at the end) / 2
            prevf = prevt[r, 0]
            curf = curt[r, 0]
            ff = ft[r]
            boy = bt[r]
            births = 0.0
            for x in range(1, na):
                n = prevf[x - 1]
                if x == w:
                    n += prevf[w]
                bx = ff[x] * (n + curf[x]) * 0.5
                births += bx
                if store:
                    out_b[b, t, r, 0, x] = bx * (1.0 - boy)
                    if ns > 1:
                        out_b[b, t, r, 1, x] = bx * boy
            for s in range(ns):
                if s == 0:
                    n = births * (1.0 - boy)
                else:
                    n = births * boy
                dd = n * qt[r, s, 0]
                oo = n * ut[r, s, 0]
                em = n * et[r, s, 0]
                im = imt[r] * ipt[r, s, 0]
                pool[s, 0] += oo
                curt[r, s, 0] = n - dd - oo - em + im + at[r, s, 0]
                if store:
                    out_d[b, t, r, s, 0] = dd
                    out_o[b, t, r, s, 0] = oo
                    out_em[b, t, r, s, 0] = em
                    out_im[b, t, r, s, 0] = im
                    out_b[b, t, r, s, 0] = 0.0
        # ---- pass 3: in-movers at age 0 (the pool of newborn out-movers is complete now)
        for r in range(nr):
            for s in range(ns):
                if closed:
                    ii = pool[s, 0] * wt[r, s, 0]
                else:
                    ii = int_[r] * wt[r, s, 0]
                curt[r, s, 0] += ii
                if store:
                    out_i[b, t, r, s, 0] = ii


@jit(parallel=True)
def project_annual(pop0, q, u, e, wp, in_tot, imm_tot, imm_prof, adj, f, boys, closed, store,
                   out_pop, out_b, out_d, out_i, out_o, out_im, out_em):
    """Annual multiregional cohort-component projection, in place into the ``out_*`` arrays.

    For year ``t``, region ``r``, sex ``s`` and year-end age ``x ≥ 1`` the
    cohort starts as ``N = P(x−1, t−1)`` (``+ P(ω, t−1)`` at the open age ``ω``):
    ``D = N q``, ``O = N u``, ``EM = N e``, ``IM = imm_tot · imm_prof``,
    ``I = pool(s, x) · wp`` when ``closed`` (pool = Σ_r O, ``wp`` the in-migration
    shares) or ``I = in_tot · wp`` otherwise (``wp`` the in-mover profile), and
    ``P = N − D − O − EM + I + IM + adj``.  Births ``Σ_x f(x)(W(x−1,t−1)+W(x,t))/2``
    use the women at the end of the year; boys get ``boys``, girls ``1 − boys``;
    the newborns then meet their own age-0 risks, moves and immigration.
    ``store=False`` keeps only ``out_pop`` (the other outputs may be dummies).
    """
    nb = out_pop.shape[0]
    ns = out_pop.shape[3]
    na = out_pop.shape[4]
    for b in prange(nb):
        pool = np.zeros((ns, na))
        _annual_one(np.int64(b), pop0, q, u, e, wp, in_tot, imm_tot, imm_prof, adj, f, boys, closed, store,
                    out_pop, out_b, out_d, out_i, out_o, out_im, out_em, pool)


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
