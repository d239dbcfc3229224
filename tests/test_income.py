"""Income and labour-market tables from register microdata (issue 13).

Every expected value is worked by hand in the test (the adjustment rules of SCB's
report §7.1–7.2, the Danish tax, consumption units) or computed by an
independent pandas/numpy implementation of the same definitions written here.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import demokit as dk
from demokit.income import IncomeError

NAN = float("nan")


def person(pid, hh, **kw):
    row = dict(person=pid, household=hh, region="1765", sex="female", age=40, birth_region="sweden",
               years_in_sweden=40.0, registered_jan1=True, registered_dec31=True, csfvi=0.0, cdisp=0.0,
               declared_wage=0.0, ku_wage=0.0, ku_type="none", work_income=0.0, foreign_country="",
               foreign_wage=0.0, foreign_tax=0.0)
    row.update(kw)
    return row


def table(rows):
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# The Danish tax model (2012 parameters), worked by hand in SEK
# ---------------------------------------------------------------------------------------------

def test_danish_tax_below_top_threshold():
    # W = 300,000 SEK.  AM = 8 % = 24,000.  Personal income 0.92 W = 276,000 SEK.
    # Allowance 42,900 DKK = 42,900 · 1.17 = 50,193 SEK.  Flat rate 24.9 + 7 + 4.64 = 36.54 %.
    # Tax = 24,000 + 0.3654 · (276,000 − 50,193) = 24,000 + 82,509.8778 = 106,509.8778
    assert dk.income.DANISH_TAX_2012(300_000.0) == pytest.approx(106_509.8778, abs=1e-4)


def test_danish_tax_with_top_tax_under_the_ceiling():
    # W = 600,000 SEK: 0.92 W = 552,000 SEK > top threshold 389,900 DKK = 456,183 SEK.
    # Top rate cut by the ceiling: min(15 %, 51.5 − 36.54 = 14.96 %) = 14.96 %.
    # Tax = 48,000 + 0.3654 · (552,000 − 50,193) + 0.1496 · (552,000 − 456,183)
    #     = 48,000 + 183,360.2778 + 14,334.2232 = 245,694.5010
    assert dk.income.DANISH_TAX_2012(600_000.0) == pytest.approx(245_694.5010, abs=1e-3)


def test_danish_tax_small_wage_only_am_bidrag():
    # W = 50,000 SEK: 0.92 W = 46,000 < allowance 50,193 → only AM-bidrag 4,000
    assert dk.income.DANISH_TAX_2012(50_000.0) == pytest.approx(4_000.0)


# ---------------------------------------------------------------------------------------------
# The three rules of §7.1 and the income types of §7.2
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def branches():
    rows = [
        # 1: rule 1 — no declared wage, no KU wage → add; DK tax from the model; alone with cdisp 0
        person(1, 10, foreign_country="DK", foreign_wage=300_000.0, foreign_tax=NAN),
        # 2: rule 2 — Swedish KU only, |50,000 + 200,000 − 200,000| = 50,000 > 20,000 → add
        person(2, 20, declared_wage=200_000.0, ku_wage=200_000.0, ku_type="swedish", csfvi=200_000.0,
               cdisp=150_000.0, foreign_country="NO", foreign_wage=50_000.0, foreign_tax=12_000.0),
        # 3: rule 2 at the upper boundary: |50,000 + 60,000 − 100,000| = 10,000 = 10 % → within, nothing
        person(3, 30, declared_wage=100_000.0, ku_wage=60_000.0, ku_type="swedish", csfvi=100_000.0,
               cdisp=80_000.0, foreign_country="NO", foreign_wage=50_000.0, foreign_tax=10_000.0),
        # 4: just outside: |50,001 + 60,000 − 100,000| = 10,001 > 10,000 → add
        person(4, 40, declared_wage=100_000.0, ku_wage=60_000.0, ku_type="swedish", csfvi=100_000.0,
               cdisp=80_000.0, foreign_country="NO", foreign_wage=50_001.0, foreign_tax=10_000.0),
        # 5: lower boundary: |50,000 + 40,000 − 100,000| = 10,000 → within, nothing
        person(5, 50, declared_wage=100_000.0, ku_wage=40_000.0, ku_type="swedish", csfvi=100_000.0,
               cdisp=80_000.0, foreign_country="NO", foreign_wage=50_000.0, foreign_tax=10_000.0),
        # 6: rule 3, KU14 → add 80,000; cdisp + 80,000 − 20,000
        person(6, 60, declared_wage=100_000.0, ku_wage=100_000.0, ku_type="ku14", csfvi=100_000.0,
               cdisp=75_000.0, foreign_country="NO", foreign_wage=80_000.0, foreign_tax=20_000.0),
        # 7: rule 3, KU10 → nothing
        person(7, 70, declared_wage=100_000.0, ku_wage=100_000.0, ku_type="ku10", csfvi=100_000.0,
               cdisp=75_000.0, foreign_country="NO", foreign_wage=80_000.0, foreign_tax=20_000.0),
        # 8: tax 40,000 > wage 30,000: csfvi + 30,000, cdisp unchanged
        person(8, 80, csfvi=20_000.0, cdisp=16_000.0, foreign_country="NO", foreign_wage=30_000.0,
               foreign_tax=40_000.0),
        # 9: rule 2 without any KU (declared 50,000 only): |200,000 + 0 − 50,000| > 5,000 → add
        person(9, 90, declared_wage=50_000.0, csfvi=50_000.0, cdisp=40_000.0, foreign_country="NO",
               foreign_wage=200_000.0, foreign_tax=50_000.0),
        # 10: no foreign income → unchanged
        person(10, 100, declared_wage=300_000.0, ku_wage=300_000.0, ku_type="swedish", csfvi=300_000.0,
               cdisp=220_000.0),
    ]
    return table(rows)


def test_adjustment_rules(branches):
    a = dk.income.adjust_cross_border(branches).set_index("person")
    expected_rule = {1: "1_no_wage_added", 2: "2_swedish_ku_added", 3: "2_swedish_ku_within_tolerance",
                     4: "2_swedish_ku_added", 5: "2_swedish_ku_within_tolerance", 6: "3_ku14_added",
                     7: "3_ku10_not_added", 8: "1_no_wage_added", 9: "2_swedish_ku_added", 10: "none"}
    assert a["adjustment_rule"].astype(str).to_dict() == expected_rule
    dk_tax = 106_509.8778  # worked above
    expected_csfvi = {1: 300_000, 2: 250_000, 3: 100_000, 4: 150_001, 5: 100_000, 6: 180_000, 7: 100_000,
                      8: 50_000, 9: 250_000, 10: 300_000}
    expected_cdisp = {1: 300_000 - dk_tax, 2: 150_000 + 50_000 - 12_000, 3: 80_000, 4: 80_000 + 40_001,
                      5: 80_000, 6: 75_000 + 60_000, 7: 75_000, 8: 16_000, 9: 40_000 + 150_000, 10: 220_000}
    for p in expected_csfvi:
        assert a.loc[p, "csfvi_adjusted"] == pytest.approx(expected_csfvi[p]), p
        assert a.loc[p, "cdisp_adjusted"] == pytest.approx(expected_cdisp[p], abs=1e-3), p
    assert a.loc[1, "foreign_tax_used"] == pytest.approx(dk_tax, abs=1e-3)


def test_tolerance_is_a_parameter(branches):
    # with 0 % tolerance person 3 (|diff| = 10,000) is outside → add
    a = dk.income.adjust_cross_border(branches, tolerance=0.0).set_index("person")
    assert a.loc[3, "csfvi_adjusted"] == 150_000


def test_tax_model_is_a_parameter(branches):
    a = dk.income.adjust_cross_border(branches, tax_model=lambda w: 0.5 * np.asarray(w)).set_index("person")
    assert a.loc[1, "cdisp_adjusted"] == pytest.approx(150_000.0)


def test_zero_income_household_enters_helarsbefolkningen(branches):
    hh = dk.income.household_income(dk.income.adjust_cross_border(branches)).set_index("person")
    # person 1 lives alone with cdisp 0: out of helårsbefolkningen officially, in after the adjustment
    assert not hh.loc[1, "full_year"]
    assert hh.loc[1, "full_year_adjusted"]
    assert hh.loc[1, "cdisp_per_cu_adjusted"] == pytest.approx(300_000 - 106_509.8778, abs=1e-3)
    assert hh.loc[10, "full_year"] and hh.loc[10, "full_year_adjusted"]


def test_not_registered_all_year_is_outside():
    rows = [person(1, 1, cdisp=100.0, registered_jan1=False), person(2, 2, cdisp=100.0, registered_dec31=False),
            person(3, 3, cdisp=100.0), person(4, 4, cdisp=-5.0)]
    hh = dk.income.household_income(dk.income.adjust_cross_border(table(rows)))
    # negative household income is "not 0": inside
    assert hh["full_year"].tolist() == [False, False, True, True]


# ---------------------------------------------------------------------------------------------
# Consumption units (SCB's scale: 1.00, 0.51, 0.60, 0.52, 0.42) for every household shape
# ---------------------------------------------------------------------------------------------

CU_CASES = [
    ("single adult", [40], None, 1.00, "single_no_children"),
    ("couple", [40, 38], None, 1.00 + 0.51, "couple_no_children"),
    ("couple, one child", [40, 38, 5], None, 1.51 + 0.52, "couple_with_children"),
    ("couple, three children", [40, 38, 5, 9, 19], None, 1.51 + 0.52 + 0.42 + 0.42, "couple_with_children"),
    ("single parent, two children", [35, 3, 7], None, 1.00 + 0.52 + 0.42, "single_with_children"),
    ("couple and an adult child (20)", [50, 49, 20], None, 1.51 + 0.60, "other"),
    ("three adults and a child", [50, 49, 22, 12], None, 1.51 + 0.60 + 0.52, "other"),
    ("two adults, not a couple", [50, 24], False, 1.00 + 0.60, "other"),
    ("child alone (17)", [17], None, 1.00, "single_no_children"),
    ("two children alone (15, 17)", [17, 15], None, 1.00 + 0.52, "single_with_children"),
]


@pytest.mark.parametrize("label, ages, couple, cu, htype", CU_CASES, ids=[c[0] for c in CU_CASES])
def test_consumption_units(label, ages, couple, cu, htype):
    rows = [person(i, 7, age=a, cdisp=100_000.0) for i, a in enumerate(ages)]
    df = table(rows)
    if couple is not None:
        df["couple"] = couple
    hh = dk.income.household_income(dk.income.adjust_cross_border(df))
    assert hh["consumption_units"].tolist() == pytest.approx([cu] * len(ages))
    assert set(hh["household_type"].astype(str)) == {htype}
    # disposable income per consumption unit: household sum / units
    assert hh["cdisp_per_cu"].iloc[0] == pytest.approx(100_000.0 * len(ages) / cu)


def test_consumption_scale_is_a_parameter():
    oecd = dk.income.ConsumptionScale(second_adult=0.5, further_adult=0.5, first_child=0.3, further_child=0.3,
                                      child_max_age=13)
    rows = [person(i, 1, age=a, cdisp=1.0) for i, a in enumerate([40, 38, 15, 5])]
    hh = dk.income.household_income(dk.income.adjust_cross_border(table(rows)), scale=oecd)
    # modified OECD: 1 + 0.5 (partner) + 0.5 (15 years: adult) + 0.3 (child under 14) = 2.3
    assert hh["consumption_units"].iloc[0] == pytest.approx(2.3)


# ---------------------------------------------------------------------------------------------
# Option 3 (§9): year t completed with year t−1's foreign incomes
# ---------------------------------------------------------------------------------------------

def test_impute_cross_border():
    t = table([person(1, 1), person(2, 2, foreign_country="NO", foreign_wage=10.0, foreign_tax=1.0),
               person(3, 3)])
    prev = pd.DataFrame({"person": [1, 2, 9], "foreign_country": ["DK", "NO", "NO"],
                         "foreign_wage": [100_000.0, 50_000.0, 7.0], "foreign_tax": [NAN, 5_000.0, 1.0]})
    out = dk.income.impute_cross_border(t, prev, uprating=1.02).set_index("person")
    # person 1 had no year-t data: takes t−1's 100,000 · 1.02 = 102,000 from Denmark
    assert out.loc[1, "foreign_country"] == "DK"
    assert out.loc[1, "foreign_wage"] == pytest.approx(102_000.0)
    assert np.isnan(out.loc[1, "foreign_tax"])
    # person 2 keeps year t's data; person 3 has nothing in t−1
    assert out.loc[2, "foreign_wage"] == 10.0 and out.loc[3, "foreign_country"] == ""
    assert out["foreign_imputed"].tolist() == [True, False, False]
    a = dk.income.adjust_cross_border(out.reset_index()).set_index("person")
    assert a.loc[1, "csfvi_adjusted"] == pytest.approx(102_000.0)


# ---------------------------------------------------------------------------------------------
# Bad input: clear errors naming the column and the first bad row
# ---------------------------------------------------------------------------------------------

def test_errors(branches):
    with pytest.raises(IncomeError, match="ku_wage"):
        dk.income.validate_persons(branches.drop(columns="ku_wage"))
    bad = branches.copy()
    bad.loc[4, "declared_wage"] = -1.0
    with pytest.raises(IncomeError, match=r"column 'declared_wage', row 4 .*negative"):
        dk.income.adjust_cross_border(bad)
    bad = branches.copy()
    bad.loc[2, "ku_type"] = "ku99"
    with pytest.raises(IncomeError, match=r"column 'ku_type', row 2 .*'ku99'"):
        dk.income.adjust_cross_border(bad)
    bad = branches.copy()
    bad.loc[5, "person"] = 1   # person 1 again, in household 60
    with pytest.raises(IncomeError, match=r"column 'person', row 0: person 1 occurs twice"):
        dk.income.adjust_cross_border(bad)
    bad = branches.copy()
    bad.loc[1, "foreign_tax"] = NAN   # a Norwegian wage without its tax
    with pytest.raises(IncomeError, match=r"foreign_tax.*row 1"):
        dk.income.adjust_cross_border(bad)
    bad = branches.copy()
    bad.loc[3, "sex"] = "x"
    with pytest.raises(IncomeError, match=r"column 'sex', row 3"):
        dk.income.household_income(dk.income.adjust_cross_border(bad, validate=True))
    with pytest.raises(IncomeError, match="income must be one of"):
        dk.income.statistics(branches, income="wealth")
    with pytest.raises(IncomeError, match="cannot group by"):
        dk.income.statistics(branches, by=["deso"])
    with pytest.raises(dk.DemokitError):
        dk.income.adjust_cross_border(branches, tolerance=-0.1)
    bad = branches.copy()
    bad.loc[6, "region"] = None
    with pytest.raises(IncomeError, match=r"column 'region', row 6 .*missing"):
        dk.income.adjust_cross_border(bad)


def test_read_persons_parquet(tmp_path, branches):
    pytest.importorskip("pyarrow")
    p = tmp_path / "persons.parquet"
    branches.to_parquet(p)
    df = dk.income.read_persons(p)
    pd.testing.assert_frame_equal(df, branches)


# ---------------------------------------------------------------------------------------------
# Statistics vs an independent pandas implementation of the same definitions
# ---------------------------------------------------------------------------------------------

AGES = {"all": (0, None), "20+": (20, None), "20-64": (20, 64)}


@pytest.fixture(scope="module")
def register():
    df = dk.datasets.synthetic_register(60_000, seed=3)
    # whole households live in one kommun: keep 24 kommuner (the border ones among them) to keep it fast
    keep = ["1280", "1765", "1486", "1730", "0180", "1480", "1233", "1737"] + \
        df["region"].cat.categories[::18].tolist()
    df = df[df["region"].isin(keep)].reset_index(drop=True)
    return dk.income.household_income(dk.income.adjust_cross_border(df))


def reference(df, col, pop, by, threshold=None):
    """Plain pandas/numpy: filter, group, then np.sort / np.quantile per group."""
    rows = []
    for lab, (lo, hi) in AGES.items():
        sel = df[df[pop] & (df["age"] >= lo) & (df["age"] <= (hi if hi is not None else 999))]
        for key, g in sel.groupby(by, observed=True):
            x = np.sort(g[col].to_numpy(dtype=float))
            n = x.size
            r = np.arange(1, n + 1)
            dec = np.ceil(10 * r / n)
            rec = dict(zip(by, key if isinstance(key, tuple) else (key,)))
            rec.update(age_group=lab, persons=n, mean=x.mean(),
                       median=np.quantile(x, 0.5, method="averaged_inverted_cdf"),
                       p10=np.quantile(x, 0.1, method="averaged_inverted_cdf"),
                       p90=np.quantile(x, 0.9, method="averaged_inverted_cdf"),
                       top5_mean=x[r / n > 0.95].mean(), top1_mean=x[r / n > 0.99].mean() if (r / n > 0.99).any()
                       else np.nan)
            e = x[x > 0]
            rec["earners"] = e.size
            rec["median_earners"] = np.quantile(e, 0.5, method="averaged_inverted_cdf") if e.size else np.nan
            for d in range(1, 11):
                rec[f"d{d}"] = x[dec == d].mean() if (dec == d).any() else np.nan
            if threshold is not None:
                rec["low_income_share"] = (x < threshold).mean()
            rows.append(rec)
    return pd.DataFrame(rows).set_index(list(by) + ["age_group"])


@pytest.mark.parametrize("income", ["csfvi", "cdisp_per_cu"])
def test_statistics_equal_independent_pandas(register, income):
    st_ = dk.income.statistics(register, income=income, by=["region", "sex"], ages=AGES)
    for v, col, pop in (("official", income, "full_year"), ("adjusted", income + "_adjusted", "full_year_adjusted")):
        thr = None
        if income == "cdisp_per_cu":
            allx = register.loc[register[pop], col].to_numpy()
            thr = 0.6 * np.quantile(allx, 0.5, method="averaged_inverted_cdf")
            assert float(st_["low_income_threshold"].sel(version=v)) == pytest.approx(thr, rel=1e-13)
        ref = reference(register, col, pop, ["region", "sex"], thr)
        got = st_.sel(version=v)
        for var in ["persons", "mean", "median", "p10", "p90", "top5_mean", "top1_mean", "earners",
                    "median_earners"] + (["low_income_share"] if thr is not None else []):
            s = got[var].to_series()
            s = s[got["persons"].to_series() > 0]
            r = ref[var].reindex(s.index)
            np.testing.assert_allclose(s.to_numpy(), r.to_numpy(), rtol=1e-12, atol=1e-9, err_msg=f"{v} {var}")
        dm = got["decile_mean"].to_series().unstack("decile")
        dm = dm[got["persons"].to_series() > 0]
        np.testing.assert_allclose(dm.to_numpy(), ref[[f"d{d}" for d in range(1, 11)]].reindex(dm.index).to_numpy(),
                                   rtol=1e-12, atol=1e-9)
    # the differences are adjusted − official
    d = st_["median"].sel(version="adjusted") - st_["median"].sel(version="official")
    xr.testing.assert_allclose(st_["median_diff"], d.assign_attrs(st_["median_diff"].attrs))


def test_statistics_other_groupings(register):
    st_ = dk.income.statistics(register, income="cdisp", by=["birth_region", "years_in_sweden"],
                               ages={"20+": (20, None)})
    df = register.copy()
    yis = np.select([df["birth_region"].astype(str) == "sweden", df["years_in_sweden"] < 5,
                     df["years_in_sweden"] < 10, df["years_in_sweden"] < 20], ["born_in_sweden", "0-4", "5-9", "10-19"],
                    "20+")
    df["yis"] = yis
    sel = df[df["full_year"] & (df["age"] >= 20)]
    ref = sel.groupby([sel["birth_region"].astype(str), "yis"])["cdisp"].median()
    got = st_["median"].sel(version="official", age_group="20+").to_series()
    got = got[st_["persons"].sel(version="official", age_group="20+").to_series() > 0]
    np.testing.assert_allclose(got.to_numpy(), ref.reindex(got.index).to_numpy())
    ht = dk.income.statistics(register, income="cdisp_per_cu", by=["household_type"], ages={"all": (0, None)})
    ref = df[df["full_year_adjusted"]].groupby(df["household_type"].astype(str))["cdisp_per_cu_adjusted"].mean()
    got = ht["mean"].sel(version="adjusted", age_group="all").to_series()
    np.testing.assert_allclose(got.to_numpy(), ref.reindex(got.index).to_numpy(), rtol=1e-12)


def test_quantile_method_parameter(register):
    st_ = dk.income.statistics(register, income="csfvi", by=["sex"], ages={"all": (0, None)},
                               quantile_method="linear")
    x = register.loc[register["full_year"] & (register["sex"] == "male"), "csfvi"].to_numpy()
    assert float(st_["p90"].sel(version="official", sex="male", age_group="all")) == pytest.approx(
        np.quantile(x, 0.9, method="linear"), rel=1e-13)


def test_ranking_equals_pandas_rank(register):
    st_ = dk.income.statistics(register, income="csfvi", by=["region"], ages={"20+": (20, None)})
    rk = dk.income.ranking(st_)
    for v in ("official", "adjusted"):
        med = st_["median"].sel(version=v, age_group="20+").to_series()
        ref = med.rank(ascending=False, method="min")
        got = rk["rank"].sel(version=v).to_series()
        np.testing.assert_array_equal(got.to_numpy(), ref.reindex(got.index).to_numpy())
    np.testing.assert_array_equal(rk["rank_change"].values,
                                  rk["rank"].sel(version="official").values - rk["rank"].sel(version="adjusted").values)


def test_employment_rates_equal_pandas_and_feed_labour_force(register):
    rates = dk.employment_rates(register, basbelopp=44_000)
    night = register[register["registered_dec31"]].copy()
    night["emp_off"] = (night["age"] >= 16) & (night["work_income"] > 44_000)
    night["emp_adj"] = (night["age"] >= 16) & (night["work_income"] + night["foreign_added"] > 44_000)
    night["age"] = night["age"].clip(upper=100)
    for v, c in (("official", "emp_off"), ("adjusted", "emp_adj")):
        ref = night.groupby([night["region"].astype(str), night["sex"].astype(str), "age"])[c].mean()
        got = rates.sel(version=v).to_series()
        got = got.reindex(ref.index)
        np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), rtol=1e-12)
    assert float(rates.sel(age=slice(0, 15)).max()) == 0.0
    assert (rates.sel(version="adjusted") >= rates.sel(version="official")).all()
    # a projection's labour force from these rates, directly
    national = dk.employment_rates(register, by_region=False)
    pop = xr.DataArray(np.full((2, 101), 1000.0), dims=("sex", "age"),
                       coords={"sex": ["female", "male"], "age": np.arange(101)})
    lf = dk.labour_force(pop, national)
    np.testing.assert_allclose(lf["employed"].values, 1000.0 * national.transpose("version", "sex", "age").values)


# ---------------------------------------------------------------------------------------------
# Larger than memory: partitioned parquet through dask equals the in-memory result
# ---------------------------------------------------------------------------------------------

def test_partitioned_parquet_equals_in_memory(tmp_path):
    pytest.importorskip("pyarrow")
    pytest.importorskip("dask")
    df = dk.datasets.synthetic_register(30_000, seed=5)
    df = df[df["region"].isin(["1280", "1765", "1486", "0180", "2584", "1233"])].reset_index(drop=True)
    dk.income.write_partitioned(df, tmp_path / "reg")
    for income in ("csfvi", "cdisp_per_cu"):
        mem = dk.income.statistics(df, income=income, by=["region", "sex"])
        part = dk.income.statistics_from_parquet(tmp_path / "reg", income=income, by=["region", "sex"],
                                                 regions_per_task=4, scheduler="synchronous")
        regions = part["region"].values
        assert (mem["persons"].drop_sel(region=regions).sum() == 0)
        xr.testing.assert_allclose(part.drop_vars(["low_income_threshold"], errors="ignore"),
                                   mem.sel(region=regions).drop_vars(["low_income_threshold"], errors="ignore"),
                                   rtol=1e-12)
        if income == "cdisp_per_cu":
            np.testing.assert_allclose(part["low_income_threshold"].values, mem["low_income_threshold"].values,
                                       rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

@st.composite
def person_tables(draw):
    n = draw(st.integers(1, 25))
    amount = st.floats(0, 1e6, allow_nan=False).map(round)
    rows = []
    for i in range(n):
        country = draw(st.sampled_from(["", "DK", "NO"]))
        fw = draw(amount) if country else 0.0
        tax = NAN if country == "DK" else (draw(amount) if country else 0.0)
        rows.append(person(i, draw(st.integers(0, 5)), age=draw(st.integers(0, 100)),
                           csfvi=draw(amount), cdisp=draw(st.floats(-1e5, 1e6, allow_nan=False)),
                           declared_wage=draw(amount), ku_wage=draw(amount),
                           ku_type=draw(st.sampled_from(["none", "swedish", "ku14", "ku10"])),
                           foreign_country=country, foreign_wage=fw, foreign_tax=tax))
    return table(rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(person_tables())
def test_property_adjustment_never_lowers_and_leaves_others_alone(df):
    a = dk.income.adjust_cross_border(df)
    assert (a["csfvi_adjusted"] >= a["csfvi"]).all()
    assert (a["cdisp_adjusted"] >= a["cdisp"]).all()
    none = (df["foreign_country"] == "") | (df["foreign_wage"] == 0)
    assert (a.loc[none, "csfvi_adjusted"] == a.loc[none, "csfvi"]).all()
    assert (a.loc[none, "cdisp_adjusted"] == a.loc[none, "cdisp"]).all()
    assert (a.loc[none, "adjustment_rule"].astype(str) == "none").all()


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32 - 1))
def test_property_group_statistics_do_not_depend_on_row_order(register, seed):
    small = register.iloc[:4_000]
    perm = np.random.default_rng(seed).permutation(len(small))
    a = dk.income.statistics(small, income="cdisp_per_cu", by=["region", "sex"])
    b = dk.income.statistics(small.iloc[perm], income="cdisp_per_cu", by=["region", "sex"])
    xr.testing.assert_allclose(a, b, rtol=1e-12)


def test_cli_income_demo(tmp_path):
    from demokit.cli import main

    assert main(["income", "--demo", "--persons", "8000", "--out", str(tmp_path)]) == 0
    for f in ("report.html", "csfvi_by_region.nc", "csfvi_by_region.csv", "ranking.csv",
              "cdisp_per_cu_by_region.nc", "employment_rates.nc"):
        assert (tmp_path / f).stat().st_size > 0
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Årjäng" in html and "table 8" in html


def test_synthetic_register_is_deterministic_and_calibrated():
    a = dk.datasets.synthetic_register(30_000, seed=11)
    b = dk.datasets.synthetic_register(30_000, seed=11)
    pd.testing.assert_frame_equal(a, b)
    dk.income.validate_persons(a)
    assert a["region"].cat.categories.size == 290
    # commuters per person as in table 1 (2012): DK 21,916 and NO 54,823 of 9,555,893
    n_dk = int((a["foreign_country"] == "DK").sum())
    n_no = int((a["foreign_country"] == "NO").sum())
    assert n_dk == round(30_000 * 21_916 / 9_555_893) and n_no == round(30_000 * 54_823 / 9_555_893)
    hh = a["household"].nunique()
    assert 2.0 < 30_000 / hh < 2.3


def test_kernel_sort_by_group_value_equals_lexsort():
    """The MSD radix sort (group digit, then the value's bit pattern) against numpy.lexsort."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from demokit._kernels import income as k

    S = sys.modules["demokit.income.statistics"]
    rng = np.random.default_rng(0)
    n, G = 5_000, 7
    x = np.concatenate([rng.normal(0, 1e5, n - 6), [0.0, -0.0, 1e-300, -1e-300, 1e12, -1e12]])
    x[::9] = np.round(x[::9], -3)          # many ties
    codes = rng.integers(0, G, n)
    codes[codes == 3] = 4                  # an empty group
    payload = rng.integers(0, 256, n).astype(np.int32)
    rows = np.flatnonzero(rng.random(n) < 0.8)
    with ThreadPoolExecutor(2) as pool:
        xs, ps, starts = S._sort_by_group_value(pool, k.ro(x), k.ro(payload), k.ro(rows), k.ro(codes), G)
    ref = rows[np.lexsort((x[rows], codes[rows]))]
    np.testing.assert_array_equal(xs, x[ref])            # same values in the same order (ties: equal values)
    np.testing.assert_array_equal(starts, np.concatenate([[0], np.cumsum(np.bincount(codes[rows], minlength=G))]))
    # stable: within equal (group, value) the payloads keep the order of rows
    ref_stable = rows[np.lexsort((np.arange(rows.size), x[rows], codes[rows]))]
    same = (xs == x[ref_stable])
    np.testing.assert_array_equal(ps[same & (xs != 0)], payload[ref_stable][same & (xs != 0)])


def test_synthetic_commuters_follow_the_report_tables():
    """Tables 1–4 of the report (2012) and §7.1's 93–95 % adjusted, on 600,000 synthetic persons."""
    d = dk.datasets.synthetic_register(600_000, seed=8)
    c = d[d["foreign_country"] != ""]
    spec = dk.datasets.synthetic.COMMUTERS_2012
    for cc in ("DK", "NO"):
        x = c[c["foreign_country"] == cc]
        # table 4: median foreign wage by sex within 8 %
        for sex, key in (("female", "median_women"), ("male", "median_men")):
            assert x.loc[x["sex"] == sex, "foreign_wage"].median() == pytest.approx(spec[cc][key], rel=0.08)
        # table 1: women's share within 4 percentage points (about 3 standard errors for Denmark)
        assert (x["sex"] == "female").mean() == pytest.approx(spec[cc]["women"] / spec[cc]["persons"], abs=0.04)
        # table 2: age groups within 4 percentage points
        groups = np.searchsorted([0, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 200], x["age"], side="right") - 1
        share = np.bincount(groups, minlength=11) / len(x) * 100
        np.testing.assert_allclose(share, spec[cc]["age_pct"], atol=4)
        # table 3: born in Sweden within 4 percentage points
        assert 100 * (x["birth_region"] == "sweden").mean() == pytest.approx(spec[cc]["birth_pct"]["sweden"], abs=4)
    rule = dk.income.adjust_cross_border(c)["adjustment_rule"].astype(str)
    assert 0.90 <= rule.isin(["1_no_wage_added", "2_swedish_ku_added", "3_ku14_added"]).mean() <= 0.97


def test_kernel_parallel_scatter_equals_serial():
    """The two-thread group scatter (count, then scatter, consecutive row ranges) gives exactly
    the serial counting sort's keys, payloads and starts; the serial path (pool=None) sorts alike."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from demokit._kernels import income as k

    S = sys.modules["demokit.income.statistics"]
    rng = np.random.default_rng(3)
    n, G = 3_001, 5
    x = np.round(rng.normal(0, 1e4, n), -2)
    codes = rng.integers(0, G, n)
    payload = np.arange(n, dtype=np.int32)          # distinct: any order change shows
    rows = np.flatnonzero(rng.random(n) < 0.9)
    ref = k.group_scatter(k.ro(x), k.ro(payload), k.ro(rows), k.ro(codes), G)
    with ThreadPoolExecutor(2) as pool:
        par = S._scatter(pool, k.ro(x), k.ro(payload), k.ro(rows), k.ro(codes), G)
        xs, ps, starts = S._sort_by_group_value(pool, k.ro(x), k.ro(payload), k.ro(rows), k.ro(codes), G)
    for a, b in zip(ref, par):
        np.testing.assert_array_equal(a, b)
    xs0, ps0, starts0 = S._sort_by_group_value(None, k.ro(x), k.ro(payload), k.ro(rows), k.ro(codes), G)
    np.testing.assert_array_equal(xs0, xs)
    np.testing.assert_array_equal(ps0, ps)
    np.testing.assert_array_equal(starts0, starts)


def test_kernel_decile_groups_by_ceiling_formula():
    """Decile group ⌈10 r / n⌉ for every group size 1..31 (small sizes skip decile groups):
    counts and means against numpy's ceil of the formula."""
    from demokit._kernels import income as k

    sizes = np.arange(1, 32)
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    x = np.concatenate([np.arange(1.0, m + 1) * 10 for m in sizes])
    age = np.full(x.size, 30, np.int32)
    G = sizes.size
    scal, qs, dm = np.empty((G, 1, k.N_OUT)), np.empty((G, 1, 3)), np.empty((G, 1, 10))
    k.grouped_measures(k.ro(x), k.ro(age), k.ro(starts), k.ro(np.array([0])), k.ro(np.array([200])),
                       k.ro(np.array([10, 50, 90])), 0, -np.inf, scal, qs, dm, 0, G)
    for g, m in enumerate(sizes):
        r = np.arange(1, m + 1)
        d = np.ceil(10 * r / m).astype(int)       # x = 10 r, so the decile mean is 10 × mean rank
        for j in range(1, 11):
            sel = r[d == j]
            want = 10 * sel.mean() if sel.size else np.nan
            np.testing.assert_allclose(dm[g, 0, j - 1], want, rtol=0, atol=1e-9, equal_nan=True)
        assert scal[g, 0, 10] == (d == 10).sum()


def _household_outputs(df, grouped):
    from demokit.income.households import _household_codes, _totals

    h, H = _household_codes(df["household"])
    n = len(df)
    inc0 = df["cdisp"].to_numpy(dtype=float)
    inc1 = inc0 + np.where(np.arange(n) % 7 == 0, 1234.5, 0.0)
    child = df["age"].to_numpy() <= 19
    reg = df["registered_jan1"].to_numpy() & df["registered_dec31"].to_numpy()
    couple = np.arange(H) % 3 != 0
    out = (np.empty(n), np.empty((2, n)), np.empty((2, n)), np.empty((2, n), bool), np.empty(n, np.int8))
    _totals(h, H, child, inc0, inc1, 2, reg, dk.income.SCB_SCALE, couple, out, grouped=grouped)
    return out, (h, inc0, inc1, child, reg, couple)


@pytest.mark.parametrize("order", ["grouped", "shuffled", "one_split_household"])
def test_household_fast_path_equals_general_path_and_plain_numpy(order):
    df = dk.datasets.synthetic_register(20_000, seed=5)
    if order == "shuffled":
        df = df.sample(frac=1.0, random_state=1).reset_index(drop=True)
    elif order == "one_split_household":   # household 3's last member moved to the end: not grouped
        last = int(np.flatnonzero(df["household"].to_numpy() == 3)[-1])
        df = pd.concat([df.drop(index=last), df.loc[[last]]]).reset_index(drop=True)
    fast, (h, inc0, inc1, child, reg, couple) = _household_outputs(df, grouped=True)
    slow, _ = _household_outputs(df, grouped=False)
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)   # element for element, not approximately
    # plain numpy reference of the household sums, units and helårsbefolkningen
    H = h.max() + 1
    a = np.bincount(h, ~child, H)
    c = np.bincount(h, child, H)
    oc = (a == 0) & (c > 0)
    a, c = np.where(oc, 1, a), np.where(oc, c - 1, c)
    cu = (1.0 * (a >= 1) + np.where(couple, 0.51, 0.60) * (a >= 2) + 0.60 * np.maximum(a - 2, 0)
          + 0.52 * (c >= 1) + 0.42 * np.maximum(c - 1, 0))
    np.testing.assert_allclose(fast[0], cu[h], rtol=1e-15)
    for v, inc in enumerate((inc0, inc1)):
        tot = np.bincount(h, inc, H)[h]
        np.testing.assert_allclose(fast[1][v], tot, rtol=1e-12, atol=1e-6)
        np.testing.assert_allclose(fast[2][v], tot / cu[h], rtol=1e-12, atol=1e-6)
        np.testing.assert_array_equal(fast[3][v], reg & (fast[1][v] != 0))


