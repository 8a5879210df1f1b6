"""Emitter of QSoftmax16 (int16 Softmax, qcomp/ir/qops16_softmax.py) for the cuda backend.

templates/softmax16.cu.j2: fixedpoint.softmax_int16 with the same names, one thread per row (as the
int8 QSoftmax of emit_elementwise.py), the two int16 tables read from the graph's constants, the
lookup lut16_lookup of a16w8_prelude.cu.j2, clz the PTX __clz.
"""
from __future__ import annotations

import numpy as np

from ...ir import Node, qops16
from .context import BLOCK, Context, grid_1d


def q_softmax16(node: Node, ctx: Context) -> None:
    op: qops16.QSoftmax16 = node.op
    shape = ctx.graph.types[node.inputs[0]].shape
    length, stride = shape[op.axis], int(np.prod(shape[op.axis + 1:], dtype=np.int64))
    rows = int(np.prod(shape, dtype=np.int64)) // length
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("softmax16.cu.j2").render(
        name=name, node=ctx.comment(node), L=length, S=stride, rows=rows, multiplier=op.input_multiplier,
        shift=op.input_shift)
    args = [ctx.value(v) for v in node.inputs] + [ctx.value(node.outputs[0])]
    ctx.add(node, name, src, grid_1d(rows), (BLOCK, 1, 1), args)


EMITTERS = {qops16.QSoftmax16: q_softmax16}
