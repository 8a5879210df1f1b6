"""Quantize a calibrated FLOAT graph: assign quant params and insert Quantize/Dequantize/Requantize.

The result is a QUANTIZED-stage graph (ARCHITECTURE.md section 3):
- activations in the int8 region: int8, asymmetric, per tensor, from their calibrated range
  (real 0 exact: observers.qparams_from_range);
- Conv2D/ConvTranspose2D/Dense weights: int8 symmetric in [-127, 127], per output channel
  (axis 0) unless per_channel is False; bias: int32 with scale s_in * s_w[c], zero point 0;
- ops that move or select values (MaxPool2D, ReduceMax, ReduceMin, Reshape, Transpose, Slice, Split, Pad,
  nearest Resize, Gather with constant indices, TopK's values) keep their input's quant params; Concat
  requantizes inputs whose params differ
  from its output's (explicit Requantize nodes);
- Min and Max of int8 values (TFLite's Minimum / Maximum, which take equal params): every operand
  is requantized to the output's params as for Concat, then min / max runs on the int8 values.
  Exact: requantize is monotonic (non-decreasing, with its clamp), so
  min(rq(a), rq(b)) = rq(min(a, b)) and the result is the output quantization of the real min;
- elementwise functions of one int8 value (Relu, Clip, Sigmoid, Tanh, HardSigmoid, HardSwish,
  LeakyRelu, Erf, Gelu, Sqrt, Exp, Elu, Selu, Celu, Softplus, Softsign, Mish, Log, Abs, Floor,
  Ceil, Round, Sign, Sin, Cos, ThresholdedRelu, Shrink, and binary ops with a scalar constant,
  Neg = Mul(x, -1) among them) become a 256-entry Lut built in float64 (fixedpoint.build_lut);
  Log maps x <= 0 to -inf, the table's qmin;
- Mod has no integer form (the remainder of two rescaled values is not a rescaled remainder): it
  runs in float, as below;
- Compare, Where, ArgMax and ArgMin of int8 values: exact integer forms (quantize_logic.py);
- Softmax whose rows fit the integer spec (fixedpoint.softmax_refusal: at most 4095 elements, an
  input scale with beta * s_in > 2^-26) runs as TFLite's integer Softmax on every target, its
  output at the spec's fixed scale 1/256, zero point -128 (as TFLite and onnxruntime quantize
  it); one that does not fit stays a float region;
- LayerNorm (constant scale and bias) whose params fit the integer spec runs as the integer
  LayerNorm on every target (quantize_norm.py); one that does not fit stays a float region;
- Div by a constant tensor becomes the int8 Mul by its float32 reciprocal (quantize_div.py);
- every other op, and every node the user names in `skip`, runs in float between a Dequantize
  and a Quantize (a float-fallback region). Graph inputs and outputs stay float.
- bias correction (optional): b' = b + (W - W_dq) E[x], per output channel, from calibration data
  (the empirical bias correction of Nagel et al., "Data-Free Quantization", section 4.2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import fixedpoint
from ..errors import QcompError
from ..ir import DType, Graph, Node, QuantParams, Stage, TensorType, ops
from ..ir.prequant import prequant_of
from ..ir.qops import Lut
from . import quantize_div, quantize_logic, quantize_norm
from . import quantize_index
from .observers import qparams_from_range, symmetric_weight_scales
from .pipeline import each_node

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


class _Builder:
    """Writes the QUANTIZED graph node by node, converting values between float and int8 lazily."""

    def __init__(self, g: Graph, ranges: dict[str, Range], options: QuantOptions,
                 channel_means: dict[str, np.ndarray]):
        self.g, self.ranges, self.options, self.channel_means = g, ranges, options, channel_means
        self.prequant = prequant_of(g)   # a pre-quantized model's own params (frontend/ops_quant.py)
        self.q = Graph(name=g.name, stage=Stage.QUANTIZED, inputs=list(g.inputs), meta=dict(g.meta))
        for i in g.inputs:
            self.q.types[i] = g.types[i]
        self.int_of: dict[str, str] = {}     # float value of g -> its int8 value in q
        self.float_of: dict[str, str] = {i: i for i in g.inputs}  # float value of g -> float value in q

    def qparams(self, value: str) -> QuantParams:
        if value in self.prequant.activations:
            return self.prequant.activations[value]
        if value not in self.ranges:
            if self.prequant:
                raise QcompError(f"value {value!r} has no scale in the pre-quantized model and no calibration "
                                 f"range: give --calib to calibrate what the model leaves in float, or keep "
                                 f"the node computing it in float with --skip")
            raise QcompError(f"no calibration range for value {value!r}: calibrate the float graph "
                             f"before quantizing it")
        lo, hi = self.ranges[value]
        scale, zp = qparams_from_range(lo, hi)
        return QuantParams(scale, zp)

    def int_name(self, value: str) -> str:
        return self.q.unique_name(f"{value}_q" if value in self.g.outputs or value in self.q.types else value)

    def as_float(self, value: str) -> str:
        if value in self.float_of:
            return self.float_of[value]
        if self.g.is_constant(value):
            self.q.constants[value] = self.g.constants[value]
            self.q.types[value] = self.g.types[value]
            self.float_of[value] = value
            return value
        src = self.int_of[value]
        name = value if value not in self.q.types else self.q.unique_name(f"{value}_dq")
        self.q.add_node(ops.Dequantize(), [src], f"{value}_dequantize", outputs=[name])
        self.float_of[value] = name
        return name

    def as_int(self, value: str, quant: QuantParams | None = None) -> str:
        """The int8 version of a float value (quant params from calibration unless given)."""
        if value in self.int_of and (quant is None or self.q.types[self.int_of[value]].quant == quant):
            return self.int_of[value]
        if value in self.int_of:  # exists with other params: requantize
            src = self.int_of[value]
            name = self.q.unique_name(f"{value}_rq")
            self.q.add_node(ops.Requantize(), [src], name, outputs=[name],
                            out_types=[TensorType(self.q.types[src].shape, DType.INT8, quant)])
            return name
        if self.g.is_constant(value):
            arr = self.g.constants[value].astype(np.float32)
            qp = quant or QuantParams(*qparams_from_range(float(arr.min()), float(arr.max())))
            data = fixedpoint.quantize(arr, qp.scale[0], qp.zero_point[0]).astype(np.int8)
            name = self.q.add_constant(f"{value}_q", data, qp)
            self.int_of[value] = name
            return name
        src = self.as_float(value)
        qp = quant or self.qparams(value)
        name = self.int_name(value)
        self.q.add_node(ops.Quantize(), [src], f"{value}_quantize", outputs=[name],
                        out_types=[TensorType(self.g.types[value].shape, DType.INT8, qp)])
        if quant is None:
            self.int_of[value] = name
        return name

    def emit_float(self, n: Node) -> None:
        ins = [self.as_float(i) for i in n.inputs]
        outs = [o if o not in self.q.types else self.q.unique_name(o) for o in n.outputs]
        self.q.add_node(n.op, ins, n.name, outputs=outs, out_types=[self.g.types[o] for o in n.outputs])
        for o, name in zip(n.outputs, outs):
            self.float_of[o] = name

    def emit_int(self, n: Node, ins: list[str], out_quant: list[QuantParams], op=None) -> None:
        outs = [self.int_name(o) for o in n.outputs]
        types = [TensorType(self.g.types[o].shape, DType.INT8, qp) for o, qp in zip(n.outputs, out_quant)]
        self.q.add_node(op or n.op, ins, n.name, outputs=outs, out_types=types)
        for o, name in zip(n.outputs, outs):
            self.int_of[o] = name

    # ---- one method per mode ------------------------------------------------------------------
    def weighted(self, n: Node) -> None:
        x = self.as_int(n.inputs[0])
        s_in = float(self.q.types[x].quant.scale[0])
        w = self.g.constants[n.inputs[1]].astype(np.float32)
        b = self.g.constants[n.inputs[2]].astype(np.float64)
        fixed = self.prequant.weights.get(n.inputs[1])   # the model's own (per-channel) weight scales
        s_w = fixed.scale if fixed is not None else symmetric_weight_scales(w, 0, name=n.inputs[1])
        if not self.options.per_channel and fixed is None:
            s_w = np.full_like(s_w, s_w.max())
        s_w = np.where(s_w > 0, s_w, np.float32(1.0))  # an all-zero channel: any scale, weights 0
        per_axis = (-1,) + (1,) * (w.ndim - 1)
        mean_x = self.channel_means.get(n.inputs[0]) if self.options.bias_correction else None
        if mean_x is not None:
            w_dq = fixedpoint.quantize(w, s_w.reshape(per_axis), 0, -127, 127) * s_w.reshape(per_axis)
            delta = bias_correction(n.op, w, w_dq, mean_x)
            if delta is not None:
                b = b + delta
        if fixed is None:
            s_w = widen_for_bias(s_w, b, s_in, int(np.prod(w.shape[1:])), self.options.per_channel)
        w_q = fixedpoint.quantize(w, s_w.reshape(per_axis), 0, -127, 127).astype(np.int8)
        # an all-zero input (scale 0) contributes nothing: the bias alone, at scale 1 * s_w, is the result
        s_b = (np.float64(s_in if s_in > 0 else 1.0) * s_w.astype(np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            b_q = np.where(s_b > 0, np.rint(b / np.where(s_b > 0, s_b, 1.0)), 0.0)
        if np.abs(b_q).max(initial=0) > fixedpoint.INT32_MAX:
            raise QcompError(f"node {n.name!r} ({n.kind}): its bias does not fit int32 at scale "
                             f"s_in * s_w (input scale {s_in:.3g}); the input range is too small for "
                             f"this bias: recalibrate or keep the node in float with --skip {n.name}")
        per_channel = self.options.per_channel or fixed is not None
        w_qp = QuantParams(s_w, 0, axis=0) if per_channel else QuantParams(s_w[:1], 0)
        b_qp = QuantParams(s_b.astype(np.float32), 0, axis=0) if per_channel else QuantParams(s_b[:1], 0)
        w_name = self.q.add_constant(f"{n.inputs[1]}_q", w_q, w_qp)
        b_name = self.q.add_constant(f"{n.inputs[2]}_q", b_q.astype(np.int32), b_qp)
        self.emit_int(n, [x, w_name, b_name], [self.qparams(n.outputs[0])])

    def same(self, n: Node) -> None:
        x = self.as_int(n.inputs[0])
        qp = self.q.types[x].quant
        self.emit_int(n, [x], [qp] * len(n.outputs))

    def gather(self, n: Node) -> None:
        """Gather with constant indices (GatherElements, GatherND, Scatter*, frontend/ops_gather.py):
        moves int8 values and keeps their params; the indices stay an integer constant."""
        x = self.as_int(n.inputs[0])
        self.emit_int(n, [x, self.as_float(n.inputs[1])], [self.q.types[x].quant])

    def topk(self, n: Node) -> None:
        """TopK selects int8 values (their params kept); its int64 indices are not quantized."""
        x = self.as_int(n.inputs[0])
        values, indices = n.outputs
        outs = [self.int_name(values), indices if indices not in self.q.types else self.q.unique_name(indices)]
        types = [TensorType(self.g.types[values].shape, DType.INT8, self.q.types[x].quant), self.g.types[indices]]
        self.q.add_node(n.op, [x], n.name, outputs=outs, out_types=types)
        self.int_of[values], self.float_of[indices] = outs

    def own(self, n: Node) -> None:
        ins = [self.as_int(i) for i in n.inputs]
        self.emit_int(n, ins, [self.qparams(n.outputs[0])])

    def softmax(self, n: Node) -> None:
        """Integer Softmax (beta 1: ONNX has none) when its rows and input scale fit the spec, else float."""
        v = n.inputs[0]
        qin = self.q.types[self.int_of[v]].quant if v in self.int_of else self.qparams(v)
        depth = self.g.types[v].shape[n.op.axis]
        if fixedpoint.softmax_refusal(depth, 1.0, float(qin.scale[0])) is not None:
            self.emit_float(n)
            return
        out = QuantParams(np.float32(fixedpoint.SOFTMAX_OUTPUT_SCALE), fixedpoint.SOFTMAX_OUTPUT_ZERO_POINT)
        self.emit_int(n, [self.as_int(v)], [out])

    def concat(self, n: Node) -> None:
        out_qp = self.qparams(n.outputs[0])
        ins = [self.as_int(i, out_qp) for i in n.inputs]
        self.emit_int(n, ins, [out_qp])

    def _lut(self, n: Node, x_value: str, fn, lut_op: Lut) -> None:
        x = self.as_int(x_value)
        qin = self.q.types[x].quant
        qout = self.qparams(n.outputs[0])
        with np.errstate(divide="ignore", over="ignore"):   # +-inf saturate in the table (x / 0, exp, log 0)
            table = fixedpoint.build_lut(fn, float(qin.scale[0]), int(qin.zero_point[0]),
                                         float(qout.scale[0]), int(qout.zero_point[0]))
        t = self.q.add_constant(f"{n.name}_table", table, QuantParams(qout.scale, qout.zero_point))
        self.emit_int(n, [x, t], [qout], op=lut_op)

    def lut(self, n: Node) -> None:
        f = _UNARY_FN[type(n.op)]
        self._lut(n, n.inputs[0], lambda x: f(n.op, x), Lut(source=n.op))

    def scalar_lut(self, n: Node) -> None:
        var, c = _scalar_operand(self.g, n)
        f = _SCALAR_FN[type(n.op)]
        fn = (lambda x: f(x, c)) if var == 0 else (lambda x: f(np.full_like(x, c), x))
        self._lut(n, n.inputs[var], fn, Lut(source=n.op, scalar=c, scalar_first=var == 1))

    # comparison, selection and index ops: quantize_logic.py
    def compare(self, n: Node) -> None:
        quantize_logic.compare(self, n)

    def where(self, n: Node) -> None:
        quantize_logic.where(self, n)

    def arg(self, n: Node) -> None:
        quantize_logic.arg(self, n)

    def layernorm(self, n: Node) -> None:   # quantize_norm.py
        quantize_norm.quantize(self, n)

    def div_const(self, n: Node) -> None:   # quantize_div.py
        quantize_div.quantize(self, n)

    def index(self, n: Node) -> None:   # quantize_index.py
        quantize_index.quantize(self, n)

    def finish(self) -> Graph:
        for o in self.g.outputs:
            if o in self.float_of and self.float_of[o] == o:
                continue
            if o in self.int_of:
                self.q.add_node(ops.Dequantize(), [self.int_of[o]], f"{o}_dequantize",
                                outputs=[o])
            else:
                self.as_float(o)
        self.q.outputs = list(self.g.outputs)
        self.q.prune()
        return self.q


def _prequantized(b: _Builder, n: Node, mode: str) -> bool:
    """Whether a pre-quantized model gives node n int8 operands and results (model scales,
    calibrated ranges or int8 values made already; "same" ops reuse their input's params)."""
    known = b.prequant.activations.keys() | b.ranges.keys()
    ins = [i for i in n.inputs if not b.g.is_constant(i)]
    outputs_known = mode in ("same", "softmax", "gather", "topk") or all(o in known for o in n.outputs)   # softmax: fixed params
    return all(i in b.int_of or i in known for i in ins) and outputs_known


def quantize(g: Graph, ranges: dict[str, Range], options: QuantOptions = QuantOptions(),
             channel_means: dict[str, np.ndarray] | None = None) -> Graph:
    """FLOAT graph + calibrated value ranges -> QUANTIZED graph (see the module docstring).
    With options.bias_correction, `channel_means` (calibrate's per-channel input means) shift each
    weighted layer's bias by (W - W_dq) E[x] before the bias is quantized."""
    unknown = sorted(options.skip - {n.name for n in g.nodes})
    if unknown:
        raise QcompError(f"--skip names no node of the model: {', '.join(unknown)}; "
                         f"`qcomp inspect MODEL` lists the node names")
    if options.int16:   # int16 activations: quantize16.py
        from .quantize16 import Builder16 as builder
    else:
        builder = _Builder
    b = builder(g, ranges, options, channel_means or {})
    for n in each_node(g.nodes):
        mode = int8_mode(g, n, options)
        if mode is not None and b.prequant and not _prequantized(b, n, mode):
            mode = None  # a pre-quantized model computes this op in float (no scale): so does qcomp
        if mode is None:
            b.emit_float(n)
        else:
            getattr(b, mode)(n)
    return b.finish()
