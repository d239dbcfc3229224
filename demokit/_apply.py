"""Glue between public functions (xarray) and kernels (numpy): dims, chunks, dask."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .cube import CubeError, is_dask  # noqa: F401  (is_dask lives in cube: one predicate)

__all__ = ["check_core_chunks", "is_dask", "apply_kernel"]




def check_core_chunks(da: xr.DataArray, core_dims, *, name: str | None = None) -> None:
    """Raise :class:`CubeError` if a dask array is chunked along a core dim.

    The message names the dims to rechunk, e.g.
    ``population is chunked along 'age', 'region'; rechunk with .chunk({'age': -1, 'region': -1})``.
    """
    if not is_dask(da):   # (cheap test first: .chunksizes walks every coordinate)
        return
    chunks = getattr(da, "chunksizes", None) or {}
    if not chunks:
        return
    bad = [d for d in core_dims if d in chunks and len(chunks[d]) > 1]
    if bad:
        name = name or da.name or "input"
        spec = ", ".join(f"{d!r}: -1" for d in bad)
        raise CubeError(
            f"{name} is chunked along {', '.join(repr(d) for d in bad)}, which this computation needs "
            f"whole; rechunk with .chunk({{{spec}}}) (chunk only along other dims such as "
            "'scenario' or 'draw')")


def apply_kernel(func, *args, core_dims, output_core_dims, output_dtypes=None, output_sizes=None,
                 kwargs=None):
    """``xr.apply_ufunc`` with ``dask="parallelized"`` after checking core-dim chunks.

    ``func`` receives numpy arrays with the core dims last, in the given order,
    and every other (broadcast) dim first.
    """
    for a, cd in zip(args, core_dims):
        if isinstance(a, xr.DataArray):
            check_core_chunks(a, cd)
    n_out = len(output_core_dims)
    if output_dtypes is None:
        output_dtypes = [np.float64] * n_out
    dgk = {"allow_rechunk": False}
    if output_sizes:
        dgk["output_sizes"] = output_sizes
    return xr.apply_ufunc(
        func, *args,
        input_core_dims=core_dims,
        output_core_dims=output_core_dims,
        dask="parallelized",
        output_dtypes=output_dtypes,
        dask_gufunc_kwargs=dgk,
        kwargs=kwargs or {},
        keep_attrs=False,
    )
