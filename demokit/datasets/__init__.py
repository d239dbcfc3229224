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
    if name == "hmd_sweden":
        ds = io.read_hmd(path(name, "Deaths_1x1.txt.gz"), path(name, "Exposures_1x1.txt.gz"))
        ds.attrs["title"] = _DESCRIPTIONS[name]
        return ds
    raise DemokitError(f"unknown data set {name!r}; available: {sorted(_DESCRIPTIONS)}")


def load(name: str) -> xr.Dataset:
    """Return an embedded example data set as a cube.

    Parameters
    ----------
    name : {"sweden_counties", "norrbotten", "hmd_sweden"}
        See :func:`names`.

    Returns
    -------
    xarray.Dataset
        A fresh copy (safe to modify).
    """
    return _load(name).copy(deep=True)

# --- synthetic register for the income tables (issue 13) ---
from .synthetic import kommuner, synthetic_register  # noqa: E402,F401
