"""The command line: --help, --version, account --demo, account FILES, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

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


def test_account_long_files(tmp_path, capsys):
    files = [str(data_path("sweden_counties", f)) for f in ("popn.csv.gz", "births.csv.gz", "deaths.csv.gz")]
    assert cli.main(["account", *files, "--out", str(tmp_path)]) == 0
    assert "9,851,017" in capsys.readouterr().out


def test_account_bad_input_one_line(tmp_path):
    bad = tmp_path / "pop.csv"
    bad.write_text("Region,Alder,Kon,BE0101N1 2018,BE0101N1 2019\n2580,0,1,4,-5\n2580,1,1,3,3\n")
    births = tmp_path / "births.csv"
    births.write_text("Region,AlderModer,Kon,BE0101E2 2018,BE0101E2 2019\n2580,15,1,4,5\n")
    deaths = tmp_path / "deaths.csv"
    deaths.write_text("Region,Alder,Kon,BE0101D8 2018,BE0101D8 2019\n2580,1,1,0,0\n")
    r = subprocess.run([sys.executable, "-m", "demokit.cli", "account", str(bad), str(births), str(deaths),
                        "--out", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "pop.csv, line 2" in lines[0] and "-5 is negative" in lines[0]


def test_cli_keeps_compiled_kernels_on_disk_unless_told_not_to(tmp_path):
    """One CLI process: Numba's on-disk cache is on (the next run skips compilation); =0 keeps it off."""
    code = ("from demokit import cli; from demokit._kernels import _jit, accounting; "
            "cli.main(['forecast', 'missing.toml']); "
            "print(_jit._CACHE, type(accounting.cohort_balance_checked._cache).__name__)")
    for value, expected in ((None, "True FunctionCache"), ("0", "False NullCache")):
        env = {k: v for k, v in os.environ.items() if k != "DEMOKIT_NUMBA_CACHE"}
        if value is not None:
            env["DEMOKIT_NUMBA_CACHE"] = value
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert r.stdout.strip().splitlines()[-1] == expected, r.stderr
