"""Period life tables: single-year and abridged, a0 and ax rules, Kannisto old ages.

Public functions take and return xarray objects; the table itself is one
Numba kernel (:mod:`demokit._kernels.lifetable`) vectorised over every dim
other than ``age``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._apply import apply_kernel, check_core_chunks, is_dask
from ._kernels import lifetable as kernels
from .cube import MAX_COUNT, CubeError, check_counts, first_cell, format_cell

__all__ = [
    "a0_andreev_kingkade",
    "a0_coale_demeny",
    "kannisto",
    "life_table",
    "scale_factor_for_life_expectancy",
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
# a0 rules (vectorised numpy, public; the kernel applies the same rules by code)
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


# ---------------------------------------------------------------------------
# Kannisto
# ---------------------------------------------------------------------------


def _kannisto_ab(deaths, exposure, x, x0):
    """(a, b) of the Kannisto fit (centred at ``x0``) for arrays (..., K); no deaths: a = b = 0."""
    d, e = np.broadcast_arrays(np.asarray(deaths, dtype=float), np.asarray(exposure, dtype=float))
    lead = d.shape[:-1]
    rows = int(np.prod(lead, dtype=np.int64))
    _, par = kernels.kannisto_rates(np.ascontiguousarray(d).reshape(rows, -1),
                                    np.ascontiguousarray(e).reshape(rows, -1), x, x[0], 0)
    a = par[:, 0] * np.exp(par[:, 1] * (x0 - x[0]))   # the kernel centres at the first fit age
    none = np.isnan(a)
    return np.where(none, 0.0, a).reshape(lead), np.where(none, 0.0, par[:, 1]).reshape(lead)


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
        ``a`` and ``b`` with every dim except ``dim`` (0 and 0 where there are no deaths).

    Notes
    -----
    ``μ(x) = a e^{b(x − x0)} / (1 + a e^{b(x − x0)})``, deaths ~ Poisson
    ``(E μ)``; Newton–Raphson with step halving on ``(log a, b)``
    (:func:`demokit._kernels.smoothing.kannisto_fit`).  The open age enters at
    its label.
    """
    from .models import check_events_exposure
    # labels, NaN, negative counts (a NaN made the whole fit a = b = 0, silently)
    check_events_exposure(deaths, exposure, dim, min_ages=1, error=CubeError, names=("deaths", "exposure"))
    if fit_ages is None:
        sel = deaths[dim] >= 80
        d, e = deaths.where(sel, drop=True), exposure.where(sel, drop=True)
    else:
        have = deaths[dim].values
        if not isinstance(fit_ages, slice):
            miss = [a for a in np.atleast_1d(fit_ages).tolist() if a not in set(have.tolist())]
            if miss:
                raise CubeError(f"kannisto: fit_ages: {dim}={miss[0]!r} is not in the data "
                                f"({have[0].item()!r}-{have[-1].item()!r})")
        d, e = deaths.sel({dim: fit_ages}), exposure.sel({dim: fit_ages})
    x = d[dim].values.astype(float)
    if len(x) < 2:
        raise CubeError(f"kannisto: the fit needs at least 2 ages, got {list(x)}")
    a, b = xr.apply_ufunc(_kannisto_ab, d, e, input_core_dims=[[dim], [dim]], output_core_dims=[[], []],
                          kwargs={"x": x, "x0": float(x0)}, dask="parallelized", output_dtypes=[float, float])
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


def _check_risks(qx: xr.DataArray):
    _check_rates(qx, "qx")
    if not is_dask(qx) and bool((qx > 1).any()):
        idx = first_cell((qx > 1).values)
        raise CubeError(f"{format_cell('qx', qx, idx)}: a probability must be <= 1")


