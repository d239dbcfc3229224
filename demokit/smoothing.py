"""Smoothed rates along age (utjämnade värden): relational, Brass, P-spline and the parametric models.

All methods are fitted by Poisson (or binomial) maximum likelihood to events
and exposures, curve by curve, for every combination of the other dims at once
(one Numba kernel call fits all curves).  The parametric models (Rogers–Castro,
Kannisto, Gompertz, Makeham, Heligman–Pollard) come from :mod:`demokit.models`.
See METHODS.md §5.5.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._apply import is_dask, ndkernel
from .cube import first_cell, format_cell
from .models import (RC_PARAMETERS, Model, ModelError, available_models, check_events_exposure,  # noqa: F401
                     rogers_castro)

__all__ = ["smooth", "SmoothingError", "bspline_basis", "difference_penalty", "rogers_castro",
           "RC_PARAMETERS", "DEFAULT_LAMBDAS"]

_GLM_METHODS = ("relational", "brass", "pspline")
#: the spline and relational methods, then every parametric model of the registry but Brass (which is
#: the relational GLM here: ``g(rate) = alpha + beta g(reference)``)
METHODS = _GLM_METHODS + tuple(m for m in available_models() if m != "brass")
LINKS = {"log": 0, "logit": 1}
CRITERIA = {"aic": 0, "bic": 1, "gcv": 2}
#: smoothing-parameter grid searched per curve (descending; warm starts)
DEFAULT_LAMBDAS = 10.0 ** np.arange(7.0, -3.01, -0.5)

class SmoothingError(ModelError):
    """Inputs that a smoothing fit cannot use (e.g. events where exposure is 0)."""


# ---------------------------------------------------------------------------
# bases and penalties
# ---------------------------------------------------------------------------

def bspline_basis(x, *, n_segments: int, degree: int = 3) -> np.ndarray:
    """Return the B-spline design matrix (len(x), n_segments + degree) on equally spaced knots.

    Notes
    -----
    Knots are equally spaced over ``[min(x), max(x)]`` and extended by
    ``degree`` knots on each side (Eilers & Marx 1996); rows sum to 1.
    """
    from scipy.interpolate import BSpline

    x = np.asarray(x, dtype=float)
    xl, xr_ = float(x.min()), float(x.max())
    dx = (xr_ - xl) / n_segments
    knots = xl + dx * np.arange(-degree, n_segments + degree + 1)
    B = BSpline.design_matrix(np.clip(x, xl, xr_), knots, degree).toarray()
    return np.ascontiguousarray(B)


def difference_penalty(k: int, order: int = 2) -> np.ndarray:
    """Return ``D'D`` (k×k) for the difference matrix ``D`` of the given order."""
    D = np.diff(np.eye(k), n=order, axis=0)
    return np.ascontiguousarray(D.T @ D)


# ---------------------------------------------------------------------------
# numpy-level wrappers around the kernels (core dim ``age`` last)
# ---------------------------------------------------------------------------

