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
_MOVED = ("AssumptionError", "Assumptions", "SCENARIO_KEYS", "from_history", "_table_risks", "_mortality_years",
          "_pooled_table_risks", "_fold_reference", "_apply", "_migration_totals", "_as_path", "THIN_DEATHS",
          "MAX_MORTALITY_YEARS")


def __getattr__(name):
    """The names that moved to :mod:`demokit.assumptions` (imported lazily: no import cycle)."""
    if name in _MOVED:
        from . import assumptions
        return getattr(assumptions, name)
    raise AttributeError(f"module 'demokit.scenarios' has no attribute {name!r}")


def path(values, *, years) -> xr.DataArray:
    """Return a yearly assumption path linearly interpolated between given years.

    ``path({2020: 1.70, 2030: 1.80}, years=range(2020, 2045))`` → 1.70 … 1.80, then
    constant 1.80 after 2030 (constant before the first given year too).
    """
    ks = sorted(int(k) for k in values)
    vs = [float(values[k]) for k in ks]
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
    return scale_factor_for_life_expectancy(target, qx=q_table)