def _cd_constants(region) -> np.ndarray:
    """(2, 6) Coale–Demeny constants (female, male) for the kernel: a0 constant, intercept,
    slope; 4a1 constant, intercept, slope."""
    c = _CD[_cd_region(region)]
    return np.array([[c[0][s], c[1][s], _CD_SLOPE_A0[s], c[2][s], c[3][s], _CD_SLOPE_A14[s]] for s in (1, 0)])


_A0_CODES = {"andreev_kingkade": kernels.A0_ANDREEV_KINGKADE, "coale_demeny": kernels.A0_COALE_DEMENY}


def _a0_option(a0):
    """Return (code, given a0 or None) for the a0 option."""
    if isinstance(a0, str):
        if a0 not in _A0_CODES:
            raise CubeError(f"a0 must be a number, 'andreev_kingkade' or 'coale_demeny', got {a0!r}")
        return _A0_CODES[a0], None
    return kernels.A0_GIVEN, a0 if isinstance(a0, xr.DataArray) else float(a0)


def _row_array(p, row_dims, fill, dtype=float):
    """``p`` (scalar or DataArray over some of ``row_dims``) as an array with one axis per row dim."""
    if p is None:
        p = fill
    if not isinstance(p, xr.DataArray):
        return np.full((1,) * len(row_dims), p, dtype=dtype)
    extra = [d for d in p.dims if d not in row_dims]
    if extra:
        raise CubeError(f"a per-row option has dims {extra} that the rates do not have")
    p = p.transpose(*[d for d in row_dims if d in p.dims])
    shape = [p.sizes[d] if d in p.dims else 1 for d in row_dims]
    return np.asarray(p.values, dtype=dtype).reshape(shape)


def _table_np(val, expo, a0v, male, q0, kfrom, *, mode, ages, a0_code, ax_code, ax_share, cd, radix, fit_from,
              dask=False):
    """The kernel call on numpy arrays (rows dims first, age last); per-row options broadcastable."""
    lead = np.broadcast_shapes(val.shape[:-1], expo.shape[:-1] if expo is not None else (), a0v.shape,
                               male.shape, q0.shape, kfrom.shape)
    rows = int(np.prod(lead, dtype=np.int64))

    def rows_of(x, dtype, tail=()):
        return np.ascontiguousarray(np.broadcast_to(x, lead + tail), dtype=dtype).reshape((rows,) + tail)

    v2 = rows_of(val, np.float64, val.shape[-1:])
    e2 = rows_of(expo, np.float64, expo.shape[-1:]) if expo is not None else np.empty((1, 1))
    kan = (fit_from, rows_of(kfrom, np.int64)) if fit_from is not None else None
    outs, filled, opened, err = kernels.life_table_rows(
        mode, v2, e2, age=ages, n=_widths(ages), a0_code=a0_code, a0v=rows_of(a0v, np.float64),
        male=rows_of(male, np.bool_), q0=rows_of(q0, np.float64), ax_code=ax_code, ax_share=ax_share, cd=cd,
        radix=radix, kannisto=kan, max_count=MAX_COUNT)
    outs = tuple(o.reshape(lead + (len(ages),)) for o in outs)
    if dask:
        if err[0]:
            raise CubeError(f"life_table: invalid input (error {err[0]}) in a chunk; compute the input "
                            "to have the cell named")
        return outs
    return outs, filled, opened, err, lead


def _explain(err, lead, name, val, expo):
    """Raise the error the kernel found, naming the cell (the checks rerun in numpy)."""
    code, row, j = err
    if code == kernels.NO_DEATHS:
        cell = val.isel({val.dims[-1]: -1})
        idx = np.unravel_index(row, lead)
        raise CubeError(f"{format_cell('mx', cell, idx, value=0.0)}: no deaths at any age, so the "
                        "open age cannot be closed (life expectancy would be infinite)")
    if name == "qx":
        _check_risks(val)
    elif name == "deaths":
        check_counts(val, "deaths")
        check_counts(expo, "exposure")
        bad = (expo <= 0) & (val > 0)
        if bool(bad.any()):
            idx = first_cell(bad.values)
            raise CubeError(f"{format_cell('deaths', val, idx)} with exposure 0: deaths without "
                            "person-years at risk")
    else:
        _check_rates(val, name)
    idx = np.unravel_index(row, lead) + (j,)
    raise CubeError(f"{format_cell(name, val, idx)}: invalid input for the life table")


