"""Acquire/release flags between the threads of one kernel call (LLVM atomics; Numba has none for the CPU).

A producer thread writes its results, then :func:`publish` s a counter with
release ordering; a consumer :func:`wait_for` s the counter with acquire
ordering and then reads the results (the C++ memory model's release/acquire
pair: every write before the release is visible after the acquire).  Used by
the projection's population path to run the two sexes of one projection on
two threads (:func:`demokit._kernels.projection.annual_sexes`).
"""

from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import jit

__all__ = ["publish", "wait_for"]


@intrinsic
def _load_acquire(typingctx, arr, i):
    """``arr[i]`` (an int64 array) read with acquire ordering."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0], a, [args[1]], wraparound=False)
        return builder.load_atomic(ptr, "acquire", 8)

    return types.int64(arr, i), codegen


@intrinsic
def _store_release(typingctx, arr, i, v):
    """``arr[i] = v`` (an int64 array) written with release ordering."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and isinstance(i, types.Integer)
            and isinstance(v, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0], a, [args[1]], wraparound=False)
        val = context.cast(builder, args[2], sig.args[2], types.int64)
        builder.store_atomic(val, ptr, "release", 8)
        return context.get_dummy_value()

    return types.void(arr, i, v), codegen


@jit
def publish(flag, i, value):
    """Set ``flag[i] = value`` after every earlier write of this thread (release)."""
    _store_release(flag, i, value)


@jit
def wait_for(flag, i, value):
    """Spin until ``flag[i] ≥ value`` (acquire); the producer's writes before it are then visible."""
    while _load_acquire(flag, i) < value:
        pass

