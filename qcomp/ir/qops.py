"""Integer ops of the TARGET stage: every number a backend needs is an attribute or a constant.

The `lower_integer` pass turns each quantized op of the QUANTIZED stage into one of these, with
multipliers, shifts, clamp bounds and zero-point corrections computed by qcomp.fixedpoint. The
integer reference interpreter runs exactly these ops, and every backend implements exactly them,
so the integers that define a result are computed once, in one place.

Conventions (names as in qcomp/fixedpoint.py):
- x, w are int8; accumulators int32; `requantize(acc, multiplier, shift, zero_point, qmin, qmax)`.
- Per-channel multiplier/shift are int32 constant inputs (one per output channel); per-tensor
  ones are attributes.
- [qmin, qmax] already include a fused activation (Relu -> qmin = output zero point).
Type-generic ops (MaxPool2D, ReduceMax, Reshape, Transpose, Concat, Slice, Split, Pad, nearest
Resize, Gather) run on int8 unchanged; their inputs and outputs share quant params (Pad's value
is then the int8 pad value).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ops import AvgPool2D, Conv2D, ConvTranspose2D, Dense, MatMul, Op, ReduceMean, Types, broadcast_shapes
from .types import DType, IRError, TensorType


def _int8_out(shape) -> Types:
    return [TensorType(tuple(shape), DType.INT8)]


def _check(ins: Types, kinds: tuple[DType, ...], what: str) -> None:
    for t, k in zip(ins, kinds):
        if t.dtype is not k:
            raise IRError(f"{what}: expected {', '.join(d.value for d in kinds)} operands, got "
                          f"{', '.join(t.dtype.value for t in ins)}")


_I8, _I32 = DType.INT8, DType.INT32
_SOFTMAX_MAX_DEPTH = 4095   # fixedpoint.SOFTMAX_MAX_DEPTH (ir imports nothing of qcomp)
_CONV_KINDS = (_I8, _I8, _I32, _I32, _I32)


@dataclass(frozen=True)
class QConv2D(Op):
    """acc[n,oh,ow,o] = bias[o] + sum_{kh,kw,c} xp[n, ...] * w[o,kh,kw,c]
    y = requantize(acc, multiplier[o], shift[o], output_zero_point, qmin, qmax)
    xp is x padded with input_zero_point; bias already holds -input_zero_point * sum(w[o]), so
    acc equals bias_q[o] + sum (xp - zp_in) * w. Inputs: x i8[N,H,W,C], w i8[O,KH,KW,C/g],
    bias i32[O], multiplier i32[O], shift i32[O]. Window geometry as Conv2D."""
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    group: int = 1
    input_zero_point: int = 0
    output_zero_point: int = 0
    qmin: int = -128
    qmax: int = 127
    arity: ClassVar[int] = 5

    def infer(self, ins):
        _check(ins, _CONV_KINDS, "QConv2D")
        geometry = Conv2D(self.strides, self.pads, self.dilations, self.group)
        return _int8_out(geometry.infer(ins[:3])[0].shape)


@dataclass(frozen=True)
class QConvTranspose2D(Op):
    """acc = bias[o] + sum (x - input_zero_point) * w  (transposed-convolution scatter; the zero
    point is subtracted in the kernel since border outputs receive fewer terms);
    y = requantize(acc, multiplier[o], shift[o], output_zero_point, qmin, qmax).
    Inputs as QConv2D, geometry as ConvTranspose2D."""
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    group: int = 1
    output_padding: tuple[int, int] = (0, 0)
    input_zero_point: int = 0
    output_zero_point: int = 0
    qmin: int = -128
    qmax: int = 127
    arity: ClassVar[int] = 5

    def infer(self, ins):
        _check(ins, _CONV_KINDS, "QConvTranspose2D")
        geometry = ConvTranspose2D(self.strides, self.pads, self.dilations, self.group, self.output_padding)
        return _int8_out(geometry.infer(ins[:3])[0].shape)


@dataclass(frozen=True)
class QDense(Op):
    """acc[..., n] = bias[n] + sum_k x[..., k] * w[n, k]   (bias holds -input_zero_point * sum(w[n]))
    y = requantize(acc, multiplier[n], shift[n], output_zero_point, qmin, qmax).
    Inputs: x i8[..., K], w i8[N, K], bias i32[N], multiplier i32[N], shift i32[N]."""
    input_zero_point: int = 0
    output_zero_point: int = 0
    qmin: int = -128
    qmax: int = 127
    arity: ClassVar[int] = 5

    def infer(self, ins):
        _check(ins, _CONV_KINDS, "QDense")
        return _int8_out(Dense().infer(ins[:3])[0].shape)


@dataclass(frozen=True)
class QMatMul(Op):
    """acc = sum_k (a[..., m, k] - a_zero_point) * (b[..., k, n] - b_zero_point)   (int32)
    y = requantize(acc, multiplier, shift, output_zero_point, qmin, qmax). Inputs: a, b int8."""
    a_zero_point: int = 0
    b_zero_point: int = 0
    multiplier: int = 0
    shift: int = 0
    output_zero_point: int = 0
    qmin: int = -128
    qmax: int = 127
    arity: ClassVar[int] = 2

    def infer(self, ins):
        _check(ins, (_I8, _I8), "QMatMul")
        return _int8_out(MatMul().infer(ins)[0].shape)


class _QBinary(Op):
    arity: ClassVar[int] = 2

    def infer(self, ins):
        _check(ins, (_I8, _I8), self.kind)
        return _int8_out(broadcast_shapes(ins[0].shape, ins[1].shape))


@dataclass(frozen=True)
class QAdd(_QBinary):
    """fixedpoint.add_int8 with these AddParams fields (numpy broadcasting)."""
    a_zero_point: int = 0
    b_zero_point: int = 0
    left_shift: int = 20
    a_multiplier: int = 0
    a_shift: int = 0
    b_multiplier: int = 0
    b_shift: int = 0
    out_multiplier: int = 0
    out_shift: int = 0
    out_zero_point: int = 0
    qmin: int = -128
    qmax: int = 127


@dataclass(frozen=True)
class QConv2DAdd(Op):
    """A QConv2D whose int8 output feeds one QAdd (a residual connection), fused into one node
    (passes/fuse_residual.py). The integers are the unfused pair's, step by step:
      c = requantize(acc, multiplier[o], shift[o], conv_zero_point, conv_qmin, conv_qmax)   QConv2D's output
      y = add_int8(c, r, AddParams(a_zero_point=conv_zero_point, b_zero_point, left_shift, a_multiplier,
                   a_shift, b_multiplier, b_shift, out_multiplier, out_shift, out_zero_point, qmin, qmax))
    Inputs: QConv2D's five (x, w, bias, multiplier, shift), then the residual r (int8, the shape of
    the conv's output). The conv's attributes are `conv()`'s, the Add's `add_attrs()` (the conv's
    output is the Add's operand a: add_int8 is symmetric in a and b). [qmin, qmax] is the clamp of
    the node's output y (a fused ReLU of the Add), so readers may rely on it as on any op's."""
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    group: int = 1
    input_zero_point: int = 0
    conv_zero_point: int = 0
    conv_qmin: int = -128
    conv_qmax: int = 127
    b_zero_point: int = 0
    left_shift: int = 20
    a_multiplier: int = 0
    a_shift: int = 0
    b_multiplier: int = 0
    b_shift: int = 0
    out_multiplier: int = 0
    out_shift: int = 0
    out_zero_point: int = 0
    qmin: int = -128
    qmax: int = 127
    arity: ClassVar[int] = 6

    def conv(self) -> QConv2D:
        """The QConv2D of the pair (its output: c above)."""
        return QConv2D(self.strides, self.pads, self.dilations, self.group, self.input_zero_point,
                       self.conv_zero_point, self.conv_qmin, self.conv_qmax)

    def add_attrs(self) -> dict:
        """The QAdd's attributes (fixedpoint.AddParams' fields), the conv's output as operand a."""
        return {"a_zero_point": self.conv_zero_point, "b_zero_point": self.b_zero_point,
                "left_shift": self.left_shift, "a_multiplier": self.a_multiplier, "a_shift": self.a_shift,
                "b_multiplier": self.b_multiplier, "b_shift": self.b_shift,
                "out_multiplier": self.out_multiplier, "out_shift": self.out_shift,
                "out_zero_point": self.out_zero_point, "qmin": self.qmin, "qmax": self.qmax}

    def infer(self, ins):
        out = self.conv().infer(ins[:5])
        _check(ins[5:], (_I8,), "QConv2DAdd residual")
        if ins[5].shape != out[0].shape:
            raise IRError(f"QConv2DAdd: the residual has shape {ins[5].shape}, the conv's output {out[0].shape}")
        return out


