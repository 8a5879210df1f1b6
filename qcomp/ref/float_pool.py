"""Float kernels of pooling and reductions: MaxPool2D, AvgPool2D, ReduceMean, ReduceMax.

Windows follow ONNX (qcomp/ir/ops.py window_out): output row oh covers input rows
oh*sh - t + kh*dh for kh in [0, KH). With ceil_mode the last window may hang past the bottom pad
(the "overhang"); window_out keeps only windows that start inside the input or the leading pad.

    MaxPool2D: y = max over the window of x, where pad and overhang positions never win
               (they hold -inf, or the dtype's minimum for integer tensors).
    AvgPool2D: y = sum over the window of x (pad and overhang add 0) / count, where count is the
               number of window positions inside
                 [0, H) x [0, W)                 count_include_pad = False
                 [-t, H + b) x [-l, W + r)       count_include_pad = True (explicit pads count,
                                                 the ceil_mode overhang never does, as onnxruntime)
               The count is separable: count[oh, ow] = count_h[oh] * count_w[ow].

Sums are float32 (one slice add per window tap), as onnxruntime's pooling kernels.
ReduceMean / ReduceMax use numpy's float32 pairwise sums; axes () is the identity (as its type says).
"""
from __future__ import annotations

import numpy as np

from ..ir.ops import AvgPool2D, MaxPool2D, ReduceMax, ReduceMean, window_out


def _geometry(op, h: int, w: int):
    t, l, b, r = op.pads
    oh = window_out(h, op.kernel[0], op.strides[0], op.dilations[0], t, b, op.ceil_mode)
    ow = window_out(w, op.kernel[1], op.strides[1], op.dilations[1], l, r, op.ceil_mode)
    # pad enough at the end for the last window, overhang included
    need_h = (oh - 1) * op.strides[0] + (op.kernel[0] - 1) * op.dilations[0] + 1
    need_w = (ow - 1) * op.strides[1] + (op.kernel[1] - 1) * op.dilations[1] + 1
    return oh, ow, (t, max(0, need_h - h - t)), (l, max(0, need_w - w - l))


def _window_taps(xp: np.ndarray, op, oh: int, ow: int):
    (sh, sw), (dh, dw) = op.strides, op.dilations
    for i in range(op.kernel[0]):
        for j in range(op.kernel[1]):
            r0, c0 = i * dh, j * dw
            yield xp[:, r0:r0 + (oh - 1) * sh + 1:sh, c0:c0 + (ow - 1) * sw + 1:sw, :]


def max_pool2d(op: MaxPool2D, x: np.ndarray) -> np.ndarray:
    oh, ow, ph, pw = _geometry(op, x.shape[1], x.shape[2])
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp = np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=lowest)
    y = None
    for tap in _window_taps(xp, op, oh, ow):
        y = tap.copy() if y is None else np.maximum(y, tap, out=y)
    return y


def _counts(out: int, k: int, stride: int, dilation: int, pad_begin: int, lo: int, hi: int):
    """count[o] = #{kk < k : lo <= o*stride - pad_begin + kk*dilation < hi}."""
    pos = np.arange(out)[:, None] * stride - pad_begin + np.arange(k)[None, :] * dilation
    return ((pos >= lo) & (pos < hi)).sum(axis=1)


def avg_pool2d(op: AvgPool2D, x: np.ndarray) -> np.ndarray:
    n, h, w, c = x.shape
    t, l, b, r = op.pads
    oh, ow, ph, pw = _geometry(op, h, w)
    xp = np.pad(x.astype(np.float32, copy=False), ((0, 0), ph, pw, (0, 0)))
    acc = np.zeros((n, oh, ow, c), np.float32)
    for tap in _window_taps(xp, op, oh, ow):
        acc += tap
    if op.count_include_pad:
        ch = _counts(oh, op.kernel[0], op.strides[0], op.dilations[0], t, -t, h + b)
        cw = _counts(ow, op.kernel[1], op.strides[1], op.dilations[1], l, -l, w + r)
    else:
        ch = _counts(oh, op.kernel[0], op.strides[0], op.dilations[0], t, 0, h)
        cw = _counts(ow, op.kernel[1], op.strides[1], op.dilations[1], l, 0, w)
    count = (ch[:, None] * cw[None, :]).astype(np.float32)
    # a window entirely in the padding has count 0 and sum 0: define its average as 0
    y = acc / np.maximum(count, 1)[None, :, :, None]
    return y.astype(x.dtype, copy=False)


def reduce_mean(op: ReduceMean, x: np.ndarray) -> np.ndarray:
    if not op.axes:
        return x
    return np.mean(x, axis=op.axes, keepdims=op.keepdims, dtype=np.float32).astype(x.dtype, copy=False)


def reduce_max(op: ReduceMax, x: np.ndarray) -> np.ndarray:
    if not op.axes:
        return x
    return np.max(x, axis=op.axes, keepdims=op.keepdims)


TABLE = {MaxPool2D: max_pool2d, AvgPool2D: avg_pool2d, ReduceMean: reduce_mean, ReduceMax: reduce_max}
