"""``dk.io.fetch_pxweb`` against a local PX-Web API v2 stand-in (never the network).

The server (http.server on 127.0.0.1 in a thread) answers POST /api/v2/tables/TAB638/data with
JSON-stat2 built from a handmade table whose numbers follow a formula, refuses (403) any request over
its cell limit and records what it received; a clock/sleep pair replaces real waiting.
"""

from __future__ import annotations

import json
import math
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from demokit import io

REGIONS = {"2514": "Kalix", "2580": "Luleå", "2581": "Piteå"}
AGES = [str(a) for a in range(100)] + ["100+"]
SEXES = {"1": "män", "2": "kvinnor"}
YEARS = [str(y) for y in range(2010, 2020)]
VARIABLES = {"Region": list(REGIONS), "Alder": AGES, "Kon": list(SEXES), "ContentsCode": ["BE0101N1"],
             "Tid": YEARS}
FULL_QUERY = dict(VARIABLES)   # 3 × 101 × 2 × 1 × 10 = 6,060 cells


def cell_value(region, age, sex, year):
    """The handmade table: a number that identifies its cell."""
    return 100_000 * list(REGIONS).index(region) + 100 * AGES.index(age) + 10 * int(sex) + YEARS.index(year)


class FakeClock:
    def __init__(self):
        self.t = 0.0
        self.sleeps = []

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.sleeps.append(s)
        self.t += max(s, 0.0)


class Api:
    """State of the stand-in server."""

    def __init__(self, max_cells=150_000, script=(), clock=None):
        self.max_cells = max_cells
        self.script = list(script)      # answers given before the normal ones: (status, headers, body)
        self.clock = clock
        self.requests = []              # (selection, cells, time)
        self.over_limit = []


def _answer(api: Api, path: str, body: bytes):
    url = urllib.parse.urlsplit(path)
    params = urllib.parse.parse_qs(url.query)
    sel = {s["variableCode"]: s["valueCodes"] for s in json.loads(body)["selection"]}
    cells = math.prod(len(v) for v in sel.values())
    api.requests.append((sel, cells, api.clock() if api.clock else None))
    if api.script:
        return api.script.pop(0)
    problem = {"Content-Type": "application/problem+json"}
    if url.path != "/api/v2/tables/TAB638/data":
        return 404, problem, {"title": "Not found", "status": 404}
    assert params == {"lang": ["sv"], "outputFormat": ["json-stat2"]}
    for k, codes in sel.items():
        if k not in VARIABLES:
            return 400, problem, {"title": "Non-existent variable", "detail": k, "status": 400}
        if set(codes) - set(VARIABLES[k]):
            return 400, problem, {"title": "Non-existent value", "detail": k, "status": 400}
    if cells > api.max_cells:
        api.over_limit.append(cells)
        return 403, problem, {"title": "Too many cells", "status": 403}
    ids = list(VARIABLES)
    labels = {"Region": REGIONS, "Alder": {a: f"{a} år" for a in AGES}, "Kon": SEXES,
              "ContentsCode": {"BE0101N1": "Folkmängd"}, "Tid": {y: y for y in YEARS}}
    values = [cell_value(r, a, s, y) for r in sel["Region"] for a in sel["Alder"] for s in sel["Kon"]
              for _ in sel["ContentsCode"] for y in sel["Tid"]]
    doc = {"version": "2.0", "class": "dataset", "label": "Folkmängd efter region, ålder, kön och år",
           "id": ids, "size": [len(sel[k]) for k in ids],
           "dimension": {k: {"label": k, "category": {"index": {c: i for i, c in enumerate(sel[k])},
                                                      "label": {c: labels[k][c] for c in sel[k]}}}
                         for k in ids},
           "role": {"time": ["Tid"], "geo": ["Region"], "metric": ["ContentsCode"]},
           "value": values}
    return 200, {"Content-Type": "application/json"}, doc


@pytest.fixture
def server():
    servers = []

    def start(api: Api):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, headers, doc = _answer(api, self.path, body)
                raw = json.dumps(doc).encode("utf-8")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/api/v2"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def reference_cube():
    """The table as the cube's axes order it (regions sorted, sex female then male), by a plain loop."""
    regions = sorted(REGIONS)
    out = np.empty((len(regions), 2, len(AGES), len(YEARS)))
    for i, r in enumerate(regions):
        for j, s in enumerate(["2", "1"]):        # female, male
            for k, a in enumerate(AGES):
                for m, y in enumerate(YEARS):
                    out[i, j, k, m] = cell_value(r, a, s, y)
    return out


