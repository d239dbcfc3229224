"""The command line: --help, --version, account --demo, account FILES, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

from demokit import cli
from demokit.datasets import path as data_path


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert "demokit 0.1.0" in capsys.readouterr().out


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "account" in capsys.readouterr().out


def test_account_demo(tmp_path, capsys):
    assert cli.main(["account", "--demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2580 Luleå" in out and "78,105" in out
    bal = xr.load_dataset(tmp_path / "balance.nc")
    assert bal["adjustment"].sel(region="2580").sum(["sex", "age"]).values.tolist()[-1] == 16
    assert (tmp_path / "summary.csv").read_text(encoding="utf-8-sig").startswith("region,year")   # UTF-8 with BOM


@pytest.mark.slow   # ~7 s reading every county file; the CLI: test_account_demo; the reader and the
# 2015 population of the counties: tests/test_io.py, tests/test_accounting.py
def test_account_long_files(tmp_path, capsys):
    files = [str(data_path("sweden_counties", f)) for f in ("popn.csv.gz", "births.csv.gz", "deaths.csv.gz")]
    assert cli.main(["account", *files, "--out", str(tmp_path)]) == 0
    assert "9,851,017" in capsys.readouterr().out


def test_account_bad_input_one_line(tmp_path, capsys):
    """In process (a CLI error as one line from a process: tests/test_forecast_job.py)."""
    bad = tmp_path / "pop.csv"
    bad.write_text("Region,Alder,Kon,BE0101N1 2018,BE0101N1 2019\n2580,0,1,4,-5\n2580,1,1,3,3\n")
    births = tmp_path / "births.csv"
    births.write_text("Region,AlderModer,Kon,BE0101E2 2018,BE0101E2 2019\n2580,15,1,4,5\n")
    deaths = tmp_path / "deaths.csv"
    deaths.write_text("Region,Alder,Kon,BE0101D8 2018,BE0101D8 2019\n2580,1,1,0,0\n")
    assert cli.main(["account", str(bad), str(births), str(deaths), "--out", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "pop.csv, line 2" in lines[0] and "-5 is negative" in lines[0], err


def test_cli_keeps_compiled_kernels_on_disk_unless_told_not_to(tmp_path):
    """Numba's disk cache is on, in DEMOKIT_CACHE_DIR (never next to the source); =0 keeps it off."""
    import demokit

    root = Path(demokit.__file__).resolve().parent.parent
    code = ("import numpy as np; from demokit import cli; from demokit._kernels import _jit, accounting; "
            "cli.main(['forecast', 'missing.toml']); accounting._block_bad(np.zeros((2, 2))); "
            "print(_jit.cache_dir(), type(accounting._block_bad._cache).__name__)")
    in_tree = sorted((root / "demokit").rglob("*.nbi"))
    for value, expected in ((None, "FunctionCache"), ("0", "NullCache")):
        cache = tmp_path / f"cache-{value}"
        env = {k: v for k, v in os.environ.items() if k not in ("DEMOKIT_NUMBA_CACHE", "NUMBA_CACHE_DIR")}
        env.update(DEMOKIT_CACHE_DIR=str(cache), PYTHONPATH=str(root))
        if value is not None:
            env["DEMOKIT_NUMBA_CACHE"] = value
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
        where, kind = r.stdout.strip().splitlines()[-1].rsplit(" ", 1)
        assert kind == expected, r.stderr
        files = sorted(p.name for p in cache.rglob("*.nb*")) if cache.exists() else []
        if value is None:
            assert where == str(cache.resolve())
            assert any(f.startswith("accounting._block_bad") and f.endswith(".nbi") for f in files), files
        else:
            assert where == "None" and files == []
    # nothing was written next to the source (a site-packages install would get a stray __pycache__)
    assert sorted((root / "demokit").rglob("*.nbi")) == in_tree