def _run(mode, val, expo, *, name, dim, ages, a0, ax_code, ax_share, male, q0, cd, radix, fit_from=None, kfrom=None):
    """Run the life table kernel on DataArrays; return the Dataset, filled and opened counts."""
    if expo is not None:
        val, expo = xr.broadcast(val, expo)
    params = [p for p in (a0[1], male, q0, kfrom) if isinstance(p, xr.DataArray)]
    extra = {d: s for p in params for d, s in p.sizes.items() if d not in val.dims}
    if extra:
        val = val.expand_dims(extra)
        expo = expo.expand_dims(extra) if expo is not None else None
    row_dims = [d for d in val.dims if d != dim]
    v = val.transpose(*row_dims, dim)
    e = expo.transpose(*row_dims, dim) if expo is not None else None
    rows = [_row_array(a0[1], row_dims, 0.0), _row_array(male, row_dims, False, bool),
            _row_array(q0, row_dims, np.nan), _row_array(kfrom, row_dims, len(ages), np.int64)]
    opts = dict(mode=mode, ages=np.asarray(ages, dtype=float), a0_code=a0[0], ax_code=ax_code, ax_share=ax_share,
                cd=cd, radix=radix, fit_from=fit_from)
    same_ages = len(ages) == v.sizes[dim]
    if is_dask(v) or (e is not None and is_dask(e)):
        out_dim = dim if same_ages else "_age_out"
        arrs = [p.astype(dt) if isinstance(p, xr.DataArray) else xr.DataArray(np.array(fill if p is None else p, dt))
                for p, fill, dt in ((a0[1], 0.0, float), (male, False, bool), (q0, np.nan, float),
                                    (kfrom, len(ages), np.int64))]
        args = [v] + ([e] if e is not None else []) + arrs
        core = [[dim]] * (1 + (e is not None)) + [[]] * 4

        def chunk(vv, *rest):
            ee = rest[0] if e is not None else None
            return _table_np(vv, ee, *rest[-4:], dask=True, **opts)

        outs = apply_kernel(chunk, *args, core_dims=core, output_core_dims=[[out_dim]] * 8,
                            output_sizes={out_dim: len(ages)})
        outs = [o.rename({out_dim: dim}) if out_dim != dim else o for o in outs]
        dims, coords = outs[0].dims, outs[0].coords
        coords = coords if same_ages else {k: c for k, c in coords.items() if dim not in c.dims}
        outs = [o.data for o in outs]
        filled = opened = None
    else:
        outs, filled, opened, err, lead = _table_np(v.values, e.values if e is not None else None, *rows, **opts)
        if err[0]:
            _explain(err, lead, name, v, e)
        dims = v.dims
        coords = v.coords if same_ages else {k: c for k, c in v.coords.items() if dim not in c.dims}
    # one Dataset built at once (assigning eight variables one by one costs ~20x more)
    ds = xr.Dataset({col: (dims, o, {"long_name": _ATTRS[col][0], "units": _ATTRS[col][1]})
                     for col, o in zip(_COLUMNS, outs)}, coords=coords)
    if dim not in ds.coords or not same_ages:
        ds = ds.assign_coords({dim: np.asarray(ages)})
    if ds[_COLUMNS[0]].dims != val.dims:
        ds = ds.transpose(*val.dims)
    return ds, filled, opened


# ---------------------------------------------------------------------------
# the public life table
# ---------------------------------------------------------------------------


