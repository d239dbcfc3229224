"""Readers: SCB long CSVs, SCB PX-Web CSV downloads, the Human Mortality Database text format."""

from ._common import ReadError
from .hmd import read_hmd, read_hmd_table
from .pxweb import CONTENT_CODES, read_pxweb, read_pxweb_csv
from .scb_long import COUNTY_CODES, COUNTY_NAMES, read_county_cube, read_scb_long
from .splice import splice  # noqa: F401  (issue 14: one series across the CKM break)

__all__ = ["ReadError", "read_hmd", "read_hmd_table", "CONTENT_CODES", "read_pxweb", "read_pxweb_csv",
           "COUNTY_CODES", "COUNTY_NAMES", "read_county_cube", "read_scb_long"]