def _glm_block(y, e, reft, X, P, lambdas, link, crit, max_iter, tol, brass, patience,
               rate, beta, dev, edf, lam, cv, it, conv, fitted):
    """Kernel block for :class:`~demokit._apply.ndkernel`: (n, A) inputs, outputs filled in place.

    Builds the kernel's offset, validity mask and (for Brass) per-curve design
    from the transformed reference, then runs :func:`penalized_glm_fit`.
    """
    from ._kernels import smoothing as ks

    if not (np.isfinite(y).all() and np.isfinite(e).all()) or (y < 0).any() or (e < 0).any():
        raise SmoothingError("events and exposure must be finite and >= 0")
    first, inverse = _distinct_curves(y, e, reft)
    if first is not None:
        # identical curves (the same events, exposure and reference) are fitted once: a curve's fit depends on
        # its own row alone, so the copies get exactly the numbers a fit of each would give
        outs = (rate, beta, dev, edf, lam, cv, it, conv, fitted)
        sub = [np.empty((first.size,) + o.shape[1:], dtype=o.dtype) for o in outs]
        _glm_block(y[first], e[first], reft[first], X, P, lambdas, link, crit, max_iter, tol, brass, patience, *sub)
        for o, s in zip(outs, sub):
            np.take(s, inverse, axis=0, out=o)
        return
    N, A = y.shape
    finite = np.isfinite(reft)
    if brass:
        Xf = np.empty((N, A, 2))
        Xf[:, :, 0] = 1.0
        Xf[:, :, 1] = np.where(finite, reft, 0.0)
        base = np.where(finite, 0.0, reft)
        vconst = np.array([1.0, 0.0])
    else:
        Xf = X[None, :, :]
        base = reft
        vconst = np.ones(X.shape[1])
    ks.penalized_glm_fit(y, e, base, (e > 0) & np.isfinite(base), Xf, P, vconst, lambdas, link, crit, max_iter,
                         tol, patience, beta, rate, dev, edf, lam, cv, it, conv)
    # ages where the reference is 0 (log/logit of it is -inf) get rate 0; +inf (logit of 1) get 1
    rate[np.isneginf(base)] = 0.0
    rate[np.isposinf(base)] = 1.0
    np.sum(np.where(e > 0, rate * e, 0.0), axis=-1, out=fitted)


def _glm_rates(y, e, ref, x, *, method="relational", link="log", criterion="bic", lambdas=None,
              n_segments=None, degree=3, penalty_order=2, patience=5, max_iter=100, tol=1e-9):
    """Return the rates of :func:`smooth` (GLM methods) for numpy curves ``(n, A)``: the numpy-level entry.

    ``y``, ``e`` and ``ref`` (the reference rates or risks, not transformed;
    ignored for ``"pspline"``) are float arrays with ages last, checked by the
    caller (finite, ``>= 0``, events only where the exposure and the reference
    are positive); ``x`` the ages.  For callers that already hold numpy
    arrays (:func:`demokit.small_area_rates`), so that the same fit runs
    without rebuilding DataArrays.
    """
    X, P, lam, _, _ = _design(np.asarray(x, dtype=float), method=method, n_segments=n_segments, degree=degree,
                              penalty_order=penalty_order, lambdas=lambdas)
    y = np.ascontiguousarray(y, dtype=float)
    e = np.ascontiguousarray(e, dtype=float)
    reft = np.zeros_like(y) if method == "pspline" else np.ascontiguousarray(_transform(ref, link), dtype=float)
    N, A = y.shape
    K = X.shape[1]
    rate = np.empty((N, A))
    f = [np.empty(N) for _ in range(4)]   # deviance, edf, lambda, criterion
    _glm_block(y, e, reft, X, P, lam, LINKS[link], CRITERIA[criterion], int(max_iter), float(tol),
               method == "brass", int(patience), rate, np.empty((N, K)), *f, np.empty(N, np.int64),
               np.empty(N, bool), np.empty(N))
    return rate


def _distinct_curves(y, e, reft):
    """Return ``(first, inverse)`` for the distinct rows of ``(y, e, reft)`` if some repeat, else ``(None, None)``.

    ``first`` indexes one row of each distinct curve (byte-for-byte equal
    events, exposure and reference), ``inverse`` maps every row to its curve
    in ``first``: ``rows == rows[first][inverse]``.
    """
    n = y.shape[0]
    if n < 2:
        return None, None
    rows = np.ascontiguousarray(np.concatenate([y, e, reft], axis=1))
    key = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    if first.size == n:
        return None, None
    return first, inverse.reshape(-1)


# ---------------------------------------------------------------------------
# public function
# ---------------------------------------------------------------------------

def _check_inputs(events, exposure, dim, link, method):
    check_events_exposure(events, exposure, dim, binomial=link == "logit" and method in _GLM_METHODS, min_ages=4,
                          error=SmoothingError)


