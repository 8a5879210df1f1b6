"""Build-time index maps: the geometry of every op, computed once in numpy and shipped as tables.

All indices are element offsets into C-order (NHWC inside qcomp) buffers, int32 (values up to
2^31 elements, checked). -1 marks a position outside the input (a pad):

  gather:    out[i] = idx[i] >= 0 ? in[idx[i]] : pad          Transpose, Slice, Split, Pad, Gather,
                                                               nearest Resize
  scatter:   out[dst[i]] = in[i]                               Concat (one map per input)
  broadcast: a[ia[i]] op b[ib[i]]                              numpy broadcasting of binary ops
  reduce:    out[o] = reduce_{r < R} in[idx[o, r]]             ReduceMax, QMean
  windows:   taps[p, t] = offset of the input pixel (n, ih, iw) (channel 0) read by output pixel p
             at kernel tap t = (kh, kw), or -1 when it falls in the padding:
               conv / pool:  ih = oh*sh - pad_top + kh*dh
               transposed:   ih = (oh + pad_top - kh*dh) / sh  when divisible and in [0, H)
The maps are the numpy semantics of the ops applied to an arange, so they agree with the
reference kernels by construction. Nearest Resize takes, axis by axis, the source indices of
qcomp/ir/resize.py (ONNX's coordinate transforms in float32, the nearest_mode rounding),
which tests/backends/c/test_c_resize.py checks against the reference's formulas.
"""
from __future__ import annotations

import numpy as np

from ...errors import UnsupportedModelError
from ...ir import ops
from ...ir.ops import window_out
from ...ir.resize import nearest_source_index


def _i32(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.size and a.max() >= 2**31:
        raise UnsupportedModelError("a tensor has more than 2^31 elements; the llvm backend indexes with int32")
    return np.ascontiguousarray(a.astype(np.int32)).reshape(-1)


def _arange(shape) -> np.ndarray:
    return np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)


def gather_map(op: ops.Op, in_shapes: list[tuple[int, ...]], index_values: np.ndarray | None = None
               ) -> list[np.ndarray]:
    """One gather map per output of a movement op (Pad's pads are -1)."""
    x = _arange(in_shapes[0])
    if isinstance(op, ops.Transpose):
        return [_i32(np.transpose(x, op.perm))]
    if isinstance(op, ops.Slice):
        return [_i32(x[tuple(slice(s, e, st) for s, e, st in zip(op.starts, op.ends, op.steps))])]
    if isinstance(op, ops.Split):
        return [_i32(p) for p in np.split(x, np.cumsum(op.sizes)[:-1], axis=op.axis)]
    if isinstance(op, ops.Pad):
        r = x.ndim
        widths = [(op.pads[i], op.pads[i + r]) for i in range(r)]
        if op.mode == "constant":
            return [_i32(np.pad(x, widths, mode="constant", constant_values=-1))]
        return [_i32(np.pad(x, widths, mode=op.mode))]
    if isinstance(op, ops.Gather):
        d = in_shapes[0][op.axis]
        idx = np.where(index_values < 0, index_values + d, index_values)
        if idx.size and (idx.min() < 0 or idx.max() >= d):
            raise UnsupportedModelError(f"Gather: constant indices out of range for axis size {d}")
        return [_i32(np.take(x, idx, axis=op.axis))]
    if isinstance(op, ops.Resize):
        return [_i32(_resize(op, x))]
    raise AssertionError(f"no gather map for {op.kind}")


def _resize(op: ops.Resize, x: np.ndarray) -> np.ndarray:
    if op.mode != "nearest":
        raise UnsupportedModelError(f"{op.mode} Resize: the llvm backend has nearest Resize only (it moves values "
                                    f"unchanged); keep the model's Resize nearest or build for --target ref")
    for axis, (n_in, n_out, scale) in enumerate(zip(x.shape, op.sizes, op.scales)):
        idx = nearest_source_index(op.coordinate_transformation_mode, op.nearest_mode, n_in, n_out, scale)
        if idx is None:
            raise UnsupportedModelError(f"Resize coordinate_transformation_mode {op.coordinate_transformation_mode!r}"
                                        f" / nearest_mode {op.nearest_mode!r} is not supported")
        x = np.take(x, idx, axis=axis)
    return x


