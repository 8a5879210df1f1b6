"""DynamicDenseRows: --quant dynamic with one scale and zero point per row of the activation
(`--dynamic-granularity row`), instead of DynamicDense's one per tensor. Registered with the integer
ops (qops.INTEGER_OPS): the quantized graph of such a build holds it, and model.qir stores it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ops import Op
from .qops import INTEGER_OPS, DynamicDense
from .types import TensorType


@dataclass(frozen=True)
class DynamicDenseRows(Op):
    """Dense with int8 weights and the activation quantized per run, one scale per row:
      for each row r of x viewed as [rows, K]:
        (s[r], zp[r]) = fixedpoint.dynamic_quant_params(x[r, :])     (fixedpoint.dynamic_quant_params_rows)
        q[r, k] = fixedpoint.quantize(x[r, k], s[r], zp[r])
      acc[r, n] = sum_k (q[r, k] - zp[r]) * w[n, k]                  int32
      y[r, n] = float32(acc) * float32(s[r] * w_scale[n]) + b[n], then the fused clamp   float32, in this order
    Inputs as DynamicDense's: x f32[..., K], w i8[N, K] (zero point 0), b f32[N], w_scale f32[N].
    A row whose values are all 0 has scale 0 and zero point 0 (its acc is 0)."""
    act_min: float | None = None
    act_max: float | None = None
    arity: ClassVar[int] = 4

    def infer(self, ins):
        out = DynamicDense(self.act_min, self.act_max).infer(ins)
        return [TensorType(out[0].shape, out[0].dtype)]


INTEGER_OPS[DynamicDenseRows.__name__] = DynamicDenseRows
