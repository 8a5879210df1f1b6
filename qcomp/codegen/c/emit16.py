"""Emitters of the A16W8 ops (qcomp/ir/qops16.py) for the C backend: node -> [Call].

The kernels are templates/qcomp_kernels16.c (declared in qcomp_kernels16.h), transcribed from
qcomp/fixedpoint/int16.py and lut16.py. What an emitter computes here is geometry and layout only:

  QConv2D16, QDense16   weights widened to int16 at build time, w16[o][k] = w[o, kh, kw, c] with
                        k = (kh * KW + kw) * C/group + c, each row padded with zeros to kp = K
                        rounded up to even: a 32-bit load holds two terms of x and of w alike (the
                        SMLAD pairs on Cortex-M). The [O, KH, KW, C/g] int8 constant is not stored
                        (ctx.relaid); bias stays the graph's int64 constant. The conv's patch (kp
                        int16 of the scratch area) holds one pixel's window of one group.
  QMatMul16             both operands activations; batch offsets as QMatMul.
  QAdd16 / QSub16 / QMul16   broadcast strides as QAdd; the AddParams / MulParams of the op.
  QConvert, Lut16       flat loops; the dtypes pick the int8 or int16 side (x16 / out16 flags).
  QAvgPool2D16, QMean16 the window counts and reduction odometers of the int8 forms.

Every op's accumulator width (acc_bits) is the op's attribute, passed through: the kernels add
exact int32 blocks of at most 504 terms into int64 and requantize with requantize_acc.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ...fixedpoint import AddParams
from ...ir import DType, Node, qops16
from ...protocol import Emitter
from . import emit_compute
from .program import Call, Ctx

I16 = DType.INT16


def why_not_weighted16(node: Node, graph) -> str | None:
    """Constant weights, bias, multipliers and shifts (the weights are widened at build time)."""
    for v in node.inputs[1:]:
        if v not in graph.constants:
            return f"{v!r} must be a constant"
    return None


def why_not_matmul16(node: Node, graph) -> str | None:
    """Operands of rank 2 or more."""
    if min(graph.types[v].rank for v in node.inputs) < 2:
        return "MatMul operands of rank 1 are not supported"
    return None


def _out16(op) -> str:
    return "1" if op.out_dtype == "i16" else "0"


def conv2d16(node: Node, ctx: Ctx) -> None:
    op: qops16.QConv2D16 = node.op
    x, w, bias, mult, shift = node.inputs
    n, h, wd, c = ctx.shape(x)
    o, kh, kw, cg = ctx.shape(w)
    _, oh, ow, _ = ctx.shape(node.outputs[0])
    k = kh * kw * cg
    w16, kp = _widened16(ctx, node, np.asarray(ctx.graph.constants[w]).reshape(o, k))
    p = ctx.struct(node, "qcomp_conv16_params", dict(
        n=n, h=h, w=wd, c=c, oh=oh, ow=ow, o=o, kh=kh, kw=kw, sh=op.strides[0], sw=op.strides[1],
        dh=op.dilations[0], dw=op.dilations[1], pad_top=op.pads[0], pad_left=op.pads[1], group=op.group,
        k=k, kp=kp, acc_bits=op.acc_bits, output_zero_point=op.output_zero_point, qmin=op.qmin, qmax=op.qmax,
        out16=int(_out16(op))))
    patch = f"((int16_t *){ctx.scratch(4 * kp)})"   # two pixels' patches
    args = (ctx.ptr(x, True), w16.name, ctx.ptr(bias, True), ctx.ptr(mult, True), ctx.ptr(shift, True),
            f"((void *){ctx.ptr(node.outputs[0], False)})", patch, f"&{p.name}")
    ctx.calls += [Call(ctx.comment(node), "qcomp_conv2d16", args, arrays=(w16,), structs=(p,))]


def dense16(node: Node, ctx: Ctx) -> None:
    op: qops16.QDense16 = node.op
    x, w, bias, mult, shift = node.inputs
    shape = ctx.shape(x)
    nout, k = ctx.shape(w)
    w16, kp = _widened16(ctx, node, np.asarray(ctx.graph.constants[w]))
    args = (ctx.ptr(x, True), w16.name, ctx.ptr(bias, True), ctx.ptr(mult, True), ctx.ptr(shift, True),
            f"((void *){ctx.ptr(node.outputs[0], False)})", str(math.prod(shape[:-1])), str(k), str(kp), str(nout),
            str(op.acc_bits), str(op.output_zero_point), str(op.qmin), str(op.qmax), _out16(op))
    ctx.calls += [Call(ctx.comment(node), "qcomp_dense16", args, arrays=(w16,))]


def _widened16(ctx: Ctx, node: Node, rows: np.ndarray):
    """[O, K] int8 -> (the model.c int16 array [O][kp], kp): kp = K rounded up to even, zero padded."""
    o, k = rows.shape
    kp = k + (k % 2)
    w16 = np.zeros((o, kp), np.int16)
    w16[:, :k] = rows
    w = node.inputs[1]
    ctx.relaid[w] = ctx.relaid.get(w, 0) + 1
    return ctx.array(node, "w16", w16, "int16_t"), kp


def matmul16(node: Node, ctx: Ctx) -> None:
    op: qops16.QMatMul16 = node.op
    a, b = node.inputs
    sa, sb, sy = ctx.shape(a), ctx.shape(b), ctx.shape(node.outputs[0])
    m, k, n = sa[-2], sa[-1], sb[-1]
    out_batch = sy[:-2]
    a_off = ctx.array(node, "a_offsets", emit_compute._batch_offsets(sa, out_batch, m * k))
    b_off = ctx.array(node, "b_offsets", emit_compute._batch_offsets(sb, out_batch, k * n))
    args = (ctx.ptr(a, True), ctx.ptr(b, True), f"((void *){ctx.ptr(node.outputs[0], False)})",
            str(math.prod(out_batch)), a_off.name, b_off.name, str(m), str(k), str(n), str(op.multiplier),
            str(op.shift), str(op.acc_bits), str(op.output_zero_point), str(op.qmin), str(op.qmax), _out16(op))
    ctx.calls += [Call(ctx.comment(node), "qcomp_matmul16", args, arrays=(a_off, b_off))]


def _binary16(ctx: Ctx, node: Node, kernel: str, params_type: str, fields: dict, extra: tuple[str, ...]) -> None:
    rank, shape, sa, sb = emit_compute._broadcast(ctx, node)
    arrays = (ctx.array(node, "shape", shape), ctx.array(node, "a_strides", sa), ctx.array(node, "b_strides", sb))
    p = ctx.struct(node, params_type, fields)
    a, b = node.inputs
    args = (ctx.ptr(a, True), ctx.ptr(b, True), ctx.ptr(node.outputs[0], False), str(max(rank, 1)),
            *(x.name for x in arrays), f"&{p.name}", *extra)
    ctx.calls += [Call(ctx.comment(node), kernel, args, arrays=arrays, structs=(p,))]


def add16(node: Node, ctx: Ctx) -> None:
    _binary16(ctx, node, "qcomp_add16", "AddParams", dataclasses.asdict(AddParams(**node.op.add_attrs())),
              ("1" if isinstance(node.op, qops16.QSub16) else "0",))


def mul16(node: Node, ctx: Ctx) -> None:
    _binary16(ctx, node, "qcomp_mul16", "MulParams", node.op.mul_attrs(), ())


def convert(node: Node, ctx: Ctx) -> None:
    op: qops16.QConvert = node.op
    x, y = node.inputs[0], node.outputs[0]
    args = (f"((const void *){ctx.ptr(x, True)})", "1" if ctx.dtype(x) is I16 else "0", f"((void *){ctx.ptr(y, False)})",
            _out16(op), str(math.prod(ctx.shape(x))), str(op.input_zero_point), str(op.multiplier), str(op.shift),
            str(op.output_zero_point), str(op.qmin), str(op.qmax))
    ctx.calls += [Call(ctx.comment(node), "qcomp_convert16", args)]


def lut16(node: Node, ctx: Ctx) -> None:
    x, table = node.inputs
    args = (ctx.ptr(x, True), ctx.ptr(table, True), f"((void *){ctx.ptr(node.outputs[0], False)})",
            str(math.prod(ctx.shape(x))), _out16(node.op))
    ctx.calls += [Call(ctx.comment(node), "qcomp_lut16", args)]


def avgpool16(node: Node, ctx: Ctx) -> None:
    op: qops16.QAvgPool2D16 = node.op
    ch, cw = emit_compute._window_counts(node, ctx.graph)
    p = emit_compute._pool_struct(ctx, node)
    arrays = (ctx.array(node, "count_h", ch), ctx.array(node, "count_w", cw),
              ctx.array(node, "multipliers", op.multipliers), ctx.array(node, "shifts", op.shifts))
    args = (ctx.ptr(node.inputs[0], True), ctx.ptr(node.outputs[0], False), f"&{p.name}",
            *(a.name for a in arrays), str(op.qmin), str(op.qmax))
    ctx.calls += [Call(ctx.comment(node), "qcomp_avgpool2d16", args, arrays=arrays, structs=(p,))]


def why_not_avgpool16(node: Node, graph) -> str | None:
    """A multiplier for every window count."""
    ch, cw = emit_compute._window_counts(node, graph)
    if int(ch.max(initial=1) * cw.max(initial=1)) > len(node.op.multipliers):
        return f"window counts exceed the {len(node.op.multipliers)} multipliers"
    return None


def mean16(node: Node, ctx: Ctx) -> None:
    op: qops16.QMean16 = node.op
    os_, ost, is_, ist, orank, irank = emit_compute._reduce_arrays(ctx, node, op.axes)
    args = (ctx.ptr(node.inputs[0], True), ctx.ptr(node.outputs[0], False), str(orank), os_.name, ost.name,
            str(irank), is_.name, ist.name, str(op.multiplier), str(op.shift), str(op.qmin), str(op.qmax))
    ctx.calls += [Call(ctx.comment(node), "qcomp_mean16", args, arrays=(os_, ost, is_, ist))]


def why_not_mean16(node: Node, graph) -> str | None:
    """The count is the number of reduced elements."""
    shape = graph.types[node.inputs[0]].shape
    reduced = math.prod(shape[a] for a in sorted(a % len(shape) for a in node.op.axes))
    return None if reduced == node.op.count else f"the mean reduces {reduced} elements, its count is {node.op.count}"


TABLE = {
    qops16.QConv2D16: Emitter(conv2d16, why_not_weighted16), qops16.QDense16: Emitter(dense16, why_not_weighted16),
    qops16.QMatMul16: Emitter(matmul16, why_not_matmul16), qops16.QAdd16: add16, qops16.QSub16: add16,
    qops16.QMul16: mul16, qops16.QConvert: convert, qops16.Lut16: lut16,
    qops16.QAvgPool2D16: Emitter(avgpool16, why_not_avgpool16), qops16.QMean16: Emitter(mean16, why_not_mean16),
}