def concat_maps(axis: int, in_shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """dst maps: input k's element i goes to out[dst_k[i]]."""
    ids = np.concatenate([np.full(s, k, np.int64) for k, s in enumerate(in_shapes)], axis=axis)
    flat = _arange(ids.shape)
    return [_i32(flat[ids == k]) for k in range(len(in_shapes))]


def broadcast_map(shape: tuple[int, ...], out_shape: tuple[int, ...]) -> np.ndarray | None:
    """ia[i] for operand `shape` broadcast to out_shape, or None when no broadcast happens."""
    if tuple(shape) == tuple(out_shape):
        return None
    return _i32(np.broadcast_to(_arange(shape), out_shape))


def reduce_map(shape: tuple[int, ...], axes: tuple[int, ...]) -> np.ndarray:
    """[out, R] input offsets: the reduced axes moved last (the output order of numpy's reduce)."""
    axes = tuple(sorted(a % len(shape) for a in axes))
    keep = tuple(a for a in range(len(shape)) if a not in axes)
    x = np.transpose(_arange(shape), keep + axes)
    r = int(np.prod([shape[a] for a in axes], dtype=np.int64))
    return _i32(x.reshape(-1, r)), r


def _pixel_base(n, h, w, c):
    return ((np.arange(n)[:, None, None] * h + np.arange(h)[None, :, None]) * w
            + np.arange(w)[None, None, :]) * c


def window_taps(x_shape, kernel, strides, pads, dilations, oh: int, ow: int) -> np.ndarray:
    """taps[P, KH*KW] for conv and pooling windows (P = N*OH*OW)."""
    n, h, w, c = x_shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    t, l = pads[0], pads[1]
    ih = np.arange(oh)[:, None] * sh - t + np.arange(kh)[None, :] * dh      # [OH, KH]
    iw = np.arange(ow)[:, None] * sw - l + np.arange(kw)[None, :] * dw      # [OW, KW]
    return _taps(n, h, w, c, ih, iw)


def transposed_taps(x_shape, kernel, strides, pads, dilations, oh: int, ow: int) -> np.ndarray:
    n, h, w, c = x_shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    fh = np.arange(oh)[:, None] + pads[0] - np.arange(kh)[None, :] * dh    # = ih * sh
    fw = np.arange(ow)[:, None] + pads[1] - np.arange(kw)[None, :] * dw
    ih = np.where(fh % sh == 0, fh // sh, -1)
    iw = np.where(fw % sw == 0, fw // sw, -1)
    return _taps(n, h, w, c, ih, iw)


def _taps(n, h, w, c, ih, iw) -> np.ndarray:
    oh, kh = ih.shape
    ow, kw = iw.shape
    valid = ((ih >= 0) & (ih < h))[:, None, :, None] & ((iw >= 0) & (iw < w))[None, :, None, :]  # [OH,OW,KH,KW]
    off = (np.clip(ih, 0, h - 1)[:, None, :, None] * w + np.clip(iw, 0, w - 1)[None, :, None, :]) * c
    off = np.where(valid, off, -1)
    base = (np.arange(n) * h * w * c)[:, None, None, None, None]
    taps = np.where(off[None] >= 0, off[None] + base, -1)
    return _i32(taps).reshape(n * oh * ow, kh * kw)


def pool_geometry(op, h: int, w: int) -> tuple[int, int]:
    t, l, b, r = op.pads
    oh = window_out(h, op.kernel[0], op.strides[0], op.dilations[0], t, b, op.ceil_mode)
    ow = window_out(w, op.kernel[1], op.strides[1], op.dilations[1], l, r, op.ceil_mode)
    return oh, ow


def window_counts(op, h: int, w: int, oh: int, ow: int) -> np.ndarray:
    """AvgPool divisor per output pixel [OH*OW]: positions inside [0,H)x[0,W), or inside the
    explicit pads with count_include_pad (never the ceil_mode overhang); an all-padding window: 1."""
    t, l, b, r = op.pads
    lo_h, hi_h, lo_w, hi_w = (-t, h + b, -l, w + r) if op.count_include_pad else (0, h, 0, w)

    def counts(out, k, s, d, p, lo, hi):
        pos = np.arange(out)[:, None] * s - p + np.arange(k)[None, :] * d
        return ((pos >= lo) & (pos < hi)).sum(axis=1)
    ch = counts(oh, op.kernel[0], op.strides[0], op.dilations[0], t, lo_h, hi_h)
    cw = counts(ow, op.kernel[1], op.strides[1], op.dilations[1], l, lo_w, hi_w)
    return np.maximum(ch[:, None] * cw[None, :], 1).reshape(-1)


def matmul_batches(a_shape, b_shape, out_shape) -> tuple[np.ndarray, np.ndarray]:
    """Element offsets of each output batch's A and B matrices (numpy batch broadcasting)."""
    batch = tuple(out_shape[:-2])
    am, bm = a_shape[-2] * a_shape[-1], b_shape[-2] * b_shape[-1]
    a_ids = np.broadcast_to(_arange(a_shape[:-2]), batch) if len(a_shape) > 2 else np.zeros(batch, np.int64)
    b_ids = np.broadcast_to(_arange(b_shape[:-2]), batch) if len(b_shape) > 2 else np.zeros(batch, np.int64)
    return _i32(np.asarray(a_ids) * am), _i32(np.asarray(b_ids) * bm)
