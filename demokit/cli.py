"""The ``demokit`` command line: ``demokit account`` (and the main job, ``demokit forecast``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import xarray as xr

from . import __version__
from ._output import to_csv as _to_csv, to_netcdf as _to_netcdf
from ._progress import Progress
from .cube import DemokitError


def _read_cube(files: list[str]) -> xr.Dataset:
    """Read the input files of any supported format (``demokit.io.read`` detects each one)."""
    from . import io

    return io.read(files)


def _print_table(summ: xr.Dataset, stream=None) -> None:
    stream = stream or sys.stdout
    year = int(summ["year"].values[-1])
    last = summ.sel(year=year)
    names = last["region_name"].values.tolist() if "region_name" in last.coords else None
    cols = [c for c in ("population", "births", "deaths", "net_migration", "adjustment",
                        "net_migration_and_adjustment", "median_age") if c in last]
    heads = {"net_migration_and_adjustment": "net_mig+adj", "net_migration": "net_mig"}
    stream.write(f"Population balance {year} (persons; median age in years)\n")
    stream.write(f"{'region':<22}" + "".join(f"{heads.get(c, c):>13}" for c in cols) + "\n")
    for i, r in enumerate(last["region"].values.tolist()):
        label = f"{r} {names[i]}" if names else str(r)
        row = "".join(f"{float(last[c].values[i]):13.1f}" if c == "median_age" else
                      f"{float(last[c].values[i]):13,.0f}" for c in cols)
        stream.write(f"{label:<22.22}{row}\n")
    tot = {c: float(last[c].sum()) for c in cols if c != "median_age"}
    stream.write(f"{'total':<22}" + "".join(f"{tot[c]:13,.0f}" if c in tot else f"{'':>13}" for c in cols) + "\n")


def cmd_account(args) -> int:
    from . import accounting, datasets

    prog = Progress(5, "account")
    if args.demo:
        ds = datasets.load("norrbotten")
        out = Path(args.out or "account-demo")
    else:
        if not args.files:
            raise DemokitError("give input FILES or --demo")
        ds = _read_cube(args.files)
        out = Path(args.out or "account-output")
    prog.step("read input")
    from .cube import EVENT_VARIABLES
    keep = [v for v in ("population",) + EVENT_VARIABLES if v in ds and v != "adjustment"]
    ds = ds[keep].assign_attrs(ds.attrs)
    bal = accounting.balance(ds)
    prog.step("cohort balance")
    summ = accounting.summary(ds)
    prog.step("summary measures")
    out.mkdir(parents=True, exist_ok=True)
    _to_netcdf(bal, out / "balance.nc")
    _to_netcdf(summ, out / "summary.nc")
    prog.step("NetCDF")
    _to_csv(bal, out / "balance.csv")
    _to_csv(summ, out / "summary.csv")
    prog.step("CSV")
    _print_table(summ)
    print(f"wrote {out}/balance.nc, balance.csv, summary.nc, summary.csv")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="demokit",
        description="Demographic accounting and population projection following Statistics Sweden (SCB).")
    p.add_argument("--version", action="version", version=f"demokit {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    a = sub.add_parser("account", help="population balance (components and adjustment term) and summary",
                       description="Compute the cohort population balance with the adjustment term and "
                                   "BEFPAK summary measures; write CSV and NetCDF.")
    a.add_argument("files", nargs="*", metavar="FILES",
                   help="SCB files of any supported format, detected file by file: PX-Web CSV (codes or labels), "
                        "JSON-stat2 (.json), PC-Axis (.px), SCB long CSVs (popn/births/deaths) or one cube .nc")
    a.add_argument("--demo", action="store_true", help="use the embedded Norrbotten data (SCB, 2006-2019)")
    a.add_argument("--out", metavar="DIR", help="output folder")
    a.set_defaults(func=cmd_account)
    _add_forecast(sub)
    _add_income(sub)
    return p


def _add_forecast(sub) -> None:
    """Register ``demokit forecast`` (the main job)."""
    from . import forecast_job

    forecast_job.add_parser(sub)


def _add_income(sub) -> None:
    """Register ``demokit income`` (income tables with the cross-border commuter adjustment)."""
    from .income import report

    report.add_parser(sub)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (DemokitError, ValueError, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        sys.stderr.write(f"demokit {args.command}: error: {msg}\n")
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
