"""Tests of statistical_basis on the Norrbotten data (five municipalities, 2006–2019)."""

import numpy as np
import pytest

import demokit as dk

YEARS = range(2015, 2020)


@pytest.fixture(scope="module")
def data():
    return dk.datasets.load("norrbotten")


@pytest.fixture(scope="module")
def basis(data):
    return dk.statistical_basis(data, years=YEARS)


def test_observed_parts_equal_the_single_functions(data, basis):
    f = dk.fertility_rates(data, years=YEARS)
    np.testing.assert_allclose(basis["fertility_rate"].transpose(*f.dims).values, f.values, rtol=1e-12)
    np.testing.assert_allclose(basis["tfr"].values, dk.tfr(dk.fertility_rates(data, years=YEARS)).values)
    q = dk.death_risks(data, years=YEARS, kind="interval")
    np.testing.assert_allclose(basis["death_risk"].transpose(*q.dims).values, q.values, rtol=1e-12)
    dri = dk.death_risk_index(data, years=YEARS)
    np.testing.assert_allclose(basis["death_risk_index"].values, dri["index"].values, rtol=1e-12)
    u = dk.out_migration_risks(data, years=YEARS)
    np.testing.assert_allclose(basis["out_migration_risk"].transpose(*u.dims).values, u.values, rtol=1e-12)
    oi = dk.out_migration_index(data, years=YEARS)
    np.testing.assert_allclose(basis["out_migration_index"].values, oi["index"].values, rtol=1e-12)
    np.testing.assert_allclose(basis["out_migration_index_lower"].values, oi["lower"].values, rtol=1e-12)
    d = dk.migrant_distribution(data, years=YEARS, kind="in")
    np.testing.assert_allclose(basis["in_migrants_per_mille"].transpose(*d.dims).values, d.values, rtol=1e-12)
    im = dk.in_migrant_index(data, years=YEARS)
    np.testing.assert_allclose(basis["in_migrant_index"].transpose(*im.dims).values, im.values, rtol=1e-12)
    e = dk.emigration_risks(data, years=YEARS)
    np.testing.assert_allclose(basis["emigration_risk"].transpose(*e.dims).values, e.values, rtol=1e-12)


def test_smoothed_schedules_keep_the_observed_events(data, basis):
    sub = data.sel(year=list(range(2014, 2020)))
    births = sub["births"].sel(year=list(YEARS)).sum(["sex", "year"])
    women = sub["mean_population"].sel(sex="female", year=list(YEARS)).sum("year")  # SCB's medelfolkmängd
    fitted = (basis["fertility_rate_smoothed"] * women).sum("age")
    np.testing.assert_allclose(fitted.values, births.sum("age").values, rtol=1e-6)
    out = sub["out_migration"].sel(year=list(YEARS)).sum(["year", "age"])
    u = dk.out_migration_risks(data, years=YEARS)
    at_risk = sub["out_migration"].sel(year=list(YEARS)).sum("year") / u.where(u > 0)
    fitted_o = (basis["out_migration_risk_smoothed"] * at_risk.fillna(0)).sum("age")
    # ages without out-movers carry no weight in this back-computed exposure, so compare loosely
    np.testing.assert_allclose(fitted_o.values, out.transpose(*fitted_o.dims).values, rtol=0.05)
    np.testing.assert_allclose(basis["in_migrants_per_mille_smoothed"].sum(["sex", "age"]).values, 1000.0)
    for v in ("death_risk_smoothed", "out_migration_risk_smoothed", "fertility_rate_smoothed"):
        assert np.isfinite(basis[v]).all() and (basis[v] >= 0).all(), v
    assert (basis["death_risk_smoothed"] <= 1).all()


def test_smoothed_is_smoother_than_observed(basis):
    lulea = basis.sel(region="2580", sex="female")
    rough = lambda v: float(np.abs(np.diff(v.sel(age=slice(30, 80)).values, 2)).sum())  # noqa: E731
    assert rough(lulea["out_migration_risk_smoothed"]) < 0.5 * rough(lulea["out_migration_risk"])
    assert rough(lulea["death_risk_smoothed"]) < 0.5 * rough(lulea["death_risk"])


def test_reference_cube_equals_national_default(data, basis):
    ref = data.sum("region", keep_attrs=True)
    for v in data.data_vars:
        ref[v].attrs = dict(data[v].attrs)
    sb = dk.statistical_basis(data, years=2019, period=5, reference=ref)
    assert sb.attrs["years"] == "2015-2019"
    for v in ("tfr", "death_risk_index", "out_migration_index", "in_migrant_index", "fertility_rate_smoothed"):
        np.testing.assert_allclose(sb[v].values, basis[v].transpose(*sb[v].dims).values, rtol=1e-9, err_msg=v)


def test_lulea_against_other_four_differs_from_national(data):
    """A reference that excludes Luleå changes Luleå's indices (the reference is really used)."""
    others = data.sel(region=["2581", "2582", "2560", "2514"]).sum("region")
    for v in data.data_vars:
        others[v].attrs = dict(data[v].attrs)
    sb = dk.statistical_basis(data.sel(region=["2580"]), years=YEARS, reference=others)
    assert sb.sizes["region"] == 1
    assert 20 < float(sb["out_migration_index"].item()) < 500
    assert np.isfinite(sb["death_risk_index"]).all()


def test_errors(data):
    with pytest.raises(dk.CubeError, match="needs a 'region' dim"):
        dk.statistical_basis(data.sum("region"), years=YEARS)
    with pytest.raises(dk.CubeError, match="needs 'in_migration'"):
        dk.statistical_basis(data.drop_vars("in_migration"), years=YEARS)
    with pytest.raises(dk.CubeError, match="reference must be"):
        dk.statistical_basis(data, years=YEARS, reference="county")
    with pytest.raises(dk.CubeError, match="year=2005 is not in the data"):
        dk.statistical_basis(data, years=range(2006, 2009))
    with pytest.raises(dk.CubeError, match="smoothing = 'loess'"):
        dk.statistical_basis(data, years=YEARS, smoothing="loess")


def test_dask_in_dask_out(data, basis):
    pytest.importorskip("dask")
    import xarray as xr

    lazy = dk.statistical_basis(data.chunk({"region": 1}), years=YEARS)
    assert lazy["death_risk_smoothed"].chunks is not None
    xr.testing.assert_allclose(lazy.compute(), basis)
