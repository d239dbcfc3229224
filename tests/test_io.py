"""Readers: SCB long CSVs, PX-Web CSV, HMD text; errors name file and line."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import demokit as dk
from demokit import io
from demokit.io._common import allocate_largest_remainder


def write(tmp_path, name, text, gz=False):
    p = tmp_path / name
    if gz:
        with gzip.open(p, "wt") as fh:
            fh.write(text)
    else:
        p.write_text(text)
    return p


LONG_BIRTHS = """age,sex,region,year,value
<15,Females,Stockholm,2000,1
15,Females,Stockholm,2000,2
16,Females,Stockholm,2000,6
48,Females,Stockholm,2000,1
49+,Females,Stockholm,2000,2
no information,Females,Stockholm,2000,4
"""


def test_long_births_folding_and_no_information(tmp_path):
    p = write(tmp_path, "births.csv.gz", LONG_BIRTHS, gz=True)
    b = io.read_scb_long(p, name="births", fertile_ages=(15, 49), age_convention="year_end")
    v = b.sel(region="01", sex="female", year=2000)
    # by hand: age 15 gets <15 (1) + 2 = 3; 49 gets 49+ = 2; 16: 6; 48: 1; known total 12
    # 4 unknown spread as 4 * (3, 6, 1, 2) / 12 = (1, 2, 0.33, 0.67) -> largest remainder (1, 2, 0, 1)
    assert v.sel(age=15).item() == 3 + 1
    assert v.sel(age=16).item() == 6 + 2
    assert v.sel(age=48).item() == 1
    assert v.sel(age=49).item() == 2 + 1
    assert v.sum().item() == 1 + 2 + 6 + 1 + 2 + 4
    assert "folded_ages" in b.attrs and b.attrs["age_convention"] == "year_end"
    assert b["region_name"].item() == "Stockholm"


def test_births_open_age_above_49_folded_at_49_as_scb_does(tmp_path):
    """'50+' / '60+' births are counted at 49 (SCB's '49+' convention) and named in attrs; '45+' raises."""
    text = "Region,AlderModer,Kon,BE0101E2 2019\n2581,15,1,2\n2581,49,1,3\n2581,60+,1,5\n2581,<15,1,1\n"
    ds = io.read_pxweb_csv(write(tmp_path, "b.csv", text))
    b = ds["births"].sel(region="2581", sex="male", year=2019)
    # by hand: 15 = 2 + 1 ('<15'); 49 = 3 + 5 ('60+')
    assert b.sel(age=15).item() == 3 and b.sel(age=49).item() == 8 and b["age"].values.tolist() == [15, 49]
    note = ds["births"].attrs["folded_ages"]
    assert "'60+'" in note and "'<15'" in note and "counted at 49" in note
    with pytest.raises(io.ReadError, match=r"b\.csv, line 4: mother's age '45\+' opens below the highest "
                                           r"fertile age 49: its births at ages 45–49"):
        io.read_pxweb_csv(write(tmp_path, "b.csv", text.replace("49,1,3", "44,1,3").replace("60+", "45+")))
    with pytest.raises(io.ReadError, match=r"'<20' \(under 20\) reaches above the lowest fertile age 15"):
        io.read_pxweb_csv(write(tmp_path, "b.csv", text.replace("<15", "<20").replace(",15,1,2", ",20,1,2")))
    # the long county files: '50+' at 49 too
    long = LONG_BIRTHS.replace("49+", "50+")
    b = io.read_scb_long(write(tmp_path, "births.csv", long), name="births", fertile_ages=(15, 49))
    assert b.sel(region="01", sex="female", year=2000, age=49).item() == 2 + 1
    assert "'50+'" in b.attrs["folded_ages"]


def test_largest_remainder_preserves_totals():
    w = np.array([[3.0, 6.0, 1.0, 2.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    out = allocate_largest_remainder(w, np.array([4, 5, 2]))
    np.testing.assert_array_equal(out.sum(axis=1), [4, 5, 2])
    np.testing.assert_array_equal(out[0], [1, 2, 0, 1])
    np.testing.assert_array_equal(out[1], [2, 1, 1, 1])  # uniform when no weights
    assert out[2, 3] == 0


def test_long_csv_bad_age_names_file_and_line(tmp_path):
    p = write(tmp_path, "popn.csv", "age,sex,region,year,value\n0,Females,Stockholm,2000,5\nx1,Males,Stockholm,2000,3\n")
    with pytest.raises(io.ReadError, match=r"popn\.csv, line 3: age 'x1'"):
        io.read_scb_long(p, name="population")


def test_long_csv_bad_value_and_columns(tmp_path):
    p = write(tmp_path, "popn.csv", "age,sex,region,year,value\n0,Females,Stockholm,2000,five\n")
    with pytest.raises(io.ReadError, match=r"line 2: value 'five' is not a number"):
        io.read_scb_long(p, name="population")
    p = write(tmp_path, "p2.csv", "age,sex,year,value\n0,Females,2000,5\n")
    with pytest.raises(io.ReadError, match=r"line 1: expected columns"):
        io.read_scb_long(p, name="population")
    p = write(tmp_path, "p3.csv", "age,sex,region,year,value\n0,Females,Atlantis,2000,5\n")
    with pytest.raises(io.ReadError, match="unknown region 'Atlantis'"):
        io.read_scb_long(p, name="population")


PX = """Region,Civilstand,Alder,Kon,BE0101N1 2018,BE0101N1 2019
2580,OG,0,1,10,11
2580,G,0,1,0,0
2580,OG,0,2,9,8
2580,OG,100+,1,1,2
2580,ÄNKL,100+,1,3,2
2580,OG,100+,2,0,1
2580,G,0,2,0,0
2580,ÄNKL,0,1,0,0
2580,ÄNKL,0,2,0,0
2580,G,100+,1,0,0
2580,G,100+,2,0,0
2580,ÄNKL,100+,2,0,0
"""


def test_pxweb_sums_civil_status_and_maps_codes(tmp_path):
    p = write(tmp_path, "pop.csv", PX)
    ds = io.read_pxweb_csv(p)
    pop = ds["population"]
    assert ds.attrs["open_age"] == 100
    assert pop.sel(region="2580", sex="male", age=100, year=2019).item() == 4
    assert pop.sel(region="2580", sex="female", age=0, year=2018).item() == 9
    assert pop.attrs["content_code"] == "BE0101N1"


def test_pxweb_migration_content_codes(tmp_path):
    text = ("Region,Alder,Kon,BE0101A2 2019,BE0101A3 2019,BE0101AX 2019,BE0101AY 2019\n"
            "2580,0,1,5,4,3,2\n2580,0,2,1,1,1,1\n")
    ds = io.read_pxweb_csv(write(tmp_path, "mig.csv", text))
    assert set(ds.data_vars) == {"in_migration", "out_migration", "immigration", "emigration"}
    assert ds["in_migration"].sel(sex="male").sum().item() == 5
    assert ds["emigration"].attrs["age_convention"] == "year_end"


def test_pxweb_errors(tmp_path):
    bad = write(tmp_path, "bad.csv", "Region,Alder,Kon,BE0101N1 2019\n2580,0,1,5\n2580,0,3,5\n")
    with pytest.raises(io.ReadError, match=r"bad\.csv, line 3: Kon '3'"):
        io.read_pxweb_csv(bad)
    bad = write(tmp_path, "bad2.csv", "Region,Alder,Kon,BE0101N1 2019\n2580,0,1,..\n")
    with pytest.raises(io.ReadError, match=r"line 2, column 'BE0101N1 2019': value '\.\.' is missing"):
        io.read_pxweb_csv(bad)
    bad = write(tmp_path, "bad3.csv", "Region,Alder,Kon,XX0101 2019\n2580,0,1,1\n")
    with pytest.raises(io.ReadError, match="unknown content code 'XX0101'"):
        io.read_pxweb_csv(bad)
    bad = write(tmp_path, "bad4.csv", "Region,Kon,BE0101N1 2019\n2580,1,1\n")
    with pytest.raises(io.ReadError, match="expected an age column"):
        io.read_pxweb_csv(bad)


def test_pxweb_regions_must_match(tmp_path):
    a = write(tmp_path, "a.csv", "Region,Alder,Kon,BE0101N1 2019\n2580,0,1,5\n")
    b = write(tmp_path, "b.csv", "Region,Alder,Kon,BE0101D8 2019\n2580,0,1,1\n00,0,1,9\n")
    with pytest.raises(dk.CubeError, match="regions differ"):
        io.read_pxweb(a, b)
    ds = io.read_pxweb(a, b, regions=["2580"])
    assert ds["deaths"].sum().item() == 1



def _pop(ages, sexes=("1", "2")):
    rows = [f"2580,{a},{s},{10 + i}" for i, a in enumerate(ages) for s in sexes]
    return "Region,Alder,Kon,BE0101N1 2019\n" + "\n".join(rows) + "\n"


def _deaths(ages, sexes=("1", "2")):
    rows = [f"2580,{a},{s},1" for a in ages for s in sexes]
    return "Region,Alder,Kon,BE0101D8 2019\n" + "\n".join(rows) + "\n"


def test_pxweb_merge_never_reads_missing_ages_or_sexes_as_zero(tmp_path):
    pop = write(tmp_path, "pop.csv", _pop(["0", "1", "2", "3+"]))
    # deaths lack age 1 altogether (the table's own grid is complete): not zeros
    d = write(tmp_path, "d1.csv", _deaths(["0", "2", "3+"]))
    with pytest.raises(dk.CubeError, match=r"d1\.csv: deaths has no rows for age=1; every age 0-3"):
        io.read_pxweb(pop, d)
    # deaths with an open age group 2+ against the population's 3+: age 3 would be 0 and age 2 hold 2+
    d = write(tmp_path, "d2.csv", _deaths(["0", "1", "2+"]))
    with pytest.raises(dk.CubeError, match=r"d2\.csv: deaths ends with the open age group 2\+ but .*pop\.csv "
                                           r"goes to 3\+"):
        io.read_pxweb(pop, d)
    # deaths of men only: women's deaths are not zero
    d = write(tmp_path, "d3.csv", _deaths(["0", "1", "2", "3+"], sexes=("1",)))
    with pytest.raises(dk.CubeError, match=r"d3\.csv: deaths has no rows for sex='female' \(.*pop\.csv has them\)"):
        io.read([pop, d])
    # births by the mother's age lacking one age inside their range
    b = write(tmp_path, "b.csv", "Region,AlderModer,Kon,BE0101E2 2019\n" + "\n".join(
        f"2580,{a},{s},1" for a in ("1", "3") for s in ("1", "2")) + "\n")
    with pytest.raises(dk.CubeError, match=r"b\.csv: births has no rows for age=2 \(age=3 follows age=1\)"):
        io.read([pop, b])
    # the complete files merge, births zero outside their (consecutive) ages
    b = write(tmp_path, "b2.csv", "Region,AlderModer,Kon,BE0101E2 2019\n" + "\n".join(
        f"2580,{a},{s},1" for a in ("1", "2") for s in ("1", "2")) + "\n")
    ds = io.read([pop, write(tmp_path, "d4.csv", _deaths(["0", "1", "2", "3+"])), b])
    assert ds["deaths"].sum().item() == 8
    assert ds["births"].sel(age=[0, 3]).sum().item() == 0 and ds["births"].sum().item() == 4

HMD = """Sweden, Deaths (1x1)     Last modified: 02-Sep-2015, MPv5 (May07)

Year     Age        Female             Male            Total
2000      0           10.00          12.00         22.00
2000      1            1.00           2.00          3.00
2000    110+           0.50           .             0.50
"""


def test_hmd_reader(tmp_path):
    da = io.read_hmd_table(write(tmp_path, "Deaths_1x1.txt", HMD), name="deaths")
    assert da.attrs["open_age"] == 110 and da.attrs["age_convention"] == "at_event"
    assert da.sel(sex="male", age=0, year=2000).item() == 12
    assert np.isnan(da.sel(sex="male", age=110, year=2000).item())
    bad = HMD.replace("2000      1 ", "2000      one ")
    with pytest.raises(io.ReadError, match=r"line 5"):
        io.read_hmd_table(write(tmp_path, "bad.txt", bad), name="deaths")
    dup = HMD + "2000      0           11.00          13.00         24.00\n"   # the later row replaced the first
    with pytest.raises(io.ReadError, match=r"dup\.txt, lines 4 and 7: year 2000, age 0 appears twice"):
        io.read_hmd_table(write(tmp_path, "dup.txt", dup), name="deaths")


def test_hmd_embedded():
    h = dk.datasets.load("hmd_sweden")
    assert h.sizes == {"sex": 2, "age": 111, "year": 264}
    # first data row of Deaths_1x1: 1751, age 0: female 5988, male 6902
    assert h["deaths"].sel(year=1751, age=0).values.tolist() == [5988.0, 6902.0]


def test_datasets_load_unknown():
    with pytest.raises(dk.DemokitError, match="unknown data set"):
        dk.datasets.load("atlantis")


def test_counties_schema(counties):
    assert counties["region"].values.tolist()[:3] == ["01", "03", "04"]
    assert counties["region_name"].sel(region="14").item() == "Västra Götaland"
    assert counties.attrs["open_age"] == 100
    assert counties["deaths"].attrs["age_convention"] == "at_event"
    assert counties["births"].attrs["age_convention"] == "year_end"
    dk.validate(counties)


def test_wheel_ships_the_embedded_data(tmp_path):
    """Loading must work from an installed wheel: every data file is packaged."""
    import pathlib
    import subprocess
    import sys
    import zipfile

    root = pathlib.Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                        "-w", str(tmp_path), str(root)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {r.stderr.strip().splitlines()[-1:]}")
    wheel = next(tmp_path.glob("demokit-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    data = root / "demokit" / "datasets" / "data"
    for f in data.rglob("*"):
        if f.is_file():
            assert f.relative_to(root).as_posix() in names, f


@pytest.mark.parametrize("mutate, message", [
    (lambda ls: ls[: len(ls) // 2], r"row\(s\) missing from the table"),
    (lambda ls: ls + ls[1:3], r"lines 2 and \d+: the same cell .* appears twice"),
    (lambda ls: [ls[0] + ",BE0101N1 2019"] + [ln + ",0" for ln in ls[1:]], r"column 'BE0101N1 2019' appears twice"),
    (lambda ls: [ls[0], ls[1].rsplit(",", 1)[0] + ",-3"] + ls[2:], r"line 2, column 'BE0101N1 2019': -3 is negative"),
    (lambda ls: [ls[0], ls[1].rsplit(",", 1)[0] + ",2.5"] + ls[2:], r"2.5 is not a whole number"),
    (lambda ls: [ls[0], ls[1].rsplit(",", 1)[0] + ",inf"] + ls[2:], r"inf is not a finite number"),
    (lambda ls: [ln.replace(",", "\t") for ln in ls], r"separated by tab"),
    (lambda ls: [], r"the file is empty"),
])
def test_damaged_pxweb_files_raise_read_errors_naming_the_file(tmp_path, mutate, message):
    """Truncated, duplicated and damaged files are errors, never zeros (issue 10)."""
    import gzip
    from importlib import resources
    src = resources.files("demokit.datasets").joinpath("data", "norrbotten", "population_2006_2019.csv.gz")
    lines = gzip.open(src, "rt", encoding="utf-8").read().splitlines()
    p = write(tmp_path, "population.csv", "\n".join(mutate(lines)) + "\n")
    with pytest.raises(io.ReadError, match=message) as err:
        io.read_pxweb_csv(p)
    assert "population.csv" in str(err.value)


def test_semicolon_pxweb_file_with_decimal_commas_is_read(tmp_path):
    """PX-Web's Swedish export (sep=';', decimal ','): the same numbers as the comma file, 378,5 = 378.5."""
    import gzip
    from importlib import resources
    src = resources.files("demokit.datasets").joinpath("data", "norrbotten", "population_2006_2019.csv.gz")
    text = gzip.open(src, "rt", encoding="utf-8").read()
    semi = write(tmp_path, "pop_sv.csv", "\ufeff" + text.replace(",", ";").replace("\n", "\r\n"))
    assert io.detect_format(semi) == "pxweb_csv"
    xr_ = pytest.importorskip("xarray")
    xr_.testing.assert_identical(io.read_pxweb_csv(semi).drop_attrs(), io.read_pxweb_csv(src).drop_attrs())
    mean = write(tmp_path, "mean.csv", 'Region;Alder;Kon;"BE0101A5 2019"\n2580;0;1;378,5\n2580;0;2;1 204,0\n')
    m = io.read_pxweb_csv(mean)["mean_population"].sel(region="2580", age=0, year=2019)
    # by hand: '378,5' -> 378.5, '1 204,0' (Swedish thousands space) -> 1204
    assert m.sel(sex="male").item() == 378.5 and m.sel(sex="female").item() == 1204.0
    with pytest.raises(io.ReadError, match=r"mean\.csv, line 2, column 'BE0101A5 2019': '378,x' is not a number"):
        io.read_pxweb_csv(write(tmp_path, "mean.csv", mean.read_text().replace("378,5", "378,x")))
    # the long county files too
    b = io.read_scb_long(write(tmp_path, "births.csv", LONG_BIRTHS.replace(",", ";")), name="births",
                         fertile_ages=(15, 49))
    assert b.sel(region="01", sex="female", year=2000, age=15).item() == 3 + 1


def test_truncated_gzip_and_half_a_county_file_raise(tmp_path):
    import gzip
    from importlib import resources
    d = resources.files("demokit.datasets").joinpath("data", "sweden_counties")
    raw = (d / "deaths.csv.gz").read_bytes()
    (tmp_path / "deaths.csv.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(io.ReadError, match=r"deaths.csv.gz: damaged or truncated gzip"):
        io.read_scb_long(tmp_path / "deaths.csv.gz", name="deaths")
    lines = gzip.decompress(raw).decode("utf-8").splitlines()
    (tmp_path / "half.csv").write_text("\n".join(lines[: len(lines) // 2]) + "\n", encoding="utf-8")
    with pytest.raises(io.ReadError, match=r"half.csv: \d+ row\(s\) missing"):
        io.read_scb_long(tmp_path / "half.csv", name="deaths")


def test_region_code_that_lost_its_leading_zero_is_explained(tmp_path):
    pop = write(tmp_path, "pop.csv", "Region,Alder,Kon,BE0101N1 2019\n0180,0,1,5\n0180,0,2,4\n")
    d = write(tmp_path, "d.csv", "Region,Alder,Kon,BE0101D8 2019\n180,0,1,1\n180,0,2,0\n")
    with pytest.raises(dk.CubeError, match=r"d\.csv: regions \['0180'\] not in the file \('180' and '0180' differ "
                                           r"only by a leading zero"):
        io.read([pop, d])
    with pytest.raises(dk.CubeError, match=r"regions differ .*'180' and '0180' differ only by a leading zero"):
        io.read_pxweb(pop, d)


def test_county_cube_never_reads_a_missing_age_as_zero(tmp_path):
    """The three long files: deaths lacking an age (or ending with a lower open age) were reindexed with zeros."""
    def long(ages, value=5):
        return "age,sex,region,year,value\n" + "".join(
            f"{a},{s},Stockholm,2000,{value}\n" for a in ages for s in ("Females", "Males"))
    pop = write(tmp_path, "popn.csv", long(["0", "1", "2", "3+"], 100))
    births = write(tmp_path, "births.csv", long(["1", "2"]))
    ok = io.read_county_cube(pop, births, write(tmp_path, "deaths.csv", long(["0", "1", "2", "3+"])))
    assert ok["deaths"].sum().item() == 40 and ok["births"].sel(age=[0, 3]).sum().item() == 0
    with pytest.raises(dk.CubeError, match=r"deaths1\.csv: no rows for age=1 \(.*popn\.csv has them"):
        io.read_county_cube(pop, births, write(tmp_path, "deaths1.csv", long(["0", "2", "3+"])))
    with pytest.raises(dk.CubeError, match=r"deaths2\.csv: no rows for age=3 .*open ages: population 3\+, "
                                           r"deaths 2\+"):
        io.read_county_cube(pop, births, write(tmp_path, "deaths2.csv", long(["0", "1", "2+"])))
    with pytest.raises(dk.CubeError, match=r"births2\.csv: births has no rows for age=2 \(age=3 follows age=1\)"):
        io.read_county_cube(pop, write(tmp_path, "births2.csv", long(["1", "3"])),
                            write(tmp_path, "deaths3.csv", long(["0", "1", "2", "3+"])))