@dataclass(frozen=True)
class QSub(QAdd):
    """fixedpoint.sub_int8 with these AddParams fields."""


@dataclass(frozen=True)
class QMul(_QBinary):
    """fixedpoint.mul_int8 with these MulParams fields."""
    a_zero_point: int = 0
    b_zero_point: int = 0
    multiplier: int = 0
    shift: int = 0
    out_zero_point: int = 0
    qmin: int = -128
    qmax: int = 127


@dataclass(frozen=True)
class QAvgPool2D(Op):
    """Window sums of x (int32, padding excluded), then fixedpoint.avg_int8 with AvgPoolParams
    (in_zero_point, multipliers, shifts, out_zero_point, qmin, qmax), count = the window's element
    count (explicit pads counted when count_include_pad; never the ceil_mode overhang)."""
    kernel: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    ceil_mode: bool = False
    count_include_pad: bool = False
    dilations: tuple[int, int] = (1, 1)
    in_zero_point: int = 0
    multipliers: tuple[int, ...] = ()
    shifts: tuple[int, ...] = ()
    out_zero_point: int = 0
    qmin: int = -128
    qmax: int = 127

    def infer(self, ins):
        _check(ins, (_I8,), "QAvgPool2D")
        geometry = AvgPool2D(self.kernel, self.strides, self.pads, self.ceil_mode, self.count_include_pad,
                             self.dilations)
        return _int8_out(geometry.infer(ins)[0].shape)


