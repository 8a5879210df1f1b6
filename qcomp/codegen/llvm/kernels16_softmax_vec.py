"""QSoftmax16 along the last axis (inner size 1) as vector loops: kernels16_softmax.py's spec, lane-wise.

The rows (outer) split into jobs through kernels_float_vec._row_jobs (parallel_for above
MIN_JOB_ELEMS elements); each row of `depth` elements runs three passes in L lanes per step (the
target's int32 lanes: 16 on x86-vnni, 8 on x86-avx2, 4 on AArch64), then the row's depth mod L tail
elements as scalars through the same IR on scalar types, so body and tail compute the same integers.
Other axes (inner > 1) keep kernels16_softmax's scalar loops.

Each value in the narrowest width qcomp/fixedpoint/softmax16.py's bounds allow:
  max      int16 lanes (a signed max; the lanes and the tail combined by llvm.vector.reduce.smax:
           max is exact in any order)
  e        d = x - max in [-65535, 0] (int32); s = mbqm(d, input_multiplier, input_shift) in int64
           lanes (|d * m| < 2^47); v = clamp(s + 32767, -32768, 32767) (int64, then int32);
           e = lut16(v, exp_lut) as kernels16_elem's Lut16: one 32-bit gather (VPGATHERDD on x86)
           of the pair lut[i] | lut[i + 1] << 16, base + ((slope * offset + 64) >> 7) in int32
  sum      int32 lanes, reduced by llvm.vector.reduce.add, plus the tail: the spec bounds the row's
           sum below 2^31, and int32 addition is exact modulo 2^32, so every order gives that sum
  recip    once per row, scalar int64 as kernels16_softmax (h = ctlz(sum), r = lut16(...))
  out      y = clamp((e * r + 2^(30 - h)) >> (31 - h), 0, 32767) in int32 lanes, e as the sum pass
           stored it in y (int16: a lut16 value lies between two int16 table entries), not recomputed:
           e, r <= 32767 so e * r < 2^30, the rounding term <= 2^29: the sum stays below 2^31
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir

from ...ir import Node
from . import kernels16_softmax
from .irgen import I1, I16, I32, I64, c64, var
from .kernels16_elem import _c, _gather32, _like, _widen, lut16_pairs, mbqm
from .kernels_float_vec import _row_jobs, _rows, _span, lanes_of


def _splat(b, v, lanes: int):
    t = ir.VectorType(v.type, lanes)
    first = b.insert_element(ir.Constant(t, ir.Undefined), v, ir.Constant(I32, 0))
    return b.shuffle_vector(first, ir.Constant(t, ir.Undefined), ir.Constant(ir.VectorType(I32, lanes), [0] * lanes))


def _smax(b, x, y):
    return b.select(b.icmp_signed(">", x, y), x, y)


def emit_softmax16(node: Node, k) -> None:
    shape = k.graph.types[node.inputs[0]].shape
    op = node.op
    axis = op.axis % len(shape)
    if math.prod(shape[axis + 1:]) != 1:
        return kernels16_softmax.emit_softmax16(node, k)
    depth, rows, lanes = shape[axis], math.prod(shape[:axis]), lanes_of(k)
    exp_pairs = k.mod.table(lut16_pairs(np.asarray(k.graph.constants[node.inputs[1]], np.int16)), "lut16_pairs")
    recip_lut = k.mod.table(np.asarray(k.graph.constants[node.inputs[2]], np.int16), "lut16")
    gather = _gather32(k, lanes)
    ctlz = k.mod.intrinsic("llvm.ctlz.i32", I32, [I32, I1])
    v16, v32 = ir.VectorType(I16, lanes), ir.VectorType(I32, lanes)
    reduce_max = k.mod.intrinsic(f"llvm.vector.reduce.smax.v{lanes}i16", I16, [v16])
    reduce_add = k.mod.intrinsic(f"llvm.vector.reduce.add.v{lanes}i32", I32, [v32])

    def load(b, x, index, is_vec):
        t = v16 if is_vec else I16
        return b.load(b.gep(x, [index], source_etype=I16), typ=t, align=2)

    def exp_of(b, x16, max16):
        """lut16(clamp(mbqm(x - max) + 32767), exp_lut), int32 (scalar or lanes)."""
        d = b.sub(_widen(b, x16, 32), _widen(b, max16, 32))
        s = b.add(mbqm(b, _widen(b, d, 64), op.input_multiplier, op.input_shift), _c(d, 32767, 64))
        s = b.select(b.icmp_signed("<", s, _c(d, -32768, 64)), _c(d, -32768, 64), s)
        v = b.trunc(b.select(b.icmp_signed(">", s, _c(d, 32767, 64)), _c(d, 32767, 64), s), _like(d, 32))
        index = b.add(b.ashr(v, _c(v, 7, 32)), _c(v, 256, 32))               # [0, 511]
        offset = b.and_(v, _c(v, 0x7F, 32))                                  # [0, 127]
        if isinstance(index.type, ir.VectorType):
            pair = gather(b, exp_pairs, index)
        else:
            pair = b.load(b.gep(exp_pairs, [index], source_etype=I32), typ=I32, align=4)
        base = b.sext(b.trunc(pair, _like(v, 16)), _like(v, 32))
        slope = b.sub(b.ashr(pair, _c(v, 16, 32)), base)
        return b.add(base, b.ashr(b.add(b.mul(slope, offset), _c(v, 64, 32)), _c(v, 7, 32)))

    def body(b, ins, outs, r0, r1):
        x, y = ins[0], outs[0]
        vmax = var(b, v16, ir.Constant(v16, [-32768] * lanes), "vmax")
        smax = var(b, I16, ir.Constant(I16, -32768), "smax")
        vsum, ssum = var(b, v32, ir.Constant(v32, [0] * lanes), "vsum"), var(b, I32, ir.Constant(I32, 0), "ssum")
        with _rows(b, r0, r1) as r:
            base = b.mul(r, c64(depth))
            b.store(ir.Constant(v16, [-32768] * lanes), vmax)
            b.store(ir.Constant(I16, -32768), smax)

            def max_step(j, is_vec):
                slot, slot_t = (vmax, v16) if is_vec else (smax, I16)
                b.store(_smax(b, b.load(slot, typ=slot_t), load(b, x, b.add(base, j), is_vec)), slot)
            _span(b, depth, lanes, max_step, "cmax")
            max16 = _smax(b, b.call(reduce_max, [b.load(vmax, typ=v16)]), b.load(smax, typ=I16))
            max_vec = _splat(b, max16, lanes)
            b.store(ir.Constant(v32, [0] * lanes), vsum)
            b.store(ir.Constant(I32, 0), ssum)

            def sum_step(j, is_vec):
                slot, slot_t = (vsum, v32) if is_vec else (ssum, I32)
                e = exp_of(b, load(b, x, b.add(base, j), is_vec), max_vec if is_vec else max16)
                b.store(b.add(b.load(slot, typ=slot_t), e), slot)
                b.store(b.trunc(e, _like(e, 16)), b.gep(y, [b.add(base, j)], source_etype=I16), align=2)
            _span(b, depth, lanes, sum_step, "csum")
            total32 = b.add(b.call(reduce_add, [b.load(vsum, typ=v32)]), b.load(ssum, typ=I32))
            total = b.sext(total32, I64)
            headroom_plus_one = b.zext(b.call(ctlz, [total32, ir.Constant(I1, 1)]), I64)
            shifted_sum = b.ashr(b.add(b.shl(total, b.sub(headroom_plus_one, c64(1))), c64(1 << 13)), c64(14))
            sym = b.sub(shifted_sum, c64((1 << 16) + (1 << 15)))
            sym = b.select(b.icmp_signed("<", sym, c64(-32768)), c64(-32768), sym)
            sym = b.select(b.icmp_signed(">", sym, c64(32767)), c64(32767), sym)
            recip = b.trunc(kernels16_softmax._lookup(b, recip_lut, sym), I32)
            right_shift = b.trunc(b.sub(c64(31), headroom_plus_one), I32)
            rounding = b.shl(ir.Constant(I32, 1), b.sub(right_shift, ir.Constant(I32, 1)))
            scalars = recip, rounding, right_shift
            vectors = [_splat(b, s, lanes) for s in scalars]

            def out_step(j, is_vec):
                r_, rnd, sh = vectors if is_vec else scalars
                e = _widen(b, load(b, y, b.add(base, j), is_vec), 32)
                out = b.ashr(b.add(b.mul(e, r_), rnd), sh)
                out = b.select(b.icmp_signed("<", out, _c(out, 0, 32)), _c(out, 0, 32), out)
                out = b.select(b.icmp_signed(">", out, _c(out, 32767, 32)), _c(out, 32767, 32), out)
                b.store(b.trunc(out, _like(out, 16)), b.gep(y, [b.add(base, j)], source_etype=I16), align=2)
            _span(b, depth, lanes, out_step, "cout")
    _row_jobs(k, rows, depth, "softmax16_job", body)
