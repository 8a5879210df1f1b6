"""Lookup tables: int8 -> int8 tables of any elementwise function, computed at build time in float64.

  lut[q + 128] = clamp(rint(fn((q - zp_in) * s_in) / s_out) + zp_out, qmin, qmax)
The table is shipped with the model, so every backend is bit-exact by construction. The int16
tables (513 entries, linear interpolation) are in lut16.py.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .core import FixedPointError, _check_int8_zero_point, _check_range, _check_scale, _ints, _scalar_or_array

# ---- lookup tables -------------------------------------------------------------------------

def build_lut(fn: Callable[[np.ndarray], np.ndarray], s_in: float, zp_in: int, s_out: float,
              zp_out: int, qmin: int = -128, qmax: int = 127) -> np.ndarray:
    """int8[256] table of an elementwise function: lut[q + 128] for q in [-128, 127].

      x = (q - zp_in) * s_in        float64, exact (9-bit integer times a float32 scale)
      y = fn(x)                     fn: vectorized float64 -> float64 (e.g. np.tanh)
      lut = clamp(rint(y / s_out) + zp_out, qmin, qmax)   float64 division, ties to even
    Ties to even, as `quantize` and ONNX QuantizeLinear, so a table equals the
    Dequantize -> fn -> Quantize chain it replaces (computed in float64). +-inf saturate;
    NaN raises. s_out == 0 gives clamp(zp_out) everywhere. The table is computed once at build
    time and shipped, so every backend is bit-exact by construction.
    """
    s_in, s_out = _check_scale(s_in, "s_in"), _check_scale(s_out, "s_out")
    _check_int8_zero_point(zp_in, "zp_in")
    _check_int8_zero_point(zp_out, "zp_out")
    if not -128 <= qmin <= qmax <= 127:
        raise FixedPointError(f"a lookup table needs -128 <= qmin <= qmax <= 127, got [{qmin}, {qmax}]")
    q = np.arange(-128, 128, dtype=np.int64)
    x = (q - zp_in).astype(np.float64) * s_in
    y = np.asarray(fn(x), dtype=np.float64)
    if y.shape != (256,):
        raise FixedPointError(f"lookup-table function must map 256 inputs to 256 outputs, got {y.shape}")
    if np.isnan(y).any():
        raise FixedPointError(f"lookup-table function returned NaN at int8 input(s) "
                              f"{q[np.isnan(y)][:4].tolist()} (x = {x[np.isnan(y)][:4].tolist()})")
    with np.errstate(over="ignore"):
        r = np.zeros(256) if s_out == 0.0 else np.rint(y / s_out)
    r = np.clip(r, qmin - zp_out, qmax - zp_out)
    return (r.astype(np.int64) + zp_out).astype(np.int8)


def apply_lut(q, lut: np.ndarray):
    """lut[q + 128] for int8 q. Hardware: TBL x4 (AArch64, 64 bytes each), VPERMI2B (AVX512-VBMI),
    a shared-memory load (CUDA)."""
    lut = np.asarray(lut)
    if lut.shape != (256,) or lut.dtype != np.int8:
        raise FixedPointError(f"a lookup table is int8[256], got {lut.dtype}{list(lut.shape)}")
    q = _ints(q, "q")
    _check_range(q, -128, 127, "q (int8)")
    return _scalar_or_array(lut[q + 128])

