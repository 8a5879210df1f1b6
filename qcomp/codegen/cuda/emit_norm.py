"""cuda emitter of QLayerNorm: templates/layer_norm.cu.j2 (qcomp/fixedpoint/layernorm.py transcribed),
one thread per row of N contiguous int8 values (NHWC keeps the normalized trailing axes contiguous);
gamma_q and beta_q are int32 constants of the weights buffer."""
from __future__ import annotations

import math

from ...ir import DType, Node
from ...ir.qops_norm import QLayerNorm
from ...protocol import Emitter
from .context import BLOCK, Context, grid_1d


def why_not_layer_norm(node: Node, graph) -> str | None:
    """int8 input, constant int32 gamma_q and beta_q."""
    if graph.types[node.inputs[0]].dtype is not DType.INT8:
        return f"operand {node.inputs[0]!r} is not int8"
    missing = [v for v in node.inputs[1:] if v not in graph.constants]
    return f"{', '.join(map(repr, missing))} must be constant" if missing else None


def layer_norm(node: Node, ctx: Context) -> None:
    op: QLayerNorm = node.op
    shape = ctx.graph.types[node.inputs[0]].shape
    n = math.prod(shape[op.axis:])
    rows = math.prod(shape) // n
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("layer_norm.cu.j2").render(
        name=name, node=ctx.comment(node), rows=rows, n=n, eps_q=op.eps_q, zp_in=op.input_zero_point,
        zp_out=op.output_zero_point, qmin=op.qmin, qmax=op.qmax)
    ctx.add(node, name, src, grid_1d(rows), (BLOCK, 1, 1), [ctx.value(v) for v in (*node.inputs, node.outputs[0])])


EMITTERS = {QLayerNorm: Emitter(layer_norm, why_not_layer_norm)}
