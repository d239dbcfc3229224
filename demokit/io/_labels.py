"""Shared parts of the labelled readers (web CSV, JSON-stat2, PX).

Each reader turns its file into a *tidy* frame, one row per cell, with the
columns

    region, region_name, sex, age_kind, age, age_label, year, content, value, _cell
    (+ the file's other classifications, e.g. civil status, as ``extra:...``)

and :func:`cube_from_tidy` checks it (duplicates, an incomplete grid, counts
that are not whole or are negative) and builds the same Dataset as
:func:`demokit.io.read_pxweb_csv` does for SCB's code-based download.
"""

from __future__ import annotations

import gzip
import os
import re

import numpy as np
import pandas as pd
import xarray as xr

from ._common import ReadError, fold_mothers_ages, parse_age
from .pxweb import CONTENT_CODES
from .regioncodes import region_code_from_label, region_names

__all__ = ["CONTENT_LABELS", "MISSING_MARKERS", "classify_dimension", "resolve_content", "cube_from_tidy",
           "decode_bytes", "parse_sex", "parse_age_label", "parse_number"]

#: SCB's content labels (Swedish as in the web UI; a few English ones) → content code.
#: ``"Döda"`` maps to BE0101D8 (age reached during the year, SCB's table for forecasts);
#: pass ``content="BE0101D9"`` for deaths by age at death.
CONTENT_LABELS = {
    "folkmängd": "BE0101N1", "folkmängden": "BE0101N1", "population": "BE0101N1",
    "levande födda": "BE0101E2", "födda": "BE0101E2", "live births": "BE0101E2",
    "döda": "BE0101D8", "deaths": "BE0101D8",
    "medelfolkmängd": "BE0101A5", "mean population": "BE0101A5", "average population": "BE0101A5",
    "inflyttningar": "BE0101AU", "utflyttningar": "BE0101AV",
    "invandringar": "BE0101AX", "immigrations": "BE0101AX",
    "utvandringar": "BE0101AY", "emigrations": "BE0101AY",
    "flyttningsöverskott": "BE0101AZ", "invandringsöverskott": "BE0101A1",
    "inrikes inflyttningar": "BE0101A2", "inrikes utflyttningar": "BE0101A3",
    "inrikes flyttningsöverskott": "BE0101A4",
}
# variable name -> its first content code (deaths -> BE0101D8)
_DEFAULT_CODE: dict[str, str] = {}
for _code, (_name, _conv) in CONTENT_CODES.items():
    _DEFAULT_CODE.setdefault(_name, _code)

#: SCB's symbols for a cell without a number: ".." not available, "." cannot occur, and PX's 1-6 dots
MISSING_MARKERS = frozenset({".", "..", "...", "....", ".....", "......"})
_ZERO_MARKERS = frozenset({"-", "–"})   # SCB: "–" = zero (nothing to report)

_NET = {"net_migration", "net_immigration", "net_domestic_migration"}

_SEX = {"män": "male", "man": "male", "1": "male", "men": "male", "male": "male", "males": "male",
        "kvinnor": "female", "kvinna": "female", "2": "female", "women": "female", "female": "female",
        "females": "female"}
_TOTAL = re.compile(r"^\s*(totalt?|total|samtliga|båda könen|both sexes|all ages|alla åldrar)\b", re.I)
_YEARS_SUFFIX = re.compile(r"\s*(år|years?|år och äldre)\s*$", re.I)
_OLDER = re.compile(r"^\s*(\d+)\s*(år)?\s*(eller äldre|och äldre|\+|and over|or older)\s*(år)?\s*$", re.I)
_UPTO = re.compile(r"^\s*-\s*(\d+)\s*(år)?\s*$")


