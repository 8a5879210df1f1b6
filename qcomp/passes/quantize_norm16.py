"""Quantization and integer lowering of LayerNorm on int16 activations (used by quantize16.py and
lower_integer16.py; no pass here).

quantize (Builder16.layernorm): a LayerNorm with constant scale and bias computes in int16 when its
input is int16 or its output is marked int16 (`--precision NAME=int16`), like the other A16W8
ops: an int8 input is converted onto the int16 grid of its calibrated range; the LayerNorm writes
int16 on its output's int16 grid, and, when the output is not marked, a conversion to its int8
params follows, which lower_integer16 folds into QLayerNorm16 when it is the int16 result's only
reader (QLayerNorm16 then writes int8 directly: one rounding). Where
fixedpoint.layernorm16_refusal finds no int16 form (a row over 32768 elements, an input scale too
small for epsilon, max |gamma| / s_out > 32767 on the int16 output grid) it falls back to the int8
rule (quantize_norm.py, reading the int8 conversion of its input).

lower (lower_integer16's rule for a LayerNorm touching an int16 value): QLayerNorm16
(qcomp/ir/qops_norm16.py) with fixedpoint.layernorm16_params(N, eps, s_in, gamma, beta, s_out),
N = prod(shape[axis:]), gamma and beta broadcast to the row and flattened:

    eps_q = max(1, ceil(N^2 eps / s_in^2)),  gamma_q = rint(gamma / s_out * 2^16)  (int32),
    beta_q = rint(clip(beta / s_out, +-2^23) * 2^38)  (int64),  [qmin, qmax] = the output type's range
"""
from __future__ import annotations

import numpy as np

from .. import fixedpoint
from ..errors import QcompError
from ..ir import DType, Graph, Node
from ..ir.qops_norm16 import QLayerNorm16
from .quantize_norm import _affine, _row

I8, I16 = DType.INT8, DType.INT16
_OUT_DTYPE = {I8: "i8", I16: "i16"}


def _input_scale16(b, value: str) -> float:
    """The scale of the int16 version of `value` that b.as_int16 gives (without creating it)."""
    src = b.wide_of.get(value, b.int_of.get(value))
    if src is not None and b.q.types[src].dtype is I16:
        return float(b.q.types[src].quant.scale[0])
    return float(b.qparams16(value).scale[0])


def quantize(b, n: Node) -> bool:
    """b: quantize16's Builder16. Emit the int16 LayerNorm of n and return True, or return False
    (nothing emitted) where the spec has no int16 form for its params."""
    gamma, _ = _affine(b.g, n)
    s_out = float(b.qparams16(n.outputs[0]).scale[0])       # the finest output grid it may write
    if fixedpoint.layernorm16_refusal(_row(b.g, n), n.op.epsilon, _input_scale16(b, n.inputs[0]), gamma,
                                      s_out) is not None:
        return False
    b._emit_wide(n, [b.as_int16(n.inputs[0]), b.as_float(n.inputs[1]), b.as_float(n.inputs[2])])
    return True


def lower(g: Graph, out: Graph, n: Node, y: str) -> None:
    """A LayerNorm of a QUANTIZED graph with an int16 input -> QLayerNorm16 writing y (its own output,
    or the int8 conversion lower_integer16 folds into it) with its integers as constants."""
    x = n.inputs[0]
    tx, ty = g.types[x], g.types[y]
    if tx.dtype is not I16:
        raise QcompError(f"node {n.name!r} (LayerNorm): an int16 LayerNorm reads an int16 input, got "
                         f"{tx.dtype.value}; keep it int8 (drop its --precision int16)")
    s_in, s_out = float(tx.quant.scale[0]), float(ty.quant.scale[0])
    zp_out = int(ty.quant.zero_point[0])
    gamma, beta = _affine(g, n)
    reason = fixedpoint.layernorm16_refusal(_row(g, n), n.op.epsilon, s_in, gamma, s_out)
    if reason is not None:
        raise QcompError(f"node {n.name!r} (LayerNorm) in int16: {reason}; keep it int8 (drop its "
                         f"--precision int16)")
    p = fixedpoint.layernorm16_params(_row(g, n), n.op.epsilon, s_in, gamma, beta, s_out)
    g_name = out.add_constant(f"{n.name}_gamma_q", p.gamma_q.astype(np.int32))
    b_name = out.add_constant(f"{n.name}_beta_q", p.beta_q.astype(np.int64))
    qmin, qmax = ty.dtype.qrange
    op = QLayerNorm16(n.op.axis, p.eps_q, zp_out, qmin, qmax, _OUT_DTYPE[ty.dtype])
    out.add_node(op, [x, g_name, b_name], n.name, outputs=[y], out_types=[ty])