def _fit_parametric(events, exposure, *, method, dim, x, n_parameters, start, fit_ages, max_iter, tol):
    """Fit a model of the registry (:class:`demokit.Model`); return the Dataset's parts."""
    opts = {"start": start, "max_iter": int(max_iter), "tol": float(tol)}
    if method == "rogers_castro":
        opts["n_parameters"] = n_parameters
    if fit_ages is not None:
        opts["fit_ages"] = fit_ages
    elif method == "kannisto":
        opts["fit_ages"] = (80.0, float(x.max()))
    try:
        res = Model(method, **opts).fit(events, exposure, dim=dim)
    except SmoothingError:
        raise
    except ModelError as err:
        raise SmoothingError(str(err)) from err
    out = {"rate": res.fitted, "parameters": res.params, "standard_errors": res.bse,
           "edf": xr.full_like(res.deviance, float(res.model.n_parameters)), "deviance": res.deviance,
           "fitted_events": res.fitted_events, "observed_events": res.observed_events, "n_iter": res.n_iter,
           "converged": res.converged}
    attrs = {k: v for k, v in res.attrs.items() if k not in ("model", "formula")}
    attrs.update(model=res.attrs["formula"], likelihood=res.model.likelihood, n_parameters=res.model.n_parameters)
    if method == "kannisto":
        attrs["note"] = "two parameters without a free level: fitted events match observed only approximately"
    return out, attrs


def _transform(ref, link):
    with np.errstate(divide="ignore", invalid="ignore"):
        if link == "log":
            return np.log(ref)
        return np.log(ref) - np.log1p(-ref)


