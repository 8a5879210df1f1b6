"""Elementwise ops, matrix products, Softmax, LayerNormalization and reductions.

Layouts: unary ops pass the input's layout through. A binary op keeps the layout of its full-rank
non-ONNX-layout operand and brings the other operand to it (a constant is first given leading 1s
up to the output rank, `c' = c.reshape((1,)*(r - c.ndim) + c.shape)`, then transposed); when no
operand has such a layout everything stays in ONNX layout. Reductions, Softmax and LayerNorm remap
their axes: ONNX axis a is IR axis perm.index(a).

Gemm with a constant B is a Dense (y = x w^T + b over the last axis):
    Y = alpha * A' B' + beta * C   =>   w = alpha * B'^T (N, K),  b = beta * C   (C of shape N, 1xN or 1)
with A' = A^T if transA, B' = B^T if transB; other C shapes are an Add after the Dense. A MatMul
with a constant 2-D B is the Dense w = B^T, b = 0. Everything else is an IR MatMul (1-D operands
are given a unit axis, removed again after the product).

Exact rewrites: Pow(x, 2) = Mul(x, x), Pow(x, 0.5) = Sqrt(x), Pow(x, 1) = x; Neg(x) = Mul(x, -1);
Reciprocal(x) = Div(1, x); Sum = a chain of Add. Min, Max, Mod and the other math ops: ops_math_more.py.
"""
from __future__ import annotations

import numpy as np
import onnx

from ..ir import DType
from ..ir import ops as irops
from . import layout
from .context import Attrs, Const, Context, Unsupported, Val, Value


# ---- elementwise ----------------------------------------------------------------------------

def _unary(op_factory):
    def convert(ctx: Context, node: onnx.NodeProto) -> list[Value]:
        x = ctx.val(ctx.inputs(node)[0])
        if not ctx.dtype(x).is_float:
            raise Unsupported(f"input is {ctx.dtype(x).value}; {node.op_type} needs float")
        return [Val(ctx.emit(op_factory(Attrs(node)), [x.name], out=ctx.out_name())[0], x.perm)]
    return convert


def _operand(ctx: Context, v: Value, target: layout.Perm, dtype: DType) -> str:
    r = len(target)
    shape = ctx.shape(v)
    full = (1,) * (r - len(shape)) + shape
    if isinstance(v, Const):
        arr = v.array.astype(dtype.np, copy=False).reshape(full)
        return ctx.ir(Const(arr, v.name), target)
    if ctx.dtype(v) is not dtype:
        raise Unsupported(f"operands have different dtypes ({ctx.dtype(v).value} and {dtype.value})")
    if len(shape) < r:
        v = Val(ctx.reshaped(v, full, suffix="rank"), layout.identity(r))
    return ctx.ir(v, target)


def binary(ctx: Context, op: irops.Op, a: Value, b: Value, out: str | None, suffix: str | None = None) -> Val:
    """Emit `op(a, b)` with ONNX broadcasting; returns the result with its layout."""
    r = max(ctx.rank(a), ctx.rank(b))
    vals = [v for v in (a, b) if isinstance(v, Val)]
    target = next((v.perm for v in vals if len(v.perm) == r and not layout.is_identity(v.perm)),
                  layout.identity(r))
    dtype = ctx.dtype(vals[0])
    names = [_operand(ctx, v, target, dtype) for v in (a, b)]
    return Val(ctx.emit(op, names, out=out, suffix=suffix)[0], target)


def _binary(op_cls):
    def convert(ctx: Context, node: onnx.NodeProto) -> list[Value]:
        a, b = ctx.inputs(node)
        return [binary(ctx, op_cls(), a, b, ctx.out_name())]
    return convert


