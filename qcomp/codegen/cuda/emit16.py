"""Emitters of the A16W8 ops (qcomp/ir/qops16.py) for the cuda backend: one thread per output.

templates/a16w8.cu.j2 holds the kernels; templates/a16w8_prelude.cu.j2, included at the end of the
prelude of every model.cu, the device functions of qcomp/fixedpoint/int16.py and lut16.py with their names:
multiply_by_quantized_multiplier_64 (a 64-bit low multiply, mul.lo.s64: |acc * reduced| < 2^62),
requantize64, requantize_acc, lut16_lookup.

  QConv2D16 (any group, depthwise included), QDense16, QMatMul16:
      acc = bias + sum x * w in int64 (exact: |acc| < 2^47 by fixedpoint.accumulator16_bits), then
      requantize_acc with the op's build-time acc_bits; int8 weights read as stored.
  QAdd16 / QSub16: the prelude's add_int8 with the op's AddParams (left_shift 15, zero points 0);
  QMul16: requantize(a * b); numpy broadcasting by strides (stride 0 on broadcast axes).
  QConvert: requantize(x - zp_in) from int8 or int16 to int8 or int16. Lut16: lut16_lookup.
  QAvgPool2D16 / QMean16: int32 window sums of int16 values, requantize (avg_int16, mean_int16).
Plain integer loops: `__dp2a` (two int16 x int8 products per instruction) is not used yet.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ...fixedpoint import AddParams
from ...ir import Node, qops16
from ...protocol import Emitter
from .context import BLOCK, Context, ctype_of, grid_1d
from .emit_compute import _batch_strides, matmul_dims
from .emit_elementwise import _broadcast_strides, _pool_geometry, _strides

_OUT_T = {"i8": "int8_t", "i16": "int16_t"}


def _render(ctx: Context, node: Node, total: int, args, macs: int = 0, **params) -> None:
    """The node's kernel, one thread per output."""
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("a16w8.cu.j2").render(name=name, node=ctx.comment(node), total=total, **params)
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1), args, macs=macs)


def _out_t(node: Node) -> str:
    return _OUT_T[node.op.out_dtype]


def _weighted_args(ctx: Context, node: Node):
    return [ctx.value(v) for v in node.inputs] + [ctx.value(node.outputs[0])]


def conv2d16(node: Node, ctx: Context) -> None:
    op: qops16.QConv2D16 = node.op
    g = ctx.graph
    n, h, w, c = g.types[node.inputs[0]].shape
    _, oh, ow, o = g.types[node.outputs[0]].shape
    _, kh, kw, cg = g.types[node.inputs[1]].shape
    total = n * oh * ow * o
    _render(ctx, node, total, _weighted_args(ctx, node), macs=total * kh * kw * cg, kind="conv", out_t=_out_t(node),
            H=h, W=w, C=c, Cg=cg, OH=oh, OW=ow, O=o, Og=o // op.group, KH=kh, KW=kw, SH=op.strides[0],
            SW=op.strides[1], DH=op.dilations[0], DW=op.dilations[1], PT=op.pads[0], PL=op.pads[1], group=op.group,
            acc_bits=op.acc_bits, zp_out=op.output_zero_point, qmin=op.qmin, qmax=op.qmax)


def dense16(node: Node, ctx: Context) -> None:
    op: qops16.QDense16 = node.op
    g = ctx.graph
    nout, k = g.types[node.inputs[1]].shape
    rows = int(np.prod(g.types[node.inputs[0]].shape[:-1]))
    _render(ctx, node, rows * nout, _weighted_args(ctx, node), macs=rows * nout * k, kind="dense",
            out_t=_out_t(node), rows=rows, K=k, N=nout, acc_bits=op.acc_bits, zp_out=op.output_zero_point,
            qmin=op.qmin, qmax=op.qmax)


def matmul16(node: Node, ctx: Context) -> None:
    op: qops16.QMatMul16 = node.op
    a_shape, b_shape, out, m, k, n, batch = matmul_dims(ctx, node)
    total = int(np.prod(out))
    _render(ctx, node, total, [ctx.value(node.inputs[0]), ctx.value(node.inputs[1]), ctx.value(node.outputs[0])],
            macs=total * k, kind="matmul", out_t=_out_t(node), M=m, K=k, N=n, batch=batch,
            a_strides=_batch_strides(a_shape[:-2], batch, m * k), b_strides=_batch_strides(b_shape[:-2], batch, k * n),
            multiplier=op.multiplier, shift=op.shift, acc_bits=op.acc_bits, zp_out=op.output_zero_point,
            qmin=op.qmin, qmax=op.qmax)


