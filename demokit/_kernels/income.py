"""Kernels of the income tables: the adjustment rules, household totals, the sort by
(group, value), the adjusted merge and the grouped distribution measures.

Persons are rows of flat arrays.  The statistics sort the persons ONCE by the key
(group, value) with an MSD radix sort (:func:`group_scatter`: a counting sort on
the group digit; :func:`sort_segments`: the value's bit pattern in 11-bit digits
within each group's segment while it is in cache), derive the adjusted version by a merge
(:func:`merge_changed`), and then :func:`grouped_measures` walks every group's
contiguous, ascending segment (two passes per segment and age group): counts, sums,
decile groups, top shares, quantiles, the share below a threshold.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit

#: quantile rules (``method`` argument of :func:`grouped_measures`)
AVERAGED_INVERTED_CDF = 0   # Hyndman & Fan type 2 = SAS PCTLDEF=5 (the default)
INVERTED_CDF = 1            # Hyndman & Fan type 1 = SAS PCTLDEF=3
LINEAR = 2                  # Hyndman & Fan type 7 (numpy's and pandas' default)

N_OUT = 12  # slots of ``scalars``: see grouped_measures


def ro(a):
    """A read-only, contiguous view of ``a`` (no copy if already contiguous).

    Kernel inputs are passed read-only so that Numba compiles one
    specialisation whether the caller's array came from pandas (often
    read-only under copy-on-write) or was freshly made.
    """
    v = np.ascontiguousarray(a).view()
    v.flags.writeable = False
    return v


@jit
def quantile_ranks(n, q, method):
    """Return ``(lo, hi, w)``: the q-quantile (q in per cent, int) of n sorted values is
    ``(1 − w)·x_(lo) + w·x_(hi)`` (1-based ranks); ``lo = 0`` when ``n = 0``.

    averaged_inverted_cdf: ``n·q/100 = j + g``; ``x_(j+1)`` if ``g > 0`` else
    ``(x_(j) + x_(j+1)) / 2`` (integer arithmetic, exact).  inverted_cdf:
    ``x_(⌈n·q/100⌉)``.  linear: ``h = (n − 1)·q/100``, ``x_(⌊h⌋+1) + (h − ⌊h⌋)(x_(⌊h⌋+2) − x_(⌊h⌋+1))``.
    """
    if n == 0:
        return 0, 0, 0.0
    if method == 0:
        j = (n * q) // 100
        g = (n * q) % 100
        if g > 0:
            return j + 1, j + 1, 0.0
        lo = max(j, 1)
        hi = min(j + 1, n)
        return lo, hi, 0.5
    if method == 1:
        r = max((n * q + 99) // 100, 1)
        return r, r, 0.0
    h = (n - 1) * q / 100.0
    f = int(np.floor(h))
    lo = f + 1
    hi = min(f + 2, n)
    return lo, hi, h - f


@jit
def grouped_measures(x, age, starts, age_lo, age_hi, qlevels, method, threshold,
                     scalars, quantiles, decile_mean, g0, g1):
    """Distribution measures of every group × age group.

    Parameters
    ----------
    x : (n,) float64
        Values in group-major order, ascending within each group.
    age : (n,) int32
        The persons' ages in the same order, in the low 8 bits (higher bits are
        ignored: the sort's payloads can be passed as they are).
    starts : (G + 1,) int64
        Group ``g`` is ``x[starts[g]:starts[g + 1]]``.
    age_lo, age_hi : (A,) int64
        Age group ``a`` holds the ages ``age_lo[a] ≤ age ≤ age_hi[a]`` (they may overlap).
    qlevels : (Q,) int64
        Quantile levels in per cent (e.g. 10, 50, 90).
    method : int
        Quantile rule, see :func:`quantile_ranks`.
    threshold : float
        Values strictly below it are counted (low economic standard).
    scalars : (G, A, 12) float64, output
        persons, mean, top-5 % mean, top-1 % mean, persons below threshold,
        earners (x > 0), earners' mean, earners' median, sum, below share,
        size of decile group 10, unused.
    quantiles : (G, A, Q) float64, output
    decile_mean : (G, A, 10) float64, output
    g0, g1 : int
        Compute the groups ``g0 ≤ g < g1`` only (threads take disjoint ranges).

    Notes
    -----
    Ranks ``r = 1..n`` within a group and age group; decile group ``⌈10 r / n⌉``;
    top 5 % ``100 r > 95 n``; top 1 % ``100 r > 99 n`` (integer arithmetic).
    Two passes over each group's segment, all age groups at once: counts,
    then everything else.
    """
    A = age_lo.shape[0]
    Q = qlevels.shape[0]
    n = np.zeros(A, np.int64)
    ne = np.zeros(A, np.int64)
    r = np.zeros(A, np.int64)
    dec = np.ones(A, np.int64)   # current decile group of each age group
    qlo = np.zeros((A, Q), np.int64)
    qhi = np.zeros((A, Q), np.int64)
    qw = np.zeros((A, Q))
    vlo = np.zeros((A, Q))
    vhi = np.zeros((A, Q))
    elo = np.zeros(A, np.int64)
    ehi = np.zeros(A, np.int64)
    ew = np.zeros(A)
    velo = np.zeros(A)
    vehi = np.zeros(A)
    dsum = np.zeros((A, 10))
    dcnt = np.zeros((A, 10))
    acc = np.zeros((A, 8))   # total, top5 sum, top5 n, top1 sum, top1 n, below, earners' sum, unused
    for g in range(g0, g1):
        s, e = starts[g], starts[g + 1]
        _count_group(x, age, s, e, age_lo, age_hi, n, ne)
        for a in range(A):
            for q in range(Q):
                qlo[a, q], qhi[a, q], qw[a, q] = quantile_ranks(n[a], qlevels[q], method)
            elo[a], ehi[a], ew[a] = quantile_ranks(ne[a], 50, method)
        _walk_group(x, age, s, e, age_lo, age_hi, threshold, n, ne, qlo, qhi, elo, ehi, r, dec, acc, dsum, dcnt,
                    vlo, vhi, velo, vehi)
        _group_outputs(g, n, ne, acc, dsum, dcnt, qw, vlo, vhi, ew, velo, vehi, scalars, quantiles, decile_mean)


@jit
def _count_group(x, age, s, e, age_lo, age_hi, n, ne):
    """First pass over a group's segment: persons and earners (x > 0) of each age group."""
    A = age_lo.shape[0]
    n[:] = 0
    ne[:] = 0
    for i in range(s, e):
        ag = age[i] & 0xFF
        pos = x[i] > 0
        for a in range(A):
            if ag >= age_lo[a] and ag <= age_hi[a]:
                n[a] += 1
                if pos:
                    ne[a] += 1


