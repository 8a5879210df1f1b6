"""QSoftmax (int8) along the last axis (inner size 1) as vector loops: fixedpoint/softmax_table.py's
formulation of the spec, lane-wise. Other axes, and parameters whose table the spec refuses, keep
kernels_softmax.py's scalar loops.

The exp of an int8 difference has 256 possible arguments, so a per-node table of the spec's own
values (softmax_table.exp_table, built at compile time) replaces gemmlowp's polynomial and barrel
shifter exactly; a skipped difference (below diff_min) has entry 0, which needs no mask (see that
module for the proof). The rows split into jobs through kernels_float_vec._row_jobs; each row of
`depth` elements runs three passes in L lanes per step (the target's int32 lanes: 16 on x86-vnni,
8 on x86-avx2, 4 on AArch64), then the depth mod L tail elements as scalars through the same IR on
scalar types, so body and tail compute the same integers:

  max    int8 lanes, llvm.vector.reduce.smax plus the tail (max is exact in any order)
  e      t = max - x in [0, 255] (int32 lanes); e = exp_table[t] by one 32-bit gather (VPGATHERDD on
         x86, lane loads on AArch64), e in [0, 2^31 - 1]
  sum    (e + 2^11) >>u 12 in int32 lanes (e + 2^11 < 2^32 unsigned), reduced by
         llvm.vector.reduce.add plus the tail: the spec bounds the row's sum below 2^31 (4095 * 2^19),
         and int32 addition is exact modulo 2^32, so every order gives that sum
  recip  once per row, scalar: get_reciprocal (kernels_softmax's helper, llvm.ctlz); E = n + 23,
         and (recip, E) = (0, 31) where E >= 32 (the output is -128 there either way)
  out    s = (zext(recip) * zext(e) + 2^30) >>u 31 in int64 lanes (< 2^62 + 2^30), truncated to int32
         (s < 2^31); r = (s + 2^(E-1)) >>u E in int32 lanes (s + 2^30 < 2^32 unsigned);
         y = min(r, 255) - 128 as int8 (r >= 0). e comes from the sum pass, kept in a stack row of
         `depth` int32 (at most 4095 * 4 bytes) rather than gathered twice.
"""
from __future__ import annotations

import math

from llvmlite import ir

from ...fixedpoint.core import FixedPointError
from ...fixedpoint.softmax import SoftmaxParams
from ...fixedpoint.softmax_table import exp_table
from ...ir import Node
from . import kernels_softmax
from .irgen import I8, I32, I64, c32, c64, var
from .kernels16_elem import _c, _gather32, _like
from .kernels16_softmax_vec import _smax, _splat
from .kernels_float_vec import _row_jobs, _rows, _span, lanes_of


def table_of(op):
    """The node's exp table (int32), or None where the spec refuses its parameters (scalar loops)."""
    try:
        return exp_table(SoftmaxParams(op.input_multiplier, op.input_left_shift, op.diff_min)).astype("<i4")
    except FixedPointError:
        return None