def _with_open_risk(qx, open_risk, dim):
    """``qx`` with the open age holding ``open_risk`` (the kernel's code for the open group's own risk: a value
    strictly between 0 and 1) or 1 (the last closed age's rate)."""
    if not isinstance(qx, xr.DataArray):
        return qx   # (the caller's own check names the type)
    if open_risk is None:
        o = 1.0
    else:
        o = open_risk if isinstance(open_risk, xr.DataArray) else xr.DataArray(float(open_risk))
        if dim in o.dims:
            raise CubeError(f"open_risk must not have the dim {dim!r}: it is the open age group's one risk")
        if not is_dask(o):
            bad = ~(np.isfinite(o.values) & (o.values >= 0) & (o.values <= 1))
            if bad.any():
                raise CubeError(f"{format_cell('open_risk', o, first_cell(np.atleast_1d(bad)) if o.ndim else ())}"
                                ": the open age group's risk must lie in [0, 1]")
    last = qx[dim].values[-1]
    return xr.where(qx[dim] == last, o, qx).transpose(*qx.dims, ...)


def life_table(mx=None, *, qx=None, deaths=None, exposure=None, method=None, a0="andreev_kingkade",
               ax=0.5, sex=None, cd_region="west", q0=None, old_age=None, fit_from=80,
               replace_from=None, extend_to=None, radix=100_000, dim="age", open_risk=None):
    """Return a period life table (mx, qx, ax, lx, dx, Lx, Tx, ex) along ``age``.

    Parameters
    ----------
    mx : xarray.DataArray, optional
        Central death rates by age (single years or abridged 0, 1, 5, 10, …);
        the last age is open.  Any other dims (region, sex, year, scenario…)
        are carried through.
    qx : xarray.DataArray, optional
        Death probabilities instead of ``mx``.  The value at the open age is
        not used (a table's ``q`` there is 1): the open age takes the last
        closed age's rate (a constant hazard beyond it), or ``open_risk``.
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
    old_age : {None, "kannisto", "gompertz", "makeham"}
        Replace rates from ``replace_from`` on by a curve of the model
        registry (:class:`demokit.Model`) fitted by Poisson maximum likelihood
        to deaths and exposure at ages ≥ ``fit_from`` (needs ``deaths`` and
        ``exposure``, or ``mx`` with ``exposure``), and optionally extend the
        table to ``extend_to`` (e.g. 110, closing it there with L = l/m).
        Kannisto (the HMD's choice) is fitted inside the life-table kernel.
    fit_from, replace_from, extend_to : int
        Ages for ``old_age``; ``replace_from`` defaults to ``fit_from``.
    radix : float
        l at age 0 (100,000 as SCB).
    dim : str
        The age dim.
    open_risk : float or xarray.DataArray, optional
        With ``qx``: the open age group's own one-year death probability
        (e.g. its deaths over the persons at risk at the start of the year;
        by any of the table's other dims).  The open age's rate is then
        ``−ln(1 − open_risk)``, a constant hazard within the group, instead of
        the last closed age's rate, which overstates life expectancy when
        the open age is low (85+: by about 1.4 years).  0 or 1 keep the last
        closed age's rate.

    Returns
    -------
    xarray.Dataset
        Variables ``mx, qx, ax, lx, dx, Lx, Tx, ex`` with dims of the input,
        units in attrs, and ``attrs`` describing the options.

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
    ``e_x = T_x / l_x``.  From qx: ``m = q / (n − (n − a) q)``; at the open age
    ``m_ω = m_{ω−1}``, or with ``open_risk`` ``m_ω = −ln(1 − open_risk)``.  PAS: where
    mid-interval ``a`` would give ``q > 1``, the constant-hazard
    ``a = 1/m − n / (e^{nm} − 1)`` (so ``q = 1 − e^{−nm}``).  With ``q0`` given:
    ``m_0 = q_0 / (1 − (1 − a_0) q_0)``.

    Zero exposure never makes life expectancy NaN: a rate undefined because
    exposure and deaths are both zero is replaced by the fitted old-age rate
    where one is used, otherwise by the rate of the nearest lower age with
    exposure (0 if none); an open-age rate of 0 (no deaths) is replaced by
    the last positive rate below it.  The number of such cells is recorded in
    ``attrs["zero_exposure_cells"]`` and ``attrs["open_age_rate_filled"]``.
    Every step runs in one Numba row loop
    (:func:`demokit._kernels.lifetable.life_table_rows`).
    """
    attrs = {"radix": radix}
    for name, v in (("mx", mx), ("qx", qx), ("deaths", deaths), ("exposure", exposure)):
        if isinstance(v, xr.DataArray):
            check_core_chunks(v, [dim], name=name)
    n_given = sum(v is not None for v in (mx, qx, deaths))
    if n_given != 1:
        raise CubeError("give exactly one of mx, qx or deaths (with exposure)")
    if open_risk is not None and qx is None:
        raise CubeError("open_risk goes with qx= (risks leave the open age's rate unknown; mx= and deaths= give it)")
    if method not in (None, "hmd"):
        raise CubeError(f"method must be None or 'hmd', got {method!r}")
    if method == "hmd":
        if deaths is None or exposure is None:
            raise CubeError("method='hmd' needs deaths= and exposure= (HMD Deaths_1x1 / Exposures_1x1)")
        return _life_table_hmd(deaths, exposure, radix=radix, dim=dim)

    if deaths is not None:
        if exposure is None:
            raise CubeError("deaths= needs exposure=")
        mode, val, name = kernels.COUNTS, deaths, "deaths"
    elif qx is not None:
        mode, val, name = kernels.QX, _with_open_risk(qx, open_risk, dim), "qx"
    else:
        mode, val, name = kernels.MX, mx, "mx"
    _check_age(val, name, dim)
    if isinstance(exposure, xr.DataArray):   # the same labels (a broadcast would misalign or NaN-fill a sex)
        for d in val.dims:
            if d in exposure.dims and d in val.coords and d in exposure.coords:
                a, b = val[d].values.tolist(), exposure[d].values.tolist()
                only = [v for v in a if v not in set(b)] or [v for v in b if v not in set(a)]
                if only:
                    which, other = (name, "exposure") if only[0] in set(a) else ("exposure", name)
                    raise CubeError(f"{which} has {d}={only[0]!r}, which {other} lacks")
    if mode != kernels.COUNTS and is_dask(val):
        _check_rates(val, name)   # (dtype only)
    ages = val[dim].values
    expo = exposure if mode == kernels.COUNTS else None

    fit, kfrom = None, None
    if old_age is not None:
        if old_age not in _OLD_AGE_MODELS:
            raise CubeError(f"old_age must be None or one of {_OLD_AGE_MODELS}, got {old_age!r}")
        if mode == kernels.QX:
            raise CubeError(f"old_age={old_age!r} needs rates with exposure (mx= with exposure=, or deaths=)")
        if exposure is None:
            raise CubeError(f"old_age={old_age!r} is fitted by Poisson likelihood: pass exposure= (and mx= or deaths=)")
        if (ages >= fit_from).sum() < 3:
            raise CubeError(f"the {old_age} fit needs at least 3 ages >= {fit_from}; ages end at {ages[-1]}")
        if extend_to and extend_to > ages[-1]:
            if (np.diff(ages) != 1).any():
                raise CubeError("extend_to needs single-year ages")
            ages = np.arange(ages[0], extend_to + 1)
        rfrom = fit_from if replace_from is None else replace_from
        fit, kfrom, expo = fit_from, int(np.searchsorted(ages, rfrom)), exposure
        attrs["old_age"] = (f"{old_age.capitalize()} fitted by Poisson ML to ages >= {fit_from}, replacing rates "
                            f"from age {rfrom}" + (f", extended to {extend_to}" if extend_to else ""))
        if old_age != "kannisto":
            val, expo = _old_age_counts(old_age, val, exposure, rates_given=mode == kernels.MX,
                                        ages=ages, dim=dim, fit_from=fit_from, replace_from=rfrom)
            mode, name, fit, kfrom = kernels.COUNTS, "deaths", None, None

    a0_opt = _a0_option(a0)
    attrs["a0"] = a0 if isinstance(a0, str) else "given"
    if isinstance(ax, str):
        if ax not in ("pas", "un"):
            raise CubeError(f"ax must be a number, 'pas' or 'un', got {ax!r}")
        if mode == kernels.QX:
            raise CubeError("ax='pas'/'un' are defined here for mx input; give mx (or deaths and exposure)")
        if len(ages) < 3 or ages[1] != 1 or ages[2] != 5:
            raise CubeError(f"ax={ax!r} is for abridged tables with ages 0, 1, 5, 10, ...; got {list(ages[:4])}")
        ax_code, ax_share = (kernels.AX_PAS if ax == "pas" else kernels.AX_UN), 0.5
        attrs["ax"] = {"pas": "PAS LTPOPDTH: Coale-Demeny for 0 and 1-4, mid-interval above",
                       "un": "UN (1982)/Mortpak: Coale-Demeny for 0 and 1-4, 2.5 at 5-14, Greville above"}[ax]
    else:
        ax_code, ax_share = kernels.AX_SHARE, float(ax)
        attrs["ax"] = f"{float(ax)} x interval width above age 0"
    uses_cd = (isinstance(a0, str) and a0 == "coale_demeny") or isinstance(ax, str)
    cd = _cd_constants(cd_region) if uses_cd else None
    male = _male_mask(val, sex) if (isinstance(a0, str) or isinstance(ax, str)) else None
    q0_opt = q0 if q0 is None or isinstance(q0, xr.DataArray) else float(q0)

    ds, filled, opened = _run(mode, val, expo, name=name, dim=dim, ages=ages, a0=a0_opt, ax_code=ax_code,
                              ax_share=ax_share, male=male, q0=q0_opt, cd=cd, radix=float(radix), fit_from=fit,
                              kfrom=kfrom)
    if mode == kernels.COUNTS:
        attrs["zero_exposure_cells"] = filled if filled is not None else "not checked (dask)"
    if mode != kernels.QX:
        attrs["open_age_rate_filled"] = opened if opened is not None else "not checked (dask)"
    ds.attrs.update({k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in attrs.items()})
    ds.attrs["method"] = "period life table; q = n m / (1 + (n - a) m); open age L = l / m"
    return ds


