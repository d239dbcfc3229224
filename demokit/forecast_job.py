"""The main job: ``demokit forecast`` — config → statistical basis → projection → files + HTML report.

``demokit forecast --demo --out DIR`` runs a 25-year municipal forecast
(2020–2044) for the five embedded Norrbotten municipalities from their
2015–2019 statistics as an open system, with three scenarios.
``demokit forecast CONFIG.toml`` does the same for a user's own SCB files.

Config (TOML; paths relative to the config file)::

    title = "Norrbotten municipalities"
    [data]
    files = ["population.csv", "births.csv", "deaths.csv", "migration.csv"]  # SCB PX-Web CSVs
    # dataset = "norrbotten"          # or an embedded data set instead of files
    regions = ["2580", "2581"]        # optional: keep these regions
    [forecast]
    statistics_years = [2015, 2019]   # first and last year of the statistical period
    base_year = 2019                  # population on 31 Dec of this year is the start
    last_year = 2044
    smoothing = "relational"          # or "none"
    system = "open"                   # "open", "closed" or "net"
    [scenarios.main]
    [scenarios.low]
    fertility_scale = 0.9             # keys: tfr, life_expectancy, in_migration, immigration,
    in_migration_scale = 0.9          # fertility_scale, mortality_scale, in_migration_scale,
    immigration_scale = 0.8           # immigration_scale
    [labour]
    ages = [16, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75]   # lower bounds of age groups
    female = [0.35, 0.65, 0.78, 0.83, 0.86, 0.87, 0.87, 0.86, 0.83, 0.70, 0.18, 0.05, 0.0]
    male   = [0.35, 0.68, 0.82, 0.87, 0.89, 0.89, 0.88, 0.86, 0.82, 0.70, 0.22, 0.08, 0.0]
    retirement_shift = 0
    [output]
    lang = "sv"                       # "en" (default) or "sv": report and workbook in Swedish
    csv = "excel-sv"                  # "standard" (default) or "excel-sv": ; and decimal comma

Every key, with an example, is documented in docs/CONFIG.md.
"""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import numpy as np
import xarray as xr

from ._output import to_csv, to_netcdf
from ._progress import Progress
from .cube import CubeError, DemokitError

__all__ = ["ConfigError", "DEMO_CONFIG", "load_config", "run", "add_parser"]


class ConfigError(DemokitError, ValueError):
    """A forecast configuration is incomplete or inconsistent."""


#: The demo: five Norrbotten municipalities, statistics 2015–2019, forecast 2020–2044.
#: Labour: ILLUSTRATIVE employment rates (round numbers of the order of Swedish
#: register-based employment rates around 2019) — replace them with RAMS/BAS
#: förvärvsintensitet for your own municipality.
DEMO_CONFIG = {
    "title": "Norrbotten municipalities: forecast 2020–2044 (demo)",
    "data": {"dataset": "norrbotten", "actual": "dataset:norrbotten/actual_2021_2024.csv"},
    "forecast": {"statistics_years": [2015, 2019], "base_year": 2019, "last_year": 2044,
                 "smoothing": "relational", "system": "open"},
    "scenarios": {
        # fertility: Sweden's TFR fell from 1.79 (2015-2019) to 1.43 in 2024 (SCB), about 0.80 of the period's
        # level; low keeps the fall, main recovers half of it by 2035, high recovers fully by 2030
        "low": {"fertility_scale": {"2020": 1.0, "2024": 0.80}, "in_migration_scale": 0.9,
                "immigration_scale": 0.8},
        "main": {"fertility_scale": {"2020": 1.0, "2024": 0.80, "2035": 0.90}},
        "high": {"fertility_scale": {"2020": 1.0, "2024": 0.85, "2030": 1.0}, "in_migration_scale": 1.1,
                 "immigration_scale": 1.2},
    },
    "labour": {
        "ages": [16, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75],
        "female": [0.35, 0.65, 0.78, 0.83, 0.86, 0.87, 0.87, 0.86, 0.83, 0.70, 0.18, 0.05, 0.0],
        "male": [0.35, 0.68, 0.82, 0.87, 0.89, 0.89, 0.88, 0.86, 0.82, 0.70, 0.22, 0.08, 0.0],
        "retirement_shift": 0,
        "note": "illustrative employment rates, not SCB figures; replace with RAMS/BAS förvärvsintensitet",
    },
}

_SECTIONS = {"title", "data", "forecast", "scenarios", "labour", "output", "disclosure", "stochastic"}
_DISCLOSURE_KEYS = {"method", "D", "V", "js", "seed", "inputs"}
_OUTPUT_KEYS = {"lang", "csv"}
_FORECAST_KEYS = {"statistics_years", "base_year", "last_year", "smoothing", "system", "open_age", "old_age",
                  "reference", "mortality_trend", "mortality_years"}


def _toml_hint(path) -> str:
    """A hint for the commonest TOML slip of a Swedish config: a bare key with å, ä or ö."""
    import re
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.match(r"\s*\[([^\]\"']*[^\x00-\x7f][^\]\"']*)\]\s*$", line)
        if m:
            head, _, last = m.group(1).rpartition(".")
            quoted = f"{head}.\"{last}\"" if head else f"\"{last}\""
            return f"; names with å, ä or ö need quotes in TOML: [{quoted}] instead of [{m.group(1)}]"
    return ""


