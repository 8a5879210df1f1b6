"""The A16W8 elementwise ops (QAdd16, QSub16, QMul16, QConvert, Lut16) as vector loops.

They replace kernels16.py's scalar loops for the broadcasts kernels_float_vec's elementwise plan
takes (each operand the output's shape, a single element, or a trailing block of the output
repeated along the leading axes: a bias [N] on [..., N], an attention mask [1, 1, 1, S] on
[1, H, S, S]); any other broadcast keeps those loops. The rows, the thread split (row jobs through
parallel_for above kernels_float_vec.MIN_JOB_ELEMS elements) and the steps are kernels_float_vec's:
L lanes per step (the target's int32 lanes: 16 on x86-vnni, 8 on x86-avx2 / x86-avxvnni, 4 on the
AArch64 targets), then each row's n mod L tail elements as scalars through the same IR on scalar
types, so body and tail compute the same integers.

The formulas are qcomp/fixedpoint/int16.py and lut16.py, each intermediate in the narrowest width
the spec's bounds allow (64-bit lanes only for the requantize's products: VPMULDQ on x86 and SMULL
on AArch64 from sign-extended 32-bit values, then VPSRAQ / SSHL):

  mbqm(x, m, s)    (x * m + 2^(30 - s)) >> (31 - s)           int64 (|x| < 2^31, m < 2^31)
  QAdd16 / QSub16  a_scaled = mbqm(a << 15, a_multiplier, a_shift)    |a << 15| <= 2^30, int32;
                   multipliers <= 1/2: |a_scaled| <= 2^29 + 1, int32 (b likewise)
                   acc = a_scaled +- b_scaled                          |acc| <= 2^30 + 2, int32
                   clamp(mbqm(acc, out_multiplier, out_shift), qmin, qmax)      int64, then int16
  QMul16           clamp(mbqm(a * b, multiplier, shift), qmin, qmax)   |a * b| <= 2^30, int32
  QConvert         clamp(mbqm(x - zp_in, multiplier, shift) + zp_out, qmin, qmax)   |x - zp_in| <= 65535
  Lut16            index = 256 + (x >> 7), offset = x & 127 (int32 lanes); one 32-bit gather
                   (VPGATHERDD) of pair[index] = lut[index] | lut[index + 1] << 16 gives base (its
                   low half, sign-extended) and next (its high half, arithmetic shift);
                   out = base + (((next - base) * offset + 64) >> 7)   |slope * offset| < 2^23
The clamps run in int64 (as the spec: no truncation before the clamp); the values then fit the
output type, and Lut16's result lies between two table entries (no clamp, as lut16_lookup).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ...ir import Node, qops16
from . import kernels16
from .irgen import I8, I16, I32, PTR, c64
from .kernels_float_vec import _row_jobs, _rows, _span, elementwise_plan, lanes_of

_ELEM = {1: I8, 2: I16}


def _like(v, bits: int):
    """The integer type of `bits` with v's shape (scalar or vector)."""
    t = ir.IntType(bits)
    return ir.VectorType(t, v.type.count) if isinstance(v.type, ir.VectorType) else t


def _c(v, value: int, bits: int):
    """The constant `value` of bits-wide integers, shaped like v."""
    t = _like(v, bits)
    return ir.Constant(t, [value] * t.count) if isinstance(t, ir.VectorType) else ir.Constant(t, value)


def _widen(b, v, bits: int):
    """v sign-extended to `bits` (unchanged when it has that width)."""
    elem = v.type.element if isinstance(v.type, ir.VectorType) else v.type
    return v if elem.width == bits else b.sext(v, _like(v, bits))


def mbqm(b, x64, multiplier: int, shift: int):
    """fixedpoint.multiply_by_quantized_multiplier on int64 values (scalar or lanes)."""
    total = 31 - shift
    return b.ashr(b.add(b.mul(x64, _c(x64, multiplier, 64)), _c(x64, 1 << (total - 1), 64)), _c(x64, total, 64))


