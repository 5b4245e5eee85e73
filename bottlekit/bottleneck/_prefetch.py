"""A cache prefetch hint for numba-compiled loops (LLVM's ``llvm.prefetch``)."""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch"]


@intrinsic
def prefetch(typingctx, array, index):
    """Ask the CPU to bring the cache line of ``array[index]`` (1-D, ``0 <= index <
    len(array)``) into all cache levels, for a read; a hint only: no value changes.

    Callable from numba-compiled code only.
    """
    if not (isinstance(array, types.Array) and array.ndim == 1):
        return None
    if not isinstance(index, types.Integer):
        return None
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        view = context.make_array(array)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, array, view, [args[1]], wraparound=False)
        i32 = ir.IntType(32)
        byte_ptr = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr.type, i32, i32, i32])
        # llvmlite mangles the name for the pointer type: ``llvm.prefetch.p0i8`` with typed
        # pointers (LLVM 14, numba 0.59), ``llvm.prefetch.p0`` with opaque ones
        fn = builder.module.declare_intrinsic("llvm.prefetch", [byte_ptr.type], fnty)
        # read (0), keep in all cache levels (3), data cache (1)
        builder.call(fn, [byte_ptr, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen
