"""Cell key method (issue 14): peer oracle ONS ``cell-key-perturbation`` 3.1.0, hand-worked ptables,
consistency of cells across tables and margins, reconcile and splice.

The ONS package is a test dependency only (``pip install demokit[test]``); its ptable
``ptable_10_5_rule.csv`` (MIT licence, tests/data/ckm/LICENSE-cell-key-perturbation) is kept
xz-compressed in tests/data/ckm/.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

import demokit as dk
from demokit import ckm
from demokit.cube import DemokitError

DATA = Path(__file__).parent / "data" / "ckm"
ONS_PTABLE = DATA / "ptable_10_5_rule.csv.xz"

try:   # the peer oracle (a test dependency: pip install demokit[test])
    from cell_key_perturbation.create_perturbed_table import create_perturbed_table as ons_create
    from cell_key_perturbation.utils.generate_test_data import generate_test_data as ons_test_data
    from cell_key_perturbation.utils.generate_test_ptable import generate_ptable_10_5_rule as ons_ptable_gen
except ImportError:
    ons_create = None
needs_ons = pytest.mark.skipif(ons_create is None, reason="needs cell-key-perturbation==3.1.0 (demokit[test])")


def ons_table(data, ptable, geog, tab_vars, record_key="record_key", threshold=10) -> pd.Series:
    """ONS's perturbed table as a Series (NaN where suppressed), its own print()s silenced."""
    with contextlib.redirect_stdout(io.StringIO()):
        t = ons_create(data, ptable, geog, tab_vars, record_key, threshold=threshold)
    return t.set_index(geog + tab_vars)["count"].astype("Float64").astype(float)


@pytest.fixture(scope="module")
def ptable_10_5():
    return pd.read_csv(ONS_PTABLE)


@needs_ons
def test_ons_ptable_copy_equals_the_packages_generator(ptable_10_5):
    # the copy in tests/data is ONS's file; ONS's own generator gives the same table
    gen = ons_ptable_gen()
    pd.testing.assert_frame_equal(ptable_10_5, gen, check_dtype=False)
    t = ckm.read_ptable(ONS_PTABLE)                          # a CSV path (xz-compressed) in the ONS format
    assert t.kind == "integer" and t.modulus == 256
    # the 10-5 rule by hand: 7 → 0 (below 10), 12 → 10, 13 → 15, 760 → pcv 510 → 510 % 5 = 0 → 760
    np.testing.assert_array_equal(t.perturbation(np.array([7, 12, 13, 760]), np.array([0, 5, 255, 9])),
                                  [-7, -2, 2, 0])
    installed = Path(sys.prefix) / "ptable_10_5_rule.csv"     # where pip puts the package's data file
    if installed.exists():
        pd.testing.assert_frame_equal(ptable_10_5, pd.read_csv(installed))


# --------------------------------------------------------------------------- peer oracle: ONS

@needs_ons
@pytest.mark.parametrize("threshold", [10, 0, 1, 12])
@pytest.mark.parametrize("geog, tab_vars", [(["var1"], ["var5", "var8"]), ([], ["var1", "var5", "var8"]),
                                            (["var1"], ["var2", "var3", "var10"]), (["var9"], [])])
def test_equals_ons_on_its_generated_test_data(ptable_10_5, geog, tab_vars, threshold):
    micro = ons_test_data(size=5000)
    expected = ons_table(micro, ptable_10_5, geog, tab_vars, threshold=threshold)
    got = ckm.perturb_counts(micro, by=geog + tab_vars, ptable=ptable_10_5, threshold=threshold)
    s = got.to_series()
    assert len(s) == len(expected)                       # the full cross table, as ONS
    np.testing.assert_array_equal(s.reindex(expected.index).to_numpy(), expected.to_numpy())
    if threshold == 0:
        assert not expected.isna().any()
    elif geog == ["var1"]:
        assert expected.isna().any()                      # the threshold case is exercised


@pytest.fixture(scope="module")
def norrbotten_persons():
    """A synthetic person register of Norrbotten's size: 250,000 persons, 14 kommuner × 2 × 101."""
    rng = np.random.default_rng(2024)
    n = 250_000
    kommun = np.array(["2505", "2506", "2510", "2513", "2514", "2518", "2521", "2523", "2560", "2580",
                       "2581", "2582", "2583", "2584"])
    w = np.array([8.5, 1.6, 2.5, 2.4, 3.7, 0.4, 1.5, 1.8, 1.3, 79, 43, 25, 25, 22])
    return pd.DataFrame({
        "kommun": rng.choice(kommun, n, p=w / w.sum()),
        "sex": rng.choice(["female", "male"], n),
        "age": np.minimum(rng.gamma(2.2, 19, n).astype(np.int64), 100),
        "record_key": ckm.record_keys(n, seed=14, kind="integer", modulus=256),
    })


@needs_ons
@pytest.mark.parametrize("by", [["kommun", "sex", "age"], ["kommun", "sex"], ["kommun"], ["sex", "age"]])
def test_equals_ons_on_a_norrbotten_sized_register(norrbotten_persons, ptable_10_5, by):
    # counts above 750 (kommun × sex) exercise ONS's cyclic reuse of ptable rows 501..750
    expected = ons_table(norrbotten_persons, ptable_10_5, by[:1], by[1:])
    got = ckm.perturb_counts(norrbotten_persons, by=by, ptable=ptable_10_5, threshold=10)
    s = got.to_series()
    assert len(s) == len(expected)
    np.testing.assert_array_equal(s.reindex(expected.index).to_numpy(), expected.to_numpy())


