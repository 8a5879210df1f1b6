"""QSoftmax16 (int16 Softmax, qcomp/fixedpoint/softmax16.py) in LLVM IR: the spec line for line, scalar.

Per row of `depth` elements `inner` apart (NHWC contiguous), three passes, every value i64 (each
bound of the spec holds, so the wider type changes no result):
  max      row maximum
  sum      e = lut16(clamp(mbqm(x - max, input_multiplier, input_shift) + 32767, -32768, 32767), exp_lut)
           sum += e                                                    (< 2^31: at most 65536 elements)
  recip    h = llvm.ctlz.i32(sum) (sum >= 2^14: h in [1, 17]); shifted = ((sum << (h - 1)) + 2^13) >> 14
           r = lut16(clamp(shifted - 98304, -32768, 32767), recip_lut)
  out      y = clamp((e * r + 2^(30 - h)) >> (31 - h), 0, 32767)       (e recomputed)
lut16 is the 513-entry interpolated lookup of kernels16.emit_lut16. Scalar loops: a Softmax row is
short next to the dot products around it; the exp lookups are gathers LLVM does not vectorize.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir

from ...ir import Node
from .irgen import I1, I16, I32, I64, c64, clamp, load_i64, loop, store, var


def why_not_softmax16(node: Node, graph) -> str | None:
    """Constant tables (they are compiled into the module)."""
    if any(v not in graph.constants for v in node.inputs[1:]):
        return "its exp and reciprocal tables must be constants"
    return None


def _lookup(b: ir.IRBuilder, table, v):
    """lut16_lookup(v, table), v i64 in [-32768, 32767]."""
    index = b.add(c64(256), b.ashr(v, c64(7)))
    offset = b.and_(v, c64(0x7F))
    base = load_i64(b, table, index, I16)
    slope = b.sub(load_i64(b, table, b.add(index, c64(1)), I16), base)
    return b.add(base, b.ashr(b.add(b.mul(slope, offset), c64(64)), c64(7)))


def emit_softmax16(node: Node, k) -> None:
    b, op = k.b, k.node.op
    shape = k.graph.types[node.inputs[0]].shape
    outer, depth, inner = math.prod(shape[:op.axis]), shape[op.axis], math.prod(shape[op.axis + 1:])
    exp_lut = k.mod.table(np.asarray(k.graph.constants[node.inputs[1]], np.int16), "lut16")
    recip_lut = k.mod.table(np.asarray(k.graph.constants[node.inputs[2]], np.int16), "lut16")
    mbqm = k.mod.helper("multiply_by_quantized_multiplier")
    ctlz = k.mod.intrinsic("llvm.ctlz.i32", I32, [I32, I1])
    x, y = k.ins[0], k.outs[0]
    row_max, sum_of_exps = var(b, I64, c64(-32768), "max"), var(b, I64, c64(0), "sum")

    def element(base, c):
        return b.add(base, b.mul(c, c64(inner)))

    def exp_of(base, c, max_value):
        diff = b.sub(load_i64(b, x, element(base, c), I16), max_value)
        scaled_diff = b.call(mbqm, [diff, c64(op.input_multiplier), c64(op.input_shift)])
        return _lookup(b, exp_lut, clamp(b, b.add(scaled_diff, c64(32767)), c64(-32768), c64(32767)))

    with loop(b, outer, "o") as o:
        with loop(b, inner, "r") as i:
            base = b.add(b.mul(o, c64(depth * inner)), i)
            b.store(c64(-32768), row_max)
            with loop(b, depth, "cmax") as c:
                v = load_i64(b, x, element(base, c), I16)
                m = b.load(row_max, typ=I64)
                b.store(b.select(b.icmp_signed(">", v, m), v, m), row_max)
            max_value = b.load(row_max, typ=I64)
            b.store(c64(0), sum_of_exps)
            with loop(b, depth, "csum") as c:
                b.store(b.add(b.load(sum_of_exps, typ=I64), exp_of(base, c, max_value)), sum_of_exps)
            total = b.load(sum_of_exps, typ=I64)
            headroom_plus_one = b.zext(b.call(ctlz, [b.trunc(total, I32), ir.Constant(I1, 1)]), I64)
            shifted_sum = b.ashr(b.add(b.shl(total, b.sub(headroom_plus_one, c64(1))), c64(1 << 13)), c64(14))
            sym = clamp(b, b.sub(shifted_sum, c64((1 << 16) + (1 << 15))), c64(-32768), c64(32767))
            recip = _lookup(b, recip_lut, sym)
            right_shift = b.sub(c64(31), headroom_plus_one)
            rounding = b.shl(c64(1), b.sub(right_shift, c64(1)))
            with loop(b, depth, "cout") as c:
                e = exp_of(base, c, max_value)
                out = b.ashr(b.add(b.mul(e, recip), rounding), right_shift)
                store(b, b.trunc(clamp(b, out, c64(0), c64(32767)), I16), y, element(base, c), I16)
