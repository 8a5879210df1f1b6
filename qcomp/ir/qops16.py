"""A16W8 integer ops of the TARGET stage: int16 activations, int8 weights (qcomp/fixedpoint/int16.py).

An int16 activation is symmetric: zero point 0, real = q * scale, values in [-32768, 32767] (the
quantizer's grid is [-32767, 32767]; kernels accept the full type range). These ops are separate
classes from the int8 ones (qops.py) on purpose: a backend that has no emitter for one of them
refuses the node by name (protocol.check_nodes) instead of running int8 code on int16 data.

Every op here takes int16 activations only; the int8 <-> int16 boundaries are explicit QConvert
nodes, inserted by the quantizer. The output is int16 or int8 as `out_dtype` says ("i16" or
"i8"; [qmin, qmax] lies inside that type and includes a fused activation). Conventions:
- Dot products (QConv2D16, QDense16, QMatMul16): the accumulator width `acc_bits` (32 or 64) is
  fixed at build time by fixedpoint.accumulator16_bits from K and the bias bound, and selects the
  requantize formula (fixedpoint.requantize_acc): acc_bits 32 -> requantize (31-bit multiplier,
  int32 acc), acc_bits 64 -> requantize64 (TFLite's 16-bit reduced multiplier, int64 acc). Shifts
  are at most fixedpoint.MAX_SHIFT_64 (14) when acc_bits is 64. Bias is i64[O] whatever the width
  (its value fits int32 when acc_bits is 32). No input zero point: padding inserts 0.
- QMatMul16 multiplies two int16 activations: |a * b| <= 2^30, so acc_bits is 64 unless K == 1.
- Type-generic ops (MaxPool2D, Reshape, Transpose, Concat, Slice, Split, Pad (value 0), nearest
  Resize, ReduceMax, Gather) run on int16 values unchanged, as on int8; their int16 operands share
  the output's quant params.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ops import AvgPool2D, Conv2D, Dense, MatMul, Op, ReduceMean, broadcast_shapes
from .qops import INTEGER_OPS, _check
from .types import DType, IRError, TensorType

_I8, _I16, _I32, _I64 = DType.INT8, DType.INT16, DType.INT32, DType.INT64
_OUT = {"i8": _I8, "i16": _I16}
_CONV16_KINDS = (_I16, _I8, _I64, _I32, _I32)
MAX_SHIFT_64 = 14          # fixedpoint.MAX_SHIFT_64 (ir imports nothing of qcomp's other layers)
LUT16_SIZE = 513           # fixedpoint.LUT16_SIZE


def _out(op, shape) -> list[TensorType]:
    dtype = _OUT.get(op.out_dtype)
    if dtype is None:
        raise IRError(f"{op.kind}: out_dtype must be 'i8' or 'i16', got {op.out_dtype!r}")
    lo, hi = dtype.qrange
    if not lo <= op.qmin <= op.qmax <= hi:
        raise IRError(f"{op.kind}: clamp [{op.qmin}, {op.qmax}] outside the {dtype.value} range [{lo}, {hi}]")
    return [TensorType(tuple(shape), dtype)]


def _check_acc(op) -> None:
    if op.acc_bits not in (32, 64):
        raise IRError(f"{op.kind}: acc_bits must be 32 or 64, got {op.acc_bits}")


@dataclass(frozen=True)
class QConv2D16(Op):
    """acc[n,oh,ow,o] = bias[o] + sum_{kh,kw,c} xp[n, ...] * w[o,kh,kw,c]     (xp: x padded with 0)
    y = requantize_acc(acc, multiplier[o], shift[o], acc_bits, output_zero_point, qmin, qmax).
    Inputs: x i16[N,H,W,C], w i8[O,KH,KW,C/g], bias i64[O], multiplier i32[O], shift i32[O].
    Window geometry as Conv2D (group == C == O: depthwise)."""
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    group: int = 1
    acc_bits: int = 32
    output_zero_point: int = 0
    qmin: int = -32768
    qmax: int = 32767
    out_dtype: str = "i16"
    arity: ClassVar[int] = 5

    def infer(self, ins):
        _check(ins, _CONV16_KINDS, "QConv2D16")
        _check_acc(self)
        geometry = Conv2D(self.strides, self.pads, self.dilations, self.group)
        return _out(self, geometry.infer(ins[:3])[0].shape)


@dataclass(frozen=True)
class QDense16(Op):
    """acc[..., n] = bias[n] + sum_k x[..., k] * w[n, k]
    y = requantize_acc(acc, multiplier[n], shift[n], acc_bits, output_zero_point, qmin, qmax).
    Inputs: x i16[..., K], w i8[N, K], bias i64[N], multiplier i32[N], shift i32[N]."""
    acc_bits: int = 32
    output_zero_point: int = 0
    qmin: int = -32768
    qmax: int = 32767
    out_dtype: str = "i16"
    arity: ClassVar[int] = 5

    def infer(self, ins):
        _check(ins, _CONV16_KINDS, "QDense16")
        _check_acc(self)
        return _out(self, Dense().infer(ins[:3])[0].shape)


@dataclass(frozen=True)
class QMatMul16(Op):
    """acc = sum_k a[..., m, k] * b[..., k, n]      (int64 unless K == 1; |acc| <= K * 2^30 < 2^47)
    y = requantize_acc(acc, multiplier, shift, acc_bits, output_zero_point, qmin, qmax), per tensor.
    Inputs: a, b i16 (zero point 0), batch dimensions broadcast as MatMul."""
    multiplier: int = 0
    shift: int = 0
    acc_bits: int = 64
    output_zero_point: int = 0
    qmin: int = -32768
    qmax: int = 32767
    out_dtype: str = "i16"
    arity: ClassVar[int] = 2

    def infer(self, ins):
        _check(ins, (_I16, _I16), "QMatMul16")
        _check_acc(self)
        return _out(self, MatMul().infer(ins)[0].shape)


@dataclass(frozen=True)
class QAdd16(Op):
    """fixedpoint.add_int16 with these AddParams fields (zero points 0, left_shift 15), numpy
    broadcasting; int16 output."""
    a_multiplier: int = 0
    a_shift: int = 0
    b_multiplier: int = 0
    b_shift: int = 0
    out_multiplier: int = 0
    out_shift: int = 0
    qmin: int = -32768
    qmax: int = 32767
    out_dtype: ClassVar[str] = "i16"
    arity: ClassVar[int] = 2

    def add_attrs(self) -> dict:
        """fixedpoint.AddParams' fields."""
        return {"a_zero_point": 0, "b_zero_point": 0, "left_shift": 15, "a_multiplier": self.a_multiplier,
                "a_shift": self.a_shift, "b_multiplier": self.b_multiplier, "b_shift": self.b_shift,
                "out_multiplier": self.out_multiplier, "out_shift": self.out_shift, "out_zero_point": 0,
                "qmin": self.qmin, "qmax": self.qmax}

    def infer(self, ins):
        _check(ins, (_I16, _I16), self.kind)
        return _out(self, broadcast_shapes(ins[0].shape, ins[1].shape))