@needs_ons
def test_margins_equal_ons_tables_without_that_dim(norrbotten_persons, ptable_10_5):
    # a margin is the cell of the table without that dim: compare with ONS on every sub-table
    full = ckm.perturb_counts(norrbotten_persons, by=["kommun", "sex", "age"], ptable=ptable_10_5,
                              threshold=10, margins=True)
    dims = ["kommun", "sex", "age"]
    for r in (1, 2):
        for kept in itertools.combinations(dims, r):
            expected = ons_table(norrbotten_persons, ptable_10_5, [kept[0]], list(kept[1:]))
            sub = full.sel({d: ckm.TOTAL for d in dims if d not in kept})
            s = sub.transpose(*kept).to_series().drop(ckm.TOTAL, level=None, errors="ignore")
            s = s[[all(x != ckm.TOTAL for x in (i if isinstance(i, tuple) else (i,))) for i in s.index]]
            np.testing.assert_array_equal(s.reindex(expected.index).to_numpy(), expected.to_numpy())


# --------------------------------------------------------------------------- cell keys

def test_cell_keys_equal_a_pandas_groupby_reference(norrbotten_persons):
    df = norrbotten_persons
    got = ckm.cell_keys(df, by=["kommun", "sex"], modulus=256, margins=["sex"])
    ref = df.groupby(["kommun", "sex"])["record_key"].agg(["size", "sum"])
    for (k, s), row in ref.iterrows():
        assert got["count"].sel(kommun=k, sex=s) == row["size"]
        assert got["cell_key"].sel(kommun=k, sex=s) == row["sum"] % 256
    tot = df.groupby("kommun")["record_key"].sum() % 256
    np.testing.assert_array_equal(got["cell_key"].sel(sex="total").to_series().reindex(tot.index), tot)


def test_uniform_cell_keys_are_the_sum_mod_1_with_8_digits():
    keys = ckm.record_keys(1000, seed=1)
    assert ((keys >= 0) & (keys < 1)).all()
    np.testing.assert_array_equal(np.rint(keys * 1e8) / 1e8, keys)      # 8 decimal digits
    df = pd.DataFrame({"g": np.arange(1000) % 7, "record_key": keys})
    got = ckm.cell_keys(df, by="g")
    ref = df.groupby("g")["record_key"].apply(lambda k: (np.rint(k * 1e8).astype(np.int64).sum() % 10**8) / 1e8)
    np.testing.assert_array_equal(got["cell_key"].values, ref.values)


def test_record_keys_are_reproducible_and_in_range():
    a = ckm.record_keys(10, seed=5, kind="integer", modulus=4096)
    np.testing.assert_array_equal(a, ckm.record_keys(10, seed=5, kind="integer", modulus=4096))
    assert a.dtype == np.int64 and a.min() >= 0 and a.max() < 4096
    assert not np.array_equal(ckm.record_keys(10, seed=5), ckm.record_keys(10, seed=6))


# --------------------------------------------------------------------------- consistency

@pytest.fixture(scope="module")
def persons_uniform():
    rng = np.random.default_rng(7)
    n = 60_000
    return pd.DataFrame({"region": rng.integers(0, 30, n), "sex": rng.integers(1, 3, n),
                         "age": rng.integers(0, 101, n), "record_key": ckm.record_keys(n, seed=99)})


@pytest.mark.parametrize("kind", ["uniform", "ons"])
def test_same_cell_same_value_in_every_table_and_margin(persons_uniform, ptable_10_5, kind):
    df = persons_uniform.copy()
    if kind == "ons":
        df["record_key"] = ckm.record_keys(len(df), seed=3, kind="integer")
        pt = ptable_10_5
    else:
        pt = ckm.max_entropy_ptable(D=3, V=2, js=1)
    dims = ["region", "sex", "age"]
    full = ckm.perturb_counts(df, by=dims, ptable=pt, margins=True, keep_original=True)
    for r in (1, 2, 3):
        for kept in itertools.combinations(dims, r):
            t = ckm.perturb_counts(df, by=list(kept), ptable=pt)
            m = full.sel({d: ckm.TOTAL for d in dims if d not in kept}).transpose(*kept)
            m = m.sel({d: t[d].values for d in kept})
            np.testing.assert_array_equal(m.values, t.values)
            # also as a margin of a table with a different set of dims
            if r == 2:
                t2 = ckm.perturb_counts(df, by=list(kept), ptable=pt, margins=[kept[1]])
                np.testing.assert_array_equal(t2.sel({kept[1]: ckm.TOTAL}).values,
                                              ckm.perturb_counts(df, by=kept[0], ptable=pt).values)
    # the grand total's perturbation comes from its own count and key
    assert full["original"].sel(region="total", sex="total", age="total") == len(df)
    # |v| ≤ D for the max-entropy table; ONS's 10-5 rule sets counts below 10 to 0 (|v| ≤ 9)
    assert np.abs(full["perturbation"]).max() <= (3 if kind == "uniform" else 9)


def test_repeatable_across_processes(tmp_path):
    code = textwrap.dedent("""
        import numpy as np, demokit as dk
        n = 20000
        rng = np.random.default_rng(0)
        data = {"a": rng.integers(0, 9, n), "b": rng.integers(0, 4, n),
                "record_key": dk.ckm.record_keys(n, seed=123)}
        t = dk.ckm.perturb_counts(data, by=["a", "b"], ptable=dk.ckm.max_entropy_ptable(D=2, V=1),
                                  margins=True)
        c = dk.ckm.perturbed_cube(dk.datasets.load("norrbotten").isel(year=slice(0, 2)), seed=4)
        print(",".join(str(int(x)) for x in t.values.ravel()), float(c["population"].sum()))
    """)
    # another process, another hash seed, and the kernels run as plain Python (no JIT, ~2 s faster):
    # the same numbers as the compiled kernels in this process
    env = dict(os.environ, PYTHONHASHSEED="random", NUMBA_DISABLE_JIT="1")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                           cwd=Path(__file__).parents[1], check=True).stdout]
    # and the same as in this process
    n = 20000
    rng = np.random.default_rng(0)
    data = {"a": rng.integers(0, 9, n), "b": rng.integers(0, 4, n), "record_key": ckm.record_keys(n, seed=123)}
    t = ckm.perturb_counts(data, by=["a", "b"], ptable=ckm.max_entropy_ptable(D=2, V=1), margins=True)
    assert runs[0].split()[0] == ",".join(str(int(x)) for x in t.values.ravel())
    c = ckm.perturbed_cube(dk.datasets.load("norrbotten").isel(year=slice(0, 2)), seed=4)
    assert float(runs[0].split()[1]) == float(c["population"].sum())


