"""Reductions and index ops: ReduceSum, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceSumSquare,
ReduceLogSumExp, ArgMax, ArgMin, CumSum, LogSoftmax, Hardmax (opsets 11 to 21, every attribute).

Axes: an attribute, or from ReduceSum opset 13 and the others opset 18 on a constant input; none
given reduces every axis, unless noop_with_empty_axes (then the op is the identity). ONNX axes
become IR axes through the value's layout (layout.ir_axis), as ops_math's ReduceMean does.

Compositions, each exactly the formula onnxruntime evaluates (float32 steps in the same order):
    ReduceL1(x)         = ReduceSum(Abs(x))
    ReduceL2(x)         = Sqrt(ReduceSum(x * x))
    ReduceSumSquare(x)  = ReduceSum(x * x)
    ReduceLogSumExp(x)  = Log(ReduceSum(Exp(x - m))) + m,     m = ReduceMax(x) (keepdims)
    LogSoftmax(x)       = (x - m) - Log(ReduceSum(Exp(x - m))) along the axis, m = ReduceMax(x)
                          (never Log(Softmax(x)): that gives -inf where exp underflows)
    Hardmax(x)          = Cast(ArgMax(x, keepdims) == iota along the axis): 1 at the first maximum
LogSoftmax and Hardmax before opset 13 work on the 2-D view (prod(shape[:axis]), prod(shape[axis:]))
along axis 1, like Softmax (ops_math.softmax).
"""
from __future__ import annotations

import numpy as np
import onnx

from ..ir import DType
from ..ir import ops as irops
from . import layout
from .context import Attrs, Const, Context, Unsupported, Val, Value
from .ops_math import binary

# the opset from which `axes` is an input instead of an attribute
_AXES_INPUT_FROM = {"ReduceSum": 13}


def _axes(ctx: Context, node: onnx.NodeProto) -> list[int] | None:
    """The sorted ONNX axes to reduce, or None for the identity (noop_with_empty_axes)."""
    ins = ctx.inputs(node)
    a = Attrs(node)
    r = ctx.rank(ins[0])
    if ctx.opset >= _AXES_INPUT_FROM.get(node.op_type, 18):
        axes_v = ins[1] if len(ins) > 1 else None
        axes = None if axes_v is None else tuple(int(v) for v in ctx.const(axes_v, "axes (input 1)").reshape(-1))
    else:
        axes = a.ints("axes")
    if not axes:
        if a.int("noop_with_empty_axes", 0):
            return None
        axes = tuple(range(r))
    return sorted({ctx.axis(ax, r, "reduction axis") for ax in axes})


def reduce_values(ctx: Context, op_cls, x: Val, onnx_axes: list[int], keep: bool, out: str | None,
                  suffix: str | None = None) -> Val:
    op = op_cls(tuple(sorted(layout.ir_axis(ax, x.perm) for ax in onnx_axes)), keep)
    perm = x.perm if keep else layout.drop_axes(x.perm, set(onnx_axes))
    return Val(ctx.emit(op, [x.name], out=out, suffix=suffix)[0], perm)


def _unary(ctx: Context, op, x: Val, suffix: str | None, out: str | None = None) -> Val:
    return Val(ctx.emit(op, [x.name], out=out, suffix=suffix)[0], x.perm)


def _need_float(ctx: Context, x: Val, node: onnx.NodeProto) -> None:
    if not ctx.dtype(x).is_float:
        raise Unsupported(f"{node.op_type} of a {ctx.dtype(x).value} tensor: qcomp computes it on float tensors")


