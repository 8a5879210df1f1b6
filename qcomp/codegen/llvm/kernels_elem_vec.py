"""The int8 QAdd, QSub, QMul and QRequantize as vector loops: qcomp/fixedpoint/kernels8.py, lane-wise.

They replace kernels_elem.py's scalar loops (one broadcast-map load per operand per element) for the
broadcasts kernels_float_vec's elementwise plan takes (each operand the output's shape, a single
element, or a trailing block of the output repeated along the leading axes: a residual [S, H] on
[S, H], an attention mask [1, 1, 1, S] on [1, H, S, S]); any other broadcast keeps those loops.
Rows, thread split and steps are kernels16_elem._elementwise16's (L lanes per step, the target's
int32 lanes, then each row's tail as scalars through the same IR on scalar types).

Each value in int64 lanes wherever the spec's arithmetic is int64 (VPMULDQ on x86, SMULL on AArch64:
LLVM sees the sign-extended 32-bit factors), so no bound beyond the spec's own is assumed:

  QAdd / QSub  a_scaled = mbqm((a - zp_a) << left_shift, a_multiplier, a_shift)   |a - zp_a| <= 255
               b_scaled likewise;  acc = a_scaled +- b_scaled
               out = clamp(mbqm(acc, out_multiplier, out_shift) + zp_out, qmin, qmax)
  QMul         acc = (a - zp_a) * (b - zp_b)  (|acc| <= 65025, int32)
               out = clamp(mbqm(acc, multiplier, shift) + zp_out, qmin, qmax)
with mbqm(x, m, s) = (x * m + 2^(30 - s)) >> (31 - s) (fixedpoint.multiply_by_quantized_multiplier)
and the clamp in int64, as fixedpoint.requantize.
"""
from __future__ import annotations

from ...ir import Node, qops
from . import kernels_elem, strided
from .irgen import I8
from .kernels16_elem import _c, _elementwise16, _plan, _widen, mbqm, requantize


def _int8_operands(node: Node, k) -> bool:
    return all(k.graph.types[v].dtype.itemsize == 1 for v in node.inputs[:2])


def emit_add_sub(node: Node, k) -> None:
    op = node.op
    plan = _plan(node, k, 2)
    if plan is None or not _int8_operands(node, k):
        return kernels_elem.emit_add_sub(node, k)
    sub = isinstance(op, qops.QSub)

    def scaled(b, x, zero_point, multiplier, shift):
        x64 = b.sub(_widen(b, x, 64), _c(x, zero_point, 64))
        return mbqm(b, b.shl(x64, _c(x, op.left_shift, 64)), multiplier, shift)

    def combine(b, x, y):
        xs = scaled(b, x, op.a_zero_point, op.a_multiplier, op.a_shift)
        ys = scaled(b, y, op.b_zero_point, op.b_multiplier, op.b_shift)
        acc = b.sub(xs, ys) if sub else b.add(xs, ys)
        return requantize(b, acc, op.out_multiplier, op.out_shift, op.out_zero_point, op.qmin, op.qmax, I8)
    _elementwise16(k, node, *plan, combine, "add8_job")


def emit_mul(node: Node, k) -> None:
    op = node.op
    plan = _plan(node, k, 2)
    if plan is None or not _int8_operands(node, k):
        return kernels_elem.emit_mul(node, k)

    def combine(b, x, y):
        acc = b.mul(b.sub(_widen(b, x, 32), _c(x, op.a_zero_point, 32)),
                    b.sub(_widen(b, y, 32), _c(y, op.b_zero_point, 32)))
        return requantize(b, acc, op.multiplier, op.shift, op.out_zero_point, op.qmin, op.qmax, I8)
    _elementwise16(k, node, *plan, combine, "mul8_job")


def emit_requantize(node: Node, k) -> None:
    """QRequantize: clamp(mbqm(x - zp_in, multiplier, shift) + zp_out, qmin, qmax), |x - zp_in| <= 255."""
    op = node.op
    plan = _plan(node, k, 1)
    if (plan is None or not k.graph.types[node.inputs[0]].dtype.itemsize == 1
            or strided.out_rows(node, k.graph) is not None):   # a strided Concat slice: kernels_elem's row loop
        return kernels_elem.emit_requantize(node, k)

    def combine(b, x):
        acc = b.sub(_widen(b, x, 32), _c(x, op.input_zero_point, 32))
        return requantize(b, acc, op.multiplier, op.shift, op.output_zero_point, op.qmin, op.qmax, I8)
    _elementwise16(k, node, *plan, combine, "requantize8_job")
