"""The GEMM micro-kernel of arm-i8mm: SMMLA, 2x8 by 8x2 int8 tiles into a 2x2 int32 tile.

    smmla(acc, a, b):  acc[2r + c] += sum_{d < 8} a[8r + d] * b[8c + d]     r, c < 2   (int32, wrapping)

a holds two rows of A (pixels p, p + 1: 8 bytes each at depth step kq), b two rows of W (channels
o, o + 1: 8 bytes each), so one instruction is 2 pixels x 2 channels x 8 = 32 MACs, twice SDOT's.
kernels_dot.emit_dot keeps everything around the micro-kernel (im2col packing with K padded to a
multiple of 8, the job split, the folded bias); this module replaces `_micro_kernel` when the
target's dot instruction is "smmla" (same signature, same job structure: MR pixels x NR blocks of
4 channels).

Weights: pack_weights(w, groups, lanes=4, depth=8) is already SMMLA's layout: per block and step
[4 channels][8 bytes] = two B operands, channels (0, 1) then (2, 3), 16 bytes each.

Tile: ceil(MR / 2) pixel pairs x 2 NR channel pairs, one accumulator each (MR_FOR_NR: 12, 16, 18,
16 accumulators for NR = 1..4, plus the A pair and the B operands in the 32 vector registers). Per
step kq: one 16-byte B load per channel pair, two 8-byte A loads per pixel pair (rows a_stride bytes
apart: A is the packed im2col matrix or the input itself), PAIRS * 2NR SMMLA. An odd last pixel
(MR odd: a tile of the last P % MR pixels) pairs its row with itself: no read past the last row, and
only its own results are stored.

Epilogue: the accumulators of pixel pair i and block j, X = (o0, o1) and Y = (o2, o3), hold
X = [p o0, p o1, p' o0, p' o1], Y = [p o2, p o3, p' o2, p' o3]; pixel p's channel vector is
zip1.2d(X, Y) = [p o0..o3], p' its zip2. Then bias (the folded bias of kernels_dot.py; the
accumulators start at zero), requantize_lanes and the (masked at the last block) store, as
_micro_kernel. Overflow: as kernels_dot.py: int32 lanes wrap, the final sum fits (lower_integer).
"""
from __future__ import annotations

from llvmlite import ir

from .irgen import I8, I32, I64, PTR, VOID, c64, requantize_lanes
from .kernels_depthwise import _mask, _masked_io, _ptr

MR_FOR_NR = {1: 12, 2: 8, 3: 6, 4: 4}   # pixels per tile (pairs: 6, 4, 3, 2) for NR 4-channel blocks
_X_Y = {0: [0, 1, 4, 5], 1: [2, 3, 6, 7]}   # pixel p (0) or p' (1) of the pair: zip1 / zip2 of (X, Y) as .2d


def micro_kernel(k, name: str, mr: int, nr: int, n_kq: int, a_stride: int, o_total: int, live_last: int, op,
                 row_terms: bool = False, epilogue=None):
    """tile(a, w, out, bias, mult, shift) for MR pixels x NR blocks of 4 channels, with SMMLA
    (module docstring); the arguments as kernels_dot._micro_kernel's (row_terms, epilogue included)."""
    from .kernels_dot import right_shifts_only, row_term
    spec = k.spec
    lanes, depth, block = spec.lanes, spec.depth, spec.block
    assert (lanes, depth) == (4, 8), "SMMLA tiles are 2 pixels x 2 channels x 8 bytes"
    vi32, vi8, v8 = ir.VectorType(I32, 4), ir.VectorType(I8, 16), ir.VectorType(I8, 8)
    smmla = k.mod.intrinsic(spec.intrinsic, vi32, [vi32, vi8, vi8])
    right_shifts = epilogue is None and right_shifts_only(k)
    pairs = -(-mr // 2)
    f, b = k.mod.function(k.mod.unique(name), VOID, [PTR] * 6)
    a, w, out, bias, mult, shift = f.args
    for arg in (a, w, out, bias, mult, shift):
        arg.add_attribute("noalias")

    def vec(ptr, j):
        return b.load(_ptr(b, ptr, 4 * j * lanes), typ=vi32, align=4)
    entry = b.block
    body = f.append_basic_block("k")
    end = f.append_basic_block("store")
    b.branch(body)
    b.position_at_end(body)
    kq = b.phi(I64, "kq")
    kq.add_incoming(c64(0), entry)
    # accs[i][q]: pixel pair i, channel pair q (block q // 2, channels 2 (q % 2) and 2 (q % 2) + 1)
    accs = [[b.phi(vi32, f"acc{i}_{q}") for q in range(2 * nr)] for i in range(pairs)]
    zero = ir.Constant(vi32, [0] * 4)
    for row in accs:
        for acc in row:
            acc.add_incoming(zero, entry)
    step = b.mul(kq, c64(depth))
    weights = [b.load(_ptr(b, w, b.add(c64((q // 2) * n_kq * block + (q % 2) * 16), b.mul(kq, c64(block)))),
                      typ=vi8, align=16) for q in range(2 * nr)]
    new = []
    for i in range(pairs):
        rows = [b.load(_ptr(b, a, b.add(c64(r * a_stride), step)), typ=v8, align=1)
                for r in sorted({2 * i, min(2 * i + 1, mr - 1)})]
        pair = b.shuffle_vector(rows[0], rows[-1], ir.Constant(ir.VectorType(I32, 16), list(range(16))))
        new.append([b.call(smmla, [accs[i][q], pair, weights[q]]) for q in range(2 * nr)])
    nxt = b.add(kq, c64(1))
    kq.add_incoming(nxt, body)
    for i in range(pairs):
        for q in range(2 * nr):
            accs[i][q].add_incoming(new[i][q], body)
    b.cbranch(b.icmp_signed("<", nxt, c64(n_kq)), body, end)
    b.position_at_end(end)
    _, masked_store = _masked_io(k.mod, lanes, I8)
    biases, mults, shifts = ([vec(t, j) for j in range(nr)] for t in (bias, mult, shift))
    for i in range(pairs):
        for j in range(nr):
            x, y = new[i][2 * j], new[i][2 * j + 1]
            for half in (0, 1):
                r = 2 * i + half
                if r >= mr:    # the odd last pixel's partner is itself: nothing to store
                    continue
                acc = b.add(b.shuffle_vector(x, y, ir.Constant(ir.VectorType(I32, 4), _X_Y[half])), biases[j])
                if row_terms:
                    acc = b.add(acc, row_term(b, a, r * a_stride + n_kq * depth, lanes))
                if epilogue is not None:
                    epilogue(b, acc, r, j, out, mult, live_last if j == nr - 1 else lanes)
                    continue
                masked = j == nr - 1 and live_last < lanes
                yv = requantize_lanes(b, acc, mults[j], shifts[j], op.output_zero_point, op.qmin, op.qmax,
                                      right_shifts=right_shifts and not masked)
                dst = _ptr(b, out, r * o_total + j * lanes)
                if masked:
                    b.call(masked_store, [yv, dst, ir.Constant(I32, 1), _mask(lanes, live_last)])
                else:
                    b.store(yv, dst, align=1)
    b.ret_void()
    return f
