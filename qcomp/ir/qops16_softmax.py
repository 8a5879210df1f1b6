"""QSoftmax16: the integer Softmax of int16 activations (A16W8), registered with the qops16 ops.

    y = fixedpoint.softmax_int16(x, Softmax16Params(input_multiplier, input_shift), axis, exp_lut, recip_lut)
Inputs: x i16 (zero point 0), exp_lut i16[513], recip_lut i16[513] (constants: the spec's
fixedpoint.softmax16_exp_lut() and softmax16_recip_lut(), so a backend reads them as any table);
output i16 in [0, 32767] at scale 1/32768, zero point 0. Per row along `axis` (ARCHITECTURE.md 3.1):
  diff = x - max(x);  e = lut16(clamp(mbqm(diff, input_multiplier, input_shift) + 32767), exp_lut)
  sum = sum(e);  h = clz32(sum);  r = lut16(clamp((((sum << (h - 1)) + 2^13) >> 14) - 98304), recip_lut)
  y = clamp((e * r + 2^(30 - h)) >> (31 - h), 0, 32767)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ops import Op
from .qops import INTEGER_OPS, _check
from .qops16 import INTEGER16_OPS, LUT16_SIZE
from .types import DType, IRError, TensorType

_I16 = DType.INT16
MAX_DEPTH16 = 65536        # fixedpoint.SOFTMAX16_MAX_DEPTH


@dataclass(frozen=True)
class QSoftmax16(Op):
    """int16 Softmax along `axis` (module docstring); int16 output, scale 1/32768."""
    axis: int = -1
    input_multiplier: int = 0
    input_shift: int = 0
    out_dtype: ClassVar[str] = "i16"
    qmin: ClassVar[int] = 0
    qmax: ClassVar[int] = 32767
    arity: ClassVar[int] = 3

    def infer(self, ins):
        _check(ins, (_I16, _I16, _I16), "QSoftmax16")
        x = ins[0]
        if not 0 <= self.axis < x.rank:
            raise IRError(f"QSoftmax16: axis {self.axis} outside rank {x.rank}")
        for t in ins[1:]:
            if t.shape != (LUT16_SIZE,):
                raise IRError(f"QSoftmax16: tables must be i16[{LUT16_SIZE}], got {t}")
        if not 1 <= x.shape[self.axis] <= MAX_DEPTH16:
            raise IRError(f"QSoftmax16: rows of {x.shape[self.axis]} elements (1 to {MAX_DEPTH16})")
        if not (0 <= self.input_multiplier < 2**31 and -31 <= self.input_shift <= 17):
            raise IRError(f"QSoftmax16: multiplier {self.input_multiplier}, shift {self.input_shift} out of range")
        return [TensorType(x.shape, _I16)]


INTEGER16_OPS[QSoftmax16.__name__] = QSoftmax16
INTEGER_OPS[QSoftmax16.__name__] = QSoftmax16
