"""Emitters of elementwise, pooling and reduction kernels (one thread per output element).

QAdd/QSub/QMul: fixedpoint.add_int8 / sub_int8 / mul_int8 with numpy broadcasting (an operand's
stride is 0 along a broadcast dimension). Lut: the table staged in shared memory. QRequantize,
Quantize (float32 division, rintf: ties to even) and Dequantize ((q - zp) * scale in float32; it
also copies q to the raw output). QAvgPool2D: fixedpoint.avg_int8 with the count of the window's
taps inside [lo, hi) (explicit pads counted when count_include_pad, never the ceil_mode overhang).
MaxPool2D / ReduceMax: the maximum (padding is the lowest int8). QMean: fixedpoint.mean_int8.
QSoftmax: fixedpoint.softmax_int8, one thread per row (its primitives in templates/prelude.cu.j2).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ...ir import DType, Node, ops, qops
from ...protocol import Emitter
from .. import add_params
from .context import BLOCK, Arg, Context, ctype_of, grid_1d


def _strides(shape) -> list[int]:
    out, s = [], 1
    for d in reversed(shape):
        out.append(s)
        s *= d
    return out[::-1]


def _broadcast_strides(shape, out) -> list[int]:
    shape = (1,) * (len(out) - len(shape)) + tuple(shape)
    return [0 if d == 1 and o != 1 else s for d, o, s in zip(shape, out, _strides(shape))]


def _simple(ctx: Context, node: Node, template: str, total: int, args, **params) -> None:
    name = ctx.kernel_name(node)
    src = ctx.env.get_template(template).render(name=name, node=ctx.comment(node), total=total, **params)
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1), args)


def binary(node: Node, ctx: Context) -> None:
    g = ctx.graph
    out = g.types[node.outputs[0]].shape
    kind = {qops.QAdd: "add", qops.QSub: "sub", qops.QMul: "mul"}[type(node.op)]
    add = dataclasses.astuple(add_params(node.op)) if kind != "mul" else ()   # in ADD_PARAMS_FIELDS order
    _simple(ctx, node, "binary.cu.j2", int(np.prod(out)),
            [ctx.value(node.inputs[0]), ctx.value(node.inputs[1]), ctx.value(node.outputs[0])],
            kind=kind, sign=-1 if kind == "sub" else 1, p=node.op, add_params=add, dims=list(out) or [1],
            a_strides=_broadcast_strides(g.types[node.inputs[0]].shape, out) or [0],
            b_strides=_broadcast_strides(g.types[node.inputs[1]].shape, out) or [0])


def lut(node: Node, ctx: Context) -> None:
    total = ctx.graph.types[node.outputs[0]].size
    _simple(ctx, node, "unary.cu.j2", total, [ctx.value(i) for i in node.inputs] + [ctx.value(node.outputs[0])],
            kind="lut")


def q_requantize(node: Node, ctx: Context) -> None:
    op: qops.QRequantize = node.op
    _simple(ctx, node, "unary.cu.j2", ctx.graph.types[node.outputs[0]].size,
            [ctx.value(node.inputs[0]), ctx.value(node.outputs[0])], kind="requantize", zp_in=op.input_zero_point,
            multiplier=op.multiplier, shift=op.shift, zp_out=op.output_zero_point, qmin=op.qmin, qmax=op.qmax)


def q_softmax(node: Node, ctx: Context) -> None:
    """One thread per row of `L` elements `S` apart (templates/softmax.cu.j2)."""
    op: qops.QSoftmax = node.op
    shape = ctx.graph.types[node.inputs[0]].shape
    length, stride = shape[op.axis], int(np.prod(shape[op.axis + 1:], dtype=np.int64))
    rows = int(np.prod(shape, dtype=np.int64)) // length
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("softmax.cu.j2").render(
        name=name, node=ctx.comment(node), L=length, S=stride, rows=rows, multiplier=op.input_multiplier,
        left_shift=op.input_left_shift, left_shift_factor=1 << op.input_left_shift, diff_min=op.diff_min)
    ctx.add(node, name, src, grid_1d(rows), (BLOCK, 1, 1), [ctx.value(node.inputs[0]), ctx.value(node.outputs[0])])


def _float_literal(x) -> str:
    return f"{float(np.float32(x)):.9e}f"


_BOUNDARY = (DType.INT8, DType.INT16)   # the integer side of Quantize / Dequantize (int16: A16W8 graph I/O)


def why_not_quantize(node: Node, graph) -> str | None:
    """Float32 -> int8 or int16, per tensor."""
    t = graph.types[node.outputs[0]]
    if t.dtype not in _BOUNDARY or t.quant.per_channel or graph.types[node.inputs[0]].dtype is not DType.FLOAT32:
        return "it is not a per-tensor float32 -> int8 or int16 Quantize"
    return None


def why_not_dequantize(node: Node, graph) -> str | None:
    """Int8 or int16 -> float32, per tensor."""
    t = graph.types[node.inputs[0]]
    if t.dtype not in _BOUNDARY or t.quant.per_channel:
        return "it is not a per-tensor int8 or int16 -> float32 Dequantize"
    return None


def why_not_int8_or_int16(node: Node, graph) -> str | None:
    """Int8 or int16 (a selection: MaxPool2D, ReduceMax keep their input's quant params)."""
    if graph.types[node.inputs[0]].dtype not in (DType.INT8, DType.INT16):
        return f"the cuda backend runs {node.kind} on int8 and int16 only (a float {node.kind} of a float-fallback region)"
    return None


def _lowest(ctx: Context, node: Node) -> dict:
    """The element type of a selection's kernel and its lowest value (the maximum's start)."""
    dtype = ctx.graph.types[node.inputs[0]].dtype
    return dict(ctype=ctype_of(dtype), lowest=dtype.qrange[0])


def why_not_int8(node: Node, graph) -> str | None:
    """Int8 only (no float kernel)."""
    if graph.types[node.inputs[0]].dtype is not DType.INT8:
        return f"the cuda backend runs {node.kind} on int8 only (a float {node.kind} of a float-fallback region)"
    return None


def quantize(node: Node, ctx: Context) -> None:
    t = ctx.graph.types[node.outputs[0]]
    lo, hi = t.dtype.qrange
    _simple(ctx, node, "unary.cu.j2", t.size, [ctx.value(node.inputs[0]), ctx.value(node.outputs[0])],
            kind="quantize", ctype=ctype_of(t.dtype), scale=_float_literal(t.quant.scale[0]),
            zp=int(t.quant.zero_point[0]), qmin=lo, qmax=hi)


def dequantize(node: Node, ctx: Context) -> None:
    """(q - zp) * scale; a Dequantize producing a model output also copies q (int8 or int16) to its raw buffer."""
    g = ctx.graph
    t = g.types[node.inputs[0]]
    out = node.outputs[0]
    args = [ctx.value(node.inputs[0]), ctx.value(out)]
    if out in g.outputs:
        args.append(Arg(f"raw:{g.outputs.index(out)}", 0, ctype_of(t.dtype)))
    _simple(ctx, node, "unary.cu.j2", t.size, args, kind="dequantize", raw=out in g.outputs, ctype=ctype_of(t.dtype),
            scale=_float_literal(t.quant.scale[0]), zp=int(t.quant.zero_point[0]))


def _pool_geometry(op, x_shape, y_shape) -> dict:
    _, h, w, c = x_shape
    _, oh, ow, _ = y_shape
    return dict(H=h, W=w, C=c, OH=oh, OW=ow, KH=op.kernel[0], KW=op.kernel[1], SH=op.strides[0], SW=op.strides[1],
                DH=op.dilations[0], DW=op.dilations[1], PT=op.pads[0], PL=op.pads[1])


def max_pool(node: Node, ctx: Context) -> None:
    g = ctx.graph
    x, y = g.types[node.inputs[0]], g.types[node.outputs[0]]
    _simple(ctx, node, "pool.cu.j2", y.size, [ctx.value(node.inputs[0]), ctx.value(node.outputs[0])], kind="max",
            **_lowest(ctx, node), **_pool_geometry(node.op, x.shape, y.shape))


def avg_pool(node: Node, ctx: Context) -> None:
    op: qops.QAvgPool2D = node.op
    g = ctx.graph
    x, y = g.types[node.inputs[0]], g.types[node.outputs[0]]
    t, l, b, r = op.pads
    h, w = x.shape[1], x.shape[2]
    lo_h, hi_h, lo_w, hi_w = (-t, h + b, -l, w + r) if op.count_include_pad else (0, h, 0, w)
    mults = ctx.add_weight(np.asarray(op.multipliers, np.int32))
    shifts = ctx.add_weight(np.asarray(op.shifts, np.int32))
    _simple(ctx, node, "pool.cu.j2", y.size, [ctx.value(node.inputs[0]), mults, shifts, ctx.value(node.outputs[0])],
            kind="avg", ctype="int8_t", lowest=-128, lo_h=lo_h, hi_h=hi_h, lo_w=lo_w, hi_w=hi_w, zp_in=op.in_zero_point, zp_out=op.out_zero_point,
            qmin=op.qmin, qmax=op.qmax, **_pool_geometry(op, x.shape, y.shape))


def reduce(node: Node, ctx: Context) -> None:
    g = ctx.graph
    x = g.types[node.inputs[0]]
    axes = sorted(a % x.rank for a in node.op.axes) if node.op.axes else list(range(x.rank))
    strides = _strides(x.shape)
    kept = [d for d in range(x.rank) if d not in axes]
    count = int(np.prod([x.shape[a] for a in axes]))
    params = dict(kept_dims=[x.shape[d] for d in kept] or [1], kept_strides=[strides[d] for d in kept] or [0],
                  red_dims=[x.shape[d] for d in axes], red_strides=[strides[d] for d in axes], count=count)
    if isinstance(node.op, qops.QMean):
        op = node.op
        params |= dict(kind="mean", ctype="int8_t", lowest=-128, zp_in=op.in_zero_point, multiplier=op.multiplier, shift=op.shift,
                       zp_out=op.out_zero_point, qmin=op.qmin, qmax=op.qmax)
    else:
        params |= dict(kind="max", **_lowest(ctx, node))
    _simple(ctx, node, "reduce.cu.j2", g.types[node.outputs[0]].size,
            [ctx.value(node.inputs[0]), ctx.value(node.outputs[0])], **params)


EMITTERS = {qops.QAdd: binary, qops.QSub: binary, qops.QMul: binary, qops.Lut: lut, qops.QRequantize: q_requantize,
            qops.QSoftmax: q_softmax,
            ops.Quantize: Emitter(quantize, why_not_quantize), ops.Dequantize: Emitter(dequantize, why_not_dequantize),
            ops.MaxPool2D: Emitter(max_pool, why_not_int8_or_int16), qops.QAvgPool2D: avg_pool, qops.QMean: reduce,
            ops.ReduceMax: Emitter(reduce, why_not_int8_or_int16)}
