"""cuda emitter of QLayerNorm16: templates/layer_norm16.cu.j2 (qcomp/fixedpoint/layernorm16.py
transcribed, with the row helpers of layer_norm_helpers.cu.j2 that the int8 LayerNorm shares), one
thread per row of N contiguous int16 values; gamma_q int32 and beta_q int64 constants of the weights
buffer; the output int16 or int8."""
from __future__ import annotations

import math

from ...ir import DType, Node
from ...ir.qops_norm16 import QLayerNorm16
from ...protocol import Emitter
from .context import BLOCK, Context, grid_1d

_OUT_T = {"i8": "int8_t", "i16": "int16_t"}


def why_not_layer_norm16(node: Node, graph) -> str | None:
    """int16 input, constant int32 gamma_q and int64 beta_q."""
    if graph.types[node.inputs[0]].dtype is not DType.INT16:
        return f"operand {node.inputs[0]!r} is not int16"
    missing = [v for v in node.inputs[1:] if v not in graph.constants]
    return f"{', '.join(map(repr, missing))} must be constant" if missing else None


def layer_norm16(node: Node, ctx: Context) -> None:
    op: QLayerNorm16 = node.op
    shape = ctx.graph.types[node.inputs[0]].shape
    n = math.prod(shape[op.axis:])
    rows = math.prod(shape) // n
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("layer_norm16.cu.j2").render(
        name=name, node=ctx.comment(node), rows=rows, n=n, eps_q=op.eps_q, zp_out=op.output_zero_point,
        qmin=op.qmin, qmax=op.qmax, out_t=_OUT_T[op.out_dtype])
    ctx.add(node, name, src, grid_1d(rows), (BLOCK, 1, 1), [ctx.value(v) for v in (*node.inputs, node.outputs[0])])


EMITTERS = {QLayerNorm16: Emitter(layer_norm16, why_not_layer_norm16)}
