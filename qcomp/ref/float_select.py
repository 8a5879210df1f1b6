"""Kernel of TopK (qcomp/ir/ops_select.py), on any dtype (int8 included: selection moves values).

    order  = stable argsort of -x (largest) or x (smallest) along the axis, in float64 / int64
             (negating int8 -128 in int8 would wrap), so equal values keep their positions' order
    values = take_along_axis(x, order[:k]),  indices = order[:k] as int64
"""
from __future__ import annotations

import numpy as np

from ..ir.ops_select import TopK


def top_k(op: TopK, x: np.ndarray) -> list[np.ndarray]:
    wide = x.astype(np.float64) if x.dtype.kind == "f" else x.astype(np.int64)
    order = np.argsort(-wide if op.largest else wide, axis=op.axis, kind="stable")
    first = np.take(order, np.arange(op.k), axis=op.axis)
    return [np.ascontiguousarray(np.take_along_axis(x, first, axis=op.axis)), first.astype(np.int64)]


TABLE = {TopK: top_k}