def decode_bytes(raw: bytes) -> str:
    """Return text from bytes: UTF-8 (with or without BOM), else Windows-1252, else Latin-1."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_bytes(path) -> bytes:
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ReadError(f"{path}: cannot read file ({exc.strerror or exc})") from None


def parse_sex(label) -> str:
    """Return ``"male"``/``"female"`` for SCB's sex codes and labels; ``ValueError`` otherwise."""
    s = str(label).strip().casefold()
    if s in _SEX:
        return _SEX[s]
    raise ValueError(label)


def parse_age_label(label) -> tuple[str, int | None]:
    """Classify SCB's age labels (``"0 år"``, ``"100+ år"``, ``"-14 år"``, ``"49+"``, ``"23"``).

    Returns ``(kind, x)`` as :func:`demokit.io._common.parse_age` does;
    ``"-14 år"`` (14 and younger) is ``("below", 15)``.  Totals and anything
    else raise ``ValueError``.
    """
    s = str(label).strip()
    if _TOTAL.match(s):
        raise ValueError(label)
    m = _OLDER.match(s)
    if m:
        return "open", int(m.group(1))
    m = _UPTO.match(s)
    if m:
        return "below", int(m.group(1)) + 1
    core = _YEARS_SUFFIX.sub("", s)
    return parse_age(core)


def parse_number(raw: str, *, decimal_comma: bool = False) -> float | None:
    """Return the number in a cell, ``None`` for SCB's missing-value markers; ``ValueError`` if neither."""
    s = str(raw).strip().strip('"').replace("\u00a0", "").replace(" ", "")
    if s in MISSING_MARKERS or s == "":
        return None
    if s in _ZERO_MARKERS:
        return 0.0
    if decimal_comma:
        s = s.replace(",", ".")
    return float(s)


# --- dimensions ---------------------------------------------------------------------------------

_DIM_NAMES = {
    "region": "region", "geo": "region",
    "kön": "sex", "kon": "sex", "sex": "sex", "barnets kön": "sex", "gender": "sex",
    "ålder": "age", "alder": "age", "age": "age", "aldermoder": "age", "alder modern": "age",
    "ålder modern": "age", "moderns ålder": "age", "mother's age": "age", "age of mother": "age",
    "år": "year", "tid": "year", "year": "year", "time": "year",
    "tabellinnehåll": "content", "contentscode": "content", "contents": "content",
    "table contents": "content", "metric": "content",
    "civilstånd": "extra", "civilstand": "extra", "marital status": "extra",
}


def classify_dimension(*names) -> str | None:
    """Return the role (region, sex, age, year, content, extra) of a dimension from its id/labels."""
    for n in names:
        if n is None:
            continue
        s = str(n).strip().casefold()
        if s in _DIM_NAMES:
            return _DIM_NAMES[s]
        if s.startswith("ålder") or s.startswith("alder") or s.endswith(" ålder"):
            return "age"
        if s.startswith("kön") or s.endswith(" kön"):
            return "sex"
    return None


def resolve_content(code=None, label=None, *, override=None) -> str | None:
    """Return the SCB content code for a content category, or ``None`` when unknown.

    ``override`` (the caller's ``content=``) wins: a content code from
    :data:`~demokit.io.CONTENT_CODES`, a cube variable name (``"deaths"`` →
    BE0101D8) or a mapping from the file's code or label to either.
    """
    if override is not None:
        if isinstance(override, dict):
            for key in (code, label):
                if key is not None and key in override:
                    return _as_code(override[key])
        else:
            return _as_code(override)
    if code is not None and str(code) in CONTENT_CODES:
        return str(code)
    for key in (label, code):
        if key is None:
            continue
        s = re.sub(r"\s+", " ", str(key)).strip().casefold()
        if s in CONTENT_LABELS:
            return CONTENT_LABELS[s]
        # "Folkmängd efter region, civilstånd, ålder, kön och år" (a title)
        head = re.split(r"\s+efter\s+|\s+by\s+|,", s)[0].strip()
        if head in CONTENT_LABELS:
            return CONTENT_LABELS[head]
    return None


