"""Reference kernel of IntLut (qcomp/ir/qops_intlut.py): an integer tensor to int8 through a table.

    y = table[clamp(x, low, low + n - 1) - low]

The clamp is done in int64 (bool reads as 0 / 1), so every int32 or int64 value has its place.
"""
from __future__ import annotations

import numpy as np

from ..ir.qops_intlut import IntLut


def int_lut(op: IntLut, x: np.ndarray, table: np.ndarray) -> np.ndarray:
    n = table.shape[0]
    j = np.clip(x.astype(np.int64), op.low, op.low + n - 1) - op.low
    return table[j].astype(np.int8)


TABLE = {IntLut: int_lut}
