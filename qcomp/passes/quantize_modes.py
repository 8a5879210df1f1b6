"""The per-op decision table of the int8 quantize pass (quantize.py) and its float-side helpers.

int8_mode(g, n, options) says how a FLOAT node runs in the QUANTIZED graph, and so which method of
quantize._Builder writes it: "weighted" (Conv2D, ConvTranspose2D, Dense with constant weights and
bias), "same" (moves or selects values: keeps its input's quant params), "own" (its own output
params from calibration), "concat" (Concat, Min, Max: operands requantized to the output's
params), "lut" / "scalar_lut" (a 256-entry table of the float64 function in _UNARY_FN, or of a
binary op with a size-1 constant operand, _SCALAR_FN), "softmax", "gather", "topk", the modes of
quantize_logic / quantize_index / quantize_norm / quantize_div, or None (a float region).

Split out of quantize.py so that the table, which the accuracy tools (accuracy/kinds.py,
accuracy/proxy.py) read without quantizing, sits apart from the graph writer. The helpers:
  bias_correction: delta[o] = sum_{taps, c} (W - W_dq)[o, taps, c] * E[x][channel of c]
  widen_for_bias:  s_w[c] >= |b[c]| / (s_in * (INT32_MAX - k * 127 * 255)), so the int32 bias
                   leaves room for k products.
quantize.py re-exports QuantOptions, int8_mode and bias_correction: import them from either.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import fixedpoint
from ..ir import Graph, Node, ops
from . import quantize_div, quantize_logic, quantize_norm
from . import quantize_index

Range = tuple[float, float]


@dataclass(frozen=True)
class QuantOptions:
    per_channel: bool = True
    skip: frozenset[str] = field(default_factory=frozenset)
    bias_correction: bool = False
    int16: frozenset[str] = field(default_factory=frozenset)   # values in int16 (A16W8: quantize16.py)


def bias_correction(op: ops.Op, w: np.ndarray, w_dq: np.ndarray, mean_x: np.ndarray) -> np.ndarray | None:
    """Per-output-channel bias shift that restores E[y] after weight quantization:
         delta[o] = sum_{taps, c} (W - W_dq)[o, taps, c] * E[x][channel of c]
    (Conv2D: the input channel of c in its group; Dense: x's last axis). None for other ops.
    Padding is ignored: the correction is exact for a layer whose windows stay inside the input."""
    diff = w.astype(np.float64) - w_dq.astype(np.float64)
    if isinstance(op, ops.Dense):
        return diff @ mean_x
    if isinstance(op, ops.Conv2D):
        o, cg = diff.shape[0], diff.shape[3]
        groups = mean_x.reshape(op.group, cg)                    # [G, Cg]
        per_o = groups[np.arange(o) // (o // op.group)]          # [O, Cg]
        return np.einsum("ohwc,oc->o", diff, per_o)
    return None


_WEIGHTED = (ops.Conv2D, ops.ConvTranspose2D, ops.Dense)
_SAME_PARAMS = (ops.MaxPool2D, ops.ReduceMax, ops.ReduceMin, ops.Reshape, ops.Transpose, ops.Slice, ops.Split, ops.Pad)
_OWN_PARAMS = (ops.AvgPool2D, ops.ReduceMean, ops.MatMul, ops.Add, ops.Sub, ops.Mul)


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _softplus(x):
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _log(x):
    """log(x) for x > 0; -inf (the table's qmin) where the float op gives -inf or NaN."""
    return np.log(np.where(x > 0, x, 1.0)) + np.where(x > 0, 0.0, -np.inf)


# float64 definitions of the elementwise functions that become lookup tables
_UNARY_FN = {
    ops.Relu: lambda op, x: np.maximum(x, 0.0),
    ops.Clip: lambda op, x: np.clip(x, -np.inf if op.min is None else op.min, np.inf if op.max is None else op.max),
    ops.LeakyRelu: lambda op, x: np.where(x >= 0, x, op.alpha * x),
    ops.Sigmoid: lambda op, x: 1.0 / (1.0 + np.exp(-x)),
    ops.Tanh: lambda op, x: np.tanh(x),
    ops.HardSigmoid: lambda op, x: np.clip(op.alpha * x + op.beta, 0.0, 1.0),
    ops.HardSwish: lambda op, x: x * np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    ops.Erf: lambda op, x: _erf(x),
    ops.Gelu: lambda op, x: (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))) if op.approximate == "none" else
                             0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))),
    ops.Sqrt: lambda op, x: np.sqrt(np.maximum(x, 0.0)),
    ops.Exp: lambda op, x: np.exp(x),
    ops.Elu: lambda op, x: np.where(x >= 0, x, op.alpha * np.expm1(np.minimum(x, 0.0))),
    ops.Selu: lambda op, x: op.gamma * np.where(x > 0, x, op.alpha * np.expm1(np.minimum(x, 0.0))),
    ops.Celu: lambda op, x: np.maximum(x, 0.0) + np.minimum(0.0, op.alpha * np.expm1(np.minimum(x / op.alpha, 0.0))),
    ops.Softplus: lambda op, x: _softplus(x),
    ops.Softsign: lambda op, x: x / (1.0 + np.abs(x)),
    ops.Mish: lambda op, x: x * np.tanh(_softplus(x)),
    ops.Log: lambda op, x: _log(x),
    ops.Abs: lambda op, x: np.abs(x),
    ops.Floor: lambda op, x: np.floor(x),
    ops.Ceil: lambda op, x: np.ceil(x),
    ops.Round: lambda op, x: np.rint(x),
    ops.Sign: lambda op, x: np.sign(x),
    ops.Sin: lambda op, x: np.sin(x),
    ops.Cos: lambda op, x: np.cos(x),
    ops.ThresholdedRelu: lambda op, x: np.where(x > op.alpha, x, 0.0),
    ops.Shrink: lambda op, x: np.where(x < -op.lambd, x + op.bias, np.where(x > op.lambd, x - op.bias, 0.0)),
}
_SCALAR_FN = {  # binary op with the constant c as its second operand (first for Sub/Div: see _scalar_lut)
    ops.Add: lambda x, c: x + c, ops.Sub: lambda x, c: x - c, ops.Mul: lambda x, c: x * c,
    ops.Div: lambda x, c: x / c, ops.Pow: lambda x, c: np.power(x, c),
    ops.PRelu: lambda x, c: np.where(x >= 0, x, c * x),
}


