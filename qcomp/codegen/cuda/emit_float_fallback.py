"""Emitters of the float32 ops of float-fallback regions (between a Dequantize and a Quantize: a node
kept in float with `--skip`, a LogSoftmax, an op with no integer form): templates/float_fallback.cu.j2.

Each kernel follows the float reference (qcomp/ref/float_elementwise.py, float_pool.py,
float_norm.py) operation by operation, as the llvm backend's float kernels do
(qcomp/codegen/llvm/kernels_fallback.py), every float32 operation an explicit __fadd_rn /
__fmul_rn / __fdiv_rn (nvcc contracts a * b + c into an fma otherwise; the emulation compiles with
-ffp-contract=off):

  Relu        x < 0 ? 0 : x                      Clip        min(max(x, lo), hi) (bounds as float32)
  LeakyRelu   x >= 0 ? x : x * alpha             HardSigmoid min(max(x * alpha + beta, 0), 1)
  HardSwish   x * min(max(x * (1/6) + 0.5, 0), 1)
  Sqrt        sqrtf (IEEE)                       PRelu       x >= 0 ? x : x * slope (broadcast slope)
  BatchNorm   x * a[c] + k[c]; a = scale / sqrt(var + eps), k = bias - mean * a in float64 at build
              time, rounded once (as the reference folds them)
  AvgPool2D   acc = 0; acc += x over the taps inside the input in (kh, kw) order; y = acc / count
  MaxPool2D   max over the taps inside the input (padding never wins; an all-padding window: -inf)
  ReduceMean  sequential float32 sum in C order of the reduced elements, / float32(count)
  ReduceMax   sequential maximum (a NaN wins, as numpy.max)
  Dequantize  per channel (the int8 weights of `--quant weight`, a --skip'ped layer's weights):
              (q - zero_point[c]) * scale[c] in float32, c the channel along the quant axis
              (a per-tensor Dequantize: emit_elementwise.dequantize)
These give the reference's float32 values exactly where its order of operations is the same (the
ones above; a ReduceMean over a reduced last axis of more than 8 elements: numpy sums pairwise,
which differs in the last bits).

Transcendentals call the CUDA math library (libm under --emulate), whose results may differ from
numpy's by a few ulp; the Quantize that ends the region absorbs that (at most 1 LSB,
ARCHITECTURE.md section 3):

  Exp expf(x)   Tanh tanhf(x)   Pow powf(a, b)   Erf (float)erf((double)x)
  Sigmoid     e = expf(-|x|);  x >= 0 ? 1 / (1 + e) : e / (1 + e)
  Gelu        in float64, rounded once: "none": 0.5 x (1 + erf(x / sqrt 2));
              "tanh": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))

MaxPool2D and ReduceMax also take int8 / int16 (selections keeping their input's quant params):
those run the integer kernels of emit_elementwise.py unchanged.
Float Conv2D, Dense and MatMul: emit_float_products.py.
"""
from __future__ import annotations

import math

import numpy as np

from ...ir import DType, Node, ops
from ...protocol import Emitter
from . import emit_elementwise
from .context import BLOCK, Arg, Context, ctype_of, grid_1d
from .emit_dynamic import _float
from .emit_elementwise import _broadcast_strides, _float_literal, _strides
from .emit_float import why_not_float

UNARY = (ops.Relu, ops.Clip, ops.LeakyRelu, ops.HardSigmoid, ops.HardSwish, ops.Sqrt, ops.Exp, ops.Tanh,
         ops.Sigmoid, ops.Erf, ops.Gelu)
GELU_MODES = ("none", "tanh")


def why_not_unary(node: Node, graph) -> str | None:
    """Float32 operands and results (Gelu: approximate none or tanh)."""
    if isinstance(node.op, ops.Gelu) and node.op.approximate not in GELU_MODES:
        return f"Gelu approximate={node.op.approximate!r} is not supported (none, tanh)"
    return why_not_float(node, graph)


def why_not_batch_norm(node: Node, graph) -> str | None:
    """Float32, constant scale, bias, mean and var."""
    if any(v not in graph.constants for v in node.inputs[1:]):
        return "BatchNorm's scale, bias, mean and var must be constants"
    return why_not_float(node, graph)


def why_not_selection(node: Node, graph) -> str | None:
    """Int8, int16 (the integer kernels) or float32."""
    if graph.types[node.inputs[0]].dtype is DType.FLOAT32:
        return why_not_float(node, graph)
    if graph.types[node.inputs[0]].dtype not in (DType.INT8, DType.INT16):
        return f"the cuda backend runs {node.kind} on int8, int16 and float32 only"
    return None


def why_not_dequantize(node: Node, graph) -> str | None:
    """Int8 or int16 -> float32, per tensor or per channel."""
    x = graph.types[node.inputs[0]]
    if x.dtype not in (DType.INT8, DType.INT16) or x.quant is None:
        return "it is not an int8 or int16 -> float32 Dequantize"
    return None


def _render(ctx: Context, node: Node, total: int, args, **params) -> None:
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("float_fallback.cu.j2").render(name=name, node=ctx.comment(node), total=total,
                                                              **params)
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1), args)


def unary(node: Node, ctx: Context) -> None:
    op = node.op
    params = dict(approximate=getattr(op, "approximate", ""))
    if isinstance(op, ops.Clip):
        params |= dict(lo=_float(op.min), hi=_float(op.max))
    elif isinstance(op, ops.LeakyRelu):
        params |= dict(alpha=_float_literal(op.alpha))
    elif isinstance(op, ops.HardSigmoid):
        params |= dict(alpha=_float_literal(op.alpha), beta=_float_literal(op.beta))
    elif isinstance(op, ops.HardSwish):
        params |= dict(sixth=_float_literal(1.0 / 6.0))
    elif isinstance(op, ops.Gelu):
        params |= dict(sqrt2=repr(math.sqrt(2.0)), sqrt_2_over_pi=repr(math.sqrt(2.0 / math.pi)))
    total = ctx.graph.types[node.outputs[0]].size
    _render(ctx, node, total, [ctx.value(node.inputs[0]), ctx.value(node.outputs[0])], kind="unary", op=op.kind,
            **params)


