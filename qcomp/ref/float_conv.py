"""Float kernels of the convolution family: Conv2D, ConvTranspose2D, Dense, MatMul.

Layouts (qcomp/ir/ops.py): x[N,H,W,C] (NHWC), w[O,KH,KW,C/group] (OHWI), b[O], pads (t, l, b, r).

Conv2D, with Cg = C/group input and Og = O/group output channels per group, g = o // Og:

    y[n,oh,ow,o] = b[o] + sum_{kh,kw,c<Cg} xp[n, oh*sh + kh*dh, ow*sw + kw*dw, g*Cg + c] * w[o,kh,kw,c]

where xp is x zero-padded by (t, l, b, r). It runs as im2col: one strided slice of xp per tap
(kh, kw) gives cols[N*OH*OW, KH*KW*Cg], in the (kh, kw, c) order of w.reshape(O, -1), and
y = cols @ w^T is one BLAS sgemm (group 1) or one batched matmul over groups. Depthwise convs
(Cg == 1) skip the matmul: y += tap[..., o // (O/C)] * w[:, kh, kw, 0] over the KH*KW taps,
vectorized over channels.

ConvTranspose2D scatters instead of gathering. With the un-cropped output
Hf = (H-1)*sh + (KH-1)*dh + 1 + output_padding[0] (and Wf alike):

    full[n, h*sh + kh*dh, w*sw + kw*dw, o] += sum_{c<Cg} x[n,h,w,g*Cg + c] * w[o,kh,kw,c]
    y = full[:, t : Hf - b, l : Wf - r, :] + b

computed as cols[N*H*W, KH*KW*O] = x @ w (per group), then one strided add per tap.

A fused activation (act_min / act_max, qcomp/ir/ops.py) clamps the result after the bias, as the
Relu / Clip node it replaces did.

All accumulation is float32 (BLAS sgemm), as onnxruntime's MLAS does; float16 inputs are computed
in float32 and rounded once at the end. float64 inputs are computed in float64: the integer
reference interpreter uses that for exact integer dot products.
"""
from __future__ import annotations

import numpy as np

from ..ir.ops import ConvTranspose2D, Conv2D, Dense, MatMul, window_out
from .float_elementwise import fused_activation


def _f32(a: np.ndarray) -> np.ndarray:
    """float32 compute; float64 stays float64 (the integer reference runs these kernels on
    integer-valued float64 arrays, where every sum is exact)."""
    return a if a.dtype == np.float64 else a.astype(np.float32, copy=False)


def _taps(xp: np.ndarray, kh: int, kw: int, strides, dilations, oh: int, ow: int):
    """Yield (i, j, view) with view[n, y, x, c] = xp[n, y*sh + i*dh, x*sw + j*dw, c] of shape [N,OH,OW,C]."""
    (sh, sw), (dh, dw) = strides, dilations
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dh, j * dw
            yield i, j, xp[:, r0:r0 + (oh - 1) * sh + 1:sh, c0:c0 + (ow - 1) * sw + 1:sw, :]


