"""Reference kernel of QLayerNorm: fixedpoint.layer_norm_int8 on each row of the normalized axes
[axis, rank), flattened into one contiguous row of N elements (qcomp/ir/qops_norm.py)."""
from __future__ import annotations

import numpy as np

from .. import fixedpoint
from ..ir.qops_norm import QLayerNorm


def q_layer_norm(op: QLayerNorm, x, gamma_q, beta_q):
    n = gamma_q.size
    params = fixedpoint.LayerNormParams(op.eps_q, gamma_q.astype(np.int32).reshape(n),
                                        beta_q.astype(np.int32).reshape(n))
    rows = x.reshape(-1, n)
    y = fixedpoint.layer_norm_int8(rows, op.input_zero_point, params, op.output_zero_point, op.qmin, op.qmax)
    return y.reshape(x.shape)


TABLE = {QLayerNorm: q_layer_norm}