def _as_code(x) -> str:
    x = str(x)
    if x in CONTENT_CODES:
        return x
    if x in _DEFAULT_CODE:
        return _DEFAULT_CODE[x]
    raise ReadError(f"content={x!r} is neither a content code ({', '.join(sorted(CONTENT_CODES))}) "
                    f"nor a cube variable ({', '.join(sorted(_DEFAULT_CODE))})")


def parse_categories(role: str, codes, labels, *, path, dim: str, override=None, where=None) -> dict:
    """Parse one dimension's categories into the tidy columns of its role.

    ``codes``/``labels`` are equally long sequences (a label may be ``None``);
    returns a frame with one row per category.  Errors name the file, the
    dimension (column) and the category; ``where`` (optional) gives the
    line of each category.
    """
    rows = []
    for i, (c, lab) in enumerate(zip(codes, labels)):
        at = f", {where[i]}" if where is not None else ""
        if role == "region":
            parsed = None
            for cand in (c, lab):
                if cand is None:
                    continue
                parsed = region_code_from_label(cand)
                if parsed is not None:
                    break
            if parsed is None:
                raise ReadError(f"{path}{at}, {dim}: {(lab if lab is not None else c)!r} is not a region "
                                "(expected an SCB code such as '2581', '2581 Piteå' or a kommun/län name)")
            code, name = parsed
            if lab is not None and str(lab).strip() and not str(lab).strip().isdigit():
                lab_parsed = region_code_from_label(lab)
                name = lab_parsed[1] if lab_parsed is not None and lab_parsed[0] == code else str(lab).strip()
            rows.append({"region": code, "region_name": name})
        elif role == "sex":
            out = None
            for cand in (c, lab):
                if cand is None:
                    continue
                try:
                    out = parse_sex(cand)
                    break
                except ValueError:
                    continue
            if out is None:
                raise ReadError(f"{path}{at}, {dim}: {(lab if lab is not None else c)!r} is not a sex "
                                "(expected 'män'/'kvinnor' or the codes 1/2; drop total rows)")
            rows.append({"sex": out})
        elif role == "age":
            out = None
            for cand in (c, lab):
                if cand is None:
                    continue
                try:
                    out = parse_age_label(cand)
                except ValueError:
                    continue
                if out[0] != "unknown":
                    break
            if out is None or out[0] == "unknown":
                raise ReadError(f"{path}{at}, {dim}: {(lab if lab is not None else c)!r} is not an age "
                                "(expected e.g. '0 år', '23', '100+ år'; drop total rows)")
            rows.append({"age_kind": out[0], "age": out[1], "age_label": str(lab if lab is not None else c)})
        elif role == "year":
            y = None
            for cand in (c, lab):
                if cand is not None and re.fullmatch(r"\s*\d{4}\s*", str(cand)):
                    y = int(cand)
                    break
            if y is None:
                raise ReadError(f"{path}{at}, {dim}: {(lab if lab is not None else c)!r} is not a year")
            rows.append({"year": y})
        elif role == "content":
            code = resolve_content(c, lab, override=override)
            if code is None:
                raise ReadError(f"{path}{at}, {dim}: {(lab if lab is not None else c)!r} is an unknown content; "
                                f"known labels: {', '.join(sorted(CONTENT_LABELS))}; or pass content=... "
                                "(a content code or a cube variable)")
            rows.append({"content": code})
        else:  # extra: kept as the category's code for the duplicate check, summed over
            for cand in (c, lab):
                if cand is not None and (_TOTAL.match(str(cand)) or str(cand).strip().casefold() == "tot"):
                    raise ReadError(f"{path}{at}, {dim}: {cand!r} is a total; summed with its parts it would be "
                                    "counted twice — drop the total rows (or the parts)")
            rows.append({"extra": str(c if c is not None else lab).strip()})
    keys = rows[0].keys() if rows else ()
    return {k: np.array([r[k] for r in rows], dtype=np.int64 if k in ("age", "year") else object) for k in keys}


