"""Benchmarks as tests: every ``benchmarks/bench_*.py`` runs its body on tiny inputs (after flox's test_asv.py).

A benchmark that no longer runs (a renamed function, a changed signature, a
failed cross-check between implementations) fails here, not on the day its
figures are next needed.  The figures themselves come from the full runs
recorded in ``benchmarks/README.md``; nothing here is timed.  Each script is
loaded from its file and its own entry point is called with small sizes (its
command-line options, or its size parameters); the heavy ones (subprocesses,
cold compilation, the demo forecast) are marked slow.  A new benchmark without
an entry in ``SMALL`` fails :func:`test_every_benchmark_has_a_test`.
"""

from __future__ import annotations

import collections
import functools
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def once(result):
    """A stand-in for a script's timing helper: run the function once, whatever repeat it asks for."""
    def timer(fn, *args, **kwargs):
        fn()
        return result
    return timer


def run_main(mod, monkeypatch, argv):
    """Call the script's ``main`` as ``python bench_x.py *argv`` would."""
    monkeypatch.setattr(sys, "argv", [mod.__file__, *argv])
    mod.main()


# --- one small run per script ------------------------------------------------------------------
def small_accounting(mod, monkeypatch):
    mod.main(["--regions", "4", "--repeat", "1"])   # asserts demokit == three numpy versions


def small_lifetable(mod, monkeypatch):
    import demokit as dk

    monkeypatch.setattr(mod, "R", 3)   # regions (module constant); asserts the kernel and the API == numpy
    monkeypatch.setattr(mod, "timeit", once(1.0))
    monkeypatch.setattr(mod, "CPU", collections.defaultdict(lambda: 1.0))   # CPU times the real timeit records
    monkeypatch.setattr(mod, "cube_290", lambda distinct=False: dk.datasets.load("norrbotten"))   # from_history: 5 regions
    mod.main()


def small_smoothing(mod, monkeypatch):
    # (with fewer regions some reference ages are empty and scipy struggles on them)
    monkeypatch.setattr(mod, "simulate", functools.partial(mod.simulate, R=60))
    monkeypatch.setattr(mod, "median_time", once((1.0, [1.0])))
    run_main(mod, monkeypatch, ["--scipy-curves", "1", "--rc-scipy-curves", "1"])


def small_projection(mod, monkeypatch):
    monkeypatch.setattr(mod, "timeit", once((1.0, 1.0)))
    rows = mod.case_components(R=3, Y=3) + mod.case_deso(R=4, Y=2)   # assert dk.project == numpy
    assert len(rows) == 3
    monkeypatch.setattr(mod, "draws_inputs", functools.partial(mod.draws_inputs, R=3))
    mod.case_draws(n_draws=4, Y=2, chunk=2)   # dask chunks along draw; asserts against numpy


def small_ckm(mod, monkeypatch):
    pytest.importorskip("cell_key_perturbation")
    run_main(mod, monkeypatch, ["--n", "3000", "--runs", "1", "--ons-runs", "1"])   # asserts == ONS


def small_readers(mod, monkeypatch):
    import demokit as dk

    full = dk.io.region_table()
    few = full[full["kind"] == "municipality"].iloc[:6]
    monkeypatch.setattr(mod.dk.io, "region_table", lambda: few)   # the table of 6 kommuner, not 290
    monkeypatch.setattr(mod, "timed", once(1.0))
    run_main(mod, monkeypatch, ["--years", "1", "--repeat", "1"])   # asserts every format == the CSV


def small_income(mod, monkeypatch):
    import demokit as dk

    df = dk.datasets.synthetic_register(3000, seed=2012)
    _, (s1, s2) = mod.demokit_work(df)
    _, p = mod.pandas_work(df)
    assert s1.sizes and s2.sizes and len(p[0])


def full_income(mod, monkeypatch):
    run_main(mod, monkeypatch, ["--persons", "3000", "--repeat", "1", "--only", "demokit,pandas"])


def small_distributed(mod, monkeypatch):
    P0, a = mod.central(3)
    years = [2021, 2022]
    ref = mod.in_memory(P0, a, years, 4, 2)                              # eager blocks of draws
    lazy = mod.lazy_totals(P0, a, years, 4, 2).compute(scheduler="sync")  # the dask graph, no cluster
    assert ref.sizes["draw"] == 4
    import numpy as np

    np.testing.assert_allclose(lazy.sel(draw=ref["draw"]).values, ref.values, rtol=1e-12, atol=0)
    print("same numbers")


def full_distributed(mod, monkeypatch):
    import os

    for k in ("NUMBA_NUM_THREADS", "PYTHONPATH"):   # the script sets them for its workers: restored after
        monkeypatch.setenv(k, os.environ.get(k, ""))
        if not os.environ[k]:
            monkeypatch.delenv(k)
    mod.main(["--draws", "4", "--regions", "3", "--years", "2", "--chunk", "2", "--runs", "1", "--workers", "1"])


def full_report(mod, monkeypatch):
    pytest.importorskip("matplotlib")
    run_main(mod, monkeypatch, ["--repeat", "1"])   # the demo forecast, then each output once


def full_cold_start(mod, monkeypatch):
    assert mod.main(["--runs", "1", "--no-compile-table"]) == 0   # demo CLI: one cold, one warm run


#: script -> its small runs; the heavy ones marked slow
SMALL = {
    "bench_accounting": [small_accounting],
    "bench_lifetable": [small_lifetable],
    "bench_smoothing": [small_smoothing],
    "bench_projection": [small_projection],
    "bench_ckm": [small_ckm],
    "bench_readers": [small_readers],
    "bench_income": [small_income, pytest.param(full_income, marks=pytest.mark.slow)],
    "bench_report": [pytest.param(full_report, marks=pytest.mark.slow)],
    "bench_cold_start": [pytest.param(full_cold_start, marks=pytest.mark.slow)],
    "bench_distributed": [small_distributed, pytest.param(full_distributed, marks=pytest.mark.slow)],
}


def _cases():
    for name, runs in SMALL.items():
        for r in runs:
            if isinstance(r, type(pytest.param(None))):
                yield pytest.param(name, r.values[0], marks=r.marks, id=f"{name}-{r.values[0].__name__}")
            else:
                yield pytest.param(name, r, id=f"{name}-{r.__name__}")


@pytest.mark.parametrize("name, run", list(_cases()))
def test_benchmark_body_runs_small(name, run, monkeypatch, capsys):
    run(load(name), monkeypatch)
    assert capsys.readouterr().out or run.__name__.startswith("small_income")   # it reported something


def test_every_benchmark_has_a_test():
    scripts = sorted(p.stem for p in BENCH.glob("bench_*.py"))
    missing = [s for s in scripts if s not in SMALL]
    assert not missing, f"benchmarks without a small test in tests/test_benchmarks.py: {missing}"
    assert not [s for s in SMALL if s not in scripts], "SMALL names a benchmark that no longer exists"
