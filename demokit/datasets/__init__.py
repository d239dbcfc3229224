"""Embedded example data (real, public): SCB counties, Norrbotten municipalities, HMD Sweden."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import xarray as xr

from ..cube import DemokitError

__all__ = ["load", "names", "path"]

#: Luleå municipality's SCB downloads: the five municipalities (the files also carry '00', the country)
NORRBOTTEN_REGIONS = {"2580": "Luleå", "2581": "Piteå", "2582": "Boden", "2560": "Älvsbyn", "2514": "Kalix"}

_DESCRIPTIONS = {
    "sweden_counties": "SCB: the 21 counties 1968–2015; population, births by mother's age, deaths by age at death",
    "norrbotten": "SCB: five Norrbotten municipalities 2006–2019 with every component by age at the end of the year",
    "hmd_sweden": "Human Mortality Database: Sweden 1751–2014, deaths and exposures 1x1",
    "lulea_birth_region": ("SCB: Luleå 2006–2024 by birth region (born in Sweden / born abroad): population, "
                           "in- and out-movers, immigrants, emigrants; deaths and births (no origin) 2006–2019"),
}


def names() -> dict[str, str]:
    """Return the embedded data sets' names with a one-line description."""
    return dict(_DESCRIPTIONS)


def path(name: str, filename: str):
    """Return a path-like to one embedded file (works from an installed wheel)."""
    return resources.files(__package__).joinpath("data", name, filename)


@lru_cache(maxsize=None)
def _load(name: str) -> xr.Dataset:
    from .. import io

    if name == "sweden_counties":
        ds = io.read_county_cube(path(name, "popn.csv.gz"), path(name, "births.csv.gz"),
                                 path(name, "deaths.csv.gz"))
        ds.attrs["title"] = _DESCRIPTIONS[name]
        ds.attrs["licence"] = ("SCB open data, as packaged in the MIT-licensed R package "
                               "StatisticsNZ/demdata (Crown copyright 2016 Statistics New Zealand)")
        return ds
    if name == "norrbotten":
        files = ["population_2006_2019.csv.gz", "births_2006_2019.csv.gz", "deaths_2006_2019.csv.gz",
                 "migration_2006_2019.csv.gz", "mean_population_2006_2019.csv.gz"]
        with resources.as_file(resources.files(__package__).joinpath("data", name)) as d:
            ds = io.read_pxweb(*[d / f for f in files], regions=list(NORRBOTTEN_REGIONS))
        ds = ds.assign_coords(region_name=("region", [NORRBOTTEN_REGIONS[r] for r in ds["region"].values]))
        ds.attrs["title"] = _DESCRIPTIONS[name]
        ds.attrs["licence"] = ("SCB open data, downloaded from SCB's API by Luleå municipality "
                               "(Lulea-statistik/Lulea-befolkningsprognos-raps)")
        return ds
    if name == "lulea_birth_region":
        return _lulea_birth_region()
    if name == "hmd_sweden":
        ds = io.read_hmd(path(name, "Deaths_1x1.txt.gz"), path(name, "Exposures_1x1.txt.gz"))
        ds.attrs["title"] = _DESCRIPTIONS[name]
        return ds
    raise DemokitError(f"unknown data set {name!r}; available: {sorted(_DESCRIPTIONS)}")


def _lulea_birth_region() -> xr.Dataset:
    """Luleå (2580) by birth region; deaths and births (no ``origin`` dim) from ``norrbotten``."""
    import pandas as pd

    with resources.as_file(path("lulea_birth_region", "lulea_birth_region_2006_2024.csv.gz")) as f:
        df = pd.read_csv(f, dtype={"region": str})
    flows = ["population", "in_migration", "out_migration", "immigration", "emigration"]
    ds = (df.set_index(["region", "origin", "sex", "age", "year"])[flows].astype(float).to_xarray()
          .reindex(origin=["born_in_sweden", "born_abroad"], sex=["female", "male"]))
    codes = {"population": "TAB4823 000001NS", "in_migration": "TAB4693 000001E7+000001E8",
             "out_migration": "TAB4693 000001EA+000001E9", "immigration": "TAB4693 000001EB",
             "emigration": "TAB4693 000001EC"}
    for v in flows:
        ds[v].attrs["content_code"] = codes[v]
        if v != "population":
            ds[v].attrs["age_convention"] = "year_end"
    nb = _load("norrbotten").sel(region=["2580"])
    for v in ("deaths", "births"):
        ds[v] = nb[v].reindex(year=ds["year"])
        ds[v].attrs = dict(nb[v].attrs)
    ds = ds.assign_coords(region_name=("region", ["Luleå"]))
    ds.attrs.update(open_age=100, title=_DESCRIPTIONS["lulea_birth_region"],
                    source=("Statistics Sweden (SCB): TAB4823 (population 31 Dec by birth region), "
                            "TAB4693 (migrations by birth region); deaths and births from the norrbotten data "
                            "(SCB publishes no deaths or births by birth region for municipalities)"),
                    licence=("SCB open data (CC0), downloaded from SCB's API by Luleå municipality "
                             "(Lulea-statistik/Lulea-befolkningsprognos-raps)"),
                    origin_note=("deaths and births have no origin dim (2006–2019 only; NaN 2020–2024)"))
    return ds


def load(name: str) -> xr.Dataset:
    """Return an embedded example data set as a cube.

    Parameters
    ----------
    name : {"sweden_counties", "norrbotten", "hmd_sweden", "lulea_birth_region"}
        See :func:`names`.

    Returns
    -------
    xarray.Dataset
        A fresh copy (safe to modify).
    """
    return _load(name).copy(deep=True)

# --- synthetic register for the income tables (issue 13) ---
from .synthetic import kommuner, synthetic_register  # noqa: E402,F401