# --------------------------------------------------------------------------- ptables

@pytest.mark.parametrize("D, V, js", [(2, 1, 0), (2, 1, 1), (3, 1.5, 1), (3, 2, 2), (5, 3, 2), (4, 2.5, 0)])
def test_generated_ptable_properties(D, V, js):
    pt = ckm.max_entropy_ptable(D=D, V=V, js=js)
    assert set(pt.columns) == {"i", "j", "p", "v", "p_int_lb", "p_int_ub"}
    assert pt["i"].max() == D + js + 1
    for i, row in pt.groupby("i"):
        p, v = row["p"].to_numpy(), row["v"].to_numpy()
        assert abs(p.sum() - 1) < 1e-12
        assert abs(p @ v) < 1e-9                                  # mean 0
        if i == 0:
            assert list(v) == [0]                                 # zero stays zero
        else:
            assert abs(p @ v ** 2 - V) < 1e-9                     # variance V
        assert np.abs(v).max() <= D
        j = row["j"].to_numpy()
        assert (j >= 0).all() and not ((j >= 1) & (j <= js)).any()
        np.testing.assert_array_equal(j, i + v)
        np.testing.assert_allclose(row["p_int_ub"].to_numpy(), np.cumsum(p), atol=1e-12)
        assert row["p_int_ub"].iloc[-1] == 1.0
    # the ptable is read back and used: a perturbation never leaves [-D, D] and never lands in 1..js
    t = ckm.read_ptable(pt)
    counts = np.repeat(np.arange(0, 3 * D + 5), 2000)
    keys = np.tile(np.arange(2000) * 49999, 3 * D + 5) % 10**8
    out = counts + t.perturbation(counts, keys)
    assert (out[counts == 0] == 0).all() and (out >= 0).all()
    assert not ((out >= 1) & (out <= js)).any() and (np.abs(out - counts) <= D).all()


def test_generated_ptable_hand_checked_rows_D2_V1():
    pt = ckm.max_entropy_ptable(D=2, V=1)
    row = {i: dict(zip(r["v"], r["p"])) for i, r in pt.groupby("i")}
    # Symmetric rows (i >= 2): p(v) ∝ q^(v²) on -2..2.  Variance 1:
    #   (2q + 8q⁴)/(1 + 2q + 2q⁴) = 1  ⇔  6q⁴ = 1  ⇔  q = 6^(-1/4);
    #   Z = 1 + 2q + 2/6, p0 = 1/Z, p±1 = q/Z, p±2 = (1/6)/Z.
    q = 6 ** -0.25
    Z = 1 + 2 * q + 2 / 6
    for i in (2, 3):
        assert row[i][0] == pytest.approx(1 / Z, abs=1e-12)          # 0.38296…
        assert row[i][1] == pytest.approx(q / Z, abs=1e-12)          # 0.24469…
        assert row[i][-1] == pytest.approx(q / Z, abs=1e-12)
        assert row[i][2] == pytest.approx(1 / 6 / Z, abs=1e-12)      # 0.06383…
    # Row i = 1: support v ∈ {-1, 0, 1, 2} (i + v ≥ 0).  The three constraints leave one
    # parameter t = p(2): p(0) = 3t, p(1) = (1 - 6t)/2, p(-1) = (1 - 2t)/2.  dH/dt = 0 gives
    #   t·(3t)³ = p(1)³·p(-1)  ⇔  432 t⁴ = (1 - 6t)³ (1 - 2t),  t ∈ (0, 1/6).
    t = optimize.brentq(lambda t: 432 * t ** 4 - (1 - 6 * t) ** 3 * (1 - 2 * t), 1e-9, 1 / 6)
    assert row[1][2] == pytest.approx(t, abs=1e-10)                  # 0.10194…
    assert row[1][0] == pytest.approx(3 * t, abs=1e-10)
    assert row[1][1] == pytest.approx((1 - 6 * t) / 2, abs=1e-10)
    assert row[1][-1] == pytest.approx((1 - 2 * t) / 2, abs=1e-10)
    assert row[0] == {0: 1.0}
    # With js = 1, row i = 1 has support {-1, 1, 2}: a = b + 2c, 2b + 3c = 1, var = 1 + 3c,
    # so V = 1 forces c = 0 and p(-1) = p(1) = 1/2 (the only solution; v = +2 gets p = 0).
    r1 = ckm.max_entropy_ptable(D=2, V=1, js=1).query("i == 1")
    assert dict(zip(r1["v"], r1["p"])) == pytest.approx({-1: 0.5, 1: 0.5}, abs=1e-12)


def test_unreachable_variance_is_relaxed_with_a_warning():
    # D=4, js=3, V=1: for i = 1..3 every mean-0 distribution must jump over 1..3, variance ≥ 3
    with pytest.warns(UserWarning, match=r"rows i = \[1, 2, 3\]"):
        pt = ckm.max_entropy_ptable(D=4, V=1, js=3)
    # row 1: support {-1, 3, 4}; mean 0 forces a = 3b + 4c, so var = a + 9b + 16c = 12b + 20c with
    # 4b + 5c = 1: smallest at c = 0 → p(-1) = 3/4, p(+3) = 1/4, variance 3 (the nearest to V = 1)
    assert pt.attrs["row_variance"][1] == pytest.approx(3.0)
    r1 = pt.query("i == 1")
    assert dict(zip(r1["v"], r1["p"])) == pytest.approx({-1: 0.75, 3: 0.25}, abs=1e-9)
    assert pt.attrs["row_variance"][5] == pytest.approx(1.0)