@jit
def _walk_group(x, age, s, e, age_lo, age_hi, threshold, n, ne, qlo, qhi, elo, ehi, r, dec, acc, dsum, dcnt,
                vlo, vhi, velo, vehi):
    """Second pass: ranks, decile groups, top shares, persons below the threshold and the quantiles' values."""
    A = age_lo.shape[0]
    Q = qlo.shape[1]
    vlo[:] = np.nan
    vhi[:] = np.nan
    velo[:] = np.nan
    vehi[:] = np.nan
    dsum[:] = 0.0
    dcnt[:] = 0.0
    acc[:] = 0.0
    r[:] = 0
    dec[:] = 1
    for i in range(s, e):
        ag = age[i] & 0xFF
        v = x[i]
        for a in range(A):
            if ag < age_lo[a] or ag > age_hi[a]:
                continue
            r[a] += 1
            ra = r[a]
            na = n[a]
            acc[a, 0] += v
            d = dec[a]   # ⌈10 ra / na⌉, advanced as ra grows (no division per person)
            while 10 * ra > d * na:
                d += 1
            dec[a] = d
            dsum[a, d - 1] += v
            dcnt[a, d - 1] += 1
            if 100 * ra > 95 * na:
                acc[a, 1] += v
                acc[a, 2] += 1
                if 100 * ra > 99 * na:
                    acc[a, 3] += v
                    acc[a, 4] += 1
            if v < threshold:
                acc[a, 5] += 1
            for q in range(Q):
                if ra == qlo[a, q]:
                    vlo[a, q] = v
                if ra == qhi[a, q]:
                    vhi[a, q] = v
            if v > 0:
                acc[a, 6] += v
                re = ra - (na - ne[a])
                if re == elo[a]:
                    velo[a] = v
                if re == ehi[a]:
                    vehi[a] = v