def reduce_(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x = ctx.val(ctx.inputs(node)[0])
    axes = _axes(ctx, node)
    keep = bool(Attrs(node).int("keepdims", 1))
    kind = node.op_type
    if kind in ("ReduceL2", "ReduceLogSumExp", "ReduceL1", "ReduceSumSquare"):
        _need_float(ctx, x, node)
    if kind != "ReduceMin" and ctx.dtype(x) is DType.BOOL:
        raise Unsupported(f"{kind} of a bool tensor: ONNX defines it on numbers")
    if axes is None:   # the identity, after the elementwise step of the composed reductions
        if kind == "ReduceL1":
            return [_unary(ctx, irops.Abs(), x, None, ctx.out_name())]
        if kind in ("ReduceL2", "ReduceSumSquare"):
            sq = Val(ctx.emit(irops.Mul(), [x.name, x.name], out=None if kind == "ReduceL2" else ctx.out_name(),
                              suffix="square" if kind == "ReduceL2" else None)[0], x.perm)
            return [_unary(ctx, irops.Sqrt(), sq, None, ctx.out_name())] if kind == "ReduceL2" else [sq]
        return [x]
    out = ctx.out_name()
    simple = {"ReduceSum": irops.ReduceSum, "ReduceMin": irops.ReduceMin, "ReduceProd": irops.ReduceProd}
    if kind in simple:
        return [reduce_values(ctx, simple[kind], x, axes, keep, out)]
    if kind == "ReduceL1":
        return [reduce_values(ctx, irops.ReduceSum, _unary(ctx, irops.Abs(), x, "abs"), axes, keep, out)]
    if kind in ("ReduceL2", "ReduceSumSquare"):
        sq = Val(ctx.emit(irops.Mul(), [x.name, x.name], suffix="square")[0], x.perm)
        if kind == "ReduceSumSquare":
            return [reduce_values(ctx, irops.ReduceSum, sq, axes, keep, out)]
        s = reduce_values(ctx, irops.ReduceSum, sq, axes, keep, None, "sum")
        return [_unary(ctx, irops.Sqrt(), s, None, out)]
    # ReduceLogSumExp
    m = reduce_values(ctx, irops.ReduceMax, x, axes, True, None, "max")
    d = binary(ctx, irops.Sub(), x, m, None, "shift")
    s = reduce_values(ctx, irops.ReduceSum, _unary(ctx, irops.Exp(), d, "exp"), axes, keep, None, "sum")
    log = _unary(ctx, irops.Log(), s, "log")
    if not keep:
        m = reduce_values(ctx, irops.ReduceMax, x, axes, False, None, "max_flat")
    return [binary(ctx, irops.Add(), log, m, out)]


def arg_reduce(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x = ctx.val(ctx.inputs(node)[0])
    a = Attrs(node)
    r = ctx.rank(x)
    axis = ctx.axis(a.int("axis", 0), r)
    keep = bool(a.int("keepdims", 1))
    cls = irops.ArgMax if node.op_type == "ArgMax" else irops.ArgMin
    op = cls(layout.ir_axis(axis, x.perm), keep, bool(a.int("select_last_index", 0)))
    perm = x.perm if keep else layout.drop_axes(x.perm, {axis})
    return [Val(ctx.emit(op, [x.name], out=ctx.out_name())[0], perm)]


def cumsum(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node)
    x = ctx.val(ins[0])
    axis_arr = ctx.const(ins[1], "axis (input 1)")
    if axis_arr.size != 1:
        raise Unsupported(f"axis (input 1) must be a scalar, got shape {axis_arr.shape}")
    axis = ctx.axis(int(axis_arr.reshape(-1)[0]), ctx.rank(x))
    if ctx.dtype(x) is DType.BOOL:
        raise Unsupported("CumSum of a bool tensor: ONNX defines it on numbers")
    a = Attrs(node)
    op = irops.CumSum(layout.ir_axis(axis, x.perm), bool(a.int("exclusive", 0)), bool(a.int("reverse", 0)))
    return [Val(ctx.emit(op, [x.name], out=ctx.out_name())[0], x.perm)]


def _rows(ctx: Context, node: onnx.NodeProto) -> tuple[Val, int, tuple[int, ...] | None]:
    """(x, axis, shape to restore): the 2-D view of opsets before 13, else x itself."""
    x = ctx.val(ctx.inputs(node)[0])
    r = ctx.rank(x)
    axis = ctx.axis(Attrs(node).int("axis", -1 if ctx.opset >= 13 else 1), r)
    if ctx.opset >= 13 or axis == r - 1:
        return x, axis, None
    shape = ctx.shape(x)
    rows = (int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis:], dtype=np.int64)))
    return Val(ctx.reshaped(x, rows, suffix="to_2d"), layout.identity(2)), 1, shape


def _restore(ctx: Context, y: Val, shape: tuple[int, ...] | None, out: str) -> list[Value]:
    if shape is None:
        return [y]
    return [Val(ctx.emit(irops.Reshape(shape), [y.name], out=out, suffix="from_2d")[0], layout.identity(len(shape)))]


def log_softmax(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x, axis, shape = _rows(ctx, node)
    _need_float(ctx, x, node)
    out = ctx.out_name()
    m = reduce_values(ctx, irops.ReduceMax, x, [axis], True, None, "max")
    d = binary(ctx, irops.Sub(), x, m, None, "shift")
    s = reduce_values(ctx, irops.ReduceSum, _unary(ctx, irops.Exp(), d, "exp"), [axis], True, None, "sum")
    y = binary(ctx, irops.Sub(), d, _unary(ctx, irops.Log(), s, "log"), out if shape is None else None,
               None if shape is None else "log_softmax")
    return _restore(ctx, y, shape, out)


def hardmax(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x, axis, shape = _rows(ctx, node)
    out = ctx.out_name()
    dtype = ctx.dtype(x)
    idx = Val(ctx.emit(irops.ArgMax(layout.ir_axis(axis, x.perm), True, False), [x.name], suffix="argmax")[0], x.perm)
    n = ctx.shape(x)[axis]
    iota = np.arange(n, dtype=np.int64).reshape((n,) + (1,) * (ctx.rank(x) - 1 - axis))
    hit = binary(ctx, irops.Compare("eq"), idx, Const(iota, f"{ctx.node_name}/iota"), None, "is_max")
    y = Val(ctx.emit(irops.Cast(dtype), [hit.name], out=out if shape is None else None,
                     suffix=None if shape is None else "cast")[0], hit.perm)
    return _restore(ctx, y, shape, out)


CONVERTERS = {
    **{op: reduce_ for op in ("ReduceSum", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
                              "ReduceLogSumExp")},
    "ArgMax": arg_reduce, "ArgMin": arg_reduce, "CumSum": cumsum, "LogSoftmax": log_softmax, "Hardmax": hardmax,
}

__all__ = ["CONVERTERS", "reduce_values"]