def test_destatis_format_lookup_hand_worked(tmp_path):
    # a hand-made ptable; a cell with key c gets the first v with c ≤ p_int_ub (cellKey's rule)
    frame = pd.DataFrame({"i": [0, 1, 1, 2, 2, 2], "j": [0, 0, 2, 1, 2, 3], "p": [1, .5, .5, .25, .5, .25],
                          "v": [0, -1, 1, -1, 0, 1], "p_int_lb": [0, 0, .5, 0, .25, .75],
                          "p_int_ub": [1, .5, 1, .25, .75, 1]})
    path = tmp_path / "pt.csv"
    frame.to_csv(path, sep=";", index=False)                 # the ptable package writes ';'
    t = ckm.read_ptable(path)
    df = pd.DataFrame({"g": ["a", "b", "b", "c", "c", "d", "d", "d", "d", "d"],
                       "record_key": [0.5, 0.3, 0.3, 0.2, 0.6, 0.1, 0.1, 0.1, 0.1, 0.25]})
    got = ckm.perturb_counts(df, by="g", ptable=t, keep_original=True)
    # a: n=1, c=0.5  → 0.5 ≤ 0.5: v=-1 → 0
    # b: n=2, c=0.6  → row 2: 0.6 ≤ 0.75: v=0 → 2
    # c: n=2, c=0.8  → row 2: v=+1 → 3
    # d: n=5 (row 2, the last), c=0.65 → v=0 → 5
    np.testing.assert_array_equal(got.values, [0, 2, 3, 5])
    np.testing.assert_allclose(got["cell_key"].values, [0.5, 0.6, 0.8, 0.65])
    # a key exactly on a bound (0.25) stays in the lower interval
    assert ckm.read_ptable(frame).perturbation(np.array([2]), np.array([25_000_000]))[0] == -1


# --------------------------------------------------------------------------- magnitude tables

def test_perturb_sums_hand_worked():
    frame = pd.DataFrame({"i": [0, 1, 1], "v": [0, -1, 1], "p_int_ub": [1, .5, 1]})
    df = pd.DataFrame({"g": ["a", "a", "a", "b"], "income": [100., 300., 50., 80.],
                       "record_key": [0.1, 0.2, 0.3, 0.9]})
    got = ckm.perturb_sums(df, value="income", by="g", ptable=frame, top_k=2, magnitude=0.1,
                           keep_original=True)
    # D = 1 (max |v|).  a: S = 450, cell key c = 0.6; top two 300 (key 0.2), 100 (key 0.1):
    #   (0.6+0.2) mod 1 = 0.8 → v=+1; (0.6+0.1) = 0.7 → v=+1; noise = 0.1·300 + 0.1·100 = 40
    # b: S = 80, c = 0.9; top 80 (key 0.9): 1.8 mod 1 = 0.8 → +1; noise = 8
    np.testing.assert_allclose(got.values, [490.0, 88.0])
    np.testing.assert_allclose(got["original"].values, [450.0, 80.0])


def test_perturb_sums_margins_match_tables_and_noise_is_bounded(persons_uniform):
    df = persons_uniform.assign(income=np.random.default_rng(1).lognormal(12, 1, len(persons_uniform)))
    full = ckm.perturb_sums(df, value="income", by=["region", "sex"], margins=True, keep_original=True)
    by_region = ckm.perturb_sums(df, value="income", by="region")
    np.testing.assert_allclose(full.sel(sex="total").values[:-1], by_region.values, rtol=1e-12)
    ref = df.groupby(["region", "sex"])["income"].sum().unstack()
    np.testing.assert_allclose(full["original"].values[:-1, :-1], ref.values, rtol=1e-12)
    top3 = df.groupby(["region", "sex"])["income"].apply(lambda x: x.nlargest(3).sum()).unstack()
    assert (np.abs(full["perturbation"].values[:-1, :-1]) <= 0.05 * top3.values + 1e-9).all()


# --------------------------------------------------------------------------- aggregate cubes

def test_perturbed_cube():
    ds = dk.datasets.load("norrbotten")
    out = ckm.perturbed_cube(ds, D=2, V=1, seed=11)
    for name in ds.data_vars:
        a, b = ds[name].values, out[name].values
        if name.startswith(("net_", "mean_")):
            np.testing.assert_array_equal(a, b, err_msg=name)
            continue
        ok = np.isfinite(a)
        assert (np.isnan(b) == ~ok).all()
        d = b[ok] - a[ok]
        assert (np.abs(d) <= 2).all() and (b[ok] >= 0).all(), name
        assert (b[ok][a[ok] == 0] == 0).all(), name
    d = (out["population"] - ds["population"]).values
    big = ds["population"].values > 3
    assert abs(d[big].mean()) < 0.05 and abs(d[big].var() - 1) < 0.1      # noise mean 0, variance V
    # repeatable; the same cell gets the same noise in a subset of the cube
    again = ckm.perturbed_cube(ds.isel(region=slice(2, 5), year=[3, 1]), D=2, V=1, seed=11)
    xr.testing.assert_equal(again["population"],
                            out["population"].isel(region=slice(2, 5), year=[3, 1]))
    assert not ckm.perturbed_cube(ds, seed=12)["population"].equals(out["population"])
    assert "D=2" in out.attrs["ckm_perturbed"]


# --------------------------------------------------------------------------- errors

