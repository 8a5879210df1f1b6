"""Quantization and integer lowering of LayerNorm (used by quantize.py and lower_integer.py; no pass here).

quantize: a LayerNorm whose input has an int8 form and whose scale and bias are constants becomes
an int8 LayerNorm (input params from its producer or calibration, output params from calibration),
unless fixedpoint.layernorm_refusal finds no integer form for those params (a row over 65536
elements, an input scale too small for epsilon, an output scale too small for gamma): then it stays
a float region, which targets with float math run and dsp-c / cortex-m refuse naming the limit.
The rule is the same on every target, like the rest of the QUANTIZED graph (it depends only on the
model, the calibration data and the options): llvm and cuda run the integer LayerNorm too, which
replaces the float region's Dequantize -> LayerNorm -> Quantize by the same int8 in and out and
lands within 1 LSB of it (tests/fixedpoint/test_fp_layernorm.py); `--skip NODE` keeps one in float
on the targets with float math. Measured (ref target, static int8, 16 calibration sentences, 4 held
back): all-MiniLM-L6-v2's pooled-embedding cosine against FP32 is 0.868 with its 13 integer
LayerNorms and 0.864 with them all skipped to float regions; the encoder block of
tests/models/test_encoder_block.py gives 0.99970 and 0.99976 (its last float region writes the model's
float output without re-quantizing it). So the integer form is the default
everywhere, and the QUANTIZED graph (model.qir) stays the same for every target.

lower_integer: the int8 LayerNorm over axes [axis, rank) becomes QLayerNorm (qcomp/ir/qops_norm.py)
with fixedpoint.layernorm_params(N, eps, s_in, gamma, beta, s_out), N = prod(shape[axis:]), gamma and
beta broadcast to the row and flattened (NHWC keeps the normalized trailing axes contiguous):

    eps_q = max(1, ceil(N^2 eps / s_in^2)),  gamma_q = rint(gamma / s_out * 2^16),
    beta_q = rint(clip(beta / s_out, +-(2^15 - 1)) * 2^16)
"""
from __future__ import annotations

import numpy as np

from .. import fixedpoint
from ..errors import QcompError
from ..ir import Graph, Node, ops
from ..ir.qops_norm import QLayerNorm


def int8_mode(g: Graph, n: Node) -> str | None:
    """"layernorm" for a LayerNorm with float input and constant scale and bias, else None."""
    if (isinstance(n.op, ops.LayerNorm) and g.types[n.inputs[0]].dtype.is_float
            and g.is_constant(n.inputs[1]) and g.is_constant(n.inputs[2])):
        return "layernorm"
    return None


def _row(g: Graph, n: Node) -> int:
    return int(np.prod(g.types[n.inputs[0]].shape[n.op.axis:], dtype=np.int64))


def _affine(g: Graph, n: Node) -> tuple[np.ndarray, np.ndarray]:
    """gamma and beta broadcast to the normalized axes and flattened to the row's N elements."""
    norm = g.types[n.inputs[0]].shape[n.op.axis:]
    return tuple(np.broadcast_to(g.constants[v].astype(np.float32), norm).reshape(-1) for v in n.inputs[1:3])


def quantize(b, n: Node) -> None:
    """b: quantize.py's builder. Int8 LayerNorm where the spec has a form for its params, else float."""
    v = n.inputs[0]
    qin = b.q.types[b.int_of[v]].quant if v in b.int_of else b.qparams(v)
    qout = b.qparams(n.outputs[0])
    gamma, _ = _affine(b.g, n)
    if fixedpoint.layernorm_refusal(_row(b.g, n), n.op.epsilon, float(qin.scale[0]), gamma,
                                    float(qout.scale[0])) is not None:
        b.emit_float(n)
        return
    b.emit_int(n, [b.as_int(v), b.as_float(n.inputs[1]), b.as_float(n.inputs[2])], [qout])


def lower(g: Graph, out: Graph, n: Node) -> None:
    """The int8 LayerNorm of a QUANTIZED graph -> QLayerNorm with its integers as constants."""
    x, y = n.inputs[0], n.outputs[0]
    qin, qout = g.types[x].quant, g.types[y].quant
    s_in, zp_in = float(qin.scale[0]), int(qin.zero_point[0])
    s_out, zp_out = float(qout.scale[0]), int(qout.zero_point[0])
    gamma, beta = _affine(g, n)
    reason = fixedpoint.layernorm_refusal(_row(g, n), n.op.epsilon, s_in, gamma, s_out)
    if reason is not None:
        raise QcompError(f"node {n.name!r} (LayerNorm): {reason}; keep it in float with --skip {n.name} "
                         f"(on a target with float math)")
    p = fixedpoint.layernorm_params(_row(g, n), n.op.epsilon, s_in, gamma, beta, s_out)
    g_name = out.add_constant(f"{n.name}_gamma_q", p.gamma_q.astype(np.int32))
    b_name = out.add_constant(f"{n.name}_beta_q", p.beta_q.astype(np.int32))
    op = QLayerNorm(n.op.axis, p.eps_q, zp_in, zp_out, -128, 127)
    out.add_node(op, [x, g_name, b_name], n.name, outputs=[y], out_types=[g.types[y]])
