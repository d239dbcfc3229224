"""Swedish region codes and names: the country, the 21 counties (län), the 290 municipalities (kommuner)."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import pandas as pd

__all__ = ["region_table", "region_names", "region_code_from_label"]

_CODE = r"[0-9A-Z]*\d[0-9A-Z]*"            # 00, 25, 2581, or a DeSO/RegSO code such as 2581C1010
_CODE_NAME = re.compile(rf"^\s*({_CODE})\s+(\S.*?)\s*$")


@lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    ref = resources.files("demokit.datasets").joinpath("data", "regions", "regions.csv")
    with ref.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, comment="#", keep_default_na=False)


def region_table() -> pd.DataFrame:
    """Return the table of Swedish region codes with their names and kinds.

    Returns
    -------
    pandas.DataFrame
        Columns ``code`` (``"00"`` the country, two digits a county, four
        digits a municipality), ``name`` (SCB's name: ``"Riket"``,
        ``"Norrbottens län"``, ``"Piteå"``) and ``kind`` (``"country"``,
        ``"county"``, ``"municipality"``); 1 + 21 + 290 rows.

    Notes
    -----
    Shipped as package data (``demokit/datasets/data/regions/regions.csv``),
    the municipality division in force since 2007 (Knivsta 2003, the last
    change).
    """
    return _table().copy()


@lru_cache(maxsize=1)
def _by_code() -> dict[str, str]:
    t = _table()
    return dict(zip(t["code"], t["name"]))


@lru_cache(maxsize=1)
def _by_name() -> dict[str, str]:
    t = _table()
    out: dict[str, str] = {}
    for code, name in zip(t["code"], t["name"]):
        out.setdefault(name.casefold(), code)
    return out


def region_names(codes, *, unknown: str = "") -> list[str]:
    """Return SCB's name for each region code.

    Parameters
    ----------
    codes : iterable of str
        Region codes such as ``"00"``, ``"25"`` or ``"2581"``.
    unknown : str
        The name given to a code that is not in :func:`region_table` (for
        example a DeSO area or a user's own district); default empty.

    Returns
    -------
    list of str
        Names in the order of ``codes`` (``["Piteå", "Norrbottens län"]`` for
        ``["2581", "25"]``).
    """
    table = _by_code()
    return [table.get(str(c).strip(), unknown) for c in codes]


def region_code_from_label(label: str) -> tuple[str, str] | None:
    """Return ``(code, name)`` for a region label, or ``None`` when it is not one.

    Accepts SCB's labelled form ``"2581 Piteå"`` / ``"25 Norrbottens län"``
    (the name is kept as written), a bare code ``"2581"`` (name from the
    table; empty for codes it does not hold, such as DeSO areas
    ``"2581C1010"``) and a bare name ``"Piteå"`` / ``"Riket"`` (code from
    the table).
    """
    s = str(label).strip()
    m = _CODE_NAME.match(s)
    if m:
        return m.group(1), m.group(2)
    if re.fullmatch(_CODE, s):
        return s, _by_code().get(s, "")
    code = _by_name().get(s.casefold())
    if code is not None:
        return code, _by_code()[code]
    return None
