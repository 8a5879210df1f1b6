"""Integer kernels of the TARGET stage: the numeric ground truth every backend must reproduce.

Each kernel is the formula in the docstring of its op (qcomp/ir/qops.py), computed exactly:
dot products run as float64 matrix products of integer-valued arrays, which are exact because
every partial sum is an integer below 2^31 (lower_integer proves it) and float64 holds integers
up to 2^53; the result is converted back to int64 and rescaled by qcomp.fixedpoint, the spec.

Type-generic ops (MaxPool2D, Reshape, Transpose, Concat, Slice, Split, Pad, nearest Resize,
ReduceMax, Gather) use the float table's kernels, which preserve the dtype; float-fallback nodes
between Dequantize and Quantize use the float kernels as they are.
"""
from __future__ import annotations

import numpy as np

from .. import fixedpoint
from ..ir import ops, qops
from . import float_conv
from .float_pool import _counts, _geometry, _window_taps


def _f64(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64)


def _exact(acc: np.ndarray) -> np.ndarray:
    return np.rint(acc).astype(np.int64)


def _per_channel(acc, multiplier, shift, zp, qmin, qmax):
    return fixedpoint.requantize(acc, multiplier.astype(np.int64), shift.astype(np.int64), zp, qmin, qmax,
                                 axis=acc.ndim - 1, out_dtype=np.int8)


def q_conv2d(op: qops.QConv2D, x, w, bias, multiplier, shift):
    t, l, b, r = op.pads
    xp = np.pad(_f64(x), ((0, 0), (t, b), (l, r), (0, 0)), constant_values=op.input_zero_point)
    geometry = ops.Conv2D(op.strides, (0, 0, 0, 0), op.dilations, op.group)
    acc = _exact(float_conv.conv2d(geometry, xp, _f64(w), np.zeros(w.shape[0]))) + bias.astype(np.int64)
    return _per_channel(acc, multiplier, shift, op.output_zero_point, op.qmin, op.qmax)


def q_conv2d_add(op: qops.QConv2DAdd, x, w, bias, multiplier, shift, residual):
    """The QConv2D, then the QAdd of its int8 output and the residual: the unfused pair's integers."""
    c = q_conv2d(op.conv(), x, w, bias, multiplier, shift)
    return fixedpoint.add_int8(c, residual, fixedpoint.AddParams(**op.add_attrs())).astype(np.int8)


def q_conv_transpose2d(op: qops.QConvTranspose2D, x, w, bias, multiplier, shift):
    geometry = ops.ConvTranspose2D(op.strides, op.pads, op.dilations, op.group, op.output_padding)
    xc = _f64(x) - op.input_zero_point
    acc = _exact(float_conv.conv_transpose2d(geometry, xc, _f64(w), np.zeros(w.shape[0]))) + bias.astype(np.int64)
    return _per_channel(acc, multiplier, shift, op.output_zero_point, op.qmin, op.qmax)


def q_dense(op: qops.QDense, x, w, bias, multiplier, shift):
    acc = _exact(_f64(x) @ _f64(w).T) + bias.astype(np.int64)
    return _per_channel(acc, multiplier, shift, op.output_zero_point, op.qmin, op.qmax)


def q_matmul(op: qops.QMatMul, a, b):
    acc = _exact(np.matmul(_f64(a) - op.a_zero_point, _f64(b) - op.b_zero_point))
    return fixedpoint.requantize(acc, op.multiplier, op.shift, op.output_zero_point, op.qmin, op.qmax,
                                 out_dtype=np.int8)


def _add_params(op) -> fixedpoint.AddParams:
    return fixedpoint.AddParams(**op.attrs())


def q_add(op: qops.QAdd, a, b):
    return fixedpoint.add_int8(a, b, _add_params(op)).astype(np.int8)


def q_sub(op: qops.QSub, a, b):
    return fixedpoint.sub_int8(a, b, _add_params(op)).astype(np.int8)


def q_mul(op: qops.QMul, a, b):
    return fixedpoint.mul_int8(a, b, fixedpoint.MulParams(**op.attrs())).astype(np.int8)


