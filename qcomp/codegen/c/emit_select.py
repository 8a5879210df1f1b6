"""C emitter of TopK on int8 values (qcomp_topk_int8 in qcomp_kernels_rows.c): the row rule of
qcomp/ir/ops_select.py over x viewed as (outer, n, inner); indices are int64 in the arena."""
from __future__ import annotations

import math

from ...ir import DType, Graph, Node, ops
from ...protocol import Emitter
from .program import Call, Ctx


def why_not_topk(node: Node, graph: Graph) -> str | None:
    if graph.types[node.inputs[0]].dtype is not DType.INT8:
        return "TopK of float values: the C backend selects int8 values only (quantize the model statically)"
    return None


def topk(node: Node, ctx: Ctx) -> None:
    x, (values, indices) = node.inputs[0], node.outputs
    op = node.op
    shape = ctx.shape(x)
    outer, n, inner = math.prod(shape[:op.axis]), shape[op.axis], math.prod(shape[op.axis + 1:])
    args = (ctx.ptr(x, True), ctx.ptr(values, False), ctx.ptr(indices, False, "int64_t"), str(outer), str(n),
            str(inner), str(op.k), str(int(op.largest)))
    ctx.calls += [Call(ctx.comment(node), "qcomp_topk_int8", args)]


TABLE = {ops.TopK: Emitter(topk, why_not_topk)}