def _scalar_operand(g: Graph, n: Node) -> tuple[int, float] | None:
    """(index of the non-constant operand, the scalar) when n is a binary op with one size-1 constant."""
    if type(n.op) not in _SCALAR_FN or len(n.inputs) != 2:
        return None
    a, b = n.inputs
    for var, const in ((0, b), (1, a)):
        other = n.inputs[var]
        if g.is_constant(const) and not g.is_constant(other) and g.constants[const].size == 1:
            if var == 1 and type(n.op) in (ops.Pow, ops.PRelu):
                return None  # c ** x and prelu(c, x) are not functions of a scalar slope
            if g.types[n.outputs[0]].shape != g.types[other].shape:
                return None  # the constant broadcasts the result to a larger shape
            return var, float(g.constants[const].reshape(()))
    return None


def int8_mode(g: Graph, n: Node, options: QuantOptions) -> str | None:
    """How node n runs in the quantized graph: "weighted", "same", "own", "concat", "lut",
    "scalar_lut", or None for float."""
    if n.name in options.skip:
        return None
    if (logic := quantize_logic.int8_mode(g, n)) is not None:   # Compare, Where, ArgMax/ArgMin
        return logic
    if (index := quantize_index.int8_mode(g, n)) is not None:   # run-time indices: quantize_index.py
        return index
    if any(not g.types[i].dtype.is_float for i in n.inputs if not g.is_constant(i)):
        return None
    op = n.op
    if isinstance(op, _WEIGHTED):
        return "weighted" if g.is_constant(n.inputs[1]) and g.is_constant(n.inputs[2]) else None
    if type(op) in _UNARY_FN:
        return "lut"
    if _scalar_operand(g, n) is not None:
        return "scalar_lut"
    if isinstance(op, _SAME_PARAMS):
        return "same"
    if isinstance(op, ops.Resize) and op.mode == "nearest":
        return "same"
    if isinstance(op, (ops.Concat, ops.Min, ops.Max)):
        return "concat"
    if isinstance(op, (ops.Add, ops.Sub, ops.Mul, ops.MatMul, ops.AvgPool2D, ops.ReduceMean)):
        return "own"
    if isinstance(op, ops.Softmax):
        return "softmax"
    if isinstance(op, ops.Gather) and g.is_constant(n.inputs[1]):
        return "gather"
    if isinstance(op, ops.TopK):
        return "topk"
    if (norm := quantize_norm.int8_mode(g, n)) is not None:   # LayerNorm
        return norm
    if (div := quantize_div.int8_mode(g, n)) is not None:     # Div by a constant tensor: Mul by 1 / C
        return div
    return None


def widen_for_bias(s_w: np.ndarray, b: np.ndarray, s_in: float, k: int, per_channel: bool) -> np.ndarray:
    """Weight scales no smaller than needed for the int32 bias to leave room for k products:
         |b[c]| / (s_in * s_w[c]) <= INT32_MAX - k * 127 * 255
    A channel whose weights are tiny next to its bias (a dead channel) gets a coarser scale, and its
    weights round to 0, instead of an overflowing bias (onnxruntime widens weight scales likewise)."""
    budget = fixedpoint.INT32_MAX - k * 127 * 255
    if s_in <= 0 or budget <= 0:
        return s_w
    need = (np.abs(b) / (s_in * budget) * (1 + 2.0 ** -20)).astype(np.float32)  # margin > float32 rounding
    widened = np.maximum(s_w, need)
    return widened if per_channel else np.full_like(widened, widened.max())