def pow_(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x, e = ctx.inputs(node)
    if isinstance(x, Val) and isinstance(e, Const) and e.array.size == 1:
        k = float(e.array.reshape(-1)[0])
        if k == 1.0 and e.array.ndim <= ctx.rank(x):
            return [x]
        if k == 2.0 and e.array.ndim <= ctx.rank(x):
            return [Val(ctx.emit(irops.Mul(), [x.name, x.name], out=ctx.out_name())[0], x.perm)]
        if k == 0.5 and e.array.ndim <= ctx.rank(x):
            return [Val(ctx.emit(irops.Sqrt(), [x.name], out=ctx.out_name())[0], x.perm)]
    return [binary(ctx, irops.Pow(), x, e, ctx.out_name())]


def neg(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x = ctx.inputs(node)[0]
    minus = Const(np.array(-1, dtype=ctx.dtype(x).np), f"{ctx.node_name}/minus_one")
    return [binary(ctx, irops.Mul(), x, minus, ctx.out_name())]


def reciprocal(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x = ctx.inputs(node)[0]
    one = Const(np.array(1, dtype=ctx.dtype(x).np), f"{ctx.node_name}/one")
    return [binary(ctx, irops.Div(), one, x, ctx.out_name())]


def sum_(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node)
    acc = ins[0]
    for k, v in enumerate(ins[1:], start=1):
        last = k == len(ins) - 1
        acc = binary(ctx, irops.Add(), acc, v, ctx.out_name() if last else None, None if last else f"add{k}")
    return [acc]


def prelu(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x, slope = ctx.inputs(node)
    if ctx.rank(slope) > ctx.rank(x):
        raise Unsupported(f"slope {ctx.shape(slope)} has a higher rank than the input {ctx.shape(x)}")
    return [binary(ctx, irops.PRelu(), x, slope, ctx.out_name())]


def _scalar(ctx: Context, v: Value | None, what: str) -> float | None:
    if v is None:
        return None
    arr = ctx.const(v, what)
    if arr.size != 1:
        raise Unsupported(f"{what} must be a scalar, got shape {arr.shape}")
    return float(arr.reshape(-1)[0])


def clip(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x, *bounds = ctx.inputs(node)
    bounds = bounds + [None] * (2 - len(bounds))   # opset >= 11: bounds are optional inputs
    lo, hi = _scalar(ctx, bounds[0], "min (input 1)"), _scalar(ctx, bounds[1], "max (input 2)")
    return _clip(ctx, x, lo, hi)


def _clip(ctx: Context, x: Value, lo: float | None, hi: float | None) -> list[Value]:
    if not isinstance(x, Val) or not ctx.dtype(x).is_float:
        raise Unsupported("Clip of a non-float or constant input")
    op = irops.Relu() if lo == 0.0 and hi is None else irops.Clip(lo, hi)
    return [Val(ctx.emit(op, [x.name], out=ctx.out_name())[0], x.perm)]


def check_gelu(node: onnx.NodeProto, opset: int) -> list[str]:
    mode = Attrs(node).str("approximate", "none")
    return [] if mode in ("none", "tanh") else [f"approximate {mode!r} is not one of 'none', 'tanh'"]


UNARY = {
    "Relu": _unary(lambda a: irops.Relu()),
    "Sigmoid": _unary(lambda a: irops.Sigmoid()),
    "Tanh": _unary(lambda a: irops.Tanh()),
    "Erf": _unary(lambda a: irops.Erf()),
    "Sqrt": _unary(lambda a: irops.Sqrt()),
    "Exp": _unary(lambda a: irops.Exp()),
    "HardSwish": _unary(lambda a: irops.HardSwish()),
    "LeakyRelu": _unary(lambda a: irops.LeakyRelu(a.float("alpha", 0.01))),
    "HardSigmoid": _unary(lambda a: irops.HardSigmoid(a.float("alpha", 0.2), a.float("beta", 0.5))),
    "Gelu": _unary(lambda a: irops.Gelu(a.str("approximate", "none"))),
}


# ---- matrix products ------------------------------------------------------------------------

def dense(ctx: Context, x: Value, w: np.ndarray, b: np.ndarray, out: str | None, wname: str,
          bname: str | None = None) -> Val:
    """Dense over the last ONNX axis of x (rank >= 1); keeps x's layout when its last axis stays last."""
    x = ctx.val(x)
    r = ctx.rank(x)
    bname = bname or f"{wname}_bias"
    if r == 1:
        xin = ctx.reshaped(x, (1,) + ctx.shape(x), suffix="to_2d")
        y = ctx.emit(irops.Dense(), [xin, ctx.constant(w, wname), ctx.constant(b, bname)], suffix="dense")[0]
        return Val(ctx.emit(irops.Reshape((w.shape[0],)), [y], out=out, suffix="to_1d")[0], (0,))
    perm = x.perm if x.perm[-1] == r - 1 else layout.identity(r)
    names = [ctx.ir(x, perm), ctx.constant(w, wname), ctx.constant(b, bname)]
    return Val(ctx.emit(irops.Dense(), names, out=out)[0], perm)


def _transposed(ctx: Context, v: Value) -> Value:
    """The ONNX value v^T of a rank-2 value, as a layout change (no node yet)."""
    if isinstance(v, Const):
        return Const(v.array.T, v.name + "_T")
    return Val(v.name, tuple((1, 0)[p] for p in v.perm))


def matmul_values(ctx: Context, a: Value, b: Value, out: str | None, suffix: str | None = None) -> Val:
    ra, rb = ctx.rank(a), ctx.rank(b)
    if ra == 0 or rb == 0:
        raise Unsupported(f"MatMul of shapes {ctx.shape(a)} and {ctx.shape(b)}: both need rank 1 or more")
    ka, kb = ctx.shape(a)[-1], ctx.shape(b)[-2 if rb > 1 else 0]
    if ka != kb:
        raise Unsupported(f"MatMul of shapes {ctx.shape(a)} and {ctx.shape(b)}: inner dimensions {ka} and {kb} differ")
    if isinstance(b, Const) and isinstance(a, Val) and b.array.ndim <= 2 and ctx.dtype(a) is DType.FLOAT32:
        w = b.array.astype(np.float32)
        if w.ndim == 2:
            return dense(ctx, a, np.ascontiguousarray(w.T), np.zeros(w.shape[1], np.float32), out, b.name)
        y = dense(ctx, a, w.reshape(1, -1), np.zeros(1, np.float32), None, b.name)
        shape = ctx.shape(y)[:-1]
        return Val(ctx.reshaped(y, shape, suffix="drop_k", out=out), layout.identity(len(shape)))
    an = ctx.reshaped(a, (1,) + ctx.shape(a), "to_2d") if ra == 1 else ctx.plain(a)
    bn = ctx.reshaped(b, ctx.shape(b) + (1,), "to_2d") if rb == 1 else ctx.plain(b)
    if ra > 1 and rb > 1:
        y = ctx.emit(irops.MatMul(), [an, bn], out=out, suffix=suffix)[0]
        return Val(y, layout.identity(len(ctx.graph.types[y].shape)))
    y = ctx.emit(irops.MatMul(), [an, bn], suffix="matmul")[0]
    shape = ctx.graph.types[y].shape
    shape = shape[:-2] + shape[-1:] if ra == 1 else shape
    shape = shape[:-1] if rb == 1 else shape
    return Val(ctx.emit(irops.Reshape(shape), [y], out=out, suffix="squeeze")[0], layout.identity(len(shape)))


def matmul(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    a, b = ctx.inputs(node)
    return [matmul_values(ctx, a, b, ctx.out_name())]


def _is_bias(c: np.ndarray, n: int) -> bool:
    return c.ndim <= 2 and (c.size == 1 or c.shape in ((n,), (1, n)))


def gemm(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    at = Attrs(node)
    ins = ctx.inputs(node)
    a, b, c = ins[0], ins[1], ins[2] if len(ins) > 2 else None
    alpha, beta = at.float("alpha", 1.0), at.float("beta", 1.0)
    if ctx.rank(a) != 2 or ctx.rank(b) != 2:
        raise Unsupported(f"Gemm operands must be 2-D, got {ctx.shape(a)} and {ctx.shape(b)}")
    a = _transposed(ctx, a) if at.int("transA", 0) else a
    b = _transposed(ctx, b) if at.int("transB", 0) else b
    n = ctx.shape(b)[1]
    out = ctx.out_name()
    c_arr = (c.array.astype(np.float32) * np.float32(beta)) if isinstance(c, Const) else None
    if isinstance(b, Const) and isinstance(a, Val):
        w = np.ascontiguousarray((np.float32(alpha) * b.array.astype(np.float32)).T)
        name = b.name.removesuffix("_T")
        if c is None:
            return [dense(ctx, a, w, np.zeros(n, np.float32), out, name)]
        if c_arr is not None and _is_bias(c_arr, n):
            return [dense(ctx, a, w, np.broadcast_to(c_arr.reshape(-1), (n,)).copy(), out, name, c.name)]
        y = dense(ctx, a, w, np.zeros(n, np.float32), None, name)
    else:
        last = alpha == 1.0 and c is None
        y = matmul_values(ctx, a, b, out if last else None, None if last else "matmul")
        if alpha != 1.0:
            scale = Const(np.array(alpha, np.float32), f"{ctx.node_name}/alpha")
            y = binary(ctx, irops.Mul(), y, scale, out if c is None else None, None if c is None else "alpha")
        if c is None:
            return [y]
    if c_arr is not None:
        cv: Value = Const(c_arr, c.name)
    elif beta == 1.0:
        cv = c
    else:
        cv = binary(ctx, irops.Mul(), c, Const(np.array(beta, np.float32), f"{ctx.node_name}/beta"), None, "beta")
    return [binary(ctx, irops.Add(), y, cv, out)]


# ---- normalization, softmax, reductions ----------------------------------------------------

def softmax(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x = ctx.val(ctx.inputs(node)[0])
    r = ctx.rank(x)
    axis = ctx.axis(Attrs(node).int("axis", -1 if ctx.opset >= 13 else 1), r)
    if ctx.opset >= 13 or axis == r - 1:
        op = irops.Softmax(layout.ir_axis(axis, x.perm))
        return [Val(ctx.emit(op, [x.name], out=ctx.out_name())[0], x.perm)]
    # opset < 13: softmax of the 2-D view (prod(shape[:axis]), prod(shape[axis:])) along axis 1
    shape = ctx.shape(x)
    flat = ctx.reshaped(x, (int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis:], dtype=np.int64))),
                        suffix="to_2d")
    y = ctx.emit(irops.Softmax(1), [flat], suffix="softmax")[0]
    return [Val(ctx.emit(irops.Reshape(shape), [y], out=ctx.out_name(), suffix="from_2d")[0], layout.identity(r))]


def check_layer_norm(node: onnx.NodeProto, opset: int) -> list[str]:
    if any(node.output[1:]):
        return ["only output 0 of LayerNormalization is supported (Mean and InvStdDev are not)"]
    return []


def layer_norm(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node)
    x, scale, bias = ctx.val(ins[0]), ins[1], ins[2] if len(ins) > 2 else None
    r = ctx.rank(x)
    axis = ctx.axis(Attrs(node).int("axis", -1), r)
    perm = x.perm if all(x.perm[i] == i for i in range(axis, r)) else layout.identity(r)
    if bias is None:
        bias = Const(np.zeros(ctx.shape(scale), ctx.dtype(scale).np), f"{ctx.node_name}/zero_bias")
    op = irops.LayerNorm(axis, Attrs(node).float("epsilon", 1e-5))
    names = [ctx.ir(x, perm), ctx.plain(scale), ctx.plain(bias)]
    return [Val(ctx.emit(op, names, out=ctx.out_name())[0], perm)]


def _reduce(op_cls):
    def convert(ctx: Context, node: onnx.NodeProto) -> list[Value]:
        ins = ctx.inputs(node)
        a = Attrs(node)
        r = ctx.rank(ins[0])
        if ctx.opset >= 18:  # axes moved from attribute to input
            axes_v = ins[1] if len(ins) > 1 else None
            axes = None if axes_v is None else tuple(int(v) for v in ctx.const(axes_v, "axes (input 1)").reshape(-1))
        else:
            axes = a.ints("axes")
        if not axes:
            if a.int("noop_with_empty_axes", 0):
                return [ctx.val(ins[0])]
            axes = tuple(range(r))
        onnx_axes = sorted({ctx.axis(ax, r, "reduction axis") for ax in axes})
        x = ctx.val(ins[0])
        keep = bool(a.int("keepdims", 1))
        op = op_cls(tuple(sorted(layout.ir_axis(ax, x.perm) for ax in onnx_axes)), keep)
        perm = x.perm if keep else layout.drop_axes(x.perm, set(onnx_axes))
        return [Val(ctx.emit(op, [x.name], out=ctx.out_name())[0], perm)]
    return convert


CONVERTERS = {
    **UNARY,
    "Add": _binary(irops.Add), "Sub": _binary(irops.Sub), "Mul": _binary(irops.Mul),
    "Div": _binary(irops.Div), "Pow": pow_, "PRelu": prelu, "Clip": clip, "Neg": neg, "Reciprocal": reciprocal, "Sum": sum_,
    "MatMul": matmul, "Gemm": gemm, "Softmax": softmax, "LayerNormalization": layer_norm,
    "ReduceMean": _reduce(irops.ReduceMean), "ReduceMax": _reduce(irops.ReduceMax),
}
CHECKS = {"Gelu": check_gelu, "LayerNormalization": check_layer_norm}
