"""Period life tables: single-year and abridged, a0 and ax rules, Kannisto old ages.

Public functions take and return xarray objects; the table itself is one
Numba kernel (:mod:`demokit._kernels.lifetable`) vectorised over every dim
other than ``age``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._apply import apply_kernel, check_core_chunks, is_dask
from ._kernels.lifetable import life_table_nd
from .cube import CubeError, check_counts, first_cell, format_cell

__all__ = [
    "a0_andreev_kingkade",
    "a0_coale_demeny",
    "kannisto",
    "life_table",
]

_COLUMNS = ("mx", "qx", "ax", "lx", "dx", "Lx", "Tx", "ex")
_ATTRS = {
    "mx": ("central death rate m(x)", "deaths per person-year"),
    "qx": ("probability of dying between x and x+n (tabelldödsrisk)", "1"),
    "ax": ("mean years lived in [x, x+n) by those dying there", "years"),
    "lx": ("survivors at exact age x (kvarlevande)", "persons"),
    "dx": ("deaths between x and x+n in the table (döda)", "persons"),
    "Lx": ("person-years lived between x and x+n (tid i ålder)", "person-years"),
    "Tx": ("person-years lived above x (tid i ålder och däröver)", "person-years"),
    "ex": ("remaining life expectancy at x (återstående medellivslängd)", "years"),
}

# ---------------------------------------------------------------------------
# a0 and ax rules (vectorised numpy; the kernel takes ax as an array)
# ---------------------------------------------------------------------------


def a0_andreev_kingkade(m0=None, *, q0=None, male):
    """Return a0 by Andreev & Kingkade (2015), from m0 (or from q0 if given).

    Parameters
    ----------
    m0 : array_like, optional
        Infant central death rate.
    q0 : array_like, optional
        Infant death probability (the q0 version of the rule is used).
    male : array_like of bool
        True for males, False for females.

    Returns
    -------
    numpy.ndarray
        a0 in years.

    Notes
    -----
    m0 rule (HMD Methods Protocol v6, table 3): males ``0.14929 − 1.99545 m0``
    (m0 < 0.02300), ``0.02832 + 3.26201 m0`` (< 0.08307), else 0.29915;
    females ``0.14903 − 2.05527 m0`` (< 0.01724), ``0.04667 + 3.88089 m0``
    (< 0.06891), else 0.31411.  q0 rule: males ``0.1493 − 2.0367 q0``
    (< 0.0226), ``0.0244 + 3.4994 q0`` (< 0.0785), else 0.2991; females
    ``0.1490 − 2.0867 q0`` (< 0.0170), ``0.0438 + 4.1075 q0`` (< 0.0658),
    else 0.3141.
    """
    male = np.asarray(male, dtype=bool)
    if q0 is not None:
        q = np.asarray(q0, dtype=float)
        am = np.where(q < 0.0226, 0.1493 - 2.0367 * q, np.where(q < 0.0785, 0.0244 + 3.4994 * q, 0.2991))
        af = np.where(q < 0.0170, 0.1490 - 2.0867 * q, np.where(q < 0.0658, 0.0438 + 4.1075 * q, 0.3141))
    else:
        m = np.asarray(m0, dtype=float)
        am = np.where(m < 0.02300, 0.14929 - 1.99545 * m,
                      np.where(m < 0.08307, 0.02832 + 3.26201 * m, 0.29915))
        af = np.where(m < 0.01724, 0.14903 - 2.05527 * m,
                      np.where(m < 0.06891, 0.04667 + 3.88089 * m, 0.31411))
    return np.where(male, am, af)


_CD = {  # region: (a0 const m, f), (a0 intercept m, f), (a1_4 const m, f), (a1_4 intercept m, f)
    "west": ((0.33, 0.35), (0.0425, 0.05), (1.352, 1.361), (1.653, 1.524)),
    "north": ((0.33, 0.35), (0.0425, 0.05), (1.558, 1.570), (1.859, 1.733)),
    "east": ((0.29, 0.31), (0.0025, 0.01), (1.313, 1.324), (1.614, 1.487)),
    "south": ((0.33, 0.35), (0.0425, 0.05), (1.240, 1.239), (1.541, 1.402)),
}
_CD_SLOPE_A0 = (2.875, 3.0)
_CD_SLOPE_A14 = (3.013, 1.627)


def _cd_region(region):
    key = {"w": "west", "n": "north", "e": "east", "s": "south"}.get(region, region)
    if key not in _CD:
        raise CubeError(f"cd_region must be one of {sorted(_CD)}, got {region!r}")
    return key


def _cd_q0(m0, male, region):
    """Return q0 implied by m0 under Coale–Demeny a0 (PAS LTPOPDTH quadratic)."""
    reg = _cd_region(region)
    alpha = np.where(male, _CD[reg][1][0], _CD[reg][1][1])
    beta = np.where(male, _CD_SLOPE_A0[0], _CD_SLOPE_A0[1])
    m0 = np.asarray(m0, dtype=float)
    a = m0 * beta
    b = 1.0 + m0 * (1.0 - alpha)
    disc = b * b - 4.0 * a * m0
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where((disc > 0) & (a > 0), (b - np.sqrt(np.maximum(disc, 0.0))) / np.where(a > 0, 2 * a, 1.0), 0.2)
    return np.where(m0 <= 0, 0.0, q)


def a0_coale_demeny(m0=None, *, q0=None, male, region="west"):
    """Return a0 by the Coale–Demeny rule (UN Manual X, table 164).

    Parameters
    ----------
    m0 : array_like, optional
        Infant central death rate; converted to q0 with the PAS LTPOPDTH
        approximation when ``q0`` is not given.
    q0 : array_like, optional
        Infant death probability (IMR).
    male : array_like of bool
    region : {"west", "north", "east", "south"}

    Returns
    -------
    numpy.ndarray

    Notes
    -----
    ``a0 = α + β q0`` for ``q0 ≤ 0.1`` and a constant above, with
    ``β = 2.875`` (males), ``3.0`` (females); α = 0.0425 / 0.05 (0.0025 / 0.01
    in the East), constants 0.33 / 0.35 (0.29 / 0.31 East).  As in DemoTools'
    ``geta0CD``.
    """
    reg = _cd_region(region)
    male = np.asarray(male, dtype=bool)
    q = np.asarray(q0, dtype=float) if q0 is not None else _cd_q0(m0, male, reg)
    const = np.where(male, _CD[reg][0][0], _CD[reg][0][1])
    alpha = np.where(male, _CD[reg][1][0], _CD[reg][1][1])
    beta = np.where(male, _CD_SLOPE_A0[0], _CD_SLOPE_A0[1])
    return np.where(q > 0.1, const, alpha + beta * q)


def _a1_4_coale_demeny(m0, male, region, q0=None):
    reg = _cd_region(region)
    if q0 is None:
        a0 = a0_coale_demeny(m0, male=male, region=reg)
        q0 = m0 / (1.0 + (1.0 - a0) * m0)
    q0 = np.asarray(q0, dtype=float)
    const = np.where(male, _CD[reg][2][0], _CD[reg][2][1])
    icpt = np.where(male, _CD[reg][3][0], _CD[reg][3][1])
    slope = np.where(male, _CD_SLOPE_A14[0], _CD_SLOPE_A14[1])
    return np.where(q0 > 0.1, const, icpt - slope * q0)


def _ax_greville(mx, age, n):
    """UN (Mortpak) Greville ax for ages ≥ 5 (mod=False: 2.5 at 5–9, 10–14). mx: (..., A)."""
    A = mx.shape[-1]
    ax = np.broadcast_to(n / 2.0, mx.shape).copy()
    tiny = np.finfo(float).tiny
    k = None
    for i in range(1, A - 1):
        ab = 1.0 / (n[i - 1] / 2.0 + n[i] + n[i + 1] / 2.0)
        if i < A - 2 or k is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                k = np.log(mx[..., i + 1] / np.maximum(mx[..., i - 1], tiny))
        v = n[i] / 2.0 - (n[i] ** 2 / 12.0) * (mx[..., i] - k * ab)
        if age[i] > 35:
            v = np.maximum(v, 0.97)
        ax[..., i] = v
    for i in range(A):
        if age[i] in (5, 10) and n[i] == 5:
            ax[..., i] = 2.5
    return ax


# ---------------------------------------------------------------------------
# Kannisto
# ---------------------------------------------------------------------------


def _kannisto_fit_np(deaths, exposure, x, x0=80.0, iters=60):
    """Poisson ML fit of μ(x) = a e^{b(x−x0)} / (1 + a e^{b(x−x0)}); arrays (..., K).

    Fisher scoring on (log a, b), vectorised over leading dims.  Returns
    (a, b) with the leading shape; rows with no deaths get a = 0 (μ = 0) and b = 0.
    """
    D = np.asarray(deaths, dtype=float)
    E = np.asarray(exposure, dtype=float)
    t = np.asarray(x, dtype=float) - x0
    lead = D.shape[:-1]
    totD = D.sum(-1)
    totE = E.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mbar = np.where(totE > 0, totD / totE, 0.0)
    mbar = np.clip(mbar, 1e-6, 0.9)
    tbar = np.where(totE > 0, (E * t).sum(-1) / np.where(totE > 0, totE, 1.0), 0.0)
    b = np.full(lead, 0.1)
    alpha = np.log(mbar / (1 - mbar)) - b * tbar
    for _ in range(iters):
        eta = alpha[..., None] + b[..., None] * t
        mu = 1.0 / (1.0 + np.exp(-eta))
        w = (1.0 - mu) * (D - E * mu)
        g0 = w.sum(-1)
        g1 = (w * t).sum(-1)
        f = E * mu * (1.0 - mu) ** 2
        h00 = f.sum(-1)
        h01 = (f * t).sum(-1)
        h11 = (f * t * t).sum(-1)
        det = h00 * h11 - h01 * h01
        ok = det > 0
        det = np.where(ok, det, 1.0)
        da = np.where(ok, (h11 * g0 - h01 * g1) / det, 0.0)
        db = np.where(ok, (h00 * g1 - h01 * g0) / det, 0.0)
        # damp very large steps
        scale = np.maximum(1.0, np.maximum(np.abs(da) / 2.0, np.abs(db) / 0.2))
        alpha = alpha + da / scale
        b = b + db / scale
        if np.all(np.abs(da) < 1e-12) and np.all(np.abs(db) < 1e-12):
            break
    a = np.exp(alpha)
    none = totD <= 0
    return np.where(none, 0.0, a), np.where(none, 0.0, b)


def _kannisto_rate(a, b, x, x0=80.0):
    z = a[..., None] * np.exp(b[..., None] * (np.asarray(x, dtype=float) - x0))
    return z / (1.0 + z)


def kannisto(deaths, exposure, *, fit_ages=None, dim="age", x0=80):
    """Return the Kannisto old-age model fitted by Poisson maximum likelihood.

    Parameters
    ----------
    deaths, exposure : xarray.DataArray
        Deaths and person-years by ``dim`` (and any other dims).
    fit_ages : slice or sequence, optional
        Ages used in the fit (default: all ages ≥ 80).
    dim : str
        The age dim.
    x0 : float
        Centring age of the parameterisation (80, as in the HMD).

    Returns
    -------
    xarray.Dataset
        ``a`` and ``b`` with every dim except ``dim``.

    Notes
    -----
    ``μ(x) = a e^{b(x − x0)} / (1 + a e^{b(x − x0)})``, deaths ~ Poisson
    ``(E μ)``; Fisher scoring on ``(log a, b)``.  The open age enters at its
    label.
    """
    if fit_ages is None:
        sel = deaths[dim] >= 80
        d, e = deaths.where(sel, drop=True), exposure.where(sel, drop=True)
    else:
        d, e = deaths.sel({dim: fit_ages}), exposure.sel({dim: fit_ages})
    x = d[dim].values.astype(float)
    a, b = xr.apply_ufunc(
        lambda dd, ee: _kannisto_fit_np(dd, ee, x, float(x0)), d, e,
        input_core_dims=[[dim], [dim]], output_core_dims=[[], []],
        dask="parallelized", output_dtypes=[float, float])
    out = xr.Dataset({"a": a, "b": b})
    out.attrs = {"model": "Kannisto: mu(x) = a exp(b(x-x0)) / (1 + a exp(b(x-x0)))", "x0": x0,
                 "fit": "Poisson maximum likelihood", "fit_ages": f"{x.min():g}..{x.max():g}"}
    return out


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _male_mask(da: xr.DataArray, sex):
    """Return a bool DataArray (True = male) broadcastable to ``da``."""
    if "sex" in da.dims:
        vals = [str(s) for s in da["sex"].values]
        bad = [s for s in vals if s not in ("female", "male")]
        if bad:
            raise CubeError(f"sex: the a0/ax rules need 'female' or 'male', got {bad[0]!r}")
        return xr.DataArray(np.array([s == "male" for s in vals]), dims="sex", coords={"sex": da["sex"]})
    if sex is None:
        raise CubeError("the a0 rule depends on sex: the rates have no 'sex' dim, so pass sex='female' or 'male'")
    if sex not in ("female", "male"):
        raise CubeError(f"sex must be 'female' or 'male', got {sex!r}")
    return xr.DataArray(sex == "male")


def _widths(age: np.ndarray) -> np.ndarray:
    n = np.empty(len(age), dtype=float)
    n[:-1] = np.diff(age)
    n[-1] = np.inf
    return n


def _check_age(da: xr.DataArray, name: str, dim: str):
    if dim not in da.dims:
        raise CubeError(f"{name} has no {dim!r} dim; dims are {da.dims}")
    age = da[dim].values
    if age.dtype.kind not in "iuf" or (np.diff(age) <= 0).any():
        raise CubeError(f"{name}: ages must be sorted ascending numbers")
    if age[0] != 0:
        raise CubeError(f"{name}: the life table starts at age 0, got first age {age[0]!r}")


def _check_rates(da: xr.DataArray, name: str):
    if is_dask(da):
        return
    v = np.asarray(da.values, dtype=float)
    bad = np.isnan(v)
    if bad.any():
        idx = first_cell(bad)
        raise CubeError(f"{format_cell(name, da, idx)}: rate is NaN (missing); a life table needs every rate")
    check_counts(da, name)


def _ffill_np(a):
    """Forward-fill NaN along the last axis (numpy, no bottleneck needed)."""
    idx = np.where(np.isnan(a), 0, np.arange(a.shape[-1]))
    np.maximum.accumulate(idx, axis=-1, out=idx)
    out = np.take_along_axis(a, idx, axis=-1)
    return out


def _ffill(da: xr.DataArray, dim: str) -> xr.DataArray:
    return xr.apply_ufunc(_ffill_np, da, input_core_dims=[[dim]], output_core_dims=[[dim]],
                          dask="parallelized", output_dtypes=[float]).transpose(*da.dims)


def _fill_zero_exposure(m: xr.DataArray, undefined: xr.DataArray, dim: str):
    """Rates undefined by zero exposure: carry the last defined rate forward (0 before any)."""
    filled = _ffill(m.where(~undefined), dim).fillna(0.0)
    return filled


def _fix_open_rate(m: xr.DataArray, dim: str, name: str):
    """Where the open-age rate is 0, use the last positive rate below it."""
    last = m.isel({dim: -1})
    pos = _ffill(m.where(m > 0), dim).isel({dim: -1})
    fixed = xr.where(last > 0, last, pos)
    n_fixed = None
    if not is_dask(m):
        if bool(fixed.isnull().any()):
            idx = first_cell(fixed.isnull().values)
            raise CubeError(f"{format_cell(name, fixed, idx, value=0.0)}: no deaths at any age, so the "
                            "open age cannot be closed (life expectancy would be infinite)")
        n_fixed = int((last <= 0).sum())
    m = xr.where(m[dim] == m[dim].values[-1], fixed, m).transpose(*m.dims)
    return m, n_fixed


# ---------------------------------------------------------------------------
# the public life table
# ---------------------------------------------------------------------------


def life_table(mx=None, *, qx=None, deaths=None, exposure=None, method=None, a0="andreev_kingkade",
               ax=0.5, sex=None, cd_region="west", q0=None, old_age=None, fit_from=80,
               replace_from=None, extend_to=None, radix=100_000, dim="age"):
    """Return a period life table (mx, qx, ax, lx, dx, Lx, Tx, ex) along ``age``.

    Parameters
    ----------
    mx : xarray.DataArray, optional
        Central death rates by age (single years or abridged 0, 1, 5, 10, …);
        the last age is open.  Any other dims (region, sex, year, scenario…)
        are carried through.
    qx : xarray.DataArray, optional
        Death probabilities instead of ``mx``.  The open age's rate is taken
        as the last closed age's rate (constant hazard) unless ``old_age``.
    deaths, exposure : xarray.DataArray, optional
        Deaths and person-years instead of ``mx`` (``m = D / E``).
    method : {None, "hmd"}
        ``"hmd"``: the Human Mortality Database's Methods Protocol (v6) for
        period tables from ``Deaths_1x1`` / ``Exposures_1x1``: ``m = D/E``,
        a0 by Andreev–Kingkade, ``ax = 0.5`` above 0, Kannisto fitted by
        Poisson ML (per sex) to ages ≥ 80 and used for ages ≥ Y, where Y is the
        lowest age ≥ 80 at which either sex has ≤ 100 deaths (at most 95),
        and the 110+ group closed with ``L = l/m``.
        Needs ``deaths`` and ``exposure`` with a ``sex`` dim.
    a0 : float or {"andreev_kingkade", "coale_demeny"} or xarray.DataArray
        Mean age at death of infants.  Default Andreev–Kingkade (the HMD's).
    ax : float or {"pas", "un"}
        ax for ages above 0.  A number is the share of the interval
        (0.5 = mid-interval, e.g. 2.5 years for 5-year groups).  ``"pas"``:
        PAS LTPOPDTH (Coale–Demeny for 0 and 1–4, mid-interval above);
        ``"un"``: UN (1982) / Mortpak (Coale–Demeny for 0 and 1–4, 2.5 at 5–9
        and 10–14, Greville above).
    sex : {"female", "male"}, optional
        Needed by the a0 / ax rules when the input has no ``sex`` dim.
    cd_region : {"west", "north", "east", "south"}
        Coale–Demeny region for a0 / 4a1.
    q0 : float or xarray.DataArray, optional
        Infant death probability given separately (IMR); replaces ``q0``
        of the table and feeds the Coale–Demeny rules.
    old_age : {None, "kannisto"}
        Replace rates from ``replace_from`` on by a Kannisto curve fitted to
        deaths and exposure at ages ≥ ``fit_from`` (needs ``deaths`` and
        ``exposure``, or ``mx`` with ``exposure``), and optionally extend the
        table to ``extend_to`` (e.g. 110, closing it there with L = l/m).
    fit_from, replace_from, extend_to : int
        Ages for ``old_age``; ``replace_from`` defaults to ``fit_from``.
    radix : float
        l at age 0 (100,000 as SCB).
    dim : str
        The age dim.

    Returns
    -------
    xarray.Dataset
        Variables ``mx, qx, ax, lx, dx, Lx, Tx, ex`` with dims of the input
        (age last), units in attrs, and ``attrs`` describing the options.

    Raises
    ------
    CubeError
        A NaN or negative rate, negative exposure, deaths where the exposure is
        zero, a qx outside [0, 1] (naming the cell), a missing sex for the a0
        rule, an age axis not starting at 0.

    Notes
    -----
    ``q = n m / (1 + (n − a) m)``; ``d = l q``; ``L = n l_{x+n} + a d``; the open
    age ω: ``q = 1``, ``L_ω = l_ω / m_ω``, ``a_ω = 1/m_ω``; ``T_x = Σ_{y≥x} L_y``,
    ``e_x = T_x / l_x``.  From qx: ``m = q / (n − (n − a) q)``.

    Zero exposure never makes life expectancy NaN: a rate undefined because
    exposure and deaths are both zero is replaced by the fitted old-age rate
    where one is used, otherwise by the rate of the nearest lower age with
    exposure (0 if none); an open-age rate of 0 (no deaths) is replaced by
    the last positive rate below it.  The number of such cells is recorded in
    ``attrs["zero_exposure_cells"]`` and ``attrs["open_age_rate_filled"]``.
    """
    attrs = {"radix": radix}
    for name, v in (("mx", mx), ("qx", qx), ("deaths", deaths), ("exposure", exposure)):
        if isinstance(v, xr.DataArray):
            check_core_chunks(v, [dim], name=name)
    n_given = sum(v is not None for v in (mx, qx, deaths))
    if n_given != 1:
        raise CubeError("give exactly one of mx, qx or deaths (with exposure)")
    if method not in (None, "hmd"):
        raise CubeError(f"method must be None or 'hmd', got {method!r}")
    if method == "hmd":
        if deaths is None or exposure is None:
            raise CubeError("method='hmd' needs deaths= and exposure= (HMD Deaths_1x1 / Exposures_1x1)")
        return _life_table_hmd(deaths, exposure, radix=radix, dim=dim)

    from_q = qx is not None
    if deaths is not None:
        if exposure is None:
            raise CubeError("deaths= needs exposure=")
        m, filled = _rates_from_counts(deaths, exposure, dim)
        attrs["zero_exposure_cells"] = filled
        base = m
    elif from_q:
        _check_age(qx, "qx", dim)
        _check_rates(qx, "qx")
        if not is_dask(qx) and bool((qx > 1).any()):
            idx = first_cell((qx > 1).values)
            raise CubeError(f"{format_cell('qx', qx, idx)}: a probability must be <= 1")
        base = qx
        m = None
    else:
        _check_age(mx, "mx", dim)
        _check_rates(mx, "mx")
        m = mx
        base = mx

    if old_age is not None:
        if old_age != "kannisto":
            raise CubeError(f"old_age must be None or 'kannisto', got {old_age!r}")
        if from_q:
            raise CubeError("old_age='kannisto' needs rates with exposure (mx= with exposure=, or deaths=)")
        if exposure is None:
            raise CubeError("old_age='kannisto' is fitted by Poisson likelihood: pass exposure= (and mx= or deaths=)")
        d = deaths if deaths is not None else m * exposure
        m = _apply_kannisto(m, d, exposure, fit_from=fit_from,
                            replace_from=fit_from if replace_from is None else replace_from,
                            extend_to=extend_to, dim=dim)
        attrs["old_age"] = (f"Kannisto fitted by Poisson ML to ages >= {fit_from}, replacing rates from age "
                            f"{fit_from if replace_from is None else replace_from}"
                            + (f", extended to {extend_to}" if extend_to else ""))
        base = m

    if m is not None:
        m, n_fixed = _fix_open_rate(m, dim, "mx")
        attrs["open_age_rate_filled"] = n_fixed if n_fixed is not None else "not checked (dask)"

    ages = base[dim].values
    n = _widths(ages)
    male = None
    needs_sex = isinstance(a0, str) or isinstance(ax, str)
    if needs_sex:
        male = _male_mask(base, sex)

    src = m if m is not None else base
    first = src.isel({dim: 0})
    q0_da = q0 if q0 is None or isinstance(q0, xr.DataArray) else xr.DataArray(float(q0))

    # a0
    if isinstance(a0, str):
        if a0 == "andreev_kingkade":
            if from_q:
                a0_da = xr.apply_ufunc(lambda q, mm: a0_andreev_kingkade(q0=q, male=mm), first, male,
                                       dask="parallelized", output_dtypes=[float])
            else:
                a0_da = xr.apply_ufunc(lambda mm0, mm: a0_andreev_kingkade(mm0, male=mm), first, male,
                                       dask="parallelized", output_dtypes=[float])
        elif a0 == "coale_demeny":
            if from_q or q0_da is not None:
                qq = first if q0_da is None else q0_da
                a0_da = xr.apply_ufunc(lambda q, mm: a0_coale_demeny(q0=q, male=mm, region=cd_region), qq, male,
                                       dask="parallelized", output_dtypes=[float])
            else:
                a0_da = xr.apply_ufunc(lambda mm0, mm: a0_coale_demeny(mm0, male=mm, region=cd_region), first,
                                       male, dask="parallelized", output_dtypes=[float])
        else:
            raise CubeError(f"a0 must be a number, 'andreev_kingkade' or 'coale_demeny', got {a0!r}")
        attrs["a0"] = a0
    else:
        a0_da = a0 if isinstance(a0, xr.DataArray) else xr.DataArray(float(a0))
        attrs["a0"] = "given"

    # ax
    n_da = xr.DataArray(n, dims=dim, coords={dim: ages})
    if isinstance(ax, str):
        if ax not in ("pas", "un"):
            raise CubeError(f"ax must be a number, 'pas' or 'un', got {ax!r}")
        if from_q:
            raise CubeError("ax='pas'/'un' are defined here for mx input; give mx (or deaths and exposure)")
        if len(ages) < 3 or ages[1] != 1 or ages[2] != 5:
            raise CubeError(f"ax={ax!r} is for abridged tables with ages 0, 1, 5, 10, ...; got {list(ages[:4])}")
        if ax == "pas":
            ax_da = (n_da / 2.0).broadcast_like(src).copy()
        else:
            ax_da = xr.apply_ufunc(lambda mm: _ax_greville(mm, ages, n), src,
                                   input_core_dims=[[dim]], output_core_dims=[[dim]],
                                   dask="parallelized", output_dtypes=[float])
        a14 = xr.apply_ufunc(
            lambda mm0, mm, qq: _a1_4_coale_demeny(mm0, mm, cd_region, None if qq is None else qq),
            first, male, q0_da, dask="parallelized", output_dtypes=[float]) if q0_da is not None else \
            xr.apply_ufunc(lambda mm0, mm: _a1_4_coale_demeny(mm0, mm, cd_region), first, male,
                           dask="parallelized", output_dtypes=[float])
        ax_da = xr.where(ax_da[dim] == 1, a14, ax_da)
        attrs["ax"] = {"pas": "PAS LTPOPDTH: Coale-Demeny for 0 and 1-4, mid-interval above",
                       "un": "UN (1982)/Mortpak: Coale-Demeny for 0 and 1-4, 2.5 at 5-14, Greville above"}[ax]
    else:
        ax_da = (n_da * float(ax)).where(n_da < np.inf, 0.0)
        attrs["ax"] = f"{float(ax)} x interval width above age 0"
    ax_da = xr.where(ax_da[dim] == ages[0], a0_da, ax_da)
    if ax == "pas":
        # PAS safeguard (DemoTools axPAS): if mid-interval ax implies q > 1, use constant hazard
        mm = src
        qimp = n_da * mm / (1 + (n_da - ax_da) * mm)
        const = n_da - 1.0 / mm + n_da / np.expm1(n_da * mm) if not isinstance(mm, float) else None
        ax_da = xr.where((qimp > 1) & (n_da < np.inf), const, ax_da)

    q_in = None
    if from_q:
        q_in = qx
        src_m = xr.full_like(qx, np.nan, dtype=float)
    else:
        src_m = m
    if q0_da is not None and not from_q:
        # IMR given separately: the table's q0 is the IMR (as DemoTools lt_abridged with IMR):
        # m0 = q0 / (1 - (1 - a0) q0)
        m0 = q0_da / (1.0 - (1.0 - a0_da) * q0_da)
        src_m = xr.where(src_m[dim] == ages[0], m0, src_m).transpose(*src_m.dims)

    ds = _run_kernel(src_m, ax_da, n, radix, q_in, dim)
    ds.attrs.update({k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in attrs.items()})
    ds.attrs["method"] = "period life table; q = n m / (1 + (n - a) m); open age L = l / m"
    return ds


def _run_kernel(m, ax_da, n, radix, q_in, dim):
    m = m.astype(float)
    ax_b = ax_da.broadcast_like(m).transpose(*m.dims).astype(float)
    args = [m.transpose(..., dim), ax_b.transpose(..., dim)]
    core = [[dim], [dim]]
    if q_in is not None:
        args.append(q_in.broadcast_like(m).transpose(..., dim).astype(float))
        core.append([dim])

    def func(mm, aa, qq=None):
        return life_table_nd(mm, aa, n, radix, qq)

    outs = apply_kernel(func, *args, core_dims=core, output_core_dims=[[dim]] * 8)
    ds = xr.Dataset()
    for name, o in zip(_COLUMNS, outs):
        o = o.transpose(*m.dims)
        o.attrs = {"long_name": _ATTRS[name][0], "units": _ATTRS[name][1]}
        ds[name] = o
    return ds


def _rates_from_counts(deaths, exposure, dim):
    _check_age(deaths, "deaths", dim)
    for da, name in ((deaths, "deaths"), (exposure, "exposure")):
        if not is_dask(da):
            check_counts(da, name)
    d, e = xr.broadcast(deaths, exposure)
    if not is_dask(d) and not is_dask(e):
        bad = (e <= 0) & (d > 0)
        if bool(bad.any()):
            idx = first_cell(bad.values)
            raise CubeError(f"{format_cell('deaths', d, idx)} with exposure 0: deaths without "
                            "person-years at risk")
    undefined = e <= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        m = (d / e.where(e > 0))
    filled = None if is_dask(m) else int(undefined.sum())
    m = _fill_zero_exposure(m, undefined, dim)
    return m, filled


def _apply_kannisto(m, deaths, exposure, *, fit_from, replace_from, extend_to, dim):
    ages = m[dim].values
    sel = ages >= fit_from
    if sel.sum() < 3:
        raise CubeError(f"the Kannisto fit needs at least 3 ages >= {fit_from}; ages end at {ages[-1]}")
    fit = kannisto(deaths, exposure, fit_ages=ages[sel], dim=dim)
    last = int(ages[-1])
    new_ages = ages if not extend_to or extend_to <= last else np.arange(ages[0], extend_to + 1)
    if extend_to and extend_to > last:
        if (np.diff(ages) != 1).any():
            raise CubeError("extend_to needs single-year ages")
        m = m.reindex({dim: new_ages})
    x = xr.DataArray(new_ages.astype(float), dims=dim, coords={dim: new_ages})
    fitted = fit["a"] * np.exp(fit["b"] * (x - 80.0))
    fitted = fitted / (1.0 + fitted)
    use = (x >= replace_from) | m.isnull()
    out = xr.where(use, fitted, m).transpose(*m.dims)
    return out


def _life_table_hmd(deaths, exposure, *, radix, dim, fit_from="hmd", cap=95):
    """HMD Methods Protocol v6 period life table (see :func:`life_table`)."""
    _check_age(deaths, "deaths", dim)
    if "sex" not in deaths.dims:
        raise CubeError("method='hmd' needs a 'sex' dim: Y depends on the deaths of both sexes")
    m, filled = _rates_from_counts(deaths, exposure, dim)
    ages = m[dim].values
    age_da = deaths[dim]
    small = ((deaths <= 100).any("sex")) & (age_da >= 80)
    # Y: lowest age >= 80 where deaths of either sex <= 100 (at most `cap`)
    y = xr.where(small, age_da, np.inf).min(dim)
    y = np.minimum(y, cap)
    fit = kannisto(deaths, exposure, fit_ages=ages[ages >= 80], dim=dim)
    x = xr.DataArray(ages.astype(float), dims=dim, coords={dim: ages})
    z = fit["a"] * np.exp(fit["b"] * (x - 80.0))
    fitted = z / (1.0 + z)
    m = xr.where(x >= y, fitted, m).transpose(*deaths.dims)
    male = _male_mask(m, None)
    first = m.isel({dim: 0})
    a0_da = xr.apply_ufunc(lambda mm0, mm: a0_andreev_kingkade(mm0, male=mm), first, male,
                           dask="parallelized", output_dtypes=[float])
    n = _widths(ages)
    n_da = xr.DataArray(n, dims=dim, coords={dim: ages})
    ax_da = xr.where(n_da[dim] == ages[0], a0_da, (0.5 * n_da).where(n_da < np.inf, 0.0))
    m, n_fixed = _fix_open_rate(m, dim, "mx")
    ds = _run_kernel(m, ax_da, n, radix, None, dim)
    ds["kannisto_from_age"] = y
    ds.attrs = {
        "method": ("HMD Methods Protocol v6: m = D/E; a0 Andreev-Kingkade; ax = 0.5; Kannisto fitted by "
                   "Poisson ML to ages >= 80 per sex, used from age Y = lowest age >= 80 with <= 100 deaths "
                   f"for males or females (Y <= {cap}); open age L = l/m"),
        "radix": radix,
        "zero_exposure_cells": "n/a" if filled is None else filled,
        "zero_exposure_rule": "rates with zero exposure and zero deaths take the fitted (>= Y) or the "
                              "nearest lower age's rate",
        "open_age_rate_filled": "n/a" if n_fixed is None else n_fixed,
    }
    return ds
