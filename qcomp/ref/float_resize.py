"""Float kernel of Resize, with ONNX (and onnxruntime) semantics, one axis at a time.

For each axis with input length L_in, output length L_out = sizes[i] and scale s = scales[i], output
index x maps to the original coordinate (float32 arithmetic, in onnxruntime's order of operations):

    half_pixel             (x + 0.5) / s - 0.5
    pytorch_half_pixel     (x + 0.5) / s - 0.5 if L_out > 1 else 0
    asymmetric             x / s
    align_corners          x * (L_in - 1) / (L_out - 1) if L_out > 1 else 0
    tf_half_pixel_for_nn   (x + 0.5) / s
    half_pixel_symmetric   c * (1 - L_out / (s * L_in)) + (x + 0.5) / s - 0.5,  c = L_in / 2

mode "nearest" picks index round(x_orig) by nearest_mode (round_prefer_floor: ties down,
round_prefer_ceil: ties up, floor, ceil), clamped to [0, L_in - 1]. mode "linear" clamps x_orig to
[0, L_in - 1] and mixes i0 = floor(x_orig) and i1 = min(i0 + 1, L_in - 1) with weights 1 - f and
f = x_orig - i0. Both are separable, so an N-D resize is a sequence of 1-D ones; an axis with
L_out == L_in and s == 1 maps every index to itself under every transform and is skipped.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedModelError
from ..ir import resize as resize_index
from ..ir.ops import Resize

_F = np.float32


def original_coords(mode: str, n_in: int, n_out: int, scale: float) -> np.ndarray:
    """x_orig for every output index along one axis, in float32 (qcomp/ir/resize.py)."""
    coords = resize_index.original_coords(mode, n_in, n_out, scale)
    if coords is None:
        raise UnsupportedModelError(f"Resize coordinate_transformation_mode {mode!r} is not supported "
                                    f"({', '.join(resize_index.COORDINATE_MODES)})")
    return coords


def nearest_index(coords: np.ndarray, nearest_mode: str, n_in: int) -> np.ndarray:
    idx = resize_index.nearest_index(coords, nearest_mode, n_in)
    if idx is None:
        raise UnsupportedModelError(f"Resize nearest_mode {nearest_mode!r} is not supported "
                                    f"({', '.join(resize_index.NEAREST_MODES)})")
    return idx.astype(np.intp)


def _linear(x: np.ndarray, axis: int, coords: np.ndarray) -> np.ndarray:
    n_in = x.shape[axis]
    c = np.clip(coords, _F(0), _F(n_in - 1))
    i0 = np.floor(c).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    f = (c - i0.astype(_F)).reshape((-1,) + (1,) * (x.ndim - 1 - axis))
    return np.take(x, i0, axis=axis) * (_F(1) - f) + np.take(x, i1, axis=axis) * f


def resize(op: Resize, x: np.ndarray) -> np.ndarray:
    linear = op.mode == "linear"
    if linear and x.dtype.kind != "f":
        raise UnsupportedModelError(f"linear Resize of a {x.dtype} tensor has no float kernel")
    y = x.astype(_F, copy=False) if linear else x
    for axis, (n_in, n_out, scale) in enumerate(zip(x.shape, op.sizes, op.scales)):
        if n_in == n_out and scale == 1.0:
            continue
        coords = original_coords(op.coordinate_transformation_mode, n_in, n_out, scale)
        if linear:
            y = _linear(y, axis, coords)
        else:
            y = np.take(y, nearest_index(coords, op.nearest_mode, n_in), axis=axis)
    return y.astype(x.dtype, copy=False)


TABLE = {Resize: resize}
