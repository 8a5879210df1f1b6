"""Reference kernel of DynamicDenseRows (qcomp/ir/qops_rows.py): --quant dynamic with a scale and
zero point per row of the activation (fixedpoint.dynamic_quant_params_rows)."""
from __future__ import annotations

import numpy as np

from .. import fixedpoint
from ..ir.qops_rows import DynamicDenseRows
from .integer_kernels import _clamp, _exact, _f64


def dynamic_dense_rows(op: DynamicDenseRows, x, w, b, w_scale):
    rows = x.reshape(-1, x.shape[-1])
    scale, zp = fixedpoint.dynamic_quant_params_rows(rows)
    q = np.stack([fixedpoint.quantize(row, s, z) for row, s, z in zip(rows, scale, zp)]) if rows.size else rows
    xc = _f64(np.asarray(q)) - _f64(zp)[:, None]
    acc = _exact(xc @ _f64(w).T)                       # |acc| <= K * 255 * 128: exact in float64
    factor = scale[:, None] * w_scale.astype(np.float32)[None, :]          # float32(s[r] * w_scale[n])
    y = acc.astype(np.float32) * factor + b.astype(np.float32)
    return _clamp(y.astype(np.float32), op).reshape(*x.shape[:-1], w.shape[0])


TABLE = {DynamicDenseRows: dynamic_dense_rows}
