"""Tests of dk.Model: the parametric models of the registry.

Oracles: curves written here in plain numpy (not the kernel), recovery of known
parameters from simulated counts with a huge exposure, standard errors against a
finite-difference Hessian of the log-likelihood, and fits by scipy.optimize (the
Poisson or binomial deviance minimised with another algorithm from other starting
values) on real data: HMD Sweden 2014 deaths and SCB out-migration of five
Norrbotten municipalities.
"""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings, strategies as st
from scipy.optimize import minimize

import demokit as dk
from demokit.models import Model, ModelError, available_models
from demokit.smoothing import SmoothingError

AGE = np.arange(101.0)


def _da(v, age=AGE):
    return xr.DataArray(np.asarray(v, dtype=float), dims="age", coords={"age": age})


# ---------------------------------------------------------------------------
# the models' curves, written independently of the kernel
# ---------------------------------------------------------------------------

def np_kannisto(x, a, b, x0):
    z = a * np.exp(b * (x - x0))
    return z / (1 + z)


def np_gompertz(x, a, b, x0=0.0):
    return a * np.exp(b * (x - x0))


def np_makeham(x, a, b, c, x0=0.0):
    return a * np.exp(b * (x - x0)) + c


def np_hp(x, A, B, C, D, E, F, G, H):
    with np.errstate(divide="ignore"):
        hump = np.where(x > 0, D * np.exp(-E * (np.log(np.where(x > 0, x, 1.0)) - np.log(F)) ** 2), 0.0)
    S = A ** ((x + B) ** C) + hump + G * H ** x
    return S / (1 + S)


def np_rc(x, a1=0, alpha1=0, a2=0, alpha2=0, mu2=0, lambda2=0, a3=0, alpha3=0, mu3=0, lambda3=0, a4=0,
          lambda4=0, c=0):
    return (a1 * np.exp(-alpha1 * x) + a2 * np.exp(-alpha2 * (x - mu2) - np.exp(-lambda2 * (x - mu2)))
            + a3 * np.exp(-alpha3 * (x - mu3) - np.exp(-lambda3 * (x - mu3))) + a4 * np.exp(lambda4 * x) + c)


STD_Q = np_hp(AGE, 5e-4, 0.01, 0.1, 1e-3, 10.0, 20.0, 5e-5, 1.1)
HP_TRUE = dict(A=6e-4, B=0.02, C=0.12, D=8e-4, E=12.0, F=22.0, G=4e-5, H=1.1)
RC7 = dict(a1=0.02, alpha1=0.1, a2=0.06, alpha2=0.12, mu2=21.0, lambda2=0.45, c=0.003)
RC_RET = dict(a3=3e-3, alpha3=0.7, mu3=64.0, lambda3=0.35)
RC_OLD = dict(a4=3e-5, lambda4=0.07)

# name, options, true parameters, numpy curve, likelihood
CASES = {
    "kannisto": ({"fit_ages": (60, 100)}, dict(a=0.05, b=0.11), lambda p: np_kannisto(AGE, x0=60.0, **p)),
    "gompertz": ({"fit_ages": (30, 100), "x0": 30}, dict(a=3e-4, b=0.095),
                 lambda p: np_gompertz(AGE, x0=30.0, **p)),
    "makeham": ({}, dict(a=5e-5, b=0.095, c=4e-4), lambda p: np_makeham(AGE, **p)),
    "heligman_pollard": ({}, HP_TRUE, lambda p: np_hp(AGE, **p)),
    "rogers_castro_7": ({"n_parameters": 7}, RC7, lambda p: np_rc(AGE, **p)),
    "rogers_castro_9": ({"n_parameters": 9}, {**RC7, **RC_OLD}, lambda p: np_rc(AGE, **p)),
    "rogers_castro_11": ({"n_parameters": 11}, {**RC7, **RC_RET}, lambda p: np_rc(AGE, **p)),
    "rogers_castro_13": ({"n_parameters": 13}, {**RC7, **RC_RET, **RC_OLD}, lambda p: np_rc(AGE, **p)),
    "brass_logit": ({"standard": _da(STD_Q)}, dict(alpha=0.2, beta=0.9),
                    lambda p: 1 / (1 + np.exp(-(p["alpha"] + p["beta"] * np.log(STD_Q / (1 - STD_Q)))))),
    "brass_log": ({"standard": _da(STD_Q), "link": "log"}, dict(alpha=-0.3, beta=1.1),
                  lambda p: np.exp(p["alpha"] + p["beta"] * np.log(STD_Q))),
}


