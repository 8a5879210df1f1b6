"""GatherElements, GatherND, ScatterElements and ScatterND whose indices are computed at run time
(token ids, positions from an ArgMax or TopK): the IR ops of qcomp/ir/ops_index.py, on every
operand in ONNX layout. (Constant indices take ops_gather.py's route: one Gather by a position map
computed at import.) The indices must be int32 or int64; a scatter's data and updates share one
element type."""
from __future__ import annotations

import onnx

from ..ir import ops_index
from . import layout
from .context import Attrs, Context, Unsupported, Val, Value


def _index(ctx: Context, node: onnx.NodeProto, idx: Value) -> str:
    if ctx.dtype(idx).value not in ("i32", "i64"):
        raise Unsupported(f"its indices are {ctx.dtype(idx).value}; ONNX defines them as int32 or int64")
    return ctx.plain(idx)


def _out(ctx: Context, op, inputs: list[str]) -> list[Value]:
    y = ctx.emit(op, inputs, out=ctx.out_name())[0]
    return [Val(y, layout.identity(len(ctx.graph.types[y].shape)))]


def gather_elements(ctx: Context, node: onnx.NodeProto, data: Value, idx: Value) -> list[Value]:
    axis = ctx.axis(Attrs(node).int("axis", 0), ctx.rank(data))
    return _out(ctx, ops_index.GatherElements(axis), [ctx.plain(data), _index(ctx, node, idx)])


def gather_nd(ctx: Context, node: onnx.NodeProto, data: Value, idx: Value) -> list[Value]:
    return _out(ctx, ops_index.GatherND(Attrs(node).int("batch_dims", 0)), [ctx.plain(data), _index(ctx, node, idx)])


def scatter(ctx: Context, node: onnx.NodeProto, data: Value, idx: Value, updates: Value) -> list[Value]:
    reduction = Attrs(node).str("reduction", "none")
    if node.op_type == "ScatterElements":
        op = ops_index.ScatterElements(ctx.axis(Attrs(node).int("axis", 0), ctx.rank(data)), reduction)
    else:
        op = ops_index.ScatterND(reduction)
    return _out(ctx, op, [ctx.plain(data), _index(ctx, node, idx), ctx.plain(updates)])