def smooth(*, events: xr.DataArray, exposure: xr.DataArray, method: str = "relational",
           reference: xr.DataArray | None = None, reference_dims=("region",), dim: str = "age",
           link: str = "log", criterion: str = "bic", lambdas=None, n_segments: int | None = None,
           patience: int = 5, degree: int = 3, penalty_order: int = 2, n_parameters: int = 7, start=None,
           fit_ages=None, max_iter: int = 100, tol: float = 1e-9) -> xr.Dataset:
    """Return smoothed rates along ``age`` with the fit's parameters and diagnostics.

    Every curve (every combination of the dims other than ``dim``) is fitted
    by Poisson maximum likelihood (binomial with ``link="logit"``) to
    ``events`` and ``exposure``; all curves are fitted at once in a Numba
    kernel.

    Parameters
    ----------
    events, exposure : xarray.DataArray
        Counts along ``dim`` (broadcast against each other).  With
        ``link="logit"`` the exposure is the number at risk (e.g. the
        population at the start of the year for interval risks).
    method : {"relational", "brass", "pspline", "rogers_castro", "kannisto", "gompertz", "makeham", \
"heligman_pollard"}
        ``"relational"`` (default): ``g(rate) = g(reference) + f(age)`` with
        ``f`` a P-spline, ``g`` the link; ``"brass"``: ``g(rate) = α + β
        g(reference)``; ``"pspline"``: ``g(rate) = f(age)`` (Eilers–Marx);
        the others are the parametric models of :class:`demokit.Model`
        (METHODS.md §5.5.1): ``"rogers_castro"`` the model migration
        schedule with ``n_parameters`` in {7, 9, 11, 13}; ``"kannisto"`` the
        logistic old-age model ``a e^{b(x-x0)} / (1 + a e^{b(x-x0)})``
        fitted on ``fit_ages``; ``"gompertz"``, ``"makeham"`` and
        ``"heligman_pollard"`` (a risk, binomial likelihood).
    reference : xarray.DataArray, optional
        Reference rates (or risks) along ``dim`` for ``"relational"`` and
        ``"brass"``, broadcast against ``events``.  Default: the pooled rate
        ``Σ events / Σ exposure`` over ``reference_dims`` (e.g. the sum of
        the regions as "the country").
    reference_dims : tuple of str
        Dims pooled for the default reference.
    dim : str
        The age dim.
    link : {"log", "logit"}
        ``"log"``: Poisson with rates per person-year; ``"logit"``: binomial
        risks. The parametric models use their own likelihood (Poisson; binomial for
        Heligman–Pollard).
    criterion : {"bic", "aic", "gcv"}
        Chooses the smoothing parameter λ per curve from ``lambdas``:
        BIC = deviance + log(n)·edf (default; Currie, Durban & Eilers 2004),
        AIC = deviance + 2·edf, GCV = n·deviance / (n − edf)², with ``n``
        the number of ages with positive exposure.
    lambdas : array_like, optional
        Grid of λ (default :data:`DEFAULT_LAMBDAS`, 10^7 … 10^-3 in half
        decades).  A single value fixes λ.
    patience : int
        The grid is searched from the largest λ down and the search stops
        once the criterion has not improved for ``patience`` consecutive
        values (default 5; 0 searches the whole grid).
    n_segments, degree, penalty_order : int
        The P-spline: equally spaced B-splines of ``degree`` on
        ``n_segments`` intervals (default ``ceil((n_ages − 1) / 5)``, one
        knot every 5 years) and a difference penalty of ``penalty_order``.
    n_parameters : {7, 9, 11, 13}
        Rogers–Castro: 7 = childhood, labour-force peak and constant;
        9 adds the elderly upslope (a4, λ4); 11 the retirement peak
        (a3, α3, μ3, λ3) instead; 13 both.
    start : dict or array_like, optional
        Starting values of a parametric model (by name, or all in order;
        Rogers–Castro also accepts 13 values in the order of
        :data:`RC_PARAMETERS`); default from the data (METHODS.md §5.5.1).
    fit_ages : (lo, hi), optional
        Parametric models: ages used in the fit (Kannisto default
        ``(80, last age)``, others all ages); rates are returned for every age.
    max_iter, tol : int, float
        Iteration limit and convergence tolerance of the fits (GLM methods:
        of each fit during the search over λ, where a tolerance below 1e-6
        is not used — the criteria compared differ far more —; the chosen
        fit is iterated to 1e-12).

    Returns
    -------
    xarray.Dataset
        ``rate`` (fitted rates, dims of the broadcast input), ``observed_rate``
        (``events / exposure``, NaN where the exposure is 0), per curve:
        ``deviance``, ``edf`` (effective degrees of freedom; the number of
        parameters for a parametric model, which also gets ``standard_errors``),
        ``smoothing_parameter`` (λ), ``criterion``, ``observed_events``,
        ``fitted_events``, ``n_iter``, ``converged``; ``coefficients``
        (dim ``basis``) for spline methods or ``parameters`` (dim
        ``parameter``) for Brass and the parametric models.  ``attrs`` name
        the method, link, criterion and basis.

    Raises
    ------
    SmoothingError
        Unknown method/link/criterion, events where the exposure (or the
        reference rate) is 0, events above the number at risk with the logit
        link, negative or NaN counts (naming the cell).

    Notes
    -----
    Penalised IRLS (Eilers & Marx 1996): ``η = g(reference) + Bβ``, with
    ``β = argmin deviance(β) + λ β'D'Dβ``.  Because the B-spline rows sum to
    one and ``D'D`` annihilates constants, and the links are canonical, the
    likelihood equations give ``Σ fitted events = Σ observed events`` for every
    curve at every λ; Rogers–Castro gets the same property from a final ML
    step on its overall level.  Kannisto (two parameters, no free level)
    matches the total only approximately; compare ``fitted_events`` with
    ``observed_events``.  For each λ on the grid (from the stiffest, with warm
    starts) the fit is iterated to convergence with step halving, ``edf =
    tr((B'WB + λD'D)^{-1} B'WB)`` and the criterion computed; the λ with the
    smallest criterion is kept.  Ages with zero exposure do not enter the
    likelihood and get the spline's value; ages where the reference rate is 0
    get rate 0 (events there raise an error).  A curve without events gets
    rate 0 and NaN coefficients.
    """
    if method not in METHODS:
        raise SmoothingError(f"unknown method {method!r}; expected one of {METHODS}")
    if link not in LINKS:
        raise SmoothingError(f"unknown link {link!r}; expected 'log' or 'logit'")
    if criterion not in CRITERIA:
        raise SmoothingError(f"unknown criterion {criterion!r}; expected one of {tuple(CRITERIA)}")
    _check_inputs(events, exposure, dim, link, method)
    events = events.astype(float)
    exposure = exposure.astype(float)
    x = np.array(events[dim].values, dtype=float)
    glm = method in _GLM_METHODS
    attrs = {"method": method, "link": link if glm else "log",
             "likelihood": "binomial" if (link == "logit" and glm) else "poisson"}
    if glm:
        reft, ref_attrs = _reference(events, exposure, reference, reference_dims, method=method, dim=dim, link=link)
        X, P, lam, basis_dim, basis_attrs = _design(x, method=method, n_segments=n_segments, degree=degree,
                                                     penalty_order=penalty_order, lambdas=lambdas)
        out = _fit_glm(events, exposure, reft, X=X, P=P, lam=lam, basis_dim=basis_dim, method=method, dim=dim,
                       link=link, criterion=criterion, max_iter=max_iter, tol=tol, patience=patience)
        out["observed_events"] = events.where(exposure > 0, 0.0).sum(dim)
        attrs.update(ref_attrs, **basis_attrs, criterion=criterion if method != "brass" else "none")
    else:
        out, model_attrs = _fit_parametric(events, exposure, method=method, dim=dim, x=x,
                                           n_parameters=n_parameters, start=start, fit_ages=fit_ages,
                                           max_iter=max_iter, tol=tol)
        attrs.update(model_attrs)
    rate = out["rate"]
    out["rate"] = rate.transpose(*[d for d in events.dims if d in rate.dims],
                                 *[d for d in rate.dims if d not in events.dims])
    with np.errstate(divide="ignore", invalid="ignore"):
        out["observed_rate"] = events / exposure.where(exposure > 0)
    out["rate"].attrs = {"units": "events per unit of exposure" if attrs["likelihood"] == "poisson"
                         else "probability", "description": f"smoothed ({method})"}
    out["observed_rate"].attrs = {"description": "events / exposure (NaN where the exposure is 0)"}
    out["deviance"].attrs = {"description": f"{attrs['likelihood']} deviance of the fit"}
    out["edf"].attrs = {"description": "effective degrees of freedom"}
    order = ["rate", "parameters", "standard_errors", "coefficients", "smoothing_parameter", "criterion", "edf",
             "observed_rate", "deviance", "fitted_events", "observed_events", "n_iter", "converged"]
    return xr.Dataset({k: out[k] for k in order if k in out}, attrs=attrs)


