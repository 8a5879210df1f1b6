"""InstanceNormalization and GroupNormalization as LayerNorm over a reshaped view, then the
per-channel affine step (opsets 11 to 21).

    InstanceNormalization(x[N, C, S...], scale[C], bias[C]):
        y = LayerNorm(x, axis 2, scale 1, bias 0) * scale[c] + bias[c]
    GroupNormalization(x[N, C, S...], scale, bias, num_groups G):
        v = Reshape(x, (N, G, C/G * prod(S)));  z = Reshape(LayerNorm(v, axis 2, 1, 0), x.shape)
        y = z * scale[c] + bias[c]
        (opset 18: scale and bias have one entry per group, repeated over its C/G channels;
         opset 21: one per channel)
LayerNorm normalizes by the biased variance of its trailing axes, the statistics both ops define
(float64 in the reference, as qcomp/ref/float_norm.py). scale and bias must be constants.
"""
from __future__ import annotations

import numpy as np
import onnx

from ..ir import ops as irops
from . import layout
from .context import Attrs, Const, Context, Unsupported, Val, Value
from .ops_math import binary


def _normalized(ctx: Context, x: Val, view: tuple[int, ...], eps: float, suffix: str) -> Val:
    """LayerNorm over axes [2, rank) of x's ONNX data reshaped to `view` (2-D scale 1, bias 0)."""
    src = ctx.reshaped(x, view, suffix=f"{suffix}_view") if view != ctx.shape(x) else ctx.plain(x)
    norm = view[2:]
    ones = ctx.constant(np.ones(norm, np.float32), f"{ctx.node_name}/ones")
    zeros = ctx.constant(np.zeros(norm, np.float32), f"{ctx.node_name}/zeros")
    y = ctx.emit(irops.LayerNorm(2, eps), [src, ones, zeros], suffix=suffix)[0]
    if view != ctx.shape(x):
        y = ctx.emit(irops.Reshape(ctx.shape(x)), [y], suffix=f"{suffix}_back")[0]
    return Val(y, layout.identity(len(ctx.shape(x))))


def _affine(ctx: Context, z: Val, scale: np.ndarray, bias: np.ndarray, names: tuple[str, str]) -> list[Value]:
    r = ctx.rank(z)
    per_channel = (-1,) + (1,) * (r - 2)
    y = binary(ctx, irops.Mul(), z, Const(scale.astype(np.float32).reshape(per_channel), names[0]), None, "scale")
    return [binary(ctx, irops.Add(), y, Const(bias.astype(np.float32).reshape(per_channel), names[1]),
                   ctx.out_name())]


def _common(ctx: Context, node: onnx.NodeProto) -> tuple[Val, np.ndarray, np.ndarray]:
    x, scale, bias = ctx.inputs(node)
    x = ctx.val(x)
    if not ctx.dtype(x).is_float:
        raise Unsupported(f"{node.op_type} of a {ctx.dtype(x).value} tensor: it needs float")
    if ctx.rank(x) < 3:
        raise Unsupported(f"{node.op_type} needs an input of rank 3 or more (N, C, D...), got {ctx.shape(x)}")
    return x, ctx.const(scale, "scale (input 1)"), ctx.const(bias, "bias (input 2)")


def instance_norm(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x, scale, bias = _common(ctx, node)
    c = ctx.shape(x)[1]
    if scale.shape != (c,) or bias.shape != (c,):
        raise Unsupported(f"scale {scale.shape} and bias {bias.shape} must have shape ({c},)")
    z = _normalized(ctx, x, ctx.shape(x), Attrs(node).float("epsilon", 1e-5), "normalize")
    return _affine(ctx, z, scale, bias, (ctx.inputs(node)[1].name, ctx.inputs(node)[2].name))


def group_norm(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x, scale, bias = _common(ctx, node)
    a = Attrs(node)
    shape = ctx.shape(x)
    n, c = shape[0], shape[1]
    groups = a.int("num_groups", 0)
    if groups <= 0 or c % groups:
        raise Unsupported(f"num_groups={groups} does not divide the {c} channels")
    want = (c,) if ctx.opset >= 21 else (groups,)
    if scale.shape != want or bias.shape != want:
        raise Unsupported(f"scale {scale.shape} and bias {bias.shape} must have shape {want} at opset {ctx.opset}")
    if ctx.opset < 21:
        scale, bias = np.repeat(scale, c // groups), np.repeat(bias, c // groups)
    view = (n, groups, int(np.prod(shape[1:], dtype=np.int64)) // groups)
    z = _normalized(ctx, x, view, a.float("epsilon", 1e-5), "normalize")
    return _affine(ctx, z, scale, bias, (f"{ctx.node_name}/scale", f"{ctx.node_name}/bias"))


CONVERTERS = {"InstanceNormalization": instance_norm, "GroupNormalization": group_norm}