def binary16(node: Node, ctx: Context) -> None:
    g = ctx.graph
    out = g.types[node.outputs[0]].shape
    op = node.op
    mul = isinstance(op, qops16.QMul16)
    add = () if mul else dataclasses.astuple(AddParams(**op.add_attrs()))   # in ADD_PARAMS_FIELDS order
    _render(ctx, node, int(np.prod(out)), [ctx.value(node.inputs[0]), ctx.value(node.inputs[1]),
                                           ctx.value(node.outputs[0])],
            kind="binary", what="mul_int16" if mul else ("sub_int16" if isinstance(op, qops16.QSub16) else "add_int16"),
            sign=-1 if isinstance(op, qops16.QSub16) else 1, add_params=add, multiplier=getattr(op, "multiplier", 0),
            shift=getattr(op, "shift", 0), qmin=op.qmin, qmax=op.qmax, dims=list(out) or [1],
            a_strides=_broadcast_strides(g.types[node.inputs[0]].shape, out) or [0],
            b_strides=_broadcast_strides(g.types[node.inputs[1]].shape, out) or [0])


def convert(node: Node, ctx: Context) -> None:
    op: qops16.QConvert = node.op
    x = ctx.graph.types[node.inputs[0]]
    _render(ctx, node, x.size, [ctx.value(node.inputs[0]), ctx.value(node.outputs[0])], kind="convert",
            in_t=ctype_of(x.dtype), out_t=_out_t(node), zp_in=op.input_zero_point, multiplier=op.multiplier,
            shift=op.shift, zp_out=op.output_zero_point, qmin=op.qmin, qmax=op.qmax)


def lut16(node: Node, ctx: Context) -> None:
    _render(ctx, node, ctx.graph.types[node.outputs[0]].size,
            [ctx.value(node.inputs[0]), ctx.value(node.inputs[1]), ctx.value(node.outputs[0])], kind="lut",
            out_t=_out_t(node))


def avg_pool16(node: Node, ctx: Context) -> None:
    op: qops16.QAvgPool2D16 = node.op
    g = ctx.graph
    x, y = g.types[node.inputs[0]], g.types[node.outputs[0]]
    t, l, b, r = op.pads
    h, w = x.shape[1], x.shape[2]
    lo_h, hi_h, lo_w, hi_w = (-t, h + b, -l, w + r) if op.count_include_pad else (0, h, 0, w)
    mults = ctx.add_weight(np.asarray(op.multipliers, np.int32))
    shifts = ctx.add_weight(np.asarray(op.shifts, np.int32))
    _render(ctx, node, y.size, [ctx.value(node.inputs[0]), mults, shifts, ctx.value(node.outputs[0])], kind="avg",
            lo_h=lo_h, hi_h=hi_h, lo_w=lo_w, hi_w=hi_w, qmin=op.qmin, qmax=op.qmax,
            **_pool_geometry(op, x.shape, y.shape))


def mean16(node: Node, ctx: Context) -> None:
    op: qops16.QMean16 = node.op
    g = ctx.graph
    x = g.types[node.inputs[0]]
    axes = sorted(a % x.rank for a in op.axes) if op.axes else list(range(x.rank))
    strides = _strides(x.shape)
    kept = [d for d in range(x.rank) if d not in axes]
    _render(ctx, node, g.types[node.outputs[0]].size, [ctx.value(node.inputs[0]), ctx.value(node.outputs[0])],
            kind="mean", kept_dims=[x.shape[d] for d in kept] or [1], kept_strides=[strides[d] for d in kept] or [0],
            red_dims=[x.shape[d] for d in axes], red_strides=[strides[d] for d in axes],
            count=int(np.prod([x.shape[a] for a in axes])), multiplier=op.multiplier, shift=op.shift, qmin=op.qmin,
            qmax=op.qmax)


def why_not_weights(node: Node, graph) -> str | None:
    """Constant weights."""
    return None if node.inputs[1] in graph.constants else "its weights are not constants"


def why_not_matmul(node: Node, graph) -> str | None:
    """Operands of rank 2 or more."""
    return "it has a 1-D operand" if min(graph.types[v].rank for v in node.inputs[:2]) < 2 else None


EMITTERS = {
    qops16.QConv2D16: Emitter(conv2d16, why_not_weights), qops16.QDense16: Emitter(dense16, why_not_weights),
    qops16.QMatMul16: Emitter(matmul16, why_not_matmul), qops16.QAdd16: binary16, qops16.QSub16: binary16,
    qops16.QMul16: binary16, qops16.QConvert: convert, qops16.Lut16: lut16, qops16.QAvgPool2D16: avg_pool16,
    qops16.QMean16: mean16,
}