def _reference(events, exposure, reference, reference_dims, *, method, dim, link):
    """The reference on the link scale (0 for the P-spline) and its attrs; checks events against it."""
    if method == "pspline":
        return xr.zeros_like(events[dim], dtype=float), {}
    if reference is None:
        rd = [d for d in reference_dims if d in events.dims]
        if not rd:
            raise SmoothingError(
                f"method={method!r} needs a reference curve: pass reference=..., or give events a dim "
                f"among reference_dims={tuple(reference_dims)} to pool into one")
        tot = exposure.sum(rd)
        reference = events.sum(rd) / tot.where(tot > 0)
        note = f"pooled over {rd}: sum(events) / sum(exposure)"
    else:
        if not isinstance(reference, xr.DataArray) or dim not in reference.dims:
            raise SmoothingError(f"reference must be a DataArray with dim {dim!r}")
        note = "user-supplied"
        if not is_dask(reference) and not is_dask(exposure):
            x_b, r_b = xr.broadcast(exposure, reference)
            rv = r_b.transpose(*x_b.dims).values
            with np.errstate(invalid="ignore"):
                bad = (x_b.values > 0) & ~(np.isfinite(rv) & (rv >= 0))
            if bad.any():   # a fitted rate there would be NaN
                idx = first_cell(bad)
                raise SmoothingError(f"{format_cell('reference', x_b, idx, rv[idx])}: the reference rate must be a "
                                     "finite number >= 0 wherever the exposure is positive")
        if not is_dask(reference) and not is_dask(events):
            y_b, r_b = xr.broadcast(events, reference)
            bad = ((y_b > 0) & ~(r_b > 0)).transpose(*y_b.dims).values
            if bad.any():
                idx = first_cell(bad)
                raise SmoothingError(
                    f"{format_cell('events', y_b, idx)} but the reference rate there is "
                    f"{float(r_b.transpose(*y_b.dims).values[idx])!r}: a relational fit cannot place events "
                    "where the reference is 0 or missing")
    reft = xr.apply_ufunc(_transform, reference, kwargs={"link": link}, dask="parallelized", output_dtypes=[float])
    return reft, {"reference": note}


