"""int16 Softmax in the quantizer and in integer lowering (fixedpoint/softmax16.py, qops16_softmax.py).

Quantize (Builder16.softmax calls `softmax16`): a Softmax computes in int16 when its input is
int16 (its home is int16) or its output is marked `--precision NAME=int16`, and its rows fit the
spec (fixedpoint.softmax16_refusal: 1 to 65536 elements; every input scale is accepted). Its input
is the int16 version of the value (an int8 input is converted onto the int16 grid of its range);
its output is int16 at the spec's fixed scale 1/32768, zero point 0 (TFLite's 16x8 rule; the
calibrated range of the output is not used, as for the int8 Softmax's 1/256). An unmarked output's
home is int8 at the int8 Softmax's 1/256, zero point -128, a conversion of the int16 result (which
A16W8 readers read directly). Otherwise (a row too long, or nothing int16 around it) the int8
rules of quantize.py apply.

Lower (lower_integer16's rule for a Softmax with int16 values): QSoftmax16(axis,
softmax16_params(1, s_in)) reading the spec's two tables, added once per graph as constants
`softmax16_exp_lut` and `softmax16_recip_lut` (beta 1: ONNX Softmax has none).
"""
from __future__ import annotations

import numpy as np

from .. import fixedpoint
from ..errors import QcompError
from ..ir import DType, Graph, Node, QuantParams
from ..ir.qops16_softmax import QSoftmax16

I8, I16 = DType.INT8, DType.INT16
OUT16 = (float(np.float32(fixedpoint.SOFTMAX16_OUTPUT_SCALE)), 0)


def softmax16(b, n: Node) -> bool:
    """Quantize n (a Softmax) in int16 when the rule above applies; False leaves it to the int8 rules."""
    x, y = n.inputs[0], n.outputs[0]
    if not (b.home16(x) or y in b.int16):
        return False
    if fixedpoint.softmax16_refusal(b.g.types[x].shape[n.op.axis]) is not None:
        return False
    b.emit16(n, n.op, [b.as_int16(x)], [(I16, QuantParams(np.float32(OUT16[0]), 0))])
    if y not in b.int16:
        wide = b.int_of[y]
        b.wide_of[y] = wide
        int8 = QuantParams(np.float32(fixedpoint.SOFTMAX_OUTPUT_SCALE), fixedpoint.SOFTMAX_OUTPUT_ZERO_POINT)
        b.int_of[y] = b._convert(y, wide, I8, int8)
    return True


def _table(out: Graph, name: str, table: np.ndarray) -> str:
    if name in out.constants and np.array_equal(out.constants[name], table) and out.types[name].dtype is I16:
        return name
    return out.add_constant(name, table)


def lower(g: Graph, out: Graph, n: Node) -> None:
    """Softmax with int16 input and output -> QSoftmax16 (module docstring)."""
    x, y = n.inputs[0], n.outputs[0]
    tx, ty = g.types[x], g.types[y]
    if tx.dtype is not I16 or ty.dtype is not I16:
        raise QcompError(f"node {n.name!r} (Softmax): the int16 Softmax takes int16 in and out, got "
                         f"{tx.dtype.value} -> {ty.dtype.value}; quantize the model again")
    reason = fixedpoint.softmax16_refusal(tx.shape[n.op.axis])
    if reason is not None:
        raise QcompError(f"node {n.name!r} (Softmax) in int16: {reason}; keep it int8 (drop its --precision int16)")
    s_out, zp_out = float(ty.quant.scale[0]), int(ty.quant.zero_point[0])
    if (s_out, zp_out) != OUT16:
        raise QcompError(f"node {n.name!r} (Softmax) in int16: its output has scale {s_out:g} and zero point {zp_out}; "
                         "the int16 Softmax writes scale 1/32768, zero point 0")
    p = fixedpoint.softmax16_params(1.0, float(tx.quant.scale[0]))
    tables = [_table(out, "softmax16_exp_lut", fixedpoint.softmax16_exp_lut()),
              _table(out, "softmax16_recip_lut", fixedpoint.softmax16_recip_lut())]
    out.add_node(QSoftmax16(n.op.axis, p.input_multiplier, p.input_shift), [x, *tables], n.name, outputs=[y],
                 out_types=[ty])
