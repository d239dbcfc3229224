"""Cold start of the demo forecast: compile time per kernel, cold and warm wall-clock times.

Runs ``python -m demokit.cli forecast --demo --out DIR`` in fresh subprocesses:

* **cold**: each run gets a new, empty ``DEMOKIT_CACHE_DIR`` (nothing compiled);
* **warm**: every run uses one cache directory filled by a first, untimed run;

and reports the median (and all values) of the wall-clock time and of the
child's CPU time (user + sys, from ``os.wait4``; less sensitive than wall-clock
time to other processes on a shared machine).  Then, in one more subprocess
with the disk cache off, it times every Numba compilation of the demo through
Numba's ``numba:compile`` events (CPU time of the compiling thread, exclusive
of the kernels compiled inside it, and inclusive) and lists the signatures each
kernel was compiled for.

Usage::

    python benchmarks/bench_cold_start.py                 # 3 cold + 3 warm runs, compile table
    python benchmarks/bench_cold_start.py --runs 5 --no-compile-table
    python benchmarks/bench_cold_start.py --src /path/to/other/checkout   # compare a version

``--src`` puts that checkout first on ``PYTHONPATH`` (default: this checkout).
Nothing is written outside a temporary directory, which is removed (with
``--clear-in-tree``, Numba cache files under ``SRC/demokit`` are deleted too).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_COMPILE_PROBE = r'''
import collections, json, os, sys, time
import numba.core.event as ev
stack = []
excl = collections.defaultdict(float); incl = collections.defaultdict(float); n = collections.Counter()
class Listener(ev.Listener):
    def on_start(self, e):
        d = e.data["dispatcher"]
        stack.append([f"{d.py_func.__module__}.{d.py_func.__qualname__}", time.thread_time(), 0.0])
    def on_end(self, e):
        name, t0, child = stack.pop()
        dt = time.thread_time() - t0
        incl[name] += dt; excl[name] += dt - child; n[name] += 1
        if stack:
            stack[-1][2] += dt
ev.register("numba:compile", Listener())
from demokit.cli import main
import io, contextlib
with contextlib.redirect_stdout(io.StringIO()):
    main(["forecast", "--demo", "--out", sys.argv[1]])
json.dump({"excl": excl, "incl": incl, "n": n}, sys.stdout)
'''


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        model = info.get("Model name", model).strip()
        fam, mod = info.get("CPU family", "").strip(), info.get("Model", "").strip()
        if fam:
            model += f" (family {fam}, model {mod})"
    except (OSError, ValueError):
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{model}, {os.cpu_count()} logical CPUs; load average now {load}"


def run_cli(src: Path, cache: Path, out: Path, extra_env=None) -> tuple[float, float]:
    """Run the demo once; return (wall seconds, child CPU seconds)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DEMOKIT_NUMBA_CACHE", "NUMBA_CACHE_DIR")}
    env.update(DEMOKIT_CACHE_DIR=str(cache), PYTHONPATH=str(src), DEMOKIT_PROGRESS="0")
    env.update(extra_env or {})
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "demokit.cli", "forecast", "--demo", "--out", str(out)],
                         env=env, cwd=out.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"demo failed: {p.stderr.read().decode()[-2000:]}")
    return wall, ru.ru_utime + ru.ru_stime


def fmt(vals) -> str:
    return f"median {statistics.median(vals):6.1f} s  ({', '.join(f'{v:.1f}' for v in vals)})"


def compile_table(src: Path, tmp: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(DEMOKIT_NUMBA_CACHE="0", PYTHONPATH=str(src), DEMOKIT_PROGRESS="0")
    r = subprocess.run([sys.executable, "-c", _COMPILE_PROBE, str(tmp / "probe")], env=env,
                       capture_output=True, text=True, cwd=tmp)   # (not cwd: it would come first on sys.path)
    if r.returncode != 0:
        raise SystemExit(r.stderr[-2000:])
    import json

    d = json.loads(r.stdout.strip().splitlines()[-1])
    rows = sorted(d["excl"], key=lambda k: -d["incl"][k])
    total = sum(d["excl"].values())
    print(f"\nCompilation during the demo (disk cache off): {total:.1f} s CPU in "
          f"{sum(d['n'].values())} compilations of {len(rows)} functions")
    print(f"{'function':62s} {'sigs':>4s} {'excl s':>7s} {'incl s':>7s}")
    for k in rows:
        if d["incl"][k] >= 0.05:
            print(f"{k.replace('demokit._kernels.', ''):62.62s} {d['n'][k]:4d} {d['excl'][k]:7.2f} {d['incl'][k]:7.2f}")
    print("(excl: the function's own compilation; incl: with the functions compiled inside it; "
          "numba's own helpers (ol_*) are compiled inside the kernels that use them)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="cold and warm runs each (default 3; 0: compile table only)")
    ap.add_argument("--src", type=Path, default=ROOT, help="checkout to measure (default: this one)")
    ap.add_argument("--no-compile-table", action="store_true")
    ap.add_argument("--clear-in-tree", action="store_true",
                    help="before each cold run, delete Numba cache files (*.nbi, *.nbc) under SRC/demokit "
                         "(for versions before the cache moved to a user cache directory)")
    args = ap.parse_args(argv)
    src = args.src.resolve()
    print(f"machine: {machine()}")
    print(f"checkout: {src}; python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="demokit-bench-") as t:
        tmp = Path(t)
        if args.runs < 1:
            compile_table(src, tmp)
            return 0
        cold_w, cold_c = [], []
        for i in range(args.runs):
            if args.clear_in_tree:
                for f in [*(src / "demokit").rglob("*.nbi"), *(src / "demokit").rglob("*.nbc")]:
                    f.unlink()
            w, c = run_cli(src, tmp / f"cold-cache-{i}", tmp / f"out-cold-{i}")
            cold_w.append(w)
            cold_c.append(c)
        warm_cache = tmp / "warm-cache"
        run_cli(src, warm_cache, tmp / "out-fill")
        warm_w, warm_c = [], []
        for i in range(args.runs):
            w, c = run_cli(src, warm_cache, tmp / f"out-warm-{i}")
            warm_w.append(w)
            warm_c.append(c)
        print(f"cold (empty cache each run): wall {fmt(cold_w)};  CPU {fmt(cold_c)}")
        print(f"warm (filled cache):         wall {fmt(warm_w)};  CPU {fmt(warm_c)}")
        if not args.no_compile_table:
            compile_table(src, tmp)
    print(f"machine after the runs: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
