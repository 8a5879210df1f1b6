"""Float kernels of the ONNX math ops (qcomp/ir/ops_elementwise.py): activations, rounding,
trigonometry, Min / Max / Mod.

Transcendental ones are evaluated in float64 from the float32 input and rounded once to the input's
dtype, so each result is the correctly rounded value or one ulp from it (onnxruntime's float32
Eigen/MLAS kernels are within a few ulps of the same values):

    Elu              x >= 0 ? x : alpha * expm1(x)
    Selu             x > 0 ? gamma * x : gamma * alpha * expm1(x)
    Celu             max(0, x) + min(0, alpha * expm1(x / alpha))
    Softplus         max(x, 0) + log1p(exp(-|x|))          (no overflow for large |x|)
    Softsign         x / (1 + |x|)
    Mish             x * tanh(softplus(x))
    Log, Sin, Cos    log(x) (-inf at 0, NaN below), sin(x), cos(x)

Exact in the input's dtype: Abs, Floor, Ceil, Round (ties to even, numpy.rint), Sign (0 at 0,
NaN at NaN), ThresholdedRelu (x > alpha ? x : 0), Shrink (x < -lambd ? x + bias : x > lambd ?
x - bias : 0, one float32 addition), Min and Max (numpy.minimum / maximum: a NaN operand gives
NaN), Mod (fmod = 1: numpy.fmod, the dividend's sign; fmod = 0: numpy.mod, the divisor's sign;
an integer division by zero gives 0, where onnxruntime's behaviour is undefined).

Abs, Floor, Ceil, Round, Sign, Min, Max and Mod take any dtype (Min and Max also serve int8 values
that share their quant params: the integer interpreter runs them unchanged).
"""
from __future__ import annotations

import numpy as np

from ..ir.ops import (Abs, Ceil, Celu, Cos, Elu, Floor, Log, Max, Min, Mish, Mod, Round, Selu, Shrink, Sign, Sin,
                      Softplus, Softsign, ThresholdedRelu)


def _in64(fn):
    """A kernel computing fn(op, x64) in float64 and rounding once to x's dtype."""
    def kernel(op, x: np.ndarray) -> np.ndarray:
        return np.asarray(fn(op, x.astype(np.float64))).astype(x.dtype)
    return kernel


def _softplus64(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def elu(op: Elu, x):
    return np.where(x >= 0, x, op.alpha * np.expm1(x))


def selu(op: Selu, x):
    return op.gamma * np.where(x > 0, x, op.alpha * np.expm1(x))


def celu(op: Celu, x):
    return np.maximum(x, 0.0) + np.minimum(0.0, op.alpha * np.expm1(x / op.alpha))


def thresholded_relu(op: ThresholdedRelu, x: np.ndarray) -> np.ndarray:
    return np.where(x > x.dtype.type(op.alpha), x, x.dtype.type(0))


def shrink(op: Shrink, x: np.ndarray) -> np.ndarray:
    t = x.dtype.type
    lambd, bias = t(op.lambd), t(op.bias)
    return np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, t(0))).astype(x.dtype)


def sign(op: Sign, x: np.ndarray) -> np.ndarray:
    return np.sign(x)


def mod(op: Mod, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu":
        safe = np.where(b == 0, np.ones_like(b), b)
        r = np.fmod(a, safe) if op.fmod else np.mod(a, safe)
        return np.where(b == 0, np.zeros_like(r), r).astype(np.result_type(a, b))
    return np.fmod(a, b)


TABLE = {
    Elu: _in64(elu), Selu: _in64(selu), Celu: _in64(celu),
    Softplus: _in64(lambda op, x: _softplus64(x)), Softsign: _in64(lambda op, x: x / (1.0 + np.abs(x))),
    Mish: _in64(lambda op, x: x * np.tanh(_softplus64(x))),
    Log: _in64(lambda op, x: np.log(x)), Sin: _in64(lambda op, x: np.sin(x)), Cos: _in64(lambda op, x: np.cos(x)),
    Abs: lambda op, x: np.abs(x), Floor: lambda op, x: np.floor(x), Ceil: lambda op, x: np.ceil(x),
    Round: lambda op, x: np.rint(x), Sign: sign, ThresholdedRelu: thresholded_relu, Shrink: shrink,
    Min: lambda op, a, b: np.minimum(a, b), Max: lambda op, a, b: np.maximum(a, b), Mod: mod,
}

# the ops with float semantics only (ACCEPTS of qcomp/ref/kernels.py)
FLOAT_ONLY = (Elu, Selu, Celu, Softplus, Softsign, Mish, Log, Sin, Cos, ThresholdedRelu, Shrink)