def test_errors_name_column_row_and_value(ptable_10_5):
    df = pd.DataFrame({"a": [1, 2, None], "record_key": [1, 2, 3]})
    with pytest.raises(ckm.CKMError, match=r"column 'a', row 2: value nan is missing"):
        ckm.perturb_counts(df, by="a", ptable=ptable_10_5)
    df = pd.DataFrame({"a": [1, 2, 3], "record_key": [1, 2, 300]})
    with pytest.raises(ckm.CKMError, match=r"'record_key', row 2: 300 is outside 0..255"):
        ckm.perturb_counts(df, by="a", ptable=ptable_10_5)
    with pytest.raises(ckm.CKMError, match=r"row 1: 0.5 is not an integer"):
        ckm.perturb_counts(df.assign(record_key=[1, 0.5, 2]), by="a", ptable=ptable_10_5)
    with pytest.raises(ckm.CKMError, match=r"row 0: 1.5 is not in \[0, 1\)"):
        ckm.perturb_counts(df.assign(record_key=[1.5, .5, .2]), by="a", ptable=ckm.max_entropy_ptable(D=2, V=1))
    with pytest.raises(ckm.CKMError, match=r"column 'region' is not in the data"):
        ckm.perturb_counts(df, by="region", ptable=ptable_10_5)
    with pytest.raises(ckm.CKMError, match=r"neither the Destatis/ABS format"):
        ckm.read_ptable(pd.DataFrame({"x": [1]}))
    with pytest.raises(ckm.CKMError, match=r"i=1: the last p_int_ub is 0.9"):
        ckm.read_ptable(pd.DataFrame({"i": [1, 1], "v": [-1, 1], "p_int_ub": [0.5, 0.9]}))
    with pytest.raises(ckm.CKMError, match=r"row 1: \(pcv=1, ckey=0\) appears twice"):
        ckm.read_ptable(pd.DataFrame({"pcv": [1, 1], "ckey": [0, 0], "pvalue": [0, 0]}))
    with pytest.raises(ckm.CKMError, match=r"column 'a', row 1: value 5 is not among the categories"):
        ckm.perturb_counts(pd.DataFrame({"a": [1, 5], "record_key": [1, 2]}), by="a", ptable=ptable_10_5,
                           categories={"a": [1, 2]})
    with pytest.raises(ckm.CKMError, match=r"js = 2: must be in 0..D-1"):
        ckm.max_entropy_ptable(D=2, V=1, js=2)
    with pytest.raises(ckm.CKMError, match=r"threshold"):
        ckm.perturb_counts(df, by="a", ptable=ptable_10_5, threshold=1.5)
    assert issubclass(ckm.CKMError, DemokitError)


def test_categories_give_the_full_table_with_empty_cells():
    df = pd.DataFrame({"age": [0, 0, 3], "record_key": [0.1, 0.2, 0.3]})
    got = ckm.perturb_counts(df, by="age", ptable=ckm.max_entropy_ptable(D=2, V=1),
                             categories={"age": range(5)}, keep_original=True)
    np.testing.assert_array_equal(got["age"].values, np.arange(5))
    np.testing.assert_array_equal(got["original"].values, [2, 0, 0, 1, 0])
    assert (got.values[[1, 2, 4]] == 0).all()


# --------------------------------------------------------------------------- reconcile

def test_reconcile_hand_worked():
    parts = xr.DataArray([[3.0, 0, 5, 2], [1, 1, 1, 1]], dims=("region", "age"),
                         coords={"region": ["a", "b"], "age": [0, 1, 2, 3]}, name="population")
    totals = xr.DataArray([11, 3], dims="region", coords={"region": ["a", "b"]})
    got = dk.reconcile(parts, totals, dims="age")
    # a: 3, 0, 5, 2 (sum 10) → ×1.1 = 3.3, 0, 5.5, 2.2; floors 3, 0, 5, 2 (10); one more to 5.5 → 6
    # b: 1, 1, 1, 1 (sum 4) → ×0.75 each; floors 0 (0); three more, ties in order → 1, 1, 1, 0
    np.testing.assert_array_equal(got.values, [[3, 0, 6, 2], [1, 1, 1, 0]])
    assert got.attrs["inconsistency_max"] == 1 and got.attrs["inconsistency_sum"] == 2
    assert got.attrs["groups_inconsistent"] == 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40), min_size=1, max_size=12), min_size=1, max_size=6),
       st.lists(st.integers(-15, 15), min_size=6, max_size=6))
def test_reconcile_properties(rows, shifts):
    width = max(len(r) for r in rows)
    x = np.array([r + [0] * (width - len(r)) for r in rows], dtype=float)
    s = x.sum(axis=1)
    t = np.where(s > 0, np.maximum(s + np.array(shifts[:len(rows)]), 0), 0)
    parts = xr.DataArray(x, dims=("region", "age"))
    got = dk.reconcile(parts, xr.DataArray(t, dims="region"), dims="age").values
    np.testing.assert_array_equal(got.sum(axis=1), t)                  # adds up exactly
    assert (got[x == 0] == 0).all()                                    # zeros stay zero
    scaled = np.where(s[:, None] > 0, x * (t / np.where(s > 0, s, 1))[:, None], 0)
    assert (np.abs(got - scaled) < 1).all()                            # within ±1 of the scaled value
    assert (got >= 0).all()


def test_reconcile_errors():
    parts = xr.DataArray([[0.0, 0], [1, 2]], dims=("region", "age"), coords={"region": ["a", "b"]})
    with pytest.raises(dk.ReconcileError, match=r"totals\[region='a'\] = 5.*parts are all 0"):
        dk.reconcile(parts, xr.DataArray([5, 3], dims="region", coords={"region": ["a", "b"]}), dims="age")
    with pytest.raises(dk.ReconcileError, match=r"parts\[region='b', age=1\] = -2.0"):
        dk.reconcile(parts.where(parts != 2, -2), xr.DataArray([0, 3], dims="region",
                                                                  coords={"region": ["a", "b"]}), dims="age")
    with pytest.raises(dk.ReconcileError, match=r"whole numbers"):
        dk.reconcile(parts, xr.DataArray([0, 2.5], dims="region", coords={"region": ["a", "b"]}), dims="age")
    with pytest.raises(dk.ReconcileError, match=r"coords of 'region' differ"):
        dk.reconcile(parts, xr.DataArray([0, 3], dims="region", coords={"region": ["a", "c"]}), dims="age")