@jit
def _group_outputs(g, n, ne, acc, dsum, dcnt, qw, vlo, vhi, ew, velo, vehi, scalars, quantiles, decile_mean):
    """Write group ``g``'s measures of every age group (see :func:`grouped_measures`)."""
    A = n.shape[0]
    Q = qw.shape[1]
    for a in range(A):
        out = scalars[g, a]
        na = n[a]
        out[0] = na
        out[1] = acc[a, 0] / na if na > 0 else np.nan
        out[2] = acc[a, 1] / acc[a, 2] if acc[a, 2] > 0 else np.nan
        out[3] = acc[a, 3] / acc[a, 4] if acc[a, 4] > 0 else np.nan
        out[4] = acc[a, 5]
        out[5] = ne[a]
        out[6] = acc[a, 6] / ne[a] if ne[a] > 0 else np.nan
        if ne[a] > 0:
            out[7] = velo[a] + ew[a] * (vehi[a] - velo[a]) if ew[a] != 0.0 else velo[a]
        else:
            out[7] = np.nan
        out[8] = acc[a, 0]
        out[9] = acc[a, 5] / na if na > 0 else np.nan
        out[10] = dcnt[a, 9]
        out[11] = 0.0
        for q in range(Q):
            if na > 0:
                quantiles[g, a, q] = (vlo[a, q] + qw[a, q] * (vhi[a, q] - vlo[a, q]) if qw[a, q] != 0.0
                                      else vlo[a, q])
            else:
                quantiles[g, a, q] = np.nan
        for d in range(10):
            decile_mean[g, a, d] = dsum[a, d] / dcnt[a, d] if dcnt[a, d] > 0 else np.nan


@jit
def cross_border_rules(country, ku, F, T, declared, ku_wage, csfvi, cdisp, tolerance, rule, added, tax,
                       csfvi_adj, cdisp_adj):
    """The three rules of SCB's report §7.1, one pass over the persons.

    Parameters
    ----------
    country : (n,) integer
        0 no foreign wage, 1 Denmark, 2 Norway.
    ku : (n,) integer
        0 none, 1 swedish, 2 ku14, 3 ku10.
    F, T, declared, ku_wage : (n,) float64
        Foreign wage (NaN = 0), foreign tax (NaN = unknown), declared wage, KU wage.
    csfvi, cdisp : (n,) float64
        Sammanräknad förvärvsinkomst and disposable income as registered.
    tolerance : float
    rule : (n,) int8, output
        0 none, 1 rule 1 (added), 2 rule 2 added, 3 rule 2 within the tolerance,
        4 rule 3 KU14 (added), 5 rule 3 KU10/other (not added).
    added : (n,) float64, output
        The foreign wage added (0 if none).
    tax : (n,) float64, output
        The foreign tax where a wage is added (NaN where it must come from the tax model).
    csfvi_adj, cdisp_adj : (n,) float64, output
        ``csfvi + added``; ``cdisp + added − tax`` where a wage is added and
        ``tax ≤ added``, else ``cdisp`` (also where the tax is still unknown: the
        caller adds ``added − tax`` there once the tax model has given the tax).

    Returns
    -------
    int
        Number of rows that need the tax model.
    """
    need = 0
    for i in range(country.shape[0]):
        f = F[i]
        cdisp_adj[i] = cdisp[i]
        if country[i] == 0 or not f > 0:
            rule[i] = 0
            added[i] = 0.0
            tax[i] = np.nan
            csfvi_adj[i] = csfvi[i] + 0.0
            continue
        d = declared[i]
        w = ku_wage[i]
        if d == 0 and w == 0:
            r = 1
        elif ku[i] <= 1:
            r = 3 if abs(f + w - d) <= tolerance * d * (1 + 1e-12) else 2
        elif ku[i] == 2:
            r = 4
        else:
            r = 5
        rule[i] = r
        if r == 1 or r == 2 or r == 4:
            added[i] = f
            t = T[i]
            tax[i] = t
            if np.isnan(t):
                need += 1
            else:
                cdisp_adj[i] = cdisp[i] + (f - t if t <= f else 0.0)
        else:
            added[i] = 0.0
            tax[i] = np.nan
        csfvi_adj[i] = csfvi[i] + added[i]
    return need


