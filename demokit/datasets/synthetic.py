"""A synthetic register (person table) for the income tables' demo, tests and benchmarks.

Not real data: households over the 290 kommuner with a plausible age/sex
structure and income distribution, and cross-border commuters to Denmark and
Norway calibrated to SCB's report *Gränspendlingens effekt på den officiella
inkomststatistiken* (2015), tables 1–4 (2012: how many, their sex, ages,
birth countries and median foreign wages), concentrated in the border
municipalities the report names (tables 8 and 12).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

__all__ = ["synthetic_register", "kommuner", "COMMUTERS_2012"]

#: Sweden's population on 31 Dec 2012 (SCB), to scale the report's counts
SWEDEN_POPULATION_2012 = 9_555_893

#: the report's tables 1–4 for 2012: persons, women, ages (%), birth country (%), median wage (SEK)
COMMUTERS_2012 = {
    "DK": {"persons": 21_916, "women": 8_925,
           "age_pct": [1, 10, 15, 17, 16, 12, 11, 7, 5, 3, 1],
           "birth_pct": {"sweden": 44, "nordic": 32, "other": 23},
           "median_women": 311_146, "median_men": 415_187},
    "NO": {"persons": 54_823, "women": 21_581,
           "age_pct": [3, 26, 17, 9, 7, 7, 9, 8, 7, 4, 2],
           "birth_pct": {"sweden": 83, "nordic": 7, "other": 10},
           "median_women": 72_142, "median_men": 189_415},
}
#: the age groups of table 2: -19, 20-24, ..., 60-64, 65+
_AGE_EDGES = [0, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 101]

#: share of the country's commuters living in each kommun (the rest spread by population);
#: the border municipalities of the report's tables 8 and 12
_DK_HOMES = {"1280": 0.40, "1233": 0.06, "1281": 0.06, "1283": 0.06, "1282": 0.04, "1287": 0.04,
             "1230": 0.03, "1231": 0.015, "1262": 0.03, "1261": 0.03, "1263": 0.02, "1284": 0.02}
_NO_HOMES = {"1765": 0.07, "1486": 0.06, "1730": 0.05, "1737": 0.04, "1784": 0.05, "1766": 0.025,
             "1785": 0.025, "1715": 0.015, "1762": 0.008, "1763": 0.015, "1438": 0.01, "1460": 0.013,
             "1430": 0.012, "1435": 0.02, "1492": 0.012, "2039": 0.01, "2023": 0.01, "2021": 0.006,
             "2321": 0.013, "1780": 0.05, "1480": 0.06, "1485": 0.02}
#: approximate populations 2012 of large and border kommuner (the rest drawn, fixed seed)
_SIZES = {"0180": 897_700, "1480": 533_300, "1280": 307_800, "0380": 205_200, "0580": 150_200,
          "1980": 142_100, "1880": 142_100, "0581": 133_700, "1283": 132_000, "0680": 130_800,
          "2480": 118_300, "1281": 114_300, "1231": 16_900, "2023": 10_000, "1282": 42_500, "1287": 43_100,
          "1262": 22_600, "1261": 29_700, "1230": 22_700, "1263": 20_300, "1284": 25_400, "1485": 52_600,
          "1435": 12_300, "1766": 13_000, "1785": 15_500, "1715": 11_900, "1762": 3_700, "1763": 11_400,
          "1460": 9_700, "1430": 10_200, "1492": 12_400, "2039": 7_100, "2021": 6_800, "2321": 10_500, "1765": 9_900, "1486": 11_900, "1730": 8_500, "1737": 12_000,
          "1438": 4_800, "1233": 34_000, "2583": 9_900, "1784": 25_800, "1780": 87_600}


@lru_cache(maxsize=None)
def kommuner() -> pd.DataFrame:
    """Return the 290 kommuner (codes and names, unchanged since 2003), sorted by code."""
    from ..io import region_table
    t = region_table()
    t = t[t["kind"] == "kommun"] if "kommun" in set(t["kind"]) else t[t["code"].str.len() == 4]
    return t.rename(columns={"code": "region"})[["region", "name"]].sort_values("region").reset_index(drop=True)


def _kommun_sizes(codes: list[str]) -> np.ndarray:
    rng = np.random.default_rng(2012)
    size = np.exp(rng.normal(np.log(15_000), 0.75, len(codes)))
    for i, c in enumerate(codes):
        if c in _SIZES:
            size[i] = _SIZES[c]
    return size * SWEDEN_POPULATION_2012 / size.sum()


def _lognormal(rng, median, sigma, size):
    return np.exp(rng.normal(0.0, sigma, size)) * median


def synthetic_register(n_persons: int = 100_000, *, seed: int = 0, year: int = 2012) -> pd.DataFrame:
    """Return a synthetic person table with the columns of :data:`demokit.income.COLUMNS`.

    Parameters
    ----------
    n_persons : int, default 100,000
    seed : int, default 0
        Same seed, same table.
    year : int, default 2012
        Stored in ``attrs["year"]``; the commuter calibration is 2012's.

    Returns
    -------
    DataFrame
        One row per person (``person`` = 0..n−1, ``household`` integer ids;
        categorical ``region``, ``sex``, ``birth_region``, ``ku_type``,
        ``foreign_country``).  About 2.1 persons per household.

    Notes
    -----
    Commuters: ``round(n · count_2012 / 9,555,893)`` persons per country
    (table 1), women's share, age groups (table 2) and birth countries
    (table 3) as in 2012, foreign wages lognormal around table 4's medians
    by sex.  60 % of them live in the border kommuner of ``_DK_HOMES`` /
    ``_NO_HOMES``.  About 70 % (Denmark) and 45 % (Norway) have no Swedish
    wage; of those with one, 10 % have a KU14, 6 % a KU10 and 8 % declared the
    foreign wage (within the ±10 % tolerance).  Norway's preliminary tax is
    25 % (a few above the wage); Denmark's tax is missing (NaN).
    """
    n = int(n_persons)
    if n < 1:
        raise ValueError(f"n_persons must be ≥ 1, got {n_persons!r}")
    rng = np.random.default_rng(seed)
    codes = kommuner()["region"].tolist()
    weights = _kommun_sizes(codes)
    # the steps draw from one generator in this order: same seed, same table
    H, htype, hh, pos, is_adult, hregion = _households(rng, n, len(codes), weights)
    age, female, sex = _ages_and_sexes(rng, n, H, htype, hh, pos, is_adult)
    birth, yis, reg_jan1, reg_dec31 = _births_and_registration(rng, n, age)
    inc = _swedish_incomes(rng, n, H, age, female, htype, hh)
    region = hregion[hh]
    country = np.zeros(n, np.int64)
    fwage = np.zeros(n)
    ftax = np.zeros(n)
    for ci, cc in ((1, "DK"), (2, "NO")):
        _add_commuters(rng, ci, cc, n, codes, weights, region, age, female, birth, yis, inc, country, fwage, ftax)
    return _register_frame(year, codes, hh, region, sex, age, birth, yis, reg_jan1, reg_dec31, inc, country,
                           fwage, ftax)


def _households(rng, n, n_regions, weights):
    """Households (type, adults, children) and their kommun; each person's household, position and adulthood."""
    H = int(n / 2.05) + 64
    htype = rng.choice(5, size=H, p=[0.38, 0.08, 0.27, 0.22, 0.05])
    adults = np.array([1, 1, 2, 2, 3])[htype]
    children = np.where((htype == 1) | (htype == 3), 1 + rng.binomial(2, 0.35, H), 0)
    size = adults + children
    cum = np.cumsum(size)
    H = int(np.searchsorted(cum, n)) + 1
    htype, adults, children, size = htype[:H], adults[:H], children[:H], size[:H]
    hh = np.repeat(np.arange(H, dtype=np.int64), size)[:n]
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    pos = np.arange(n) - start[hh]
    is_adult = pos < adults[hh]
    hregion = rng.choice(n_regions, size=H, p=weights / weights.sum())
    return H, htype, hh, pos, is_adult, hregion


