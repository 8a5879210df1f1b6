"""Index arithmetic of Resize (ONNX and onnxruntime semantics), shared by the float reference and
every backend that builds its source-index tables at compile time.

For output index x of an axis with input length L_in, output length L_out and scale s, the original
coordinate is computed in float32 in onnxruntime's order of operations:

    half_pixel             (x + 0.5) / s - 0.5
    pytorch_half_pixel     (x + 0.5) / s - 0.5 if L_out > 1 else 0
    asymmetric             x / s
    align_corners          x * (L_in - 1) / (L_out - 1) if L_out > 1 else 0
    tf_half_pixel_for_nn   (x + 0.5) / s
    half_pixel_symmetric   c * (1 - L_out / (s * L_in)) + (x + 0.5) / s - 0.5,  c = L_in / 2

mode "nearest" rounds it by nearest_mode (round_prefer_floor: ceil(c - 0.5), round_prefer_ceil:
floor(c + 0.5), floor, ceil; in float64, where c +- 0.5 is exact) and clamps to [0, L_in - 1]. An
axis with L_out == L_in and s == 1 maps every index to itself under every transform.
Unknown modes give None: each caller words its own error (node, target, what to do).
"""
from __future__ import annotations

import numpy as np

_F = np.float32

COORDINATE_MODES = ("half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners", "tf_half_pixel_for_nn",
                    "half_pixel_symmetric")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def original_coords(mode: str, n_in: int, n_out: int, scale: float) -> np.ndarray | None:
    """x_orig for every output index along one axis, in float32; None for an unknown mode."""
    x = np.arange(n_out, dtype=_F)
    s = _F(scale)
    if mode == "half_pixel":
        return (x + _F(0.5)) / s - _F(0.5)
    if mode == "pytorch_half_pixel":
        return (x + _F(0.5)) / s - _F(0.5) if n_out > 1 else np.zeros(n_out, _F)
    if mode == "asymmetric":
        return x / s
    if mode == "align_corners":
        return x * _F(n_in - 1) / _F(n_out - 1) if n_out > 1 else np.zeros(n_out, _F)
    if mode == "tf_half_pixel_for_nn":
        return (x + _F(0.5)) / s
    if mode == "half_pixel_symmetric":
        adjustment = _F(n_out) / (s * _F(n_in))
        offset = _F(n_in) / _F(2) * (_F(1) - adjustment)
        return offset + (x + _F(0.5)) / s - _F(0.5)
    return None


_ROUND = {"round_prefer_floor": lambda c: np.ceil(c - 0.5), "round_prefer_ceil": lambda c: np.floor(c + 0.5),
          "floor": np.floor, "ceil": np.ceil}


def nearest_index(coords: np.ndarray, nearest_mode: str, n_in: int) -> np.ndarray | None:
    """Input index (int64) of every coordinate, rounded by nearest_mode; None for an unknown mode."""
    if nearest_mode not in _ROUND:
        return None
    return np.clip(_ROUND[nearest_mode](coords.astype(np.float64)), 0, n_in - 1).astype(np.int64)


def nearest_source_index(mode: str, nearest_mode: str, n_in: int, n_out: int, scale: float) -> np.ndarray | None:
    """Input index of every output index along one axis of a nearest Resize, or None for an
    unknown coordinate or nearest mode."""
    if n_in == n_out and scale == 1.0:
        return np.arange(n_out, dtype=np.int64)
    coords = original_coords(mode, n_in, n_out, scale)
    return None if coords is None else nearest_index(coords, nearest_mode, n_in)
