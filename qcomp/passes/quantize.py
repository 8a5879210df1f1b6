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
Which of these each node gets is int8_mode's table (quantize_modes.py); this module writes the graph.
"""
from __future__ import annotations

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
# the per-op mode table and its helpers (quantize_modes.py); QuantOptions, int8_mode and bias_correction
# stay importable from here (builder, accuracy, quantize16, tests)
from .quantize_modes import (QuantOptions, Range, _SCALAR_FN, _UNARY_FN, _scalar_operand,  # noqa: F401
                             bias_correction, int8_mode, widen_for_bias)


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
