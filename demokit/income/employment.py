"""Förvärvsintensitet (AMPAK) from register microdata, official and with cross-border commuters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ._schema import SEXES, IncomeError, codes

__all__ = ["employment_rates", "PRISBASBELOPP"]

#: prisbasbelopp by year (SEK; SCB/Skatteverket); the AMPAK limit is the year's basbelopp
PRISBASBELOPP = {2010: 42_400, 2011: 42_800, 2012: 44_000, 2013: 44_500}


def employment_rates(micro: pd.DataFrame, *, basbelopp: float | None = None, year: int = 2012,
                     by_region: bool = True, max_age: int = 100, min_age: int = 16) -> xr.DataArray:
    """Return förvärvsintensitet by (version, region, sex, age), official and with commuters.

    Parameters
    ----------
    micro : DataFrame
        Person table; ``foreign_added`` (from :func:`adjust_cross_border`) is
        computed if missing.
    basbelopp : float, optional
        Limit of arbetsinkomst; default the prisbasbelopp of ``year``
        (2012: 44,000 SEK).
    year : int, default 2012
    by_region : bool, default True
        Keep the ``region`` dim (else the whole table).
    max_age : int, default 100
        Open age group (``max_age`` and older), as in demokit's cubes.
    min_age : int, default 16
        Persons under it are never gainfully employed (AMPAK/RAMS).

    Returns
    -------
    xarray.DataArray
        Shares in [0, 1] with dims ``version`` (official, adjusted),
        [``region``,] ``sex``, ``age``; cells without persons are 0
        (``attrs["empty_cells"]``).  Feed it to :func:`demokit.labour_force`
        directly (the ``version`` dim carries through) or select a version.

    Notes
    -----
    Night population: persons registered on 31 December.  Official:
    employed ⇔ ``age ≥ 16 ∧ work_income > basbelopp`` (INKOPAK/AMPAK:
    arbetsinkomst above the year's basbelopp).  Adjusted: employed ⇔
    ``age ≥ 16 ∧ work_income + foreign_added > basbelopp``, where
    ``foreign_added`` is the foreign wage the adjustment adds (report §7.1),
    so cross-border commuters count as employed.
    ``rate = employed / persons`` per cell.
    """
    if basbelopp is None:
        if year not in PRISBASBELOPP:
            raise IncomeError(f"no prisbasbelopp for year {year}; pass basbelopp=")
        basbelopp = PRISBASBELOPP[year]
    if not basbelopp >= 0:
        raise IncomeError(f"basbelopp must be ≥ 0, got {basbelopp!r}")
    if "foreign_added" not in micro.columns:
        from .adjust import adjust_cross_border

        micro = adjust_cross_border(micro)
    night = micro["registered_dec31"].to_numpy(dtype=bool)
    m = micro.loc[night] if not night.all() else micro
    age = np.minimum(m["age"].to_numpy().astype(np.int64), max_age)
    sex, _ = codes(m["sex"], SEXES)
    if by_region:
        reg, rlab = codes(m["region"])
    else:
        reg, rlab = np.zeros(len(m), np.int64), []
    R = max(len(rlab), 1)
    A = max_age + 1
    cell = (reg * 2 + sex) * A + age
    work = m["work_income"].to_numpy(dtype=float)
    added = m["foreign_added"].to_numpy(dtype=float)
    adult = age >= min_age
    persons = np.bincount(cell, minlength=R * 2 * A)
    emp_off = np.bincount(cell, weights=adult & (work > basbelopp), minlength=R * 2 * A)
    emp_adj = np.bincount(cell, weights=adult & (work + added > basbelopp), minlength=R * 2 * A)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.stack([emp_off, emp_adj]) / persons
    empty = int((persons == 0).sum())
    rates = np.nan_to_num(rates, nan=0.0).reshape(2, R, 2, A)
    coords = {"version": ["official", "adjusted"], "region": [str(r) for r in rlab], "sex": list(SEXES),
              "age": np.arange(A)}
    da = xr.DataArray(rates, dims=("version", "region", "sex", "age"),
                      coords=coords if by_region else {k: v for k, v in coords.items() if k != "region"})
    if not by_region:
        da = da.isel(region=0, drop=True)
    da.name = "employment_rate"
    da.attrs = {"units": "1", "long_name": "förvärvsintensitet (share gainfully employed)",
                "basbelopp": float(basbelopp), "min_age": min_age, "open_age": max_age,
                "empty_cells": empty, "population": "registered 31 December (nattbefolkning)"}
    return da