@dataclass(frozen=True)
class QMean(Op):
    """Sum over axes (int32), then fixedpoint.mean_int8 with MeanParams (count, in_zero_point,
    multiplier, shift, out_zero_point, qmin, qmax)."""
    axes: tuple[int, ...] = ()
    keepdims: bool = True
    count: int = 1
    in_zero_point: int = 0
    multiplier: int = 0
    shift: int = 0
    out_zero_point: int = 0
    qmin: int = -128
    qmax: int = 127

    def infer(self, ins):
        _check(ins, (_I8,), "QMean")
        return _int8_out(ReduceMean(self.axes, self.keepdims).infer(ins)[0].shape)


@dataclass(frozen=True)
class Lut(Op):
    """y = table[x + 128]: any elementwise int8 -> int8 function (fixedpoint.build_lut).
    Inputs: x i8, table i8[256] (a constant).
    `source` is the float op the table replaces (for exports and reports; it does not change the
    result); for a binary op with a scalar constant, `scalar` is that constant and `scalar_first`
    says whether it was the op's first operand."""
    source: Op | None = None
    scalar: float | None = None
    scalar_first: bool = False
    arity: ClassVar[int] = 2

    def infer(self, ins):
        _check(ins, (_I8, _I8), "Lut")
        if ins[1].shape != (256,):
            raise IRError(f"Lut: table must be i8[256], got {ins[1]}")
        return _int8_out(ins[0].shape)