def _design(x, *, method, n_segments, degree, penalty_order, lambdas):
    """Design matrix, penalty, lambda grid, coefficient dim and attrs of a GLM method."""
    A = x.size
    if method == "brass":
        return (np.zeros((A, 2)), np.zeros((2, 2)), np.array([0.0]), "parameter",
                {"model": "g(rate) = alpha + beta * g(reference)"})
    nseg = int(n_segments) if n_segments is not None else max(int(np.ceil((A - 1) / 5)), 1)
    X = bspline_basis(x, n_segments=nseg, degree=degree)
    K = X.shape[1]
    if penalty_order >= K:
        raise SmoothingError(f"penalty_order={penalty_order} needs more than {K} B-splines")
    P = difference_penalty(K, penalty_order)
    lam = np.sort(np.atleast_1d(np.asarray(DEFAULT_LAMBDAS if lambdas is None else lambdas,
                                           dtype=float)))[::-1].copy()
    if (lam < 0).any():
        raise SmoothingError("lambdas must be >= 0")
    return X, P, lam, "basis", {"n_segments": nseg, "degree": degree, "penalty_order": penalty_order,
                                "n_basis": K, "lambda_grid": lam.tolist(),
                                "model": ("g(rate) = g(reference) + B(age) beta" if method == "relational"
                                          else "g(rate) = B(age) beta")}


def _fit_glm(events, exposure, reft, *, X, P, lam, basis_dim, method, dim, link, criterion, max_iter, tol,
             patience):
    """Run the penalised IRLS kernel; return the Dataset's variables."""
    fit = ndkernel(_glm_block, core_dims=[(dim,), (dim,), (dim,)] + [None] * 9,
                   outputs=[(dim,), (basis_dim,), (), (), (), (), (), (), ()],
                   dtypes=[float, float, float, float, float, float, np.int64, bool, float],
                   sizes={basis_dim: X.shape[1]})
    outs = fit(events, exposure, reft, X, P, lam, LINKS[link], CRITERIA[criterion], int(max_iter), float(tol),
               method == "brass", int(patience))
    rate, coef, dev, edf, lamo, cv, it, conv, fitted = outs
    out = {"rate": rate, "edf": edf, "deviance": dev, "fitted_events": fitted, "n_iter": it, "converged": conv}
    if method == "brass":
        out["parameters"] = coef.assign_coords(parameter=["alpha", "beta"])
        out["parameters"].attrs["description"] = "g(rate) = alpha + beta * g(reference)"
    else:
        out["coefficients"] = coef
        out["coefficients"].attrs["description"] = "B-spline coefficients on the link scale"
        out["smoothing_parameter"] = lamo
        out["smoothing_parameter"].attrs["description"] = f"lambda chosen by {criterion.upper()}"
        out["criterion"] = cv
        out["criterion"].attrs["description"] = criterion.upper()
    return out
