"""The GEMM micro-kernel of the dot kernels: one register-blocked tile of MR pixels x NR output
blocks on the target's int8 dot instruction, and the shared form that nodes of one shape class call.

Split out of kernels_dot.py (which keeps the weight packing, the job plan, the im2col pack and the
emit_dot driver that calls these): the micro-kernel is the part every GEMM of the llvm backend
reuses (kernels_dot.emit_dot, kernels_qmatmul.py for QMatMul, kernels_mmla.py for its row terms),
so it lives on its own. The math is kernels_dot.py's: per depth step kq and tile row r,

    acc[r][j] += dot(broadcast(A[r, kq*depth : (kq+1)*depth]), W[j, kq])      (lanes int32 each)

from acc[r][j] = bias'[j] (the folded bias), then y = requantize(acc, multiplier, shift,
output_zero_point, qmin, qmax) stored as int8 (masked in the last block when it holds fewer than
`lanes` channels). int32 lanes wrap; only the final sum must fit, which lower_integer proves.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ...ir import qops
from . import dots, kernels_requantize
from .irgen import I8, I32, I64, PTR, VOID, c64, requantize_lanes
from .kernels_depthwise import _masked_io, _mask, _ptr

OUT_OF_LINE_REQUANTIZE = True   # shared tiles requantize in one loop per module and class (kernels_requantize.py)


def right_shifts_only(k) -> bool:
    """Every requantize shift of the node is <= -1 (requantize_lanes' right_shifts form): a dot
    node's shift constant (inputs: x, w, bias, mult, shift), QMatMul's shift attribute."""
    if isinstance(k.node.op, qops.QMatMul):
        return k.node.op.shift <= -1
    return bool(np.max(k.graph.constants[k.node.inputs[4]]) <= -1)


def _micro_kernel(k, name: str, mr: int, nr: int, n_kq: int, a_stride: int, o_total: int, live_last: int, op,
                  fix=None, row_terms: bool = False, epilogue=None, shared: bool = False, flip: bool = False):
    """tile(a, w, out, bias, mult, shift): MR x NR accumulators over the n_kq steps, requantized and
    stored. a: the tile's first A row (rows a_stride bytes apart); w: its first block's panel at
    kq 0 (blocks n_kq * block bytes apart); out: the first pixel's first channel (pixels o_total
    bytes apart); bias/mult/shift: int32 at the first channel. The last block stores live_last
    channels (masked when < lanes). fix (AVX2, dots_x86.Corrections): three more arguments and its
    residual steps after the main loop. row_terms (QMatMul, kernels_qmatmul.py): each A row holds
    one more int32 after its n_kq * depth bytes, added to every channel of the row. epilogue
    (DynamicMatMul): epilogue(b, acc, r, j, out, mult, live) stores row r's block j instead of the
    requantize and int8 store. shared (shared_tile): o_total and the op's output_zero_point, qmin
    and qmax are four more arguments (i64, i32, i32, i32) instead of constants, so nodes that
    differ in those only call one function. flip: A holds the int8 x itself, and each broadcast
    word gets the u8 operand's +128 as an XOR with 0x80808080 (x + 128 = x ^ 0x80 as a byte)."""
    spec = k.spec
    lanes, depth, block = spec.lanes, spec.depth, spec.weight_block
    vi32, vi8 = ir.VectorType(I32, lanes), ir.VectorType(I8, block)
    right_shifts = epilogue is None and right_shifts_only(k)
    x86 = spec.arch == "x86"
    assert not (shared and (fix or row_terms or epilogue)), "a shared micro-kernel is the plain int8 one"
    tail = [I64, I32, I32, I32] if shared else []
    f, b = k.mod.function(k.mod.unique(name), VOID, [PTR] * 6 + (fix.arg_types() if fix else []) + tail)
    a, w, out, bias, mult, shift = f.args[:6]
    for arg in f.args[:8]:
        if isinstance(arg.type, ir.PointerType):
            arg.add_attribute("noalias")

    def vec(ptr, j):
        return b.load(_ptr(b, ptr, 4 * j * lanes), typ=vi32, align=4)
    init = [vec(bias, j) for j in range(nr)]
    entry = b.block
    body = f.append_basic_block("k")
    end = f.append_basic_block("store")
    b.branch(body)
    b.position_at_end(body)
    kq = b.phi(I64, "kq")
    accs = [[b.phi(vi32, f"acc{r}_{j}") for j in range(nr)] for r in range(mr)]
    kq.add_incoming(c64(0), entry)
    for r in range(mr):
        for j in range(nr):
            accs[r][j].add_incoming(init[j], entry)
    splat = ir.Constant(vi32, [0] * lanes)
    weights = [b.load(_ptr(b, w, b.add(c64(j * n_kq * block), b.mul(kq, c64(block)))), typ=vi8,
                      align=min(64, spec.block)) for j in range(nr)]
    new = []
    for r in range(mr):
        word = b.load(_ptr(b, a, b.add(c64(r * a_stride), b.mul(kq, c64(depth)))), typ=I32, align=1)
        if flip:
            word = b.xor(word, ir.Constant(I32, -0x7F7F7F80))   # 0x80808080 as i32
        first = b.insert_element(ir.Constant(vi32, None), word, ir.Constant(I32, 0))
        u = b.bitcast(b.shuffle_vector(first, ir.Constant(vi32, None), splat), ir.VectorType(I8, spec.block))
        new.append([dots.accumulate(k.mod, b, spec, accs[r][j], u, weights[j]) for j in range(nr)])
    nxt = b.add(kq, c64(1))
    kq.add_incoming(nxt, body)
    for r in range(mr):
        for j in range(nr):
            accs[r][j].add_incoming(new[r][j], body)
    b.cbranch(b.icmp_signed("<", nxt, c64(n_kq)), body, end)
    b.position_at_end(end)
    if fix is not None:
        new = fix.emit(k.mod, b, spec, new, a, a_stride, f.args[6:])
    if row_terms:
        new = [[b.add(acc, row_term(b, a, r * a_stride + n_kq * depth, lanes)) for acc in accs]
               for r, accs in enumerate(new)]
    if epilogue is not None:
        for r in range(mr):
            for j in range(nr):
                epilogue(b, new[r][j], r, j, out, mult, live_last if j == nr - 1 else lanes)
        b.ret_void()
        return f
    if shared and OUT_OF_LINE_REQUANTIZE:   # one requantize loop per module and class (kernels_requantize.py)
        kernels_requantize.store_and_requantize(k, b, new, out, mult, shift, f.args[6], *f.args[7:10], live_last,
                                                right_shifts)
        b.ret_void()
        return f
    _, masked_store = _masked_io(k.mod, lanes, I8)
    zero_point, qmin, qmax = f.args[7:10] if shared else (op.output_zero_point, op.qmin, op.qmax)
    mults, shifts = [vec(mult, j) for j in range(nr)], [vec(shift, j) for j in range(nr)]
    for r in range(mr):
        for j in range(nr):
            masked = j == nr - 1 and live_last < lanes
            # right_shifts=False before a masked store: LLVM 22 lowers a one-lane masked store of the
            # int32-clamped form to a 4-byte store (vmovd), past the output's end
            y = requantize_lanes(b, new[r][j], mults[j], shifts[j], zero_point, qmin, qmax,
                                 even_odd=x86, right_shifts=right_shifts and not masked)
            dst = _ptr(b, out, b.add(b.mul(c64(r), f.args[6]), c64(j * lanes)) if shared else r * o_total + j * lanes)
            if j == nr - 1 and live_last < lanes:
                b.call(masked_store, [y, dst, ir.Constant(I32, 1), _mask(lanes, live_last)])
            else:
                b.store(y, dst, align=1)
    b.ret_void()
    return f