def load_config(path) -> dict:
    """Return a checked forecast config read from a TOML file (paths made absolute)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            cfg = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}){_toml_hint(path)}") from None
    data = cfg.get("data", {})
    if "files" in data:
        if not isinstance(data["files"], list) or not data["files"]:
            raise ConfigError(f"{path}: [data] files must be a non-empty list of paths")
        data["files"] = [str((path.parent / f).resolve()) for f in data["files"]]
    ref = (cfg.get("forecast") or {}).get("reference")
    if isinstance(ref, list) and all(isinstance(f, str) for f in ref):
        cfg["forecast"]["reference"] = [str((path.parent / f).resolve()) for f in ref]
    if isinstance(data.get("actual"), str) and not data["actual"].startswith("dataset:"):
        data["actual"] = str((path.parent / data["actual"]).resolve())
    return check_config(cfg, source=str(path))


_DATA_KEYS = {"files", "dataset", "regions", "actual"}
_LABOUR_KEYS = {"ages", "female", "male", "retirement_shift", "note"}
#: scenario keys: (lowest, highest) sane value of a number or of every point of a {year: value} path
_SCENARIO_RANGES = {"fertility_scale": (0.2, 3.0), "mortality_scale": (0.2, 3.0),
                    "in_migration_scale": (0.0, 5.0), "immigration_scale": (0.0, 5.0),
                    "tfr": (0.5, 5.0), "life_expectancy": (40.0, 110.0),
                    "in_migration": (0.0, 1e7), "immigration": (0.0, 1e7)}


def _unknown(keys, allowed, where, source):
    """Raise a ConfigError for the first unknown key, suggesting the closest valid one."""
    import difflib
    bad = sorted(set(keys) - set(allowed))
    if bad:
        close = difflib.get_close_matches(bad[0], sorted(allowed), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"{source}: {where} unknown key {bad[0]!r}; {hint}expected one of {sorted(allowed)}")


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_value(v, lo, hi, what, source):
    """Check a number or a ``{year: number}`` path against [lo, hi]."""
    if isinstance(v, dict):
        if not v:
            raise ConfigError(f"{source}: {what} is an empty table; give a number or {{year = value}}")
        for k, x in v.items():
            if not (str(k).isdigit() and len(str(k)) == 4):
                raise ConfigError(f"{source}: {what}: {k!r} is not a year; a path is {{2020 = 1.0, 2030 = 1.1}}")
            _check_value(x, lo, hi, f"{what}[{k}]", source)
        return
    if not _is_number(v):
        raise ConfigError(f"{source}: {what} must be a number or a path {{year = value}}, got {v!r}")
    if not (lo <= v <= hi) or v != v:
        raise ConfigError(f"{source}: {what} = {v!r} is outside the sane range [{lo:g}, {hi:g}]")


def _check_scenario(name, opts, source, years):
    from .assumptions import SCENARIO_KEYS
    where = f"[scenarios.{name}]"
    if not isinstance(opts, dict):
        raise ConfigError(f"{source}: {where} must be a table of options, got {opts!r}")
    _unknown(opts, SCENARIO_KEYS + ("deregistration_wave",), where, source)
    for k, v in opts.items():
        if k == "deregistration_wave":
            _check_wave(v, where, source, years)
            continue
        lo, hi = _SCENARIO_RANGES[k]
        if k == "life_expectancy":
            if not (isinstance(v, dict) and set(v) == {"female", "male"}):
                raise ConfigError(f"{source}: {where} life_expectancy must be a table by sex, "
                                  f"{{female = 86.0, male = 83.0}} (numbers or {{year = e0}} paths), got {v!r}")
            for sx, x in v.items():
                _check_value(x, lo, hi, f"{where} life_expectancy.{sx}", source)
        elif k in ("in_migration", "immigration") and isinstance(v, dict) and v and not all(
                str(r).isdigit() and len(str(r)) == 4 and 1900 < int(r) < 2200 for r in v):
            for r, x in v.items():   # by region: numbers or {year: value} paths
                _check_value(x, lo, hi, f"{where} {k}.{r}", source)
        else:
            _check_value(v, lo, hi, f"{where} {k}", source)


def _check_wave(v, where, source, years):
    """``deregistration_wave = {years = [2025, 2026], extra = 0.004, fade = 0.5}`` (METHODS §6.2), its
    years among the projected ``years`` (first, last)."""
    if not isinstance(v, dict) or "years" not in v or "extra" not in v:
        raise ConfigError(f"{source}: {where} deregistration_wave must be a table "
                          f"{{years = [2025, 2026], extra = 0.004, fade = 0.5}}, got {v!r}")
    _unknown(v, ("years", "extra", "fade"), f"{where} deregistration_wave", source)
    yrs = v["years"]
    if not (isinstance(yrs, list) and yrs and all(isinstance(y, int) and not isinstance(y, bool) for y in yrs)):
        raise ConfigError(f"{source}: {where} deregistration_wave.years must be a list of years, got {yrs!r}")
    if min(yrs) < years[0] or max(yrs) > years[1]:
        raise ConfigError(f"{source}: {where} deregistration_wave.years {yrs} must lie in the projected years "
                          f"{years[0]}–{years[1]}")
    _check_value(v["extra"], 0.0, 0.2, f"{where} deregistration_wave.extra", source)
    _check_value(v.get("fade", 0.5), 0.0, 1.0, f"{where} deregistration_wave.fade", source)


def _deregistration_waves(a, scenarios: dict, years):
    """Apply each scenario's ``deregistration_wave`` (its extra risk in that scenario only)."""
    from .scenarios import deregistration_wave
    names = list(scenarios)
    for name, opts in scenarios.items():
        w = opts.get("deregistration_wave")
        if not w:
            continue
        extra = float(w["extra"])
        if len(names) > 1:   # this scenario's wave only (the scenario dim is made here if nothing else has it)
            extra = xr.DataArray([extra if n == name else 0.0 for n in names], dims="scenario",
                                 coords={"scenario": names})
        a = deregistration_wave(a, years=w["years"], extra=extra, fade=float(w.get("fade", 0.5)),
                                projection_years=years)
    return a