@dataclass(frozen=True)
class QRequantize(Op):
    """y = requantize(x - input_zero_point, multiplier, shift, output_zero_point, qmin, qmax)."""
    input_zero_point: int = 0
    multiplier: int = 0
    shift: int = 0
    output_zero_point: int = 0
    qmin: int = -128
    qmax: int = 127

    def infer(self, ins):
        _check(ins, (_I8,), "QRequantize")
        return _int8_out(ins[0].shape)


@dataclass(frozen=True)
class QSoftmax(Op):
    """fixedpoint.softmax_int8 along `axis` with SoftmaxParams (input_multiplier, input_left_shift,
    diff_min): TFLite's int8 Softmax. Output scale 1/256, zero point -128 (fixed by the spec); a
    row (the axis) holds 1 to fixedpoint.SOFTMAX_MAX_DEPTH (4095) elements. Input: x i8."""
    axis: int = -1
    input_multiplier: int = 0
    input_left_shift: int = 0
    diff_min: int = 0

    def infer(self, ins):
        _check(ins, (_I8,), "QSoftmax")
        if not 0 <= self.axis < ins[0].rank:
            raise IRError(f"QSoftmax: axis {self.axis} out of range for shape {ins[0].shape}")
        if not 1 <= ins[0].shape[self.axis] <= _SOFTMAX_MAX_DEPTH:
            raise IRError(f"QSoftmax: a row of {ins[0].shape[self.axis]} elements (1 to {_SOFTMAX_MAX_DEPTH})")
        if not (0 < self.input_multiplier < 2**31 and 0 <= self.input_left_shift <= 30 and self.diff_min <= 0):
            raise IRError(f"QSoftmax: parameters out of range: multiplier {self.input_multiplier}, "
                          f"left shift {self.input_left_shift}, diff_min {self.diff_min}")
        return _int8_out(ins[0].shape)


@dataclass(frozen=True)
class DynamicDense(Op):
    """Dense with int8 weights and the activation quantized per run (--quant dynamic):
      (s_x, zp_x) = fixedpoint.dynamic_quant_params(x);  q = fixedpoint.quantize(x, s_x, zp_x)
      acc[..., n] = sum_k (q[..., k] - zp_x) * w[n, k]                    int32
      y = float32(acc) * float32(s_x * w_scale[n]) + b[n], then the fused clamp    float32, in this order
    Inputs: x f32[..., K], w i8[N, K] (zero point 0), b f32[N], w_scale f32[N] (s_w per channel)."""
    act_min: float | None = None
    act_max: float | None = None
    arity: ClassVar[int] = 4

    def infer(self, ins):
        _check(ins, (DType.FLOAT32, _I8, DType.FLOAT32, DType.FLOAT32), "DynamicDense")
        if ins[3].shape != (ins[1].shape[0],):
            raise IRError(f"DynamicDense: w_scale {ins[3].shape} must have one scale per output channel")
        return [TensorType(Dense().infer(ins[:3])[0].shape, DType.FLOAT32)]


@dataclass(frozen=True)
class DynamicMatMul(Op):
    """MatMul of two float32 activations, each quantized per run (as DynamicDense's x):
      acc = sum_k (qa - zp_a) * (qb - zp_b)    int32;   y = float32(acc) * float32(s_a * s_b), clamped."""
    act_min: float | None = None
    act_max: float | None = None
    arity: ClassVar[int] = 2

    def infer(self, ins):
        _check(ins, (DType.FLOAT32, DType.FLOAT32), "DynamicMatMul")
        return MatMul().infer(ins)


INTEGER_OPS: dict[str, type[Op]] = {
    cls.__name__: cls for cls in [QConv2D, QConvTranspose2D, QDense, QMatMul, QAdd, QSub, QMul,
                                  QAvgPool2D, QMean, Lut, QRequantize, QSoftmax, DynamicDense, DynamicMatMul,
                                  QConv2DAdd]
}

# ---- integer normalizations (qops_norm.py) ----
from .qops_norm import QLayerNorm  # noqa: E402  (imports Op from .ops: no cycle)

INTEGER_OPS[QLayerNorm.__name__] = QLayerNorm
