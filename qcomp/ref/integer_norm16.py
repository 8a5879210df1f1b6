"""Reference kernel of QLayerNorm16: fixedpoint.layer_norm_int16 on each row of the normalized axes
[axis, rank), flattened into one contiguous row of N elements (qcomp/ir/qops_norm16.py)."""
from __future__ import annotations

import numpy as np

from .. import fixedpoint
from ..ir.qops_norm16 import QLayerNorm16

_DT = {"i8": np.int8, "i16": np.int16}


def q_layer_norm16(op: QLayerNorm16, x, gamma_q, beta_q):
    n = gamma_q.size
    params = fixedpoint.LayerNormParams(op.eps_q, gamma_q.astype(np.int32).reshape(n),
                                        beta_q.astype(np.int64).reshape(n))
    y = fixedpoint.layer_norm_int16(x.reshape(-1, n), params, op.output_zero_point, op.qmin, op.qmax)
    return y.reshape(x.shape).astype(_DT[op.out_dtype])


TABLE = {QLayerNorm16: q_layer_norm16}