@jit
def _units_and_type(a, c, couple, w_first, w_second, w_further, w_child1, w_child2):
    """Consumption units and household type of a household of ``a`` adults and ``c`` children."""
    if a == 0 and c > 0:
        a = 1
        c -= 1
    u = 0.0
    if a >= 1:
        u += w_first
    if a >= 2:
        u += w_second if couple else w_further
    if a > 2:
        u += w_further * (a - 2)
    if c >= 1:
        u += w_child1
    if c > 1:
        u += w_child2 * (c - 1)
    if a == 1:
        ty = 0 if c == 0 else 1
    elif a == 2 and couple:
        ty = 2 if c == 0 else 3
    else:
        ty = 4
    return u, ty


@jit
def household_totals(h, H, child, inc0, inc1, k, registered, w_first, w_second, w_further, w_child1, w_child2,
                     couple, units, hh_income, per_unit, full_year, htype):
    """Household sums, consumption units and helårsbefolkningen in two passes over the persons.

    Parameters
    ----------
    h : (n,) integer
        Household code of each person, ``0 ≤ h < H``.
    child : (n,) bool
    inc0, inc1 : (n,) float64
        Individual disposable incomes of the first and second version (``inc1``
        is read only if ``k == 2``).
    k : int
        Number of versions (1 or 2).
    registered : (n,) bool
        Registered on 1 January and 31 December.
    w_* : float
        Consumption weights (first, second, further adult; first, further child).
    couple : (H,) bool
        Whether a household's two adults are a couple.
    units : (n,) float64, output
    hh_income, per_unit : (k, n) float64, output
    full_year : (k, n) bool, output
    htype : (n,) int8, output
        0 single, no children; 1 single with children; 2 couple, no children;
        3 couple with children; 4 other.
    """
    n = h.shape[0]
    adults = np.zeros(H, np.int64)
    children = np.zeros(H, np.int64)
    tot = np.zeros((2, H))
    for i in range(n):
        j = h[i]
        if child[i]:
            children[j] += 1
        else:
            adults[j] += 1
        tot[0, j] += inc0[i]
        if k == 2:
            tot[1, j] += inc1[i]
    cu = np.zeros(H)
    ty = np.zeros(H, np.int8)
    for j in range(H):
        cu[j], ty[j] = _units_and_type(adults[j], children[j], couple[j], w_first, w_second, w_further,
                                       w_child1, w_child2)
    for i in range(n):
        j = h[i]
        units[i] = cu[j]
        htype[i] = ty[j]
        for v in range(k):
            s = tot[v, j]
            hh_income[v, i] = s
            per_unit[v, i] = s / cu[j]
            full_year[v, i] = registered[i] and s != 0


