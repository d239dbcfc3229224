"""Write the three fixtures of one table (SCB BE0101N1, Piteå + Kalix, 2017-2019) in SCB's formats.

Run from the repository root: ``python tests/data/readers/make_fixtures.py``.  The numbers come
from the embedded code-based download (demokit/datasets/data/norrbotten/population_2006_2019.csv.gz,
SCB via Luleå municipality); only pandas and json are used here, not demokit's readers, so the
fixtures are an independent rendering of the same table:

* population_labelled.csv - the web UI's labelled CSV: a title line, ';'-separated, quoted
  texts, Windows-1252, "2581 Piteå", "0 år", "100+ år", "män"/"kvinnor", years as columns;
* population.json - a JSON-stat 2.0 dataset laid out as PX-Web API v2 answers (codes as
  category ids, texts as labels, role time/geo/metric, values in row-major order);
* population.px - a PC-Axis file (CHARSET="ANSI", STUB/HEADING, VALUES/CODES, DATA).
"""

import json
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[3]
OUT = Path(__file__).resolve().parent
SRC = ROOT / "demokit/datasets/data/norrbotten/population_2006_2019.csv.gz"
REGIONS = {"2514": "Kalix", "2581": "Piteå"}
CIVIL = {"OG": "ogifta", "G": "gifta", "ÄNKL": "änkor/änklingar", "SK": "skilda"}
SEX = {"1": "män", "2": "kvinnor"}
YEARS = ["2017", "2018", "2019"]
AGES = [str(a) for a in range(100)] + ["100+"]

df = pd.read_csv(SRC, dtype=str)
df = df[df["Region"].isin(list(REGIONS))]
value = {(r.Region, r.Civilstand, r.Alder, r.Kon): [r[f"BE0101N1 {y}"] for y in YEARS]
         for _, r in df.iterrows()}
assert len(value) == len(REGIONS) * len(CIVIL) * len(AGES) * len(SEX)


def age_label(a):
    return f"{a} år"


# 1. labelled CSV (web UI: "Semikolonavgränsad med rubrik")
lines = ['"Folkmängd efter region, civilstånd, ålder, kön och år"', ""]
lines.append(";".join(f'"{h}"' for h in ["region", "civilstånd", "ålder", "kön", *YEARS]))
for reg in REGIONS:
    for civ in CIVIL:
        for a in AGES:
            for s in SEX:
                cells = [f'"{reg} {REGIONS[reg]}"', f'"{CIVIL[civ]}"', f'"{age_label(a)}"', f'"{SEX[s]}"']
                lines.append(";".join(cells + value[(reg, civ, a, s)]))
(OUT / "population_labelled.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))

# 2. JSON-stat 2.0 (PX-Web API v2, outputFormat=json-stat2)
dims = [("Region", "region", list(REGIONS), REGIONS),
        ("Civilstand", "civilstånd", list(CIVIL), CIVIL),
        ("Alder", "ålder", AGES, {a: age_label(a) for a in AGES}),
        ("Kon", "kön", list(SEX), SEX),
        ("ContentsCode", "tabellinnehåll", ["BE0101N1"], {"BE0101N1": "Folkmängd"}),
        ("Tid", "år", YEARS, {y: y for y in YEARS})]
values = []
for reg in REGIONS:
    for civ in CIVIL:
        for a in AGES:
            for s in SEX:
                values.extend(int(v) for v in value[(reg, civ, a, s)])
doc = {
    "version": "2.0", "class": "dataset",
    "label": "Folkmängd efter region, civilstånd, ålder, kön, tabellinnehåll och år",
    "source": "SCB", "updated": "2020-02-21T07:00:00Z",
    "id": [d[0] for d in dims], "size": [len(d[2]) for d in dims],
    "dimension": {d[0]: {"label": d[1], "category": {"index": {c: i for i, c in enumerate(d[2])},
                                                     "label": {c: d[3][c] for c in d[2]}}}
                  for d in dims},
    "role": {"time": ["Tid"], "geo": ["Region"], "metric": ["ContentsCode"]},
    "value": values,
}
doc["dimension"]["ContentsCode"]["category"]["unit"] = {"BE0101N1": {"base": "antal", "decimals": 0}}
(OUT / "population.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

# 3. PC-Axis .px (STUB region, civilstånd, ålder, kön; HEADING tabellinnehåll, år)
def q(items):
    """Quoted items, comma-separated; long lists wrap after a comma, as the format allows."""
    items = [f'"{i}"' for i in items]
    return ",\r\n".join(",".join(items[k:k + 20]) for k in range(0, len(items), 20))


px = ['CHARSET="ANSI";', 'AXIS-VERSION="2013";', 'LANGUAGE="sv";', 'CREATION-DATE="20200221 09:30";',
      'DECIMALS=0;', 'SHOWDECIMALS=0;', 'MATRIX="BE0101N1";', 'SUBJECT-CODE="BE";',
      'SUBJECT-AREA="Befolkning";',
      'TITLE="Folkmängd efter region, civilstånd, ålder, kön, tabellinnehåll och år";',
      'CONTENTS="Folkmängd";', 'UNITS="antal";',
      'STUB="region","civilstånd","ålder","kön";', 'HEADING="tabellinnehåll","år";',
      'CONTVARIABLE="tabellinnehåll";']
for code, label, cats, labels in dims:
    px.append(f'VALUES("{label}")={q(labels[c] for c in cats)};')
px.append(f'TIMEVAL("år")=TLIST(A1),{q(YEARS)};')
for code, label, cats, labels in dims:
    px.append(f'CODES("{label}")={q(cats)};')
px += ['UNITS("Folkmängd")="antal";', 'SOURCE="Statistiska centralbyrån (SCB)";', "DATA="]
for reg in REGIONS:
    for civ in CIVIL:
        for a in AGES:
            for s in SEX:
                px.append(" ".join(value[(reg, civ, a, s)]) + " ")
px[-1] = px[-1] + ";"
(OUT / "population.px").write_bytes(("\r\n".join(px) + "\r\n").encode("cp1252"))
print("wrote", *(p.name for p in sorted(OUT.glob("population*"))))