#: the registry models life_table(old_age=) can use (demokit.models)
_OLD_AGE_MODELS = ("kannisto", "gompertz", "makeham")


def _old_age_counts(model, val, exposure, *, rates_given, ages, dim, fit_from, replace_from):
    """Return deaths and exposure whose ratio is the fitted curve from ``replace_from`` on (over ``ages``).

    From ``replace_from`` (and above the last observed age) the kernel then reads ``m = fitted``
    (deaths = fitted rate, exposure 1); below it the observed counts, or the given rates
    (``rates_given``: deaths = m, exposure 1, so that exposure only weights the fit), and its
    zero-exposure fill and checks apply unchanged.
    """
    from .models import Model
    deaths = val * exposure if rates_given else val
    last = float(val[dim].values[-1])
    res = Model(model, fit_ages=(fit_from, last)).fit(deaths, exposure, dim=dim)
    rate = res.predict(xr.DataArray(np.asarray(ages, dtype=float), dims=dim, coords={dim: ages}))
    old = xr.DataArray((np.asarray(ages) >= replace_from) | (np.asarray(ages) > last), dims=dim, coords={dim: ages})
    below = (val, xr.ones_like(val)) if rates_given else (val, exposure)
    d, e = xr.broadcast(below[0].reindex({dim: ages}), below[1].reindex({dim: ages}))
    d = xr.where(old, rate, d).transpose(*d.dims)
    return d, xr.where(old, 1.0, e).transpose(*d.dims)