def shared_tile(k, mr: int, nr: int, n_kq: int, a_stride: int, o_total: int, live_last: int, op,
                flip: bool = False):
    """(function, its last four arguments) of the plain int8 micro-kernel `tile(a, w, out, bias,
    mult, shift, o_total, zero_point, qmin, qmax)`, one per module for each shape class: the tile
    (MR, NR), the depth steps and A's row stride (n_kq, a_stride: static, they address the inner
    loop), the live channels of the last block, the requantize form (right_shifts) and the ISA.
    The output row stride and the requantize constants are arguments, read once per tile in the
    epilogue: ResNet-18's 72 tile variants become 27 functions, MobileNetV2's 120 become 48.
    flip: A is the int8 x, offset in the broadcast (_micro_kernel); part of the class."""
    key = ("tile", k.spec, mr, nr, n_kq, a_stride, live_last, right_shifts_only(k), flip)
    f = k.mod.shared(key, lambda: _micro_kernel(k, "tile", mr, nr, n_kq, a_stride, 0, live_last, None, shared=True,
                                                flip=flip))
    return f, [c64(o_total), ir.Constant(I32, op.output_zero_point), ir.Constant(I32, op.qmin),
               ir.Constant(I32, op.qmax)]


def row_term(b, a, offset: int, lanes: int):
    """The int32 at a + offset bytes, broadcast to <lanes x i32> (a QMatMul row's term)."""
    vi32 = ir.VectorType(I32, lanes)
    word = b.load(_ptr(b, a, offset), typ=I32, align=1)
    first = b.insert_element(ir.Constant(vi32, None), word, ir.Constant(I32, 0))
    return b.shuffle_vector(first, ir.Constant(vi32, None), ir.Constant(vi32, [0] * lanes))


