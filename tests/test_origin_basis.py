"""Birth-region groups (issue 12, item 3): the embedded Luleå data by birth region."""

import numpy as np

import demokit as dk

FLOWS = ["population", "in_migration", "out_migration", "immigration", "emigration"]


def test_lulea_birth_region_loads():
    ds = dk.datasets.load("lulea_birth_region")
    assert "lulea_birth_region" in dk.datasets.names()
    assert ds["origin"].values.tolist() == ["born_in_sweden", "born_abroad"]
    assert ds["sex"].values.tolist() == ["female", "male"]
    assert ds["year"].values.tolist() == list(range(2006, 2025))
    for v in FLOWS:
        assert ds[v].dims == ("region", "origin", "sex", "age", "year")
    assert "origin" not in ds["deaths"].dims and "origin" not in ds["births"].dims
    # SCB's totals on 31 Dec 2019 and 2024 (TAB4823)
    tot = ds["population"].sel(region="2580").sum(["sex", "age"])
    assert tot.sel(year=2019).values.tolist() == [69132, 8973]
    assert tot.sel(year=2024).values.tolist() == [69451, 10194]


def test_lulea_birth_region_sums_to_norrbotten():
    """09 + 11 gives back the shipped BE0101 data of Luleå in every cell 2006–2019."""
    ds = dk.datasets.load("lulea_birth_region").sel(region="2580", year=slice(2006, 2019))
    nb = dk.datasets.load("norrbotten").sel(region="2580")
    for v in FLOWS:
        a = ds[v].sum("origin").transpose("sex", "age", "year").values
        b = nb[v].transpose("sex", "age", "year").values
        assert a.shape == b.shape == (2, 101, 14)
        np.testing.assert_array_equal(a, b, err_msg=v)
    np.testing.assert_array_equal(ds["deaths"].values, nb["deaths"].values)
