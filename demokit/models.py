"""Parametric age models in one registry: Kannisto, Gompertz, Makeham, Heligman–Pollard, Rogers–Castro, Brass.

``dk.Model(name, **options).fit(events, exposure)`` fits a model by maximum
likelihood to every curve along ``age`` at once (one Numba kernel,
:mod:`demokit._kernels.parametric`) and returns :class:`ModelResults`
(parameters, standard errors, covariance, deviance, fitted rates), in the
spirit of statsmodels.  ``dk.available_models()`` lists the names; see
METHODS.md §5.5.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import xarray as xr
from scipy.ndimage import uniform_filter1d

from ._apply import is_dask, ndkernel
from .cube import DemokitError, check_counts, first_cell, format_cell

__all__ = ["Model", "ModelResults", "ModelError", "available_models", "rogers_castro", "RC_PARAMETERS"]


class ModelError(DemokitError, ValueError):
    """A model, option or input that a parametric fit cannot use."""


RC_PARAMETERS = ("a1", "alpha1", "a2", "alpha2", "mu2", "lambda2",
                 "a3", "alpha3", "mu3", "lambda3", "a4", "lambda4", "c")
RC_COMPONENTS = {
    7: ("childhood", "labour", "constant"),
    9: ("childhood", "labour", "elderly", "constant"),
    11: ("childhood", "labour", "retirement", "constant"),
    13: ("childhood", "labour", "retirement", "elderly", "constant"),
}
_RC_SLOTS = {"childhood": (0, 1), "labour": (2, 3, 4, 5), "retirement": (6, 7, 8, 9),
             "elderly": (10, 11), "constant": (12,)}
#: a standard schedule (Rogers & Castro 1981, their "average" profile) for starting values
RC_START = np.array([0.02, 0.1, 0.06, 0.12, 20.0, 0.4, 0.0003, 0.6, 65.0, 0.3, 2e-5, 0.08, 0.003])
#: Heligman–Pollard starting values (of the order of a low-mortality country's; Heligman & Pollard 1980)
HP_START = np.array([5e-4, 0.01, 0.1, 1e-3, 10.0, 20.0, 5e-5, 1.1])


# ---------------------------------------------------------------------------
# starting values (numpy, all curves at once; y, e (N, A), inside (A,))
# ---------------------------------------------------------------------------

def _mean_rate(y, e, inside):
    ys = np.where(inside, y, 0.0).sum(-1)
    es = np.where(inside, e, 0.0).sum(-1)
    return np.where(es > 0, ys / np.where(es > 0, es, 1.0), 0.0)


def _loglinear(y, e, t, inside):
    """Weighted least squares of log((y + 0.5) / e) on ``t`` (weights y + 0.5): intercept, slope."""
    w = np.where(inside & (e > 0), y + 0.5, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(w > 0, np.log((y + 0.5) / np.where(e > 0, e, 1.0)), 0.0)
    sw = np.maximum(w.sum(-1), 1e-300)
    tm = (w * t).sum(-1) / sw
    zm = (w * z).sum(-1) / sw
    var = (w * (t - tm[:, None]) ** 2).sum(-1)
    b = np.where(var > 0, (w * (t - tm[:, None]) * (z - zm[:, None])).sum(-1) / np.where(var > 0, var, 1.0), 0.1)
    return zm - b * tm, b


def _start_kannisto(y, e, x, inside, x0, free):
    return np.column_stack([np.maximum(_mean_rate(y, e, inside), 1e-6) / 3.0, np.full(len(y), 0.1)])


def _start_gompertz(y, e, x, inside, x0, free):
    c, b = _loglinear(y, e, x - x0, inside)
    return np.column_stack([np.exp(c), b])


def _start_makeham(y, e, x, inside, x0, free):
    ab = _start_gompertz(y, e, x, inside, x0, free)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = uniform_filter1d(np.where(inside, y, 0.0), 5, axis=-1) / uniform_filter1d(np.where(inside, e, 0.0), 5,
                                                                                     axis=-1)
    low = np.nanmin(np.where(inside & np.isfinite(r) & (r > 0), r, np.nan), axis=-1)
    c = np.where(np.isfinite(low), 0.2 * low, 1e-4 * np.maximum(_mean_rate(y, e, inside), 1e-8))
    return np.column_stack([ab, c])


def _start_hp(y, e, x, inside, x0, free):
    return np.tile(HP_START, (len(y), 1))


def _start_rc(y, e, x, inside, x0, free):
    """The standard schedule scaled to each curve's level, the labour peak near the data's.

    With a retirement peak or an elderly upslope, the 7-parameter schedule is
    fitted first and the extra components start from what it leaves out: the
    retirement peak at the largest excess rate at ages 50–80, the upslope at
    the mean excess rate above 80.
    """
    theta0 = np.tile(RC_START, (len(y), 1))
    std = rogers_castro(x, **dict(zip(RC_PARAMETERS, RC_START)))
    yi, ei = np.where(inside, y, 0.0), np.where(inside, e, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        level = yi.sum(-1) / (ei * std).sum(-1)
    level = np.where(np.isfinite(level) & (level > 0), level, 1.0)
    rs = _moving_rate(yi, ei)
    win = (x >= 15) & (x <= 40)
    if win.any():
        theta0[:, 4] = np.clip(x[win][np.argmax(rs[:, win], axis=1)] - 3.0, 12.0, 35.0)
    theta0[:, [0, 2, 6, 10, 12]] *= level[:, None]
    if not (free[6] or free[10]):
        return theta0
    # add the components one at a time (the elderly upslope first: it can dominate the ages of the
    # retirement peak), each time refitting and starting the next from the excess over the fit
    th = theta0.copy()
    th[:, 6] = th[:, 10] = 0.0
    use = np.zeros(13, dtype=bool)
    use[[0, 1, 2, 3, 4, 5, 12]] = True
    for comp, wanted in (("elderly", free[10]), ("retirement", free[6])):
        if not wanted:
            continue
        fitted, rate = _run_fit(_REGISTRY["rogers_castro"], 0, y, e, x, np.zeros((1, x.size)), x0, inside, use,
                                th, 200, 1e-8)[:2]
        ok = np.isfinite(fitted).all(-1)
        th = np.where(ok[:, None], fitted, th)
        excess = np.where(ok[:, None], rs - rate, 0.0)
        if comp == "elderly":
            w4 = (x >= 80) & inside
            lam4 = RC_START[11]
            if w4.any():
                mean_excess = np.maximum(excess[:, w4].mean(-1), 0.0)
                th[:, 10] = np.maximum(mean_excess, 1e-3 * th[:, 12]) / np.exp(lam4 * x[w4]).mean()
                th[:, 11] = lam4
                use[[10, 11]] = True
        else:
            # exp(-a u - e^(-l u)) peaks at u = -ln(a/l)/l with height exp(-a u - a/l) (a = 0.6, l = 0.3)
            al, la = RC_START[7], RC_START[9]
            u = -np.log(al / la) / la
            height = np.exp(-al * u - al / la)
            w3 = (x >= 50) & (x <= 80) & inside
            if w3.any():
                k = np.argmax(excess[:, w3], axis=1)
                peak = np.maximum(excess[:, w3][np.arange(len(y)), k], 0.0)
                th[:, 6] = np.maximum(peak, 1e-3 * th[:, 12]) / height
                th[:, 7], th[:, 9] = al, la
                th[:, 8] = np.clip(x[w3][k] - u, 50.0, 85.0)
                use[[6, 7, 8, 9]] = True
    return np.where(free[None, :], th, 0.0)


def _moving_rate(y, e, k=5):
    """Rates of ``k``-age moving sums (0 where there is no exposure)."""
    ys = uniform_filter1d(y, k, axis=-1, mode="constant")
    es = uniform_filter1d(e, k, axis=-1, mode="constant")
    return np.where(es > 0, ys / np.where(es > 0, es, 1.0), 0.0)


def _start_brass(y, e, x, inside, x0, free):
    return np.tile([0.0, 1.0], (len(y), 1))


# ---------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Spec:
    name: str
    code: int
    parameters: tuple
    positive: tuple            # fitted on the log scale
    level: tuple               # m is linear in these (the Poisson level step scales them)
    likelihoods: tuple         # the first is the default
    formula: str
    start: Callable
    options: tuple = ()
    default_fit_ages: tuple | None = None


_REGISTRY: dict[str, _Spec] = {}


def _register(spec: _Spec) -> None:
    _REGISTRY[spec.name] = spec


_register(_Spec("kannisto", 0, ("a", "b"), (True, False), (False, False), ("poisson", "binomial"),
                "m(x) = a e^(b (x - x0)) / (1 + a e^(b (x - x0)))", _start_kannisto, ("x0",), (80.0, None)))
_register(_Spec("gompertz", 1, ("a", "b"), (True, False), (True, False), ("poisson",),
                "m(x) = a e^(b (x - x0))", _start_gompertz, ("x0",)))
_register(_Spec("makeham", 2, ("a", "b", "c"), (True, False, True), (True, False, True), ("poisson",),
                "m(x) = a e^(b (x - x0)) + c", _start_makeham, ("x0",)))
_register(_Spec("heligman_pollard", 3, tuple("ABCDEFGH"), (True,) * 8, (False,) * 8, ("binomial", "poisson"),
                "q(x) / (1 - q(x)) = A^((x + B)^C) + D e^(-E (ln x - ln F)^2) + G H^x", _start_hp))
_register(_Spec("rogers_castro", 4, RC_PARAMETERS, (True,) * 13,
                tuple(j in (0, 2, 6, 10, 12) for j in range(13)), ("poisson",),
                "m(x) = a1 e^(-alpha1 x) + a2 exp(-alpha2 (x-mu2) - e^(-lambda2 (x-mu2))) "
                "+ a3 exp(-alpha3 (x-mu3) - e^(-lambda3 (x-mu3))) + a4 e^(lambda4 x) + c", _start_rc,
                ("n_parameters",)))
_register(_Spec("brass", 5, ("alpha", "beta"), (False, False), (False, False), ("binomial", "poisson"),
                "g(m(x)) = alpha + beta g(standard(x)), g = logit (link='logit') or log (link='log')",
                _start_brass, ("standard", "link")))


def available_models() -> tuple:
    """Return the names of the parametric models that :class:`Model` knows."""
    return tuple(_REGISTRY)


# ---------------------------------------------------------------------------
# curves
# ---------------------------------------------------------------------------

def rogers_castro(age, **params) -> np.ndarray:
    """Return the Rogers–Castro model migration schedule at ``age`` for the given parameters.

    Parameters
    ----------
    age : array_like
    **params
        Any of :data:`RC_PARAMETERS`; missing amplitudes (``a1``, ``a2``, ``a3``,
        ``a4``, ``c``) are 0, i.e. the component is absent.

    Notes
    -----
    ``m(x) = a1 e^{-α1 x} + a2 exp(-α2(x-μ2) - e^{-λ2(x-μ2)})
    + a3 exp(-α3(x-μ3) - e^{-λ3(x-μ3)}) + a4 e^{λ4 x} + c``.
    """
    bad = set(params) - set(RC_PARAMETERS)
    if bad:
        raise ModelError(f"unknown Rogers–Castro parameter(s) {sorted(bad)}; expected {RC_PARAMETERS}")
    theta = np.array([float(params.get(k, 0.0)) for k in RC_PARAMETERS])
    return _evaluate(_REGISTRY["rogers_castro"], theta, age)


def _evaluate(spec, theta, age, s=None, x0=0.0):
    from ._kernels import parametric as kp

    x = np.array(np.atleast_1d(age), dtype=float)   # a writable copy: one kernel signature
    theta = np.asarray(theta, dtype=float)
    th = np.ascontiguousarray(theta.reshape(-1, theta.shape[-1]))   # every curve a row (any extra dims)
    s2 = np.zeros((1, x.size)) if s is None else np.ascontiguousarray(
        np.atleast_2d(np.asarray(s, dtype=float)).reshape(-1, x.size))
    out = np.empty((th.shape[0], x.size))
    kp.evaluate(spec.code, th, x, s2, float(x0), out)
    return out.reshape(np.shape(theta)[:-1] + np.shape(age))


# ---------------------------------------------------------------------------
# checks shared with smoothing
# ---------------------------------------------------------------------------

def check_events_exposure(events, exposure, dim, *, binomial=False, min_ages=2, error=ModelError,
                          names=("events", "exposure")):
    """Raise ``error`` unless events and exposure are DataArrays with ``dim`` that a likelihood can use.

    ``names`` are the two arrays' names in the messages (e.g. ``("deaths", "exposure")``).
    """
    ev_name, ex_name = names
    for name, da in ((ev_name, events), (ex_name, exposure)):
        if not isinstance(da, xr.DataArray):
            raise error(f"{name} must be an xarray.DataArray, got {type(da).__name__}")
        if dim not in da.dims:
            raise error(f"{name} has no dim {dim!r}; its dims are {da.dims}")
        if da.sizes[dim] < min_ages:
            raise error(f"{name} has {da.sizes[dim]} value(s) along {dim!r}: the fit needs at least {min_ages} ages")
    for d in events.dims:   # the same labels on every shared dim: alignment would drop or NaN-fill a cell
        if d not in exposure.dims or d not in events.coords or d not in exposure.coords:
            continue
        a, b = events[d].values.tolist(), exposure[d].values.tolist()
        for name, v in ((ev_name, a), (ex_name, b)):
            if d == dim and len(set(v)) != len(v):   # (repeated curves of other dims are fitted each alone)
                dup = next(x for i, x in enumerate(v) if x in v[:i])
                raise error(f"{name}: duplicated {d}={dup!r}")
        only = [v for v in a if v not in set(b)] or [v for v in b if v not in set(a)]
        if only:
            which, other = (ev_name, ex_name) if only[0] in set(a) else (ex_name, ev_name)
            raise error(f"{which} has {d}={only[0]!r}, which {other} lacks: {ev_name} and {ex_name} must have the "
                        f"same {d!r} labels")
    if is_dask(events) or is_dask(exposure):
        return  # checked inside the kernel wrapper, without computing here
    check_counts(events, ev_name, max_count=np.inf)      # any scale: rates may be fitted to synthetic totals
    check_counts(exposure, ex_name, max_count=np.inf)
    y, e = xr.broadcast(events, exposure)
    yv, ev = y.values, e.transpose(*y.dims).values
    bad = (yv > 0) & (ev <= 0)
    if bad.any():
        idx = first_cell(bad)
        raise error(f"{format_cell(ev_name, y, idx)} but {ex_name} is 0 there: events need a positive exposure")
    if binomial:
        bad = yv > ev
        if bad.any():
            idx = first_cell(bad)
            raise error(f"{format_cell(ev_name, y, idx)} exceeds the number at risk {float(ev[idx])!r}: "
                        "a binomial likelihood needs events <= exposure")


# ---------------------------------------------------------------------------
# Model and results
# ---------------------------------------------------------------------------

def _run_fit(spec, lik, y2, e2, x, s2, x0, inside, free, theta0, max_iter, tol):
    """Call the fit kernel on (N, A) arrays; return theta, rate, deviance, covariance, iterations, converged."""
    from ._kernels import parametric as kp

    N, A = y2.shape
    P = len(spec.parameters)
    theta = np.empty((N, P))
    rate = np.empty((N, A))
    dev = np.empty(N)
    cov = np.empty((N, P, P))
    it = np.empty(N, dtype=np.int64)
    conv = np.empty(N, dtype=np.bool_)
    kp.fit(spec.code, lik, y2, e2, x, s2, x0, inside, free, np.asarray(spec.positive), np.asarray(spec.level),
           np.ascontiguousarray(theta0, dtype=np.float64), max_iter, tol, theta, rate, dev, cov, it, conv)
    return theta, rate, dev, cov, it, conv


def _fit_block(y, e, s, spec, lik, x, x0, inside, free, theta0, max_iter, tol,
               rate, theta, dev, cov, it, conv, fitted):
    """Kernel block for :class:`~demokit._apply.ndkernel`: (n, A) inputs, outputs filled in place."""
    from ._kernels import parametric as kp

    if not (np.isfinite(y).all() and np.isfinite(e).all()) or (y < 0).any() or (e < 0).any():
        raise ModelError("events and exposure must be finite and >= 0")
    th0 = spec.start(y, e, x, inside, x0, free) if theta0 is None else np.tile(theta0, (len(y), 1))
    th0 = np.ascontiguousarray(np.where(free[None, :], th0, 0.0))   # absent components: amplitude 0
    kp.fit(spec.code, lik, y, e, x, s, x0, inside, free, np.asarray(spec.positive), np.asarray(spec.level), th0,
           max_iter, tol, theta, rate, dev, cov, it, conv)
    np.sum(np.where(inside & (e > 0), rate * e, 0.0), axis=-1, out=fitted)


@dataclass
class ModelResults:
    """The fit of a :class:`Model`: per curve (every combination of the dims other than age).

    Attributes
    ----------
    model : Model
    params, bse : xarray.DataArray
        Estimates and standard errors (dim ``parameter``).
    cov_params : xarray.DataArray
        Covariance of the estimates (dims ``parameter``, ``parameter_j``):
        the inverse Fisher information at the estimate.
    fitted : xarray.DataArray
        The fitted curve (rate or risk) at every age.
    deviance, fitted_events, observed_events, df_resid : xarray.DataArray
        Per curve, over the ages in the fit.
    n_iter, converged : xarray.DataArray
    """

    model: "Model"
    params: xr.DataArray
    bse: xr.DataArray
    cov_params: xr.DataArray
    fitted: xr.DataArray
    deviance: xr.DataArray
    fitted_events: xr.DataArray
    observed_events: xr.DataArray
    df_resid: xr.DataArray
    n_iter: xr.DataArray
    converged: xr.DataArray
    attrs: dict = field(default_factory=dict)

    def predict(self, age) -> xr.DataArray:
        """Return the fitted curve at ``age`` (any ages; Brass only at the standard's ages)."""
        return self.model.curve(age, self.params, x0=self.attrs.get("x0"))

    def to_dataset(self) -> xr.Dataset:
        """Return the results as one Dataset (``rate`` = the fitted curve)."""
        ds = xr.Dataset({"rate": self.fitted, "parameters": self.params, "bse": self.bse,
                         "cov_params": self.cov_params, "deviance": self.deviance,
                         "fitted_events": self.fitted_events, "observed_events": self.observed_events,
                         "df_resid": self.df_resid, "n_iter": self.n_iter, "converged": self.converged})
        ds.attrs = dict(self.attrs)
        return ds


class Model:
    """A parametric age model from the registry, fitted by maximum likelihood.

    Parameters
    ----------
    name : str
        One of :func:`available_models`: ``"kannisto"``, ``"gompertz"``,
        ``"makeham"``, ``"heligman_pollard"``, ``"rogers_castro"``, ``"brass"``.
    likelihood : {"poisson", "binomial"}, optional
        Poisson (events with person-years, ``m`` a rate) or binomial (events
        out of a number at risk, ``m`` a risk).  Default: binomial for
        Heligman–Pollard and Brass-logit, else Poisson.
    fit_ages : (lo, hi), optional
        Ages that enter the likelihood (default: all; Kannisto ``(80, last)``).
    x0 : float, optional
        Centring age of Kannisto (default: the first fit age), Gompertz and
        Makeham (default 0): ``a`` is the level at ``x0``.
    n_parameters : {7, 9, 11, 13}
        Rogers–Castro: 7 = childhood, labour peak, constant; 9 adds the
        elderly upslope (a4, λ4); 11 the retirement peak (a3, α3, μ3, λ3)
        instead; 13 both.
    standard : xarray.DataArray
        Brass: the standard rates or risks along the age dim.
    link : {"logit", "log"}
        Brass: the transformation of the standard (``"logit"`` default).
    start : dict or sequence, optional
        Starting values by parameter name (all of them for a sequence);
        default from the data (see METHODS.md §5.5.1).
    max_iter, tol : int, float
        Iteration limit and convergence tolerance.

    Notes
    -----
    Every curve is fitted by maximising ``Σ y log μ − μ`` (Poisson,
    ``μ = E m(x; θ)``) or ``Σ y log m + (E − y) log(1 − m)`` (binomial) over
    θ with Fisher scoring and Levenberg–Marquardt damping (on log θ for the
    positive parameters); ``cov = I(θ̂)^{-1}``, ``I = Σ_x w_x ∇m ∇m'`` with
    ``w = E/m`` (Poisson) or ``E/(m(1−m))`` (binomial); ``bse = √diag(cov)``.
    Poisson models with a level parameter (Gompertz, Makeham, Rogers–Castro)
    end with the exact ML step of their level, so Σ fitted = Σ observed events.
    """

    def __init__(self, name: str, *, likelihood: str | None = None, fit_ages=None, x0: float | None = None,
                 n_parameters: int = 7, standard: xr.DataArray | None = None, link: str = "logit", start=None,
                 max_iter: int = 200, tol: float = 1e-10):
        if name not in _REGISTRY:
            raise ModelError(f"unknown model {name!r}; expected one of {available_models()}")
        spec = _REGISTRY[name]
        self.name = name
        if name == "brass":
            if link not in ("logit", "log"):
                raise ModelError(f"unknown link {link!r} for the Brass model; expected 'logit' or 'log'")
            if standard is None or not isinstance(standard, xr.DataArray):
                raise ModelError("the Brass model needs standard=, a DataArray of rates or risks along age")
            spec = _Spec(**{**spec.__dict__, "code": 5 if link == "logit" else 6,
                            "likelihoods": ("binomial", "poisson") if link == "logit" else ("poisson",)})
        self._spec = spec
        self.parameters = spec.parameters
        self.link = link if name == "brass" else None
        self.standard = standard
        lik = spec.likelihoods[0] if likelihood is None else likelihood
        if lik not in spec.likelihoods:
            raise ModelError(f"likelihood={likelihood!r} is not available for {name!r}; expected one of "
                             f"{spec.likelihoods}")
        self.likelihood = lik
        free = np.ones(len(spec.parameters), dtype=bool)
        if name == "rogers_castro":
            if n_parameters not in RC_COMPONENTS:
                raise ModelError(f"n_parameters must be one of {tuple(RC_COMPONENTS)}, got {n_parameters!r}")
            free[:] = False
            for comp in RC_COMPONENTS[n_parameters]:
                free[list(_RC_SLOTS[comp])] = True
            self.parameters = tuple(p for p, f in zip(RC_PARAMETERS, free) if f)
        self.n_parameters = int(free.sum())
        self._free = free
        self.fit_ages = None if fit_ages is None else (float(fit_ages[0]), float(fit_ages[1]))
        if x0 is not None and "x0" not in spec.options:
            raise ModelError(f"x0 is not an option of {name!r}")
        self.x0 = x0
        self.start = self._start_vector(start)
        self.max_iter, self.tol = int(max_iter), float(tol)

    def __repr__(self):
        return f"Model({self.name!r}, parameters={self.parameters})"

    def _start_vector(self, start):
        if start is None:
            return None
        P = len(self._spec.parameters)
        if isinstance(start, dict):
            bad = set(start) - set(self.parameters)
            if bad:
                raise ModelError(f"start names unknown parameter(s) {sorted(bad)}; {self.name!r} has "
                                 f"{self.parameters}")
            missing = set(self.parameters) - set(start)
            if missing:
                raise ModelError(f"start lacks {sorted(missing)}")
            vals = dict(start)
        else:
            v = np.asarray(start, dtype=float).ravel()
            if v.size == P:
                return v
            if v.size != len(self.parameters):
                raise ModelError(f"start must have {len(self.parameters)} values in the order {self.parameters}")
            vals = dict(zip(self.parameters, v))
        return np.array([float(vals.get(p, 0.0)) for p in self._spec.parameters])

    def _ages(self, x):
        lo, hi = self.fit_ages if self.fit_ages is not None else (self._spec.default_fit_ages or (None, None))
        lo = float(x.min()) if lo is None else lo
        hi = float(x.max()) if hi is None else hi
        inside = (x >= lo) & (x <= hi)
        if inside.sum() < self.n_parameters:
            raise ModelError(f"fit_ages=({lo:g}, {hi:g}) covers {int(inside.sum())} ages, fewer than the "
                             f"{self.n_parameters} parameters of {self.name!r}")
        x0 = self.x0 if self.x0 is not None else (lo if self.name == "kannisto" else 0.0)
        return inside, lo, hi, float(x0)

    def _transformed_standard(self, dim):
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.link == "logit":
                return np.log(self.standard) - np.log1p(-self.standard)
            return np.log(self.standard)

    def curve(self, age, params, *, x0: float | None = None) -> xr.DataArray:
        """Return the model's curve at ``age`` for ``params`` (a DataArray with dim ``parameter``, or a dict).

        ``x0``: the centring age (default: the model's, see the class).
        """
        if isinstance(params, dict):
            params = xr.DataArray([float(params[p]) for p in self.parameters], dims="parameter",
                                  coords={"parameter": list(self.parameters)})
        age = xr.DataArray(np.asarray(age, dtype=float), dims="age") if not isinstance(age, xr.DataArray) else age
        dim = age.dims[0]
        full = params.reindex(parameter=list(self._spec.parameters), fill_value=0.0)
        x = np.array(age.values, dtype=float)
        s = np.zeros(x.size)
        if self.name == "brass":
            s = self._transformed_standard(dim)
            s = s.sel({dim: age.values}) if dim in s.dims else s
        if x0 is None:
            lo = self.fit_ages[0] if self.fit_ages is not None else (self._spec.default_fit_ages or (0.0,))[0]
            x0 = self.x0 if self.x0 is not None else (lo if self.name == "kannisto" else 0.0)
        spec = self._spec
        if isinstance(s, xr.DataArray):
            out = xr.apply_ufunc(lambda th, ss: _evaluate(spec, th, x, ss, x0), full, s,
                                 input_core_dims=[["parameter"], [dim]], output_core_dims=[[dim]])
        else:
            out = xr.apply_ufunc(lambda th: _evaluate(spec, th, x, None, x0), full,
                                 input_core_dims=[["parameter"]], output_core_dims=[[dim]])
        return out.assign_coords({dim: age.values})

    def fit(self, events: xr.DataArray, exposure: xr.DataArray, *, dim: str = "age") -> ModelResults:
        """Fit the model to every curve of ``events`` and ``exposure`` along ``dim``.

        Parameters
        ----------
        events, exposure : xarray.DataArray
            Counts along ``dim`` (broadcast against each other); with the
            binomial likelihood ``exposure`` is the number at risk.
        dim : str
            The age dim.

        Returns
        -------
        ModelResults

        Raises
        ------
        ModelError
            Events where the exposure is 0, events above the number at risk
            (binomial), NaN or negative counts (naming the cell).
        """
        check_events_exposure(events, exposure, dim, binomial=self.likelihood == "binomial",
                              min_ages=self.n_parameters)
        events = events.astype(float)
        exposure = exposure.astype(float)
        x = np.array(events[dim].values, dtype=float)   # a writable copy: one kernel signature
        inside, lo, hi, x0 = self._ages(x)
        if self.name == "brass":
            if dim not in self.standard.dims:
                raise ModelError(f"standard has no dim {dim!r}; its dims are {self.standard.dims}")
            s = self._transformed_standard(dim).reindex({dim: events[dim].values})
            if not is_dask(s) and not is_dask(events):
                y_b, s_b = xr.broadcast(events, s)
                bad = ((y_b > 0) & (s_b.isnull() | (s_b == -np.inf))).transpose(*y_b.dims).values
                if bad.any():
                    idx = first_cell(bad)
                    raise ModelError(f"{format_cell('events', y_b, idx)} but the standard there is 0 or missing")
        else:
            s = xr.DataArray(np.zeros(x.size), dims=dim, coords={dim: events[dim].values})
        P = len(self._spec.parameters)
        fit = ndkernel(_fit_block, core_dims=[(dim,), (dim,), (dim,)] + [None] * 9,
                       outputs=[(dim,), ("parameter",), (), ("parameter", "parameter_j"), (), (), ()],
                       dtypes=[float, float, float, float, np.int64, bool, float],
                       sizes={"parameter": P, "parameter_j": P})
        outs = fit(events, exposure, s, self._spec, 0 if self.likelihood == "poisson" else 1, x, x0, inside,
                   self._free, self.start, self.max_iter, self.tol)
        rate, par, dev, cov, it, conv, fitted = outs
        names = list(self._spec.parameters)
        keep = np.flatnonzero(self._free)
        par = par.assign_coords(parameter=names).isel(parameter=keep)
        cov = cov.assign_coords(parameter=names, parameter_j=names).isel(parameter=keep, parameter_j=keep)
        bse = xr.apply_ufunc(lambda c: np.sqrt(np.diagonal(c, axis1=-2, axis2=-1)), cov,
                             input_core_dims=[["parameter", "parameter_j"]], output_core_dims=[["parameter"]],
                             dask="parallelized", output_dtypes=[float]).assign_coords(parameter=par.parameter)
        inside_da = xr.DataArray(inside, dims=dim, coords={dim: events[dim].values})
        observed = events.where((exposure > 0) & inside_da, 0.0).sum(dim)
        n_obs = ((exposure > 0) & inside_da).sum(dim)
        rate = rate.transpose(*[d for d in events.dims if d in rate.dims],
                              *[d for d in rate.dims if d not in events.dims])
        attrs = {"model": self.name, "formula": self._spec.formula, "likelihood": self.likelihood,
                 "fit_ages": [lo, hi], "parameters": ", ".join(self.parameters)}
        if self._spec.options and "x0" in self._spec.options:
            attrs["x0"] = x0
        if self.name == "rogers_castro":
            attrs["components"] = ", ".join(RC_COMPONENTS[len(self.parameters)])
        if self.name == "brass":
            attrs["link"] = self.link
        rate.attrs = {"description": f"fitted {self.name} curve",
                      "units": "probability" if self.likelihood == "binomial" else "events per unit of exposure"}
        return ModelResults(model=self, params=par, bse=bse, cov_params=cov, fitted=rate, deviance=dev,
                            fitted_events=fitted, observed_events=observed, df_resid=n_obs - self.n_parameters,
                            n_iter=it, converged=conv, attrs=attrs)
