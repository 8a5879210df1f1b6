"""Reference kernels of the fused ops of qcomp/ir/qops_fused.py: the unfused sequence, run with the
unfused ops' own kernels in the same order, so a fused graph's values are the unfused graph's bit for
bit (tests/passes/test_fuse_dynamic.py compares both)."""
from __future__ import annotations

import numpy as np

from ..ir import ops
from ..ir.qops_fused import DynamicAttention, DynamicDenseAddNorm, DynamicDenseGelu, DynamicMatMulScaleAdd
from . import float_elementwise, float_movement, float_norm
from .integer_kernels import dynamic_dense, dynamic_matmul


def _scalar(v: float) -> np.ndarray:
    return np.asarray(v, dtype=np.float32)


def dynamic_dense_gelu(op: DynamicDenseGelu, x, w, b, w_scale, bias):
    d = dynamic_dense(op.dense(), x, w, b, w_scale)
    h = float_elementwise.add(ops.Add(), bias, d)
    t = float_elementwise.div(ops.Div(), h, _scalar(op.div))
    e = float_elementwise.erf(ops.Erf(), t)
    a = float_elementwise.add(ops.Add(), e, _scalar(op.one))
    m = float_elementwise.mul(ops.Mul(), h, a)
    return float_elementwise.mul(ops.Mul(), m, _scalar(op.half))


def dynamic_dense_add_norm(op: DynamicDenseAddNorm, x, w, b, w_scale, bias, r, gamma, beta):
    d = dynamic_dense(op.dense(), x, w, b, w_scale)
    h = float_elementwise.add(ops.Add(), bias, d)
    s = float_elementwise.add(ops.Add(), h, r)
    return float_norm.layer_norm(ops.LayerNorm(s.ndim - 1, op.epsilon), s, gamma, beta)


TABLE = {DynamicDenseGelu: dynamic_dense_gelu, DynamicDenseAddNorm: dynamic_dense_add_norm}


def dynamic_matmul_scale_add(op: DynamicMatMulScaleAdd, a, b, m):
    d = dynamic_matmul(op.matmul(), a, b)
    s = float_elementwise.mul(ops.Mul(), d, _scalar(op.scale))
    return float_elementwise.add(ops.Add(), s, m)


TABLE[DynamicMatMulScaleAdd] = dynamic_matmul_scale_add


def dynamic_attention(op: DynamicAttention, q, k, v, m):
    """The head split, scores, Softmax, context product and head merge (qcomp/ir/qops_fused.py)."""
    qt = float_movement.transpose(ops.Transpose((0, 2, 1, 3)), q)
    kt = float_movement.transpose(ops.Transpose((0, 2, 3, 1)), k)
    vt = float_movement.transpose(ops.Transpose((0, 2, 1, 3)), v)
    s = dynamic_matmul_scale_add(op.scores(), qt, kt, m)
    p = float_norm.softmax(ops.Softmax(3), s)
    c = dynamic_matmul(op.context(), p, vt)
    return float_movement.transpose(ops.Transpose((0, 2, 1, 3)), c)


TABLE[DynamicAttention] = dynamic_attention
def dynamic_dense_split(op, x, w, b, w_scale):
    """qops_split.DynamicDenseSplit: the stacked DynamicDense, its last axis split into op.parts outputs."""
    y = dynamic_dense(op.dense(), x, w, b, w_scale)
    return [np.ascontiguousarray(p) for p in np.split(y, op.parts, axis=-1)]


from ..ir.qops_split import DynamicDenseSplit  # noqa: E402

TABLE[DynamicDenseSplit] = dynamic_dense_split