@dataclass(frozen=True)
class QSub16(QAdd16):
    """fixedpoint.sub_int16 with QAdd16's parameters."""


@dataclass(frozen=True)
class QMul16(Op):
    """fixedpoint.mul_int16 with MulParams(0, 0, multiplier, shift, 0, qmin, qmax), broadcasting;
    int16 output."""
    multiplier: int = 0
    shift: int = 0
    qmin: int = -32768
    qmax: int = 32767
    out_dtype: ClassVar[str] = "i16"
    arity: ClassVar[int] = 2

    def mul_attrs(self) -> dict:
        """fixedpoint.MulParams' fields."""
        return {"a_zero_point": 0, "b_zero_point": 0, "multiplier": self.multiplier, "shift": self.shift,
                "out_zero_point": 0, "qmin": self.qmin, "qmax": self.qmax}

    def infer(self, ins):
        _check(ins, (_I16, _I16), "QMul16")
        return _out(self, broadcast_shapes(ins[0].shape, ins[1].shape))


@dataclass(frozen=True)
class QConvert(Op):
    """y = requantize(x - input_zero_point, multiplier, shift, output_zero_point, qmin, qmax)
    (fixedpoint.convert): int8 -> int16, int16 -> int8, or a rescale within int16. x is i8 or i16
    (input_zero_point 0 for i16); |x - input_zero_point| <= 65535, so the int32 path applies."""
    input_zero_point: int = 0
    multiplier: int = 0
    shift: int = 0
    output_zero_point: int = 0
    qmin: int = -32768
    qmax: int = 32767
    out_dtype: str = "i16"

    def infer(self, ins):
        if ins[0].dtype not in (_I8, _I16):
            raise IRError(f"QConvert: expected an i8 or i16 operand, got {ins[0].dtype.value}")
        if ins[0].dtype is _I16 and self.input_zero_point != 0:
            raise IRError(f"QConvert: an int16 input has zero point 0, got {self.input_zero_point}")
        return _out(self, ins[0].shape)


