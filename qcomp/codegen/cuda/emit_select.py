"""cuda emitter of TopK on float32 or int8 values (templates/select.cu.j2): one thread per row, the
row rule of qcomp/ir/ops_select.py (float compares are C's: a NaN is never picked before a number)."""
from __future__ import annotations

import math

from ...ir import DType, Node, ops
from ...protocol import Emitter
from .context import BLOCK, Context, grid_1d


def why_not_topk(node: Node, graph) -> str | None:
    if graph.types[node.inputs[0]].dtype not in (DType.FLOAT32, DType.INT8):
        return f"TopK of {graph.types[node.inputs[0]].dtype.value} values: the cuda backend selects float32 and int8"
    return None


def topk(node: Node, ctx: Context) -> None:
    op = node.op
    shape = ctx.graph.types[node.inputs[0]].shape
    outer, n, inner = math.prod(shape[:op.axis]), shape[op.axis], math.prod(shape[op.axis + 1:])
    x, values, indices = (ctx.value(v) for v in (node.inputs[0], *node.outputs))
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("select.cu.j2").render(name=name, node=ctx.comment(node), K=op.k, N=n, inner=inner,
                                                      rows=outer * inner, largest=op.largest, ctype=x.ctype)
    ctx.add(node, name, src, grid_1d(outer * inner), (BLOCK, 1, 1), [x, values, indices])


EMITTERS = {ops.TopK: Emitter(topk, why_not_topk)}
