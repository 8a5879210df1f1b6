"""C emitter of QLayerNorm16: one call of qcomp_layer_norm_int16 (templates/qcomp_kernels_norm.c, the
transcription of qcomp/fixedpoint/layernorm16.py) over the node's rows of N contiguous int16 values
(NHWC keeps the normalized trailing axes contiguous); gamma_q int32 and beta_q int64 weights; the
output int16 or int8 (the out16 flag)."""
from __future__ import annotations

import math

from ...ir import DType, Node
from ...ir.qops_norm16 import QLayerNorm16
from ...protocol import Emitter
from .program import Call, Ctx


def why_not_layer_norm16(node: Node, graph) -> str | None:
    """int16 input, constant int32 gamma_q and int64 beta_q."""
    if graph.types[node.inputs[0]].dtype is not DType.INT16:
        return f"operand {node.inputs[0]!r} is not int16"
    for v in node.inputs[1:]:
        if v not in graph.constants:
            return f"{v!r} must be a constant"
    return None


def layer_norm16(node: Node, ctx: Ctx) -> None:
    op: QLayerNorm16 = node.op
    x, gamma_q, beta_q = node.inputs
    shape = ctx.shape(x)
    n = math.prod(shape[op.axis:])
    args = (ctx.ptr(x, True), f"((void *){ctx.ptr(node.outputs[0], False)})", "1" if op.out_dtype == "i16" else "0",
            str(math.prod(shape) // n), str(n), f"INT64_C({op.eps_q})", ctx.ptr(gamma_q, True), ctx.ptr(beta_q, True),
            str(op.output_zero_point), str(op.qmin), str(op.qmax))
    ctx.calls += [Call(ctx.comment(node), "qcomp_layer_norm_int16", args)]


TABLE = {QLayerNorm16: Emitter(layer_norm16, why_not_layer_norm16)}