def _ages_and_sexes(rng, n, H, htype, hh, pos, is_adult):
    """Ages (adults by household type, partners near each other, children younger) and sexes (couples mixed)."""
    a1 = np.where(htype == 0, np.where(rng.random(H) < 0.5, rng.integers(20, 45, H), rng.integers(45, 98, H)),
                  np.where(htype >= 2, rng.integers(22, 90, H), rng.integers(22, 60, H)))
    a1 = np.where((htype == 1) | (htype == 3), rng.integers(27, 57, H), a1)
    age = np.empty(n, np.int64)
    first = is_adult & (pos == 0)
    age[first] = a1[hh[first]]
    second = is_adult & (pos == 1)
    age[second] = np.clip(a1[hh[second]] + np.rint(rng.normal(0, 3, second.sum())).astype(np.int64), 20, 100)
    third = is_adult & (pos >= 2)
    age[third] = rng.integers(20, 90, third.sum())
    kid = ~is_adult
    age[kid] = np.minimum(rng.integers(0, 20, kid.sum()), np.maximum(a1[hh[kid]] - 20, 0))
    female = rng.random(n) < 0.5
    cpl = second & (htype[hh] >= 2) & (htype[hh] <= 3)
    female[cpl] = ~female[np.flatnonzero(cpl) - 1]
    sex = (~female).astype(np.int64)  # 0 female, 1 male
    return age, female, sex


