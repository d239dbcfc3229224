"""The kernel adapter (demokit._apply.ndkernel) and the layering of the kernels."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import demokit as dk
from demokit._apply import ndkernel

from .conftest import raise_if_dask_computes


def _cube(seed=0, dims=("year", "region", "age", "sex"), sizes=(4, 3, 5, 2)):
    rng = np.random.default_rng(seed)
    coords = {"year": np.arange(2000, 2000 + sizes[0]), "region": ["a", "b", "c"][: sizes[1]],
              "age": np.arange(sizes[2]), "sex": ["female", "male"][: sizes[3]]}
    da = xr.DataArray(rng.random(sizes), dims=dims, coords={d: coords[d] for d in dims}, name="x")
    return da.assign_coords(region_name=("region", [f"name {r}" for r in da["region"].values]))


def diff_and_total(x, scale, d, t):
    """(n, A, T) -> the year-on-year difference d (n, A, T-1) and the total over age t (n, T-1) of years 1.."""
    d[:] = scale * (x[:, :, 1:] - x[:, :, :-1])
    t[:] = x[:, :, 1:].sum(axis=1)
    return int((x < 0).sum())


DIFF = ndkernel(diff_and_total, core_dims=[("age", "year"), None], outputs=[("age", "year"), ("year",)],
                returns=True)


def numpy_diff(da, scale):
    """The same computation in plain xarray (not through the adapter)."""
    return scale * da.diff("year", label="upper"), da.isel(year=slice(1, None)).sum("age")


def test_core_dims_moved_last_and_dims_restored_in_input_order():
    seen = {}

    def kern(x, out):
        seen["shape"] = x.shape
        out[:] = x[:, ::-1]   # reverse along age: shows which axis the kernel got as age
        return None

    da = _cube()   # dims (year, region, age, sex): core dims first and in the middle
    f = ndkernel(kern, core_dims=[("age", "year")], outputs=[("age", "year")])
    res = f(da)
    assert seen["shape"] == (3 * 2, 5, 4)   # (region x sex flattened, age, year)
    assert res.dims == da.dims
    xr.testing.assert_equal(res.drop_vars("age"), da.isel(age=slice(None, None, -1)).drop_vars("age"))
    assert res["region_name"].values.tolist() == da["region_name"].values.tolist()   # coords restored


def test_numbers_sizes_and_coords_of_new_output_dims():
    da = _cube()
    years = da["year"].values[1:]
    (d, t), nbad = DIFF(da, 2.0, sizes={"year": years.size}, coords={"year": years})
    assert nbad == 0
    ed, et = numpy_diff(da, 2.0)
    xr.testing.assert_allclose(d, ed.transpose(*d.dims))
    xr.testing.assert_allclose(t, et.transpose(*t.dims))
    assert d.dims == da.dims and t.dims == ("year", "region", "sex")


def test_output_keeps_the_input_size_when_not_overridden():
    da = _cube()
    f = ndkernel(lambda x, t: t.__setitem__(slice(None), x.sum(axis=1)), core_dims=[("age", "year")],
                 outputs=[("year",)])
    t = f(da)
    xr.testing.assert_allclose(t, da.sum("age").transpose(*t.dims))
    assert t["year"].values.tolist() == da["year"].values.tolist()


def test_none_core_dim_is_a_length_one_axis_and_none_entry_passes_through():
    seen = {}

    def kern(x, flag, out):
        seen["shape"], seen["flag"] = x.shape, flag
        out[:] = x[:, 0, :]

    da = _cube().isel(age=0, drop=True)   # no age dim
    f = ndkernel(kern, core_dims=[(None, "year"), None], outputs=[("year",)])
    res = f(da, "flag")
    assert seen["shape"] == (3 * 2, 1, 4) and seen["flag"] == "flag"
    xr.testing.assert_equal(res, da.transpose(*res.dims))


def test_per_call_core_dims_and_broadcasting():
    rng = np.random.default_rng(3)
    a = xr.DataArray(rng.random((2, 5)), dims=("region", "age"), coords={"region": ["a", "b"]})
    w = xr.DataArray(rng.random((3, 5)), dims=("scenario", "age"), coords={"scenario": ["lo", "mid", "hi"]})

    def dot(x, y, out):
        out[:] = (x * y).sum(axis=1)

    f = ndkernel(dot, core_dims=[("age",), ("age",)], outputs=[()])
    res = f(a, w)
    xr.testing.assert_allclose(res, (a * w).sum("age").transpose(*res.dims))
    assert res.dims == ("region", "scenario")
    # per call: sum over sex and age of a 3-d array, a group of inputs passed as a tuple
    da = _cube()

    def total(xs, out):
        out[:] = sum(x.sum(axis=(1, 2)) for x in xs)

    g = ndkernel(total, core_dims=[("age", "year")], outputs=[("year",)])
    res = g([da, 2 * da], core_dims=[("sex", "age", "year")])
    xr.testing.assert_allclose(res, 3 * da.sum(["sex", "age"]).transpose(*res.dims))


def test_dask_equals_eager_and_stays_lazy():
    pytest.importorskip("dask")
    da = _cube(seed=5)
    years = da["year"].values[1:]
    (eager, eager_t), _ = DIFF(da, 0.5, sizes={"year": years.size}, coords={"year": years})
    lazy_in = da.chunk({"region": 1, "sex": 1})
    with raise_if_dask_computes():
        (lazy, tot), nbad = DIFF(lazy_in, 0.5, sizes={"year": years.size}, coords={"year": years})
    assert dk._apply.is_dask(lazy) and dk._apply.is_dask(tot) and nbad == 0
    xr.testing.assert_identical(lazy.compute(), eager)
    xr.testing.assert_identical(tot.compute(), eager_t)


def test_dask_chunked_along_a_core_dim_is_an_error():
    pytest.importorskip("dask")
    years = _cube()["year"].values[1:]
    with pytest.raises(dk.CubeError, match=r"chunked along 'age'.*rechunk with \.chunk\(\{'age': -1\}\)"):
        DIFF(_cube().chunk({"age": 2}), 1.0, sizes={"year": years.size})


def test_missing_core_dim_names_it():
    with pytest.raises(dk.CubeError, match="has no dim 'year'"):
        DIFF(_cube().isel(year=0), 1.0)


def test_kernel_return_summed_over_blocks():
    da = _cube() - 0.5
    years = da["year"].values[1:]
    _, nbad = DIFF(da, 1.0, sizes={"year": years.size})
    assert nbad == int((da.values < 0).sum())


def test_public_functions_keep_dims_and_coords(norrbotten):
    ds = norrbotten.isel(year=slice(-3, None))
    t = ds.transpose("year", "age", "sex", "region")   # another dim order: same numbers, that order kept
    for f in (dk.balance, dk.summary):
        a, b = f(ds), f(t)
        for v in a.data_vars:
            xr.testing.assert_allclose(a[v], b[v].transpose(*a[v].dims))
    mp = dk.mean_population(t, by="cohort")
    assert mp.dims == t["population"].dims
    assert mp["year"].values.tolist() == t["year"].values[1:].tolist()


# --- layering: kernels never import public modules ------------------------------------------------
KERNELS = Path(dk.__file__).parent / "_kernels"


def _imports(path: Path):
    """(module, level) of every import in a file."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, 0
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.module else [a.name for a in node.names]
            for n in names:
                yield n, node.level