@jit
def household_totals_grouped(h, H, child, inc0, inc1, k, registered, w_first, w_second, w_further, w_child1,
                             w_child2, couple, units, hh_income, per_unit, full_year, htype):
    """:func:`household_totals` in one pass when each household's persons are consecutive rows.

    Walks the runs of equal ``h``: sums a run while it is in cache, then
    writes its members' outputs.  Returns False (outputs partly written) as
    soon as a household code starts a second run — the rows are not grouped
    and the caller must use :func:`household_totals`.  Same arguments and,
    when it returns True, the same outputs element for element (sums in row
    order within each household, as there).
    """
    n = h.shape[0]
    seen = np.zeros(H, np.bool_)
    i = 0
    while i < n:
        j = h[i]
        if seen[j]:
            return False
        seen[j] = True
        e = i
        a = 0
        c = 0
        t0 = 0.0
        t1 = 0.0
        while e < n and h[e] == j:
            if child[e]:
                c += 1
            else:
                a += 1
            t0 += inc0[e]
            if k == 2:
                t1 += inc1[e]
            e += 1
        u, ty = _units_and_type(a, c, couple[j], w_first, w_second, w_further, w_child1, w_child2)
        for r in range(i, e):
            units[r] = u
            htype[r] = ty
            hh_income[0, r] = t0
            per_unit[0, r] = t0 / u
            full_year[0, r] = registered[r] and t0 != 0
            if k == 2:
                hh_income[1, r] = t1
                per_unit[1, r] = t1 / u
                full_year[1, r] = registered[r] and t1 != 0
        i = e
    return True


@jit
def _radix_segment(keys, pay, tk, tp):
    """Stable LSD radix sort (11-bit digits) of ``keys`` with ``pay`` in place; ``tk``, ``tp`` scratch."""
    n = keys.shape[0]
    if n < 32:   # insertion sort
        for i in range(1, n):
            k0 = keys[i]
            p0 = pay[i]
            j = i - 1
            while j >= 0 and keys[j] > k0:
                keys[j + 1] = keys[j]
                pay[j + 1] = pay[j]
                j -= 1
            keys[j + 1] = k0
            pay[j + 1] = p0
        return
    R = 1 << 11
    mask = np.uint64(R - 1)
    counts = np.empty(R + 1, np.int64)
    src_k, src_p, dst_k, dst_p = keys, pay, tk[:n], tp[:n]
    swapped = False
    for p in range(6):
        shift = np.uint64(11 * p)
        counts[:] = 0
        for i in range(n):
            counts[((src_k[i] >> shift) & mask) + 1] += 1
        if counts.max() == n:
            continue
        for d in range(R):
            counts[d + 1] += counts[d]
        for i in range(n):
            d = (src_k[i] >> shift) & mask
            pos = counts[d]
            dst_k[pos] = src_k[i]
            dst_p[pos] = src_p[i]
            counts[d] = pos + 1
        src_k, dst_k = dst_k, src_k
        src_p, dst_p = dst_p, src_p
        swapped = not swapped
    if swapped:
        keys[:] = src_k
        pay[:] = src_p


@jit
def group_scatter(x, payload, rows, codes, n_groups):
    """First digit of the MSD radix sort by (group, value): a counting sort on the group.

    Returns ``(keys, ps, starts)``: the values' order-preserving uint64 keys
    (IEEE bit pattern: negatives flipped, others with the sign bit set) and the
    int32 payloads (e.g. age and a flag) of ``rows`` in group-major order (the
    order of ``rows`` within a group); group ``g`` is ``[starts[g], starts[g + 1])``.
    """
    n = rows.shape[0]
    counts = np.zeros(n_groups + 1, np.int64)
    counts[1:] = group_count(rows, codes, 0, n, n_groups)
    starts = np.cumsum(counts)
    pos = starts[:-1].copy()
    keys = np.empty(n, np.uint64)
    ps = np.empty(n, np.int32)
    group_scatter_part(x, payload, rows, codes, 0, n, pos, keys, ps)   # the one scatter loop, all rows
    return keys, ps, starts


