"""Households (METHODS §7) and labour force (METHODS §8): hand-worked numbers and errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from demokit.cube import CubeError
from demokit.households import household_rates, households
from demokit.labour import labour_force, shift_profile

SEX = ["female", "male"]


def _cube(values, years=(2001, 2002)):
    v = np.asarray(values, dtype=float)
    return xr.DataArray(v, dims=("sex", "age", "year"),
                        coords={"sex": SEX, "age": np.arange(v.shape[1]), "year": list(years)})


def test_household_rates_pooled_and_households_hand_worked():
    P = _cube([[[100, 300], [200, 200]], [[100, 100], [50, 150]]])
    H = _cube([[[10, 50], [100, 120]], [[20, 20], [25, 75]]])
    r = household_rates(H, P)
    # pooled: female age 0: 1000·60/400 = 150; age 1: 1000·220/400 = 550; male 0: 200, 1: 500
    np.testing.assert_allclose(r.sel(sex="female").values, [150.0, 550.0])
    np.testing.assert_allclose(r.sel(sex="male").values, [200.0, 500.0])
    assert r.attrs["units"] == "per 1000"
    # only 2002: female age 0 = 1000·50/300
    np.testing.assert_allclose(household_rates(H, P, years=[2002]).sel(sex="female", age=0), 1000 * 50 / 300)
    proj = xr.Dataset({"population": _cube([[[1000, 2000], [400, 0]], [[10, 10], [100, 200]]], years=(2030, 2031))})
    h = households(proj, r)
    # 2030: 1000·.15 + 400·.55 + 10·.2 + 100·.5 = 150 + 220 + 2 + 50 = 422
    # 2031: 2000·.15 + 0 + 10·.2 + 200·.5 = 300 + 2 + 100 = 402
    np.testing.assert_allclose(h.values, [422.0, 402.0])
    assert h.dims == ("year",)
    assert households(proj, r, by_age=True).sum(["sex", "age"]).values.tolist() == pytest.approx([422, 402])


def test_household_errors():
    P = _cube([[[100, 300], [200, 200]], [[100, 100], [50, 150]]])
    H = P * 0 + 1
    H[0, 0, 0] = 101
    with pytest.raises(CubeError, match=r"reference_persons\[sex='female', age=0, year=2001\] = 101.0 exceeds"):
        household_rates(H, P)
    with pytest.raises(CubeError, match="lacks year=1999"):
        household_rates(P * 0, P, years=[1999])
    bad = household_rates(P * 0 + 1, P) * 1000
    with pytest.raises(CubeError, match=r"rates\[sex=.*lie in \[0, 1000\]"):
        households(P, bad)
    # a rate missing (NaN: nobody there when the rates were made) where the projection has persons: was 0
    # households for them, silently; where nobody lives it still counts 0
    r = household_rates(P * 0 + 1, P)
    gap = r.where(~((r.sex == "male") & (r.age == 1)))
    with pytest.raises(CubeError, match=r"rates\[sex='male', age=1\] = nan: a household rate is missing where the "
                                        r"projection has persons"):
        households(P, gap)
    nobody = P.where(~((P.sex == "male") & (P.age == 1)), 0.0)
    np.testing.assert_allclose(households(nobody, gap).values, households(nobody, r).values)
    # rates by region lacking a region of the projection: its households were dropped
    P2 = P.expand_dims(region=["a", "b"]).copy()
    with pytest.raises(CubeError, match=r"rates lack region='b' of the projection"):
        households(P2, r.expand_dims(region=["a"]).copy())


def _lf_case():
    age = np.arange(58, 68)
    P = xr.DataArray(np.full((2, len(age), 1), 100.0), dims=("sex", "age", "year"),
                     coords={"sex": SEX, "age": age, "year": [2030]})
    rate = xr.DataArray(np.tile(np.linspace(0.9, 0.0, len(age)), (2, 1)), dims=("sex", "age"),
                        coords={"sex": SEX, "age": age})
    return P, rate


def test_labour_force_hand_worked():
    P, rate = _lf_case()
    lf = labour_force(P, rate)
    # rates 0.9, 0.8, ..., 0.0 on 100 persons each: employed = 450 per sex
    assert float(lf.employed.sum()) == pytest.approx(900.0)
    assert float(lf.economic_dependency_ratio.sel(year=2030)) == pytest.approx(1100 / 900)
    # later retirement by 2 years: rates at 60.. become rate(60), rate(60), rate(61), ...
    sh = shift_profile(rate, years=2, above=60).sel(sex="female").values
    np.testing.assert_allclose(sh, [0.9, 0.8, 0.7, 0.7, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    lf2 = labour_force(P, rate, retirement_shift=2)
    assert float(lf2.employed.sum()) == pytest.approx(2 * 100 * sh.sum())
    # scale ages 58-59 by 1.2 (0.9·1.2 capped at 1) and add 5 commuters aged 62 of each sex
    scale = xr.DataArray([1.2, 1.2], dims="age", coords={"age": [58, 59]})
    comm = xr.DataArray([[5.0], [5.0]], dims=("sex", "age"), coords={"sex": SEX, "age": [62]})
    lf3 = labour_force(P, rate, scale=scale, commuters=comm)
    exp = 2 * (100 * (1.0 + 0.96 + 0.7 + 0.6 + 0.5 + 0.4 + 0.3 + 0.2 + 0.1 + 0.0) + 5)
    assert float(lf3.employed.sum()) == pytest.approx(exp)
    assert lf3.attrs["capped_cells"] == 2
    np.testing.assert_allclose(lf3.not_employed + lf3.employed, P.broadcast_like(lf3.employed))


def test_labour_force_errors():
    P, rate = _lf_case()
    with pytest.raises(CubeError, match=r"employment_rates\[sex='female', age=58\] = 1.5"):
        labour_force(P, rate.where(rate.age != 58, 1.5))
    comm = xr.DataArray([[50.0], [0.0]], dims=("sex", "age"), coords={"sex": SEX, "age": [66]})
    with pytest.raises(CubeError, match=r"employed\[sex='female', age=66, year=2030\].*exceeds the population"):
        labour_force(P, rate, commuters=comm * 3)
    with pytest.raises(CubeError, match="lack the dim 'sex'"):
        labour_force(P, rate.isel(sex=0, drop=True))
    # rates, commuters or scale lacking a year (region, scenario) of the projection: its persons were dropped
    P2 = xr.concat([P, P.assign_coords(year=[2031])], dim="year")
    assert labour_force(P2, rate)["employed"].sizes["year"] == 2
    by_year = rate.expand_dims(year=[2030]).copy()
    with pytest.raises(CubeError, match=r"employment_rates lack year=2031 of the projection"):
        labour_force(P2, by_year)
    with pytest.raises(CubeError, match=r"commuters lack year=2031 of the projection"):
        labour_force(P2, rate, commuters=(comm * 0).expand_dims(year=[2030]).copy())
    with pytest.raises(CubeError, match=r"employment_rates lack sex='male' of the projection"):
        labour_force(P2, rate.sel(sex=["female"]))
