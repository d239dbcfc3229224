"""Readers: SCB PX-Web CSVs (codes or labels), JSON-stat2, PX files, SCB long CSVs, HMD text; ``read`` detects.

``read(paths)`` reads any mix of the supported formats into one cube;
``fetch_pxweb(table, query)`` fetches a table from SCB's PX-Web API v2;
``region_names(codes)`` names SCB's region codes (all kommuner and län).
"""

from ._common import ReadError
from ._labels import CONTENT_LABELS
from .auto import FORMATS, detect_format, read
from .fetch import SCB_API, PxWebError, fetch_pxweb, split_query
from .hmd import read_hmd, read_hmd_table
from .jsonstat import read_jsonstat
from .labelled import read_labelled_csv
from .px import read_px
from .pxweb import CONTENT_CODES, read_pxweb, read_pxweb_csv
from .regioncodes import region_names, region_table
from .scb_long import COUNTY_CODES, COUNTY_NAMES, read_county_cube, read_scb_long
from .splice import splice  # noqa: F401  (issue 14: one series across the CKM break)

__all__ = ["ReadError", "read_hmd", "read_hmd_table", "CONTENT_CODES", "read_pxweb", "read_pxweb_csv",
           "COUNTY_CODES", "COUNTY_NAMES", "read_county_cube", "read_scb_long",
           "read", "detect_format", "FORMATS", "CONTENT_LABELS", "read_labelled_csv", "read_jsonstat",
           "read_px", "fetch_pxweb", "split_query", "PxWebError", "SCB_API", "region_names", "region_table"]
