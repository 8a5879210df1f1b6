"""IntLut: an integer tensor (token ids, an attention mask: int32, int64 or bool) quantized to int8
through a table, so that Cast(integer -> float) followed by Quantize runs integer-only (the C
targets have no float).

    y[i] = table[clamp(x[i], low, low + n - 1) - low]          table: i8[n], a constant

passes/lower_int_boundary.py builds it from Cast -> Quantize(scale s, zero point zp): quantize is
monotonic in x, so the integers whose int8 form is not saturated form one interval [a, b]; with
low = a - 1 and n = b - a + 3 the table holds quantize(float32(x), s, zp) for x in [a - 1, b + 1],
whose ends are saturated (-128 and 127 or the reverse), and every x outside clamps onto an end
whose value it shares. So IntLut equals the float Cast -> Quantize for every integer x, bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ops import Op
from .qops import INTEGER_OPS
from .types import DType, IRError, TensorType

INTLUT_INPUTS = (DType.INT32, DType.INT64, DType.BOOL)


@dataclass(frozen=True)
class IntLut(Op):
    """y = table[clamp(x, low, low + n - 1) - low]. Inputs: x i32/i64/bool, table i8[n] (a constant)."""
    low: int = 0
    arity: ClassVar[int] = 2

    def infer(self, ins):
        x, t = ins
        if x.dtype not in INTLUT_INPUTS:
            raise IRError(f"IntLut: input must be int32, int64 or bool, got {x.dtype.value}")
        if t.dtype is not DType.INT8 or t.rank != 1 or t.shape[0] < 1:
            raise IRError(f"IntLut: table must be i8[n], n >= 1, got {t}")
        return [TensorType(x.shape, DType.INT8)]


INTEGER_OPS[IntLut.__name__] = IntLut
