"""Emitter of QSoftmax16 (int16 Softmax, qcomp/ir/qops16_softmax.py) for the C backend.

The kernel is templates/qcomp_softmax16.c (qcomp_softmax16, declared in qcomp_kernels16.h),
transcribed from qcomp/fixedpoint/softmax16.py; the emitter passes the row geometry (outer, depth,
inner of the NHWC tensor around the axis), the two int16 tables (the graph's constants) and the
rescale of the difference.
"""
from __future__ import annotations

import math

from ...ir import Node, qops16
from .program import Call, Ctx


def softmax16(node: Node, ctx: Ctx) -> None:
    op: qops16.QSoftmax16 = node.op
    x, exp_lut, recip_lut = node.inputs
    shape = ctx.shape(x)
    outer, depth, inner = math.prod(shape[:op.axis]), shape[op.axis], math.prod(shape[op.axis + 1:])
    args = (ctx.ptr(x, True), ctx.ptr(exp_lut, True), ctx.ptr(recip_lut, True), ctx.ptr(node.outputs[0], False),
            str(outer), str(depth), str(inner), str(op.input_multiplier), str(op.input_shift))
    ctx.calls += [Call(ctx.comment(node), "qcomp_softmax16", args)]


TABLE = {qops16.QSoftmax16: softmax16}