# --- the cube -----------------------------------------------------------------------------------

def check_missing(tidy: dict, path, missing: str, describe) -> None:
    """Raise a ReadError naming the first missing cell unless ``missing="nan"``."""
    if missing not in ("raise", "nan"):
        raise ReadError(f"missing={missing!r}: expected 'raise' or 'nan'")
    bad = np.isnan(tidy["value"])
    if missing == "raise" and bad.any():
        i = int(np.argmax(bad))
        sym = tidy["symbol"][i] if "symbol" in tidy else ".."
        raise ReadError(f"{path}, {describe(tidy['_cell'][i])}: value {sym!r} is missing (SCB's marker for a "
                        f"cell without a number; {int(bad.sum())} such cells); a count is required — pass "
                        "missing='nan' to keep them as NaN")


def _check_extras_complete(t, extras, dup_key, dup_shape, name, code, path, describe) -> None:
    """Raise :class:`ReadError` where a cell lacks a category of another classification (civil status).

    The categories are summed over; a cell with one missing (``ogifta`` and
    ``gifta`` but no ``skilda``) would be the sum of what is there, not the
    total: the missing category is unknown, never a zero.
    """
    n4 = int(np.prod(dup_shape[:4]))
    cell = np.ravel_multi_index(dup_key[:4], dup_shape[:4])
    per_cell = np.bincount(cell, minlength=n4)
    expected = int(np.prod(dup_shape[4:]))
    short = per_cell[cell] < expected
    if not short.any():
        return
    i = int(np.argmax(short))
    rows = np.flatnonzero(cell == cell[i])
    for c in extras:
        have = set(t[c][rows].tolist())
        lack = [v for v in dict.fromkeys(t[c].tolist()) if v not in have]
        if lack:
            break
    dim = c.split(":", 1)[1]
    raise ReadError(f"{path}, {describe(t['_cell'][i])}: {name} (content {code}) for region={t['region'][i]!r}, "
                    f"sex={t['sex'][i]!r}, age {t['age_label'][i]!r}, year={int(t['year'][i])} has no row for "
                    f"{dim} {lack[0]!r} (the file has it for other cells): the {dim} categories are summed, "
                    "and a missing one is not a zero")


