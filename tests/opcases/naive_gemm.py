"""naive.py's convolutions and products: QConv2D, QConvTranspose2D, QDense, QMatMul on int64.

Written from the formulas, independent of qcomp.ref and qcomp.fixedpoint (like naive.py): QConv2D
pads explicitly with the input zero point and loops over output positions,

    acc[n, y, x, o] = bias[o] + sum_{ki, kj, c} xpad[n, y*sh + ki*dh, x*sw + kj*dw, g*Cg + c] * w[o, ki, kj, c]

(g = o // (O / group)); QConvTranspose2D scatters (x - zp_in) * w; QDense and QMatMul are int64
matrix products (QMatMul of the zero-point-centred operands); each is then requantized per output
channel (naive_rescale.py). _out_len is the output length of a window (pooling uses it too).
"""
from __future__ import annotations

import itertools

import numpy as np

from qcomp.ir import Graph, Node, qops

from .naive_rescale import requantize_array


# ---- convolution and products --------------------------------------------------------------

def _out_len(size: int, k: int, stride: int, dilation: int, pad_begin: int, pad_end: int,
             ceil_mode: bool = False) -> int:
    eff = dilation * (k - 1) + 1
    span = size + pad_begin + pad_end - eff
    n = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (n - 1) * stride >= size + pad_begin:
        n -= 1
    return n


def q_conv2d(g: Graph, node: Node, x, w, bias, multiplier, shift):
    op: qops.QConv2D = node.op
    n, h, wd, c = x.shape
    o, kh, kw, cg = w.shape
    og = o // op.group
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = op.strides, op.dilations, op.pads
    # explicit padding with the input zero point (real 0)
    xp = np.full((n, h + pt + pb, wd + pl + pr, c), op.input_zero_point, dtype=np.int64)
    xp[:, pt:pt + h, pl:pl + wd, :] = x
    oh, ow = _out_len(h, kh, sh, dh, pt, pb), _out_len(wd, kw, sw, dw, pl, pr)
    w64 = w.astype(np.int64)
    acc = np.zeros((n, oh, ow, o), dtype=np.int64)
    for ni, yi, xi, oi in itertools.product(range(n), range(oh), range(ow), range(o)):
        grp = oi // og
        total = int(bias[oi])
        for ki, kj in itertools.product(range(kh), range(kw)):
            pixel = xp[ni, yi * sh + ki * dh, xi * sw + kj * dw, grp * cg:(grp + 1) * cg]
            total += int(np.dot(pixel, w64[oi, ki, kj, :]))
        acc[ni, yi, xi, oi] = total
    return requantize_array(acc, multiplier, shift, op.output_zero_point, op.qmin, op.qmax)


def q_conv_transpose2d(g: Graph, node: Node, x, w, bias, multiplier, shift):
    """Scatter: every input pixel adds (x - zp_in) * w at h*s - pad + k*d."""
    op: qops.QConvTranspose2D = node.op
    n, h, wd, c = x.shape
    o, kh, kw, cg = w.shape
    og = o // op.group
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = op.strides, op.dilations, op.pads
    oh = (h - 1) * sh - pt - pb + dh * (kh - 1) + 1 + op.output_padding[0]
    ow = (wd - 1) * sw - pl - pr + dw * (kw - 1) + 1 + op.output_padding[1]
    xc = x.astype(np.int64) - op.input_zero_point
    w64 = w.astype(np.int64)
    acc = np.zeros((n, oh, ow, o), dtype=np.int64) + bias.astype(np.int64)
    for ni, yi, xi, oi in itertools.product(range(n), range(h), range(wd), range(o)):
        grp = oi // og
        for ki, kj in itertools.product(range(kh), range(kw)):
            ty, tx = yi * sh - pt + ki * dh, xi * sw - pl + kj * dw
            if 0 <= ty < oh and 0 <= tx < ow:
                acc[ni, ty, tx, oi] += int(np.dot(xc[ni, yi, xi, grp * cg:(grp + 1) * cg], w64[oi, ki, kj, :]))
    return requantize_array(acc, multiplier, shift, op.output_zero_point, op.qmin, op.qmax)


def q_dense(g: Graph, node: Node, x, w, bias, multiplier, shift):
    op: qops.QDense = node.op
    acc = x.astype(np.int64) @ w.astype(np.int64).T + bias.astype(np.int64)
    return requantize_array(acc, multiplier, shift, op.output_zero_point, op.qmin, op.qmax)


def q_matmul(g: Graph, node: Node, a, b):
    op: qops.QMatMul = node.op
    acc = np.matmul(a.astype(np.int64) - op.a_zero_point, b.astype(np.int64) - op.b_zero_point)
    return requantize_array(acc, op.multiplier, op.shift, op.output_zero_point, op.qmin, op.qmax)