def check_config(cfg: dict, *, source: str = "config") -> dict:
    """Return ``cfg`` after checking its sections, keys, types and ranges (one-line errors).

    Unknown keys are rejected with the closest valid key suggested; scales and
    targets outside sane ranges (e.g. ``mortality_scale = -1`` or ``50``) are
    rejected; a string where a list is expected is rejected.
    """
    _unknown(cfg, _SECTIONS, "", source)
    for sec in ("data", "forecast", "scenarios", "labour"):
        if sec in cfg and not isinstance(cfg[sec], dict):
            raise ConfigError(f"{source}: [{sec}] must be a table, got {cfg[sec]!r}")
    if "title" in cfg and not isinstance(cfg["title"], str):
        raise ConfigError(f"{source}: title must be a string, got {cfg['title']!r}")
    _unknown(cfg.get("data") or {}, _DATA_KEYS, "[data]", source)
    _unknown(cfg.get("forecast") or {}, _FORECAST_KEYS, "[forecast]", source)
    _unknown(cfg.get("labour") or {}, _LABOUR_KEYS, "[labour]", source)
    data = cfg.get("data")
    if not data or not ("files" in data or "dataset" in data):
        raise ConfigError(f"{source}: [data] needs 'files' (SCB PX-Web CSVs) or 'dataset'")
    if "regions" in data and not (isinstance(data["regions"], list) and data["regions"]
                                  and all(isinstance(r, (str, int)) and not isinstance(r, bool)
                                          for r in data["regions"])):
        raise ConfigError(f"{source}: [data] regions must be a list of region codes, e.g. [\"2580\"], "
                          f"got {data['regions']!r}")
    if "actual" in data and not isinstance(data["actual"], str):
        raise ConfigError(f"{source}: [data] actual must be the path of a CSV with region, year, population")
    fc = cfg.get("forecast")
    if not fc:
        raise ConfigError(f"{source}: missing the [forecast] section")
    bad = set(fc) - _FORECAST_KEYS
    if bad:
        raise ConfigError(f"{source}: [forecast] unknown key {sorted(bad)[0]!r}; expected {sorted(_FORECAST_KEYS)}")
    for k in ("statistics_years", "base_year", "last_year"):
        if k not in fc:
            raise ConfigError(f"{source}: [forecast] needs {k!r}")
    sy = fc["statistics_years"]
    if not (isinstance(sy, list) and len(sy) == 2 and all(isinstance(v, int) for v in sy) and sy[0] <= sy[1]):
        raise ConfigError(f"{source}: [forecast] statistics_years must be [first, last], got {sy!r}")
    if not isinstance(fc["base_year"], int) or not isinstance(fc["last_year"], int) \
            or fc["last_year"] <= fc["base_year"]:
        raise ConfigError(f"{source}: [forecast] last_year ({fc['last_year']!r}) must be an integer after "
                          f"base_year ({fc['base_year']!r})")
    if "open_age" in fc and (not isinstance(fc["open_age"], int) or isinstance(fc["open_age"], bool)
                             or not 80 <= fc["open_age"] <= 100):
        raise ConfigError(f"{source}: [forecast] open_age must be a whole age between 80 and 100 (the council "
                          f"table counts 65–79 and 80+), got {fc['open_age']!r}")
    if "old_age" in fc and not (fc["old_age"] == "none" or (isinstance(fc["old_age"], int)
                                                             and 40 <= fc["old_age"] <= 100)):
        raise ConfigError(f"{source}: [forecast] old_age must be an age between 40 and 100 or \"none\", "
                          f"got {fc['old_age']!r}")
    if isinstance(fc.get("old_age"), int) and isinstance(fc.get("open_age"), int) \
            and fc["old_age"] > fc["open_age"]:
        raise ConfigError(f"{source}: [forecast] old_age = {fc['old_age']} is above open_age = {fc['open_age']}: "
                          "no age would be pooled into the old-age index; give old_age <= open_age")
    if fc.get("mortality_trend", "lee_carter") not in ("lee_carter", "none"):
        raise ConfigError(f"{source}: [forecast] mortality_trend must be \"lee_carter\" or \"none\", "
                          f"got {fc['mortality_trend']!r}")
    my = fc.get("mortality_years", "auto")
    if not (my in ("auto", "period") or (isinstance(my, list) and len(my) == 2
                                          and all(_is_number(v) and int(v) == v for v in my) and my[0] <= my[1])):
        raise ConfigError(f"{source}: [forecast] mortality_years must be \"auto\", \"period\" or [first, last], "
                          f"got {my!r}")
    ref = fc.get("reference", "sweden")
    if not (isinstance(ref, str) or (isinstance(ref, list) and ref and all(isinstance(f, str) for f in ref))):
        raise ConfigError(f"{source}: [forecast] reference must be \"sweden\", \"pooled\", \"dataset:NAME\" or a "
                          f"list of files (a county's or the country's SCB tables), got {ref!r}")
    if "smoothing" in fc and fc["smoothing"] not in ("relational", "brass", "pspline", "none"):
        raise ConfigError(f"{source}: [forecast] smoothing must be \"relational\", \"brass\", \"pspline\" or "
                          f"\"none\", got {fc['smoothing']!r}")
    if "system" in fc and fc["system"] not in ("open", "closed", "net"):
        raise ConfigError(f"{source}: [forecast] system must be \"open\", \"closed\" or \"net\", "
                          f"got {fc['system']!r}")
    if fc["base_year"] < sy[1]:
        raise ConfigError(f"{source}: [forecast] base_year {fc['base_year']} lies before the end of "
                          f"statistics_years {sy!r}")
    sc = cfg.get("scenarios") or {"main": {}}
    if not isinstance(sc, dict):
        raise ConfigError(f"{source}: [scenarios] must be tables like [scenarios.main]")
    for name, opts in sc.items():
        _check_scenario(name, opts, source, (fc["base_year"] + 1, fc["last_year"]))
    cfg["scenarios"] = sc
    lab = cfg.get("labour")
    if lab:
        ages = lab.get("ages")
        for s in ("female", "male"):
            r = lab.get(s)
            if not isinstance(ages, list) or not isinstance(r, list) or len(r) != len(ages):
                raise ConfigError(f"{source}: [labour] needs 'ages' and '{s}' lists of the same length")
            bad = [v for v in r if not (_is_number(v) and 0 <= v <= 1)]   # (nan = TOML's nan fails too)
            if bad:
                raise ConfigError(f"{source}: [labour] {s} rates must lie in [0, 1], got {bad[0]!r}")
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in ages) or ages != sorted(set(ages)):
            raise ConfigError(f"{source}: [labour] ages must be increasing whole ages, got {ages!r}")
        if not isinstance(lab.get("retirement_shift", 0), int) or isinstance(lab.get("retirement_shift", 0), bool):
            raise ConfigError(f"{source}: [labour] retirement_shift must be a whole number of years")
    _check_output(cfg.get("output"), source)
    _check_disclosure(cfg.get("disclosure"), source)
    if "stochastic" in cfg:   # issue 12: draws, seed, scenario, chunks (demokit/_job_stochastic.py)
        from . import _job_stochastic
        cfg["stochastic"] = _job_stochastic.check(cfg["stochastic"], sc, source)
    return cfg


