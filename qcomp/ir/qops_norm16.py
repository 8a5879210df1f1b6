"""QLayerNorm16, the integer LayerNorm on int16 activations (qcomp/fixedpoint/layernorm16.py).

    rows    = x viewed as (prod(shape[:axis]), N), N = prod(shape[axis:]) (NHWC: contiguous)
    y[r, c] = fixedpoint.layer_norm_int16 of row r with eps_q, gamma_q[c], beta_q[c]

Inputs: x i16 (zero point 0), gamma_q i32[N] (gamma / s_out in Q16), beta_q i64[N] (beta / s_out,
clipped, in Q38), both constants; `eps_q` = max(1, ceil(N^2 eps / s_in^2)), `output_zero_point`,
[qmin, qmax] and `out_dtype` ("i16": zero point 0; "i8": any zero point) attributes. An A16W8 op
(registered in INTEGER16_OPS), kept in its own module so that the registries grow by one import.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ops import Op
from .qops import INTEGER_OPS
from .qops16 import INTEGER16_OPS, _out
from .types import DType, IRError

LAYERNORM16_MAX_ROW = 32768        # fixedpoint.layernorm16.MAX_ROW16 (ir imports nothing of qcomp)
LAYERNORM16_MAX_EPS_Q = 1 << 61    # fixedpoint.layernorm.MAX_EPS_Q


@dataclass(frozen=True)
class QLayerNorm16(Op):
    """fixedpoint.layer_norm_int16 over axes [axis, rank). Inputs: x i16, gamma_q i32[N], beta_q i64[N]."""
    axis: int = -1
    eps_q: int = 1
    output_zero_point: int = 0
    qmin: int = -32768
    qmax: int = 32767
    out_dtype: str = "i16"
    arity: ClassVar[int] = 3

    def infer(self, ins):
        x, g, b = ins
        if (x.dtype, g.dtype, b.dtype) != (DType.INT16, DType.INT32, DType.INT64):
            raise IRError(f"QLayerNorm16: expected i16, i32, i64 operands, got {x.dtype.value}, {g.dtype.value}, "
                          f"{b.dtype.value}")
        if not 0 <= self.axis < x.rank:
            raise IRError(f"QLayerNorm16: axis {self.axis} out of range for shape {x.shape}")
        n = 1
        for d in x.shape[self.axis:]:
            n *= d
        if not 1 <= n <= LAYERNORM16_MAX_ROW:
            raise IRError(f"QLayerNorm16: a row of {n} elements (1 to {LAYERNORM16_MAX_ROW})")
        if g.shape != (n,) or b.shape != (n,):
            raise IRError(f"QLayerNorm16: gamma_q {g.shape} and beta_q {b.shape} must hold the row's {n} elements")
        if not 1 <= self.eps_q <= LAYERNORM16_MAX_EPS_Q:
            raise IRError(f"QLayerNorm16: eps_q {self.eps_q} outside [1, 2^61]")
        if self.out_dtype == "i16" and self.output_zero_point != 0:
            raise IRError(f"QLayerNorm16: an int16 output has zero point 0, got {self.output_zero_point}")
        return _out(self, x.shape)


INTEGER16_OPS[QLayerNorm16.__name__] = QLayerNorm16
INTEGER_OPS[QLayerNorm16.__name__] = QLayerNorm16
