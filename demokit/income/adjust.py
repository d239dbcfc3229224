"""The cross-border commuter adjustment (SCB 2015, Gränspendlingens effekt på den officiella
inkomststatistiken, sections 7.1–7.2 and option 3 of section 9)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._kernels import income as _k
from ._schema import COUNTRIES, KU_TYPES, IncomeError, codes, set_column, validate_persons

__all__ = ["DanishTax", "DANISH_TAX_2012", "adjust_cross_border", "impute_cross_border", "RULES"]

#: labels of ``adjustment_rule`` (report §7.1: three rules; "none" = no foreign wage)
RULES = ("none", "1_no_wage_added", "2_swedish_ku_added", "2_swedish_ku_within_tolerance",
         "3_ku14_added", "3_ku10_not_added")


@dataclass(frozen=True)
class DanishTax:
    """An approximation of the Danish income tax on a wage (all parameters in one place).

    The default instance :data:`DANISH_TAX_2012` holds the 2012 parameters
    (Skatteministeriet/SKAT, "Skatteberegning – satser og beløbsgrænser 2011–2012",
    skat.dk/data.aspx?oid=133800): labour-market contribution (AM-bidrag) 8 %,
    health contribution (sundhedsbidrag) 7 %, bottom tax (bundskat) 4.64 %, top
    tax (topskat) 15 % above DKK 389,900, personal allowance (personfradrag,
    18 years and over) DKK 42,900, tax ceiling (skatteloft) 51.5 %.  The
    municipal tax is the national average (kommuneskat 24.9 %, Skatteministeriet,
    "Kommuneskatter – gennemsnitsprocenten"); church tax and deductions
    (beskæftigelsesfradrag, travel) are left out.  ``sek_per_dkk`` converts the
    SEK wages of the register (1.17: ECB reference rates in 2012 put one DKK at
    1.16–1.19 SEK).

    Notes
    -----
    With the wage ``W`` in DKK: ``AM = 0.08 W``; personal income ``P = W − AM``;
    ``base = max(0, P − allowance)``;
    ``tax = AM + (municipal + health + bottom) · base + top' · max(0, P − top_threshold)``
    where ``top' = min(top, max(0, ceiling − municipal − health − bottom))``.
    """

    am_rate: float = 0.08
    health_rate: float = 0.07
    bottom_rate: float = 0.0464
    municipal_rate: float = 0.249
    top_rate: float = 0.15
    top_threshold: float = 389_900.0
    personal_allowance: float = 42_900.0
    tax_ceiling: float = 0.515
    sek_per_dkk: float = 1.17

    def __call__(self, wage_sek) -> np.ndarray:
        """Return the Danish tax (SEK) on gross wages in SEK."""
        w = np.asarray(wage_sek, dtype=float) / self.sek_per_dkk
        am = self.am_rate * w
        p = w - am
        flat = self.municipal_rate + self.health_rate + self.bottom_rate
        top = min(self.top_rate, max(0.0, self.tax_ceiling - flat))
        tax = am + flat * np.maximum(0.0, p - self.personal_allowance) + top * np.maximum(0.0, p - self.top_threshold)
        return tax * self.sek_per_dkk


DANISH_TAX_2012 = DanishTax()


def _col(df, name):
    return df[name].to_numpy(dtype=float)


def adjust_cross_border(micro: pd.DataFrame, *, tolerance: float = 0.10, tax_model=DANISH_TAX_2012,
                        validate: bool = True) -> pd.DataFrame:
    """Return the person table with incomes adjusted for wages earned in Denmark and Norway.

    Adds ``csfvi_adjusted``, ``cdisp_adjusted``, ``foreign_added`` (the wage
    added, 0 if none), ``foreign_tax_used`` and ``adjustment_rule``
    (categorical, :data:`RULES`).

    Parameters
    ----------
    micro : DataFrame
        Person table (see :mod:`demokit.income`).
    tolerance : float, default 0.10
        Rule 2's interval: the foreign wage is taken to be declared already when
        ``|foreign_wage + ku_wage − declared_wage| ≤ tolerance · declared_wage``
        (the boundary counts as within).
    tax_model : callable, default :data:`DANISH_TAX_2012`
        ``tax_model(wages_sek) -> taxes_sek`` for foreign wages whose tax is
        unknown (``foreign_tax`` NaN, as for Denmark).
    validate : bool, default True
        Check the table first (:func:`validate_persons`).

    Returns
    -------
    DataFrame
        A copy of ``micro`` with the new columns.

    Raises
    ------
    IncomeError
        Bad input, naming the column and the first bad row.

    Notes
    -----
    Report §7.1, for persons with a foreign wage ``F > 0``:

    1. no declared wage and no wage on a Swedish statement (``declared = ku = 0``): add;
    2. some wage, only Swedish workplaces or no statement (``ku_type`` ``swedish``
       or ``none``): add unless ``|F + ku − declared| ≤ tolerance · declared``;
    3. some wage and a statement from a foreign workplace: add for ``ku14``,
       nothing for ``ku10`` (or another statement).

    §7.2: ``csfvi_adjusted = csfvi + F``;
    ``cdisp_adjusted = cdisp + F − T`` with the foreign tax ``T`` (Norway: the
    register's preliminary tax; Denmark: ``tax_model(F)``), unchanged where
    ``T > F``.  The boundary test uses a relative slack of 1e-12 so that
    decimal boundaries (e.g. 110,000 vs 100,000 ± 10 %) count as within despite
    binary rounding.
    """
    if validate:
        validate_persons(micro)
    if not tolerance >= 0:
        raise IncomeError(f"tolerance must be ≥ 0, got {tolerance!r}")
    country, _ = codes(micro["foreign_country"], COUNTRIES, dtype=None)
    ku, _ = codes(micro["ku_type"], KU_TYPES, dtype=None)
    n = len(micro)
    rule = np.empty(n, np.int8)
    add = np.empty(n)
    T = np.empty(n)
    csfvi_adj = np.empty(n)
    cdisp_adj = np.empty(n)
    ro = _k.ro
    need = _k.cross_border_rules(ro(country), ro(ku), ro(_col(micro, "foreign_wage")),
                                 ro(_col(micro, "foreign_tax")), ro(_col(micro, "declared_wage")),
                                 ro(_col(micro, "ku_wage")), ro(_col(micro, "csfvi")), ro(_col(micro, "cdisp")),
                                 float(tolerance), rule, add, T, csfvi_adj, cdisp_adj)
    if need:
        idx = _k.rows_needing_tax(add, T, need)
        bad = idx[country[idx] != 1]
        if bad.size:
            raise IncomeError(f"column 'foreign_tax', row {micro.index[bad[0]]!r}: NaN for a Norwegian wage "
                              "(the Norwegian preliminary tax is needed; the tax model is Danish)")
        T[idx] = np.asarray(tax_model(add[idx]), dtype=float)
        if not np.isfinite(T[idx]).all() or (T[idx] < 0).any():
            raise IncomeError("tax_model returned a negative or non-finite tax")
        f, t = add[idx], T[idx]
        cdisp_adj[idx] += np.where(t <= f, f - t, 0.0)
    out = micro.copy(deep=False)
    set_column(out, "foreign_added", add)
    set_column(out, "foreign_tax_used", T)
    set_column(out, "csfvi_adjusted", csfvi_adj)
    set_column(out, "cdisp_adjusted", cdisp_adj)
    set_column(out, "adjustment_rule", pd.Categorical.from_codes(rule, categories=list(RULES)))
    return out


def impute_cross_border(micro_t: pd.DataFrame, foreign_previous_year: pd.DataFrame, *,
                        uprating: float = 1.0) -> pd.DataFrame:
    """Return year t's person table completed with year t−1's foreign wages (report §9, option 3).

    Persons of ``micro_t`` without a foreign wage in year t (``foreign_country``
    empty) take the foreign wage and tax they had in t−1, multiplied by
    ``uprating`` (e.g. the wage growth); persons with year-t data keep it.
    ``foreign_imputed`` marks the imputed rows.  Run
    :func:`adjust_cross_border` on the result.

    Parameters
    ----------
    micro_t : DataFrame
        Person table of year t.
    foreign_previous_year : DataFrame
        Columns ``person``, ``foreign_country`` (``DK``/``NO``), ``foreign_wage``,
        ``foreign_tax`` of year t−1, one row per person.

    Notes
    -----
    ``F_t = F_{t−1} · uprating`` and ``T_t = T_{t−1} · uprating`` for persons
    present in both years with no year-t foreign data; persons who left the
    register are dropped, persons new in year t get nothing.
    """
    need = ("person", "foreign_country", "foreign_wage", "foreign_tax")
    miss = [c for c in need if c not in foreign_previous_year.columns]
    if miss:
        raise IncomeError(f"foreign_previous_year lacks the column(s) {miss}")
    if not uprating > 0:
        raise IncomeError(f"uprating must be > 0, got {uprating!r}")
    prev = foreign_previous_year
    dup = prev["person"].duplicated()
    if dup.any():
        pos = int(np.argmax(dup.to_numpy()))
        raise IncomeError(f"foreign_previous_year, column 'person', row {prev.index[pos]!r}: "
                          f"person {prev['person'].iloc[pos]!r} occurs twice")
    pc, _ = codes(prev["foreign_country"], COUNTRIES)
    if (pc <= 0).any():
        pos = int(np.argmax(pc <= 0))
        raise IncomeError(f"foreign_previous_year, column 'foreign_country', row {prev.index[pos]!r}: "
                          f"{prev['foreign_country'].iloc[pos]!r} is not 'DK' or 'NO'")
    w = prev["foreign_wage"].to_numpy(dtype=float)
    if not (w >= 0).all():
        pos = int(np.argmax(~(w >= 0)))
        raise IncomeError(f"foreign_previous_year, column 'foreign_wage', row {prev.index[pos]!r}: "
                          f"{w[pos]!r} is not an amount ≥ 0")
    out = micro_t.copy(deep=False)
    country_t, _ = codes(out["foreign_country"], COUNTRIES)
    pos = pd.Index(prev["person"]).get_indexer(out["person"])
    take = (pos >= 0) & (country_t == 0)
    src = pos[take]
    fc = np.array(out["foreign_country"].astype(object).to_numpy(), dtype=object)
    fc[take] = np.asarray(prev["foreign_country"].astype(object).to_numpy(), dtype=object)[src]
    set_column(out, "foreign_country", pd.Categorical(fc, categories=list(COUNTRIES)))
    fw = out["foreign_wage"].to_numpy(dtype=float).copy()
    ft = out["foreign_tax"].to_numpy(dtype=float).copy()
    fw[take] = w[src] * uprating
    ft[take] = prev["foreign_tax"].to_numpy(dtype=float)[src] * uprating
    set_column(out, "foreign_wage", fw)
    set_column(out, "foreign_tax", ft)
    set_column(out, "foreign_imputed", take)
    return out
