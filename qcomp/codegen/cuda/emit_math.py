"""Emitters of the ONNX math ops (math.cu.j2; the reference is qcomp/ref/float_math.py).

Unary (Elu ... Shrink): float32 in and out, transcendentals in double and rounded once, as the
reference; they appear in float-fallback regions only (an int8 instance is a Lut). Min and Max:
float32, int32, int64, or int8 whose operands share the output's quant params (the quantizer
requantizes them: bit-exact). Mod: float32 fmodf (exact), int32 / int64 with the ONNX fmod modes.
"""
from __future__ import annotations

import numpy as np

from ...ir import DType, Node, ops
from ...protocol import Emitter
from .context import BLOCK, Context, ctype_of, grid_1d
from .emit_elementwise import _broadcast_strides, _float_literal
from .emit_float import why_not_float

UNARY = (ops.Elu, ops.Selu, ops.Celu, ops.Softplus, ops.Softsign, ops.Mish, ops.Log, ops.Abs, ops.Floor, ops.Ceil,
         ops.Round, ops.Sign, ops.Sin, ops.Cos, ops.ThresholdedRelu, ops.Shrink)


def unary(node: Node, ctx: Context) -> None:
    op = node.op
    total = ctx.graph.types[node.outputs[0]].size
    params = {}
    if isinstance(op, (ops.Elu, ops.Selu, ops.Celu)):
        params = {"alpha": repr(float(op.alpha)), "gamma": repr(float(getattr(op, "gamma", 1.0)))}
    elif isinstance(op, ops.ThresholdedRelu):
        params = {"alpha": _float_literal(op.alpha)}
    elif isinstance(op, ops.Shrink):
        params = {"lambd": _float_literal(op.lambd), "bias": _float_literal(op.bias)}
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("math.cu.j2").render(kind="unary", name=name, node=ctx.comment(node), op=op.kind,
                                                    total=total, **params)
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1), [ctx.value(node.inputs[0]), ctx.value(node.outputs[0])])


def why_not_binary(node: Node, graph) -> str | None:
    """Min / Max: float32, int8, int32, int64; Mod: float32, int32, int64."""
    dtype = graph.types[node.inputs[0]].dtype
    allowed = (DType.FLOAT32, DType.INT32, DType.INT64) + ((DType.INT8,) if not isinstance(node.op, ops.Mod) else ())
    if dtype not in allowed:
        return f"the cuda backend runs {node.kind} on {', '.join(d.value for d in allowed)} operands, not {dtype.value}"
    return None


def binary(node: Node, ctx: Context) -> None:
    g = ctx.graph
    out = g.types[node.outputs[0]].shape
    total = int(np.prod(out))
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("math.cu.j2").render(
        kind="binary", name=name, node=ctx.comment(node), op=node.op.kind, total=total,
        ctype=ctype_of(g.types[node.inputs[0]].dtype), fmod=bool(getattr(node.op, "fmod", 0)), dims=list(out) or [1],
        a_strides=_broadcast_strides(g.types[node.inputs[0]].shape, out) or [0],
        b_strides=_broadcast_strides(g.types[node.inputs[1]].shape, out) or [0])
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1),
            [ctx.value(node.inputs[0]), ctx.value(node.inputs[1]), ctx.value(node.outputs[0])])


EMITTERS = {**{cls: Emitter(unary, why_not_float) for cls in UNARY},
            **{cls: Emitter(binary, why_not_binary) for cls in (ops.Min, ops.Max, ops.Mod)}}