def conv2d(op: Conv2D, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    n, h, wd, c = x.shape
    o, kh, kw, cg = w.shape
    t, l, bo, r = op.pads
    oh = window_out(h, kh, op.strides[0], op.dilations[0], t, bo)
    ow = window_out(wd, kw, op.strides[1], op.dilations[1], l, r)
    xp = np.pad(_f32(x), ((0, 0), (t, bo), (l, r), (0, 0))) if any(op.pads) else _f32(x)
    w32, b32 = _f32(w), _f32(b)
    if op.group == c and cg == 1:
        y = _depthwise(xp, w32, op, oh, ow)
    else:
        taps = [v for _, _, v in _taps(xp, kh, kw, op.strides, op.dilations, oh, ow)]
        cols = taps[0] if len(taps) == 1 else np.stack(taps, axis=3)  # [N,OH,OW,KH*KW,C]
        m = n * oh * ow
        if op.group == 1:
            y = cols.reshape(m, kh * kw * c) @ w32.reshape(o, -1).T
        else:
            g, og = op.group, o // op.group
            cols_g = cols.reshape(m, kh * kw, g, cg).transpose(2, 0, 1, 3).reshape(g, m, kh * kw * cg)
            w_g = w32.reshape(g, og, kh * kw * cg).transpose(0, 2, 1)          # [G, K, Og]
            y = np.matmul(cols_g, w_g).transpose(1, 0, 2).reshape(m, o)         # o = g*Og + j
        y = y.reshape(n, oh, ow, o)
    y += b32
    return fused_activation(y, op.act_min, op.act_max).astype(x.dtype, copy=False)


def _depthwise(xp: np.ndarray, w: np.ndarray, op: Conv2D, oh: int, ow: int) -> np.ndarray:
    """group == C, one input channel per group: output channel o reads input channel o // (O/C)."""
    o, kh, kw, _ = w.shape
    c = xp.shape[3]
    channel = np.arange(o) // (o // c)
    acc = np.zeros((xp.shape[0], oh, ow, o), xp.dtype)
    for i, j, tap in _taps(xp, kh, kw, op.strides, op.dilations, oh, ow):
        acc += (tap if o == c else tap[..., channel]) * w[:, i, j, 0]
    return acc


def conv_transpose2d(op: ConvTranspose2D, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    n, h, wd, c = x.shape
    o, kh, kw, cg = w.shape
    g, og = op.group, o // op.group
    (sh, sw), (dh, dw) = op.strides, op.dilations
    t, l, bo, r = op.pads
    hf = (h - 1) * sh + (kh - 1) * dh + 1 + op.output_padding[0]
    wf = (wd - 1) * sw + (kw - 1) * dw + 1 + op.output_padding[1]
    m = n * h * wd
    x32, w32 = _f32(x).reshape(m, g, cg), _f32(w).reshape(g, og, kh, kw, cg)
    if cg == 1:  # one input channel per group: an outer product per channel
        cols = x32.reshape(m, 1, 1, g, 1) * w32[..., 0].transpose(2, 3, 0, 1)[None]  # [M,KH,KW,G,Og]
    else:
        w_g = w32.transpose(0, 4, 2, 3, 1).reshape(g, cg, kh * kw * og)          # [G, Cg, KH*KW*Og]
        cols = np.matmul(x32.transpose(1, 0, 2), w_g)                            # [G, M, KH*KW*Og]
        cols = cols.reshape(g, m, kh, kw, og).transpose(1, 2, 3, 0, 4)           # [M,KH,KW,G,Og]
    cols = cols.reshape(n, h, wd, kh, kw, o)
    full = np.zeros((n, hf, wf, o), cols.dtype)
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dh, j * dw
            full[:, r0:r0 + (h - 1) * sh + 1:sh, c0:c0 + (wd - 1) * sw + 1:sw, :] += cols[:, :, :, i, j, :]
    y = full[:, t:hf - bo, l:wf - r, :] + _f32(b)
    return fused_activation(y, op.act_min, op.act_max).astype(x.dtype, copy=False)


def dense(op: Dense, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    k = x.shape[-1]
    y = fused_activation(_f32(x).reshape(-1, k) @ _f32(w).T + _f32(b), op.act_min, op.act_max)
    return y.reshape(x.shape[:-1] + (w.shape[0],)).astype(x.dtype, copy=False)


def matmul(op: MatMul, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    y = np.matmul(_f32(a), _f32(b)) if a.dtype.kind == "f" else np.matmul(a, b)
    return fused_activation(y, op.act_min, op.act_max).astype(a.dtype, copy=False)


TABLE = {Conv2D: conv2d, ConvTranspose2D: conv_transpose2d, Dense: dense, MatMul: matmul}
