"""C emitters of the integer forms of the comparison, selection and index ops
(qcomp/passes/quantize_logic.py states why each is exact; the kernels are in qcomp_kernels_elem.c):

    Compare   int8 codes sharing quant params, or a code against a threshold code: the integer
              comparison (mode 0 eq, 1 gt, 2 ge, 3 lt, 4 le); bool out, one byte 0 / 1
    Where     bool cond, int8 x and y already at the output's params: a byte select
    Not, Logical
              on bools: xor 1, and, or, xor (bools are exact in any backend)
    ArgMax, ArgMin
              the int64 index of the first (select_last_index: last) extreme int8 code
All broadcast with per-operand strides (stride 0 on broadcast axes) over the output's shape.
"""
from __future__ import annotations

from ...ir import DType, Node, ops
from ...protocol import Emitter
from .emit_compute import _reduce_arrays, why_not_int8
from .program import Call, Ctx, contiguous_strides

_MODES = {"eq": 0, "gt": 1, "ge": 2, "lt": 3, "le": 4}


def _strides(ctx: Ctx, v: str, out: tuple[int, ...]) -> list[int]:
    s = (1,) * (len(out) - len(ctx.shape(v))) + tuple(ctx.shape(v))
    return [0 if d == 1 and o != 1 else st for d, o, st in zip(s, out, contiguous_strides(s))] or [0]


def compare(node: Node, ctx: Ctx) -> None:
    out = tuple(ctx.shape(node.outputs[0]))
    a, b = node.inputs
    arrays = (ctx.array(node, "shape", list(out) or [1]), ctx.array(node, "a_strides", _strides(ctx, a, out)),
              ctx.array(node, "b_strides", _strides(ctx, b, out)))
    args = (ctx.ptr(a, True), ctx.ptr(b, True), ctx.ptr(node.outputs[0], False), str(max(len(out), 1)),
            *(x.name for x in arrays), str(_MODES[node.op.mode]))
    ctx.calls += [Call(ctx.comment(node), "qcomp_compare_int8", args, arrays=arrays)]


def logical(node: Node, ctx: Ctx) -> None:
    out = tuple(ctx.shape(node.outputs[0]))
    a = node.inputs[0]
    b = node.inputs[1] if len(node.inputs) > 1 else a
    arrays = (ctx.array(node, "shape", list(out) or [1]), ctx.array(node, "a_strides", _strides(ctx, a, out)),
              ctx.array(node, "b_strides", _strides(ctx, b, out)))
    mode = 0 if isinstance(node.op, ops.Not) else {"and": 1, "or": 2, "xor": 3}[node.op.mode]
    args = (ctx.ptr(a, True), ctx.ptr(b, True), ctx.ptr(node.outputs[0], False), str(max(len(out), 1)),
            *(x.name for x in arrays), str(mode))
    ctx.calls += [Call(ctx.comment(node), "qcomp_logical_bool", args, arrays=arrays)]


def where(node: Node, ctx: Ctx) -> None:
    out = tuple(ctx.shape(node.outputs[0]))
    c, x, y = node.inputs
    arrays = (ctx.array(node, "shape", list(out) or [1]), ctx.array(node, "c_strides", _strides(ctx, c, out)),
              ctx.array(node, "x_strides", _strides(ctx, x, out)), ctx.array(node, "y_strides", _strides(ctx, y, out)))
    args = (ctx.ptr(c, True), ctx.ptr(x, True), ctx.ptr(y, True), ctx.ptr(node.outputs[0], False),
            str(max(len(out), 1)), *(a.name for a in arrays))
    ctx.calls += [Call(ctx.comment(node), "qcomp_where_int8", args, arrays=arrays)]


def arg_extreme(node: Node, ctx: Ctx) -> None:
    op = node.op
    os_, ost, is_, ist, orank, _ = _reduce_arrays(ctx, node, (op.axis,))
    args = (ctx.ptr(node.inputs[0], True), ctx.ptr(node.outputs[0], False), str(orank), os_.name, ost.name,
            str(ctx.shape(node.inputs[0])[op.axis]), str(contiguous_strides(ctx.shape(node.inputs[0]))[op.axis]),
            "1" if isinstance(op, ops.ArgMax) else "0", "1" if op.select_last_index else "0")
    ctx.calls += [Call(ctx.comment(node), "qcomp_arg_extreme_int8", args, arrays=(os_, ost))]


def why_not_where(node: Node, graph) -> str | None:
    """A bool condition and int8 x and y."""
    if graph.types[node.inputs[0]].dtype is not DType.BOOL:
        return "the condition is not bool"
    bad = [v for v in node.inputs[1:] if graph.types[v].dtype is not DType.INT8]
    return f"operand(s) {', '.join(map(repr, bad))} are not int8 (the C backend selects int8 values)" if bad else None


TABLE = {ops.Compare: Emitter(compare, why_not_int8), ops.Where: Emitter(where, why_not_where),
         ops.ArgMax: Emitter(arg_extreme, why_not_int8), ops.ArgMin: Emitter(arg_extreme, why_not_int8),
         ops.Not: logical, ops.Logical: logical}