@dataclass(frozen=True)
class Lut16(Op):
    """y = fixedpoint.lut16_lookup(x, table): TFLite's 513-entry int16 table with linear
    interpolation; out i16, or i8 when the table's values lie in [qmin, qmax] of int8 (the output
    zero point is folded into the table). Inputs: x i16, table i16[513] (a constant). `source`,
    `scalar`, `scalar_first` as Lut (reports and exports only)."""
    source: Op | None = None
    scalar: float | None = None
    scalar_first: bool = False
    qmin: int = -32768
    qmax: int = 32767
    out_dtype: str = "i16"
    arity: ClassVar[int] = 2

    def infer(self, ins):
        _check(ins, (_I16, _I16), "Lut16")
        if ins[1].shape != (LUT16_SIZE,):
            raise IRError(f"Lut16: table must be i16[{LUT16_SIZE}], got {ins[1]}")
        return _out(self, ins[0].shape)


@dataclass(frozen=True)
class QAvgPool2D16(Op):
    """Window sums of int16 x (int32: a window holds at most 65535 taps, padding excluded), then
    fixedpoint.avg_int16: requantize(window_sum, multipliers[count-1], shifts[count-1], 0, qmin, qmax),
    count = the window's element count (as QAvgPool2D). int16 output."""
    kernel: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    ceil_mode: bool = False
    count_include_pad: bool = False
    dilations: tuple[int, int] = (1, 1)
    multipliers: tuple[int, ...] = ()
    shifts: tuple[int, ...] = ()
    qmin: int = -32768
    qmax: int = 32767
    out_dtype: ClassVar[str] = "i16"

    def infer(self, ins):
        _check(ins, (_I16,), "QAvgPool2D16")
        geometry = AvgPool2D(self.kernel, self.strides, self.pads, self.ceil_mode, self.count_include_pad,
                             self.dilations)
        return _out(self, geometry.infer(ins)[0].shape)


@dataclass(frozen=True)
class QMean16(Op):
    """Sum of int16 x over axes (int32, count <= 65535), then fixedpoint.mean_int16:
    requantize(sum, multiplier, shift, 0, qmin, qmax). int16 output."""
    axes: tuple[int, ...] = ()
    keepdims: bool = True
    count: int = 1
    multiplier: int = 0
    shift: int = 0
    qmin: int = -32768
    qmax: int = 32767
    out_dtype: ClassVar[str] = "i16"

    def infer(self, ins):
        _check(ins, (_I16,), "QMean16")
        return _out(self, ReduceMean(self.axes, self.keepdims).infer(ins)[0].shape)


INTEGER16_OPS: dict[str, type[Op]] = {
    cls.__name__: cls for cls in [QConv2D16, QDense16, QMatMul16, QAdd16, QSub16, QMul16, QConvert, Lut16,
                                  QAvgPool2D16, QMean16]
}
INTEGER_OPS.update(INTEGER16_OPS)

# ---- integer LayerNorm on int16 (qops_norm16.py registers QLayerNorm16 in both tables) ----
from .qops_norm16 import QLayerNorm16  # noqa: E402,F401  (imports this module's tables: no cycle)
# int16 Softmax (QSoftmax16): qops16_softmax.py registers itself in INTEGER16_OPS
from .qops16_softmax import QSoftmax16  # noqa: E402,F401
