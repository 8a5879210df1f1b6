"""int16 activations (A16W8) in the quantizer: the values `--precision NAME=int16` marks.

A marked value is int16, symmetric: QuantParams(fixedpoint.int16_scale(lo, hi), 0), the grid
[-32767, 32767] of its calibrated range [lo, hi] (scale = max(|lo|, |hi|) / 32767). Every other
activation stays int8 (quantize.py). The rules, node by node:

- A16W8: a node computes with int16 activations when its output is marked or any of its
  quantized inputs is int16, and it has an A16W8 form (qcomp/ir/qops16.py):
    Conv2D (depthwise included) -> QConv2D16, Dense -> QDense16, MatMul of activations -> QMatMul16,
    Add / Sub / Mul -> QAdd16 / QSub16 / QMul16, AvgPool2D -> QAvgPool2D16, ReduceMean -> QMean16,
    every op that becomes an int8 Lut (quantize._UNARY_FN, binary ops with a scalar) -> Lut16,
    its table fixedpoint.build_lut16 of the same float64 function,
    LayerNorm with constant scale and bias -> QLayerNorm16 (quantize_norm16.py), where
    fixedpoint.layernorm16_refusal allows its params (else the int8 rule below).
  Its int8 inputs get a conversion to int16 (a Requantize with an int16 side; lower_integer16
  makes it a QConvert) onto the int16 grid of that tensor's calibrated range; a constant operand
  of Add/Sub/Mul/MatMul is quantized straight onto its own int16 grid. Its output is int16 or int8
  as the output value is marked: Lut16 writes int8 directly (the table holds the int8 zero
  point); the others write int16 at the int16 grid of the output's range, and a conversion gives
  the int8 value when the output is not marked. (The QUANTIZED graph's Conv2D/Dense/MatMul type
  their output as their input; lower_integer16 folds that conversion into the dot product's own
  requantize when it is the int16 result's only reader, so the dot products write int8 directly.)
  An A16W8 reader of such an unmarked output reads the int16 result itself (no int8 round trip:
  it exists anyway, and is the more exact of the two).
  Weights stay int8 symmetric per channel, the bias int64 at s_in * s_w[c] (no int32 budget: the
  accumulator is int32 or int64 as fixedpoint.accumulator16_bits decides at lowering, below 2^47);
  a channel whose weights are tiny next to its bias (a dead channel: BatchNorm folded onto ~0
  weights) gets the coarser weight scale widen_for_bias16 gives, as int8 does with its int32 budget,
  so |b / (s_in * s_w[c])| + K * 32768 * 128 < 2^47 and its weights round to 0; bias
  correction applies as for int8; a fused Relu/Relu6 becomes [qmin, qmax] on the output's grid.
- Type-generic ops (MaxPool2D, ReduceMax, Reshape, Transpose, Slice, Split, Pad with value 0,
  nearest Resize, Gather with constant indices) keep their input's dtype and params; marking such
  a node's output int16 marks its source instead (int16_values), transitively.
- Concat: its operands are converted to the output's dtype and params (the output marked: int16).
- Softmax: int16 (QSoftmax16, output at the fixed scale 1/32768) when its input is int16 or its
  output is marked, rows permitting; its int8 home is then 1/256, zero point -128 (quantize_softmax16.py).
- Every other op (a Softmax with too long rows, a LayerNorm outside the int16 spec, Min / Max,
  linear Resize, Compare, ArgMax, TopK, ...) has no A16W8 form: it reads the int8 version of each int16 input (a conversion to the int8 params
  of that tensor's range) and writes int8; a mark on its output widens nothing.
- Graph boundary: a marked graph input is quantized straight to int16 (Quantize with an int16
  output), a graph output whose value is int16 is dequantized from int16.
"""
from __future__ import annotations

import numpy as np

from .. import fixedpoint
from ..errors import QcompError
from ..ir import DType, Graph, Node, QuantParams, TensorType, ops
from ..ir.qops16 import Lut16
from . import quantize_logic, quantize_norm16, quantize_softmax16
from .observers import symmetric_weight_scales
from .quantize import _Builder, bias_correction

I8, I16 = DType.INT8, DType.INT16
INT16_GRID = (-fixedpoint.INT16_MAX, fixedpoint.INT16_MAX)   # the quantizer's symmetric grid
_GENERIC16 = (ops.MaxPool2D, ops.ReduceMax, ops.Reshape, ops.Transpose, ops.Slice, ops.Split)
_OWN16 = (ops.Add, ops.Sub, ops.Mul, ops.MatMul, ops.AvgPool2D, ops.ReduceMean)


