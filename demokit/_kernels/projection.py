"""Numba kernels of the cohort-component projection (METHODS §6).

Axis order of every array (plain numpy, float64).  The annual engine keeps
``region`` last, so that its inner loops run over long contiguous rows of
regions (SIMD over regions; the pool of out-movers is one dot product per sex
and age):

* base population ``pop0``: ``(batch, sex, age, region)``;
* yearly cell inputs (risks, shares, profiles, adjustment): ``(batch, year, sex, age, region)``;
* fertility: ``(batch, year, origin, age, region)`` (women's rates, births per woman per year;
  ``origin`` of length 1 without origin groups);
* per-region scalars (in-mover / immigrant totals, share of boys): ``(batch, year, region)``;
* outputs: ``(batch, year, sex, age, region)``.

The ``n``-year variant (small, textbook sizes) keeps ``(.., region, sex, age)``.

``sex`` index 0 is female, 1 is male.  With origin groups (born in the
country, born abroad, ...) the ``sex`` axis holds ``origin × sex`` (row
``2·g + s``): the women of every group give births, all newborns enter group 0,
the other groups gain only entrants (immigrants, in-movers).  Inputs may have
length 1 along ``batch`` or ``year``: they broadcast (an assumption constant over
the years or the draws is never copied).  ``batch`` flattens every extra dim (``scenario``, ``draw``, ...); it is
the parallel axis.  Outputs are allocated by the caller; nothing is allocated
inside the year loop (a few small buffers per batch item, before the loop).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from ._jit import _pool, jit, parallel_ranges
from ._sync import publish, wait_for

__all__ = ["annual_components", "annual_range", "annual_sexes", "components_range", "project_annual", "project_nyear"]


@jit
def _at(a, b, t):
    """``a[b, t]`` where a length-1 ``batch`` or ``year`` axis broadcasts."""
    return a[b if a.shape[0] > 1 else 0, t if a.shape[1] > 1 else 0]


@jit
def _prep(b, t, exits, ent_tot, ent_prof, adj, sv, imv, s0, ds):
    """Year ``t``'s share staying ``sv = 1 − Σ_k exit_k`` and entrants ``imv = Σ_j tot_j · prof_j (+ A)``.

    For the rows of sexes ``s0, s0 + ds, …`` (every row: ``0, 1``).  The
    adjustment term ``A`` (an ``adj`` with a length-0 first axis: none) is
    added to the entrants' row, since both are added to every cohort.
    """
    ns, na, nr = sv.shape
    has_adj = adj.shape[0] > 0
    for s in range(s0, ns, ds):
        for x in range(na):
            svr = sv[s, x]
            imr = imv[s, x]
            for r in range(nr):
                svr[r] = 1.0
                imr[r] = 0.0
            for k in range(len(exits)):
                ek = _at(exits[k], b, t)[s, x]
                for r in range(nr):
                    svr[r] -= ek[r]
            for j in range(len(ent_tot)):
                tj = _at(ent_tot[j], b, t)
                pj = _at(ent_prof[j], b, t)[s, x]
                for r in range(nr):
                    imr[r] += tj[r] * pj[r]
            if has_adj:
                ar = _at(adj, b, t)[s, x]
                for r in range(nr):
                    imr[r] += ar[r]


@jit
def _add_rows(a, b, out):
    """``out = a + b`` (the open age's cohort start ``P(ω−1) + P(ω)``); returns ``out``."""
    for r in range(out.shape[0]):
        out[r] = a[r] + b[r]
    return out


@jit(fastmath={"reassoc", "nsz", "contract"})
def _survive_pool(n, svr, imr, ur, out):
    """``out = N · (1 − Σ exits) + entrants`` over a row of regions; returns the pool ``Σ_r N · u``.

    The first of a row's two passes (the in-movers need the pool of the whole
    row); the population path and the components path both use it, so they
    see the same numbers.
    """
    acc = 0.0
    for r in range(out.shape[0]):
        out[r] = n[r] * svr[r] + imr[r]
        acc += n[r] * ur[r]
    return acc


@jit(fastmath={"nsz", "contract"})
def _in_movers_births(closed, births, p, intt, ww, n, fx, bsum, out):
    """The second pass of a row: in-movers added to ``out``; with ``births``, the term ``f(x) · (N + P(x, t))``.

    In-movers ``p · w`` (closed; ``p`` the row's pool) or ``I_tot · w``
    (open); ``N`` is the row's cohort at the start of the year (``W(x−1, t−1)``,
    at the open age ``W(ω−1, t−1) + W(ω, t−1)``), ``out`` the row ``P(x, t)``.
    Female rows at ages with fertility add their term of the births to
    ``bsum`` in the same pass.  (One loop per case: no branch inside a loop.)
    """
    nr = out.shape[0]
    if closed and births:
        for r in range(nr):
            c = out[r] + p * ww[r]
            out[r] = c
            bsum[r] += fx[r] * (n[r] + c)
    elif closed:
        for r in range(nr):
            out[r] += p * ww[r]
    elif births:
        for r in range(nr):
            c = out[r] + intt[r] * ww[r]
            out[r] = c
            bsum[r] += fx[r] * (n[r] + c)
    else:
        for r in range(nr):
            out[r] += intt[r] * ww[r]


@jit
def _fertile_ages(f):
    """The first and last age index with a positive fertility rate anywhere in ``f`` (``(.., age, region)``)."""
    lo = f.shape[-2]
    hi = -1
    g = f.reshape((-1, f.shape[-2], f.shape[-1]))
    for i in range(g.shape[0]):
        for x in range(g.shape[1]):
            if x >= lo and x <= hi:
                continue
            for r in range(g.shape[2]):
                if g[i, x, r] != 0.0:
                    lo = min(lo, x)
                    hi = max(hi, x)
                    break
    return lo, hi


@jit
def _store_row(b, t, s, x, n, exits, ent_tot, ent_prof, out, o_exit, o_entry):
    """Row ``(s, x)``'s events: exit ``k`` ``N · risk_k`` into ``out[o_exit + k]``, entry ``j`` ``tot_j · prof_j``."""
    for k in range(len(exits)):
        ek = _at(exits[k], b, t)[s, x]
        o = out[o_exit + k, b, t, s, x]
        for r in range(o.shape[0]):
            o[r] = n[r] * ek[r]
    for j in range(len(ent_tot)):
        tj = _at(ent_tot[j], b, t)
        pj = _at(ent_prof[j], b, t)[s, x]
        o = out[o_entry + j, b, t, s, x]
        for r in range(o.shape[0]):
            o[r] = tj[r] * pj[r]


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
def _births_add(fx, n, c, bsum):
    """Add a female row's term of the births, ``f(x) · (N + P(x, t))``, to each region's sum."""
    for r in range(c.shape[0]):
        bsum[r] += fx[r] * (n[r] + c[r])


@jit
def _births_out(fx, n, c, bt, girls, boys):
    """A female row's births by the mother's age: ``f(x) · (N + P(x, t)) / 2`` split into girls and boys."""
    for r in range(c.shape[0]):
        v = fx[r] * (n[r] + c[r])
        girls[r] = v * 0.5 * (1.0 - bt[r])
        boys[r] = v * 0.5 * bt[r]


@jit
def _newborns(s, bsum, bt, out):
    """Births of sex ``s`` by region: ``Σ / 2`` times ``1 − boys`` (girls) or ``boys``."""
    for r in range(out.shape[0]):
        out[r] = bsum[r] * 0.5 * (bt[r] if s == 1 else 1.0 - bt[r])


_IPF_TOL = 1e-10
_IPF_MAX_ITER = 1000


@jit
def _rows(b, t, prev, cur, exits, pool_k, ent_tot, ent_prof, wp, in_tot, f, boys, mode, fx0, fx1, sv, imv,
          pool, wb, rowsum, target, bsum, tmp, store, out, o_exit, o_in, o_entry, o_births, s0, ds):
    """Sweep (1) of :func:`_year`, ages ``x ≥ 1``, for the sexes ``s0, s0 + ds, …``; the female rows' births
    summed into ``bsum``.  Mode 2 (balanced) needs every row (``ds == 1``)."""
    closed = mode >= 1
    ns = cur.shape[0]
    na = cur.shape[1]
    w = na - 1
    ut = _at(exits[pool_k], b, t)
    wt = _at(wp, b, t)
    intt = _at(in_tot, b, t)
    ft = _at(f, b, t)
    bt = _at(boys, b, t)
    yes = np.bool_(True)
    no = np.bool_(False)
    ob = out[o_births if store else 0, b, t]   # (not written without store)
    bsum[:] = 0.0   # the births of each region, summed over the women's ages and groups
    for s in range(s0, ns, ds):
        female = s % 2 == 0
        fs = ft[s // 2]
        for x in range(1, na):
            n = _add_rows(prev[s, w - 1], prev[s, w], tmp) if x == w else prev[s, x - 1]
            c = cur[s, x]
            p = _survive_pool(n, sv[s, x], imv[s, x], ut[s, x], c)
            pool[s, x] = p
            if store:
                _store_row(b, t, s, x, n, exits, ent_tot, ent_prof, out, o_exit, o_entry)
            if mode == 2:   # (balanced: the in-movers wait for every row's pool)
                continue
            _in_movers_births(closed, female and fx0 <= x <= fx1, p, intt, wt[s, x], n, fs[x], bsum, c)
            if store:
                _in_movers(closed, p, intt, wt[s, x], out[o_in, b, t, s, x], no)
                if female:
                    _births_out(fs[x], n, c, bt, ob[s, x], ob[s + 1, x])
    if mode == 2:   # the plan's in-movers balanced against this year's pool (ages >= 1)
        _balanced_shares(pool, intt, wt, wb, rowsum, target, _IPF_TOL, _IPF_MAX_ITER)
        for s in range(ns):
            for x in range(1, na):
                _in_movers(closed, pool[s, x], intt, wb[s, x], cur[s, x], yes)
                if store:
                    _in_movers(closed, pool[s, x], intt, wb[s, x], out[o_in, b, t, s, x], no)
                if s % 2 == 0:   # the births (the start cohort N as in the sweep above)
                    n = _add_rows(prev[s, w - 1], prev[s, w], tmp) if x == w else prev[s, x - 1]
                    _births_add(ft[s // 2][x], n, cur[s, x], bsum)
                    if store:
                        _births_out(ft[s // 2][x], n, cur[s, x], bt, ob[s, x], ob[s + 1, x])


@jit
def _age0(b, t, cur, exits, pool_k, ent_tot, ent_prof, wp, in_tot, boys, mode, sv, imv, pool0, wb, bsum, tmp,
          store, out, o_exit, o_in, o_entry, o_births, s0, ds):
    """Sweep (2) of :func:`_year`, age 0, for the sexes ``s0, s0 + ds, …``, from the year's births ``bsum``."""
    closed = mode >= 1
    ns = cur.shape[0]
    ut = _at(exits[pool_k], b, t)
    wt = wb if mode == 2 else _at(wp, b, t)
    intt = _at(in_tot, b, t)
    bt = _at(boys, b, t)
    yes = np.bool_(True)
    no = np.bool_(False)
    ob = out[o_births if store else 0, b, t]
    # the newborns (all in the first origin group, rows 0 and 1): girls get 1 − boys, boys
    # get boys; then their age-0 risks and moves; the other groups' age 0 only gains entrants
    for s in range(s0, ns, ds):
        if s < 2:
            _newborns(s, bsum, bt, tmp)
        else:
            tmp[:] = 0.0
        pool0[s] = _survive_pool(tmp, sv[s, 0], imv[s, 0], ut[s, 0], cur[s, 0])
        if store:
            _store_row(b, t, s, 0, tmp, exits, ent_tot, ent_prof, out, o_exit, o_entry)
            ob[s, 0, :] = 0.0
    for s in range(s0, ns, ds):
        _in_movers(closed, pool0[s], intt, wt[s, 0], cur[s, 0], yes)
        if store:
            _in_movers(closed, pool0[s], intt, wt[s, 0], out[o_in, b, t, s, 0], no)


@jit
def _year(b, t, prev, cur, exits, pool_k, ent_tot, ent_prof, wp, in_tot, f, boys, mode, fx0, fx1, sv, imv,
          pool, pool0, wb, rowsum, target, bsum, tmp, store, out, o_exit, o_in, o_entry, o_births):
    """One year of the annual engine: ``cur = P(t)`` from ``prev = P(t−1)`` (layout ``(sex, age, region)``).

    The one year step of both paths: the population-only recursion
    (:func:`annual_range`, :func:`annual_sexes`; ``store=False``) and the components
    (:func:`components_range`, ``store=True``: each exit, entry, the in-movers
    and the births by the mother's age are also written into ``out[o_*, b, t]``).
    ``sv``, ``imv`` hold year ``t``'s rows from :func:`_prep` (the entrants'
    row includes the adjustment term).  Sweeps: (1) :func:`_rows`: for each sex and age
    ``x ≥ 1``, two passes over the row's regions: :func:`_survive_pool`
    (survivors and entrants, and the row's pool ``Σ_r N · u``), then
    :func:`_in_movers_births` (the in-movers from that pool — closed — or the
    open totals, and, for a female row at a fertile age, its term of the
    births from the women at the start and end of the year); balanced: first
    the survivors and every row's pool, then the year's IPF shares, then the
    in-movers and the births' terms; (2) :func:`_age0`: the newborns at age 0, their risks
    and entrants, then their in-movers.
    """
    _rows(b, t, prev, cur, exits, pool_k, ent_tot, ent_prof, wp, in_tot, f, boys, mode, fx0, fx1, sv, imv,
          pool, wb, rowsum, target, bsum, tmp, store, out, o_exit, o_in, o_entry, o_births, 0, 1)
    _age0(b, t, cur, exits, pool_k, ent_tot, ent_prof, wp, in_tot, boys, mode, sv, imv, pool0, wb, bsum, tmp,
          store, out, o_exit, o_in, o_entry, o_births, 0, 1)


@jit
def _work_buffers(out_pop, mode):
    """The year step's work buffers (rows of regions), once per kernel call: nothing is allocated
    inside the loops.  ``out_pop`` is ``(batch, year, sex, age, region)``; ``wb`` only for mode 2."""
    ns, na, nr = out_pop.shape[2], out_pop.shape[3], out_pop.shape[4]
    wb = np.empty((ns, na, nr) if mode == 2 else (1, 1, 1))
    return (np.zeros((ns, na)), np.zeros(ns), np.empty((ns, na, nr)), np.empty((ns, na, nr)), np.empty(nr),
            np.empty(nr), wb, np.empty(nr), np.empty(nr))


@jit
def _varies_by_year(exits, ent_tot, ent_prof, adj):
    if adj.shape[0] > 0 and adj.shape[1] > 1:
        return True
    for k in range(len(exits)):
        if exits[k].shape[1] > 1:
            return True
    for j in range(len(ent_tot)):
        if ent_tot[j].shape[1] > 1 or ent_prof[j].shape[1] > 1:
            return True
    return False


@jit
def annual_range(b0, b1, pop0, exits, pool_k, ent_tot, ent_prof, wp, in_tot, adj, f, boys, mode, out,
                 o_exit, o_in, o_entry, o_births):
    """Project batch items ``b0 ≤ b < b1`` over all years into ``out[0]`` (the population only).

    (Serial; :func:`project_annual` runs ranges of the batch in threads.)  Each
    year is one call of :func:`_year` with ``store=False``; the rows staying
    and entering (:func:`_prep`) are computed once per batch item when no exit
    or entry varies by year, else once a year.
    """
    out_pop = out[0]
    ny = out_pop.shape[1]
    pool, pool0, sv, imv, bsum, tmp, wb, rowsum, target = _work_buffers(out_pop, mode)
    by_year = _varies_by_year(exits, ent_tot, ent_prof, adj)
    fx0, fx1 = _fertile_ages(f)   # (ages without fertility skip the births' term)
    for b in range(b0, b1):
        p0 = pop0[b if pop0.shape[0] > 1 else 0]
        for t in range(ny):
            if t == 0 or by_year:
                _prep(b, t, exits, ent_tot, ent_prof, adj, sv, imv, 0, 1)
            prev = p0 if t == 0 else out_pop[b, t - 1]
            _year(b, t, prev, out_pop[b, t], exits, pool_k, ent_tot, ent_prof, wp, in_tot, f, boys, mode,
                  fx0, fx1, sv, imv, pool, pool0, wb, rowsum, target, bsum, tmp, np.bool_(False), out, o_exit, o_in,
                  o_entry, o_births)


@jit
def annual_sexes(part, pop0, exits, pool_k, ent_tot, ent_prof, wp, in_tot, adj, f, boys, mode, out,
                 o_exit, o_in, o_entry, o_births, births_t, flag):
    """One projection (batch of one) on two threads: the women (``part == 0``) or the men (``part == 1``).

    (Run by :func:`project_annual` with the two parts in two threads.)  The
    rows of one sex never read the other sex's rows: the women's part also
    sums each year's births, copies them into ``births_t[t]`` and publishes
    ``flag[0] = t + 1`` (release); the men's part waits for it (acquire)
    before its newborns at age 0.  The women never wait, so the two parts
    cannot deadlock; the numbers are those of :func:`annual_range`, bit for
    bit (the same year step on the same rows).  Not for mode 2 (balanced:
    the IPF needs every row's pool).
    """
    out_pop = out[0]
    ny = out_pop.shape[1]
    pool, pool0, sv, imv, bsum, tmp, wb, rowsum, target = _work_buffers(out_pop, mode)
    by_year = _varies_by_year(exits, ent_tot, ent_prof, adj)
    fx0, fx1 = _fertile_ages(f)
    no = np.bool_(False)
    p0 = pop0[0]
    for t in range(ny):
        if t == 0 or by_year:
            _prep(0, t, exits, ent_tot, ent_prof, adj, sv, imv, part, 2)
        prev = p0 if t == 0 else out_pop[0, t - 1]
        cur = out_pop[0, t]
        _rows(0, t, prev, cur, exits, pool_k, ent_tot, ent_prof, wp, in_tot, f, boys, mode, fx0, fx1, sv, imv,
              pool, wb, rowsum, target, bsum, tmp, no, out, o_exit, o_in, o_entry, o_births, part, 2)
        if part == 0:
            births_t[t, :] = bsum
            publish(flag, 0, t + 1)
        else:
            wait_for(flag, 0, t + 1)
            bsum[:] = births_t[t]
        _age0(0, t, cur, exits, pool_k, ent_tot, ent_prof, wp, in_tot, boys, mode, sv, imv, pool0, wb, bsum, tmp,
              no, out, o_exit, o_in, o_entry, o_births, part, 2)


def project_annual(pop0, exits, pool_k, ent_tot, ent_prof, wp, in_tot, adj, f, boys, mode, out,
                   o_exit, o_in, o_entry, o_births):
    """Annual multiregional cohort-component projection: the population, in place into ``out[0]``.

    Layout: cell arrays ``(batch, year, sex, age, region)`` (``pop0``:
    ``(batch, sex, age, region)``), fertility ``(batch, year, age, region)``,
    per-region scalars ``(batch, year, region)``; ``out`` ``(n_out, batch,
    year, sex, age, region)``.  ``exits`` is a tuple of exit risks (the
    components of kind ``"exit"`` of :data:`demokit.components.COMPONENTS`,
    in table order; ``exits[pool_k]`` the out-migration risks whose pool the
    in-movers share); ``ent_tot`` / ``ent_prof`` tuples of entry totals and
    their profiles.  Parallel over the batch (scenarios, draws: ranges of
    batch items run by :func:`annual_range` in threads, the kernel releases
    the GIL); the years of one batch item are a serial recursion.  A batch
    of one (a single projection) runs its women and men on two threads
    (:func:`annual_sexes`), except in mode 2, whose IPF needs every row.  For year
    ``t``, region ``r``, sex ``s`` and year-end age ``x ≥ 1`` the cohort starts
    as ``N = P(x−1, t−1)`` (``+ P(ω, t−1)`` at the open age ``ω``): exit ``k``
    ``N · risk_k``, entries ``tot_j · prof_j``, ``I = pool(s, x) · wp`` when
    ``mode == 1`` (closed: pool = Σ_r N · u, ``wp`` the in-migration shares),
    ``I = in_tot · wp`` when ``mode == 0`` (open: ``wp`` the in-mover profile)
    or ``I = pool(s, x) · wb`` when ``mode == 2`` (balanced: the totals
    ``in_tot`` spread by the profile ``wp`` and balanced against the pool), and
    ``P = N (1 − Σ_k risk_k) + Σ_j tot_j prof_j + adj + I``.  Births
    ``Σ_x f(x)(W(x−1,t−1)+W(x,t))/2`` use the women at the end of the year; boys
    get ``boys``, girls ``1 − boys``; the newborns then meet their own age-0
    risks, moves and entrants.  An ``adj`` with a length-0 first axis means
    no adjustment term.  The components are computed afterwards by
    :func:`annual_components` with the same year step.
    """
    if out.shape[1] == 1 and mode != 2 and numba.get_num_threads() >= 2:   # one projection: a sex per thread
        births_t = np.empty((out.shape[2], out.shape[-1]))
        flag = np.zeros(1, np.int64)
        args = (pop0, exits, pool_k, ent_tot, ent_prof, wp, in_tot, adj, f, boys, mode, out, o_exit, o_in, o_entry,
                o_births, births_t, flag)
        men = _pool().submit(annual_sexes, np.int64(1), *args)
        try:
            annual_sexes(np.int64(0), *args)   # the women, in this thread (they never wait)
        except BaseException:
            flag[0] = out.shape[2]   # (should the women's part ever fail: release the men's wait)
            raise
        finally:
            men.result()
        return
    parallel_ranges(annual_range, out.shape[1], pop0, exits, pool_k, ent_tot, ent_prof, wp, in_tot, adj, f,
                    boys, mode, out, o_exit, o_in, o_entry, o_births)


@jit
def components_range(k0, k1, pop0, exits, pool_k, ent_tot, ent_prof, wp, in_tot, adj, f, boys, mode, out,
                     o_exit, o_in, o_entry, o_births):
    """The components of items ``k0 ≤ k < k1`` (batch item ``k // ny``, year ``k % ny``).

    (Serial; :func:`annual_components` runs ranges of ``k`` in threads.)  Each
    item is :func:`_year` with ``store=True`` from the finished ``P(t−1)``,
    the population into a scratch buffer (it equals ``out[0, b, t]``: the
    same arithmetic in the same order), the events into ``out``.
    """
    out_pop = out[0]
    ny = out_pop.shape[1]
    pool, pool0, sv, imv, bsum, tmp, wb, rowsum, target = _work_buffers(out_pop, mode)
    cur = np.empty_like(sv)
    by_year = _varies_by_year(exits, ent_tot, ent_prof, adj)
    fx0, fx1 = _fertile_ages(f)   # (ages without fertility skip the births' term)
    last_b = -1
    for k in range(k0, k1):
        b = k // ny
        t = k % ny
        if by_year or b != last_b:   # (the rows staying and entering, once per batch item if constant)
            _prep(b, t, exits, ent_tot, ent_prof, adj, sv, imv, 0, 1)
            last_b = b
        prev = pop0[b if pop0.shape[0] > 1 else 0] if t == 0 else out_pop[b, t - 1]
        _year(b, t, prev, cur, exits, pool_k, ent_tot, ent_prof, wp, in_tot, f, boys, mode,
              fx0, fx1, sv, imv, pool, pool0, wb, rowsum, target, bsum, tmp, np.bool_(True), out, o_exit, o_in,
              o_entry, o_births)


def annual_components(pop0, exits, pool_k, ent_tot, ent_prof, wp, in_tot, adj, f, boys, mode, out,
                      o_exit, o_in, o_entry, o_births):
    """Every component of a finished projection (``out[0]`` written by :func:`project_annual`).

    Every year's events follow from ``P(t−1)`` and the year's inputs alone, so
    this runs in parallel over batch items *and* years (ranges of them run by
    :func:`components_range` in threads: both cores write, and fault in, the
    large outputs).  Exit ``k`` goes to ``out[o_exit + k]``, entry ``j`` to
    ``out[o_entry + j]``, in-movers to ``out[o_in]``, births by the mother's
    age to ``out[o_births]`` (``[.., s, x, r]``: children of sex ``s`` born to
    women aged ``x``; age 0 holds 0).
    """
    parallel_ranges(components_range, out.shape[1] * out.shape[2], pop0, exits, pool_k, ent_tot, ent_prof, wp,
                    in_tot, adj, f, boys, mode, out, o_exit, o_in, o_entry, o_births)


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
