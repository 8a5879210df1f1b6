"""Reference kernels of the A16W8 ops (qcomp/ir/qops16.py): the int16 ground truth of every backend.

Dot products run as float64 products of integer-valued arrays, exact because every partial sum is
an integer of magnitude below 2^47 (the accumulator bound fixedpoint.accumulator16_bits proves)
and float64 holds integers up to 2^53; the result is converted to int64, the bias added, and the
requantize of the op's `acc_bits` (fixedpoint.requantize_acc) gives the int16 or int8 output.
"""
from __future__ import annotations

import numpy as np

from .. import fixedpoint
from ..ir import ops, qops16
from . import float_conv
from .float_pool import _counts, _geometry, _window_taps

_DT = {"i8": np.int8, "i16": np.int16}


def _f64(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64)


def _exact(acc: np.ndarray) -> np.ndarray:
    return np.rint(acc).astype(np.int64)


def _requantize(op, acc, multiplier, shift, axis):
    return np.asarray(fixedpoint.requantize_acc(acc, np.asarray(multiplier, np.int64), np.asarray(shift, np.int64),
                                                op.acc_bits, op.output_zero_point, op.qmin, op.qmax, axis=axis,
                                                out_dtype=_DT[op.out_dtype])).astype(_DT[op.out_dtype])


def q_conv2d16(op: qops16.QConv2D16, x, w, bias, multiplier, shift):
    geometry = ops.Conv2D(op.strides, op.pads, op.dilations, op.group)
    acc = _exact(float_conv.conv2d(geometry, _f64(x), _f64(w), np.zeros(w.shape[0]))) + bias.astype(np.int64)
    return _requantize(op, acc, multiplier, shift, acc.ndim - 1)


def q_dense16(op: qops16.QDense16, x, w, bias, multiplier, shift):
    acc = _exact(_f64(x) @ _f64(w).T) + bias.astype(np.int64)
    return _requantize(op, acc, multiplier, shift, acc.ndim - 1)


def q_matmul16(op: qops16.QMatMul16, a, b):
    acc = _exact(np.matmul(_f64(a), _f64(b)))
    return _requantize(op, acc, op.multiplier, op.shift, None)


def q_add16(op: qops16.QAdd16, a, b):
    return np.asarray(fixedpoint.add_int16(a, b, fixedpoint.AddParams(**op.add_attrs()))).astype(np.int16)


def q_sub16(op: qops16.QSub16, a, b):
    return np.asarray(fixedpoint.sub_int16(a, b, fixedpoint.AddParams(**op.add_attrs()))).astype(np.int16)


def q_mul16(op: qops16.QMul16, a, b):
    return np.asarray(fixedpoint.mul_int16(a, b, fixedpoint.MulParams(**op.mul_attrs()))).astype(np.int16)


def q_convert(op: qops16.QConvert, x):
    params = fixedpoint.ConvertParams(op.input_zero_point, op.multiplier, op.shift, op.output_zero_point,
                                      op.qmin, op.qmax)
    return np.asarray(fixedpoint.convert(x, params)).astype(_DT[op.out_dtype])


def lut16(op: qops16.Lut16, x, table):
    return np.asarray(fixedpoint.lut16_lookup(x, table)).astype(_DT[op.out_dtype])


def q_avg_pool2d16(op: qops16.QAvgPool2D16, x):
    """Window sums with padding holding 0 (real 0); the count includes padding only when the op
    counts it (never the ceil_mode overhang), as QAvgPool2D."""
    n, h, w, c = x.shape
    t, l, b, r = op.pads
    oh, ow, ph, pw = _geometry(op, h, w)
    xp = np.pad(x.astype(np.int64), ((0, 0), ph, pw, (0, 0)))
    window_sum = np.zeros((n, oh, ow, c), np.int64)
    for tap in _window_taps(xp, op, oh, ow):
        window_sum += tap
    lo_h, hi_h, lo_w, hi_w = (-t, h + b, -l, w + r) if op.count_include_pad else (0, h, 0, w)
    ch = _counts(oh, op.kernel[0], op.strides[0], op.dilations[0], t, lo_h, hi_h)
    cw = _counts(ow, op.kernel[1], op.strides[1], op.dilations[1], l, lo_w, hi_w)
    count = np.maximum(ch[:, None] * cw[None, :], 1)[None, :, :, None]  # an all-padding window: 0
    return np.asarray(fixedpoint.avg_int16(window_sum, np.broadcast_to(count, window_sum.shape), op.multipliers,
                                           op.shifts, op.qmin, op.qmax)).astype(np.int16)


def q_mean16(op: qops16.QMean16, x):
    window_sum = x.astype(np.int64).sum(axis=op.axes, keepdims=op.keepdims)
    return np.asarray(fixedpoint.mean_int16(window_sum, op.count, op.multiplier, op.shift, op.qmin,
                                            op.qmax)).astype(np.int16)


TABLE16 = {
    qops16.QConv2D16: q_conv2d16, qops16.QDense16: q_dense16, qops16.QMatMul16: q_matmul16,
    qops16.QAdd16: q_add16, qops16.QSub16: q_sub16, qops16.QMul16: q_mul16, qops16.QConvert: q_convert,
    qops16.Lut16: lut16, qops16.QAvgPool2D16: q_avg_pool2d16, qops16.QMean16: q_mean16,
}


# ---- int16 Softmax (qcomp/ir/qops16_softmax.py) -------------------------------------------------
def q_softmax16(op: qops16.QSoftmax16, x, exp_lut, recip_lut):
    params = fixedpoint.Softmax16Params(op.input_multiplier, op.input_shift)
    return fixedpoint.softmax_int16(x, params, op.axis, np.asarray(exp_lut, np.int16), np.asarray(recip_lut, np.int16))


TABLE16[qops16.QSoftmax16] = q_softmax16
