"""Glue between public functions (xarray) and kernels (numpy): dims, chunks, dask.

:class:`ndkernel` is the one way a public function reaches a kernel that works
on ``(n, *core)`` arrays (``n`` the flattened product of every other dim), in
the manner of numbagg's gufunc families and xclim's public wrappers: the
adapter moves the core dims last, broadcasts and flattens the other dims,
makes the inputs contiguous, allocates the outputs once, calls the kernel
(eagerly, or per block of a dask array) and gives back DataArrays with the
dims in the input's order and the coordinates restored.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .cube import CubeError, is_dask  # noqa: F401  (is_dask lives in cube: one predicate)

__all__ = ["check_core_chunks", "is_dask", "apply_kernel", "ndkernel"]


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
    and every other (broadcast) dim first.  (Kept for the modules not yet on
    :class:`ndkernel`.)
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


class ndkernel:
    """Wrap a kernel on ``(n, *core)`` numpy arrays as a function of DataArrays.

    Parameters
    ----------
    kernel : callable
        Called as ``kernel(*args, *outputs)``: ``args`` in the order of the
        call, each DataArray input as a C-contiguous ``(n, *core)`` array of
        ``in_dtype`` (a list of DataArrays as a tuple of such arrays), every
        other argument passed as is; then the freshly allocated outputs
        ``(n, *output core)``, which the kernel fills.  Whatever it returns
        is summed over the blocks run now (see ``returns``).
    core_dims : sequence
        One entry per positional argument: ``None`` passes the argument
        through untouched (flags, scalars, small numpy arrays); otherwise the
        sequence of core dims of that input, in the order the kernel wants
        them last, where a ``None`` entry stands for a new axis of length 1
        (e.g. ``[None, "year"]`` makes ``(n, 1, T)``).  Every other dim of the
        inputs is broadcast and flattened into ``n``.
    outputs : sequence of sequence of str
        The core dims of each output, last.  The size of a dim that is a core
        dim of an input is taken from the input unless ``sizes`` gives it.
    dtypes : sequence of dtype, optional
        Of the outputs (default float64).
    sizes : dict, optional
        Sizes of output dims: new dims, or a core dim of an input that the
        output has at another length (e.g. ``year`` with one year fewer);
        such input dims are renamed internally so xarray accepts it.
    in_dtype : dtype or None
        The inputs are converted to this dtype (default float64; None keeps theirs).
    returns : bool
        If True a call returns ``(outputs, value)`` with ``value`` the sum of
        what the kernel returned over the blocks run in the call (eager
        input: all of them; dask input: none, the blocks run at compute time,
        and ``value`` is 0).

    A call ``f(*args, core_dims=None, sizes=None, coords=None)`` may override
    ``core_dims`` and ``sizes`` for that call; ``coords`` assigns coordinates
    to output dims (those of the inputs' dims are restored by themselves).
    Dask inputs must not be chunked along a core dim (:func:`check_core_chunks`);
    the kernel then runs per block at compute time (``dask="parallelized"``).
    Each output has the dims of the first DataArray input, in its order, that
    it keeps, followed by its new dims.
    """

    def __init__(self, kernel, *, core_dims, outputs, dtypes=None, sizes=None, in_dtype=np.float64,
                 returns: bool = False):
        self.kernel = kernel
        self.core_dims = [None if c is None else tuple(c) for c in core_dims]
        self.outputs = [tuple(o) for o in outputs]
        self.dtypes = list(dtypes) if dtypes is not None else [np.float64] * len(self.outputs)
        if len(self.dtypes) != len(self.outputs):
            raise ValueError(f"ndkernel({getattr(kernel, '__name__', kernel)}): {len(self.outputs)} outputs, "
                             f"{len(self.dtypes)} dtypes")
        self.sizes = dict(sizes or {})
        self.in_dtype = in_dtype
        self.returns = returns
        self.__name__ = getattr(kernel, "__name__", "ndkernel")
        self.__doc__ = getattr(kernel, "__doc__", None)

    def __repr__(self):
        return f"ndkernel({self.__name__}, core_dims={self.core_dims}, outputs={self.outputs})"

    def __call__(self, *args, core_dims=None, sizes=None, coords=None):
        cds = self.core_dims if core_dims is None else [None if c is None else tuple(c) for c in core_dims]
        if len(cds) != len(args):
            raise ValueError(f"{self.__name__}: {len(args)} arguments but {len(cds)} core_dims entries")
        sizes = {**self.sizes, **(sizes or {})}
        # inputs: (position, group length or None, core dims without the new axes, full core spec)
        arrays, layout, first = [], [], None
        in_sizes = {}
        for a, cd in zip(args, cds):
            if cd is None:
                layout.append(("pass", a))
                continue
            group = isinstance(a, (list, tuple))
            items = list(a) if group else [a]
            real = [d for d in cd if d is not None]
            for da in items:
                if not isinstance(da, xr.DataArray):
                    raise TypeError(f"{self.__name__}: expected an xarray.DataArray for core dims {cd}, "
                                    f"got {type(da).__name__}")
                missing = [d for d in real if d not in da.dims]
                if missing:
                    raise CubeError(f"{da.name or 'input'} has no dim {missing[0]!r} (dims {da.dims}); "
                                    f"{self.__name__} needs {real}")
                check_core_chunks(da, real)
                for d in real:
                    in_sizes.setdefault(d, da.sizes[d])
                first = da if first is None else first
            layout.append(("group" if group else "one", len(items), cd))
            arrays.append((items, real))
        if first is None:
            raise TypeError(f"{self.__name__}: no DataArray input")
        # an output dim that an input has at another length: rename it on the inputs
        renamed = {d: f"__{d}_in" for d in sizes if d in in_sizes and in_sizes[d] != sizes[d]}
        flat_args, in_core = [], []
        for items, real in arrays:
            core = [renamed.get(d, d) for d in real]
            for da in items:
                flat_args.append(da.rename({d: renamed[d] for d in real if d in renamed}) if renamed else da)
                in_core.append(core)
        out_sizes = {}
        for o in self.outputs:
            for d in o:
                if d in sizes:
                    out_sizes[d] = sizes[d]
                elif d not in in_sizes:
                    raise ValueError(f"{self.__name__}: the size of output dim {d!r} is unknown; pass sizes=")
        block_returns = []
        n_core = {i: len(c) for i, c in enumerate(in_core)}
        kernel, in_dtype, outputs, dtypes = self.kernel, self.in_dtype, self.outputs, self.dtypes

        def block(*blocks):
            lead = np.broadcast_shapes(*(b.shape[:b.ndim - n_core[i]] for i, b in enumerate(blocks)))
            n = int(np.prod(lead, dtype=np.int64))
            k = 0
            call = []
            known = {}
            for entry in layout:
                if entry[0] == "pass":
                    call.append(entry[1])
                    continue
                _, count, cd = entry
                got = []
                for _ in range(count):
                    b = blocks[k]
                    k += 1
                    core_shape = b.shape[b.ndim - n_core[k - 1]:]
                    for d, s in zip([d for d in cd if d is not None], core_shape):
                        known[d] = s
                    shape = [n]
                    it = iter(core_shape)
                    for d in cd:
                        shape.append(1 if d is None else next(it))
                    if b.shape[:b.ndim - len(core_shape)] != lead:   # a broadcast copy (writable, as the rest)
                        b = np.array(np.broadcast_to(b, lead + core_shape), dtype=in_dtype or b.dtype)
                    got.append(np.ascontiguousarray(b.reshape(shape), dtype=in_dtype))
                call.append(tuple(got) if entry[0] == "group" else got[0])
            outs = [np.empty((n,) + tuple(sizes[d] if d in sizes else known[d] for d in o), dtype=dt)
                    for o, dt in zip(outputs, dtypes)]
            r = kernel(*call, *outs)
            block_returns.append(r)
            res = tuple(x.reshape(lead + x.shape[1:]) for x in outs)
            return res if len(res) > 1 else res[0]

        dgk = {"allow_rechunk": False}
        if out_sizes:
            dgk["output_sizes"] = out_sizes
        res = xr.apply_ufunc(block, *flat_args, input_core_dims=in_core,
                             output_core_dims=[list(o) for o in outputs], dask="parallelized",
                             output_dtypes=list(dtypes), dask_gufunc_kwargs=dgk, keep_attrs=False)
        res = list(res) if len(outputs) > 1 else [res]
        order = list(first.dims)
        for j, r in enumerate(res):
            dims = [d for d in order if d in r.dims] + [d for d in r.dims if d not in order]
            r = r.transpose(*dims)
            if coords:
                r = r.assign_coords({d: c for d, c in coords.items() if d in r.dims})
            res[j] = r
        out = tuple(res) if len(res) > 1 else res[0]
        if self.returns:
            return out, sum(int(v) for v in block_returns if v is not None)
        return out
