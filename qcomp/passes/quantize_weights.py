"""Quantize weights only, for `--quant weight` and `--quant dynamic` (no calibration data needed).

weight:  every Conv2D / ConvTranspose2D / Dense weight becomes an int8 constant (symmetric, per
         output channel unless per_channel is False) behind a Dequantize; compute stays float:
           W ~= Dequantize(W_q) = W_q * s_w[c]
dynamic: Dense and MatMul become DynamicDense / DynamicMatMul (qcomp/ir/qops.py): int8 weights,
         activations quantized per run from their own min/max, int32 dot products, float32 rescale.
         This is the usual mode for transformers. Convolutions get int8 weights as in `weight`.
The result is a QUANTIZED-stage graph; graph inputs and outputs stay float.
"""
from __future__ import annotations


import numpy as np

from .. import fixedpoint
from ..ir import Graph, Node, QuantParams, Stage, ops
from ..ir.qops import DynamicDense, DynamicMatMul
from ..ir.qops_rows import DynamicDenseRows
from .observers import symmetric_weight_scales
from .pipeline import each_node

_WEIGHTED = (ops.Conv2D, ops.ConvTranspose2D, ops.Dense)


def _int8_weights(g: Graph, out: Graph, name: str, per_channel: bool) -> tuple[str, np.ndarray]:
    """Add the int8 version of weight constant `name` to `out`; return (its name, its scales)."""
    w = g.constants[name].astype(np.float32)
    s_w = symmetric_weight_scales(w, 0, name=name)
    if not per_channel:
        s_w = np.full_like(s_w, s_w.max())
    s_w = np.where(s_w > 0, s_w, np.float32(1.0))  # an all-zero channel: any scale, weights 0
    w_q = fixedpoint.quantize(w, s_w.reshape((-1,) + (1,) * (w.ndim - 1)), 0, -127, 127).astype(np.int8)
    qp = QuantParams(s_w, 0, axis=0) if per_channel else QuantParams(s_w[:1], 0)
    return out.add_constant(f"{name}_q", w_q, qp), s_w


def quantize_weights(g: Graph, per_channel: bool = True, dynamic: bool = False,
                     skip: frozenset[str] = frozenset(), per_row: bool = False) -> Graph:
    """per_row (dynamic only): Dense becomes DynamicDenseRows, a scale per row of the activation."""
    out = g.copy()  # keeps every value's type: rewritten nodes produce the same float values
    out.stage = Stage.QUANTIZED
    out.nodes = []
    for n in each_node(g.nodes):
        weighted = isinstance(n.op, _WEIGHTED) and g.is_constant(n.inputs[1]) and g.is_constant(n.inputs[2])
        if n.name in skip or not (weighted or (dynamic and isinstance(n.op, ops.MatMul))):
            out.nodes.append(Node(n.name, n.op, n.inputs, n.outputs))
            continue
        if isinstance(n.op, ops.MatMul):
            out.nodes.append(Node(n.name, DynamicMatMul(n.op.act_min, n.op.act_max), n.inputs, n.outputs))
            continue
        w_name, s_w = _int8_weights(g, out, n.inputs[1], per_channel)
        if dynamic and isinstance(n.op, ops.Dense):
            scales = out.add_constant(f"{n.inputs[1]}_scale", np.broadcast_to(s_w, (g.types[n.inputs[1]].shape[0],)))
            op = (DynamicDenseRows if per_row else DynamicDense)(n.op.act_min, n.op.act_max)
            out.nodes.append(Node(n.name, op, (n.inputs[0], w_name, n.inputs[2], scales), n.outputs))
            continue
        deq = out.unique_name(f"{n.inputs[1]}_dq")
        out.add_node(ops.Dequantize(), [w_name], deq, outputs=[deq])
        out.nodes.append(Node(n.name, n.op, (n.inputs[0], deq, n.inputs[2]), n.outputs))
    out.prune()
    return out


__all__ = ["quantize_weights"]