@jit
def changed_rows(x_off, x_adj, pop_off, pop_adj, age):
    """Payloads and row lists of the two versions, in two passes over the persons.

    Returns ``(payload, rows, new)``: ``payload[i] = age[i] | 256·changed[i]`` (int32),
    where a person is changed if the value or the population flag differs between
    the versions (``x_adj != x_off``, NaN counts as different, as in numpy);
    ``rows`` the persons in the official population, ``new`` the changed persons in
    the adjusted one (ascending).
    """
    n = x_off.shape[0]
    payload = np.empty(n, np.int32)
    n_off, n_new = changed_rows_part(x_off, x_adj, pop_off, pop_adj, age, 0, n, payload)
    rows = np.empty(n_off, np.int64)
    new = np.empty(n_new, np.int64)
    changed_rows_fill(pop_off, pop_adj, payload, 0, n, rows, 0, new, 0)
    return payload, rows, new


@jit
def changed_rows_part(x_off, x_adj, pop_off, pop_adj, age, r0, r1, payload):
    """:func:`changed_rows`' first pass over persons ``r0 .. r1-1``: writes their payloads and
    returns how many are in the official population and how many are changed and in the
    adjusted one (the offsets of the next range in ``rows`` and ``new``)."""
    n_off = 0
    n_new = 0
    for i in range(r0, r1):
        c = x_adj[i] != x_off[i] or pop_adj[i] != pop_off[i]
        payload[i] = np.int32(age[i]) | (np.int32(256) if c else np.int32(0))
        if pop_off[i]:
            n_off += 1
        if c and pop_adj[i]:
            n_new += 1
    return n_off, n_new


@jit
def changed_rows_fill(pop_off, pop_adj, payload, r0, r1, rows, a, new, b):
    """:func:`changed_rows`' second pass over persons ``r0 .. r1-1``: their rows in ``rows`` from
    position ``a`` and in ``new`` from position ``b`` (ranges filled by different threads from the
    counts of :func:`changed_rows_part` give exactly the serial lists)."""
    for i in range(r0, r1):
        if pop_off[i]:
            rows[a] = i
            a += 1
        if pop_adj[i] and (payload[i] >> 8) & 1 == 1:
            new[b] = i
            b += 1


@jit
def group_count(rows, codes, r0, r1, n_groups):
    """Number of ``rows[r0:r1]`` in each group (the first half of a parallel :func:`group_scatter`)."""
    counts = np.zeros(n_groups, np.int64)
    for i in range(r0, r1):
        counts[codes[rows[i]]] += 1
    return counts


@jit
def group_scatter_part(x, payload, rows, codes, r0, r1, pos, keys, ps):
    """:func:`group_scatter`'s scatter for ``rows[r0:r1]`` only, from the write positions ``pos``
    (one per group, updated in place).  Threads that take consecutive row ranges, each starting
    at its group offsets (the counts of the ranges before it), give exactly the serial result.
    """
    bits = x.view(np.uint64)
    top = np.uint64(1) << np.uint64(63)
    for i in range(r0, r1):
        r = rows[i]
        g = codes[r]
        p = pos[g]
        b = bits[r]
        keys[p] = ~b if b & top else b | top
        ps[p] = payload[r]
        pos[g] = p + 1


@jit
def sort_segments(keys, ps, starts, g0, g1, xs):
    """The remaining digits: sort each group's segment (groups ``g0 ≤ g < g1``) by key, in place,
    and write the sorted values (the keys mapped back to float64) to ``xs``.

    A segment fits in cache, so its six 11-bit passes and the conversion run
    there; disjoint group ranges may be sorted by different threads (the
    kernels release the GIL).
    """
    big = 0
    for g in range(g0, g1):
        big = max(big, starts[g + 1] - starts[g])
    tk = np.empty(big, np.uint64)
    tp = np.empty(big, np.int32)
    top = np.uint64(1) << np.uint64(63)
    xb = xs.view(np.uint64)
    for g in range(g0, g1):
        s, e = starts[g], starts[g + 1]
        _radix_segment(keys[s:e], ps[s:e], tk, tp)
        for i in range(s, e):
            k0 = keys[i]
            xb[i] = k0 ^ top if k0 & top else ~k0


