"""The requantize-and-store epilogue of the int8 GEMM micro-kernels, one function per module and class.

A micro-kernel's MR x NR accumulator vectors were requantized inline (requantize_lanes, about 25
instructions a vector on AVX-512's even/odd form): 600 of a 6 x 4 tile's 700 instructions, copied
into every tile variant of every shape class, the bulk of what LLVM compiled for a CNN. Here the
micro-kernel stores its accumulators to a stack buffer acc[MR][NR][lanes] (int32, in L1, read back
at once) and calls

    tile_requantize(acc, out, multiplier, shift, rows, o_total, zero_point, qmin, qmax):
        for r < rows, j < NR:  out[r * o_total + j * lanes + l] =
            requantize(acc[r][j][l], multiplier[j * lanes + l], shift[j * lanes + l], zero_point, qmin, qmax)

the spec's requantize lane-wise (irgen.requantize_lanes, the same arithmetic as inline), the last
block's store masked to its `live` channels. One function per (ISA, NR, live channels of the last
block, requantize form) serves every MR, every depth and every node: the row count, the output row
stride and the requantize constants are its arguments.
"""
from __future__ import annotations

from llvmlite import ir

from .irgen import I8, I32, I64, PTR, VOID, c64, loop, requantize_lanes


def tile_requantize(k, nr: int, live_last: int, right_shifts: bool) -> ir.Function:
    """The module's tile_requantize for NR blocks, `live_last` channels in the last block."""
    spec = k.spec
    key = ("tile_requantize", spec, nr, live_last, right_shifts)
    return k.mod.shared(key, lambda: _emit(k, nr, live_last, right_shifts))


def _emit(k, nr: int, live_last: int, right_shifts: bool) -> ir.Function:
    from .kernels_depthwise import _mask, _masked_io, _ptr
    spec = k.spec
    lanes = spec.lanes
    vi32 = ir.VectorType(I32, lanes)
    f, b = k.mod.function(k.mod.unique("tile_requantize"), VOID, [PTR] * 4 + [I64, I64, I32, I32, I32])
    f.attributes.add("noinline")   # one copy: inlined, LLVM would unroll the rows of each caller again
    acc, out, mult, shift, rows, o_total, zero_point, qmin, qmax = f.args
    for arg in f.args[:4]:
        arg.add_attribute("noalias")
    _, masked_store = _masked_io(k.mod, lanes, I8)

    def vec(ptr, j):
        return b.load(_ptr(b, ptr, 4 * j * lanes), typ=vi32, align=4)
    mults, shifts = [vec(mult, j) for j in range(nr)], [vec(shift, j) for j in range(nr)]
    with loop(b, rows, "r") as r:
        row = _ptr(b, out, b.mul(r, o_total))
        for j in range(nr):
            a = b.load(_ptr(b, acc, b.mul(b.add(b.mul(r, c64(nr)), c64(j)), c64(4 * lanes))), typ=vi32, align=4 * lanes)
            masked = j == nr - 1 and live_last < lanes
            # right_shifts=False before a masked store (kernels_dot._micro_kernel: LLVM's one-lane case)
            y = requantize_lanes(b, a, mults[j], shifts[j], zero_point, qmin, qmax, even_odd=spec.arch == "x86",
                                 right_shifts=right_shifts and not masked)
            dst = _ptr(b, row, j * lanes)
            if masked:
                b.call(masked_store, [y, dst, ir.Constant(I32, 1), _mask(lanes, live_last)])
            else:
                b.store(y, dst, align=1)
    b.ret_void()
    return f


def store_and_requantize(k, b: ir.IRBuilder, accs: list[list], out, mult, shift, o_total, zero_point, qmin, qmax,
                         live_last: int, right_shifts: bool) -> None:
    """The micro-kernel's side: accs[r][j] to a stack buffer, then one call of tile_requantize."""
    mr, nr = len(accs), len(accs[0])
    vi32 = accs[0][0].type
    vector_bytes = 4 * vi32.count   # each accumulator vector on its own natural alignment
    with b.goto_entry_block():
        buf = b.alloca(vi32, size=c64(mr * nr), name="acc")
        buf.align = vector_bytes
    for r in range(mr):
        for j in range(nr):
            b.store(accs[r][j], b.gep(buf, [c64(r * nr + j)], source_etype=vi32), align=vector_bytes)
    b.call(tile_requantize(k, nr, live_last, right_shifts),
           [buf, out, mult, shift, c64(mr), o_total, zero_point, qmin, qmax])