def _model(case):
    opts, _, _ = CASES[case]
    return Model(case.split("_")[0] if case.startswith("brass") else case.rsplit("_", 1)[0]
                 if case.startswith("rogers") else case, **opts)


@pytest.mark.parametrize("case", list(CASES))
def test_recovers_known_parameters_from_simulated_counts(case):
    """Counts drawn with known parameters and ~1e10 person-years per age: the estimate is the truth."""
    _, truth, f = CASES[case]
    model = _model(case)
    m = f(truth)
    rng = np.random.default_rng(11)
    e = np.full((2, AGE.size), 1e10)
    binom = model.likelihood == "binomial"
    y = rng.binomial(e.astype(np.int64), np.broadcast_to(m, e.shape)) if binom else rng.poisson(e * m)
    Y = xr.DataArray(y.astype(float), dims=("region", "age"), coords={"age": AGE})
    res = model.fit(Y, Y.copy(data=e))
    assert sorted(res.params.parameter.values) == sorted(truth)
    assert bool(res.converged.all())
    for k, v in truth.items():
        est = res.params.sel(parameter=k).values
        se = res.bse.sel(parameter=k).values
        np.testing.assert_allclose(est, v, rtol=1e-2, err_msg=k)
        # and within 5 standard errors: the standard errors are of the right size
        assert (np.abs(est - v) < 5 * se).all(), (k, est, v, se)
    np.testing.assert_allclose(res.fitted.values, np.broadcast_to(m, e.shape), rtol=2e-3)
    # the deviance of a correct model is about its residual degrees of freedom
    assert (res.deviance.values < 3 * (res.df_resid.values + 10)).all()


@pytest.mark.parametrize("case", ["makeham", "kannisto", "rogers_castro_7"])
def test_standard_errors_match_a_finite_difference_hessian(case):
    """bse = sqrt(diag(-H^-1)), H the Hessian of the log-likelihood by central differences (numpy)."""
    _, truth, f = CASES[case]
    model = _model(case)
    rng = np.random.default_rng(3)
    e = np.full(AGE.size, 1e6)
    y = rng.poisson(e * f(truth)).astype(float)
    res = model.fit(_da(y), _da(e))
    th = res.params.values
    inside = np.zeros(AGE.size, bool)
    lo, hi = res.attrs["fit_ages"]
    inside[(AGE >= lo) & (AGE <= hi)] = True

    def ll(t):
        mu = e * f(dict(zip(truth, t)))
        return float(np.sum((y * np.log(mu) - mu)[inside]))

    k = th.size
    h = 1e-4 * np.abs(th)
    H = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            H[i, j] = (ll(th + ei + ej) - ll(th + ei - ej) - ll(th - ei + ej) + ll(th - ei - ej)) / (4 * h[i] * h[j])
    se = np.sqrt(np.diag(np.linalg.inv(-H)))
    # observed (Hessian) and expected (Fisher) information agree at the MLE up to noise ~ 1/sqrt(n)
    np.testing.assert_allclose(res.bse.values, se, rtol=0.05)


def test_poisson_models_with_a_level_fit_the_total_exactly():
    rng = np.random.default_rng(5)
    for case in ("gompertz", "makeham", "rogers_castro_9"):
        _, truth, f = CASES[case]
        e = np.full(AGE.size, 5e4)
        y = rng.poisson(e * f(truth)).astype(float)
        res = _model(case).fit(_da(y), _da(e))
        assert res.fitted_events.item() == pytest.approx(res.observed_events.item(), rel=1e-10), case