def _births_and_registration(rng, n, age):
    """Birth region, years in Sweden and registration on 1 January and 31 December."""
    birth = rng.choice(5, size=n, p=[0.84, 0.025, 0.03, 0.035, 0.07])
    yis = np.where(birth == 0, age, np.minimum(age, rng.integers(0, 45, n))).astype(float)
    reg_jan1 = (age > 0) & (rng.random(n) > 0.012)
    reg_dec31 = rng.random(n) > 0.006
    return birth, yis, reg_jan1, reg_dec31


def _swedish_incomes(rng, n, H, age, female, htype, hh):
    """Wages, transfers, pensions, taxes and disposable incomes (a few households with none)."""
    p_emp = np.interp(age, [15, 16, 19, 22, 27, 32, 54, 59, 64, 66, 70, 75],
                      [0, 0.25, 0.35, 0.6, 0.8, 0.86, 0.86, 0.8, 0.6, 0.15, 0.05, 0])
    employed = rng.random(n) < p_emp
    wmed = np.interp(age, [16, 19, 24, 29, 40, 64, 70], [40e3, 80e3, 200e3, 280e3, 340e3, 350e3, 200e3])
    wmed = wmed * np.where(female, 0.85, 1.0)
    wage = np.where(employed, _lognormal(rng, 1.0, 0.5, n) * wmed, 0.0)
    transfer = np.where((~employed) & (age >= 20) & (age < 65),
                        np.where(rng.random(n) < 0.7, _lognormal(rng, 110e3, 0.6, n), rng.uniform(0, 40e3, n)),
                        0.0)
    pension = np.where(age >= 65, _lognormal(rng, 170e3, 0.4, n) * np.where(female, 0.8, 1.0), 0.0)
    wage, transfer, pension = np.round(wage), np.round(transfer), np.round(pension)
    csfvi = wage + transfer + pension
    tax = 0.31 * np.maximum(0.0, csfvi - 20e3) + 0.2 * np.maximum(0.0, csfvi - 430e3)
    capital = np.where(rng.random(n) < 0.3, _lognormal(rng, 5e3, 1.2, n), 0.0)
    cdisp = np.round(csfvi - tax + capital + np.where(age < 16, 12_600.0, 0.0))
    zero_hh = (htype == 0) & (rng.random(H) < 0.004)
    z = zero_hh[hh]
    wage[z] = 0.0
    csfvi[z] = 0.0
    cdisp[z] = 0.0
    transfer[z] = 0.0
    work = wage + np.round(0.3 * transfer)
    ku_type = np.where(wage > 0, 1, 0)
    return {"wage": wage, "transfer": transfer, "pension": pension, "csfvi": csfvi, "cdisp": cdisp,
            "work": work, "ku_type": ku_type}


