"""Households: disposable income, consumption units (SCB's scale), helårsbefolkningen."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._kernels import income as _k
from ._schema import IncomeError, set_column

__all__ = ["ConsumptionScale", "SCB_SCALE", "household_income", "HOUSEHOLD_TYPES"]

HOUSEHOLD_TYPES = ("single_no_children", "single_with_children", "couple_no_children",
                   "couple_with_children", "other")


@dataclass(frozen=True)
class ConsumptionScale:
    """Consumption weights of a household's members (konsumtionsenhetsskala).

    The default :data:`SCB_SCALE` is SCB's current scale (SCB, "Disponibel
    inkomst per konsumtionsenhet för hushåll 20–64 år efter hushållstyp",
    scb.se, 2020, and Statistikdatabasen table LE0201 Tema23): single person
    1.00, cohabiting couple 1.51, each further adult 0.60, first child 0–19
    years 0.52, second and later children 0–19 years 0.42.
    """

    first_adult: float = 1.00
    second_adult: float = 0.51
    further_adult: float = 0.60
    first_child: float = 0.52
    further_child: float = 0.42
    child_max_age: int = 19

    def units(self, adults, children, couple=None) -> np.ndarray:
        """Return the consumption units of households with these numbers of adults and children.

        A household of children only counts its oldest member as the first
        adult.  ``couple`` (bool per household, default all True) says
        whether the second adult is a cohabiting partner (``second_adult``)
        or another adult (``further_adult``).
        """
        a = np.asarray(adults, dtype=np.int64)
        c = np.asarray(children, dtype=np.int64)
        only_children = (a == 0) & (c > 0)
        a = np.where(only_children, 1, a)
        c = np.where(only_children, c - 1, c)
        cp = np.ones(a.shape, bool) if couple is None else np.asarray(couple, bool)
        second = np.where(cp, self.second_adult, self.further_adult)
        return (self.first_adult * (a >= 1) + second * (a >= 2) + self.further_adult * np.maximum(a - 2, 0)
                + self.first_child * (c >= 1) + self.further_child * np.maximum(c - 1, 0))


SCB_SCALE = ConsumptionScale()


def _household_codes(h: pd.Series) -> tuple[np.ndarray, int]:
    """Integer household codes ``0 ≤ code < H`` (the ids themselves if they are small non-negative
    integers, no copy; else ``pandas.factorize``, which keeps grouped rows grouped)."""
    v = h.to_numpy()
    if v.dtype.kind in "iu" and v.size and v.min() >= 0 and v.max() < 4 * v.size + 16:
        return v, int(v.max()) + 1
    c, labels = pd.factorize(h)
    return c, len(labels)


def _totals(h, H, child, inc0, inc1, k, reg, scale, couple, out, *, grouped=True):
    """Run the household kernel: the one-pass version if the rows are grouped by household, else
    (or with ``grouped=False``) the general one."""
    ro = _k.ro
    args = (ro(h), H, ro(child), ro(inc0), ro(inc1), k, ro(reg), scale.first_adult, scale.second_adult,
            scale.further_adult, scale.first_child, scale.further_child, ro(couple)) + out
    if not (grouped and _k.household_totals_grouped(*args)):
        _k.household_totals(*args)


def household_income(micro: pd.DataFrame, *, scale: ConsumptionScale = SCB_SCALE) -> pd.DataFrame:
    """Return the person table with household income, consumption units and helårsbefolkningen.

    Adds, for every person: ``household_cdisp`` (the household's disposable
    income), ``consumption_units``, ``cdisp_per_cu`` (household disposable
    income per consumption unit), ``full_year`` (in helårsbefolkningen),
    ``household_type`` and, where ``cdisp_adjusted`` exists (after
    :func:`adjust_cross_border`), the same with ``_adjusted``.

    Parameters
    ----------
    micro : DataFrame
        Person table; an optional boolean column ``couple`` says per person
        whether the household's two adults are a cohabiting couple (default:
        yes).
    scale : ConsumptionScale, default :data:`SCB_SCALE`

    Notes
    -----
    ``household_cdisp(h) = Σ_{i∈h} cdisp_i``;
    ``cu(h)`` from the household's numbers of adults (age > ``child_max_age``)
    and children (:meth:`ConsumptionScale.units`);
    ``cdisp_per_cu_i = household_cdisp(h(i)) / cu(h(i))``;
    helårsbefolkningen: ``registered_jan1 ∧ registered_dec31 ∧ household_cdisp ≠ 0``
    (report, Definitioner) — recomputed with the adjusted income, so that a
    person whose household had no disposable income enters it after the
    adjustment (report §8.1).
    Household types: one adult (``single``) or two (``couple``) with or without
    children 0–19; everything else ``other``.
    """
    h, H = _household_codes(micro["household"])
    age = micro["age"].to_numpy()
    child = np.ascontiguousarray(age <= scale.child_max_age)
    couple = np.ones(H, bool)
    if "couple" in micro.columns:
        cp = micro["couple"].to_numpy()
        if cp.dtype != bool:
            raise IncomeError(f"column 'couple' must be boolean, not {cp.dtype}")
        couple[h] = cp   # any member's flag (one value per household expected)
    reg = micro["registered_jan1"].to_numpy() & micro["registered_dec31"].to_numpy()
    cols = ["cdisp"] + (["cdisp_adjusted"] if "cdisp_adjusted" in micro.columns else [])
    inc = [np.ascontiguousarray(micro[c].to_numpy(dtype=float)) for c in cols]
    k, n = len(cols), len(micro)
    units = np.empty(n)
    hh_income = np.empty((k, n))
    per_unit = np.empty((k, n))
    full_year = np.empty((k, n), bool)
    htype = np.empty(n, np.int8)
    _totals(h, H, child, inc[0], inc[-1], k, reg, scale, couple, (units, hh_income, per_unit, full_year, htype))
    out = micro.copy(deep=False)
    set_column(out, "consumption_units", units)
    set_column(out, "household_type", pd.Categorical.from_codes(htype, categories=list(HOUSEHOLD_TYPES)))
    for v, c in enumerate(cols):
        suffix = c[len("cdisp"):]
        set_column(out, "household_cdisp" + suffix, hh_income[v])
        set_column(out, "cdisp_per_cu" + suffix, per_unit[v])
        set_column(out, "full_year" + suffix, full_year[v])
    return out