def generic16(g: Graph, n: Node) -> bool:
    """Whether n moves or selects int16 values unchanged (qops16's type-generic ops)."""
    op = n.op
    if isinstance(op, ops.Pad):
        return op.mode == "constant" and op.value == 0.0
    if isinstance(op, ops.Resize):
        return op.mode == "nearest"
    if isinstance(op, ops.Gather):
        return g.is_constant(n.inputs[1])
    return isinstance(op, _GENERIC16)


def int16_values(g: Graph, marked) -> frozenset[str]:
    """The marked values, with the source of every marked output of a type-generic node."""
    producers = {v: n for n in g.nodes for v in n.outputs}
    out, todo = set(marked), list(marked)
    while todo:
        n = producers.get(todo.pop())
        if n is not None and generic16(g, n) and not g.is_constant(n.inputs[0]) and n.inputs[0] not in out:
            out.add(n.inputs[0])
            todo.append(n.inputs[0])
    return frozenset(out)


def widen_for_bias16(s_w: np.ndarray, b: np.ndarray, s_in: float, k: int, per_channel: bool) -> np.ndarray:
    """Weight scales for an A16W8 dot product whose int64 bias at s_in * s_w[c] would not leave room
    for k products below the int64 requantize's bound (fixedpoint.accumulator16_bits):
         |b[c]| / (s_in * s_w[c]) > 2^47 - 1 - k * 32768 * 128      (a dead channel: weights ~0)
    Such a channel (only such) gets the scale at which its bias is an int32-sized integer,
         s_w[c] = |b[c]| / (s_in * 2^31),
    so its weights round to 0 (their contribution is below the bias's own rounding) and its
    requantize multiplier s_in * s_w[c] / s_out = (b[c] / s_out) / 2^31 stays above the 2^-32 that
    fixedpoint.quantize_multiplier flushes to 0 wherever the output grid holds the bias (|b / s_out|
    >= 1): widening only to the 2^47 edge would leave a multiplier near 2^-32 that rounds to 0."""
    budget = fixedpoint.ACC64_LIMIT - 1 - k * 32768 * 128
    if s_in <= 0 or budget <= 0:
        return s_w
    b = np.abs(np.asarray(b, np.float64))
    dead = b / (s_in * np.maximum(s_w.astype(np.float64), 1e-45)) > budget
    if not dead.any():
        return s_w
    need = np.where(dead, b / (s_in * float(fixedpoint.INT32_MAX)), 0.0).astype(np.float32)
    widened = np.maximum(s_w, need)
    return widened if per_channel else np.full_like(widened, widened.max())