@pytest.mark.parametrize("limit,n_requests", [(1000, 10), (250, 30)])
def test_a_query_over_the_cell_limit_is_split_and_merged(server, limit, n_requests):
    clock = FakeClock()
    api = Api(max_cells=limit, clock=clock)
    url = server(api)
    ds = io.fetch_pxweb("TAB638", FULL_QUERY, url=url, max_cells=limit, sleep=clock.sleep, clock=clock)
    # 6,060 cells: by year (606 each) when 1,000 are allowed; by year and region (202) when 250
    assert len(api.requests) == n_requests and api.over_limit == []
    assert max(c for _, c, _ in api.requests) <= limit
    assert sum(c for _, c, _ in api.requests) == 6060
    pop = ds["population"]
    assert pop.dims == ("region", "sex", "age", "year")
    np.testing.assert_array_equal(pop.values, reference_cube())
    assert ds["region_name"].values.tolist() == ["Kalix", "Luleå", "Piteå"]
    assert ds.attrs["open_age"] == 100


def test_the_server_limit_is_real(server):
    api = Api(max_cells=1000)
    url = server(api)
    with pytest.raises(io.PxWebError, match=r"HTTP 403 .*too many cells.*Too many cells"):
        io.fetch_pxweb("TAB638", FULL_QUERY, url=url, max_cells=10_000)


def test_429_waits_retry_after_then_succeeds(server):
    clock = FakeClock()
    api = Api(script=[(429, {"Retry-After": "7", "Content-Type": "application/problem+json"},
                       {"title": "Too many requests", "status": 429})], clock=clock)
    url = server(api)
    ds = io.fetch_pxweb("TAB638", FULL_QUERY, url=url, sleep=clock.sleep, clock=clock)
    assert len(api.requests) == 2
    assert max(clock.sleeps) >= 7
    # the retry came at least Retry-After seconds after the refused request
    assert api.requests[1][2] - api.requests[0][2] >= 7
    np.testing.assert_array_equal(ds["population"].values, reference_cube())


def test_429_for_ever_and_other_errors_are_clear(server):
    clock = FakeClock()
    api = Api(script=[(429, {"Retry-After": "2"}, {"title": "Too many requests"})] * 3, clock=clock)
    url = server(api)
    with pytest.raises(io.PxWebError, match=r"HTTP 429 .*still rate-limited after 2 retries"):
        io.fetch_pxweb("TAB638", FULL_QUERY, url=url, retries=2, sleep=clock.sleep, clock=clock)
    assert len(api.requests) == 3 and clock.sleeps == [2.0, 2.0]
    api = Api()
    url = server(api)
    with pytest.raises(io.PxWebError, match=r"tables/NOPE/data.*HTTP 404 .*no such table"):
        io.fetch_pxweb("NOPE", FULL_QUERY, url=url)
    with pytest.raises(io.PxWebError, match=r"HTTP 400 .*Non-existent variable; Civil"):
        io.fetch_pxweb("TAB638", {**FULL_QUERY, "Civil": ["OG"]}, url=url)
    with pytest.raises(io.PxWebError, match="cannot reach the server"):
        io.fetch_pxweb("TAB638", FULL_QUERY, url="http://127.0.0.1:9/api/v2", timeout=2)


def test_requests_respect_the_rate_limit(server):
    clock = FakeClock()
    api = Api(clock=clock)
    url = server(api)
    io.fetch_pxweb("TAB638", FULL_QUERY, url=url, max_cells=606, max_calls=3, time_window=10,
                   sleep=clock.sleep, clock=clock)
    times = [t for _, _, t in api.requests]
    assert len(times) == 10
    # no more than 3 requests in any 10 seconds: request i+3 comes >= 10 s after request i
    assert all(times[i + 3] - times[i] >= 10 for i in range(len(times) - 3))
    assert clock.t < 40  # and no needless waiting: 10 requests in 3 windows of 10 s


def test_split_query_covers_every_cell_once():
    q = {"Region": ["a", "b", "c"], "Alder": [str(i) for i in range(7)], "Tid": ["1", "2", "3", "4", "5"]}
    parts = io.split_query(q, 10)
    # by hand: 105 cells; Tid first: 21 per year > 10, so one year at a time, then regions (7 each)
    assert len(parts) == 15 and all(len(p["Tid"]) == 1 and len(p["Region"]) == 1 for p in parts)
    cells = [(r, a, t) for p in parts for r in p["Region"] for a in p["Alder"] for t in p["Tid"]]
    assert len(cells) == len(set(cells)) == 105
    assert io.split_query(q, 200) == [q]
