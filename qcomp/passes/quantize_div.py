"""Quantization of Div by a constant tensor (used by quantize.py; no pass here).

    Div(x, C) = Mul(x, R),   R = float32(1 / C)   (C constant, every element finite and nonzero)

A scalar C (or a scalar numerator, C / x) is already a 256-entry lookup table (quantize.py's
"scalar_lut"); a constant tensor C, per channel say, has no table of one input, so the int8 Div
becomes the int8 Mul of x by the reciprocal constant, quantized like any Mul operand (per tensor,
from its own range): qcomp's QMul (TFLite's integer Mul), on every target, dsp-c and cortex-m
included. The reciprocal is within 1/2 ulp of float32, far below the int8 grid. Division by a value
computed at run time (Div of two activations) has no integer rule and stays a float region.
"""
from __future__ import annotations

import numpy as np

from .. import fixedpoint
from ..ir import Graph, Node, QuantParams, ops
from .observers import qparams_from_range


def int8_mode(g: Graph, n: Node) -> str | None:
    """"div_const" for Div(x, C) with x float and C a constant tensor of finite nonzero values."""
    if not isinstance(n.op, ops.Div) or len(n.inputs) != 2:
        return None
    x, c = n.inputs
    if g.is_constant(x) or not g.is_constant(c) or not g.types[x].dtype.is_float:
        return None
    arr = g.constants[c]
    if not np.issubdtype(arr.dtype, np.floating) or not (np.isfinite(arr).all() and (arr != 0).all()):
        return None
    return "div_const"


def quantize(b, n: Node) -> None:
    """b: quantize.py's builder. The int8 Mul of x by the int8 reciprocal of C."""
    x, c = n.inputs
    recip = (np.float32(1.0) / b.g.constants[c].astype(np.float32)).astype(np.float32)
    scale, zp = qparams_from_range(float(recip.min()), float(recip.max()))
    qp = QuantParams(scale, zp)
    data = fixedpoint.quantize(recip, qp.scale[0], qp.zero_point[0]).astype(np.int8)
    r = b.q.add_constant(f"{c}_reciprocal_q", data, qp)
    b.emit_int(n, [b.as_int(x), r], [b.qparams(n.outputs[0])], op=ops.Mul())
