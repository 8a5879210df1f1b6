"""Comparison and logic ops: Equal, Greater, GreaterOrEqual, Less, LessOrEqual, Not, And, Or, Xor,
Where, IsNaN, IsInf (opsets 11 to 21).

Every result is a bool tensor (IR DType.BOOL) and stays one: consumers read it as bool, a model
output of bool dtype comes back as bool. Binary ops broadcast as ONNX does and keep the layout
of their operands (ops_math.binary); a constant operand takes the run-time operand's dtype.
Where brings its three operands to ONNX layout at the output's rank, then selects.
A node whose inputs are all constants never gets here: the importer folds it (fold.py).
"""
from __future__ import annotations

import onnx

from ..ir import DType
from ..ir import ops as irops
from . import layout
from .context import Attrs, Const, Context, Unsupported, Val, Value
from .ops_math import binary

_COMPARE = {"Equal": "eq", "Greater": "gt", "GreaterOrEqual": "ge", "Less": "lt", "LessOrEqual": "le"}
_LOGICAL = {"And": "and", "Or": "or", "Xor": "xor"}


def compare(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    a, b = ctx.inputs(node)
    return [binary(ctx, irops.Compare(_COMPARE[node.op_type]), a, b, ctx.out_name())]


def logical(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    a, b = ctx.inputs(node)
    for v in (a, b):
        if ctx.dtype(v) is not DType.BOOL:
            raise Unsupported(f"{node.op_type} takes bool operands, got {ctx.dtype(v).value}")
    return [binary(ctx, irops.Logical(_LOGICAL[node.op_type]), a, b, ctx.out_name())]


def _unary_bool(op_factory, want_float: bool):
    def convert(ctx: Context, node: onnx.NodeProto) -> list[Value]:
        x = ctx.val(ctx.inputs(node)[0])
        dtype = ctx.dtype(x)
        if want_float and not dtype.is_float:
            raise Unsupported(f"{node.op_type} takes a float input, got {dtype.value}")
        if not want_float and dtype is not DType.BOOL:
            raise Unsupported(f"{node.op_type} takes a bool input, got {dtype.value}")
        return [Val(ctx.emit(op_factory(Attrs(node)), [x.name], out=ctx.out_name())[0], x.perm)]
    return convert


def where(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    cond, x, y = ctx.inputs(node)
    if ctx.dtype(cond) is not DType.BOOL:
        raise Unsupported(f"the condition (input 0) is {ctx.dtype(cond).value}; ONNX defines it as bool")
    vals = [v for v in (x, y) if isinstance(v, Val)]
    dtype = ctx.dtype(vals[0] if vals else x)
    r = max(ctx.rank(v) for v in (cond, x, y))
    names = []
    for v, dt in ((cond, DType.BOOL), (x, dtype), (y, dtype)):
        full = (1,) * (r - ctx.rank(v)) + ctx.shape(v)
        if isinstance(v, Const):
            names.append(ctx.constant(v.array.astype(dt.np).reshape(full), v.name))
            continue
        if ctx.dtype(v) is not dt:
            raise Unsupported(f"x and y have different dtypes ({ctx.dtype(x).value} and {ctx.dtype(y).value})")
        names.append(ctx.reshaped(v, full, suffix="rank"))
    return [Val(ctx.emit(irops.Where(), names, out=ctx.out_name())[0], layout.identity(r))]


def _is_inf(a: Attrs) -> irops.IsInf:
    return irops.IsInf(bool(a.int("detect_positive", 1)), bool(a.int("detect_negative", 1)))


CONVERTERS = {
    **{op: compare for op in _COMPARE},
    **{op: logical for op in _LOGICAL},
    "Not": _unary_bool(lambda a: irops.Not(), want_float=False),
    "IsNaN": _unary_bool(lambda a: irops.IsNaN(), want_float=True),
    "IsInf": _unary_bool(_is_inf, want_float=True),
    "Where": where,
}

__all__ = ["CONVERTERS"]
