"""Quantization rules of the ops that index with run-time integers (used by quantize.py; no pass
here): Gather with run-time indices and an int8 activation as data, GatherElements, GatherND,
ScatterElements and ScatterND (qcomp/ir/ops_index.py).

Each int8 form is exact, as the other movement ops' (ARCHITECTURE.md section 3):
- the gathers move int8 codes and keep their data's quant params (the "same params" rule);
- a scatter with reduction none, max or min brings data and updates to the output's calibrated
  params (Requantize, as for Concat and Where), then moves or compares int8 codes: selection and
  max / min commute with the monotonic requantize, rq(max(a, b)) = max(rq(a), rq(b));
- a scatter with add or mul has no exact int8 form (a sum of codes is not the code of a sum): it
  runs in float, as does every index op whose data has no int8 form (it comes from a float region
  or is a constant table: passes/lower_int_boundary.py quantizes a constant table that a Gather
  reads, after the float Gather).
The indices stay integers; nothing is quantized about them.
"""
from __future__ import annotations

from ..ir import Graph, Node, ops
from ..ir.ops_index import GatherElements, GatherND, ScatterElements, ScatterND

_GATHERS = (GatherElements, GatherND)
_SCATTERS = (ScatterElements, ScatterND)


def int8_mode(g: Graph, n: Node) -> str | None:
    """"index" for the ops of this module with float data, else None."""
    if not g.types[n.inputs[0]].dtype.is_float:
        return None
    if isinstance(n.op, ops.Gather) and not g.is_constant(n.inputs[0]) and not g.is_constant(n.inputs[1]):
        return "index"
    if isinstance(n.op, _GATHERS):
        return "index"
    if isinstance(n.op, _SCATTERS) and n.op.reduction in ("none", "max", "min"):
        return "index"
    return None


def quantize(b, n: Node) -> None:
    data, idx = n.inputs[:2]
    if data not in b.int_of:
        return b.emit_float(n)
    if isinstance(n.op, _SCATTERS):
        updates = n.inputs[2]
        if updates not in b.int_of and not b.g.is_constant(updates):
            return b.emit_float(n)
        qp = b.qparams(n.outputs[0])
        return b.emit_int(n, [b.as_int(data, qp), b.as_float(idx), b.as_int(updates, qp)], [qp])
    x = b.int_of[data]
    b.emit_int(n, [x, b.as_float(idx)], [b.q.types[x].quant])
