"""Builders of small A16W8 TARGET graphs (qcomp/ir/qops16.py): int16 inputs, int16 or int8 outputs.

Like graphs.py: seeded int16 feeds over the whole type range (-32768 included), int8 weights,
int64 biases, multipliers aimed at SPREAD16 output steps per rms of the accumulator (so results
spread over the int16 range instead of saturating), the accumulator width chosen by the spec
(fixedpoint.accumulator16_bits: K <= 511 without bias is int32, larger K int64). The scales on the
types are bookkeeping; the ops read only their integer attributes and constants.
"""
from __future__ import annotations

import numpy as np

from qcomp import fixedpoint
from qcomp.ir import DType, QuantParams, TensorType, ops, qops16

from .graphs import Builder, acc_rms

I16, I8 = DType.INT16, DType.INT8
SCALE16 = 0.0005
SPREAD16 = 9000.0


class Builder16(Builder):
    def input16(self, name: str, shape, lo: int = -32768, hi: int = 32767) -> str:
        self.g.add_input(name, TensorType(tuple(shape), I16, QuantParams(SCALE16, 0)))
        self.feeds[name] = self.rng.integers(lo, hi + 1, size=shape).astype(np.int16)
        return name

    def node16(self, op, inputs, name: str, zp: int = 0, scale: float = SCALE16) -> str:
        """Add op; an int16 output gets (scale, 0), an int8 one (scale, zp); a type-generic op's
        output takes input 0's params."""
        (t,) = op.infer([self.g.types[i] for i in inputs])
        if hasattr(op, "out_dtype"):
            quant = QuantParams(scale, zp if t.dtype is I8 else 0)
        else:
            quant = self.g.types[inputs[0]].quant
        self.g.add_node(op, inputs, name, outputs=[name], out_types=[TensorType(t.shape, t.dtype, quant)])
        return name


def _mult(real) -> tuple[np.ndarray, np.ndarray]:
    return fixedpoint.quantize_multipliers(np.asarray(real, np.float64).reshape(-1))


def _out_range(out_dtype: str, zp: int, relu: bool) -> tuple[int, int]:
    lo, hi = (-32768, 32767) if out_dtype == "i16" else (-128, 127)
    return (zp if relu else lo), hi


def _weighted(b: Builder16, rng, x: str, w_shape, k: int, out_dtype: str, zp: int, relu: bool, bias_scale: float):
    w = rng.integers(-127, 128, size=w_shape).astype(np.int8)
    b.const("w", w, QuantParams(np.full(w_shape[0], 0.01, np.float32), 0, axis=0))
    bias = np.rint(rng.standard_normal(w_shape[0]) * bias_scale * 32768 * 127 * np.sqrt(k) / 3).astype(np.int64)
    acc_bits = fixedpoint.accumulator16_bits(k, int(np.abs(bias).max(initial=0)))
    steps = SPREAD16 if out_dtype == "i16" else 40.0
    real = steps / acc_rms(k, b.feeds[x], 0, w, bias) * rng.uniform(0.6, 1.6, w_shape[0])
    m, s = _mult(real)
    b.const("bias", bias)
    b.const("multiplier", m)
    b.const("shift", s)
    qmin, qmax = _out_range(out_dtype, zp, relu)
    return dict(acc_bits=acc_bits, output_zero_point=zp, qmin=qmin, qmax=qmax, out_dtype=out_dtype)


def conv16(name: str, rng, x_shape, out_ch: int, kernel=(3, 3), *, strides=(1, 1), pads=(0, 0, 0, 0),
           dilations=(1, 1), group: int = 1, out_dtype: str = "i16", zp: int = 0, relu: bool = False,
           bias_scale: float = 0.3, acc_bits: int | None = None):
    b = Builder16(name, rng)
    x = b.input16("x", x_shape)
    cg = x_shape[3] // group
    k = kernel[0] * kernel[1] * cg
    attrs = _weighted(b, rng, x, (out_ch, kernel[0], kernel[1], cg), k, out_dtype, zp, relu, bias_scale)
    assert acc_bits is None or attrs["acc_bits"] == acc_bits, f"{name}: expected acc_bits {acc_bits}"
    y = b.node16(qops16.QConv2D16(strides, pads, dilations, group, **attrs), ["x", "w", "bias", "multiplier", "shift"],
                 "y", zp)
    return b.done(y)


def dense16(name: str, rng, x_shape, n_out: int, *, out_dtype: str = "i16", zp: int = 0, relu: bool = False,
            bias_scale: float = 0.3, acc_bits: int | None = None):
    b = Builder16(name, rng)
    x = b.input16("x", x_shape)
    attrs = _weighted(b, rng, x, (n_out, x_shape[-1]), x_shape[-1], out_dtype, zp, relu, bias_scale)
    assert acc_bits is None or attrs["acc_bits"] == acc_bits, f"{name}: expected acc_bits {acc_bits}"
    y = b.node16(qops16.QDense16(**attrs), ["x", "w", "bias", "multiplier", "shift"], "y", zp)
    return b.done(y)