def q_avg_pool2d(op: qops.QAvgPool2D, x):
    """Window sums with counted padding holding zp_in (real 0), uncounted padding excluded."""
    n, h, w, c = x.shape
    t, l, b, r = op.pads
    oh, ow, ph, pw = _geometry(op, h, w)
    xc = np.pad(x.astype(np.int64) - op.in_zero_point, ((0, 0), ph, pw, (0, 0)))
    centred = np.zeros((n, oh, ow, c), np.int64)
    for tap in _window_taps(xc, op, oh, ow):
        centred += tap
    lo_h, hi_h, lo_w, hi_w = (-t, h + b, -l, w + r) if op.count_include_pad else (0, h, 0, w)
    ch = _counts(oh, op.kernel[0], op.strides[0], op.dilations[0], t, lo_h, hi_h)
    cw = _counts(ow, op.kernel[1], op.strides[1], op.dilations[1], l, lo_w, hi_w)
    count = np.maximum(ch[:, None] * cw[None, :], 1)[None, :, :, None]  # an all-padding window: 0
    window_sum = centred + count * op.in_zero_point
    params = fixedpoint.AvgPoolParams(op.in_zero_point, op.multipliers, op.shifts, op.out_zero_point,
                                      op.qmin, op.qmax)
    return fixedpoint.avg_int8(window_sum, np.broadcast_to(count, window_sum.shape), params).astype(np.int8)


def q_mean(op: qops.QMean, x):
    window_sum = x.astype(np.int64).sum(axis=op.axes, keepdims=op.keepdims)
    params = fixedpoint.MeanParams(op.count, op.in_zero_point, op.multiplier, op.shift, op.out_zero_point,
                                   op.qmin, op.qmax)
    return np.asarray(fixedpoint.mean_int8(window_sum, op.count, params)).astype(np.int8)


def lut(op: qops.Lut, x, table):
    return np.asarray(fixedpoint.apply_lut(x, table)).astype(np.int8)


def q_requantize(op: qops.QRequantize, x):
    return fixedpoint.requantize(x.astype(np.int64) - op.input_zero_point, op.multiplier, op.shift,
                                 op.output_zero_point, op.qmin, op.qmax, out_dtype=np.int8)


def q_softmax(op: qops.QSoftmax, x):
    params = fixedpoint.SoftmaxParams(op.input_multiplier, op.input_left_shift, op.diff_min)
    return fixedpoint.softmax_int8(x, params, axis=op.axis)


def _dynamic(x):
    scale, zp = fixedpoint.dynamic_quant_params(x)
    return _f64(fixedpoint.quantize(x, scale, zp)) - zp, scale


def _clamp(y, op):
    if op.act_min is None and op.act_max is None:
        return y
    lo = -np.inf if op.act_min is None else op.act_min
    hi = np.inf if op.act_max is None else op.act_max
    return np.clip(y, np.float32(lo), np.float32(hi)).astype(np.float32)


def dynamic_dense(op: qops.DynamicDense, x, w, b, w_scale):
    xc, s_x = _dynamic(x)
    acc = _exact(xc @ _f64(w).T)
    y = acc.astype(np.float32) * (np.float32(s_x) * w_scale.astype(np.float32)) + b.astype(np.float32)
    return _clamp(y.astype(np.float32), op)


def dynamic_matmul(op: qops.DynamicMatMul, a, b):
    ac, s_a = _dynamic(a)
    bc, s_b = _dynamic(b)
    acc = _exact(np.matmul(ac, bc))
    return _clamp((acc.astype(np.float32) * np.float32(np.float32(s_a) * np.float32(s_b))).astype(np.float32), op)


TABLE = {
    qops.QConv2D: q_conv2d, qops.QConvTranspose2D: q_conv_transpose2d, qops.QDense: q_dense,
    qops.QMatMul: q_matmul, qops.QAdd: q_add, qops.QSub: q_sub, qops.QMul: q_mul,
    qops.QAvgPool2D: q_avg_pool2d, qops.QMean: q_mean, qops.Lut: lut, qops.QRequantize: q_requantize,
    qops.QSoftmax: q_softmax,
    qops.DynamicMatMul: dynamic_matmul, qops.DynamicDense: dynamic_dense,
    qops.QConv2DAdd: q_conv2d_add,
}

# A16W8 (int16 activations): qcomp/ref/integer_kernels16.py
from .integer_kernels16 import TABLE16  # noqa: E402

TABLE.update(TABLE16)
# ---- integer normalizations (integer_norm.py) ----
from . import integer_norm  # noqa: E402

TABLE.update(integer_norm.TABLE)
# ---- integer LayerNorm on int16 (integer_norm16.py) ----
from . import integer_norm16  # noqa: E402

TABLE.update(integer_norm16.TABLE)
# ---- integer tensors to int8 through a table (integer_intlut.py) ----
from . import integer_intlut  # noqa: E402

TABLE.update(integer_intlut.TABLE)
