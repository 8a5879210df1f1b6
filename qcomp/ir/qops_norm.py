"""QLayerNorm, the integer LayerNorm of the TARGET stage (qcomp/fixedpoint/layernorm.py).

    rows    = x viewed as (prod(shape[:axis]), N), N = prod(shape[axis:]) (NHWC: contiguous)
    y[r, c] = fixedpoint.layer_norm_int8 of row r with eps_q, gamma_q[c], beta_q[c]

Every number is an integer: `eps_q` = max(1, ceil(N^2 eps / s_in^2)) an attribute, `gamma_q` and
`beta_q` int32 constants of N elements (gamma / s_out and beta / s_out in Q16, beta clipped),
`input_zero_point`, `output_zero_point`, `[qmin, qmax]` attributes. Input x i8, output i8 of the
same shape. Kept in its own module so that the integer-op registry grows by one import.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ops import Op
from .types import DType, IRError, TensorType

LAYERNORM_MAX_ROW = 65536          # fixedpoint.layernorm.MAX_ROW (ir imports nothing of qcomp)
LAYERNORM_MAX_EPS_Q = 1 << 61      # fixedpoint.layernorm.MAX_EPS_Q


@dataclass(frozen=True)
class QLayerNorm(Op):
    """fixedpoint.layer_norm_int8 over axes [axis, rank). Inputs: x i8, gamma_q i32[N], beta_q i32[N]."""
    axis: int = -1
    eps_q: int = 1
    input_zero_point: int = 0
    output_zero_point: int = 0
    qmin: int = -128
    qmax: int = 127
    arity: ClassVar[int] = 3

    def infer(self, ins):
        x, g, b = ins
        if (x.dtype, g.dtype, b.dtype) != (DType.INT8, DType.INT32, DType.INT32):
            raise IRError(f"QLayerNorm: expected i8, i32, i32 operands, got {x.dtype.value}, {g.dtype.value}, "
                          f"{b.dtype.value}")
        if not 0 <= self.axis < x.rank:
            raise IRError(f"QLayerNorm: axis {self.axis} out of range for shape {x.shape}")
        n = 1
        for d in x.shape[self.axis:]:
            n *= d
        if not 1 <= n <= LAYERNORM_MAX_ROW:
            raise IRError(f"QLayerNorm: a row of {n} elements (1 to {LAYERNORM_MAX_ROW})")
        if g.shape != (n,) or b.shape != (n,):
            raise IRError(f"QLayerNorm: gamma_q {g.shape} and beta_q {b.shape} must hold the row's {n} elements")
        if not 1 <= self.eps_q <= LAYERNORM_MAX_EPS_Q:
            raise IRError(f"QLayerNorm: eps_q {self.eps_q} outside [1, 2^61]")
        if not -128 <= self.input_zero_point <= 127 or not -128 <= self.qmin <= self.qmax <= 127:
            raise IRError(f"QLayerNorm: zero point {self.input_zero_point} or bounds [{self.qmin}, {self.qmax}] "
                          f"outside int8")
        return [TensorType(tuple(x.shape), DType.INT8)]