def binary(node: Node, ctx: Context) -> None:
    """Pow, PRelu (float32, numpy broadcasting)."""
    g = ctx.graph
    out = g.types[node.outputs[0]].shape
    _render(ctx, node, int(np.prod(out, dtype=np.int64)),
            [ctx.value(node.inputs[0]), ctx.value(node.inputs[1]), ctx.value(node.outputs[0])],
            kind="binary", op=node.op.kind, dims=list(out) or [1],
            a_strides=_broadcast_strides(g.types[node.inputs[0]].shape, out) or [0],
            b_strides=_broadcast_strides(g.types[node.inputs[1]].shape, out) or [0])


def dequantize(node: Node, ctx: Context) -> None:
    g = ctx.graph
    x = g.types[node.inputs[0]]
    q = x.quant
    if not q.per_channel:
        return emit_elementwise.dequantize(node, ctx)
    channels = x.shape[q.axis]
    out = node.outputs[0]
    args = [ctx.value(node.inputs[0]),
            ctx.add_weight(np.broadcast_to(np.asarray(q.scale, np.float32), (channels,)).copy()),
            ctx.add_weight(np.broadcast_to(np.asarray(q.zero_point, np.int32), (channels,)).copy()), ctx.value(out)]
    if out in g.outputs:
        args.append(Arg(f"raw:{g.outputs.index(out)}", 0, ctype_of(x.dtype)))
    _render(ctx, node, x.size, args, kind="dequantize", ctype=ctype_of(x.dtype), channels=channels,
            inner=int(np.prod(x.shape[q.axis + 1:], dtype=np.int64)), raw=out in g.outputs)


def batch_norm(node: Node, ctx: Context) -> None:
    g = ctx.graph
    scale, bias, mean, var = (np.asarray(g.constants[v], np.float64) for v in node.inputs[1:])
    a = scale / np.sqrt(var + node.op.epsilon)
    k = bias - mean * a
    x = g.types[node.inputs[0]]
    _render(ctx, node, x.size, [ctx.value(node.inputs[0]), ctx.add_weight(a.astype(np.float32)),
                                ctx.add_weight(k.astype(np.float32)), ctx.value(node.outputs[0])],
            kind="batch_norm", C=x.shape[-1])


def _pool_params(node: Node, ctx: Context) -> dict:
    op = node.op
    x, y = ctx.graph.types[node.inputs[0]], ctx.graph.types[node.outputs[0]]
    _, h, w, c = x.shape
    _, oh, ow, _ = y.shape
    t, l, b, r = op.pads
    lo_h, hi_h, lo_w, hi_w = (-t, h + b, -l, w + r) if getattr(op, "count_include_pad", False) else (0, h, 0, w)
    return dict(H=h, W=w, C=c, OH=oh, OW=ow, KH=op.kernel[0], KW=op.kernel[1], SH=op.strides[0], SW=op.strides[1],
                DH=op.dilations[0], DW=op.dilations[1], PT=t, PL=l, lo_h=lo_h, hi_h=hi_h, lo_w=lo_w, hi_w=hi_w)


def pool(node: Node, ctx: Context) -> None:
    """Float AvgPool2D / MaxPool2D (an integer MaxPool2D: emit_elementwise.max_pool)."""
    if isinstance(node.op, ops.MaxPool2D) and ctx.graph.types[node.inputs[0]].dtype is not DType.FLOAT32:
        return emit_elementwise.max_pool(node, ctx)
    _render(ctx, node, ctx.graph.types[node.outputs[0]].size, [ctx.value(node.inputs[0]), ctx.value(node.outputs[0])],
            kind="pool", op=node.op.kind, **_pool_params(node, ctx))


def reduce(node: Node, ctx: Context) -> None:
    """Float ReduceMean / ReduceMax (an integer ReduceMax: emit_elementwise.reduce). Axes () is the
    identity: every dimension kept, one element per output."""
    g = ctx.graph
    x = g.types[node.inputs[0]]
    if x.dtype is not DType.FLOAT32:
        return emit_elementwise.reduce(node, ctx)
    axes = sorted(a % x.rank for a in node.op.axes)
    strides = _strides(x.shape)
    kept = [d for d in range(x.rank) if d not in axes]
    _render(ctx, node, g.types[node.outputs[0]].size, [ctx.value(node.inputs[0]), ctx.value(node.outputs[0])],
            kind="reduce", op=node.op.kind, count=int(np.prod([x.shape[a] for a in axes], dtype=np.int64)),
            kept_dims=[x.shape[d] for d in kept] or [1], kept_strides=[strides[d] for d in kept] or [0],
            red_dims=[x.shape[d] for d in axes] or [1], red_strides=[strides[d] for d in axes] or [0])


EMITTERS = {
    **{cls: Emitter(unary, why_not_unary) for cls in UNARY},
    **{cls: Emitter(binary, why_not_float) for cls in (ops.Pow, ops.PRelu)},
    ops.BatchNorm: Emitter(batch_norm, why_not_batch_norm), ops.Dequantize: Emitter(dequantize, why_not_dequantize),
    ops.AvgPool2D: Emitter(pool, why_not_float), ops.MaxPool2D: Emitter(pool, why_not_selection),
    ops.ReduceMean: Emitter(reduce, why_not_float), ops.ReduceMax: Emitter(reduce, why_not_selection),
}