class Builder16(_Builder):
    """quantize._Builder with int16 values: `as_int` still gives the int8 version of a value (the
    int8 modes are unchanged), `as_int16` the int16 one; int_of holds each value's home version."""

    def __init__(self, g: Graph, ranges, options, channel_means):
        super().__init__(g, ranges, options, channel_means)
        self.int16 = int16_values(g, options.int16)
        self.wide_of: dict[str, str] = {}                 # int16 result whose int8 conversion is the home
        self.converted: dict[tuple, str] = {}             # (source, dtype, scale, zero point) -> value

    # ---- values -------------------------------------------------------------------------------
    def qparams16(self, value: str) -> QuantParams:
        if value not in self.ranges:
            raise QcompError(f"--precision {value}=int16: value {value!r} has no calibration range; int16 "
                             f"activations take their scale from calibration: give --calib")
        lo, hi = self.ranges[value]
        return QuantParams(fixedpoint.int16_scale(lo, hi), 0)

    def home16(self, value: str) -> bool:
        if self.g.is_constant(value):
            return False
        if value in self.int_of:
            return self.q.types[self.int_of[value]].dtype is I16
        return value in self.int16

    def _convert(self, value: str, src: str, dtype: DType, qp: QuantParams) -> str:
        key = (src, dtype, float(qp.scale[0]), int(qp.zero_point[0]))
        if key not in self.converted:
            name = self.q.unique_name(f"{value}_{'i16' if dtype is I16 else 'i8'}")
            self.q.add_node(ops.Requantize(dtype=dtype), [src], self.q.unique_node_name(name), outputs=[name],
                            out_types=[TensorType(self.q.types[src].shape, dtype, qp)])
            self.converted[key] = name
        return self.converted[key]

    def as_int(self, value: str, quant: QuantParams | None = None) -> str:
        """The int8 version of value (an int16 value converted to the int8 params of its range)."""
        if self.home16(value):
            return self._convert(value, self.as_int16(value), I8, quant or self.qparams(value))
        return super().as_int(value, quant)

    def as_int16(self, value: str, quant: QuantParams | None = None) -> str:
        """The int16 version of value: its home when int16, else a conversion onto the int16 grid of
        its calibrated range (or onto `quant`)."""
        if self.g.is_constant(value):
            arr = self.g.constants[value].astype(np.float32)
            qp = quant or QuantParams(fixedpoint.int16_scale(float(arr.min()), float(arr.max())), 0)
            data = fixedpoint.quantize(arr, qp.scale[0], 0, *INT16_GRID).astype(np.int16)
            return self.q.add_constant(f"{value}_q16", data, qp)
        src = self.wide_of.get(value, self.int_of.get(value))
        if src is None and value in self.int16:        # a graph input or a float region's output
            src = self.int_name(value)
            node = self.q.unique_node_name(f"{value}_quantize")
            self.q.add_node(ops.Quantize(dtype=I16), [self.as_float(value)], node, outputs=[src],
                            out_types=[TensorType(self.g.types[value].shape, I16, self.qparams16(value))])
            self.int_of[value] = src
        if src is None:
            src = super().as_int(value)
        t = self.q.types[src]
        if t.dtype is I16 and (quant is None or t.quant == quant):
            return src
        return self._convert(value, src, I16, quant or (t.quant if t.dtype is I16 else self.qparams16(value)))

    def emit16(self, n: Node, op, ins: list[str], outs: list[tuple[DType, QuantParams]]) -> None:
        names = [self.int_name(o) for o in n.outputs]
        types = [TensorType(self.g.types[o].shape, dt, qp) for o, (dt, qp) in zip(n.outputs, outs)]
        self.q.add_node(op, ins, n.name, outputs=names, out_types=types)
        for o, name in zip(n.outputs, names):
            self.int_of[o] = name

    def out16(self, value: str) -> tuple[DType, QuantParams]:
        """dtype and params an A16W8 node writes for `value`: int16 when marked, else int8."""
        return (I16, self.qparams16(value)) if value in self.int16 else (I8, self.qparams(value))

    def a16(self, n: Node) -> bool:
        return any(o in self.int16 for o in n.outputs) or any(self.home16(i) for i in n.inputs)

    # ---- A16W8 forms ----------------------------------------------------------------------------
    def weighted(self, n: Node) -> None:
        if not (isinstance(n.op, (ops.Conv2D, ops.Dense)) and self.a16(n)):
            return super().weighted(n)
        x = self.as_int16(n.inputs[0])
        s_in = float(self.q.types[x].quant.scale[0])
        w = self.g.constants[n.inputs[1]].astype(np.float32)
        b = self.g.constants[n.inputs[2]].astype(np.float64)
        fixed = self.prequant.weights.get(n.inputs[1])
        s_w = fixed.scale if fixed is not None else symmetric_weight_scales(w, 0, name=n.inputs[1])
        if not self.options.per_channel and fixed is None:
            s_w = np.full_like(s_w, s_w.max())
        s_w = np.where(s_w > 0, s_w, np.float32(1.0))
        per_axis = (-1,) + (1,) * (w.ndim - 1)
        mean_x = self.channel_means.get(n.inputs[0]) if self.options.bias_correction else None
        w_q = fixedpoint.quantize(w, s_w.reshape(per_axis), 0, -127, 127)
        if mean_x is not None:
            delta = bias_correction(n.op, w, w_q * s_w.reshape(per_axis), mean_x)
            b = b + (0.0 if delta is None else delta)
        if fixed is None:
            s_w = widen_for_bias16(s_w, b, s_in, int(np.prod(w.shape[1:])), self.options.per_channel)
            w_q = fixedpoint.quantize(w, s_w.reshape(per_axis), 0, -127, 127)
        s_b = np.float64(s_in if s_in > 0 else 1.0) * s_w.astype(np.float64)
        b_q = np.rint(b / s_b)
        if np.abs(b_q).max(initial=0) >= fixedpoint.ACC64_LIMIT:
            raise QcompError(f"node {n.name!r} ({n.kind}): its bias does not fit the int64 accumulator at scale "
                             f"s_in * s_w (input scale {s_in:.3g}); keep it int8 (drop its --precision int16)")
        per_channel = self.options.per_channel or fixed is not None
        w_qp = QuantParams(s_w, 0, axis=0) if per_channel else QuantParams(s_w[:1], 0)
        s_b = s_b.astype(np.float32)
        b_qp = QuantParams(s_b, 0, axis=0) if per_channel else QuantParams(s_b[:1], 0)
        w_name = self.q.add_constant(f"{n.inputs[1]}_q", w_q.astype(np.int8), w_qp)
        b_name = self.q.add_constant(f"{n.inputs[2]}_q", b_q.astype(np.int64), b_qp)
        self._emit_wide(n, [x, w_name, b_name])

    def own(self, n: Node) -> None:
        if not (isinstance(n.op, _OWN16) and self.a16(n)):
            return super().own(n)
        self._emit_wide(n, [self.as_int16(i) for i in n.inputs])

    def _emit_wide(self, n: Node, ins: list[str]) -> None:
        """n writes int16 on its output's int16 grid; an unmarked output is then converted to int8
        (for a dot product, lower_integer16 folds that conversion into its requantize)."""
        y = n.outputs[0]
        self.emit16(n, n.op, ins, [(I16, self.qparams16(y))])
        if y not in self.int16:
            wide = self.int_of[y]
            self.wide_of[y] = wide
            self.int_of[y] = self._convert(y, wide, I8, self.qparams(y))

    def _lut(self, n: Node, x_value: str, fn, lut_op) -> None:
        if not self.a16(n):
            return super()._lut(n, x_value, fn, lut_op)
        x = self.as_int16(x_value)
        s_in = float(self.q.types[x].quant.scale[0])
        dtype, qout = self.out16(n.outputs[0])
        qmin, qmax = INT16_GRID if dtype is I16 else (-128, 127)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            table = fixedpoint.build_lut16(fn, s_in, float(qout.scale[0]), int(qout.zero_point[0]), qmin, qmax)
        t = self.q.add_constant(f"{n.name}_table16", table)
        op = Lut16(source=lut_op.source, scalar=lut_op.scalar, scalar_first=lut_op.scalar_first, qmin=qmin,
                   qmax=qmax, out_dtype="i16" if dtype is I16 else "i8")
        self.emit16(n, op, [x, t], [(dtype, qout)])

    def same(self, n: Node) -> None:
        if not (generic16(self.g, n) and self.home16(n.inputs[0])):
            return super().same(n)
        x = self.as_int16(n.inputs[0])
        self.emit16(n, n.op, [x], [(I16, self.q.types[x].quant)] * len(n.outputs))

    def gather(self, n: Node) -> None:
        if not self.home16(n.inputs[0]):
            return super().gather(n)
        x = self.as_int16(n.inputs[0])
        self.emit16(n, n.op, [x, self.as_float(n.inputs[1])], [(I16, self.q.types[x].quant)])

    def concat(self, n: Node) -> None:
        y = n.outputs[0]
        if not (isinstance(n.op, ops.Concat) and y in self.int16):
            return super().concat(n)
        qp = self.qparams16(y)
        self.emit16(n, n.op, [self.as_int16(i, qp) for i in n.inputs], [(I16, qp)])

    # ---- ops without an A16W8 form that read int_of directly: give them the int8 versions --------
    def softmax(self, n: Node) -> None:   # int16 Softmax where its rule applies: quantize_softmax16.py
        if not quantize_softmax16.softmax16(self, n):
            self._with_int8_inputs(n, super().softmax)

    def compare(self, n: Node) -> None:
        self._with_int8_inputs(n, lambda n: quantize_logic.compare(self, n))

    def arg(self, n: Node) -> None:
        self._with_int8_inputs(n, lambda n: quantize_logic.arg(self, n))

    def layernorm(self, n: Node) -> None:   # int16 where it can (quantize_norm16.py), else QLayerNorm on int8
        if self.a16(n) and quantize_norm16.quantize(self, n):
            return
        self._with_int8_inputs(n, super().layernorm)

    def div_const(self, n: Node) -> None:
        self._with_int8_inputs(n, super().div_const)

    def _with_int8_inputs(self, n: Node, run) -> None:
        saved = {}
        for v in n.inputs:
            if self.home16(v):
                int8 = self.as_int(v)
                saved[v] = self.int_of[v]
                self.int_of[v] = int8
        try:
            run(n)
        finally:
            self.int_of.update(saved)