def _life_table_hmd(deaths, exposure, *, radix, dim, cap=95):
    """HMD Methods Protocol v6 period life table (see :func:`life_table`)."""
    _check_age(deaths, "deaths", dim)
    if "sex" not in deaths.dims:
        raise CubeError("method='hmd' needs a 'sex' dim: Y depends on the deaths of both sexes")
    ages = deaths[dim].values
    age_da = deaths[dim]
    small = ((deaths <= 100).any("sex")) & (age_da >= 80)
    # Y: lowest age >= 80 where deaths of either sex <= 100 (at most `cap`)
    y = np.minimum(xr.where(small, age_da, np.inf).min(dim), cap)
    kfrom = xr.apply_ufunc(lambda yy: np.searchsorted(ages, yy), y, dask="parallelized", output_dtypes=[np.int64])
    ds, filled, opened = _run(kernels.COUNTS, deaths, exposure, name="deaths", dim=dim, ages=ages,
                              a0=(kernels.A0_ANDREEV_KINGKADE, None), ax_code=kernels.AX_SHARE, ax_share=0.5,
                              male=_male_mask(deaths, None), q0=None, cd=None, radix=float(radix), fit_from=80.0,
                              kfrom=kfrom)
    ds["kannisto_from_age"] = y
    ds.attrs = {
        "method": ("HMD Methods Protocol v6: m = D/E; a0 Andreev-Kingkade; ax = 0.5; Kannisto fitted by "
                   "Poisson ML to ages >= 80 per sex, used from age Y = lowest age >= 80 with <= 100 deaths "
                   f"for males or females (Y <= {cap}); open age L = l/m"),
        "radix": radix,
        "zero_exposure_cells": "n/a" if filled is None else filled,
        "zero_exposure_rule": "rates with zero exposure and zero deaths take the fitted (>= Y) or the "
                              "nearest lower age's rate",
        "open_age_rate_filled": "n/a" if opened is None else opened,
    }
    return ds