def test_no_events_gives_nan_parameters_and_zero_rate():
    e = np.full((2, AGE.size), 1000.0)
    y = np.zeros_like(e)
    y[1] = np.round(e[1] * np_gompertz(AGE, 1e-4, 0.09))
    Y = xr.DataArray(y, dims=("region", "age"), coords={"age": AGE})
    res = Model("gompertz").fit(Y, Y.copy(data=e))
    assert np.isnan(res.params.values[0]).all() and np.isfinite(res.params.values[1]).all()
    assert (res.fitted.values[0] == 0).all()
    assert not bool(res.converged[0])


def test_predict_and_curve_and_dataset():
    res = Model("makeham").fit(_da(np.round(1e6 * np_makeham(AGE, 5e-5, 0.095, 4e-4))), _da(np.full(101, 1e6)))
    ages = np.arange(0, 111.0)
    p = dict(zip(res.params.parameter.values, res.params.values))
    np.testing.assert_allclose(res.predict(ages).values, np_makeham(ages, **p), rtol=1e-12)
    ds = res.to_dataset()
    assert set(ds.data_vars) >= {"rate", "parameters", "bse", "cov_params", "deviance"}
    assert ds.attrs["model"] == "makeham"
    np.testing.assert_allclose(dk.Model("rogers_castro", n_parameters=7).curve(AGE, RC7).values, np_rc(AGE, **RC7),
                               rtol=1e-12)
    from demokit.smoothing import rogers_castro   # the old home still works
    np.testing.assert_allclose(rogers_castro(AGE, **RC7), np_rc(AGE, **RC7), rtol=1e-12)


def test_registry_names():
    assert set(available_models()) == {"kannisto", "gompertz", "makeham", "heligman_pollard", "rogers_castro",
                                       "brass"}
    assert Model("heligman_pollard").parameters == tuple("ABCDEFGH")
    assert Model("rogers_castro", n_parameters=11).parameters == (
        "a1", "alpha1", "a2", "alpha2", "mu2", "lambda2", "a3", "alpha3", "mu3", "lambda3", "c")


def test_errors_name_the_problem():
    e = _da(np.full(101, 10.0))
    y = _da(np.ones(101))
    with pytest.raises(ModelError, match="unknown model 'weibull'"):
        Model("weibull")
    with pytest.raises(ModelError, match="likelihood='binomial' is not available for 'gompertz'"):
        Model("gompertz", likelihood="binomial")
    with pytest.raises(ModelError, match="needs standard="):
        Model("brass")
    with pytest.raises(ModelError, match="n_parameters"):
        Model("rogers_castro", n_parameters=8)
    with pytest.raises(ModelError, match="start lacks"):
        Model("gompertz", start={"a": 1e-4})
    e0 = e.copy()
    e0[3] = 0
    with pytest.raises(ModelError, match=r"events\[age=3(\.0)?\] = 1.0 but exposure is 0"):
        Model("gompertz").fit(y, e0)
    with pytest.raises(ModelError, match="exceeds the number at risk"):
        Model("heligman_pollard").fit(y * 20, e)
    with pytest.raises(ModelError, match=r"fit_ages=\(99, 100\) covers 2 ages, fewer than the 3"):
        Model("makeham", fit_ages=(99, 100)).fit(y, e)
    assert issubclass(SmoothingError, ModelError)


# ---------------------------------------------------------------------------
# smooth() uses the registry; Brass agrees with the relational GLM
# ---------------------------------------------------------------------------

def test_smooth_makeham_is_the_registry_model():
    rng = np.random.default_rng(2)
    e = np.full(AGE.size, 1e5)
    y = rng.poisson(e * np_makeham(AGE, 5e-5, 0.095, 4e-4)).astype(float)
    sm = dk.smooth(events=_da(y), exposure=_da(e), method="makeham")
    res = Model("makeham", max_iter=100, tol=1e-9).fit(_da(y), _da(e))
    xr.testing.assert_allclose(sm.parameters, res.params)
    np.testing.assert_allclose(sm.rate.values, res.fitted.values)
    assert sm.attrs["likelihood"] == "poisson" and sm.attrs["n_parameters"] == 3