def test_reconcile_single_ages_to_perturbed_kommun_totals():
    # CKM tables: single years by age and kommun totals perturbed independently; reconcile them
    ds = dk.datasets.load("norrbotten")
    pop = ds["population"].isel(year=-1)
    noisy = ckm.perturbed_cube(ds[["population"]], seed=1)["population"].isel(year=-1)
    totals = ckm.perturbed_cube(pop.sum("age").to_dataset(name="population"), seed=2)["population"]
    got = dk.reconcile(noisy, totals, dims="age")
    xr.testing.assert_equal(got.sum("age"), totals.astype(np.int64))
    assert got.attrs["inconsistency_max"] > 0
    assert float(abs(got - pop).max()) <= 2 + 2 + 1


# --------------------------------------------------------------------------- splice

def test_splice_hand_worked_and_dataset():
    old = xr.DataArray(np.array([[10.0, 11, 12, 13], [20, 21, 22, 23]]), dims=("region", "year"),
                       coords={"region": ["a", "b"], "year": [2021, 2022, 2023, 2024]}, name="population")
    new = xr.DataArray(np.array([[12.0, 14, 15], [22, 22, 24]]), dims=("region", "year"),
                       coords={"region": ["a", "b"], "year": [2023, 2024, 2025]}, name="population")
    got = dk.io.splice(old, new, break_year=2025)
    np.testing.assert_array_equal(got["year"], [2021, 2022, 2023, 2024, 2025])
    np.testing.assert_array_equal(got.values, [[10, 11, 12, 13, 15], [20, 21, 22, 23, 24]])
    # overlap 2023–2024: new − old = [[0, 1], [0, -1]]
    assert got.attrs["splice_break_year"] == 2025 and got.attrs["splice_overlap_years"] == [2023, 2024]
    assert got.attrs["splice_max_abs_difference"] == 1.0
    assert got.attrs["splice_mean_abs_difference"] == 0.5
    assert got.attrs["splice_total_difference"] == 0.0
    ds = dk.io.splice(old.to_dataset(), new.to_dataset(), break_year=2024)
    np.testing.assert_array_equal(ds["population"].sel(region="a").values, [10, 11, 12, 14, 15])
    assert ds.attrs["splice_max_abs_difference"] == "population: 1"
    with pytest.raises(dk.io.ReadError, match=r"coords of 'region' differ"):
        dk.io.splice(old, new.assign_coords(region=["a", "c"]), break_year=2025)
    with pytest.raises(dk.io.ReadError, match=r"new has no year from break_year=2026"):
        dk.io.splice(old, new, break_year=2026)
    # tables that do not meet at the break: the years between were missing from the series, silently
    with pytest.raises(dk.io.ReadError, match=r"the series would have no year 2023–2024: old ends at 2022 and new "
                                              r"starts at 2025"):
        dk.io.splice(old.sel(year=[2021, 2022]), new, break_year=2025)
    with pytest.raises(dk.io.ReadError, match=r"no year 2025–2025: old ends at 2024 and new starts at 2026"):
        dk.io.splice(old, new.assign_coords(year=[2023, 2024, 2026]), break_year=2025)


# --------------------------------------------------------------------------- Destatis path vs a plain reference

def _reference_destatis(df, by, pt_frame):
    """cellKey's rule written plainly: cell key = Σ keys mod 1; row min(n, i_max); first v with c ≤ p_int_ub."""
    g = df.groupby(by)["record_key"]
    n = g.size()
    c = g.apply(lambda k: (np.rint(k.to_numpy() * 1e8).astype(np.int64).sum() % 10**8) / 1e8)
    imax = pt_frame["i"].max()
    out = {}
    for cell in n.index:
        i = min(n[cell], imax)
        rows = pt_frame[pt_frame["i"] == i].sort_values("p_int_ub")
        v = 0 if n[cell] == 0 else rows["v"].to_numpy()[np.argmax(c[cell] <= rows["p_int_ub"].to_numpy() + 1e-12)]
        out[cell] = n[cell] + v
    return pd.Series(out, dtype=float)


_FRAMES: dict = {}


@settings(max_examples=12, deadline=None)
@given(st.integers(1, 400), st.integers(0, 10_000), st.sampled_from([(2, 1.0, 0), (3, 1.5, 1), (4, 2.0, 2)]))
def test_destatis_path_equals_a_plain_reference(n, seed, params):
    D, V, js = params
    if params not in _FRAMES:
        _FRAMES[params] = ckm.max_entropy_ptable(D=D, V=V, js=js)
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.integers(0, 4, n), "b": rng.integers(0, 3, n),
                       "record_key": ckm.record_keys(n, seed=seed)})
    frame = _FRAMES[params]
    got = ckm.perturb_counts(df, by=["a", "b"], ptable=frame).to_series()
    ref = _reference_destatis(df, ["a", "b"], frame)
    ref.index = pd.MultiIndex.from_tuples(ref.index, names=["a", "b"])
    np.testing.assert_array_equal(got.reindex(ref.index).to_numpy(), ref.to_numpy())
    assert (got.drop(ref.index, errors="ignore") == 0).all()          # cells without records stay 0


