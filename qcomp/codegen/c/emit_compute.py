"""Emitters of the integer ops (qcomp/ir/qops.py) and int8 pooling: node -> [Call].

Every number an emitter passes is an attribute or a constant of the TARGET graph, or geometry
derived from shapes here (window counts, broadcast strides, batch offsets): the kernels in
templates/qcomp_kernels.c hold the arithmetic, transcribed from qcomp/fixedpoint.py.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ...ir import DType, Node, ops, qops
from ...protocol import Emitter
from .. import add_params
from .program import Call, Ctx, contiguous_strides

WEIGHTED = (qops.QConv2D, qops.QConvTranspose2D, qops.QDense)


def _conv_fields(ctx: Ctx, node: Node, op) -> dict[str, int]:
    n, h, w, c = ctx.shape(node.inputs[0])
    o, kh, kw, _ = ctx.shape(node.inputs[1])
    _, oh, ow, _ = ctx.shape(node.outputs[0])
    return dict(n=n, h=h, w=w, c=c, oh=oh, ow=ow, o=o, kh=kh, kw=kw, sh=op.strides[0], sw=op.strides[1],
                dh=op.dilations[0], dw=op.dilations[1], pad_top=op.pads[0], pad_left=op.pads[1], group=op.group,
                input_zero_point=op.input_zero_point, output_zero_point=op.output_zero_point,
                qmin=op.qmin, qmax=op.qmax)


def _weighted_args(ctx: Ctx, node: Node) -> list[str]:
    x, w, bias, mult, shift = node.inputs
    return [ctx.ptr(x, True), ctx.ptr(w, True), ctx.ptr(bias, True), ctx.ptr(mult, True), ctx.ptr(shift, True),
            ctx.ptr(node.outputs[0], False)]


def why_not_int8(node: Node, graph) -> str | None:
    """Int8 operands only (the first two of a weighted op)."""
    values = node.inputs[:2] if isinstance(node.op, WEIGHTED) else node.inputs
    bad = [v for v in values if graph.types[v].dtype is not DType.INT8]
    return f"operand(s) {', '.join(map(repr, bad))} are not int8" if bad else None


def why_not_weighted(node: Node, graph) -> str | None:
    """Constant weights, bias, multipliers and shifts; int8 input and weights."""
    for v in node.inputs[1:]:
        if v not in graph.constants:
            return f"{v!r} must be a constant"
    return why_not_int8(node, graph)


def why_not_matmul(node: Node, graph) -> str | None:
    """Int8 operands of rank 2 or more."""
    if min(graph.types[v].rank for v in node.inputs) < 2:
        return "MatMul operands of rank 1 are not supported"
    return why_not_int8(node, graph)


def conv2d(node: Node, ctx: Ctx) -> None:
    """A depthwise convolution (channel multiplier 1) of the default build reads its weights re-laid
    [KH, KW, C] (channels contiguous, like its input's), a static array of model.c in place of the
    [C, KH, KW, 1] constant; the plain build keeps the constant."""
    fields = _conv_fields(ctx, node, node.op)
    p = ctx.struct(node, "qcomp_conv_params", fields)
    taps = fields["kh"] * fields["kw"]
    depthwise = fields["group"] == fields["c"] == fields["o"]
    # two pixels' patches; a depthwise conv: one pointer per tap (8 bytes, for 64-bit hosts) + a row of zp_in
    patch = ctx.scratch(8 * taps + fields["c"] if depthwise else 2 * taps * fields["c"])
    args, arrays = _weighted_args(ctx, node), ()
    w = node.inputs[1]
    if not ctx.plain and depthwise:
        hwc = ctx.array(node, "w_hwc", np.asarray(ctx.graph.constants[w])[..., 0].transpose(1, 2, 0), "int8_t")
        args[1], arrays = hwc.name, (hwc,)
        ctx.relaid[w] = ctx.relaid.get(w, 0) + 1
    ctx.calls += [Call(ctx.comment(node), "qcomp_conv2d_int8", (*args, patch, f"&{p.name}"), arrays=arrays,
                       structs=(p,))]


def conv_transpose2d(node: Node, ctx: Ctx) -> None:
    p = ctx.struct(node, "qcomp_conv_params", _conv_fields(ctx, node, node.op))
    ctx.calls += [Call(ctx.comment(node), "qcomp_conv_transpose2d_int8", (*_weighted_args(ctx, node), f"&{p.name}"),
                       structs=(p,))]


def dense(node: Node, ctx: Ctx) -> None:
    op = node.op
    shape = ctx.shape(node.inputs[0])
    n = ctx.shape(node.inputs[1])[0]
    rows, k = math.prod(shape[:-1]), shape[-1]
    args = (*_weighted_args(ctx, node), str(rows), str(k), str(n), str(op.output_zero_point), str(op.qmin),
            str(op.qmax))
    ctx.calls += [Call(ctx.comment(node), "qcomp_dense_int8", args)]


def _batch_offsets(shape: tuple[int, ...], out_batch: tuple[int, ...], block: int) -> np.ndarray:
    """Element offset of each output batch index's matrix in an operand (numpy matmul broadcasting)."""
    batch = shape[:-2]
    index = np.arange(math.prod(batch), dtype=np.int64).reshape(batch) if batch else np.zeros((), np.int64)
    index = index.reshape((1,) * (len(out_batch) - len(batch)) + tuple(batch))
    return np.broadcast_to(index, out_batch).ravel() * block


def matmul(node: Node, ctx: Ctx) -> None:
    a, b = node.inputs
    sa, sb, sy = ctx.shape(a), ctx.shape(b), ctx.shape(node.outputs[0])
    m, k, n = sa[-2], sa[-1], sb[-1]
    out_batch = sy[:-2]
    a_off = ctx.array(node, "a_offsets", _batch_offsets(sa, out_batch, m * k))
    b_off = ctx.array(node, "b_offsets", _batch_offsets(sb, out_batch, k * n))
    op = node.op
    args = (ctx.ptr(a, True), ctx.ptr(b, True), ctx.ptr(node.outputs[0], False), str(math.prod(out_batch)),
            a_off.name, b_off.name, str(m), str(k), str(n), str(op.a_zero_point), str(op.b_zero_point),
            str(op.multiplier), str(op.shift), str(op.output_zero_point), str(op.qmin), str(op.qmax))
    ctx.calls += [Call(ctx.comment(node), "qcomp_matmul_int8", args, arrays=(a_off, b_off))]


def _broadcast(ctx: Ctx, node: Node):
    """(rank, out_shape, a_strides, b_strides): stride 0 on broadcast axes; one flat axis when the
    shapes are equal."""
    a, b = node.inputs
    out = ctx.shape(node.outputs[0])
    if ctx.shape(a) == ctx.shape(b) == out:
        n = math.prod(out)
        return 1, [n], [1], [1]
    strides = []
    for v in (a, b):
        s = (1,) * (len(out) - len(ctx.shape(v))) + ctx.shape(v)
        strides.append([0 if d == 1 and o != 1 else st for d, o, st in zip(s, out, contiguous_strides(s))])
    return len(out), list(out) or [1], strides[0] or [0], strides[1] or [0]


def _binary(ctx: Ctx, node: Node, kernel: str, params_type: str, fields: dict, extra: tuple[str, ...]) -> None:
    rank, shape, sa, sb = _broadcast(ctx, node)
    arrays = (ctx.array(node, "shape", shape), ctx.array(node, "a_strides", sa), ctx.array(node, "b_strides", sb))
    p = ctx.struct(node, params_type, fields)
    a, b = node.inputs
    args = (ctx.ptr(a, True), ctx.ptr(b, True), ctx.ptr(node.outputs[0], False), str(max(rank, 1)),
            *(x.name for x in arrays), f"&{p.name}", *extra)
    ctx.calls += [Call(ctx.comment(node), kernel, args, arrays=arrays, structs=(p,))]


def add(node: Node, ctx: Ctx) -> None:
    _binary(ctx, node, "qcomp_add_int8", "AddParams", dataclasses.asdict(add_params(node.op)),
            ("1" if isinstance(node.op, qops.QSub) else "0",))


def mul(node: Node, ctx: Ctx) -> None:
    _binary(ctx, node, "qcomp_mul_int8", "MulParams", node.op.attrs(), ())


def minmax(node: Node, ctx: Ctx) -> None:
    """Min / Max of int8 operands that share the output's quant params (quantize.py requantizes them)."""
    rank, shape, sa, sb = _broadcast(ctx, node)
    arrays = (ctx.array(node, "shape", shape), ctx.array(node, "a_strides", sa), ctx.array(node, "b_strides", sb))
    a, b = node.inputs
    args = (ctx.ptr(a, True), ctx.ptr(b, True), ctx.ptr(node.outputs[0], False), str(max(rank, 1)),
            *(x.name for x in arrays), "1" if isinstance(node.op, ops.Max) else "0")
    ctx.calls += [Call(ctx.comment(node), "qcomp_minmax_int8", args, arrays=arrays)]


def lut(node: Node, ctx: Ctx) -> None:
    x, table = node.inputs
    n = math.prod(ctx.shape(x))
    ctx.calls += [Call(ctx.comment(node), "qcomp_lut_int8",
                       (ctx.ptr(x, True), ctx.ptr(table, True), ctx.ptr(node.outputs[0], False), str(n)))]


def requantize(node: Node, ctx: Ctx) -> None:
    op = node.op
    n = math.prod(ctx.shape(node.inputs[0]))
    args = (ctx.ptr(node.inputs[0], True), ctx.ptr(node.outputs[0], False), str(n), str(op.input_zero_point),
            str(op.multiplier), str(op.shift), str(op.output_zero_point), str(op.qmin), str(op.qmax))
    ctx.calls += [Call(ctx.comment(node), "qcomp_requantize_int8", args)]


def softmax(node: Node, ctx: Ctx) -> None:
    op = node.op
    shape = ctx.shape(node.inputs[0])
    outer, depth, inner = math.prod(shape[:op.axis]), shape[op.axis], math.prod(shape[op.axis + 1:])
    args = (ctx.ptr(node.inputs[0], True), ctx.ptr(node.outputs[0], False), str(outer), str(depth), str(inner),
            str(op.input_multiplier), str(op.input_left_shift), str(op.diff_min))
    ctx.calls += [Call(ctx.comment(node), "qcomp_softmax_int8", args)]


def _pool_struct(ctx: Ctx, node: Node):
    op = node.op
    n, h, w, c = ctx.shape(node.inputs[0])
    _, oh, ow, _ = ctx.shape(node.outputs[0])
    return ctx.struct(node, "qcomp_pool_params", dict(
        n=n, h=h, w=w, c=c, oh=oh, ow=ow, kh=op.kernel[0], kw=op.kernel[1], sh=op.strides[0], sw=op.strides[1],
        dh=op.dilations[0], dw=op.dilations[1], pad_top=op.pads[0], pad_left=op.pads[1]))


def _elem(ctx: Ctx, node: Node) -> str:
    """The kernel suffix of a type-generic op's element type: int8, or int16 (qcomp_kernels16.c)."""
    return "int16" if ctx.dtype(node.inputs[0]) is DType.INT16 else "int8"


def why_not_int8_or_int16(node: Node, graph) -> str | None:
    """Int8 or int16 values (a selection: the values keep their quant params)."""
    bad = [v for v in node.inputs if graph.types[v].dtype not in (DType.INT8, DType.INT16)]
    return f"operand(s) {', '.join(map(repr, bad))} are not int8 or int16" if bad else None


def maxpool(node: Node, ctx: Ctx) -> None:
    p = _pool_struct(ctx, node)
    ctx.calls += [Call(ctx.comment(node), f"qcomp_maxpool2d_{_elem(ctx, node)}",
                       (ctx.ptr(node.inputs[0], True), ctx.ptr(node.outputs[0], False), f"&{p.name}"), structs=(p,))]


def _counts(out: int, k: int, stride: int, dilation: int, pad_begin: int, lo: int, hi: int) -> np.ndarray:
    """count[o] = #{kk < k : lo <= o*stride - pad_begin + kk*dilation < hi} (window positions inside)."""
    pos = np.arange(out)[:, None] * stride - pad_begin + np.arange(k)[None, :] * dilation
    return ((pos >= lo) & (pos < hi)).sum(axis=1)


def _window_counts(node: Node, graph) -> tuple[np.ndarray, np.ndarray]:
    """(count_h[OH], count_w[OW]): the window count of output pixel (oh, ow) is their product."""
    op = node.op
    _, h, w, _ = graph.types[node.inputs[0]].shape
    _, oh, ow, _ = graph.types[node.outputs[0]].shape
    t, l, b, r = op.pads
    lo_h, hi_h, lo_w, hi_w = (-t, h + b, -l, w + r) if op.count_include_pad else (0, h, 0, w)
    ch = _counts(oh, op.kernel[0], op.strides[0], op.dilations[0], t, lo_h, hi_h)
    cw = _counts(ow, op.kernel[1], op.strides[1], op.dilations[1], l, lo_w, hi_w)
    # an all-padding window counts 1 (sum 0): count_h * count_w >= 1 needs both factors >= 1
    return np.maximum(ch, 1), np.maximum(cw, 1)


def why_not_avgpool(node: Node, graph) -> str | None:
    """Int8; a multiplier for every window count."""
    ch, cw = _window_counts(node, graph)
    if int(ch.max(initial=1) * cw.max(initial=1)) > len(node.op.multipliers):
        return f"window counts exceed the {len(node.op.multipliers)} multipliers"
    return why_not_int8(node, graph)


def avgpool(node: Node, ctx: Ctx) -> None:
    op = node.op
    ch, cw = _window_counts(node, ctx.graph)
    p = _pool_struct(ctx, node)
    arrays = (ctx.array(node, "count_h", ch), ctx.array(node, "count_w", cw),
              ctx.array(node, "multipliers", op.multipliers), ctx.array(node, "shifts", op.shifts))
    args = (ctx.ptr(node.inputs[0], True), ctx.ptr(node.outputs[0], False), f"&{p.name}", arrays[0].name,
            arrays[1].name, str(op.in_zero_point), arrays[2].name, arrays[3].name, str(op.out_zero_point),
            str(op.qmin), str(op.qmax))
    ctx.calls += [Call(ctx.comment(node), "qcomp_avgpool2d_int8", args, arrays=arrays, structs=(p,))]


def _reduce_arrays(ctx: Ctx, node: Node, axes: tuple[int, ...]):
    shape = ctx.shape(node.inputs[0])
    axes = tuple(sorted(a % len(shape) for a in axes))
    strides = contiguous_strides(shape)
    outer = [d for d in range(len(shape)) if d not in axes]
    return (ctx.array(node, "outer_shape", [shape[d] for d in outer] or [1]),
            ctx.array(node, "outer_strides", [strides[d] for d in outer] or [0]),
            ctx.array(node, "inner_shape", [shape[d] for d in axes] or [1]),
            ctx.array(node, "inner_strides", [strides[d] for d in axes] or [0]),
            max(len(outer), 1), max(len(axes), 1))


def why_not_mean(node: Node, graph) -> str | None:
    """Int8; the count is the number of reduced elements."""
    shape = graph.types[node.inputs[0]].shape
    reduced = math.prod(shape[a] for a in sorted(a % len(shape) for a in node.op.axes))
    if reduced != node.op.count:
        return f"the mean reduces {reduced} elements, its count is {node.op.count}"
    return why_not_int8(node, graph)


def mean(node: Node, ctx: Ctx) -> None:
    op = node.op
    os_, ost, is_, ist, orank, irank = _reduce_arrays(ctx, node, op.axes)
    p = ctx.struct(node, "MeanParams", dict(count=op.count, in_zero_point=op.in_zero_point,
                                            multiplier=op.multiplier, shift=op.shift,
                                            out_zero_point=op.out_zero_point, qmin=op.qmin, qmax=op.qmax))
    args = (ctx.ptr(node.inputs[0], True), ctx.ptr(node.outputs[0], False), str(orank), os_.name, ost.name,
            str(irank), is_.name, ist.name, f"&{p.name}")
    ctx.calls += [Call(ctx.comment(node), "qcomp_mean_int8", args, arrays=(os_, ost, is_, ist), structs=(p,))]


def reduce_max(node: Node, ctx: Ctx) -> None:
    os_, ost, is_, ist, orank, irank = _reduce_arrays(ctx, node, node.op.axes)
    args = (ctx.ptr(node.inputs[0], True), ctx.ptr(node.outputs[0], False), str(orank), os_.name, ost.name,
            str(irank), is_.name, ist.name)
    kernel = "qcomp_reduce_min_int8" if isinstance(node.op, ops.ReduceMin) else f"qcomp_reduce_max_{_elem(ctx, node)}"
    ctx.calls += [Call(ctx.comment(node), kernel, args, arrays=(os_, ost, is_, ist))]


TABLE = {
    qops.QConv2D: Emitter(conv2d, why_not_weighted), qops.QConvTranspose2D: Emitter(conv_transpose2d, why_not_weighted),
    qops.QDense: Emitter(dense, why_not_weighted), qops.QMatMul: Emitter(matmul, why_not_matmul),
    **{cls: Emitter(emitter, why_not_int8) for cls, emitter in (
        (qops.QAdd, add), (qops.QSub, add), (qops.QMul, mul), (qops.Lut, lut), (qops.QRequantize, requantize),
        (qops.QSoftmax, softmax),
        (ops.Min, minmax), (ops.Max, minmax))},
    ops.MaxPool2D: Emitter(maxpool, why_not_int8_or_int16), ops.ReduceMax: Emitter(reduce_max, why_not_int8_or_int16),
    qops.QAvgPool2D: Emitter(avgpool, why_not_avgpool), qops.QMean: Emitter(mean, why_not_mean),
}
TABLE[ops.ReduceMin] = Emitter(reduce_max, why_not_int8)   # the int8 minimum (same kernel family)