def _add_commuters(rng, ci, cc, n, codes, weights, region, age, female, birth, yis, inc, country, fwage, ftax):
    """Make ``COMMUTERS_2012[cc]``'s share of the persons cross-border commuters to ``cc`` (in place)."""
    wage, transfer, pension, csfvi, cdisp, work, ku_type = (inc[k] for k in (
        "wage", "transfer", "pension", "csfvi", "cdisp", "work", "ku_type"))
    age_grp = np.searchsorted(_AGE_EDGES, age, side="right") - 1
    code_ix = {c: i for i, c in enumerate(codes)}
    pop_w = weights / weights.sum()
    spec = COMMUTERS_2012[cc]
    m = int(round(n * spec["persons"] / SWEDEN_POPULATION_2012))
    if m == 0:
        return
    homes = _DK_HOMES if cc == "DK" else _NO_HOMES
    reg_share = 0.4 * pop_w
    for c, s in homes.items():
        reg_share[code_ix[c]] += 0.6 * s / sum(homes.values())
    # person weight = region share / region size × age-group share / age-group size
    cand = (country == 0) & (age >= 16)
    rcount = np.bincount(region[cand], minlength=len(codes)).astype(float)
    acount = np.bincount(age_grp[cand], minlength=11).astype(float)
    ap = np.asarray(spec["age_pct"], float)
    w = np.zeros(n)
    w[cand] = (reg_share / np.maximum(rcount, 1))[region[cand]] * (ap / np.maximum(acount, 1))[age_grp[cand]]
    w_f = spec["women"] / spec["persons"]
    w[cand] *= np.where(female[cand], w_f, 1 - w_f) * 2
    m = min(m, int((w > 0).sum()))
    # weighted sampling without replacement (exponential keys), deterministic for the seed
    keys = np.full(n, np.inf)
    keys[w > 0] = rng.exponential(1.0, int((w > 0).sum())) / w[w > 0]
    chosen = np.argpartition(keys, m - 1)[:m] if m < n else np.arange(n)
    country[chosen] = ci
    med = np.where(female[chosen], spec["median_women"], spec["median_men"])
    fwage[chosen] = np.round(_lognormal(rng, 1.0, 0.45 if cc == "DK" else 0.9, m) * med)
    ftax[chosen] = np.nan if cc == "DK" else np.round(0.25 * fwage[chosen])
    bp = spec["birth_pct"]
    b = rng.choice(3, size=m, p=np.array([bp["sweden"], bp["nordic"], bp["other"]]) / (bp["sweden"] + bp["nordic"] + bp["other"]))
    birth[chosen] = np.where(b == 0, 0, np.where(b == 1, 1, rng.choice([2, 3, 4], size=m)))
    yis[chosen] = np.where(b == 0, age[chosen],
                           np.minimum(age[chosen], np.where(b == 1, rng.integers(0, 12, m), rng.integers(0, 30, m))))
    # their Swedish incomes: many have none
    no_se = rng.random(m) < (0.70 if cc == "DK" else 0.45)
    wage[chosen[no_se]] = 0.0
    work[chosen[no_se]] = 0.0
    csfvi[chosen[no_se]] = transfer[chosen[no_se]] + pension[chosen[no_se]]
    cdisp[chosen[no_se]] = np.round(csfvi[chosen[no_se]] * 0.8)
    kt = np.where(wage[chosen] > 0, 1, 0)
    u = rng.random(m)
    has = wage[chosen] > 0
    kt = np.where(has & (u < 0.10), 2, np.where(has & (u >= 0.10) & (u < 0.16), 3, kt))
    ku_type[chosen] = kt
    declared_incl = has & (u >= 0.16) & (u < 0.24)
    if cc == "NO":
        above = rng.random(m) < 0.01
        ftax[chosen[above]] = np.round(fwage[chosen[above]] * 1.2)
    # within-tolerance declarations: the foreign wage is in the declared wage already
    ix = chosen[declared_incl]
    csfvi[ix] = csfvi[ix] + fwage[ix]
    cdisp[ix] = cdisp[ix] + np.round(0.7 * fwage[ix])


def _register_frame(year, codes, hh, region, sex, age, birth, yis, reg_jan1, reg_dec31, inc, country, fwage, ftax):
    """The person table: declared wages (the foreign wage where it was declared), categoricals, attrs."""
    wage, transfer, pension, csfvi, cdisp, work, ku_type = (inc[k] for k in (
        "wage", "transfer", "pension", "csfvi", "cdisp", "work", "ku_type"))
    n = len(age)
    declared = wage.copy()
    incl = (country > 0) & (ku_type == 1) & (csfvi - transfer - pension - wage > 0)
    declared[incl] = wage[incl] + fwage[incl]
    fw_out = np.where(country > 0, fwage, 0.0)
    ft_out = np.where(country > 0, ftax, 0.0)
    df = pd.DataFrame({
        "person": np.arange(n, dtype=np.int64),
        "household": hh,
        "region": pd.Categorical.from_codes(region, categories=codes),
        "sex": pd.Categorical.from_codes(sex, categories=["female", "male"]),
        "age": age,
        "birth_region": pd.Categorical.from_codes(birth, categories=["sweden", "nordic", "eu", "europe_other",
                                                                     "world"]),
        "years_in_sweden": yis,
        "registered_jan1": reg_jan1,
        "registered_dec31": reg_dec31,
        "csfvi": csfvi,
        "cdisp": cdisp,
        "declared_wage": declared,
        "ku_wage": wage,
        "ku_type": pd.Categorical.from_codes(ku_type, categories=["none", "swedish", "ku14", "ku10"]),
        "work_income": work,
        "foreign_country": pd.Categorical.from_codes(country, categories=["", "DK", "NO"]),
        "foreign_wage": fw_out,
        "foreign_tax": ft_out,
    })
    df.attrs["year"] = year
    df.attrs["source"] = "demokit synthetic register (not real data)"
    return df
