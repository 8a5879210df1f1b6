"""Float kernels of the elementwise ops (qcomp/ir/ops.py Unary and Binary), and Cast.

Each computes in the input's dtype (float32 for float32 models), with numpy broadcasting, mirroring
onnxruntime's formulas:

    Relu        max(x, 0)                         Clip        min(max(x, lo), hi), None = unbounded
    LeakyRelu   x if x >= 0 else alpha * x        PRelu       x if x >= 0 else slope * x
    Sigmoid     1 / (1 + exp(-x)), evaluated as e/(1+e) with e = exp(-|x|) for x < 0 (no overflow)
    HardSigmoid max(0, min(1, alpha * x + beta))  HardSwish   x * max(0, min(1, x/6 + 1/2))
    Erf         Cody's rational erf in float64 (qcomp/ref/erf.py), rounded once
    Gelu        "none": x/2 * (1 + erf(x / sqrt 2)); "tanh": x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
                both in float64, rounded once
    Div         true division for floats; integer division truncates toward zero (as C, as ORT)
    Pow         float power; integer operands go through float64 and truncate (ORT's static_cast(pow))
    Cast        numpy astype: float -> int truncates toward zero, x -> bool is x != 0

Fused activations (Conv2D, ConvTranspose2D, Dense, MatMul, Add carry act_min / act_max, set by the
fuse_activations pass): the result is clamped, y = min(max(y, act_min), act_max), None unbounded,
exactly as the separate Relu / Clip node it replaces (`fused_activation`).

IEEE specials propagate (sqrt(-1) = nan, exp(100) = inf); the interpreter silences numpy's
floating-point warnings, as onnxruntime would not warn either.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedModelError
from ..ir.ops import (Add, Cast, Clip, Div, Erf, Exp, Gelu, HardSigmoid, HardSwish, LeakyRelu, Mul, Pow,
                      PRelu, Relu, Sigmoid, Sqrt, Sub, Tanh)
from .erf import erf as erf64


def _scalar(value: float, dtype: np.dtype):
    """`value` in `dtype`, clamped to its range for integer dtypes."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return dtype.type(min(max(math.floor(value) if value >= 0 else math.ceil(value), info.min), info.max))
    return dtype.type(value)


def fused_activation(y: np.ndarray, act_min: float | None, act_max: float | None) -> np.ndarray:
    """Clamp `y` to [act_min, act_max] in place (y is the kernel's own fresh result)."""
    y = np.asarray(y)  # a ufunc of rank-0 arrays returns a numpy scalar
    if act_min is not None:
        np.maximum(y, _scalar(act_min, y.dtype), out=y)
    if act_max is not None:
        np.minimum(y, _scalar(act_max, y.dtype), out=y)
    return y


def relu(op: Relu, x: np.ndarray) -> np.ndarray:
    return np.maximum(x, x.dtype.type(0))


def clip(op: Clip, x: np.ndarray) -> np.ndarray:
    y = x
    if op.min is not None:
        y = np.maximum(y, _scalar(op.min, x.dtype))
    if op.max is not None:
        y = np.minimum(y, _scalar(op.max, x.dtype))
    return y


def leaky_relu(op: LeakyRelu, x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, x, x * x.dtype.type(op.alpha))


def prelu(op: PRelu, x: np.ndarray, slope: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, x, x * slope)


def sigmoid(op: Sigmoid, x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    one = x.dtype.type(1)
    return np.where(x >= 0, one / (one + e), e / (one + e))


def tanh(op: Tanh, x: np.ndarray) -> np.ndarray:
    return np.tanh(x)


def hard_sigmoid(op: HardSigmoid, x: np.ndarray) -> np.ndarray:
    t = x.dtype.type
    return np.clip(x * t(op.alpha) + t(op.beta), t(0), t(1))


def hard_swish(op: HardSwish, x: np.ndarray) -> np.ndarray:
    t = x.dtype.type
    return x * np.clip(x * t(1.0 / 6.0) + t(0.5), t(0), t(1))


def erf(op: Erf, x: np.ndarray) -> np.ndarray:
    return erf64(x).astype(x.dtype)


def gelu(op: Gelu, x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    if op.approximate == "none":
        y = 0.5 * x64 * (1.0 + erf64(x64 / math.sqrt(2.0)))
    elif op.approximate == "tanh":
        y = 0.5 * x64 * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x64 + 0.044715 * x64 ** 3)))
    else:
        raise UnsupportedModelError(f"Gelu approximate={op.approximate!r} is not supported (none, tanh)")
    return y.astype(x.dtype)


def sqrt(op: Sqrt, x: np.ndarray) -> np.ndarray:
    return np.sqrt(x)


def exp(op: Exp, x: np.ndarray) -> np.ndarray:
    return np.exp(x)


def cast(op: Cast, x: np.ndarray) -> np.ndarray:
    return x.astype(op.to.np)


def add(op: Add, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return fused_activation(np.add(a, b), op.act_min, op.act_max)


def sub(op: Sub, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.subtract(a, b)


def mul(op: Mul, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.multiply(a, b)


def div(op: Div, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu":
        q = np.abs(a) // np.abs(b)  # truncation toward zero, as C integer division
        return np.where((a < 0) != (b < 0), -q, q).astype(a.dtype)
    return np.divide(a, b)


def power(op: Pow, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu":
        return np.power(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype)
    return np.power(a, b)


TABLE = {
    Relu: relu, Clip: clip, LeakyRelu: leaky_relu, PRelu: prelu, Sigmoid: sigmoid, Tanh: tanh,
    HardSigmoid: hard_sigmoid, HardSwish: hard_swish, Erf: erf, Gelu: gelu, Sqrt: sqrt, Exp: exp,
    Cast: cast, Add: add, Sub: sub, Mul: mul, Div: div, Pow: power,
}
