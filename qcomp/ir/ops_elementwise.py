"""Elementwise ops of the IR: unary ops keep their input's type, binary ops broadcast as numpy does.

The math ops of ONNX keep their ONNX names and attributes (defaults as the ONNX spec):

    Elu(alpha)            x >= 0 ? x : alpha (e^x - 1)       Selu(alpha, gamma)  gamma (x > 0 ? x : alpha (e^x - 1))
    Celu(alpha)           max(0, x) + min(0, alpha (e^(x/alpha) - 1))
    Softplus              log(1 + e^x)                        Softsign            x / (1 + |x|)
    Mish                  x tanh(log(1 + e^x))                Log, Sin, Cos, Abs, Floor, Ceil, Sign
    Round                 to nearest, ties to even            ThresholdedRelu     x > alpha ? x : 0
    Shrink(bias, lambd)   x < -lambd ? x + bias : (x > lambd ? x - bias : 0)
    Min, Max              elementwise (two operands; the frontend chains n-ary ones)
    Mod(fmod)             fmod = 1: C fmod (sign of the dividend); fmod = 0 (integers): the sign of the divisor
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ops_base import Op, broadcast_shapes, same_type
from .types import DType, IRError, TensorType


# ---- elementwise ----------------------------------------------------------------------------

class Unary(Op):
    """Elementwise op of one input; the output has the input's shape and dtype."""
    def infer(self, ins):
        return [same_type(ins[0])]


@dataclass(frozen=True)
class Relu(Unary):
    pass


@dataclass(frozen=True)
class Clip(Unary):
    """y = min(max(x, min), max); None means unbounded on that side."""
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class LeakyRelu(Unary):
    alpha: float = 0.01


@dataclass(frozen=True)
class Sigmoid(Unary):
    pass


@dataclass(frozen=True)
class Tanh(Unary):
    pass


@dataclass(frozen=True)
class HardSigmoid(Unary):
    """y = max(0, min(1, alpha * x + beta))"""
    alpha: float = 0.2
    beta: float = 0.5


@dataclass(frozen=True)
class HardSwish(Unary):
    """y = x * max(0, min(1, x / 6 + 1 / 2))"""


@dataclass(frozen=True)
class Erf(Unary):
    pass


@dataclass(frozen=True)
class Gelu(Unary):
    """approximate: "none" (x/2 * (1 + erf(x/sqrt 2))) or "tanh"."""
    approximate: str = "none"


@dataclass(frozen=True)
class Sqrt(Unary):
    pass


@dataclass(frozen=True)
class Exp(Unary):
    pass


@dataclass(frozen=True)
class Elu(Unary):
    alpha: float = 1.0


@dataclass(frozen=True)
class Selu(Unary):
    alpha: float = 1.67326319217681884765625
    gamma: float = 1.05070102214813232421875


@dataclass(frozen=True)
class Celu(Unary):
    alpha: float = 1.0


@dataclass(frozen=True)
class Softplus(Unary):
    pass


@dataclass(frozen=True)
class Softsign(Unary):
    pass


@dataclass(frozen=True)
class Mish(Unary):
    pass


@dataclass(frozen=True)
class Log(Unary):
    pass


@dataclass(frozen=True)
class Abs(Unary):
    pass


@dataclass(frozen=True)
class Floor(Unary):
    pass


@dataclass(frozen=True)
class Ceil(Unary):
    pass


@dataclass(frozen=True)
class Round(Unary):
    pass


@dataclass(frozen=True)
class Sign(Unary):
    pass


@dataclass(frozen=True)
class Sin(Unary):
    pass


@dataclass(frozen=True)
class Cos(Unary):
    pass


@dataclass(frozen=True)
class ThresholdedRelu(Unary):
    alpha: float = 1.0


@dataclass(frozen=True)
class Shrink(Unary):
    bias: float = 0.0
    lambd: float = 0.5


@dataclass(frozen=True)
class Cast(Unary):
    to: DType = DType.FLOAT32

    def infer(self, ins):
        return [TensorType(ins[0].shape, self.to)]


class Binary(Op):
    """Elementwise op of two inputs with numpy broadcasting."""
    arity: ClassVar[int] = 2

    def infer(self, ins):
        a, b = ins
        if a.dtype != b.dtype:
            raise IRError(f"{self.kind}: operand dtypes differ ({a.dtype.value} and {b.dtype.value})")
        return [TensorType(broadcast_shapes(a.shape, b.shape), a.dtype)]


@dataclass(frozen=True)
class Add(Binary):
    act_min: float | None = None   # fused activation, as on Conv2D
    act_max: float | None = None


@dataclass(frozen=True)
class Sub(Binary):
    pass


@dataclass(frozen=True)
class Mul(Binary):
    pass


@dataclass(frozen=True)
class Div(Binary):
    pass


@dataclass(frozen=True)
class Pow(Binary):
    pass


@dataclass(frozen=True)
class PRelu(Binary):
    """y = x if x >= 0 else slope * x; slope broadcasts to x and the output has x's shape."""

    def infer(self, ins):
        out = super().infer(ins)[0]
        if out.shape != ins[0].shape:
            raise IRError(f"PRelu: slope {ins[1].shape} would broadcast input {ins[0].shape} to {out.shape}")
        return [out]


@dataclass(frozen=True)
class Min(Binary):
    pass


@dataclass(frozen=True)
class Max(Binary):
    pass


@dataclass(frozen=True)
class Mod(Binary):
    """fmod = 1: the remainder has the dividend's sign (C fmod); 0: the divisor's (integers only)."""
    fmod: int = 0