def test_perturbed_cube_rounds_fractional_values_and_never_goes_negative():
    # a projection has fractional persons: the published value is a whole number, ≥ 0
    x = xr.DataArray(np.linspace(0, 6, 121).reshape(11, 11), dims=("region", "age"),
                     coords={"region": [f"r{i}" for i in range(11)], "age": np.arange(11)})
    out = ckm.perturbed_cube(x.to_dataset(name="population"), D=2, V=1, js=1, seed=3)["population"]
    assert (out >= 0).all() and (out == np.round(out)).all()
    assert (np.abs(out - np.round(x)) <= 2).all()
    assert (out != 1).all()                                          # js = 1: no published 1
    assert (out.values[np.round(x.values) == 0] == 0).all()


# --------------------------------------------------------------------------- reconcile: two margins

def _ipf_reference(x, col_totals, row_totals, sweeps=5000):
    """Plain IPF (Deming & Stephan): alternately scale rows and columns."""
    s = x.astype(float).copy()
    for _ in range(sweeps):
        s *= (row_totals / s.sum(axis=1))[:, None]
        s *= (col_totals / s.sum(axis=0))[None, :]
    return s


def test_reconcile_two_margins_hand_worked():
    # parts [[1, 1], [1, 1]] (deso × age), column totals (over deso) [3, 1], row totals (over age) [2, 2].
    # IPF: the rows already hold; columns × 1.5 and × 0.5 → s = [[1.5, 0.5], [1.5, 0.5]].
    # Floors [[1, 0], [1, 0]]: each row needs one more, column 0 one more (3 − 2), column 1 one (1 − 0):
    # one row rounds up its age-0 cell, the other its age-1 cell → [[2, 0], [1, 1]] or [[1, 1], [2, 0]].
    parts = xr.DataArray(np.ones((2, 2)), dims=("deso", "age"))
    got = dk.reconcile(parts, [xr.DataArray([3, 1], dims="age"), xr.DataArray([2, 2], dims="deso")],
                       dims=["deso", "age"])
    np.testing.assert_array_equal(got.sum("deso").values, [3, 1])
    np.testing.assert_array_equal(got.sum("age").values, [2, 2])
    assert (np.abs(got.values - [[1.5, 0.5], [1.5, 0.5]]) < 1).all()
    np.testing.assert_array_equal(np.sort(got.values[:, 0]), [1, 2])
    # zeros stay zero where a table with those zeros exists: [[2, 0], [1, 3]] to columns [4, 4], rows [2, 6]
    parts = xr.DataArray([[2.0, 0], [1, 3]], dims=("deso", "age"))
    got = dk.reconcile(parts, [xr.DataArray([4, 4], dims="age"), xr.DataArray([2, 6], dims="deso")],
                       dims=["deso", "age"])
    np.testing.assert_array_equal(got.values, [[2, 0], [2, 4]])     # the only integer table with this zero
    # no table with that zero: row 0 = 2 can only go to age 0, whose column total is 1
    with pytest.raises(dk.ReconcileError, match=r"iterative proportional fitting did not meet"):
        dk.reconcile(parts, [xr.DataArray([1, 7], dims="age"), xr.DataArray([2, 6], dims="deso")],
                     dims=["deso", "age"], max_iter=200)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 7), st.integers(2, 7), st.integers(0, 10_000))
def test_reconcile_two_margins_properties(na, nb, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 40, (2, na, nb)).astype(float)                  # batch dim 'sex'
    x[0, 0, 0] = 0.0 if na > 2 and nb > 2 else x[0, 0, 0]
    col = np.maximum(x.sum(axis=1) + rng.integers(-4, 5, (2, nb)), 1)   # perturbed, over deso
    row = np.maximum(x.sum(axis=2) + rng.integers(-4, 5, (2, na)), 1)   # perturbed, over age
    parts = xr.DataArray(x, dims=("sex", "deso", "age"))
    got = dk.reconcile(parts, [xr.DataArray(col, dims=("sex", "age")), xr.DataArray(row, dims=("sex", "deso"))],
                       dims=["deso", "age"]).values
    for g in range(2):
        np.testing.assert_array_equal(got[g].sum(axis=0), col[g])       # the first margin exactly
        assert got[g].sum() == col[g].sum()
        # the second margin, first made to add up to the first's total (largest remainder)
        r = row[g] * col[g].sum() / row[g].sum()
        assert (np.abs(got[g].sum(axis=1) - r) < 1).all()
        s = _ipf_reference(x[g], col[g], got[g].sum(axis=1))
        assert (np.abs(got[g] - s) < 1 + 1e-6).all()                    # within ±1 of the fitted value
        assert (got[g][x[g] == 0] == 0).all() and (got[g] >= 0).all()


def test_counts_of_mixed_column_types_equal_a_groupby():
    # bool, unsigned, string, float and Categorical columns in one 5-way table, against pandas
    n = 3000
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"b": rng.integers(0, 2, n).astype(bool), "u": rng.integers(3, 8, n).astype(np.uint64),
                       "s": rng.choice(["x", "y", "z"], n), "f": rng.choice([0.5, 1.5], n),
                       "c": pd.Categorical(rng.choice(["p", "q"], n), categories=["q", "p", "r"]),
                       "record_key": ckm.record_keys(n, seed=1, kind="integer", modulus=4096)})
    got = ckm.cell_keys(df, by=["b", "u", "s", "f", "c"], modulus=4096, margins=["s"])
    ref = df.groupby(["b", "u", "s", "f", "c"], observed=True)["record_key"].agg(["size", "sum"])
    inner = got.sel(s=["x", "y", "z"]).to_dataframe()
    inner = inner[inner["count"] > 0]
    ref.index = pd.MultiIndex.from_tuples(list(ref.index), names=ref.index.names)
    inner.index = pd.MultiIndex.from_tuples(list(inner.index), names=inner.index.names)
    inner = inner.reindex(ref.index)
    np.testing.assert_array_equal(inner["count"].to_numpy(), ref["size"].to_numpy())
    np.testing.assert_array_equal(inner["cell_key"].to_numpy(), ref["sum"].to_numpy() % 4096)
    np.testing.assert_array_equal(got["c"].values, ["q", "p", "r"])          # every category, in order
    assert int(got["count"].sel(s="total").sum()) == n


