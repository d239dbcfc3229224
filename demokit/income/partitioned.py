"""Larger than memory: the income statistics from a parquet data set partitioned by kommun, with dask.

Households live in one kommun, so a partition of whole kommuner holds whole
households: the adjustment, the household columns and every statistic by
region are computed exactly inside each partition.  The one national figure,
the median income per consumption unit of all persons (the low-income
limit), is found exactly in two more passes: a histogram of the values' IEEE
bit patterns locates the bin holding the median's rank(s), then only the
values of that bin are gathered and sorted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._kernels import income as k
from ._schema import IncomeError, validate_persons
from .statistics import INCOMES, POPULATION, QUANTILE_METHODS, prepare, statistics

__all__ = ["write_partitioned", "statistics_from_parquet"]

_BITS = 20  # histogram bins: the top 20 bits of the order-preserving key


def write_partitioned(micro: pd.DataFrame, path) -> Path:
    """Write a person table as parquet partitioned by region (``path/region=XXXX/*.parquet``)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover
        raise IncomeError("parquet needs pyarrow: pip install 'demokit[income]'") from exc
    path = Path(path)
    df = micro.copy()
    df["region"] = df["region"].astype(str)
    pq.write_to_dataset(pa.Table.from_pandas(df, preserve_index=False), root_path=str(path),
                        partition_cols=["region"])
    return path


def _read_regions(dirs) -> pd.DataFrame:
    import pyarrow.parquet as pq

    parts = []
    for d in dirs:
        t = pq.read_table(str(d)).to_pandas()
        t["region"] = d.name.split("=", 1)[1]
        parts.append(t)
    df = pd.concat(parts, ignore_index=True)
    for c in ("sex", "birth_region", "ku_type", "foreign_country"):
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(str)
    df["foreign_country"] = df["foreign_country"].fillna("")
    validate_persons(df)
    return prepare(df)


def _key(x: np.ndarray) -> np.ndarray:
    """Order-preserving map of float64 to uint64 (IEEE 754 bit trick)."""
    b = x.view(np.uint64)
    neg = (b >> np.uint64(63)).astype(bool)
    return np.where(neg, ~b, b | np.uint64(1 << 63))


def _hist(dirs, col_off, col_adj):
    df = _read_regions(dirs)
    out = {}
    for v, col in (("official", col_off), ("adjusted", col_adj)):
        x = df[col].to_numpy(dtype=float)[df[POPULATION[v]].to_numpy(dtype=bool)]
        out[v] = np.bincount((_key(x) >> np.uint64(64 - _BITS)).astype(np.int64), minlength=1 << _BITS)
    return out


def _values_in_bins(dirs, col_off, col_adj, bins):
    df = _read_regions(dirs)
    out = {}
    for v, col in (("official", col_off), ("adjusted", col_adj)):
        x = df[col].to_numpy(dtype=float)[df[POPULATION[v]].to_numpy(dtype=bool)]
        b = (_key(x) >> np.uint64(64 - _BITS)).astype(np.int64)
        out[v] = x[np.isin(b, bins[v])]
    return out


def _stats(dirs, kw):
    return statistics(_read_regions(dirs), **kw)


def statistics_from_parquet(path, *, income: str = "csfvi", by=("region",), ages=None,
                            quantile_method: str = "averaged_inverted_cdf", low_income_fraction: float = 0.6,
                            regions_per_task: int = 16, scheduler=None) -> xr.Dataset:
    """Return :func:`statistics` of a parquet data set partitioned by region, computed with dask.

    Parameters
    ----------
    path : path
        Directory written by :func:`write_partitioned` (hive layout ``region=XXXX``).
    income, by, ages, quantile_method, low_income_fraction
        As in :func:`statistics`; ``by`` must contain ``region``.
    regions_per_task : int, default 16
        Kommuner read and computed together in one dask task.
    scheduler : str, optional
        Dask scheduler for ``dask.compute`` (default dask's).

    Returns
    -------
    xarray.Dataset
        Equal to ``statistics(whole table, ...)`` (medians exact).

    Notes
    -----
    One pass (three for ``cdisp_per_cu``) over the data; memory holds one task's
    kommuner at a time per worker.  The national median for the low-income
    limit: with ``key`` the order-preserving bit pattern of each value,
    ``bin = key >> 44``; the bins' counts summed over tasks locate the bin of
    the rank(s) the quantile rule needs; the values of those bins, gathered and
    sorted, give the exact order statistics.
    """
    import dask

    by = tuple(by)
    if "region" not in by:
        raise IncomeError("statistics_from_parquet computes by region: put 'region' in by")
    if income not in INCOMES:
        raise IncomeError(f"income must be one of {list(INCOMES)}, got {income!r}")
    root = Path(path)
    dirs = sorted(p for p in root.glob("region=*") if p.is_dir())
    if not dirs:
        raise IncomeError(f"{root}: no region=... partitions (write them with write_partitioned)")
    tasks = [dirs[i:i + regions_per_task] for i in range(0, len(dirs), regions_per_task)]
    kw = dict(income=income, by=by, ages=ages, quantile_method=quantile_method,
              low_income_fraction=low_income_fraction)
    col_off, col_adj = INCOMES[income]
    if income == "cdisp_per_cu":
        hists = dask.compute(*[dask.delayed(_hist)(t, col_off, col_adj) for t in tasks], scheduler=scheduler)
        method = QUANTILE_METHODS[quantile_method]
        need, base = {}, {}
        for v in ("official", "adjusted"):
            h = np.sum([x[v] for x in hists], axis=0)
            cum = np.cumsum(h)
            lo, hi, w = k.quantile_ranks(int(cum[-1]), 50, method)
            ranks = (lo, hi)
            bins = np.searchsorted(cum, ranks, side="left")  # bin holding rank r: first cum >= r
            need[v] = np.unique(bins)
            base[v] = (ranks, w, cum, bins)
        vals = dask.compute(*[dask.delayed(_values_in_bins)(t, col_off, col_adj, need) for t in tasks],
                            scheduler=scheduler)
        thr = {}
        for v in ("official", "adjusted"):
            (lo, hi), w, cum, bins = base[v]
            xs = np.sort(np.concatenate([x[v] for x in vals]))
            first = int(need[v][0])
            below = int(cum[first - 1]) if first > 0 else 0
            a, b = xs[lo - 1 - below], xs[hi - 1 - below]
            med = a + w * (b - a) if w != 0.0 else a
            thr[v] = low_income_fraction * med
        kw["low_income_threshold"] = thr
    parts = dask.compute(*[dask.delayed(_stats)(t, kw) for t in tasks], scheduler=scheduler)
    out = xr.concat(parts, dim="region", data_vars="minimal", coords="minimal", compat="equals",
                    join="outer")
    out = out.sortby("region")
    out.attrs = parts[0].attrs
    return out