@pytest.mark.parametrize("case", ["kannisto", "gompertz", "heligman_pollard", "rogers_castro_11"])
def test_smooth_fits_each_registry_model(case):
    opts, truth, f = CASES[case]
    model = _model(case)
    rng = np.random.default_rng(6)
    e = np.full(AGE.size, 1e6)
    y = (rng.binomial(e.astype(np.int64), f(truth)) if model.likelihood == "binomial"
         else rng.poisson(e * f(truth))).astype(float)
    kw = {k: v for k, v in opts.items() if k in ("fit_ages", "n_parameters")}
    sm = dk.smooth(events=_da(y), exposure=_da(e), method=model.name, **kw)
    res = Model(model.name, max_iter=100, tol=1e-9, **kw).fit(_da(y), _da(e))
    np.testing.assert_allclose(sm.parameters.values, res.params.values, rtol=1e-12)
    assert sm.attrs["likelihood"] == model.likelihood


@pytest.mark.slow   # compiles the penalised-GLM kernel too (~15 s cold)
def test_brass_model_equals_smooth_brass_glm():
    """Model('brass', link=...) (nonlinear fitter) and smooth(method='brass') (the GLM kernel) agree."""
    rng = np.random.default_rng(4)
    n = np.full(AGE.size, 2e4)
    q = 1 / (1 + np.exp(-(0.3 + 1.1 * np.log(STD_Q / (1 - STD_Q)))))
    y = rng.binomial(n.astype(int), q).astype(float)
    ref = _da(STD_Q)
    glm = dk.smooth(events=_da(y), exposure=_da(n), method="brass", reference=ref, link="logit")
    res = Model("brass", standard=ref).fit(_da(y), _da(n))
    np.testing.assert_allclose(res.params.values, glm.parameters.values, rtol=1e-6)
    np.testing.assert_allclose(res.deviance.item(), glm.deviance.item(), rtol=1e-8)
    glm = dk.smooth(events=_da(y), exposure=_da(n), method="brass", reference=ref, link="log")
    res = Model("brass", standard=ref, link="log").fit(_da(y), _da(n))
    np.testing.assert_allclose(res.params.values, glm.parameters.values, rtol=1e-6)


# ---------------------------------------------------------------------------
# real data against scipy.optimize
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sweden_2014():
    ds = dk.datasets.load("hmd_sweden").sel(year=2014, sex="female")
    return ds.deaths, ds.exposure


def _scipy_fit(f, x0, y, e, binomial=False, bfgs=True):
    """Minimise the Poisson (binomial) deviance over log-parameters with scipy: BFGS, then Nelder-Mead."""
    def dev(logt):
        m = f(np.exp(logt))
        if binomial:
            m = np.clip(m, 1e-300, 1 - 1e-16)
            with np.errstate(divide="ignore", invalid="ignore"):
                t1 = np.where(y > 0, y * np.log(y / (e * m)), 0.0)
                t2 = np.where(e - y > 0, (e - y) * np.log((e - y) / (e - e * m)), 0.0)
            return 2 * float(np.sum(t1 + t2))
        mu = e * m
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2 * float(np.sum(np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu)))

    start = np.log(x0)
    if bfgs:
        start = minimize(dev, start, method="BFGS", options={"gtol": 1e-10, "maxiter": 5000}).x
    r = minimize(dev, start, method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-12, "maxiter": 40000,
                                                        "maxfev": 40000})
    return np.exp(r.x), r.fun


@pytest.mark.parametrize("name,opts,f,x0", [
    ("gompertz", {"fit_ages": (40, 95), "x0": 40}, lambda t, x: np_gompertz(x, *t, x0=40.0), [1e-3, 0.1]),
    ("makeham", {"fit_ages": (20, 95), "x0": 20}, lambda t, x: np_makeham(x, *t, x0=20.0), [1e-4, 0.1, 1e-4]),
    ("kannisto", {"fit_ages": (80, 110)}, lambda t, x: np_kannisto(x, *t, x0=80.0), [0.1, 0.1]),
])
def test_agrees_with_scipy_on_hmd_sweden_2014(sweden_2014, name, opts, f, x0):
    D, E = sweden_2014
    res = Model(name, **opts).fit(D, E)
    lo, hi = opts["fit_ages"]
    sel = (D.age >= lo) & (D.age <= hi)
    x = D.age.values[sel].astype(float)
    th, dev = _scipy_fit(lambda t: f(t, x), x0, D.values[sel], E.values[sel])
    assert res.deviance.item() <= dev * (1 + 1e-9) + 1e-9   # demokit's optimum is at least as good
    np.testing.assert_allclose(res.params.values, th, rtol=1e-5)
    np.testing.assert_allclose(res.deviance.item(), dev, rtol=1e-7)