def test_household_grouped_kernel_detects_split_households():
    from demokit._kernels import income as k

    def run(h):
        h = np.asarray(h, np.int64)
        n, H = h.size, int(h.max()) + 1
        z = np.zeros(n)
        out = (np.empty(n), np.empty((1, n)), np.empty((1, n)), np.empty((1, n), bool), np.empty(n, np.int8))
        return k.household_totals_grouped(h, H, np.zeros(n, bool), z, z, 1, np.ones(n, bool),
                                          1.0, 0.51, 0.6, 0.52, 0.42, np.ones(H, bool), *out)

    assert run([0, 0, 1, 1, 1, 2])
    assert run([5, 5, 2, 0, 0, 9])       # grouped, not sorted
    assert not run([0, 0, 1, 0])
    assert not run([1, 0, 1])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -1e-300, -5.0])
@pytest.mark.parametrize("pos", [0, 8191, 8192, 20_000])
def test_kernel_amount_check_equals_numpy(bad, pos):
    from demokit._kernels import income as k

    v = np.full(20_001, 1.0)
    v[7] = -0.0
    v[9] = np.finfo(float).max
    assert k.amounts_ok(v, False, False) and k.amounts_ok(v, True, True)
    v[pos] = bad
    for allow_nan, allow_negative in itertools.product([False, True], repeat=2):
        ok = np.isfinite(v) | (allow_nan & np.isnan(v))
        ok &= ~(v < 0) | allow_negative
        assert k.amounts_ok(v, allow_nan, allow_negative) == bool(ok.all())


