"""Labelled web CSV, JSON-stat2 and PX readers, ``dk.io.read`` and the region table.

The acceptance fixtures in tests/data/readers/ are one SCB table (BE0101N1, Piteå and Kalix,
2017-2019) written in three formats by tests/data/readers/make_fixtures.py from the embedded
code-based download, without demokit's readers; each must read to exactly the cube that the
existing code-based reader gives for the same slice.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import demokit as dk
from demokit import io
from demokit.datasets import path as data_path

DATA = Path(__file__).parent / "data" / "readers"
FIXTURES = ["population_labelled.csv", "population.json", "population.px"]


def write(tmp_path, name, text, encoding="utf-8", gz=False):
    p = tmp_path / name
    raw = text.encode(encoding)
    p.write_bytes(gzip.compress(raw) if gz else raw)
    return p


def without_source(ds):
    out = ds.copy()
    out.attrs = {k: v for k, v in ds.attrs.items() if k != "source"}
    return out


@pytest.fixture(scope="module")
def reference():
    full = io.read_pxweb_csv(data_path("norrbotten", "population_2006_2019.csv.gz"))
    return full.sel(region=["2514", "2581"], year=[2017, 2018, 2019])


# --- acceptance: one table, three formats, one cube ---------------------------------------------

@pytest.mark.parametrize("name,reader", [("population_labelled.csv", io.read_labelled_csv),
                                         ("population.json", io.read_jsonstat),
                                         ("population.px", io.read_px)])
def test_three_formats_of_one_table_give_the_code_based_cube(reference, name, reader):
    ds = reader(DATA / name)
    xr.testing.assert_identical(without_source(ds), without_source(reference))
    assert ds["region_name"].values.tolist() == ["Kalix", "Piteå"]
    # a number read straight from the code-based file, row "2581,OG,0,1,...,236" (Piteå, boys aged 0,
    # unmarried, 2019; the rows G, SK, ÄNKL are 0)
    assert ds["population"].sel(region="2581", sex="male", age=0, year=2019).item() == 236
    # through dk.io.read (format detected) the same cube
    xr.testing.assert_identical(without_source(io.read([DATA / name])), without_source(reference))


def test_read_detects_each_format():
    kinds = [io.detect_format(DATA / f) for f in FIXTURES]
    assert kinds == ["labelled_csv", "jsonstat", "px"]
    assert io.detect_format(data_path("norrbotten", "deaths_2006_2019.csv.gz")) == "pxweb_csv"
    assert io.detect_format(data_path("sweden_counties", "popn.csv.gz")) == "scb_long"


def test_read_refuses_the_same_variable_from_two_files():
    with pytest.raises(dk.CubeError, match="'population' found in more than one file"):
        io.read([DATA / "population.json", DATA / "population.px"])


def test_read_merges_labelled_population_with_code_based_events(reference):
    # deaths come from the code-based file (five kommuner); the population file decides the regions
    ds = io.read([DATA / "population_labelled.csv", data_path("norrbotten", "deaths_2006_2019.csv.gz")])
    assert ds["region"].values.tolist() == ["2514", "2581"]
    assert ds["region_name"].values.tolist() == ["Kalix", "Piteå"]
    ref_deaths = io.read_pxweb_csv(data_path("norrbotten", "deaths_2006_2019.csv.gz"))
    np.testing.assert_array_equal(ds["deaths"].sel(year=2018).values,
                                  ref_deaths["deaths"].sel(region=["2514", "2581"], year=2018).values)
    # population years 2006-2016 are not in the labelled file: missing, never zero
    assert np.isnan(ds["population"].sel(year=2010)).all()
    np.testing.assert_array_equal(ds["population"].sel(year=2019).values,
                                  reference["population"].sel(year=2019).values)


def test_cli_reads_labelled_files_with_names():
    from demokit import cli

    ds = cli._read_cube([str(DATA / "population.px")])
    assert dict(zip(ds["region"].values.tolist(), ds["region_name"].values.tolist())) == {
        "2514": "Kalix", "2581": "Piteå"}


# --- region names -------------------------------------------------------------------------------

def test_region_table_has_every_kommun_and_lan():
    t = io.region_table()
    counts = t["kind"].value_counts().to_dict()
    assert counts == {"municipality": 290, "county": 21, "country": 1}
    assert t["code"].is_unique
    kommun = t[t["kind"] == "municipality"]
    lan = t[t["kind"] == "county"]
    assert kommun["code"].str.fullmatch(r"\d{4}").all() and lan["code"].str.fullmatch(r"\d{2}").all()
    # every kommun lies in an existing län (its first two digits)
    assert set(kommun["code"].str[:2]) == set(lan["code"])
    # the 21 län codes (SCB): 02, 11, 15, 16 are no longer in use
    assert lan["code"].tolist() == ["01", "03", "04", "05", "06", "07", "08", "09", "10", "12", "13", "14",
                                    "17", "18", "19", "20", "21", "22", "23", "24", "25"]
    # kommuner per län, SCB: Stockholm 26, Skåne 33, Västra Götaland 49, Norrbotten 14, Gotland 1
    per = kommun["code"].str[:2].value_counts().to_dict()
    assert (per["01"], per["12"], per["14"], per["25"], per["09"]) == (26, 33, 49, 14, 1)
    assert io.region_names(["0114", "2584", "0180", "1480", "25", "00", "9999"]) == [
        "Upplands Väsby", "Kiruna", "Stockholm", "Göteborg", "Norrbottens län", "Riket", ""]


def test_code_based_files_get_region_names():
    ds = io.read([data_path("norrbotten", f) for f in ("population_2006_2019.csv.gz",
                                                        "deaths_2006_2019.csv.gz")])
    assert ds["region_name"].values.tolist() == ["Kalix", "Älvsbyn", "Luleå", "Piteå", "Boden"]


# --- labelled CSV: variants, hand-worked numbers ------------------------------------------------

SMALL = """region,civilstånd,ålder,kön,2018,2019
2581 Piteå,ogifta,0 år,män,10,11
2581 Piteå,gifta,0 år,män,0,0
2581 Piteå,ogifta,0 år,kvinnor,9,8
2581 Piteå,ogifta,1 år,män,7,7
2581 Piteå,ogifta,1 år,kvinnor,6,5
2581 Piteå,ogifta,100+ år,män,1,2
2581 Piteå,änkor/änklingar,100+ år,män,3,2
2581 Piteå,ogifta,100+ år,kvinnor,0,1
2581 Piteå,änkor/änklingar,0 år,män,0,0
2581 Piteå,gifta,0 år,kvinnor,0,0
2581 Piteå,änkor/änklingar,0 år,kvinnor,0,0
2581 Piteå,gifta,1 år,män,0,0
2581 Piteå,änkor/änklingar,1 år,män,0,0
2581 Piteå,gifta,1 år,kvinnor,0,0
2581 Piteå,änkor/änklingar,1 år,kvinnor,0,0
2581 Piteå,gifta,100+ år,män,0,0
2581 Piteå,gifta,100+ år,kvinnor,0,0
2581 Piteå,änkor/änklingar,100+ år,kvinnor,0,0
"""


def _check_small(ds):
    pop = ds["population"]
    assert pop.dims == ("region", "sex", "age", "year")
    assert pop["age"].values.tolist() == [0, 1, 100] and ds.attrs["open_age"] == 100
    # by hand: 100+ men 2019 = ogifta 2 + änkor/änklingar 2 = 4; 0-year-old women 2018 = 9
    assert pop.sel(region="2581", sex="male", age=100, year=2019).item() == 4
    assert pop.sel(region="2581", sex="female", age=0, year=2018).item() == 9
    assert pop.sel(sex="male", year=2018).sum().item() == 10 + 0 + 7 + 1 + 3
    assert pop.attrs == {"content_code": "BE0101N1"}
    assert ds["region_name"].values.tolist() == ["Piteå"]


@pytest.mark.parametrize("sep,encoding,bom,quote,gz", [
    (",", "utf-8", True, False, False),
    (";", "cp1252", False, True, False),
    ("\t", "latin-1", False, False, True),
])
def test_labelled_separators_encodings_quotes(tmp_path, sep, encoding, bom, quote, gz):
    lines = SMALL.strip().split("\n")
    if quote:
        lines = [sep.join(f'"{c}"' if not c.isdigit() else c for c in ln.split(",")) for ln in lines]
    else:
        lines = [ln.replace(",", sep) for ln in lines]
    text = ("\ufeff" if bom else "") + '"Folkmängd efter region, civilstånd, ålder, kön och år"\n\n' + \
        "\n".join(lines) + "\n\nKälla: SCB\n"
    ds = io.read_labelled_csv(write(tmp_path, "pop.csv", text, encoding=encoding, gz=gz))
    _check_small(ds)


def test_labelled_content_from_column_and_from_header(tmp_path):
    # tabellinnehåll as a column: several contents in one file
    text = ("region;ålder;kön;tabellinnehåll;2019\n"
            "2581 Piteå;0 år;män;Inrikes inflyttningar;5\n2581 Piteå;0 år;kvinnor;Inrikes inflyttningar;1\n"
            "2581 Piteå;0 år;män;Invandringar;3\n2581 Piteå;0 år;kvinnor;Invandringar;1\n")
    ds = io.read_labelled_csv(write(tmp_path, "mig.csv", text))
    assert set(ds.data_vars) == {"in_migration", "immigration"}
    assert ds["in_migration"].attrs == {"content_code": "BE0101A2", "age_convention": "year_end"}
    assert ds["immigration"].sel(sex="male").item() == 3
    # content and year in the column name, as the web UI writes several contents side by side
    text = "region,ålder,kön,Döda 2018,Döda 2019\n25 Norrbottens län,0 år,män,4,2\n25 Norrbottens län,0 år,kvinnor,1,0\n"
    ds = io.read_labelled_csv(write(tmp_path, "d.csv", text))
    assert ds["deaths"].attrs["content_code"] == "BE0101D8"
    assert ds["region_name"].item() == "Norrbottens län"
    # the caller names the content: deaths by age at death (BE0101D9)
    ds = io.read_labelled_csv(write(tmp_path, "d2.csv", text.replace("Döda ", "")), content="BE0101D9")
    assert ds["deaths"].attrs["age_convention"] == "at_event"
    assert ds["deaths"].sel(sex="male", year=2018).item() == 4


def test_labelled_civil_status_missing_for_a_cell_is_an_error(tmp_path):
    """A civil-status category missing for one cell was summed over what was there (9 for 0-year-old
    women, whatever 'gifta' held): an error naming the cell and the category."""
    text = SMALL.replace("2581 Piteå,gifta,0 år,kvinnor,0,0\n", "")
    with pytest.raises(io.ReadError, match=r"pop\.csv, line 4, column '2018': population \(content BE0101N1\) for "
                                           r"region='2581', sex='female', age '0 år', year=2018 has no row for "
                                           r"civilstånd 'gifta'"):
        io.read_labelled_csv(write(tmp_path, "pop.csv", text), content="population")


def test_labelled_births_by_mothers_age_are_folded(tmp_path):
    text = ("region,moderns ålder,kön,Levande födda 2019\n"
            "2581 Piteå,-14 år,pojkar,1\n" "2581 Piteå,15 år,män,2\n" "2581 Piteå,16 år,män,3\n"
            "2581 Piteå,49+ år,män,4\n")
    with pytest.raises(io.ReadError, match=r"line 2, column 'kön': 'pojkar' is not a sex"):
        io.read_labelled_csv(write(tmp_path, "b.csv", text))
    ds = io.read_labelled_csv(write(tmp_path, "b.csv", text.replace("pojkar", "män")))
    b = ds["births"].sel(region="2581", sex="male", year=2019)
    # by hand: "-14 år" is counted at 15 (1 + 2 = 3); "49+ år" at 49 (4)
    assert b.sel(age=15).item() == 3 and b.sel(age=16).item() == 3 and b.sel(age=49).item() == 4
    assert "folded_ages" in ds["births"].attrs and "open_age" not in ds.attrs


def test_labelled_births_open_label_above_49_is_counted_at_49_and_named(tmp_path):
    """SCB's convention (its '49+' holds mothers 49 and over; its TFR over 15-49 includes them): '50+'
    is counted at 49 and the attrs say so; '45+' (below 49) or single ages kept between 49 and the open
    group would misplace births: errors naming the label."""
    text = ("region,moderns ålder,kön,Levande födda 2019\n"
            "2581 Piteå,15 år,män,2\n" "2581 Piteå,49 år,män,3\n" "2581 Piteå,50+ år,män,4\n")
    ds = io.read_labelled_csv(write(tmp_path, "b.csv", text))
    b = ds["births"].sel(region="2581", sex="male", year=2019)
    # by hand: age 49 = 3 (49) + 4 (50+) = 7; the total 9 kept
    assert b.sel(age=49).item() == 7 and b.sum().item() == 9 and b["age"].values.tolist() == [15, 49]
    assert "'50+ år'" in ds["births"].attrs["folded_ages"] and "49" in ds["births"].attrs["folded_ages"]
    # with fertile_ages=(15, 50) the 50+ births are at 50
    ds = io.read_labelled_csv(write(tmp_path, "b.csv", text), fertile_ages=(15, 50))
    assert ds["births"].sel(region="2581", sex="male", year=2019, age=50).item() == 4
    with pytest.raises(io.ReadError, match=r"mother's age '45\+ år' opens below the highest fertile age 49"):
        io.read_labelled_csv(write(tmp_path, "b.csv", text.replace("49 år", "44 år").replace("50+", "45+")))
    with pytest.raises(io.ReadError, match=r"mother's age '50 år' is kept at its age but the open group "
                                           r"'51\+ år' would be counted at 49; pass fertile_ages=\(15, 50\)"):
        io.read_labelled_csv(write(tmp_path, "b.csv", text.replace("50+", "51+")
                                   + "2581 Piteå,50 år,män,1\n"))


# --- errors -------------------------------------------------------------------------------------

def test_missing_value_marker_raises_or_becomes_nan(tmp_path):
    p = write(tmp_path, "pop.csv", SMALL.replace("0 år,kvinnor,9,8", "0 år,kvinnor,..,8"))
    with pytest.raises(io.ReadError, match=r"pop\.csv, line 4, column '2018': value '\.\.' is missing"):
        io.read_labelled_csv(p, content="population")
    ds = io.read_labelled_csv(p, content="population", missing="nan")
    assert np.isnan(ds["population"].sel(sex="female", age=0, year=2018).item())
    assert ds["population"].sel(sex="female", age=0, year=2019).item() == 8
    # through read() and the merge the cell stays NaN (never a zero)
    ds = io.read([p], content="population", missing="nan")
    assert np.isnan(ds["population"].sel(sex="female", age=0, year=2018).item())
    # "–" is SCB's zero
    ds = io.read_labelled_csv(write(tmp_path, "z.csv", SMALL.replace("0 år,kvinnor,9,8", "0 år,kvinnor,–,8")),
                                 content="population")
    assert ds["population"].sel(sex="female", age=0, year=2018).item() == 0


@pytest.mark.parametrize("old,new,match", [
    ("region,civilstånd", "region,födelseland", r"line 1: unknown column 'födelseland'"),
    ("2581 Piteå,ogifta,1 år,män", "Atlantis,ogifta,1 år,män", r"line 5, column 'region': 'Atlantis' is not a region"),
    ("ogifta,1 år,kvinnor", "ogifta,ett år,kvinnor", r"line 6, column 'ålder': 'ett år' is not an age"),
    ("ogifta,1 år,kvinnor", "ogifta,totalt ålder,kvinnor", r"line 6, column 'ålder': 'totalt ålder' is not an age"),
    ("Piteå,gifta,0 år,män", "Piteå,totalt,0 år,män", r"line 3, column 'civilstånd': 'totalt' is a total; summed with its"),
    ("1 år,kvinnor,6,5", "1 år,kvinnor,6,fem", r"line 6, column '2019': 'fem' is not a number"),
    ("1 år,kvinnor,6,5", "1 år,kvinnor,6,5.5", r"line 6, column '2019': population = 5.5 is not a whole"),
    ("1 år,kvinnor,6,5", "1 år,kvinnor,-6,5", r"line 6, column '2018': population = -6 is negative"),
])
def test_labelled_errors_name_file_line_and_column(tmp_path, old, new, match):
    assert old in SMALL
    p = write(tmp_path, "pop.csv", SMALL.replace(old, new, 1))
    with pytest.raises(io.ReadError, match=r"pop\.csv, " + match):
        io.read_labelled_csv(p, content="population")


def test_duplicated_and_missing_rows(tmp_path):
    dup = SMALL + "2581 Piteå,ogifta,1 år,män,7,7\n"
    with pytest.raises(io.ReadError, match=r"line 20, column '2018': duplicated cell population .* region='2581', "
                                           r"sex='male', age '1 år', year=2018 \(also at line 5"):
        io.read_labelled_csv(write(tmp_path, "dup.csv", dup), content="population")
    gap = "".join(ln for ln in SMALL.splitlines(True) if "1 år,kvinnor" not in ln)
    with pytest.raises(io.ReadError, match=r"population \(content BE0101N1\) has no row for region='2581', "
                                           r"sex='female', age=1, year=2018; .*year=2019: the region × sex × "
                                           r"age × year grid is incomplete"):
        io.read_labelled_csv(write(tmp_path, "gap.csv", gap), content="population")


def test_unknown_content_asks_for_content(tmp_path):
    text = "region,ålder,kön,Hushåll 2019\n2581 Piteå,0 år,män,1\n2581 Piteå,0 år,kvinnor,1\n"
    with pytest.raises(io.ReadError, match=r"column 'Hushåll 2019': unknown content 'Hushåll'; pass content="):
        io.read_labelled_csv(write(tmp_path, "h.csv", text))
    text = "region,ålder,kön,2019\n2581 Piteå,0 år,män,1\n2581 Piteå,0 år,kvinnor,1\n"
    with pytest.raises(io.ReadError, match="cannot tell what the table counts"):
        io.read_labelled_csv(write(tmp_path, "n.csv", text))
    ds = io.read_labelled_csv(write(tmp_path, "n.csv", text), content="population")
    assert ds["population"].sum().item() == 2


# --- JSON-stat2 and PX specifics ----------------------------------------------------------------

def _jsonstat(values, status=None, content=("BE0101N1", "Folkmängd")):
    doc = {"version": "2.0", "class": "dataset", "label": "Folkmängd efter region, ålder, kön och år",
           "id": ["Region", "Alder", "Kon", "ContentsCode", "Tid"], "size": [1, 2, 2, 1, 2],
           "dimension": {
               "Region": {"label": "region", "category": {"index": ["2514"], "label": {"2514": "Kalix"}}},
               "Alder": {"label": "ålder", "category": {"index": {"0": 0, "1": 1},
                                                        "label": {"0": "0 år", "1": "1 år"}}},
               "Kon": {"label": "kön", "category": {"index": {"1": 0, "2": 1},
                                                    "label": {"1": "män", "2": "kvinnor"}}},
               "ContentsCode": {"label": "tabellinnehåll",
                                "category": {"index": {content[0]: 0}, "label": {content[0]: content[1]}}},
               "Tid": {"label": "år", "category": {"index": {"2018": 0, "2019": 1}}}},
           "role": {"time": ["Tid"], "geo": ["Region"], "metric": ["ContentsCode"]},
           "value": values}
    if status is not None:
        doc["status"] = status
    return doc


def test_jsonstat_row_major_order_and_status():
    # value index = ((age * 2) + sex) * 2 + year (row-major, the last dimension fastest)
    ds = io.read_jsonstat(_jsonstat(list(range(8))))
    pop = ds["population"].sel(region="2514")
    assert pop.sel(age=0, sex="male", year=2018).item() == 0
    assert pop.sel(age=0, sex="male", year=2019).item() == 1
    assert pop.sel(age=0, sex="female", year=2018).item() == 2
    assert pop.sel(age=1, sex="female", year=2019).item() == 7
    vals = list(range(8))
    vals[5] = None
    with pytest.raises(io.ReadError, match=r"cell Region='2514', Alder='1', Kon='1', ContentsCode='BE0101N1', "
                                           r"Tid='2019': value '\.\.' is missing"):
        io.read_jsonstat(_jsonstat(vals, status={"5": ".."}))
    ds = io.read_jsonstat(_jsonstat(vals, status={"5": ".."}), missing="nan")
    assert np.isnan(ds["population"].sel(age=1, sex="male", year=2019).item())
    # an unknown content code is recognised by its label; an unknown label needs content=
    ds = io.read_jsonstat(_jsonstat(list(range(8)), content=("000000LV", "Folkmängd")))
    assert ds["population"].attrs["content_code"] == "BE0101N1"
    with pytest.raises(io.ReadError, match=r"dimension 'ContentsCode': 'Hushåll' is an unknown content"):
        io.read_jsonstat(_jsonstat(list(range(8)), content=("X1", "Hushåll")))
    with pytest.raises(io.ReadError, match="7 values for a cube of 8 cells"):
        io.read_jsonstat(_jsonstat(list(range(7))))
    bad = _jsonstat(list(range(8)))
    bad["dimension"]["Alder"]["label"] = "utbildning"
    bad["id"][1] = "Utb"
    bad["dimension"]["Utb"] = bad["dimension"].pop("Alder")
    with pytest.raises(io.ReadError, match="unknown dimension 'Utb'"):
        io.read_jsonstat(bad)


def test_jsonstat_file_and_duplicates(tmp_path):
    doc = _jsonstat(list(range(8)))
    doc["dimension"]["Alder"]["category"] = {"index": ["100", "100+"]}  # one age twice
    p = write(tmp_path, "r.json", json.dumps(doc))
    # 100 and 100+ differ as labels but are the same cell of the cube
    ds = io.read_jsonstat(p)
    assert ds["population"].sel(age=100, sex="male", year=2018).item() == 0 + 4


PX = '''CHARSET="ANSI";
TITLE="Döda efter region, ålder, kön och år";
CONTENTS="Döda";
STUB="region","ålder","kön";
HEADING="år";
VALUES("region")="Piteå";
CODES("region")="2581";
VALUES("ålder")="0 år","1 år";
VALUES("kön")="män","kvinnor";
VALUES("år")="2018",
"2019";
TIMEVAL("år")=TLIST(A1),"2018","2019";
NOTE="En lång text"
"som fortsätter";
DATA=
1 2
3 "-"
"..." 4
5 6;
'''


def test_px_layout_markers_and_errors(tmp_path):
    p = write(tmp_path, "d.px", PX, encoding="cp1252")
    with pytest.raises(io.ReadError, match=r"d\.px, cell region='2581', ålder='1 år', kön='män', år='2018': "
                                           r"value '\.\.\.' is missing"):
        io.read_px(p)
    d = io.read_px(p, missing="nan")["deaths"].sel(region="2581")
    # stub rows (ålder, kön) in order, heading years across: 0 år män = 1 2; 0 år kvinnor = 3 -
    assert d.sel(age=0, sex="male").values.tolist() == [1, 2]
    assert d.sel(age=0, sex="female").values.tolist() == [3, 0]  # "-" is the PX format's zero
    assert np.isnan(d.sel(age=1, sex="male", year=2018).item())
    assert d.attrs["content_code"] == "BE0101D8"
    keys, _, _ = io.px.parse_px(PX)
    assert keys[("NOTE", None, None)] == ["En lång textsom fortsätter"]
    assert keys[("VALUES", None, "år")] == ["2018", "2019"]
    with pytest.raises(io.ReadError, match=r"DATA has 7 cells but the variables' values make 8"):
        io.read_px(write(tmp_path, "e.px", PX.replace("5 6;", "5;")))
    with pytest.raises(io.ReadError, match=r"line 19: DATA cell 7 'fem' is not a number"):
        io.read_px(write(tmp_path, "f.px", PX.replace("5 6;", "fem 6;")))
    with pytest.raises(io.ReadError, match="no DATA keyword"):
        io.read_px(write(tmp_path, "g.px", PX.split("DATA=")[0]))


# --- property: any small cube survives a round trip through each format -------------------------

def _as_labelled(arr, regions, ages, years):
    lines = ["region;ålder;kön;" + ";".join(f"Folkmängd {y}" for y in years)]
    for i, r in enumerate(regions):
        for k, a in enumerate(ages):
            for j, s in enumerate(["män", "kvinnor"]):
                lines.append(f"{r} {dk.io.region_names([r])[0]};{a} år;{s};"
                             + ";".join(str(int(v)) for v in arr[i, 1 - j, k, :]))
    return "\n".join(lines) + "\n"


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_round_trip_through_each_format(tmp_path_factory, data):
    regions = data.draw(st.lists(st.sampled_from(["0114", "0180", "2581", "25", "00"]), min_size=1, max_size=3,
                                 unique=True))
    ages = sorted(data.draw(st.lists(st.integers(0, 99), min_size=1, max_size=4, unique=True)))
    years = sorted(data.draw(st.lists(st.integers(1990, 2030), min_size=1, max_size=3, unique=True)))
    shape = (len(regions), 2, len(ages), len(years))  # sexes female, male
    arr = np.array(data.draw(st.lists(st.integers(0, 10**6), min_size=int(np.prod(shape)),
                                      max_size=int(np.prod(shape))))).reshape(shape).astype(float)
    tmp = tmp_path_factory.mktemp("rt")
    expect = xr.DataArray(arr, dims=("region", "sex", "age", "year"),
                          coords={"region": regions, "sex": ["female", "male"], "age": ages, "year": years})
    expect = expect.sortby("region")
    # labelled CSV
    got = io.read_labelled_csv(write(tmp, "p.csv", _as_labelled(arr, regions, ages, years)))["population"]
    xr.testing.assert_equal(got.drop_vars("region_name"), expect)
    # JSON-stat2: dims region, sex(1=men, 2=women), age, year in row-major order
    cube = arr[:, ::-1]  # male first
    doc = {"version": "2.0", "class": "dataset", "label": "Folkmängd",
           "id": ["Region", "Kon", "Alder", "Tid"], "size": [len(regions), 2, len(ages), len(years)],
           "dimension": {"Region": {"category": {"index": regions}},
                         "Kon": {"category": {"index": ["1", "2"]}},
                         "Alder": {"category": {"index": [str(a) for a in ages]}},
                         "Tid": {"category": {"index": [str(y) for y in years]}}},
           "value": cube.ravel().tolist()}
    got = io.read_jsonstat(doc)["population"]
    xr.testing.assert_equal(got.drop_vars("region_name"), expect)
    # PX: STUB region, kön, ålder; HEADING år
    px = ('CONTENTS="Folkmängd";\nSTUB="region","kön","ålder";\nHEADING="år";\n'
          f'VALUES("region")={",".join(chr(34) + r + chr(34) for r in regions)};\n'
          'VALUES("kön")="män","kvinnor";\n'
          f'VALUES("ålder")={",".join(chr(34) + str(a) + " år" + chr(34) for a in ages)};\n'
          f'VALUES("år")={",".join(chr(34) + str(y) + chr(34) for y in years)};\nDATA=\n'
          + "\n".join(" ".join(str(int(v)) for v in row) for row in cube.reshape(-1, len(years))) + ";\n")
    got = io.read_px(write(tmp, "p.px", px))["population"]
    xr.testing.assert_equal(got.drop_vars("region_name"), expect)


def test_small_area_codes_and_netcdf(tmp_path):
    # DeSO-like codes are kept as codes; their names come from the file
    text = ("region,ålder,kön,Folkmängd 2019\n2581C1010 Centrum,0 år,män,4\n2581C1010 Centrum,0 år,kvinnor,5\n"
            "2581C1020 Norra,0 år,män,1\n2581C1020 Norra,0 år,kvinnor,0\n")
    ds = io.read([write(tmp_path, "deso.csv", text)])
    assert ds["region"].values.tolist() == ["2581C1010", "2581C1020"]
    assert ds["region_name"].values.tolist() == ["Centrum", "Norra"]
    # a cube saved as NetCDF reads back as it was
    cube = io.read_px(DATA / "population.px")
    cube.to_netcdf(tmp_path / "cube.nc")
    assert io.detect_format(tmp_path / "cube.nc") == "netcdf"
    back = io.read([tmp_path / "cube.nc"])
    np.testing.assert_array_equal(back["population"].values, cube["population"].values)
    assert back["region_name"].values.tolist() == ["Kalix", "Piteå"]


def test_read_keeps_the_regions_asked_for_from_netcdf_and_long_files(tmp_path):
    """regions= was ignored for one NetCDF cube (every region came back) and gave a bare KeyError for the
    three long county files."""
    cube = dk.datasets.load("norrbotten")[["population", "births", "deaths"]]
    cube.to_netcdf(tmp_path / "cube.nc")
    assert io.read([tmp_path / "cube.nc"], regions=["2580"])["region"].values.tolist() == ["2580"]
    with pytest.raises(io.ReadError, match=r"cube\.nc: region '9999' is not in the data"):
        io.read([tmp_path / "cube.nc"], regions=["9999"])
    long = [data_path("sweden_counties", f) for f in ("popn.csv.gz", "births.csv.gz", "deaths.csv.gz")]
    assert io.read(long, regions=["25"])["region"].values.tolist() == ["25"]
    with pytest.raises(io.ReadError, match=r"popn\.csv\.gz: region '2580' is not in the data"):
        io.read(long, regions=["2580"])


def test_code_based_file_saved_with_semicolons_is_read(tmp_path):
    """A PX-Web code file exported in Swedish or re-saved by a Swedish Excel (';'): io.read took it for a
    labelled file and said "unknown content 'BE0101N1'"; then it was refused; now it is read."""
    p = write(tmp_path, "pop.csv", "\ufeffRegion;Alder;Kon;BE0101N1 2019\r\n2580;0;1;5\r\n2580;0;2;4\r\n")
    assert io.detect_format(p) == "pxweb_csv"
    pop = io.read([p])["population"].sel(region="2580", age=0, year=2019)
    assert pop.sel(sex="male").item() == 5 and pop.sel(sex="female").item() == 4