def _check_disclosure(dc, source):
    """Check ``[disclosure]``: the cell key method's parameters (dk.ckm)."""
    if dc is None:
        return
    if not isinstance(dc, dict):
        raise ConfigError(f"{source}: [disclosure] must be a table, got {dc!r}")
    _unknown(dc, _DISCLOSURE_KEYS, "[disclosure]", source)
    if dc.get("method", "ckm") != "ckm":
        raise ConfigError(f"{source}: [disclosure] method must be \"ckm\" (the cell key method), got {dc['method']!r}")
    for k, lo, hi in (("D", 1, 10), ("js", 0, 10), ("seed", 0, 2**63 - 1)):
        v = dc.get(k, 0 if k != "D" else 2)
        if not (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
            raise ConfigError(f"{source}: [disclosure] {k} must be a whole number in [{lo}, {hi}], got {v!r}")
    v = dc.get("V", 1.0)
    if not (_is_number(v) and 0 < v <= dc.get("D", 2) ** 2):
        raise ConfigError(f"{source}: [disclosure] V must be a variance in (0, D^2], got {v!r}")
    if not isinstance(dc.get("inputs", False), bool):
        raise ConfigError(f"{source}: [disclosure] inputs must be true or false, got {dc['inputs']!r}")


def _ckm_options(dc):
    return {"D": int(dc.get("D", 2)), "V": float(dc.get("V", 1.0)), "js": int(dc.get("js", 0)),
            "seed": int(dc.get("seed", 0))}


def _check_output(outcfg, source) -> None:
    """Check the ``[output]`` section: ``lang`` ("en"/"sv") and ``csv`` ("standard"/"excel-sv")."""
    from ._i18n import LANGS
    from ._output import CSV_VARIANTS

    if outcfg is None:
        return
    if not isinstance(outcfg, dict):
        raise ConfigError(f"{source}: [output] must be a table with keys {sorted(_OUTPUT_KEYS)}")
    bad = set(outcfg) - _OUTPUT_KEYS
    if bad:
        raise ConfigError(f"{source}: [output] unknown key {sorted(bad)[0]!r}; expected {sorted(_OUTPUT_KEYS)}")
    if "lang" in outcfg and outcfg["lang"] not in LANGS:
        raise ConfigError(f"{source}: [output] lang = {outcfg['lang']!r}: expected one of {LANGS}")
    if "csv" in outcfg and outcfg["csv"] not in CSV_VARIANTS:
        raise ConfigError(f"{source}: [output] csv = {outcfg['csv']!r}: expected one of {CSV_VARIANTS}")


def _check_not_nested(codes) -> None:
    """Raise :class:`ConfigError` when a region and a part of it are both forecast (e.g. '00' Riket and '2580').

    The sum of the regions (the council table's "total", closed-system pools) would count the part's persons
    twice.  Codes that are not SCB codes (a user's own districts) are not checked.
    """
    from .regions import parse

    parsed = {}
    for c in codes:
        try:
            parsed[str(c)] = parse(str(c))
        except CubeError:
            continue
    for c, p in parsed.items():
        above = [a for a in ("00", p["lan"], p["kommun"]) if a is not None and a != c]
        whole = next((a for a in above if a in parsed), None)
        if whole is not None:
            raise ConfigError(f"[data] the data hold region {whole!r} and its part {c!r}: the sum of the regions "
                              f"would count the persons of {c!r} twice; keep one level with [data] regions = [...]")


def _read_data(cfg) -> xr.Dataset:
    from . import datasets, io

    data = cfg["data"]
    if "dataset" in data:
        ds = datasets.load(data["dataset"])
    else:
        files = data["files"]
        for f in files:
            if not Path(f).exists():
                raise ConfigError(f"[data] files: {f}: no such file")
        ds = io.read(files, regions=data.get("regions"))
    if data.get("regions") and "dataset" in data:
        have = ds["region"].values.tolist()
        missing = [str(r) for r in data["regions"] if str(r) not in have]
        if missing:
            raise ConfigError(f"[data] regions: region {missing[0]!r} is not in dataset {data['dataset']!r} "
                              f"(its regions: {have[:8]}{' ...' if len(have) > 8 else ''})")
        ds = ds.sel(region=[str(r) for r in data["regions"]])
    _check_not_nested(ds["region"].values.tolist() if "region" in ds.dims else [])
    return ds


def _mortality_years(fc):
    my = fc.get("mortality_years", "auto")
    if my == "period":
        return None
    if isinstance(my, list):
        return list(range(int(my[0]), int(my[1]) + 1))
    return my


def _reference(spec):
    """Return the reference for small-area estimation named in ``[forecast] reference``."""
    if isinstance(spec, list):   # a county's or the country's own SCB files: their regions pooled
        from . import io
        for f in spec:
            if not Path(f).exists():
                raise ConfigError(f"[forecast] reference: {f}: no such file")
        return io.read(spec)
    if spec in ("sweden", "pooled"):
        return spec
    if spec.startswith("dataset:"):
        from . import datasets
        name = spec[len("dataset:"):]
        ds = datasets.load(name)
        return ds
    raise ConfigError(f"[forecast] reference = {spec!r}: expected \"sweden\" (the country, shipped), \"pooled\" "
                      "(the sum of the forecast's regions) or \"dataset:NAME\"")


def compare_with_actual(projection: xr.Dataset, actual: xr.DataArray) -> xr.Dataset:
    """Return ``actual``, the projected ``forecast`` and ``error_percent`` = 100 (forecast / actual − 1).

    Dims ``region, year`` (the cells of ``actual``) and the projection's
    ``scenario``; the source of the actual figures is kept in ``attrs``.
    Other forecasts carried as coordinates of ``actual`` (extra columns of the
    actual CSV, e.g. ``scb_forecast_2020``) get ``<name>`` and
    ``<name>_error_percent`` too.
    """
    bench = [c for c in actual.coords if c not in actual.dims and set(actual[c].dims) == {"region", "year"}]
    plain = actual.drop_vars(bench)
    fc = projection["population"].sum(["sex", "age"]).sel(region=plain["region"], year=plain["year"])
    out = xr.Dataset({"actual": plain, "forecast": fc, "error_percent": 100 * (fc / plain - 1)})
    for c in bench:   # other forecasts of the same years (e.g. SCB's own), compared the same way
        other = actual[c].drop_vars(bench, errors="ignore")
        out[c] = other
        out[f"{c}_error_percent"] = 100 * (other / plain - 1)
    out.attrs["source"] = actual.attrs.get("source", "")
    return out


def read_actual(spec, *, regions, years) -> xr.DataArray | None:
    """Return the actual population totals (dims region, year) of ``[data] actual``, or None.

    ``spec``: a CSV with columns ``region, year, population`` and optionally
    other forecasts of the same cells as further columns (``#`` comments
    allowed), or ``"dataset:NAME/FILE"`` for a file shipped with demokit.
    Only the forecast's regions and projected years are kept.
    """
    import pandas as pd

    from . import datasets

    if not spec:
        return None
    if spec.startswith("dataset:"):
        name, _, fname = spec[len("dataset:"):].partition("/")
        src = datasets.path(name, fname)
        if not src.is_file():
            raise ConfigError(f"[data] actual: {spec}: no such embedded file")
    else:
        src = Path(spec)
        if not src.exists():
            raise ConfigError(f"[data] actual: {spec}: no such file")
    text = src.read_text(encoding="utf-8")
    head = [ln.lstrip("#").strip() for ln in text.splitlines()[:20]]
    note = " ".join(ln for ln in head[:next((i for i, ln in enumerate(head) if ln.startswith("region")), 0)])
    df = pd.read_csv(io.StringIO(text), comment="#", dtype={"region": str})
    missing = {"region", "year", "population"} - set(df.columns)
    if missing:
        raise ConfigError(f"[data] actual: {spec}: needs the columns region, year, population "
                          f"(missing {sorted(missing)})")
    df["region"] = df["region"].str.strip()
    raw = pd.read_csv(io.StringIO(text), comment="#", dtype=str, keep_default_na=False)   # the cells as written
    pop = pd.to_numeric(df["population"], errors="coerce")
    yr = pd.to_numeric(df["year"], errors="coerce")
    with np.errstate(invalid="ignore"):
        bad_year = (~np.isfinite(yr) | (yr != np.round(yr))).to_numpy()
        bad_pop = (~np.isfinite(pop) | (pop < 0)).to_numpy()
    for what, bad, expected in (("year", bad_year, "a year"),
                                ("population", bad_pop, "a count of persons (a number >= 0)")):
        if bad.any():
            r = raw.iloc[int(np.argmax(bad))]
            raise ConfigError(f"[data] actual: {spec}: {what} = {r[what]!r} (region={r['region']!r}, "
                              f"year={r['year']!r}) is not {expected}")
    df["population"], df["year"] = pop.astype(float), yr.astype(int)
    regions = [str(r) for r in regions]
    if regions and not df["region"].isin(regions).any():
        raise ConfigError(f"[data] actual: {spec}: none of its regions {sorted(df['region'].unique())[:5]} is "
                          f"among the forecast's regions {regions[:5]} (region codes are compared as text: "
                          "'0180', not '180')")
    df = df[df["region"].isin(regions) & df["year"].isin(list(years))]
    if df.empty:
        return None
    if df.duplicated(["region", "year"]).any():
        r = df[df.duplicated(["region", "year"])].iloc[0]
        raise ConfigError(f"[data] actual: {spec}: region={r['region']}, year={r['year']} appears twice")
    extra = [c for c in df.columns if c not in ("region", "year", "population")]
    for c in extra:
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise ConfigError(f"[data] actual: {spec}: column {c!r} must hold numbers (another forecast of the "
                              "population), e.g. scb_forecast_2020")
        with np.errstate(invalid="ignore"):
            bad = (df[c] < 0).to_numpy()   # (a blank cell, NaN: no other forecast for that year)
        if bad.any():
            r = raw.loc[df.index[int(np.argmax(bad))]]   # the cell as written
            raise ConfigError(f"[data] actual: {spec}: {c} = {r[c]!r} (region={r['region']!r}, year={r['year']!r}) "
                              "is not a count of persons (a number >= 0)")
    tab = df.set_index(["region", "year"])
    da = tab["population"].to_xarray()
    for c in extra:
        da = da.assign_coords({c: tab[c].to_xarray()})
    da.name = "actual"
    da.attrs = {"units": "persons", "long_name": "actual population on 31 December",
                "source": note or str(spec)}
    return da


def employment_rates(lab: dict, ages) -> xr.DataArray:
    """Return single-year employment rates (dims sex, age) from age-group rates in the config."""
    lower = np.asarray(lab["ages"], dtype=int)
    ages = np.asarray(ages)
    idx = np.searchsorted(lower, ages, side="right") - 1
    out = []
    for s in ("female", "male"):
        r = np.asarray(lab[s], dtype=float)
        out.append(np.where(idx >= 0, r[np.clip(idx, 0, None)], 0.0))
    da = xr.DataArray(np.array(out), dims=("sex", "age"), coords={"sex": ["female", "male"], "age": ages})
    da.attrs = {"units": "share employed", "note": lab.get("note", "employment rates from the config")}
    return da


def _history_run(pooled: xr.Dataset, yrs: list, w: int):
    """The TFR and e0 of :func:`history_series` for consecutive years ``yrs`` (the year before in ``pooled``)."""
    from .accounting import cohort_start_population, events_year_end, mean_population
    from .assumptions import _table_e0, _table_risks
    from .small_area import OLD_AGE, national_death_risks_by_year, small_area_rates

    sub = pooled.sel(year=[yrs[0] - 1] + yrs)
    D = events_year_end(sub, "deaths").sel(year=yrs)
    N = cohort_start_population(sub).sel(year=yrs).transpose(*D.dims)
    ref = national_death_risks_by_year(yrs)     # each year against the country's risks of that year
    if int(ref["age"].values.max()) > w:        # folded ages: the open age takes the mean risk of its ages
        top = ref.sel(age=slice(w, None)).mean("age").expand_dims(age=[w])
        ref = xr.concat([ref.sel(age=slice(None, w - 1)), top.transpose(*ref.dims)], dim="age")
    q = small_area_rates(D, N, ref, link="logit", smoothing=None, name="deaths", warn=False,
                         old_age=min(OLD_AGE, w))["rate"]   # (an open age under 90: pooled from it)
    e0 = _table_e0(_table_risks(q.transpose(..., "age")))
    B = sub["births"].sel(year=yrs)
    if "sex" in B.dims:
        B = B.sum("sex")
    W = mean_population(sub["population"].sel(sex="female", drop=True), by="cohort").sel(year=yrs)
    W = W.sel(age=B["age"].values)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = xr.where(W > 0, B / W.where(W > 0), 0.0)
    return f.sum("age"), e0


def history_series(ds: xr.Dataset, years=None, *, open_age: int | None = None) -> xr.Dataset:
    """Return the observed TFR and life expectancy at birth by year for the set of regions pooled.

    Every year of the cube but the first by default.  Works for one small
    municipality: each year's interval death risks come from
    :func:`demokit.small_area_rates` without smoothing (observed below age 90,
    the country's schedule times the pooled index from 90 up, every risk in
    [0, 1]), the life table from their table risks; the TFR is
    ``Σ_x B(x, t) / M_women(x, t)`` with the cohort mean population.
    ``open_age`` folds the oldest ages first (:func:`demokit.with_open_age`).
    Returns ``tfr`` (dim ``year``) and ``e0`` (dims ``sex, year``); every year
    of the data but the first (its rates need the population of the year
    before) that has complete statistics — population (this year and the
    last), births and deaths without a missing (NaN) cell; the others, e.g.
    years a file does not cover, are left out and listed in
    ``attrs["years_without_data"]`` (they were read as zero births or deaths).
    """
    from .regions import pool
    from .small_area import with_open_age

    pooled = pool(ds) if "region" in ds.dims else ds
    if open_age is not None and open_age < int(pooled["age"].values.max()):
        pooled = with_open_age(pooled, open_age)
    all_years = [int(y) for y in pooled["year"].values]
    # a year is shown only with complete statistics: the population of the year and of the year before, the
    # births and the deaths (a file covering fewer years leaves NaN; pooled, a NaN count stays NaN)
    full = {v: ~pooled[v].isnull().any([d for d in pooled[v].dims if d != "year"]) for v in
            ("population", "births", "deaths")}
    complete = {y for y in all_years[1:] if bool(full["population"].sel(year=[y - 1, y]).all())
                and bool(full["births"].sel(year=y)) and bool(full["deaths"].sel(year=y))}
    wanted = [y for y in (all_years[1:] if years is None else years) if y in all_years[1:]]
    yrs = [y for y in wanted if y in complete]
    if not yrs:
        raise CubeError(f"no year {wanted[0] if wanted else ''}–{wanted[-1] if wanted else ''} has complete "
                        "population, births and deaths for the observed history")
    gaps = [y for y in wanted if y not in complete]
    w = int(pooled["age"].values.max())
    pooled = pooled[["population", "births", "deaths"]]
    runs = [[yrs[0]]]   # runs of consecutive years: each needs the population of the year before it
    for y in yrs[1:]:
        if y == runs[-1][-1] + 1:
            runs[-1].append(y)
        else:
            runs.append([y])
    parts = [_history_run(pooled, run, w) for run in runs]
    out = xr.Dataset({"tfr": xr.concat([p[0] for p in parts], dim="year"),
                      "e0": xr.concat([p[1] for p in parts], dim="year")})
    out["tfr"].attrs = {"units": "children per woman"}
    out["e0"].attrs = {"units": "years"}
    out.attrs = {"open_age": w, "e0_missing_years": "", "regions": f"{ds.sizes.get('region', 1)} pooled",
                 "years_without_data": ", ".join(str(y) for y in gaps),
                 "method": "small-area interval risks (observed below 90, reference x index above), table risks, "
                           "life table"}
    return out


    return out


def pooled_tfr(assumptions, women: xr.DataArray) -> xr.DataArray:
    """Return the assumed TFR of the set of regions: the regions' rates weighted by the women of each age.

    ``women`` are the women by region and age in the base year;
    ``Σ_x Σ_r f_r(x) W_r(x) / Σ_r W_r(x)`` (an age with no women counts 0).
    Without a ``region`` dim in the fertility rates, their TFR ``Σ_x f(x)``.
    """
    f = assumptions["fertility"]
    if "region" not in f.dims:
        return f.sum("age")
    w = women.sel(region=f["region"]).reindex(age=f["age"].values, fill_value=0.0)
    pooled = (f * w).sum("region") / w.sum("region").where(w.sum("region") > 0)
    return pooled.fillna(0.0).sum("age")


def run(cfg: dict, out: Path, *, progress: Progress | None = None, lang: str | None = None,
        csv: str | None = None) -> dict:
    """Run a forecast from a checked config and write its files into ``out``.

    Returns a dict of the main results (``data``, ``assumptions``,
    ``projection``, ``labour``, ``history``, ``table`` (the council table of
    :func:`demokit.forecast_table`), ``files``).  ``lang`` and ``csv``
    override the config's ``[output]`` keys (see :func:`write_outputs`).
    """
    from . import labour as labour_mod
    from .projection import Assumptions, project

    progress = progress or Progress(8, "forecast")
    fc = cfg["forecast"]
    ds = _read_data(cfg)
    dc = cfg.get("disclosure")
    if dc and dc.get("inputs"):
        # the statistics as SCB publishes them from 2025: every count perturbed (robustness of the forecast)
        from .ckm import perturbed_cube
        ds = perturbed_cube(ds, **_ckm_options(dc))
    sy = list(range(fc["statistics_years"][0], fc["statistics_years"][1] + 1))
    base_year, last_year = fc["base_year"], fc["last_year"]
    if "origin" in ds.dims and cfg.get("stochastic"):
        raise ConfigError("[stochastic] with data by birth region (an 'origin' dim): the stochastic draws are "
                          "made without origin groups; remove [stochastic] or use data without origin")
    if base_year not in ds["year"].values:
        raise ConfigError(f"[forecast] base_year {base_year} is not in the data "
                          f"({int(ds['year'].min())}–{int(ds['year'].max())})")
    read_actual(cfg["data"].get("actual"), regions=(), years=())   # a bad [data] actual fails now, not at the end
    if int(ds["age"].max()) < 80:   # (the council table's 65–79 and 80+: now, not after the projection)
        raise ConfigError(f"the data's open age is {int(ds['age'].max())}: the council table counts 65–79 and "
                          "80+, so the population must reach at least 80 (80+)")
    progress.step("read data")
    smoothing = fc.get("smoothing", "relational")
    if fc.get("open_age") is not None:
        from .small_area import with_open_age
        ds = with_open_age(ds, fc["open_age"])
    years = list(range(base_year + 1, last_year + 1))
    old_age = fc.get("old_age", 90)   # (from_history pools the open age group when this is above it)
    a = Assumptions.from_history(ds, years=sy, smoothing=None if smoothing == "none" else smoothing,
                                 system=fc.get("system"),
                                 scenarios={n: {k: v for k, v in o.items() if k != "deregistration_wave"}
                                            for n, o in cfg["scenarios"].items()},
                                 reference=_reference(fc.get("reference", "sweden")),
                                 old_age=None if old_age == "none" else old_age,
                                 mortality_trend=None if fc.get("mortality_trend") == "none" else "lee_carter",
                                 projection_years=years, mortality_years=_mortality_years(fc))
    a = _deregistration_waves(a, cfg["scenarios"], years)
    progress.step("statistical basis")
    proj = project(ds["population"].sel(year=base_year), a, years=years)
    if "scenario" not in proj.dims:
        proj = proj.expand_dims(scenario=list(cfg["scenarios"])[:1])
    proj.attrs["title"] = cfg.get("title", "demokit forecast")
    proj.attrs["statistics_years"] = f"{sy[0]}-{sy[-1]}"
    proj.attrs["base_year"] = base_year
    # birth-region groups: every output but the groups' own (projection.nc, totals_by_origin.csv) is for all groups
    pooled = _sum_origin(proj) if "origin" in proj.dims else None
    if dc:
        # the published tables protected by the cell key method: every cell of the projection perturbed
        # (whole persons, zeros kept); totals are sums of the perturbed cells.  With groups, the sum over the
        # groups is perturbed itself (perturbing the smaller cells by group and summing them would bias it)
        from .ckm import perturbed_cube
        opts = _ckm_options(dc)
        note = (f"cell key method (dk.ckm), D={opts['D']}, V={opts['V']:g}, js={opts['js']}"
                + ("; inputs perturbed too" if dc.get("inputs") else ""))
        proj = perturbed_cube(proj, **opts)
        proj.attrs["disclosure"] = note
        if pooled is not None:
            pooled = perturbed_cube(pooled, **opts)
            pooled.attrs["disclosure"] = note
    progress.step("projection")
    lab = None
    if cfg.get("labour"):
        rates = employment_rates(cfg["labour"], proj["age"].values)
        lab = labour_mod.labour_force(proj if pooled is None else pooled, rates,
                                      retirement_shift=cfg["labour"].get("retirement_shift", 0))
    from .assumptions import pool_origin
    hist = history_series(pool_origin(ds) if "origin" in ds.dims else ds)
    stoch = None
    if cfg.get("stochastic"):
        from . import _job_stochastic
        stoch = _job_stochastic.run(cfg["stochastic"], base=ds["population"].sel(year=base_year), assumptions=a,
                                    years=years, rates=rates if cfg.get("labour") else None)
    progress.step("labour force, history")
    out.mkdir(parents=True, exist_ok=True)
    res = write_outputs(out, cfg=cfg, data=ds, assumptions=a, projection=proj, labour=lab, history=hist,
                        progress=progress, lang=lang, csv=csv, stochastic=stoch, pooled=pooled)
    return res


def _sum_origin(proj: xr.Dataset) -> xr.Dataset:
    """The projection summed over its birth-region groups, with its attrs."""
    out = proj.sum("origin", skipna=False)
    out.attrs = dict(proj.attrs)
    return out


def write_outputs(out: Path, *, cfg: dict, data: xr.Dataset, assumptions, projection: xr.Dataset, labour,
                  history, progress: Progress | None = None, lang: str | None = None,
                  csv: str | None = None, stochastic: xr.Dataset | None = None,
                  pooled: xr.Dataset | None = None) -> dict:
    """Compute the council tables and write every output file of a forecast into ``out``.

    ``lang`` (``"en"``/``"sv"``) and ``csv`` (``"standard"``/``"excel-sv"``)
    default to the config's ``[output]`` keys, then to English and standard.
    A projection by birth region (an ``origin`` dim) is written as it is to
    ``projection.nc`` and by group to ``totals_by_origin.csv``; every other
    output uses ``pooled`` (the sum over the groups, perturbed on its own
    under disclosure control; default: the sum).  Returns the dict of :func:`run`.
    """
    from ._i18n import check_lang, label
    from ._output import check_csv_variant
    from ._workbook import write_workbook
    from .assumptions import pool_origin
    from .report import write_report
    from .tables import forecast_table, observed_table, origin_table

    progress = progress or Progress(4, "output")
    outcfg = cfg.get("output", {})
    lang = check_lang(lang or outcfg.get("lang", "en"))
    csv = check_csv_variant(csv or outcfg.get("csv", "standard"))
    ds, a, proj, lab = data, assumptions, projection, labour
    base_year = int(proj.attrs.get("base_year", int(proj["year"].values[0]) - 1))
    years = proj["year"].values.tolist()
    files = {}
    to_netcdf(proj, out / "projection.nc")
    files["projection.nc"] = ("the projection: population and components by scenario, region, "
                              + ("birth region, " if "origin" in proj.dims else "") + "sex, age, year")
    progress.step("NetCDF")

    def csv_out(obj, name):
        if isinstance(obj, xr.Dataset):
            obj = obj.assign_coords(base_year=base_year)
        to_csv(obj, out / name, variant=csv)

    by_origin = None
    if "origin" in proj.dims:
        # birth-region groups: their totals in one table (and the report); every other output for all groups
        by_origin = origin_table(proj, observed=ds, base_year=base_year)
        csv_out(by_origin, "totals_by_origin.csv")
        files["totals_by_origin.csv"] = ("population and components by scenario, region, birth region and year, "
                                         "the base year first (births by the mother's birth region; newborns all "
                                         "in the first group)")
        proj = _sum_origin(proj) if pooled is None else pooled
        ds = pool_origin(ds)

    table = forecast_table(proj, observed=ds, base_year=base_year)
    regions = proj["region"].values.tolist()
    hist_table = observed_table(ds.sel(region=regions)) if "population" in ds else None
    csv_out(table, "forecast_table.csv")
    files["forecast_table.csv"] = ("the council table: population, age groups 0, 1-5, 6-15, 16-19, 20-64, 65-79, "
                                   "80+, births, deaths, migration, natural increase, net migration, population "
                                   "change and dependency ratio by region (and their sum), scenario and year, base "
                                   "year first")
    csv_out(proj.sum(["sex", "age"]), "totals_by_region.csv")
    files["totals_by_region.csv"] = "population and components by scenario, region and year (exact values)"
    csv_out(proj["population"].to_dataset(), "population_by_age.csv")
    files["population_by_age.csv"] = "population by scenario, region, sex, single year of age and year"
    paths = xr.Dataset({"tfr": a.attrs["tfr"], "e0": a.attrs["life_expectancy"]})
    paths = paths.broadcast_like(xr.DataArray(years, dims="year", coords={"year": years}))
    csv_out(paths, "assumptions.csv")
    files["assumptions.csv"] = "assumed TFR and life expectancy at birth by scenario (and year)"
    lab_tot = None
    if lab is not None:
        lab_tot = xr.Dataset({"employed": lab["employed"].sum(["sex", "age"]),
                              "not_employed": lab["not_employed"].sum(["sex", "age"]),
                              "economic_dependency_ratio": lab["economic_dependency_ratio"]})
        for v in ("employed", "not_employed"):
            lab_tot[v].attrs["units"] = "persons"
        csv_out(lab_tot, "labour_force.csv")
        files["labour_force.csv"] = "employed, not employed and economic dependency ratio"
    actual = read_actual(cfg["data"].get("actual"), regions=regions, years=years)
    against = None
    if actual is not None:
        against = compare_with_actual(proj, actual)
        csv_out(against, "forecast_vs_actual.csv")
        files["forecast_vs_actual.csv"] = "the forecast against the actual population (region, year, scenario)"
    if stochastic is not None:
        csv_out(stochastic, "stochastic_quantiles.csv")
        files["stochastic_quantiles.csv"] = ("quantiles over the stochastic draws of population, labour-force ages, "
                                             "employed and economic dependency ratio by region ('total') and year")
    progress.step("CSV tables")
    title = cfg.get("title", "demokit forecast")
    src = str(ds.attrs.get("source", "")).split(";")[0].split(": ")[0]   # e.g. "Statistics Sweden (SCB), PX-Web CSV"
    if lang == "sv":
        src = src.replace("Statistics Sweden (SCB)", "SCB")
    subtitle = (f"{label('base year', lang).capitalize()} {base_year} "
                f"({'folkmängd 31 december' if lang == 'sv' else 'population on 31 December'}), "
                f"{years[0]}–{years[-1]}. {label('Source', lang)}: {src or 'demokit'}; demokit forecast.")
    write_workbook(out / "forecast.xlsx", table=table, observed_table=hist_table,
                   base=ds["population"].sel(year=base_year), projection=proj, paths=paths, history=history,
                   labour=lab_tot, against=against, lang=lang, title=title, subtitle=subtitle)
    files["forecast.xlsx"] = ("the tables for Excel, one sheet each (council table, observed history, population "
                              "by age, assumptions, labour force, forecast vs actual); persons rounded")
    progress.step("Excel")
    write_report(out / "report.html", data=ds, projection=proj, assumptions=a, labour=lab, history=history,
                 config=cfg, files=files | {"report.html": "this report"}, against_actual=against, table=table,
                 observed_table=hist_table, lang=lang, stochastic=stochastic, by_origin=by_origin,
                 assumed_tfr=pooled_tfr(a, ds["population"].sel(year=base_year, region=regions, sex="female")))
    files["report.html"] = "the HTML report with tables and figures"
    progress.step("HTML report")
    return {"data": ds, "assumptions": a, "projection": proj, "labour": lab, "history": history, "files": files,
            "table": table, "stochastic": stochastic}


def _print_summary(res, stream=None) -> None:
    import sys

    stream = stream or sys.stdout
    proj = res["projection"]
    tot = proj["population"].sum(["sex", "age"])
    first, last = int(proj["year"].values[0]), int(proj["year"].values[-1])
    base = res["data"]["population"].sel(year=first - 1).sum(["sex", "age"])
    names = (res["data"]["region_name"].values.tolist() if "region_name" in res["data"].coords
             else [""] * proj.sizes["region"])
    scen = proj["scenario"].values.tolist()
    stream.write(f"Population on 31 Dec, base {first - 1} and {last} by scenario\n")
    stream.write(f"{'region':<22}{first - 1:>10}" + "".join(f"{s:>10}" for s in scen) + "\n")
    for i, r in enumerate(proj["region"].values.tolist()):
        row = "".join(f"{float(tot.sel(scenario=s, region=r, year=last)):10,.0f}" for s in scen)
        stream.write(f"{(str(r) + ' ' + names[i]):<22.22}{float(base.sel(region=r)):10,.0f}{row}\n")


def cmd_forecast(args) -> int:
    if args.demo:
        import copy

        cfg = check_config(copy.deepcopy(DEMO_CONFIG), source="demo")
        out = Path(args.out or "forecast-demo")
    else:
        if not args.config:
            raise ConfigError("give a CONFIG.toml or --demo")
        cfg = load_config(args.config)
        out = Path(args.out or "forecast-output")
    res = run(cfg, out, progress=Progress(8, "forecast"), lang=args.lang, csv=args.csv)
    _print_summary(res)
    print(f"wrote {out}/: " + ", ".join(res["files"]))
    return 0


def add_parser(sub) -> None:
    """Add ``forecast`` to the CLI's sub-commands."""
    import argparse

    f = sub.add_parser("forecast", help="municipal cohort-component forecast with scenarios and an HTML report",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Project the population from its recent statistics (smoothed risks, "
                                   "fertility, in-movers and immigrants) under scenarios; write NetCDF, "
                                   "CSV tables, forecast.xlsx and an HTML report.",
                       epilog="Config (TOML): sections [data] (files or dataset, regions, actual), [forecast]\n"
                              "(statistics_years, base_year, last_year, smoothing, system, ...), [scenarios.NAME]\n"
                              "(tfr, life_expectancy, in_migration, immigration, *_scale), [labour] and [output]\n"
                              "(lang, csv).  Every key, with an example, is documented in docs/CONFIG.md.\n\n"
                              "Outputs: report.html, forecast.xlsx, forecast_table.csv (the council table),\n"
                              "totals_by_region.csv, population_by_age.csv, assumptions.csv, labour_force.csv,\n"
                              "forecast_vs_actual.csv and projection.nc (exact values).")
    f.add_argument("config", nargs="?", metavar="CONFIG.toml", help="forecast configuration (see docs/CONFIG.md)")
    f.add_argument("--demo", action="store_true",
                   help="embedded Norrbotten data: statistics 2015-2019, forecast 2020-2044, 3 scenarios")
    f.add_argument("--out", metavar="DIR", help="output folder (default forecast-demo / forecast-output)")
    f.add_argument("--lang", choices=["en", "sv"], default=None,
                   help="language of the report's and the workbook's headings, labels and table headers "
                        "(default: [output] lang of the config, else en)")
    f.add_argument("--csv", choices=["standard", "excel-sv"], default=None,
                   help="CSV variant: 'standard' (comma, decimal point) or 'excel-sv' (semicolon, decimal comma, "
                        "for a Swedish Excel); both UTF-8 with BOM (default: [output] csv, else standard)")
    f.set_defaults(func=cmd_forecast)
