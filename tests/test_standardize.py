"""Indirect standardisation against PHEindicatormethods' published test values."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import demokit as dk
from demokit.standardize import indirect_index

DATA = Path(__file__).parent / "data" / "phe_isr"
REL = 1e-8


@pytest.fixture(scope="module")
def expected():
    return pd.read_csv(DATA / "expected_ISR_results_annotated.csv")


def _cube(frame, count="count", pop="pop"):
    frame = frame.copy()
    frame["band"] = np.tile(np.arange(19), len(frame) // 19)
    idx = frame.set_index(["area", "band"])
    # testdata_tiny has an empty row in band 10-14 (zero reference rate there): PHE treats it
    # as no events and no population, so fill it with 0
    return (idx[count].fillna(0).to_xarray().rename(band="age"),
            idx[pop].fillna(0).to_xarray().rename(band="age"))


@pytest.fixture(scope="module")
def ownref():
    df = pd.read_csv(DATA / "test_ISR_ownref.csv")
    obs, pop = _cube(df)
    ref = pd.read_csv(DATA / "test_ISR_refdata.csv")
    rate = xr.DataArray((ref["refcount"] / ref["refpop"]).to_numpy(), dims="age",
                        coords={"age": np.arange(19)})
    return obs, pop, rate, ref


def _rel(a, b):
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("use_dask", [False, True])
def test_phe_ratio_x100_two_levels(ownref, expected, use_dask):
    obs, pop, rate, _ = ownref
    if use_dask:
        obs, pop = obs.chunk({"area": 1}), pop.chunk({"area": 1})
    res = indirect_index(obs, pop, rate, ci=[0.95, 0.998])
    if use_dask:
        assert dk._apply.is_dask(res["index"]) and dk._apply.is_dask(res["upper"])
    res = res.compute()
    rows = expected[expected.used_by == "calculate_ISRatio refvalue=100"]
    for _, r in rows.iterrows():
        cell = res.sel(area=r.area)
        assert float(cell.observed) == r.observed
        assert _rel(float(cell.expected), r.expected) <= REL
        assert _rel(float(cell["index"]), r.value) <= REL
        assert _rel(float(cell.lower.sel(level=0.95)), r.lower95_0cl) <= REL
        assert _rel(float(cell.upper.sel(level=0.95)), r.upper95_0cl) <= REL
        assert _rel(float(cell.lower.sel(level=0.998)), r.lower99_8cl) <= REL
        assert _rel(float(cell.upper.sel(level=0.998)), r.upper99_8cl) <= REL
        assert str(cell.ci_method.values) == ("exact" if r.method == "Exact" else "byar")


def test_phe_ratio_x1_and_rates(ownref, expected):
    obs, pop, rate, ref = ownref
    res = indirect_index(obs, pop, rate, ci=0.95)
    assert "level" not in res.dims and res.attrs["ci"] == 0.95
    for _, r in expected[expected.used_by == "calculate_ISRatio default (refvalue=1)"].iterrows():
        cell = res.sel(area=r.area)
        assert _rel(float(cell.ratio), r.value) <= REL
        assert _rel(float(cell.ratio_lower), r.lower95_0cl) <= REL
        assert _rel(float(cell.ratio_upper), r.upper95_0cl) <= REL
    # indirectly standardised rate = ratio x crude reference rate (per 100,000)
    crude = ref.refcount.sum() / ref.refpop.sum()
    for _, r in expected[expected.used_by.str.startswith("calculate_ISRate default")].iterrows():
        cell = res.sel(area=r.area)
        assert _rel(float(cell.ratio) * crude * 1e5, r.value) <= REL
        assert _rel(float(cell.ratio_upper) * crude * 1e5, r.upper95_0cl) <= REL


def test_phe_observed_totals_and_zero_population(ownref, expected):
    """Observed given as totals (lookup); zero population in one band (test_err2)."""
    _, _, rate, _ = ownref
    df = pd.read_csv(DATA / "test_err2.csv")
    obs, pop = _cube(df)
    totals = obs.sum("age")
    res = indirect_index(totals, pop, rate, ci=[0.95])
    assert "level" in res.dims
    for _, r in expected[expected.used_by == "calculate_ISRatio refvalue=100 on test_err2"].iterrows():
        cell = res.sel(area=r.area)
        assert _rel(float(cell.expected), r.expected) <= REL
        assert _rel(float(cell["index"]), r.value) <= REL
        assert _rel(float(cell.lower.squeeze()), r.lower95_0cl) <= REL
        assert _rel(float(cell.upper.squeeze()), r.upper95_0cl) <= REL


def test_zero_reference_band_contributes_nothing(ownref):
    obs, pop, rate, _ = ownref
    assert float(rate.isel(age=2)) == 0.0  # 10-14: zero reference deaths
    res = indirect_index(obs, pop, rate)
    hand = (pop * rate).sum("age")
    np.testing.assert_allclose(res.expected, hand, rtol=1e-14)


def test_hand_example_and_zero_expected():
    obs = xr.DataArray([[3.0, 1.0], [0.0, 0.0]], dims=("region", "age"),
                       coords={"region": ["a", "b"], "age": [0, 1]})
    pop = xr.DataArray([[100.0, 50.0], [0.0, 0.0]], dims=("region", "age"),
                       coords={"region": ["a", "b"], "age": [0, 1]})
    rate = xr.DataArray([0.01, 0.04], dims="age", coords={"age": [0, 1]})
    res = indirect_index(obs, pop, rate)
    # E = 100*0.01 + 50*0.04 = 3; O = 4; index = 133.33
    assert float(res.expected.sel(region="a")) == pytest.approx(3.0)
    assert float(res["index"].sel(region="a")) == pytest.approx(400 / 3)
    # O = 4 < 10: exact Garwood limits, 95 %: chi2(0.025, 8)/2 = 1.0899, chi2(0.975,10)/2 = 10.2416
    assert float(res.lower.sel(region="a")) == pytest.approx(100 * 1.089865 / 3, rel=1e-5)
    assert float(res.upper.sel(region="a")) == pytest.approx(100 * 10.24159 / 3, rel=1e-5)
    assert np.isnan(float(res["index"].sel(region="b")))


@pytest.mark.parametrize("bad,match", [
    ("nan_obs", r"observed\[.*age=1.*nan"),
    ("neg_pop", r"population\[.*region='a'.*-5"),
    ("nan_rate", r"reference_rates\[age=0\]"),
])
def test_errors_name_the_cell(bad, match):
    coords = {"region": ["a"], "age": [0, 1]}
    obs = xr.DataArray([[1.0, 2.0]], dims=("region", "age"), coords=coords)
    pop = xr.DataArray([[10.0, 20.0]], dims=("region", "age"), coords=coords)
    rate = xr.DataArray([0.1, 0.1], dims="age", coords={"age": [0, 1]})
    if bad == "nan_obs":
        obs[0, 1] = np.nan
    elif bad == "neg_pop":
        pop[0, 0] = -5
    else:
        rate[0] = np.nan
    with pytest.raises(dk.CubeError, match=match):
        indirect_index(obs, pop, rate)


def test_bad_level():
    da = xr.DataArray([1.0], dims="age", coords={"age": [0]})
    with pytest.raises(dk.CubeError, match="not in"):
        indirect_index(da, da, da, ci=95)


@pytest.mark.parametrize("which,labels,match", [
    ("observed", ["a", "b", "x"], r"observed has region='x', which population lacks"),
    ("observed", ["a", "b"], r"population has region='c', which observed lacks"),
    ("reference_rates", ["a", "b"], r"population has region='c', which reference_rates lacks"),
])
def test_other_dims_must_hold_the_same_labels(which, labels, match):
    """Arithmetic aligned the arrays: a region only in the observed events was dropped, a region missing from
    the observed events or the reference rates vanished or got a NaN index, silently."""
    age = [0, 1]
    pop = xr.DataArray(np.full((3, 2), 100.0), dims=("region", "age"), coords={"region": ["a", "b", "c"], "age": age})
    obs = xr.DataArray(np.full((3, 2), 2.0), dims=("region", "age"), coords={"region": ["a", "b", "c"], "age": age})
    rate = xr.DataArray([0.02, 0.02], dims="age", coords={"age": age})
    ok = indirect_index(obs, pop, rate)
    np.testing.assert_allclose(ok["index"].values, [100.0, 100.0, 100.0])   # 4 / (200 * 0.02)
    if which == "observed":
        obs = xr.DataArray(np.full((len(labels), 2), 2.0), dims=("region", "age"),
                           coords={"region": labels, "age": age})
        with pytest.raises(dk.CubeError, match=match):
            indirect_index(obs, pop, rate)
        with pytest.raises(dk.CubeError, match=match):   # observed totals (no age dim) too
            indirect_index(obs.sum("age"), pop, rate)
    else:
        with pytest.raises(dk.CubeError, match=match):
            indirect_index(obs, pop, rate.expand_dims(region=labels).copy())
