"""Scenario tools for projection assumptions: paths, TFR, e0 targets and a deregistration wave.

:func:`from_history` (the statistical basis with user paths and named
scenarios) and :class:`~demokit.Assumptions` live in :mod:`demokit.assumptions`;
their names stay importable from here.  This module imports nothing of the
projection at import time (no cycle: ``assumptions`` imports from here).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["SCENARIO_KEYS", "deregistration_wave", "from_history", "path", "tfr_of"]

#: names that moved to demokit.assumptions (importable from here as before)
_MOVED = ("AssumptionError", "Assumptions", "SCENARIO_KEYS", "from_history", "THIN_DEATHS", "MAX_MORTALITY_YEARS")


def __getattr__(name):
    """The names that moved to :mod:`demokit.assumptions` (``_MOVED``; imported lazily: no import cycle)."""
    if name in _MOVED:
        from . import assumptions
        return getattr(assumptions, name)
    raise AttributeError(f"module 'demokit.scenarios' has no attribute {name!r}")


def path(values, *, years) -> xr.DataArray:
    """Return a yearly assumption path linearly interpolated between given years.

    ``path({2020: 1.70, 2030: 1.80}, years=range(2020, 2045))`` → 1.70 … 1.80, then
    constant 1.80 after 2030 (constant before the first given year too).
    """
    pts = {int(k): float(v) for k, v in values.items()}   # (year keys as numbers or text, "2020": a TOML table)
    ks = sorted(pts)
    vs = [pts[k] for k in ks]
    yrs = [int(y) for y in years]
    return xr.DataArray(np.interp(yrs, ks, vs), dims="year", coords={"year": yrs})


def tfr_of(fertility):
    """Return the total fertility rate Σ_x f(x) of fertility rates (births per woman per year)."""
    t = fertility.sum("age")
    t.attrs = {"units": "children per woman", "long_name": "total fertility rate"}
    return t


def _e0_scaling(q_table, target):
    """Return k (dims of ``target`` ∪ sex) such that the life table of k·q_table reaches e0 = target."""
    from .lifetable import scale_factor_for_life_expectancy
    from .assumptions import _open_risk
    return scale_factor_for_life_expectancy(target, qx=q_table, open_risk=_open_risk(q_table))




def deregistration_wave(assumptions, *, years, extra, fade=0.5, projection_years):
    """Return assumptions with a wave of extra exits to an unknown country (deregistrations).

    Parameters
    ----------
    assumptions : Assumptions
        Annual assumptions (with or without ``emigration_unknown_risks``).
    years : sequence of int
        The years of the wave (the Tax Agency's clean-up): the full ``extra``
        risk applies in each of them (list every year: a year between two
        wave years that is not listed gets no extra risk).
    extra : float or DataArray
        The extra risk of being deregistered in a wave year (persons leaving
        per person at the start of the cohort), in [0, 1]: a number for every
        cell, or a DataArray by ``sex``, ``age``, ``region`` or any extra dim
        (e.g. the risks estimated for the wave years by
        ``from_history(...).emigration_unknown_risks`` less the usual level).
    fade : float, default 0.5
        After the last wave year the extra risk is multiplied by ``fade``
        each year (0: the wave stops at once; 1: it never fades).
    projection_years : sequence of int
        Every projected year (the risks get a ``year`` dim over them).

    Returns
    -------
    Assumptions
        ``emigration_unknown_risks`` raised by the wave (an
        ``emigration_unknown`` component in the projection, kept apart from
        ``emigration``); ``attrs["deregistration_wave"]`` describes it.

    Raises
    ------
    AssumptionError
        ``extra`` or ``fade`` outside [0, 1], wave years outside the
        projection, n-year assumptions, or exit risks summing above 1 (naming
        the cell).

    Notes
    -----
    ``eu*(x, t) = eu(x, t) + extra(x) · g(t)`` with ``g(t) = 1`` in a wave
    year, ``g(t) = fade^(t − t_last)`` after the last wave year ``t_last``
    and 0 before the first; ``eu`` is the assumptions' own risk (0 if none).
    """
    from .assumptions import AssumptionError, Assumptions
    if not isinstance(assumptions, Assumptions) or assumptions.kind != "annual":
        raise AssumptionError("deregistration_wave: expected annual demokit.Assumptions")
    pyears = [int(y) for y in projection_years]
    wave = sorted({int(y) for y in years})
    if not wave:
        raise AssumptionError("deregistration_wave: years is empty; give the years of the wave")
    outside = [y for y in wave if y not in pyears]
    if outside:
        raise AssumptionError(f"deregistration_wave: year={outside[0]} of the wave is not among the projected "
                              f"years {pyears[0]}-{pyears[-1]}")
    fade = float(fade)
    if not 0.0 <= fade <= 1.0:
        raise AssumptionError(f"deregistration_wave: fade={fade}; must lie in [0, 1]")
    extra = extra if isinstance(extra, xr.DataArray) else xr.DataArray(float(extra))
    ev = np.asarray(extra.values, dtype=float)
    bad = ~((ev >= 0) & (ev <= 1))
    if bad.any():
        from .cube import first_cell, format_cell
        raise AssumptionError(f"deregistration_wave: {format_cell('extra', extra, first_cell(bad))}: "
                              "must lie in [0, 1]")
    last = wave[-1]
    g = [1.0 if y in wave else (fade ** (y - last) if y > last else 0.0) for y in pyears]
    g = xr.DataArray(g, dims="year", coords={"year": pyears})
    base = assumptions.data.get("emigration_unknown_risks")
    if base is None:   # the sex-age cells of the death risks (a risk has an age dim)
        dr = assumptions.data["death_risks"]
        base = xr.zeros_like(dr.isel({d: 0 for d in dr.dims if d not in ("sex", "age")}, drop=True))
    risk = base + extra * g
    out = assumptions.replace(emigration_unknown_risks=risk.clip(0.0, 1.0))
    out.attrs = {**assumptions.attrs, "deregistration_wave": (
        f"extra exits to an unknown country in {', '.join(map(str, wave))}, then x{fade:g} a year")}
    return out
