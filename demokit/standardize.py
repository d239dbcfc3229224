"""Indirect standardisation: observed / expected events with confidence limits.

Used for SCB's "indextal för dödsrisker" (METHODS §3.3) and the index of
out-migration risks (§5.3), and general over any age grouping and extra dims.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import xarray as xr

from ._apply import is_dask
from .cube import CubeError, check_counts

__all__ = ["indirect_index", "poisson_limits"]


def _levels(ci) -> tuple[list[float], bool]:
    """Return the list of confidence levels and whether a ``level`` dim is wanted."""
    if ci is None:
        return [], False
    if isinstance(ci, (int, float, np.floating, np.integer)):
        levels, many = [float(ci)], False
    elif isinstance(ci, Iterable):
        levels, many = [float(c) for c in ci], True
    else:
        raise CubeError(f"ci must be a number in (0, 1) or a sequence of them, got {ci!r}")
    for c in levels:
        if not 0.0 < c < 1.0:
            raise CubeError(f"ci: confidence level {c!r} is not in (0, 1)")
    return levels, many


def _limits_numpy(observed: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Return lower/upper limits for a Poisson count ``observed`` (not yet divided by E).

    Exact (Garwood) when O < 10, Byar's approximation otherwise.
    """
    from scipy.stats import chi2, norm

    o = np.asarray(observed, dtype=float)
    alpha = 1.0 - level
    z = norm.ppf(1.0 - alpha / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # exact Poisson (Garwood)
        ex_lo = np.where(o > 0, chi2.ppf(alpha / 2.0, 2.0 * o) / 2.0, 0.0)
        ex_hi = chi2.ppf(1.0 - alpha / 2.0, 2.0 * o + 2.0) / 2.0
        # Byar
        os_ = np.where(o > 0, o, 1.0)
        by_lo = o * (1.0 - 1.0 / (9.0 * os_) - z / (3.0 * np.sqrt(os_))) ** 3
        o1 = o + 1.0
        by_hi = o1 * (1.0 - 1.0 / (9.0 * o1) + z / (3.0 * np.sqrt(o1))) ** 3
    exact = o < 10
    lo = np.where(exact, ex_lo, by_lo)
    hi = np.where(exact, ex_hi, by_hi)
    nan = np.isnan(o)
    lo = np.where(nan, np.nan, lo)
    hi = np.where(nan, np.nan, hi)
    return lo, hi


def poisson_limits(observed, *, ci=0.95):
    """Return the (lower, upper) confidence limits of a Poisson count.

    Parameters
    ----------
    observed : array_like or xarray.DataArray
        Observed counts ``O`` (need not be integers).
    ci : float
        Confidence level, e.g. 0.95.

    Returns
    -------
    tuple
        ``(lower, upper)`` limits for the expected count, same type as input.

    Notes
    -----
    Exact (Garwood) limits ``chi2.ppf(α/2, 2O)/2`` and
    ``chi2.ppf(1−α/2, 2O+2)/2`` when ``O < 10``; Byar's approximation
    ``O (1 − 1/(9O) − z/(3√O))³`` and
    ``(O+1) (1 − 1/(9(O+1)) + z/(3√(O+1)))³`` otherwise, with ``z`` the
    ``1 − α/2`` normal quantile.
    """
    levels, _ = _levels(ci)
    if len(levels) != 1:
        raise CubeError("poisson_limits takes one confidence level")
    if isinstance(observed, xr.DataArray):
        return xr.apply_ufunc(_limits_numpy, observed, kwargs={"level": levels[0]},
                              output_core_dims=[[], []], dask="parallelized",
                              output_dtypes=[float, float])
    return _limits_numpy(observed, levels[0])


def _check(da, name, *, allow_nan=False):
    if not isinstance(da, xr.DataArray):
        raise CubeError(f"{name}: expected an xarray.DataArray, got {type(da).__name__}")
    if not is_dask(da):  # dask input is not computed for checks (no hidden compute)
        check_counts(da, name, allow_nan=allow_nan)


def indirect_index(observed, population, reference_rates, *, ci=0.95, dim="age"):
    """Return observed and expected events, the standardised ratio and index with CIs.

    Indirect standardisation: the events a population would have with the
    reference rates, compared with the events it had.

    Parameters
    ----------
    observed : xarray.DataArray
        Observed events ``O``. Either by ``dim`` (summed over it) or already
        totals (no ``dim``).
    population : xarray.DataArray
        Population at risk by ``dim`` (and any other dims: region, sex, ...).
        For death risks this is the population at the start of the period.
    reference_rates : xarray.DataArray
        Reference rates (or risks) by ``dim``; broadcast against
        ``population`` (e.g. national risks without a ``region`` dim).
    ci : float or sequence of float or None, optional
        Confidence level(s), default 0.95. A sequence gives a ``level`` dim on
        the limits; ``None`` gives no limits.
    dim : str or sequence of str, optional
        The dim(s) standardised over, default ``"age"``. May be ``("sex",
        "age")`` to standardise over both.

    Returns
    -------
    xarray.Dataset
        ``observed``, ``expected``, ``ratio`` (O/E), ``index`` (100·O/E),
        ``lower`` / ``upper`` (limits of the index, ×100) and
        ``ratio_lower`` / ``ratio_upper`` (limits of the ratio), with a
        ``level`` dim when several levels were asked for (otherwise the level
        is in ``attrs["ci"]``). ``attrs["method"]`` per cell is in the
        variable ``ci_method`` ("exact" or "byar").

    Raises
    ------
    CubeError
        A negative, NaN or infinite observed count, population or reference
        rate (naming the cell), ``dim`` missing, or a bad confidence level.

    Notes
    -----
    ``E = Σ_x P(x) · r(x)``, ``O = Σ_x D(x)``, ``ratio = O / E``,
    ``index = 100 · O / E``. The limits of ``O`` are exact Poisson (Garwood)
    when ``O < 10``:  ``χ²(α/2; 2O)/2`` and ``χ²(1−α/2; 2O+2)/2``; Byar's
    approximation otherwise: ``O (1 − 1/(9O) − z/(3√O))³`` and
    ``(O+1)(1 − 1/(9(O+1)) + z/(3√(O+1)))³``. They are divided by ``E`` (and
    multiplied by 100 for the index), as in PHE's ``calculate_ISRatio``.
    Where ``E = 0`` (no population, or zero reference rates) the ratio and
    the limits are NaN. Ages with zero population contribute nothing to
    ``E``. Observed totals are not required to be integers.
    """
    dims = [dim] if isinstance(dim, str) else list(dim)
    levels, many = _levels(ci)
    _check(observed, "observed")
    _check(population, "population")
    _check(reference_rates, "reference_rates")
    for name, da in (("population", population), ("reference_rates", reference_rates)):
        missing = [d for d in dims if d not in da.dims]
        if name == "population" and missing:
            raise CubeError(f"population has no dim {missing[0]!r} to standardise over; dims {population.dims}")
    for d in dims:
        for name, da in (("observed", observed), ("reference_rates", reference_rates)):
            if d in da.dims and d in population.dims and d in da.coords and d in population.coords:
                a, b = da[d].values, population[d].values
                if len(a) != len(b) or not np.array_equal(a, b):
                    raise CubeError(f"{name} and population have different {d!r} coordinates: "
                                    f"{a.tolist()[:5]}... vs {b.tolist()[:5]}...")
    # every other shared dim (region, sex, ...) must hold the same labels: arithmetic would drop the cells of a
    # label only one of them has (a lost region) or leave NaN where the other lacks it
    for name, da in (("observed", observed), ("reference_rates", reference_rates)):
        for d in da.dims:
            if d in dims or d not in population.dims or d not in da.coords or d not in population.coords:
                continue
            a, b = da[d].values.tolist(), population[d].values.tolist()
            only = [v for v in a if v not in set(b)] or [v for v in b if v not in set(a)]
            if only:
                which, other = (name, "population") if only[0] in set(a) else ("population", name)
                raise CubeError(f"{which} has {d}={only[0]!r}, which {other} lacks: {name} and population "
                                f"must have the same {d!r} labels")
    obs_dims = [d for d in dims if d in observed.dims]
    o = observed.sum(obs_dims) if obs_dims else observed
    e = (population * reference_rates).sum(dims)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (o / e).where(e > 0)
    out = xr.Dataset()
    out["observed"] = o.astype(float)
    out["observed"].attrs = {"long_name": "observed events", "units": "events"}
    out["expected"] = e
    out["expected"].attrs = {"long_name": "expected events with the reference rates", "units": "events"}
    out["ratio"] = ratio
    out["ratio"].attrs = {"long_name": "standardised ratio O/E", "units": "1"}
    out["index"] = 100.0 * ratio
    out["index"].attrs = {"long_name": "standardised index 100*O/E (reference = 100)", "units": "percent"}
    if levels:
        los, his = [], []
        for lev in levels:
            lo, hi = poisson_limits(o.astype(float), ci=lev)
            los.append((lo / e).where(e > 0))
            his.append((hi / e).where(e > 0))
        if many:
            lvl = xr.DataArray(levels, dims="level", name="level")
            lo = xr.concat(los, dim=lvl)
            hi = xr.concat(his, dim=lvl)
        else:
            lo, hi = los[0], his[0]
        out["ratio_lower"] = lo
        out["ratio_upper"] = hi
        out["lower"] = 100.0 * lo
        out["upper"] = 100.0 * hi
        for v in ("ratio_lower", "ratio_upper", "lower", "upper"):
            side = "lower" if "lower" in v else "upper"
            scale = "ratio" if v.startswith("ratio") else "index (x100)"
            out[v].attrs = {"long_name": f"{side} confidence limit of the {scale}",
                            "units": "1" if v.startswith("ratio") else "percent"}
        out["ci_method"] = xr.where(o < 10, "exact", "byar")
    out.attrs = {
        "method": "indirect standardisation; limits exact Poisson (Garwood) when O < 10, Byar otherwise",
        "standardised_over": ",".join(dims),
    }
    if levels and not many:
        out.attrs["ci"] = levels[0]
    return out


def reference_risks(events, at_risk, reference="national"):
    """Return ``(risks, note)``: the pooled reference risks of an index, or the given ones.

    ``reference="national"`` pools the regions of the cube,
    ``Σ_r events / Σ_r at_risk`` (0 where nobody is at risk); a DataArray of
    risks is used as given (without its ``age_at_start`` coordinate).
    """
    if isinstance(reference, str):
        if reference != "national":
            raise CubeError(f"reference must be 'national' or a DataArray of risks, got {reference!r}")
        En, Pn = events.sum("region"), at_risk.sum("region")
        with np.errstate(divide="ignore", invalid="ignore"):
            ref = xr.where(Pn > 0, En / Pn.where(Pn > 0), 0.0)
        return ref, "the sum of all regions of the cube (= 100)"
    return reference.drop_vars("age_at_start", errors="ignore"), "given reference risks"
