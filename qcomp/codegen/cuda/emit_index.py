"""CUDA emitter of IntLut (qcomp/ir/qops_intlut.py): one thread per element,
y = table[clamp(x, low, low + n - 1) - low] with x widened to 64 bits (templates/index.cu.j2)."""
from __future__ import annotations

from ...ir import Node
from ...ir.qops_intlut import IntLut
from ...protocol import Emitter
from .context import BLOCK, Context, grid_1d


def why_not_int_lut(node: Node, graph) -> str | None:
    """A constant table."""
    return None if node.inputs[1] in graph.constants else "the IntLut table must be a constant"


def int_lut(node: Node, ctx: Context) -> None:
    g = ctx.graph
    x, table, y = (ctx.value(v) for v in (*node.inputs, node.outputs[0]))
    total = g.types[node.outputs[0]].size
    low = node.op.low
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("index.cu.j2").render(kind="int_lut", name=name, node=ctx.comment(node), total=total,
                                                     low=low, high=low + g.types[node.inputs[1]].shape[0] - 1,
                                                     xtype=x.ctype)
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1), [x, table, y])


EMITTERS = {IntLut: Emitter(int_lut, why_not_int_lut)}
