"""Naive reference implementations, written from the op definitions with plain loops, in float64.

Independent of qcomp/ref by construction: no im2col, no strided views, no separable tricks. Only
for small shapes.
"""
from __future__ import annotations

import itertools
import math

import numpy as np


def _out_len(size: int, k: int, stride: int, dilation: int, pb: int, pe: int, ceil_mode=False) -> int:
    eff = dilation * (k - 1) + 1
    num = size + pb + pe - eff
    n = (math.ceil(num / stride) if ceil_mode else num // stride) + 1
    if ceil_mode and (n - 1) * stride >= size + pb:
        n -= 1
    return n


def conv2d(x, w, b, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1):
    x, w, b = (a.astype(np.float64) for a in (x, w, b))
    n, h, wd, c = x.shape
    o, kh, kw, cg = w.shape
    og = o // group
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = strides, dilations, pads
    oh, ow = _out_len(h, kh, sh, dh, pt, pb), _out_len(wd, kw, sw, dw, pl, pr)
    y = np.zeros((n, oh, ow, o))
    for ni, yi, xi, oi in itertools.product(range(n), range(oh), range(ow), range(o)):
        g = oi // og
        acc = b[oi]
        for ki, kj in itertools.product(range(kh), range(kw)):
            ih, iw = yi * sh - pt + ki * dh, xi * sw - pl + kj * dw
            if 0 <= ih < h and 0 <= iw < wd:
                acc += x[ni, ih, iw, g * cg:(g + 1) * cg] @ w[oi, ki, kj, :]
        y[ni, yi, xi, oi] = acc
    return y


def conv_transpose2d(x, w, b, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1,
                     output_padding=(0, 0)):
    """Scatter form: every input pixel adds w * x at h*s - pad + k*d."""
    x, w, b = (a.astype(np.float64) for a in (x, w, b))
    n, h, wd, c = x.shape
    o, kh, kw, cg = w.shape
    og = o // group
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = strides, dilations, pads
    oh = (h - 1) * sh - pt - pb + dh * (kh - 1) + 1 + output_padding[0]
    ow = (wd - 1) * sw - pl - pr + dw * (kw - 1) + 1 + output_padding[1]
    y = np.zeros((n, oh, ow, o)) + b
    for ni, yi, xi, oi in itertools.product(range(n), range(h), range(wd), range(o)):
        g = oi // og
        for ki, kj in itertools.product(range(kh), range(kw)):
            ty, tx = yi * sh - pt + ki * dh, xi * sw - pl + kj * dw
            if 0 <= ty < oh and 0 <= tx < ow:
                y[ni, ty, tx, oi] += x[ni, yi, xi, g * cg:(g + 1) * cg] @ w[oi, ki, kj, :]
    return y


def pool2d(x, kind, kernel, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), ceil_mode=False,
           count_include_pad=False):
    x = x.astype(np.float64)
    n, h, wd, c = x.shape
    (kh, kw), (sh, sw), (dh, dw), (pt, pl, pb, pr) = kernel, strides, dilations, pads
    oh = _out_len(h, kh, sh, dh, pt, pb, ceil_mode)
    ow = _out_len(wd, kw, sw, dw, pl, pr, ceil_mode)
    y = np.zeros((n, oh, ow, c))
    for ni, yi, xi, ci in itertools.product(range(n), range(oh), range(ow), range(c)):
        vals, padded = [], 0
        for ki, kj in itertools.product(range(kh), range(kw)):
            ih, iw = yi * sh - pt + ki * dh, xi * sw - pl + kj * dw
            if 0 <= ih < h and 0 <= iw < wd:
                vals.append(x[ni, ih, iw, ci])
            elif -pt <= ih < h + pb and -pl <= iw < wd + pr:
                padded += 1  # an explicit pad position (not the ceil_mode overhang)
        if kind == "max":
            y[ni, yi, xi, ci] = max(vals)
        else:
            y[ni, yi, xi, ci] = sum(vals) / (len(vals) + (padded if count_include_pad else 0))
    return y


def resize_coord(mode: str, x: int, n_in: int, n_out: int, scale: float) -> float:
    """The ONNX Resize coordinate transformation, from the operator's documentation."""
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if n_out > 1 else 0.0
    if mode == "asymmetric":
        return x / scale
    if mode == "align_corners":
        return 0.0 if n_out == 1 else x * (n_in - 1) / (n_out - 1)
    raise ValueError(mode)


def _nearest(c: float, mode: str, n_in: int) -> int:
    fl = math.floor(c)
    if mode == "floor":
        i = fl
    elif mode == "ceil":
        i = math.ceil(c)
    elif c - fl == 0.5:
        i = fl if mode == "round_prefer_floor" else fl + 1
    else:
        i = round(c)
    return min(max(i, 0), n_in - 1)


def resize(x, sizes, scales, mode, ctm, nearest_mode="round_prefer_floor"):
    """Per output element: nearest picks one input element; linear sums the 2^r corners."""
    x = x.astype(np.float64)
    y = np.zeros(sizes)
    for out in itertools.product(*(range(s) for s in sizes)):
        coords = [resize_coord(ctm, o, n, s, sc) for o, n, s, sc in zip(out, x.shape, sizes, scales)]
        if mode == "nearest":
            y[out] = x[tuple(_nearest(c, nearest_mode, n) for c, n in zip(coords, x.shape))]
            continue
        corners = []
        for c, n in zip(coords, x.shape):
            c = min(max(c, 0.0), n - 1.0)
            i0 = math.floor(c)
            corners.append([(i0, 1.0 - (c - i0)), (min(i0 + 1, n - 1), c - i0)])
        total = 0.0
        for combo in itertools.product(*corners):
            weight = math.prod(wt for _, wt in combo)
            total += weight * x[tuple(i for i, _ in combo)]
        y[out] = total
    return y