@pytest.mark.slow
def test_heligman_pollard_agrees_with_scipy_on_hmd_sweden_1990_males():
    """Binomial HP fit of q(x) (deaths out of exposure + deaths/2 at risk), ages 0-100.

    (1990 males have a clear accident hump; for 2014 females the hump term is degenerate
    and the likelihood surface a flat ridge on which any optimiser stops early.)
    """
    ds = dk.datasets.load("hmd_sweden").sel(year=1990, sex="male", age=slice(0, 100))
    D, N = ds.deaths, ds.exposure + ds.deaths / 2
    res = Model("heligman_pollard").fit(D, N)
    assert bool(res.converged)
    x = D.age.values.astype(float)
    # (BFGS from a few per cent off wanders off on this flat surface: Nelder-Mead alone, 1 % off)
    th, dev = _scipy_fit(lambda t: np_hp(x, *t), res.params.values * 1.01, D.values, N.values, binomial=True,
                         bfgs=False)
    assert res.deviance.item() <= dev * (1 + 1e-9)
    np.testing.assert_allclose(res.params.values, th, rtol=1e-3)


@pytest.mark.slow
def test_rogers_castro_agrees_with_scipy_on_norrbotten_out_migration():
    ds = dk.datasets.load("norrbotten")
    y = ds.out_migration.sum(("region", "sex", "year"))
    e = ds.population.sum(("region", "sex", "year"))
    res = Model("rogers_castro", n_parameters=7).fit(y, e)
    assert bool(res.converged)
    x = AGE
    th, dev = _scipy_fit(lambda t: np_rc(x, *t[:6], c=t[6]), res.params.values * 1.05, y.values, e.values)
    assert res.deviance.item() <= dev * (1 + 1e-7)
    # c runs to 0 (the boundary) in both fits; the other six agree
    np.testing.assert_allclose(res.params.values, th, rtol=1e-3, atol=1e-12)


def test_dask_in_dask_out_same_numbers():
    pytest.importorskip("dask")
    rng = np.random.default_rng(8)
    e = np.full((6, AGE.size), 2e4)
    y = rng.poisson(e * np_makeham(AGE, 5e-5, 0.095, 4e-4)).astype(float)
    Y = xr.DataArray(y, dims=("region", "age"), coords={"age": AGE})
    E = Y.copy(data=e)
    eager = Model("makeham").fit(Y, E)
    lazy = Model("makeham").fit(Y.chunk({"region": 2}), E.chunk({"region": 2}))
    assert lazy.params.chunks is not None
    xr.testing.assert_allclose(lazy.params.compute(), eager.params)
    xr.testing.assert_allclose(lazy.bse.compute(), eager.bse)
    xr.testing.assert_allclose(lazy.fitted.compute(), eager.fitted)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.floats(10.0, 1e6), b=st.floats(0.05, 0.15))
def test_poisson_level_models_match_totals_and_stay_positive_property(seed, size, b):
    """Gompertz on any Poisson counts: fitted events = observed, rates > 0, finite standard errors."""
    rng = np.random.default_rng(seed)
    ages = np.arange(40.0, 101.0)
    e = rng.uniform(0.2, 1.0, ages.size) * size
    y = rng.poisson(e * np_gompertz(ages, 1e-3, b, x0=40.0)).astype(float)
    res = Model("gompertz", x0=40).fit(_da(y, ages), _da(e, ages))
    if y.sum() == 0:
        assert np.isnan(res.params.values).all()
        return
    assert res.fitted_events.item() == pytest.approx(y.sum(), rel=1e-9)
    assert (res.fitted.values > 0).all()
    assert np.isfinite(res.bse.values).all()
