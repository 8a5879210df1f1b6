"""C emitter of QLayerNorm: one call of qcomp_layer_norm_int8 (templates/qcomp_kernels_norm.c, the
transcription of qcomp/fixedpoint/layernorm.py) over the node's rows of N contiguous elements
(NHWC keeps the normalized trailing axes contiguous); gamma_q and beta_q are int32 weights."""
from __future__ import annotations

import math

from ...ir import DType, Node
from ...ir.qops_norm import QLayerNorm
from ...protocol import Emitter
from .program import Call, Ctx


def why_not_layer_norm(node: Node, graph) -> str | None:
    """int8 input, constant int32 gamma_q and beta_q."""
    if graph.types[node.inputs[0]].dtype is not DType.INT8:
        return f"operand {node.inputs[0]!r} is not int8"
    for v in node.inputs[1:]:
        if v not in graph.constants:
            return f"{v!r} must be a constant"
    return None


def layer_norm(node: Node, ctx: Ctx) -> None:
    op: QLayerNorm = node.op
    x, gamma_q, beta_q = node.inputs
    shape = ctx.shape(x)
    n = math.prod(shape[op.axis:])
    args = (ctx.ptr(x, True), ctx.ptr(node.outputs[0], False), str(math.prod(shape) // n), str(n),
            f"INT64_C({op.eps_q})", ctx.ptr(gamma_q, True), ctx.ptr(beta_q, True), str(op.input_zero_point),
            str(op.output_zero_point), str(op.qmin), str(op.qmax))
    ctx.calls += [Call(ctx.comment(node), "qcomp_layer_norm_int8", args)]


TABLE = {QLayerNorm: Emitter(layer_norm, why_not_layer_norm)}