def test_kernel_parallel_changed_rows_equal_serial_and_numpy():
    """The two-range changed_rows (counts, then fills from the offsets) gives the serial lists; both
    equal the numpy definition (changed: value or population flag differs, NaN counts as different)."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from demokit._kernels import income as k

    S = sys.modules["demokit.income.statistics"]
    rng = np.random.default_rng(11)
    n = 5_003
    x_off = np.round(rng.normal(0, 1e4, n), -2)
    x_adj = np.where(rng.random(n) < 0.1, x_off + 100, x_off)
    x_adj[::97] = np.nan
    pop_off, pop_adj = rng.random(n) < 0.9, rng.random(n) < 0.9
    age = rng.integers(0, 101, n)
    ref = k.changed_rows(x_off, x_adj, pop_off, pop_adj, age)
    with ThreadPoolExecutor(2) as pool:
        par = S._changed_rows(pool, x_off, x_adj, pop_off, pop_adj, age)
    for a, b in zip(ref, par):
        np.testing.assert_array_equal(a, b)
    changed = (x_adj != x_off) | (pop_adj != pop_off)
    np.testing.assert_array_equal(par[0], age | np.where(changed, 256, 0))
    np.testing.assert_array_equal(par[1], np.flatnonzero(pop_off))
    np.testing.assert_array_equal(par[2], np.flatnonzero(pop_adj & changed))