def emit_softmax(node: Node, k) -> None:
    shape = k.graph.types[node.inputs[0]].shape
    op = node.op
    axis = op.axis % len(shape)
    table = table_of(op)
    if math.prod(shape[axis + 1:]) != 1 or table is None:
        return kernels_softmax.emit_softmax(node, k)
    kernels_softmax._define_helpers(k.mod)
    depth, rows, lanes = shape[axis], math.prod(shape[:axis]), lanes_of(k)
    exps = k.mod.table(table, "softmax_exp")
    gather = _gather32(k, lanes)
    v8, v32 = ir.VectorType(I8, lanes), ir.VectorType(I32, lanes)
    reduce_max = k.mod.intrinsic(f"llvm.vector.reduce.smax.v{lanes}i8", I8, [v8])
    reduce_add = k.mod.intrinsic(f"llvm.vector.reduce.add.v{lanes}i32", I32, [v32])

    def at(b, p, index):
        return b.gep(p, [index], source_etype=I8)

    def load(b, x, index, is_vec):
        return b.load(at(b, x, index), typ=v8 if is_vec else I8, align=1)

    def exp_of(b, x8, max32):
        """exp_table[max - x], int32 (scalar or lanes)."""
        t = b.sub(max32, b.sext(x8, _like(x8, 32)))
        if isinstance(t.type, ir.VectorType):
            return gather(b, exps, t)
        return b.load(b.gep(exps, [t], source_etype=I32), typ=I32, align=4)

    def body(b, ins, outs, r0, r1):
        x, y = ins[0], outs[0]
        vmax, smax = var(b, v8, ir.Constant(v8, [-128] * lanes), "vmax"), var(b, I8, ir.Constant(I8, -128), "smax")
        vsum, ssum = var(b, v32, ir.Constant(v32, [0] * lanes), "vsum"), var(b, I32, c32(0), "ssum")
        n_slot = var(b, I32, c32(0), "n")
        with b.goto_entry_block():
            row_e = b.alloca(I32, size=c64(depth), name="row_e")
            row_e.align = 4 * lanes   # the int32 vectors' natural alignment

        def e_at(j, is_vec):
            at = b.gep(row_e, [j], source_etype=I32)
            return b.bitcast(at, ir.PointerType(v32)) if is_vec else at
        with _rows(b, r0, r1) as r:
            base = b.mul(r, c64(depth))
            b.store(ir.Constant(v8, [-128] * lanes), vmax)
            b.store(ir.Constant(I8, -128), smax)

            def max_step(j, is_vec):
                slot, slot_t = (vmax, v8) if is_vec else (smax, I8)
                b.store(_smax(b, b.load(slot, typ=slot_t), load(b, x, b.add(base, j), is_vec)), slot)
            _span(b, depth, lanes, max_step, "cmax")
            max32 = b.sext(_smax(b, b.call(reduce_max, [b.load(vmax, typ=v8)]), b.load(smax, typ=I8)), I32)
            max_vec = _splat(b, max32, lanes)
            b.store(ir.Constant(v32, [0] * lanes), vsum)
            b.store(c32(0), ssum)

            def sum_step(j, is_vec):
                slot, slot_t = (vsum, v32) if is_vec else (ssum, I32)
                e = exp_of(b, load(b, x, b.add(base, j), is_vec), max_vec if is_vec else max32)
                b.store(e, e_at(j, is_vec), align=4)
                term = b.lshr(b.add(e, _c(e, 1 << 11, 32)), _c(e, 12, 32))
                b.store(b.add(b.load(slot, typ=slot_t), term), slot)
            _span(b, depth, lanes, sum_step, "csum")
            total = b.add(b.call(reduce_add, [b.load(vsum, typ=v32)]), b.load(ssum, typ=I32))
            recip = b.call(k.mod.helper("get_reciprocal"), [total, c32(12), n_slot])
            exponent = b.add(b.load(n_slot, typ=I32), c32(31 - 8))
            wide = b.icmp_signed(">=", exponent, c32(32))
            recip64 = b.zext(b.select(wide, c32(0), recip), I64)
            exponent = b.select(wide, c32(31), exponent)
            half = b.shl(c32(1), b.sub(exponent, c32(1)))
            scalars = recip64, half, exponent
            vectors = [_splat(b, s, lanes) for s in scalars]

            def out_step(j, is_vec):
                recip_, half_, exponent_ = vectors if is_vec else scalars
                e = b.load(e_at(j, is_vec), typ=v32 if is_vec else I32, align=4)
                s = b.lshr(b.add(b.mul(recip_, b.zext(e, _like(e, 64))), _c(e, 1 << 30, 64)), _c(e, 31, 64))
                rounded = b.lshr(b.add(b.trunc(s, _like(e, 32)), half_), exponent_)
                capped = b.select(b.icmp_unsigned(">", rounded, _c(e, 255, 32)), _c(e, 255, 32), rounded)
                out = b.trunc(b.sub(capped, _c(e, 128, 32)), _like(e, 8))
                b.store(out, at(b, y, b.add(base, j)), align=1)
            _span(b, depth, lanes, out_step, "cout")
    _row_jobs(k, rows, depth, "softmax_job", body)

