"""Quantization rules of the comparison, selection and index ops (used by quantize.py; no pass here).

Each is exact: the QUANTIZED graph gives the same result as the float region it replaces, the
int8 values' own dequantized reals compared, selected or indexed.

- Compare of two int8 values with the same quant params: real = (q - zp) * s is strictly
  increasing in q (s > 0), so a OP b on the reals is q_a OP q_b on the integers.
- Compare of an int8 value with a scalar constant c (the result keeps the value's shape):
  the bool of each of the 256 codes, deq(q) OP c with deq in float32 as Dequantize computes it,
  is monotonic in q, so it is one integer comparison with a threshold code t:
      gt, ge: q >= t (t the first true code; no code true: q > 127)
      lt, le: q <= t (t the last true code; no code true: q < -128)
      eq:     q == t (the one true code); no code true: q > 127 (never)
  A constant on the left mirrors the mode (c > x is x < c).
- Where(cond, x, y) whose x and y have int8 forms (or are finite constants): both are brought to
  the output's params (Requantize, as for Concat), then the int8 values are selected. Exact
  because selection commutes with the monotonic requantize: rq(cond ? a : b) = cond ? rq(a) : rq(b).
- ArgMax / ArgMin of an int8 value: the index of the extreme code is that of the extreme real
  (strictly increasing dequantization); the result is int64, outside the quantized values.
Where an operand has no int8 form (it comes from a float region) the op runs in float too: a
Quantize just for the comparison would change which elements compare equal.
"""
from __future__ import annotations

import numpy as np

from ..ir import DType, Graph, Node, ops

_MIRROR = {"eq": "eq", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
_NUMPY = {"eq": np.equal, "gt": np.greater, "ge": np.greater_equal, "lt": np.less, "le": np.less_equal}


def int8_mode(g: Graph, n: Node) -> str | None:
    """"compare", "where" or "arg" for the ops of this module with float operands, else None."""
    if isinstance(n.op, ops.Compare) and g.types[n.inputs[0]].dtype is DType.FLOAT32:
        return "compare"
    if isinstance(n.op, ops.Where) and g.types[n.inputs[1]].dtype is DType.FLOAT32:
        return "where"
    if isinstance(n.op, (ops.ArgMax, ops.ArgMin)) and g.types[n.inputs[0]].dtype is DType.FLOAT32:
        return "arg"
    return None


def threshold(mode: str, scale: float, zero_point: int, c: float) -> tuple[str, int] | None:
    """(mode, code) such that q MODE code equals deq(q) `mode` c for every int8 code q."""
    q = np.arange(-128, 128, dtype=np.int32)
    deq = (q - np.int32(zero_point)).astype(np.float32) * np.float32(scale)
    hit = _NUMPY[mode](deq, np.float32(c))
    if mode in ("gt", "ge"):
        return ("ge", int(q[hit][0])) if hit.any() else ("gt", 127)
    if mode in ("lt", "le"):
        return ("le", int(q[hit][-1])) if hit.any() else ("lt", -128)
    if hit.sum() == 1:
        return "eq", int(q[hit][0])
    return ("gt", 127) if not hit.any() else None


def compare(b, n: Node) -> None:
    g, op = b.g, n.op
    x, y = n.inputs
    if not g.is_constant(x) and not g.is_constant(y):
        qx, qy = b.int_of.get(x), b.int_of.get(y)
        if qx is not None and qy is not None and b.q.types[qx].quant == b.q.types[qy].quant:
            return _emit_plain(b, n, [qx, qy], op)
        return b.emit_float(n)
    var, const, mode = (x, y, op.mode) if g.is_constant(y) else (y, x, _MIRROR[op.mode])
    qv = b.int_of.get(var)
    c = g.constants[const]
    if qv is None or c.size != 1 or g.types[n.outputs[0]].shape != g.types[var].shape:
        return b.emit_float(n)
    qp = b.q.types[qv].quant
    form = threshold(mode, float(qp.scale[0]), int(qp.zero_point[0]), float(c.reshape(())))
    if form is None or float(qp.scale[0]) <= 0:
        return b.emit_float(n)
    code = b.q.add_constant(f"{n.name}_threshold", np.full(c.shape, form[1], np.int8), qp)
    _emit_plain(b, n, [qv, code], ops.Compare(form[0]))


def _emit_plain(b, n: Node, ins: list[str], op) -> None:
    out = n.outputs[0] if n.outputs[0] not in b.q.types else b.q.unique_name(n.outputs[0])
    b.q.add_node(op, ins, n.name, outputs=[out], out_types=[b.g.types[n.outputs[0]]])
    b.float_of[n.outputs[0]] = out


def where(b, n: Node) -> None:
    g = b.g
    cond, x, y = n.inputs
    for v in (x, y):
        if g.is_constant(v) and not np.all(np.isfinite(g.constants[v])):
            return b.emit_float(n)
        if not g.is_constant(v) and v not in b.int_of:
            return b.emit_float(n)
    out_qp = b.qparams(n.outputs[0])
    b.emit_int(n, [b.as_float(cond), b.as_int(x, out_qp), b.as_int(y, out_qp)], [out_qp])


def arg(b, n: Node) -> None:
    qx = b.int_of.get(n.inputs[0])
    if qx is None:
        return b.emit_float(n)
    _emit_plain(b, n, [qx], n.op)