def matmul16(name: str, rng, a_shape, b_shape, *, out_dtype: str = "i16", zp: int = 0):
    b = Builder16(name, rng)
    a, bb = b.input16("a", a_shape), b.input16("b", b_shape)
    k = a_shape[-1]
    rms = np.sqrt(k * np.mean(b.feeds[a].astype(np.float64) ** 2) * np.mean(b.feeds[bb].astype(np.float64) ** 2))
    m, s = _mult([(SPREAD16 if out_dtype == "i16" else 40.0) / rms])
    qmin, qmax = _out_range(out_dtype, zp, False)
    op = qops16.QMatMul16(int(m[0]), int(s[0]), fixedpoint.accumulator16x16_bits(k), zp, qmin, qmax, out_dtype)
    return b.done(b.node16(op, [a, bb], "y", zp))


def binary16(name: str, rng, kind: str, a_shape, b_shape, *, scales=(0.0005, 0.0002, 0.0007), relu: bool = False):
    b = Builder16(name, rng)
    a, bb = b.input16("a", a_shape), b.input16("b", b_shape)
    s_a, s_b, s_o = scales
    qmin = 0 if relu else -32768
    if kind == "mul":
        p = fixedpoint.mul_params16(s_a, s_b, s_o, qmin)
        op = qops16.QMul16(p.multiplier, p.shift, p.qmin, p.qmax)
    else:
        p = fixedpoint.add_params16(s_a, s_b, s_o, qmin)
        cls = qops16.QAdd16 if kind == "add" else qops16.QSub16
        op = cls(p.a_multiplier, p.a_shift, p.b_multiplier, p.b_shift, p.out_multiplier, p.out_shift, p.qmin, p.qmax)
    return b.done(b.node16(op, [a, bb], "y"))


def convert(name: str, rng, shape, *, in_dtype: str, out_dtype: str, ratio: float, zp_in: int = 0, zp_out: int = 0):
    """QConvert by the real ratio s_in / s_out."""
    b = Builder16(name, rng)
    x = b.input16("x", shape) if in_dtype == "i16" else b.input("x", shape, zp_in)
    m, s = _mult([ratio])
    qmin, qmax = _out_range(out_dtype, zp_out, False)
    op = qops16.QConvert(zp_in, int(m[0]), int(s[0]), zp_out, qmin, qmax, out_dtype)
    return b.done(b.node16(op, [x], "y", zp_out))


def lut16(name: str, rng, shape, fn, *, s_in: float, s_out: float, out_dtype: str = "i16", zp_out: int = 0):
    b = Builder16(name, rng)
    x = b.input16("x", shape)
    qmin, qmax = _out_range(out_dtype, -128 if out_dtype == "i8" else -32768, False)
    table = fixedpoint.build_lut16(fn, s_in, s_out, zp_out, qmin, qmax)
    t = b.const("table", table)
    return b.done(b.node16(qops16.Lut16(qmin=qmin, qmax=qmax, out_dtype=out_dtype), [x, t], "y", zp_out))


def avg_pool16(name: str, rng, x_shape, kernel, strides, pads=(0, 0, 0, 0), *, count_include_pad=False,
               ceil_mode=False, ratio: float = 1.3):
    b = Builder16(name, rng)
    x = b.input16("x", x_shape)
    m, s = fixedpoint.window_multipliers16(SCALE16, SCALE16 / ratio, kernel[0] * kernel[1])
    op = qops16.QAvgPool2D16(kernel, strides, pads, ceil_mode, count_include_pad, (1, 1), m, s)
    return b.done(b.node16(op, [x], "y"))


def mean16(name: str, rng, x_shape, axes, keepdims=True, ratio: float = 2.7):
    b = Builder16(name, rng)
    x = b.input16("x", x_shape)
    count = int(np.prod([x_shape[a] for a in axes]))
    m, s = fixedpoint.window_multipliers16(SCALE16, SCALE16 / ratio, count)
    op = qops16.QMean16(tuple(axes), keepdims, count, m[-1], s[-1])
    return b.done(b.node16(op, [x], "y"))


def movement16(name: str, rng):
    """Type-generic ops on int16: MaxPool2D, Pad (value 0), Transpose, Reshape, Slice, Concat."""
    b = Builder16(name, rng)
    x = b.input16("x", (1, 5, 6, 7))
    mp = b.node16(ops.MaxPool2D((3, 3), (2, 1), (1, 1, 1, 0)), [x], "mp")
    pd = b.node16(ops.Pad((0, 1, 0, 0, 0, 0, 2, 0), value=0.0), [mp], "pd")
    tr = b.node16(ops.Transpose((0, 3, 1, 2)), [pd], "tr")
    t = b.g.types[tr].shape
    rs = b.node16(ops.Reshape((t[0], t[1], t[2] * t[3])), [tr], "rs")
    sl = b.node16(ops.Slice((0, 1, 0), (1, 7, t[2] * t[3]), (1, 2, 2)), [rs], "sl")
    y = b.input16("y", b.g.types[sl].shape)
    cc = b.node16(ops.Concat(axis=2), [sl, y], "cc")
    return b.done(cc)