# --------------------------------------------------------------------------- kernels vs numpy

def test_kernels_equal_numpy():
    from demokit._kernels import ckm as k
    rng = np.random.default_rng(5)
    n, shape = 5000, (7, 3, 11)
    cols = [rng.integers(10, 10 + s, n) for s in shape]
    keys = rng.integers(0, 256, n)
    flat = np.zeros(n, dtype=np.int64)
    for x, s in zip(cols, shape):
        assert k.accumulate_codes(flat, x, 0, 10, np.arange(s), s) == -1
    np.testing.assert_array_equal(flat, np.ravel_multi_index([x - 10 for x in cols], shape))
    table = np.zeros((int(np.prod(shape)), 2), dtype=np.int32)
    assert k.tabulate(flat[:3000], keys, 0, table, 256) == -1          # in two chunks
    assert k.tabulate(flat[3000:], keys, 3000, table, 256) == -1
    np.testing.assert_array_equal(table[:, 0], np.bincount(flat, minlength=table.shape[0]))
    np.testing.assert_array_equal(table[:, 1], np.bincount(flat, weights=keys, minlength=table.shape[0]) % 256)
    bad = keys.copy()
    bad[4321] = 256
    assert k.tabulate(flat, bad, 0, np.zeros_like(table), 256) == 4321
    u = ckm.record_keys(n, seed=2)
    t2 = np.zeros_like(table)
    assert k.tabulate_uniform(flat, u, 0, t2, 10**8) == -1
    np.testing.assert_array_equal(t2[:, 1], np.bincount(flat, weights=np.rint(u * 1e8),
                                                        minlength=table.shape[0]) % 10**8)
    absval = rng.random(n)
    top = k.top_contributors(flat, absval, 3, table.shape[0])
    for c in rng.choice(table.shape[0], 20):
        rows = np.flatnonzero(flat == c)
        want = rows[np.argsort(-absval[rows], kind="stable")][:3]
        np.testing.assert_array_equal(top[c][:len(want)], want)
        assert (top[c][len(want):] == -1).all()


@pytest.mark.parametrize("threads", [None, (2, 1_000), (8, 3_000), (8, 1_000)])
@pytest.mark.parametrize("ncols", [1, 2, 3, 4])
@pytest.mark.parametrize("modulus", [256, 200, 4096])
def test_one_pass_tabulation_equals_the_chunked_one_and_numpy(ncols, modulus, threads, monkeypatch):
    # 1–3 columns with integer keys: one pass (packed uint32 cells if modulus ≤ 256, else count/key
    # pairs); 4 columns: the chunked path; all equal to np.bincount over np.ravel_multi_index.
    # threads = (threads numba reports, records per range): the records in ranges with a table each
    # (also fewer ranges than threads, and more ranges than cores), the columns coded in threads
    if threads:
        import types
        from demokit._kernels import _jit
        import numba
        fake = types.SimpleNamespace(get_num_threads=lambda: threads[0], config=numba.config)
        monkeypatch.setattr(ckm, "numba", fake)
        monkeypatch.setattr(_jit, "numba", fake)   # parallel_ranges sees as many threads
        monkeypatch.setattr(ckm, "_RECORDS_PER_THREAD", threads[1])
    rng = np.random.default_rng(ncols * 7 + modulus)
    n, sizes = 20_000, (61, 3, 17, 5)[:ncols]
    cols = {f"c{i}": rng.integers(-4, -4 + s, n) for i, s in enumerate(sizes)}
    cols["c0"] = pd.Categorical.from_codes(cols["c0"] + 4, categories=[f"k{j:03d}" for j in range(sizes[0])])
    df = pd.DataFrame(cols)
    df["record_key"] = ckm.record_keys(n, seed=3, kind="integer", modulus=modulus)
    by = list(cols)
    pt = ckm.PTable("integer", modulus, pd.DataFrame(), 0)
    got = ckm._tabulate(df, by, "record_key", pt, False, None)
    enc = [ckm._encode(df[b], b, None) for b in by]
    ncells = int(np.prod([len(e[3]) for e in enc]))
    cnt, sums = ckm._tabulate_chunked(df, by, enc, df["record_key"].to_numpy(), "record_key", pt, ncells)
    flat = np.ravel_multi_index([df["c0"].cat.codes.to_numpy()] + [df[b].to_numpy() + 4 for b in by[1:]],
                                sizes)
    k = df["record_key"].to_numpy()
    np.testing.assert_array_equal(got[2].ravel(), np.bincount(flat, minlength=ncells))
    np.testing.assert_array_equal(got[3].ravel(), np.bincount(flat, weights=k, minlength=ncells) % modulus)
    np.testing.assert_array_equal(got[2].ravel(), cnt)
    np.testing.assert_array_equal(got[3].ravel(), sums % modulus)
    # errors name the column (or key) and the first bad row, as the chunked path does
    bad = df.copy()
    bad.loc[[777, 15_000], "record_key"] = modulus   # the first bad row is named (also with ranges)
    with pytest.raises(ckm.CKMError, match=rf"'record_key', row 777: {modulus} is outside"):
        ckm._tabulate(bad, by, "record_key", pt, False, None)
    bad = df.copy()
    bad["c0"] = bad["c0"].cat.set_categories(["k000", "k001"])
    row = int(np.flatnonzero(bad["c0"].isna().to_numpy())[0])
    with pytest.raises(ckm.CKMError, match=rf"column 'c0', row {row}: value nan is missing"):
        ckm._tabulate(bad, by, "record_key", pt, False, None)
