"""Emitters of the comparison, logic, selection and reduction ops of qcomp/ir/ops_logic.py
(logic.cu.j2; the reference is qcomp/ref/float_logic.py, and every kernel is bit-exact to it).

Bool values are bytes 0 / 1 (`uint8_t`). One thread per output element; Compare, Logical, Not,
Where, IsNaN and IsInf broadcast through per-operand strides; ReduceSum / ReduceProd / ReduceMin
accumulate from the first reduced element in C order, float32 with one IEEE rounding per step
(__fadd_rn, __fmul_rn: no contraction), as the reference; ArgMax / ArgMin keep the first (last)
extreme, a NaN counting as the extreme; CumSum runs one thread per line along the axis.
Integer values (int8 sharing quant params, int32, int64) compare and select exactly.
"""
from __future__ import annotations

import numpy as np

from ...ir import DType, Node, ops
from ...protocol import Emitter
from .context import BLOCK, Context, ctype_of, grid_1d
from .emit_elementwise import _broadcast_strides, _strides

_CMP = {"eq": "==", "gt": ">", "ge": ">=", "lt": "<", "le": "<=", "and": "&", "or": "|", "xor": "^"}


def elementwise(node: Node, ctx: Context) -> None:
    g, op = ctx.graph, node.op
    out = g.types[node.outputs[0]]
    mode = getattr(op, "mode", "")
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("logic.cu.j2").render(
        kind="elementwise", name=name, node=ctx.comment(node), op=op.kind, mode=mode, cmp=_CMP.get(mode, ""),
        total=out.size, dims=list(out.shape) or [1], out_type=ctype_of(out.dtype),
        in_types=[ctype_of(g.types[v].dtype) for v in node.inputs],
        strides=[_broadcast_strides(g.types[v].shape, out.shape) or [0] for v in node.inputs],
        positive=bool(getattr(op, "detect_positive", False)), negative=bool(getattr(op, "detect_negative", False)))
    ctx.add(node, name, src, grid_1d(out.size), (BLOCK, 1, 1),
            [*(ctx.value(v) for v in node.inputs), ctx.value(node.outputs[0])])


def reduce(node: Node, ctx: Context) -> None:
    g, op = ctx.graph, node.op
    x, y = g.types[node.inputs[0]], g.types[node.outputs[0]]
    arg = isinstance(op, (ops.ArgMax, ops.ArgMin))
    axes = [op.axis] if arg else sorted(op.axes) or []
    strides = _strides(x.shape)
    kept = [d for d in range(x.rank) if d not in axes]
    cmp = ""
    if arg:
        cmp = (">" if isinstance(op, ops.ArgMax) else "<") + ("=" if op.select_last_index else "")
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("logic.cu.j2").render(
        kind="arg" if arg else "reduce", name=name, node=ctx.comment(node), op=op.kind, total=y.size,
        ctype=ctype_of(x.dtype), out_type=ctype_of(y.dtype), cmp=cmp, last=bool(getattr(op, "select_last_index", 0)),
        count=int(np.prod([x.shape[a] for a in axes], dtype=np.int64)),
        kept_dims=[x.shape[d] for d in kept] or [1], kept_strides=[strides[d] for d in kept] or [0],
        red_dims=[x.shape[d] for d in axes] or [1], red_strides=[strides[d] for d in axes] or [0])
    ctx.add(node, name, src, grid_1d(y.size), (BLOCK, 1, 1), [ctx.value(node.inputs[0]), ctx.value(node.outputs[0])])


def cumsum(node: Node, ctx: Context) -> None:
    op = node.op
    x = ctx.graph.types[node.inputs[0]]
    length = x.shape[op.axis]
    inner = int(np.prod(x.shape[op.axis + 1:], dtype=np.int64))
    lines = x.size // max(length, 1)
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("logic.cu.j2").render(
        kind="cumsum", name=name, node=ctx.comment(node), ctype=ctype_of(x.dtype), total=lines, length=length,
        inner=inner, reverse=op.reverse, exclusive=op.exclusive)
    ctx.add(node, name, src, grid_1d(lines), (BLOCK, 1, 1), [ctx.value(node.inputs[0]), ctx.value(node.outputs[0])])


def why_not_numeric(node: Node, graph) -> str | None:
    """float32, int8, int32 or int64 input."""
    dtype = graph.types[node.inputs[0]].dtype
    if dtype not in (DType.FLOAT32, DType.INT8, DType.INT32, DType.INT64):
        return f"the cuda backend runs {node.kind} on float32, int8, int32 and int64 values, not {dtype.value}"
    return None


def why_not_float(node: Node, graph) -> str | None:
    """float32 input."""
    dtype = graph.types[node.inputs[0]].dtype
    return None if dtype is DType.FLOAT32 else f"the cuda backend runs {node.kind} on float32, not {dtype.value}"


def why_not_compare(node: Node, graph) -> str | None:
    """float32, int8, int32, int64 or bool operands."""
    if graph.types[node.inputs[0]].dtype is DType.BOOL:
        return None
    return why_not_numeric(node, graph)


def why_not_where(node: Node, graph) -> str | None:
    """x and y of a dtype the cuda kernels take (float32, int8, int32, int64, bool)."""
    dtype = graph.types[node.inputs[1]].dtype
    if dtype in (DType.FLOAT32, DType.INT8, DType.INT32, DType.INT64, DType.BOOL):
        return None
    return f"the cuda backend selects float32, int8, int32, int64 and bool values, not {dtype.value}"


EMITTERS = {
    ops.Compare: Emitter(elementwise, why_not_compare), ops.Logical: elementwise, ops.Not: elementwise,
    ops.Where: Emitter(elementwise, why_not_where), ops.IsNaN: Emitter(elementwise, why_not_float),
    ops.IsInf: Emitter(elementwise, why_not_float),
    **{cls: Emitter(reduce, why_not_numeric) for cls in (ops.ReduceSum, ops.ReduceProd, ops.ReduceMin,
                                                           ops.ArgMax, ops.ArgMin)},
    ops.CumSum: Emitter(cumsum, why_not_numeric),
}