def requantize(b, acc, multiplier: int, shift: int, zero_point: int, qmin: int, qmax: int, out: ir.IntType):
    """fixedpoint.requantize of int32-range values: the int64 clamp, then the output type."""
    y = b.add(mbqm(b, _widen(b, acc, 64), multiplier, shift), _c(acc, zero_point, 64))
    y = b.select(b.icmp_signed("<", y, _c(acc, qmin, 64)), _c(acc, qmin, 64), y)
    y = b.select(b.icmp_signed(">", y, _c(acc, qmax, 64)), _c(acc, qmax, 64), y)
    return b.trunc(y, _like(acc, out.width))


def _elementwise16(k, node: Node, kinds, row: int, combine, name: str) -> None:
    """out[r, j] = combine(b, operand values) for every row r and j < row (kernels_float_vec's
    _elementwise on integer types); operands read per kind, in their own element types."""
    graph = k.graph
    rows, lanes = int(np.prod(graph.types[node.outputs[0]].shape, dtype=np.int64)) // row, lanes_of(k)
    elems = [_ELEM[graph.types[v].dtype.itemsize] for v in node.inputs[:len(kinds)]]

    def load(b, p, index, elem, is_vec):
        t = ir.VectorType(elem, lanes) if is_vec else elem
        return b.load(b.gep(p, [index], source_etype=elem), typ=t, align=elem.width // 8)

    def splat(b, v):
        t = ir.VectorType(v.type, lanes)
        first = b.insert_element(ir.Constant(t, ir.Undefined), v, ir.Constant(I32, 0))
        return b.shuffle_vector(first, ir.Constant(t, ir.Undefined), ir.Constant(ir.VectorType(I32, lanes), [0] * lanes))

    def body(b, ins, outs, r0, r1):
        scalars = [load(b, p, c64(0), e, False) if kind == "scalar" else None
                   for p, (kind, _), e in zip(ins, kinds, elems)]
        splats = [splat(b, s) if s is not None else None for s in scalars]
        with _rows(b, r0, r1) as r:
            base = b.mul(r, c64(row))

            def step(j, is_vec):
                vals = []
                for p, (kind, _), e, s, sv in zip(ins, kinds, elems, scalars, splats):
                    if kind == "scalar":
                        vals.append(sv if is_vec else s)
                    else:
                        vals.append(load(b, p, b.add(base, j) if kind == "full" else j, e, is_vec))
                y = combine(b, *vals)
                elem = y.type.element if is_vec else y.type
                b.store(y, b.gep(outs[0], [b.add(base, j)], source_etype=elem), align=elem.width // 8)
            _span(b, row, lanes, step)
    _row_jobs(k, rows, row, name, body)


def _plan(node: Node, k, n_operands: int):
    shapes = [k.graph.types[v].shape for v in node.inputs[:n_operands]]
    return elementwise_plan(shapes, k.graph.types[node.outputs[0]].shape)


def _at_most_half(multiplier: int, shift: int) -> bool:
    """multiplier * 2^(shift - 31) <= 1/2: the input rescale add_params16 derives (its int32 bound)."""
    return multiplier * 2.0 ** shift <= 2.0 ** 30


def emit_add_sub16(node: Node, k) -> None:
    """Vector loops where the plan takes the broadcast and both input multipliers are <= 1/2 (the
    spec's int32 bounds; a graph of other multipliers keeps kernels16's int64 loop)."""
    op = node.op
    p = op.add_attrs()
    plan = _plan(node, k, 2)
    if plan is None or not (_at_most_half(p["a_multiplier"], p["a_shift"])
                            and _at_most_half(p["b_multiplier"], p["b_shift"])):
        return kernels16.emit_add_sub16(node, k)
    sub = isinstance(op, qops16.QSub16)

    def scaled(b, x, multiplier, shift):      # |x << 15| <= 2^30; the result |.| <= 2^29 + 1: int32
        x32 = b.shl(_widen(b, x, 32), _c(x, p["left_shift"], 32))
        return b.trunc(mbqm(b, _widen(b, x32, 64), multiplier, shift), _like(x, 32))

    def combine(b, x, y):
        xs, ys = scaled(b, x, p["a_multiplier"], p["a_shift"]), scaled(b, y, p["b_multiplier"], p["b_shift"])
        acc = b.sub(xs, ys) if sub else b.add(xs, ys)
        return requantize(b, acc, op.out_multiplier, op.out_shift, 0, op.qmin, op.qmax, I16)
    _elementwise16(k, node, *plan, combine, "add16_job")


def emit_mul16(node: Node, k) -> None:
    plan = _plan(node, k, 2)
    if plan is None:
        return kernels16.emit_mul16(node, k)
    op = node.op

    def combine(b, x, y):
        return requantize(b, b.mul(_widen(b, x, 32), _widen(b, y, 32)), op.multiplier, op.shift, 0, op.qmin,
                          op.qmax, I16)
    _elementwise16(k, node, *plan, combine, "mul16_job")


def emit_convert(node: Node, k) -> None:
    plan = _plan(node, k, 1)
    op = node.op

    def combine(b, x):
        acc = b.sub(_widen(b, x, 32), _c(x, op.input_zero_point, 32))
        return requantize(b, acc, op.multiplier, op.shift, op.output_zero_point, op.qmin, op.qmax,
                          kernels16.out_type(op))
    _elementwise16(k, node, *plan, combine, "convert16_job")


def lut16_pairs(lut: np.ndarray) -> np.ndarray:
    """int32[512]: lut[i] in the low half (two's complement bits), lut[i + 1] in the high half."""
    t = np.asarray(lut, np.int64)
    return (((t[:-1] & 0xFFFF) | (t[1:] << 16)) & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


def _gather32(k, lanes: int):
    """gather(table, index) -> <L x i32> table[index] for int32 lane indices: VPGATHERDD through the
    x86 intrinsics (the generic masked gather would fold the table's offset in the weight blob
    into 64-bit indices, two VPGATHERQD), the generic gather elsewhere (AArch64: lane loads)."""
    v32, vi1 = ir.VectorType(I32, lanes), ir.VectorType(ir.IntType(1), lanes)
    zero, ones = ir.Constant(v32, [0] * lanes), ir.Constant(vi1, [1] * lanes)
    if k.spec.arch == "x86" and lanes == 16:
        fn = k.mod.intrinsic("llvm.x86.avx512.mask.gather.dpi.512", v32, [v32, PTR, v32, vi1, I32])
        return lambda b, table, index: b.call(fn, [zero, table, index, ones, ir.Constant(I32, 4)])
    if k.spec.arch == "x86" and lanes == 8:
        fn = k.mod.intrinsic("llvm.x86.avx2.gather.d.d.256", v32, [v32, PTR, v32, v32, I8])
        return lambda b, table, index: b.call(fn, [zero, table, index, ir.Constant(v32, [-1] * lanes),
                                                   ir.Constant(I8, 4)])
    vp = ir.VectorType(PTR, lanes)
    fn = k.mod.intrinsic(f"llvm.masked.gather.v{lanes}i32.v{lanes}p0", v32, [vp, I32, vi1, v32])

    def gather(b, table, index):
        at = b.gep(table, [index], source_etype=I32)
        at.type = vp            # a GEP with a vector index is a vector of pointers (llvmlite types it ptr)
        return b.call(fn, [at, ir.Constant(I32, 4), ones, zero])
    return gather


def emit_lut16(node: Node, k) -> None:
    op = node.op
    pairs = k.mod.table(lut16_pairs(k.graph.constants[node.inputs[1]]), "lut16_pairs")
    gather = _gather32(k, lanes_of(k))
    out = kernels16.out_type(op)

    def pair_of(b, index):
        if isinstance(index.type, ir.VectorType):
            return gather(b, pairs, index)
        return b.load(b.gep(pairs, [index], source_etype=I32), typ=I32, align=4)

    def combine(b, x):
        x32 = _widen(b, x, 32)
        index = b.add(b.ashr(x32, _c(x, 7, 32)), _c(x, 256, 32))            # [0, 511]
        offset = b.and_(x32, _c(x, 0x7F, 32))                                # [0, 127]
        pair = pair_of(b, index)
        base = b.sext(b.trunc(pair, _like(x, 16)), _like(x, 32))
        slope = b.sub(b.ashr(pair, _c(x, 16, 32)), base)                     # |slope| <= 65535
        delta = b.ashr(b.add(b.mul(slope, offset), _c(x, 64, 32)), _c(x, 7, 32))
        return b.trunc(b.add(base, delta), _like(x, out.width))
    _elementwise16(k, node, *_plan(node, k, 1), combine, "lut16_job")
