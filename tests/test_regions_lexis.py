"""Regional codes and aggregation; Lexis conversions."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import demokit as dk
from demokit import regions


@pytest.mark.parametrize("code,lv", [("00", "riket"), ("01", "lan"), ("0114", "kommun"),
                                     ("0114R001", "regso"), ("0114A0010", "deso"), ("2580C1010", "deso")])
def test_levels(code, lv):
    assert regions.level(code) == lv


def test_parse_and_parent():
    p = regions.parse("0114A0010")
    assert p == {"code": "0114A0010", "level": "deso", "lan": "01", "kommun": "0114", "category": "A"}
    assert regions.parent("0114R001", "lan") == "01"
    assert regions.parent("2580", "riket") == "00"
    with pytest.raises(dk.CubeError, match="not an SCB region code"):
        regions.level("Stockholm")
    with pytest.raises(dk.CubeError, match="no parent at level"):
        regions.parent("01", "kommun")


def test_counties_sum_to_country(counties):
    nat = regions.aggregate(counties, to="riket")
    assert nat["region"].values.tolist() == ["00"]
    for v in ("population", "births", "deaths"):
        np.testing.assert_array_equal(nat[v].isel(region=0).values, counties[v].sum("region").values)
    assert nat["population"].sel(year=2015).sum().item() == 9_851_017
    assert nat["deaths"].attrs["age_convention"] == "at_event"


def test_kommun_to_lan_and_mapping(norrbotten):
    lan = regions.aggregate(norrbotten["population"], to="lan")
    assert lan["region"].values.tolist() == ["25"]
    np.testing.assert_array_equal(lan.isel(region=0), norrbotten["population"].sum("region"))
    grp = regions.aggregate(norrbotten[["population"]], to={"2580": "coast", "2581": "coast", "2514": "coast",
                                                              "2582": "inland", "2560": "inland"})
    assert sorted(grp["region"].values.tolist()) == ["coast", "inland"]
    exp = norrbotten["population"].sel(region=["2582", "2560"]).sum("region")
    np.testing.assert_array_equal(grp["population"].sel(region="inland"), exp)
    with pytest.raises(dk.CubeError, match="region='2560' is not in the mapping"):
        regions.aggregate(norrbotten, to={"2580": "a", "2581": "a", "2582": "a", "2514": "a"})


def _squares():
    return xr.DataArray(np.array([10.0, 20.0, 30.0]), dims="age", coords={"age": [0, 1, 2]}, name="deaths",
                        attrs={"age_convention": "at_event"})


def test_at_event_to_year_end_by_hand():
    ye = dk.at_event_to_year_end(_squares(), lower_share=0.5, infant_lower_share=0.9)
    # age 0: 0.9*10; age 1: 0.5*20 + 0.1*10; open age 2: 30 + 0.5*20
    np.testing.assert_allclose(ye.values, [9.0, 11.0, 40.0])
    assert ye.attrs["age_convention"] == "year_end" and "lower-triangle share 0.5" in ye.attrs["lexis_split"]


def test_year_end_to_at_event_by_hand():
    ye = xr.DataArray([9.0, 11.0, 40.0], dims="age", coords={"age": [0, 1, 2]}, name="deaths",
                      attrs={"age_convention": "year_end"})
    ae = dk.year_end_to_at_event(ye, upper_share=0.5)
    # age 0: 9 + 0.5*11; age 1: 0.5*11 + 0.5*40; open age: 0.5*40
    np.testing.assert_allclose(ae.values, [14.5, 25.5, 20.0])
    assert ae.sum().item() == pytest.approx(60.0)


def test_lexis_errors():
    with pytest.raises(dk.CubeError, match="expected 'at_event'"):
        dk.at_event_to_year_end(_squares().assign_attrs(age_convention="year_end"))
    with pytest.raises(dk.CubeError, match="lower_share"):
        dk.at_event_to_year_end(_squares(), lower_share=1.5)
    assert dk.to_convention(_squares(), "at_event") is not None


def test_lexis_conversions_reject_a_gap_in_ages_and_negative_counts():
    """A missing age moved the upper triangles two years on (to the next element), silently; a negative count was
    split like a count."""
    age = np.arange(5)
    d = xr.DataArray(np.full(5, 10.0), dims="age", coords={"age": age}, name="deaths",
                     attrs={"age_convention": "at_event"})
    ok = dk.at_event_to_year_end(d)
    assert float(ok.sum()) == 50.0
    with pytest.raises(dk.CubeError, match=r"consecutive single years for a Lexis conversion.*age=3 follows age=1"):
        dk.at_event_to_year_end(d.drop_sel(age=2))
    with pytest.raises(dk.CubeError, match=r"deaths\[age=2\] = -1.0: counts must be >= 0"):
        dk.at_event_to_year_end(d.where(d.age != 2, -1.0))
    ye = ok.assign_attrs(age_convention="year_end")
    with pytest.raises(dk.CubeError, match=r"age=3 follows age=1"):
        dk.year_end_to_at_event(ye.drop_sel(age=2))
    assert np.isnan(float(dk.at_event_to_year_end(d.where(d.age != 2)).sel(age=2)))   # NaN stays NaN
