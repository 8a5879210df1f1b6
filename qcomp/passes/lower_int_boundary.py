"""Integer forms of two float steps that token models place right before a Quantize, so that such
a model lowers integer-only (the C targets run no float). Both are exact: the TARGET graph computes
the same int8 values as the QUANTIZED graph's float step followed by its Quantize.

  Quantize(Cast(x: int32 / int64 / bool -> float32))     (an attention mask, `(1 - mask) * -10000`)
      -> IntLut(x, table) {low}                           (qcomp/ir/qops_intlut.py)
     table[j] = quantize(float32(low + j), s, zp) over the integers from the last one whose int8 form
     is the lower saturated value to the first whose form is the upper one: quantize is monotonic in
     x, so every x outside that range clamps onto an end with the same value.
  Quantize(Gather(T: float32 constant, ids))            (a token embedding)
      -> Gather(quantize(T, s, zp), ids)
     quantize is elementwise and Gather only moves elements: Quantize(Gather(T)) = Gather(Quantize(T)).

(s, zp) are the Quantize's per-tensor output parameters. An IntLut table longer than MAX_TABLE
(a scale over MAX_TABLE / 256 per integer step, e.g. raw token ids cast to float) is not built: the
float Cast stays (targets with float run it; the C targets refuse it by name).
"""
from __future__ import annotations

import numpy as np

from .. import fixedpoint
from ..ir import DType, Graph, Node, ops
from ..ir.qops_intlut import INTLUT_INPUTS, IntLut

MAX_TABLE = 4096


def _params(g: Graph, n: Node) -> tuple[float, int] | None:
    """The Quantize's per-tensor int8 output parameters, or None (another quantize form)."""
    t = g.types[n.outputs[0]]
    if t.dtype is not DType.INT8 or t.quant is None or t.quant.scale.size != 1:
        return None
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def int_table(scale: float, zero_point: int) -> tuple[int, np.ndarray] | None:
    """(low, table) of the module docstring, or None when the table would exceed MAX_TABLE entries."""
    if scale == 0:
        return 0, fixedpoint.quantize(np.zeros(1, np.float32), scale, zero_point).astype(np.int8)
    ends = np.array([(-128 - zero_point) * scale, (127 - zero_point) * scale])
    first, last = int(np.floor(ends.min())) - 2, int(np.ceil(ends.max())) + 2
    if last - first + 1 > 4 * MAX_TABLE:
        return None
    xs = np.arange(first, last + 1, dtype=np.int64)
    q = fixedpoint.quantize(xs.astype(np.float32), scale, zero_point).astype(np.int8)
    start = int(np.flatnonzero(q == q[0])[-1])       # the last x with the lowest value
    stop = int(np.flatnonzero(q == q[-1])[0])        # the first x with the highest value
    if stop - start + 1 > MAX_TABLE:
        return None
    return int(xs[start]), q[start:stop + 1]


def _cast_lut(g: Graph, out: Graph, n: Node, src: Node, params: tuple[float, int]) -> bool:
    x = src.inputs[0]
    if g.types[x].dtype not in INTLUT_INPUTS or src.op.to is not DType.FLOAT32:
        return False
    found = int_table(*params)
    if found is None:
        return False
    low, table = found
    t = out.add_constant(f"{n.name}_table", table, quant=g.types[n.outputs[0]].quant)
    out.add_node(IntLut(low), [x, t], n.name, outputs=list(n.outputs), out_types=[g.types[n.outputs[0]]])
    return True


def _gather_table(g: Graph, out: Graph, n: Node, src: Node, params: tuple[float, int]) -> bool:
    data, ids = src.inputs
    if data not in g.constants or g.types[data].dtype is not DType.FLOAT32:
        return False
    table = fixedpoint.quantize(g.constants[data], *params).astype(np.int8)
    t = out.add_constant(f"{data}_q", table, quant=g.types[n.outputs[0]].quant)
    out.add_node(ops.Gather(src.op.axis), [t, ids], n.name, outputs=list(n.outputs),
                 out_types=[g.types[n.outputs[0]]])
    return True


_REWRITES = {ops.Cast: _cast_lut, ops.Gather: _gather_table}


def lower(g: Graph, out: Graph, n: Node, producers: dict[str, Node]) -> bool:
    """Emit n's integer form into `out` when n is a Quantize of one of the two steps; False when not
    (lower_integer then copies n as it is). The float step stays in `out` only if something else
    reads it (out.prune() drops it otherwise)."""
    if not isinstance(n.op, ops.Quantize):
        return False
    src = producers.get(n.inputs[0])
    params = _params(g, n)
    rewrite = _REWRITES.get(type(src.op)) if src is not None else None
    return params is not None and rewrite is not None and rewrite(g, out, n, src, params)