@pytest.mark.parametrize("path", sorted(KERNELS.glob("*.py")), ids=lambda p: p.name)
def test_kernels_do_not_import_public_modules(path):
    bad = []
    for mod, level in _imports(path):
        if level == 0 and (mod == "demokit" or mod.startswith("demokit.")) and not mod.startswith("demokit._kernels"):
            bad.append(mod)
        elif level >= 2:   # from .. import x / from ..x import y: leaves the kernels package
            bad.append("." * level + mod)
    assert not bad, f"{path.name} imports public demokit modules: {bad}"


def test_import_scan_finds_an_upward_import(tmp_path):
    p = tmp_path / "k.py"
    p.write_text("def f():\n    from .. import _warmup\n    from demokit import accounting\n")
    assert sorted(_imports(p)) == [("_warmup", 2), ("demokit", 0)]


def test_warm_up_is_public_and_runs():
    assert dk.warm_up.__module__ == "demokit._warmup"
    dk.warm_up()


def test_output_dtypes_and_unknown_size_error():
    da = _cube()

    def count_positive(x, out):
        out[:] = (x > 0.5).sum(axis=1)

    f = ndkernel(count_positive, core_dims=[("age", "year")], outputs=[("year",)], dtypes=[np.int64])
    res = f(da)
    assert res.dtype == np.int64
    xr.testing.assert_equal(res, (da > 0.5).sum("age").transpose(*res.dims))
    g = ndkernel(count_positive, core_dims=[("age", "year")], outputs=[("draw",)])
    with pytest.raises(ValueError, match="size of output dim 'draw' is unknown"):
        g(da)