# ---------------------------------------------------------------------------
# life expectancy targets
# ---------------------------------------------------------------------------


def scale_factor_for_life_expectancy(target, *, mx=None, qx=None, a0="andreev_kingkade", ax=0.5, sex=None,
                                     cd_region="west", bounds=(0.02, 20.0), dim="age", open_risk=None):
    """Return the factor k on the death rates at which the life table reaches life expectancy ``target``.

    Parameters
    ----------
    target : float or xarray.DataArray
        Life expectancy at birth to reach, over any dims (sex, year, scenario, region…).
    mx, qx : xarray.DataArray
        The schedule to scale (give one): central rates, or risks (scaled and capped at 1),
        by ``dim`` and any other dims; broadcast against ``target``.  The open
        age as in :func:`life_table`: the value there is not used; the last
        closed age's rate, or ``open_risk``.
    a0, ax, sex, cd_region :
        As in :func:`life_table` (``a0`` a number, ``"andreev_kingkade"`` or
        ``"coale_demeny"``, re-evaluated on the scaled infant rate; ``ax`` a number).
    bounds : (float, float)
        The range of k searched.
    dim : str
        The age dim.
    open_risk : float or xarray.DataArray, optional
        With ``qx``: the open age group's own one-year risk, as in
        :func:`life_table`; scaled by k too and kept at most ``1 − 1e-9``.

    Returns
    -------
    xarray.DataArray
        k over the dims of ``target`` and of the schedule except ``dim``.

    Raises
    ------
    CubeError
        A target outside the life expectancies reachable with k in ``bounds``
        (naming the cell and the reachable range), a NaN target, invalid rates.

    Notes
    -----
    ``e_0(k)`` is the life expectancy of the table of ``k·m`` (or of
    ``min(k·q, 1)``) with the a0 rule applied to the scaled infant rate and
    ``L_ω = l_ω / (k m_ω)``; it decreases with k, so the root of
    ``e_0(k) = target`` is unique where ``e_0(k_hi) ≤ target ≤ e_0(k_lo)``.  It is
    found for every cell at once in one Numba kernel
    (:func:`demokit._kernels.lifetable.e0_scale_rows`): Brent's method (as in
    ``scipy.optimize.brentq``) on ``u = log k`` to ``|Δu| < 1e-14``, about ten
    life tables per cell.
    """
    if (mx is None) == (qx is None):
        raise CubeError("give exactly one of mx or qx")
    name, sched = ("mx", mx) if mx is not None else ("qx", qx)
    if open_risk is not None and qx is None:
        raise CubeError("open_risk goes with qx= (with mx= the open age has its own rate)")
    _check_age(sched, name, dim)
    if name == "qx":
        sched = _with_open_risk(sched, open_risk, dim)
        _check_risks(sched)
    else:
        _check_rates(sched, name)
    lo, hi = (float(b) for b in bounds)
    if not 0 < lo < hi:
        raise CubeError(f"bounds must be 0 < low < high, got {bounds!r}")
    tgt = target.astype(float) if isinstance(target, xr.DataArray) else xr.DataArray(float(target))
    if bool(tgt.isnull().any()):
        idx = first_cell(tgt.isnull().values)
        raise CubeError(f"{format_cell('life_expectancy target', tgt, idx)}: a target must be a number")
    ages = sched[dim].values
    sched = sched.transpose(..., dim)
    srows = [d for d in sched.dims if d != dim]
    shape = [sched.sizes[d] for d in srows]
    nrow = int(np.prod(shape, dtype=np.int64))
    vals = np.ascontiguousarray(sched.values, dtype=np.float64).reshape(nrow, len(ages))
    vrow = xr.DataArray(np.arange(nrow).reshape(shape), dims=srows,
                        coords={d: sched[d] for d in srows if d in sched.coords})
    tgt_b, vrow_b = xr.broadcast(tgt, vrow)
    if vrow_b.dtype.kind != "i":
        raise CubeError(f"target and {name} have different coordinates on a shared dim; align them first")
    dims = list(tgt_b.dims)
    code, given = _a0_option(a0)
    male = _male_mask(xr.broadcast(tgt_b, sched.isel({dim: 0}, drop=True))[0], sex) \
        if isinstance(a0, str) else xr.DataArray(False)
    if isinstance(ax, str):
        raise CubeError("scale_factor_for_life_expectancy: ax must be a number (the share of the interval)")

    def flat(p, fill, dtype):
        return np.ascontiguousarray(np.broadcast_to(_row_array(p, dims, fill, dtype), tgt_b.shape),
                                    dtype=dtype).reshape(-1)

    cd = _cd_constants(cd_region) if isinstance(a0, str) and a0 == "coale_demeny" else None
    k, e0_lo, e0_hi, bad = kernels.e0_scale_rows(
        name == "qx", vals, vrow_b.transpose(*dims).values.reshape(-1), tgt_b.values.reshape(-1), a0_code=code,
        a0v=flat(given, 0.0, np.float64), male=flat(male, False, np.bool_), cd=cd, ax_share=float(ax),
        n=_widths(ages), bounds=(lo, hi))
    if bad:
        j = int(np.argmax(np.isnan(k)))
        idx = np.unravel_index(j, tgt_b.shape)
        raise CubeError(f"{format_cell('life_expectancy target', tgt_b, idx)} cannot be reached by scaling the "
                        f"death rates by a factor in [{lo:g}, {hi:g}]: there e0 ranges from {e0_lo[j]:.2f} to "
                        f"{e0_hi[j]:.2f} years")
    out = xr.DataArray(k.reshape(tgt_b.shape), dims=dims, coords=tgt_b.coords)
    out.attrs = {"long_name": "scale factor on the death rates reaching the target life expectancy",
                 "units": "1"}
    return out
