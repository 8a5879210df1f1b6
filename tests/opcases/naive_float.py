"""naive.py's float-boundary and --quant dynamic kernels: Quantize, Dequantize, DynamicDense,
DynamicMatMul and the fused float forms built on them (DynamicDenseAddNorm, DynamicDenseRows,
DynamicMatMulScaleAdd), each written from its op's docstring, independent of qcomp.ref.

Quantize: clamp(rint(float32(x) / float32(scale)) + zp) (ties to even); Dequantize:
float32(q - zp) * float32(scale). --quant dynamic: per-run params of x (min/max widened to 0,
scale = (hi - lo) / 255, zp = clamp(rint(-128 - lo / scale))), an int64 product of the centred
codes, then y = acc * (s_x * s_w) + b in float32, clamped to the fused activation's bounds.
"""
from __future__ import annotations

import numpy as np

from qcomp.ir import Graph, Node


# ---- the float boundary ---------------------------------------------------------------------

def _per_axis(v: np.ndarray, quant_axis, rank: int) -> np.ndarray:
    if quant_axis is None:
        return v[0]
    shape = [1] * rank
    shape[quant_axis] = -1
    return v.reshape(shape)


def quantize(g: Graph, node: Node, x):
    q = g.types[node.outputs[0]].quant
    scale, zp = np.float32(q.scale[0]), int(q.zero_point[0])
    x = x.astype(np.float32)
    r = np.zeros(x.shape) if scale == 0 else np.rint(x / scale).astype(np.float64)   # float32 divide
    dtype = g.types[node.outputs[0]].dtype          # int8, or int16 (A16W8 values)
    return np.clip(r + zp, *dtype.qrange).astype(dtype.np)


def dequantize(g: Graph, node: Node, x):
    q, rank = g.types[node.inputs[0]].quant, x.ndim
    scale = _per_axis(q.scale.astype(np.float32), q.axis, rank)
    zp = _per_axis(q.zero_point.astype(np.int64), q.axis, rank)
    return ((x.astype(np.int64) - zp).astype(np.float32) * scale).astype(np.float32)


# ---- --quant dynamic ------------------------------------------------------------------------

def _dynamic(x: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """Per-run params (min/max widened to 0, zero point shifted to int8), then x - zp as int64."""
    lo = np.float32(min(float(x.min()), 0.0))
    hi = np.float32(max(float(x.max()), 0.0))
    scale = np.float32(np.float32(hi - lo) / np.float32(255))
    if scale == 0:
        return np.zeros(x.shape, np.int64), np.float32(0)
    zp = int(np.clip(np.rint(np.float32(-128) - np.float32(lo / scale)), -128, 127))
    q = np.clip(np.rint(x.astype(np.float32) / scale).astype(np.float64) + zp, -128, 127).astype(np.int64)
    return q - zp, scale


def _float_clamp(y: np.ndarray, op) -> np.ndarray:
    if op.act_min is not None:
        y = np.maximum(y, np.float32(op.act_min))
    if op.act_max is not None:
        y = np.minimum(y, np.float32(op.act_max))
    return y.astype(np.float32)


def dynamic_dense(g: Graph, node: Node, x, w, b, w_scale):
    xc, s_x = _dynamic(x)
    acc = xc @ w.astype(np.int64).T
    y = acc.astype(np.float32) * (s_x * w_scale.astype(np.float32)) + b.astype(np.float32)
    return _float_clamp(y, node.op)


def dynamic_matmul(g: Graph, node: Node, a, b):
    (ac, s_a), (bc, s_b) = _dynamic(a), _dynamic(b)
    acc = np.matmul(ac, bc)
    return _float_clamp(acc.astype(np.float32) * np.float32(s_a * s_b), node.op)


def dynamic_dense_add_norm(g: Graph, node: Node, x, w, b, w_scale, bias, r, gamma, beta):
    """qops_fused.DynamicDenseAddNorm from its docstring: DynamicDense, two float32 additions, then
    LayerNorm over the last axis in float64 (mean, centred squares' mean, one division by the square
    root), rounded to float32 once."""
    h = (bias.astype(np.float32) + dynamic_dense(g, node, x, w, b, w_scale)).astype(np.float32)
    s = (h + r.astype(np.float32)).astype(np.float64)
    centred = s - s.mean(axis=-1, keepdims=True)
    var = (centred * centred).mean(axis=-1, keepdims=True)
    y = centred / np.sqrt(var + node.op.epsilon) * gamma.astype(np.float64) + beta.astype(np.float64)
    return y.astype(np.float32)


def dynamic_dense_rows(g: Graph, node: Node, x, w, b, w_scale):
    """qops_rows.DynamicDenseRows from its docstring: _dynamic's parameters of each row alone."""
    rows = x.reshape(-1, x.shape[-1])
    parts = [_dynamic(row) for row in rows]
    xc = np.stack([c for c, _ in parts])
    s = np.asarray([s for _, s in parts], np.float32)[:, None]
    acc = xc @ w.astype(np.int64).T
    y = acc.astype(np.float32) * (s * w_scale.astype(np.float32)[None, :]) + b.astype(np.float32)
    return _float_clamp(y, node.op).reshape(*x.shape[:-1], w.shape[0])


def dynamic_matmul_scale_add(g: Graph, node: Node, a, b, m):
    """qops_fused.DynamicMatMulScaleAdd from its docstring: DynamicMatMul, a float32 product by the
    scale, then a float32 addition of m broadcast over the leading axes."""
    d = dynamic_matmul(g, node, a, b).astype(np.float32)
    s = (d * np.float32(node.op.scale)).astype(np.float32)
    return (s + m.astype(np.float32)).astype(np.float32)


def dynamic_dense_split(g: Graph, node: Node, x, w, b, w_scale):
    """qops_split.DynamicDenseSplit from its docstring: the stacked DynamicDense, its last axis cut into
    op.parts outputs of equal width."""
    y = dynamic_dense(g, node, x, w, b, w_scale)
    n = y.shape[-1] // node.op.parts
    return [np.ascontiguousarray(y[..., p * n:(p + 1) * n]) for p in range(node.op.parts)]
