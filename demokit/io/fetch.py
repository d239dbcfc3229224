"""An HTTP client for SCB's PX-Web API v2 (standard library only)."""

from __future__ import annotations

import email.utils
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque

import numpy as np
import xarray as xr

from .. import __version__
from ..cube import DemokitError
from ._labels import check_missing, cube_from_tidy
from .jsonstat import tidy_from_jsonstat

__all__ = ["PxWebError", "fetch_pxweb", "split_query", "SCB_API"]

#: SCB's PX-Web API v2 (its ``/config``: maxDataCells 150,000; 30 calls per 10 s)
SCB_API = "https://statistikdatabasen.scb.se/api/v2"
_EXPRESSION = set("*?()")
_SPLIT_FIRST = ("tid", "år", "year", "region")


class PxWebError(DemokitError):
    """The PX-Web API refused a request or could not be reached."""


def _cells(query: dict) -> int:
    return math.prod(len(v) for v in query.values())


def split_query(query: dict[str, list[str]], max_cells: int) -> list[dict[str, list[str]]]:
    """Return sub-queries of at most ``max_cells`` cells that together select the same cells.

    The time variable (``Tid``) is split first, then ``Region``, then the
    largest of the others; a variable is cut into runs of consecutive codes
    as long as the rest allows, and when even one code of it is too much,
    each code is split further along the next variable.

    Notes
    -----
    The cells of a query are :math:`\\prod_v n_v`, the product of the
    numbers of selected codes.
    """
    if _cells(query) <= max_cells:
        return [query]
    order = sorted((k for k, v in query.items() if len(v) > 1),
                   key=lambda k: (0 if k.casefold() in _SPLIT_FIRST[:3] else
                                  1 if k.casefold() == "region" else 2, -len(query[k])))
    if not order:
        raise PxWebError(f"one cell per variable is already more than max_cells={max_cells}")
    var = order[0]
    codes = query[var]
    rest = _cells(query) // len(codes)
    step = max(1, max_cells // rest)
    out = []
    for i in range(0, len(codes), step):
        sub = dict(query)
        sub[var] = codes[i:i + step]
        out.extend(split_query(sub, max_cells))
    return out


class _RateLimiter:
    """At most ``calls`` requests in any ``window`` seconds (a sliding window)."""

    def __init__(self, calls: int, window: float, clock, sleep):
        self.calls, self.window, self.clock, self.sleep = calls, window, clock, sleep
        self.times: deque[float] = deque()

    def wait(self):
        now = self.clock()
        while self.times and now - self.times[0] >= self.window:
            self.times.popleft()
        if len(self.times) >= self.calls:
            self.sleep(self.window - (now - self.times[0]))
            now = self.clock()
            while self.times and now - self.times[0] >= self.window:
                self.times.popleft()
        self.times.append(now)


def _retry_after(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date
        when = email.utils.parsedate_to_datetime(value).timestamp()
        return max(0.0, when - time.time())
    except (TypeError, ValueError):
        return default


def _problem(body: bytes) -> str:
    try:
        p = json.loads(body.decode("utf-8"))
        if isinstance(p, dict):
            return "; ".join(str(p[k]) for k in ("title", "detail") if p.get(k))
    except (UnicodeDecodeError, json.JSONDecodeError):
        pass
    return body[:200].decode("utf-8", errors="replace").strip()


def fetch_pxweb(table: str, query: dict, *, url: str = SCB_API, lang: str = "sv",
                max_cells: int = 150_000, max_calls: int = 30, time_window: float = 10.0,
                retries: int = 5, timeout: float = 60.0, content=None, missing: str = "raise",
                fertile_ages: tuple[int, int] = (15, 49), sleep=time.sleep, clock=time.monotonic
                ) -> xr.Dataset:
    """Return a cube fetched from a PX-Web API v2 table (SCB's by default).

    Parameters
    ----------
    table : str
        The table id, e.g. ``"TAB638"`` (SCB's population by region, civil
        status, age and sex) or ``"BefolkningNy"``.
    query : dict of str to list of str
        The selection: variable code → value codes, e.g.
        ``{"Region": ["2581", "2514"], "Alder": [str(a) for a in range(100)] + ["100+"],
        "Kon": ["1", "2"], "ContentsCode": ["000000LV"], "Tid": ["2018", "2019"]}``.
        Sent as ``{"selection": [{"variableCode": ..., "valueCodes": [...]}, ...]}``.
        Lists of codes are split when the query is too large; value
        expressions (``"*"``, ``"top(5)"``) are sent as they are and cannot
        be split.
    url : str
        The API's base URL (``{url}/tables/{table}/data``).
    lang : str
        Language of the labels (``"sv"``: Swedish labels are recognised).
    max_cells, max_calls, time_window : int, int, float
        The API's limits (SCB: 150,000 cells per request; 30 requests per
        10 seconds); a larger query is split into requests of at most
        ``max_cells`` cells, and requests are spaced so that no more than
        ``max_calls`` fall in any ``time_window`` seconds.
    retries : int
        How many times a request answered with HTTP 429 (too many requests)
        or 503 is repeated, after waiting the ``Retry-After`` the server
        gives (or the time window).
    timeout : float
        Seconds to wait for an answer.
    content, missing, fertile_ages
        As in :func:`read_jsonstat`.
    sleep, clock : callables
        ``time.sleep`` and ``time.monotonic`` (replaceable, e.g. in tests).

    Returns
    -------
    xarray.Dataset
        The cube of all responses merged (checked as :func:`read_jsonstat`
        checks one file: no duplicated or missing cells).

    Raises
    ------
    PxWebError
        Any other HTTP error (400 bad selection, 403 too many cells, 404 no
        such table, ...) with the server's explanation, an unreachable server,
        or 429 after ``retries`` attempts.

    Notes
    -----
    A query selects :math:`\\prod_v n_v` cells; it is split (see
    :func:`split_query`) when this exceeds ``max_cells``.
    """
    sel = {str(k): [str(c) for c in (v if isinstance(v, (list, tuple)) else [v])] for k, v in query.items()}
    if any(set(c) & _EXPRESSION for v in sel.values() for c in v):
        queries = [sel]
    else:
        queries = split_query(sel, max_cells)
    endpoint = (f"{url.rstrip('/')}/tables/{urllib.parse.quote(table)}/data?"
                + urllib.parse.urlencode({"lang": lang, "outputFormat": "json-stat2"}))
    limiter = _RateLimiter(max_calls, time_window, clock, sleep)
    frames = []
    for q in queries:
        body = json.dumps({"selection": [{"variableCode": k, "valueCodes": v} for k, v in q.items()]}).encode()
        obj = _post(endpoint, body, limiter=limiter, retries=retries, timeout=timeout, sleep=sleep,
                    default_wait=time_window)
        tidy, describe = tidy_from_jsonstat(obj, f"{endpoint} (response)", content=content)
        tidy["_cell"] = np.array([f"{len(frames)}:{c}" for c in tidy["_cell"]], dtype=object)
        frames.append((tidy, describe))
    tidy = {k: np.concatenate([f[0][k] for f in frames]) for k in frames[0][0]}

    def describe(cell):
        k, c = str(cell).split(":")
        return f"request {int(k) + 1} of {len(frames)}, " + frames[int(k)][1](int(c))

    check_missing(tidy, f"{endpoint}", missing, describe)
    return cube_from_tidy(tidy, endpoint, describe=describe, fertile_ages=fertile_ages,
                          source=f"Statistics Sweden (SCB), PX-Web API table {table} ({len(queries)} request(s))")


def _post(endpoint: str, body: bytes, *, limiter, retries, timeout, sleep, default_wait) -> dict:
    for attempt in range(retries + 1):
        limiter.wait()
        req = urllib.request.Request(endpoint, data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Accept": "application/json",
                                              "User-Agent": f"demokit/{__version__}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = _problem(exc.read() or b"")
            if exc.code in (429, 503) and attempt < retries:
                sleep(_retry_after(exc.headers.get("Retry-After"), default_wait))
                continue
            hint = {403: " (too many cells for one request? lower max_cells)",
                    404: " (no such table or endpoint)",
                    400: " (a variable or value code the table does not have?)",
                    429: f" (still rate-limited after {retries} retries)"}.get(exc.code, "")
            raise PxWebError(f"{endpoint}: HTTP {exc.code} {exc.reason}{hint}: {detail}") from None
        except urllib.error.URLError as exc:
            raise PxWebError(f"{endpoint}: cannot reach the server ({exc.reason})") from None
        except TimeoutError:
            raise PxWebError(f"{endpoint}: no answer within {timeout} s") from None
        try:
            return json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PxWebError(f"{endpoint}: the answer is not JSON ({exc})") from None
    raise PxWebError(f"{endpoint}: no successful answer after {retries} retries")
