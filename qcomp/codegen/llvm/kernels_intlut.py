"""llvm kernel of IntLut (qcomp/ir/qops_intlut.py): an integer tensor (int32, int64 or bool) to int8
through a constant table,

    y[i] = table[clamp(x[i], low, low + n - 1) - low]

x widened to i64 (sign-extended; bool zero-extended), clamped with two selects, one byte load."""
from __future__ import annotations

import numpy as np

from ...ir import DType, Node
from ...ir.qops_intlut import IntLut
from ...protocol import Emitter
from .irgen import I8, I64, c64, int_type, load, loop, store


def why_not_int_lut(node: Node, graph) -> str | None:
    """A constant table."""
    return None if node.inputs[1] in graph.constants else "the IntLut table must be a constant"


def emit_int_lut(node: Node, k) -> None:
    b = k.b
    x_t = k.graph.types[k.node.inputs[0]]
    n_table = k.graph.types[k.node.inputs[1]].shape[0]
    low = k.node.op.low
    et = int_type(x_t.dtype.itemsize)
    with loop(b, int(np.prod(x_t.shape, dtype=np.int64))) as i:
        v = load(b, k.ins[0], i, et)
        if et != I64:
            v = b.zext(v, I64) if x_t.dtype is DType.BOOL else b.sext(v, I64)
        v = b.select(b.icmp_signed("<", v, c64(low)), c64(low), v)
        v = b.select(b.icmp_signed(">", v, c64(low + n_table - 1)), c64(low + n_table - 1), v)
        store(b, load(b, k.ins[1], b.sub(v, c64(low)), I8), k.outs[0], i, I8)


EMITTERS = {IntLut: Emitter(emit_int_lut, why_not_int_lut)}
