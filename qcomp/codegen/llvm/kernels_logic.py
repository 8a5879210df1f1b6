"""Kernels of the comparison, logic, selection and reduction ops of qcomp/ir/ops_logic.py (the
reference is qcomp/ref/float_logic.py; every kernel here is bit-exact to it).

A bool is one byte, 0 or 1. Operands broadcast through index tables (tables.broadcast_map).
    Compare        float32: ordered IEEE comparisons (false with a NaN); integers: signed (unsigned
                   for uint8) comparisons, int8 values sharing quant params included (exact)
    Not, Logical   on bytes 0 / 1: xor 1, and, or, xor
    Where          cond != 0 ? x : y, any dtype (int8 operands share the output's params)
    IsNaN, IsInf   x unordered with itself; x == +inf / -inf
    ReduceSum, ReduceProd, ReduceMin
                   acc = x_0, then acc = acc OP x_j in C order of the reduced elements (the
                   reference's order: bit-exact in float32 too); Min propagates NaN; int8 Min exact
    ArgMax, ArgMin the first (select_last_index: last) extreme, a NaN counting as the extreme, as numpy
    CumSum         a running sum along the axis from -0.0 (the additive identity), in index order
                   (reverse: from the end); exclusive stores the sum before adding (0 first)
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ...ir import DType, Node, ops
from ...protocol import Emitter
from . import tables
from .irgen import F32, I8, I32, I64, c64, int_type, load, load_i64, loop, store, var

_FCMP = {"eq": "==", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _et(dtype: DType):
    return F32 if dtype is DType.FLOAT32 else int_type(dtype.itemsize)


def _elementwise(node: Node, k, combine) -> None:
    """y[i] = combine(x0[map0[i]], x1[map1[i]], ...) over the output in C order."""
    b, g = k.b, k.graph
    out = g.types[node.outputs[0]]
    maps = [tables.broadcast_map(g.types[v].shape, out.shape) for v in node.inputs]
    tabs = [None if m is None else k.mod.table(m, "bcast") for m in maps]
    with loop(b, int(np.prod(out.shape, dtype=np.int64))) as i:
        vals = [load(b, ptr, i if tab is None else b.sext(load(b, tab, i, I32), I64), _et(g.types[v].dtype))
                for ptr, tab, v in zip(k.ins, tabs, node.inputs)]
        store(b, combine(b, *vals), k.outs[0], i, _et(out.dtype))


def _cmp(b, mode: str, v, w, dtype: DType):
    if dtype is DType.FLOAT32:
        return b.fcmp_ordered(_FCMP[mode], v, w)
    return (b.icmp_unsigned if dtype in (DType.UINT8, DType.BOOL) else b.icmp_signed)(_FCMP[mode], v, w)


def _is_nan(b, v):
    return b.fcmp_unordered("uno", v, v)


def emit_compare(node: Node, k) -> None:
    dtype = k.graph.types[node.inputs[0]].dtype
    _elementwise(node, k, lambda b, v, w: b.zext(_cmp(b, node.op.mode, v, w, dtype), I8))


def emit_logical(node: Node, k) -> None:
    fn = {"and": "and_", "or": "or_", "xor": "xor"}[node.op.mode]
    _elementwise(node, k, lambda b, v, w: getattr(b, fn)(v, w))


def emit_not(node: Node, k) -> None:
    _elementwise(node, k, lambda b, v: b.xor(v, ir.Constant(I8, 1)))


def emit_where(node: Node, k) -> None:
    _elementwise(node, k, lambda b, c, x, y: b.select(b.icmp_unsigned("!=", c, ir.Constant(I8, 0)), x, y))


def emit_is_nan(node: Node, k) -> None:
    _elementwise(node, k, lambda b, v: b.zext(_is_nan(b, v), I8))


def emit_is_inf(node: Node, k) -> None:
    op = node.op

    def body(b, v):
        hit = ir.Constant(ir.IntType(1), 0)
        if op.detect_positive:
            hit = b.or_(hit, b.fcmp_ordered("==", v, ir.Constant(F32, float("inf"))))
        if op.detect_negative:
            hit = b.or_(hit, b.fcmp_ordered("==", v, ir.Constant(F32, float("-inf"))))
        return b.zext(hit, I8)
    _elementwise(node, k, body)


def why_not_compare(node: Node, graph) -> str | None:
    """float32, int8, uint8, int32, int64 or bool operands."""
    dtype = graph.types[node.inputs[0]].dtype
    if dtype.is_float and dtype is not DType.FLOAT32:
        return f"the llvm backend compares float32 and integer values, not {dtype.value}"
    return None


def why_not_float32_input(node: Node, graph) -> str | None:
    """float32 input."""
    dtype = graph.types[node.inputs[0]].dtype
    return None if dtype is DType.FLOAT32 else f"the llvm backend runs {node.kind} on float32, not {dtype.value}"


def why_not_numeric(node: Node, graph) -> str | None:
    """float32 or integer input (not float16, not bool)."""
    dtype = graph.types[node.inputs[0]].dtype
    if dtype is DType.BOOL or (dtype.is_float and dtype is not DType.FLOAT32):
        return f"the llvm backend runs {node.kind} on float32 or integer values, not {dtype.value}"
    return None


def why_not_where(node: Node, graph) -> str | None:
    """x and y of any dtype but float16."""
    dtype = graph.types[node.inputs[1]].dtype
    return f"the llvm backend selects float32 and integer values, not {dtype.value}" \
        if dtype is DType.FLOAT16 else None


def _combine(b, kind, acc, v, dtype: DType):
    if kind is ops.ReduceSum:
        return b.fadd(acc, v) if dtype is DType.FLOAT32 else b.add(acc, v)
    if kind is ops.ReduceProd:
        return b.fmul(acc, v) if dtype is DType.FLOAT32 else b.mul(acc, v)
    if dtype is DType.FLOAT32:   # Min: v wins when smaller or NaN (a NaN acc stays)
        return b.select(b.or_(b.fcmp_ordered("<", v, acc), _is_nan(b, v)), v, acc)
    return b.select(_cmp(b, "lt", v, acc, dtype), v, acc)


def emit_reduce(node: Node, k) -> None:
    b, op = k.b, node.op
    t = k.graph.types[node.inputs[0]]
    et = _et(t.dtype)
    axes = op.axes or ()
    if not axes:
        with loop(b, t.size) as i:
            store(b, load(b, k.ins[0], i, et), k.outs[0], i, et)
        return
    idx, r = tables.reduce_map(t.shape, axes)
    idx_g = k.mod.table(idx, "reduce")
    with loop(b, idx.size // r, "o") as o:
        base = b.mul(o, c64(r))
        acc = var(b, et, load(b, k.ins[0], load_i64(b, idx_g, base, I32), et), "acc")
        with loop(b, r - 1, "r") as ri:
            v = load(b, k.ins[0], load_i64(b, idx_g, b.add(base, b.add(ri, c64(1))), I32), et)
            b.store(_combine(b, type(op), b.load(acc, typ=et), v, t.dtype), acc)
        store(b, b.load(acc, typ=et), k.outs[0], o, et)


def emit_arg(node: Node, k) -> None:
    b, op = k.b, node.op
    t = k.graph.types[node.inputs[0]]
    et = _et(t.dtype)
    idx, r = tables.reduce_map(t.shape, (op.axis,))
    idx_g = k.mod.table(idx, "arg")
    better = ("gt" if isinstance(op, ops.ArgMax) else "lt") if not op.select_last_index \
        else ("ge" if isinstance(op, ops.ArgMax) else "le")
    with loop(b, idx.size // r, "o") as o:
        base = b.mul(o, c64(r))
        best = var(b, et, load(b, k.ins[0], load_i64(b, idx_g, base, I32), et), "best")
        where = var(b, I64, c64(0), "where")
        with loop(b, r - 1, "r") as ri:
            j = b.add(ri, c64(1))
            v = load(b, k.ins[0], load_i64(b, idx_g, b.add(base, j), I32), et)
            cur = b.load(best, typ=et)
            wins = _cmp(b, better, v, cur, t.dtype)
            if t.dtype is DType.FLOAT32:   # a NaN is the extreme: the first (last) NaN wins
                nan_v, nan_cur = _is_nan(b, v), _is_nan(b, cur)
                if op.select_last_index:
                    wins = b.or_(b.and_(wins, b.not_(nan_cur)), nan_v)
                else:
                    wins = b.or_(wins, b.and_(nan_v, b.not_(nan_cur)))
            b.store(b.select(wins, v, cur), best)
            b.store(b.select(wins, j, b.load(where, typ=I64)), where)
        store(b, b.load(where, typ=I64), k.outs[0], o, I64)


def emit_cumsum(node: Node, k) -> None:
    b, op = k.b, node.op
    t = k.graph.types[node.inputs[0]]
    et = _et(t.dtype)
    flt = t.dtype is DType.FLOAT32
    zero, identity = (ir.Constant(F32, 0.0), ir.Constant(F32, -0.0)) if flt else (ir.Constant(et, 0),) * 2
    idx, r = tables.reduce_map(t.shape, (op.axis,))
    if op.reverse:
        idx = np.ascontiguousarray(idx.reshape(-1, r)[:, ::-1]).reshape(-1)
    idx_g = k.mod.table(idx, "cumsum")
    with loop(b, idx.size // r, "o") as o:
        base = b.mul(o, c64(r))
        acc = var(b, et, identity, "acc")
        with loop(b, r, "r") as j:
            at = load_i64(b, idx_g, b.add(base, j), I32)
            v = load(b, k.ins[0], at, et)
            cur = b.load(acc, typ=et)
            new = b.fadd(cur, v) if flt else b.add(cur, v)
            if op.exclusive:
                store(b, b.select(b.icmp_signed("==", j, c64(0)), zero, cur), k.outs[0], at, et)
            else:
                store(b, new, k.outs[0], at, et)
            b.store(new, acc)


EMITTERS = {
    ops.Compare: Emitter(emit_compare, why_not_compare), ops.Logical: emit_logical, ops.Not: emit_not,
    ops.Where: Emitter(emit_where, why_not_where), ops.IsNaN: Emitter(emit_is_nan, why_not_float32_input),
    ops.IsInf: Emitter(emit_is_inf, why_not_float32_input),
    **{cls: Emitter(emit_reduce, why_not_numeric) for cls in (ops.ReduceSum, ops.ReduceProd, ops.ReduceMin)},
    ops.ArgMax: Emitter(emit_arg, why_not_numeric), ops.ArgMin: Emitter(emit_arg, why_not_numeric),
    ops.CumSum: Emitter(emit_cumsum, why_not_numeric),
}