def cube_from_tidy(tidy: dict, path, *, describe, fertile_ages=(15, 49), source: str) -> xr.Dataset:
    """Return the cube of a checked tidy frame (see the module docstring).

    ``describe(cell)`` turns a frame's ``_cell`` into the place an error
    names (``"line 12, column '2018'"``).  Other classifications (columns
    ``extra:...``) are summed over.

    Raises
    ------
    ReadError
        Duplicated cells, a missing row (an incomplete region × sex × age ×
        year grid, or a cell without one of the other classification's
        categories), counts that are not whole numbers or are negative.
    """
    extras = sorted(c for c in tidy if c.startswith("extra:"))
    contents = list(dict.fromkeys(tidy["content"].tolist()))
    is_births = any(CONTENT_CODES[c][0] == "births" for c in contents)
    out = {}
    opens: set[int] = set()
    names_from_file: dict[str, str] = {}
    reg_all, name_all = tidy["region"], tidy["region_name"]
    _, first = np.unique(reg_all.astype(str), return_index=True)
    for i in first:
        if name_all[i]:
            names_from_file[reg_all[i]] = name_all[i]
    content_col = tidy["content"]
    for code in contents:
        name, conv = CONTENT_CODES[code]
        mask = content_col == code
        t = {k: c[mask] for k, c in tidy.items()} if len(contents) > 1 else tidy
        v = np.asarray(t["value"], dtype=float)
        ok = ~np.isnan(v)
        if name != "mean_population":
            frac = ok & (v != np.round(v))
            if frac.any():
                i = int(np.argmax(frac))
                raise ReadError(f"{path}, {describe(t['_cell'][i])}: {name} = {v[i]:g} is not a whole "
                                "number of persons")
        if name not in _NET:
            neg = ok & (v < 0)
            if neg.any():
                i = int(np.argmax(neg))
                raise ReadError(f"{path}, {describe(t['_cell'][i])}: {name} = {v[i]:g} is negative; "
                                "counts must be >= 0")
        raw_ages = np.asarray(t["age"], dtype=np.int64)
        kinds = t["age_kind"]
        ages = raw_ages.copy()
        folded = None
        if is_births:
            ages, folded, bad = fold_mothers_ages(kinds, raw_ages, t["age_label"], fertile_ages)
            if bad is not None:
                raise ReadError(f"{path}, {describe(t['_cell'][bad[0]])}: {bad[1]}")
        elif (kinds == "below").any():
            i = int(np.argmax(kinds == "below"))
            raise ReadError(f"{path}, {describe(t['_cell'][i])}: age {t['age_label'][i]!r} is only "
                            "allowed for births by the mother's age")
        opens.update(int(a) for a in np.unique(raw_ages[kinds == "open"]))
        # integer codes of every key (sorted categories, as pandas' groupby sorts them)
        reg_i, regions = pd.factorize(t["region"], sort=True)
        sex_i, sexes = pd.factorize(t["sex"], sort=True)
        age_i, age_ax = pd.factorize(ages, sort=True)
        year_i, years = pd.factorize(np.asarray(t["year"], dtype=np.int64), sort=True)
        kind_i, _ = pd.factorize(kinds)
        rawage_i, _ = pd.factorize(raw_ages * 8 + kind_i)
        dup_key = [reg_i, sex_i, rawage_i, year_i] + [pd.factorize(t[c])[0] for c in extras]
        dup_shape = [int(k.max()) + 1 if len(k) else 1 for k in dup_key]
        dup = pd.Series(np.ravel_multi_index(dup_key, dup_shape)).duplicated().to_numpy()
        if dup.any():
            i = int(np.argmax(dup))
            key = np.ravel_multi_index(dup_key, dup_shape)
            j = int(np.argmax(key == key[i]))
            raise ReadError(f"{path}, {describe(t['_cell'][i])}: duplicated cell {name} (content {code}) "
                            f"region={t['region'][i]!r}, sex={t['sex'][i]!r}, age "
                            f"{t['age_label'][i]!r}, year={int(t['year'][i])} (also at "
                            f"{describe(t['_cell'][j])})")
        if extras:
            _check_extras_complete(t, extras, dup_key, dup_shape, name, code, path, describe)
        shape = (len(regions), len(sexes), len(age_ax), len(years))
        cell = np.ravel_multi_index((reg_i, sex_i, age_i, year_i), shape)
        size = int(np.prod(shape))
        counts = np.bincount(cell, minlength=size)
        if (counts == 0).any():
            absent = np.flatnonzero(counts == 0)
            shown = "; ".join(
                f"region={regions[r]!r}, sex={sexes[x]!r}, age={int(age_ax[a])}, year={int(years[y])}"
                for r, x, a, y in zip(*np.unravel_index(absent[:3], shape)))
            raise ReadError(f"{path}: {name} (content {code}) has no row for {shown}"
                            f"{f' and {len(absent) - 3} more cells' if len(absent) > 3 else ''}: the "
                            "region × sex × age × year grid is incomplete (missing rows are not filled "
                            "with zeros)")
        arr = np.bincount(cell, weights=np.where(ok, v, 0.0), minlength=size)
        arr[np.bincount(cell, weights=~ok, minlength=size) > 0] = np.nan
        da = xr.DataArray(arr.reshape(shape), dims=("region", "sex", "age", "year"),
                          coords={"region": np.asarray(regions, dtype=object),
                                  "sex": np.asarray(sexes, dtype=object),
                                  "age": np.asarray(age_ax, dtype=np.int64),
                                  "year": np.asarray(years, dtype=np.int64)})
        da.name = name
        da.attrs["content_code"] = code
        if conv is not None:
            da.attrs["age_convention"] = conv
        if name == "births" and folded:
            da.attrs["folded_ages"] = folded
        if name in out:
            raise ReadError(f"{path}: variable {name!r} from more than one content")
        out[name] = da
    ds = xr.Dataset(out)
    ds.attrs["source"] = source
    if not is_births and opens:
        ds.attrs["open_age"] = int(max(opens))
    codes = ds["region"].values.tolist()
    table = region_names(codes)
    ds = ds.assign_coords(region_name=("region", [names_from_file.get(c) or n for c, n in zip(codes, table)]))
    return ds