@jit
def merge_changed(xs, ps, starts, xn, pn, new_starts):
    """The adjusted version from the official one, group by group, in one sequential pass.

    ``xs, ps, starts``: official values and payloads sorted by (group, value);
    persons whose payload has bit 8 set (changed) are dropped.  ``xn, pn,
    new_starts``: the changed persons in the adjusted population with their new
    values, sorted by (group, value).  Returns the merged ``(xs, ps, starts)``.
    """
    G = starts.shape[0] - 1
    n = xs.shape[0]
    kept = 0
    for i in range(n):
        if (ps[i] >> 8) & 1 == 0:
            kept += 1
    m = xn.shape[0]
    out_x = np.empty(kept + m)
    out_p = np.empty(kept + m, np.int32)
    out_s = np.zeros(G + 1, np.int64)
    o = 0
    for g in range(G):
        i, e = starts[g], starts[g + 1]
        j, f = new_starts[g], new_starts[g + 1]
        while True:
            while i < e and (ps[i] >> 8) & 1 == 1:
                i += 1
            if i >= e and j >= f:
                break
            if i >= e or (j < f and xn[j] < xs[i]):
                out_x[o] = xn[j]
                out_p[o] = pn[j]
                j += 1
            else:
                out_x[o] = xs[i]
                out_p[o] = ps[i]
                i += 1
            o += 1
        out_s[g + 1] = o
    return out_x, out_p, out_s


@jit
def kth_smallest(xs, starts, r):
    """The ``r``-th smallest value (1-based) of all groups' sorted (float64) segments together.

    Bisection on the order-preserving 64-bit key: at each of 64 steps the
    number of values with a key ≤ the midpoint is counted by a binary search
    in every group's ascending segment — no merge, no copy.
    """
    G = starts.shape[0] - 1
    bits = xs.view(np.uint64)
    top = np.uint64(1) << np.uint64(63)
    lo = np.uint64(0)
    hi = ~np.uint64(0)
    one = np.uint64(1)
    while lo < hi:
        mid = lo + (hi - lo) // np.uint64(2)
        c = 0
        for g in range(G):
            a, b = starts[g], starts[g + 1]
            while a < b:   # first position whose key > mid
                m = (a + b) // 2
                bm = bits[m]
                if (~bm if bm & top else bm | top) <= mid:
                    a = m + 1
                else:
                    b = m
            c += a - starts[g]
        if c >= r:
            hi = mid
        else:
            lo = mid + one
    out = np.empty(1, np.uint64)   # the value whose key is lo (present in some segment)
    out[0] = lo ^ top if lo & top else ~lo
    return out.view(np.float64)[0]


@jit
def amounts_ok(v, allow_nan, allow_negative):
    """Whether every value is finite (or NaN if ``allow_nan``) and ≥ 0 (unless ``allow_negative``).

    One pass without temporary masks, in blocks of 8,192 values whose test is
    branch-free (so that it vectorises); the caller locates the bad row only if
    this is False.
    """
    big = 1.7976931348623157e308          # the largest finite float64
    lo = -big if allow_negative else 0.0
    nan_bad = not allow_nan
    n = v.shape[0]
    for b in range(0, n, 8192):
        bad = False
        for i in range(b, min(b + 8192, n)):
            x = v[i]
            bad |= (x < lo) | (x > big) | ((x != x) & nan_bad)
        if bad:
            return False
    return True


@jit
def rows_needing_tax(added, tax, count):
    """The ``count`` rows where a wage is added (``added > 0``) and the tax is unknown (NaN)."""
    out = np.empty(count, np.int64)
    j = 0
    for i in range(added.shape[0]):
        if added[i] > 0 and np.isnan(tax[i]):
            out[j] = i
            j += 1
    return out


@jit
def has_duplicate(values, size):
    """Whether some value occurs twice among ``values`` (integers in ``0..size-1``)."""
    seen = np.zeros(size, np.bool_)
    for i in range(values.shape[0]):
        j = values[i]
        if seen[j]:
            return True
        seen[j] = True
    return False