def tidy_from_grid(dims, values: np.ndarray, symbols, path, *, content=None, title=None) -> dict:
    """Return the tidy frame of a dense cube in row-major order (JSON-stat2, PX).

    Parameters
    ----------
    dims : list of (name, role, codes, labels)
        In the order of the value array (the last varies fastest).  ``role``
        from :func:`classify_dimension` (``None`` = unknown: an error naming
        the dimension).
    values : ndarray of float
        ``prod(len(codes))`` cells, NaN where the file has no number.
    symbols : sequence or None
        The file's marker of each missing cell (e.g. ``".."``), for messages.
    content : see :func:`resolve_content`
    title : str, optional
        The table's title or contents text (``"Folkmängd efter region, …"``),
        which names the content when the cube has no content dimension.
    """
    sizes = [len(d[2]) for d in dims]
    n = int(np.prod(sizes)) if sizes else 0
    if values.size != n:
        raise ReadError(f"{path}: {values.size} values for a cube of {' × '.join(map(str, sizes))} = {n} cells")
    roles = [d[1] for d in dims]
    for name, role, _, _ in dims:
        if role is None:
            raise ReadError(f"{path}: unknown dimension {name!r} (expected region, kön/sex, ålder/age, år/Tid, "
                            "tabellinnehåll/ContentsCode or civilstånd)")
    for need in ("region", "sex", "age", "year"):
        if need not in roles:
            raise ReadError(f"{path}: no {need} dimension among {[d[0] for d in dims]}")
    for role in ("region", "sex", "age", "year", "content"):
        if roles.count(role) > 1:
            raise ReadError(f"{path}: more than one {role} dimension: "
                            f"{[d[0] for d in dims if d[1] == role]}")
    idx = np.indices(sizes).reshape(len(sizes), -1) if n else np.zeros((len(sizes), 0), dtype=int)
    cols: dict[str, np.ndarray] = {}
    for k, (name, role, codes, labels) in enumerate(dims):
        cats = parse_categories(role, codes, labels, path=path, dim=f"dimension {name!r}", override=content)
        if role == "extra":
            cols[f"extra:{name}"] = cats["extra"][idx[k]]
        else:
            for c in cats:
                cols[c] = cats[c][idx[k]]
    if "content" not in cols:
        code = resolve_content(None, title, override=content)
        if code is None:
            raise ReadError(f"{path}: the file has no content dimension and its title {title!r} does not name "
                            "a known content; pass content=... (a content code or a cube variable)")
        cols["content"] = np.full(n, code, dtype=object)
    tidy = cols
    tidy["value"] = values.astype(np.float64)

    tidy["_cell"] = np.arange(n)
    if symbols is not None:
        tidy["symbol"] = symbols
    return tidy


def grid_describer(dims):
    """Return ``describe(cell)`` naming a cell of a row-major cube by its categories."""
    sizes = [len(d[2]) for d in dims]

    def describe(cell):
        pos = np.unravel_index(int(cell), sizes)
        return "cell " + ", ".join(f"{d[0]}={d[2][p]!r}" for d, p in zip(dims, pos))

    return describe
