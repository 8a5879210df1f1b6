"""int16 lookup tables with linear interpolation: TFLite's 16x8 LUT (513 entries).

An int16 input has 65536 values; a full table would be 128 KiB. TFLite samples the function on
512 intervals of 128 input steps and interpolates linearly. The run-time rule is TFLite's
lut_lookup_with_interpolation, exactly:

  index  = 256 + (x >> 7)                 in [0, 511]   (arithmetic shift: floor(x / 128))
  offset = x & 0x7f                       in [0, 127]
  base   = lut[index],  slope = lut[index + 1] - lut[index]     int32: |slope| <= 65535
  delta  = (slope * offset + 64) >> 7     |slope * offset| < 2^23; round half toward +inf
  out    = base + delta                   between lut[index] and lut[index + 1]: no clamp needed
Improvement: TFLite holds `slope` in the table's type (int16), which wraps when two neighbouring
entries differ by more than 32767; here it is int32.

The table (build time, float64, bit-exact by construction since it is shipped): input zero point 0,
grid x_i = (-32768 + 128 i) * s_in for i = 0..512 (x_512 = 32768 * s_in, only used for the slope),
  v_i      = fn(x_i) / s_out,  mid_i = fn(x_i + 64 s_in) / s_out
  interp_i = rint((rint(v_i) + v_(i+1)) / 2)                 the interpolated midpoint
  bias_i   = rint((interp_i - rint(mid_i)) / 2)              half its error
  lut[i]   = clamp(rint(v_i) - bias_i + zp_out, qmin, qmax)   i < 512
  lut[512] = clamp(rint(v_512) + zp_out, qmin, qmax)
TFLite's LUTPopulateInt16 rule (sample minus half the midpoint error, which balances the
interpolation error between the sample points and the midpoints). Changes, where TFLite has none
or a quirk: the grid is the exact int16 grid (TFLite steps by 65535 * s_in / 512, slightly off
the points the lookup assumes), the output scale is 1 / s_out (TFLite uses 65536 / (65535 s_out)),
rint rounds ties to even as build_lut does, and an output zero point is allowed so that the table
can produce int8 (e.g. sigmoid to scale 1/256, zero point -128).
Hardware: two gathers (x86 VPGATHERDD on 32-bit lanes, or VPERMI2W on 32-entry blocks), AArch64
TBL on byte pairs or scalar LDRSH, CUDA shared memory; the interpolation is a 32-bit MLA.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .core import FixedPointError, _check_range, _check_scale, _ints, _scalar_or_array

LUT16_SIZE = 513
_INT16_MIN, _INT16_MAX = -(1 << 15), (1 << 15) - 1


def build_lut16(fn: Callable[[np.ndarray], np.ndarray], s_in: float, s_out: float, zp_out: int = 0,
                qmin: int = _INT16_MIN, qmax: int = _INT16_MAX) -> np.ndarray:
    """int16[513] table of fn for an int16 input of scale s_in (zero point 0); see the module docstring.

    fn: vectorized float64 -> float64. Output: int16 (zp_out 0) or int8 ([qmin, qmax] inside int8,
    any zp_out there); the table is int16 either way. NaN raises; +-inf saturate; s_out == 0 gives
    clamp(zp_out) everywhere.
    """
    s_in, s_out = _check_scale(s_in, "s_in"), _check_scale(s_out, "s_out")
    if not _INT16_MIN <= qmin <= qmax <= _INT16_MAX:
        raise FixedPointError(f"an int16 lookup table needs {_INT16_MIN} <= qmin <= qmax <= {_INT16_MAX}, "
                              f"got [{qmin}, {qmax}]")
    if not qmin <= zp_out <= qmax or (zp_out != 0 and not -128 <= qmin <= qmax <= 127):
        raise FixedPointError(f"zp_out must be 0 for an int16 output, or in [qmin, qmax] for an int8 one; "
                              f"got zp_out={zp_out} with [{qmin}, {qmax}]")
    grid = (np.arange(LUT16_SIZE, dtype=np.int64) * 128 - 32768).astype(np.float64)
    x = grid * s_in                                  # exact: a 17-bit integer times a float32 scale
    y = np.asarray(fn(x), dtype=np.float64)
    mid = np.asarray(fn(x[:-1] + 64.0 * s_in), dtype=np.float64)
    if y.shape != (LUT16_SIZE,) or mid.shape != (LUT16_SIZE - 1,):
        raise FixedPointError(f"lookup-table function must map n inputs to n outputs, got {y.shape}")
    if np.isnan(y).any() or np.isnan(mid).any():
        raise FixedPointError("lookup-table function returned NaN on the int16 grid "
                              f"(x = {x[np.isnan(y)][:4].tolist()} or a midpoint)")
    if s_out == 0.0:
        return np.full(LUT16_SIZE, np.clip(zp_out, qmin, qmax), dtype=np.int16)
    with np.errstate(over="ignore", invalid="ignore"):
        v, v_mid = y / s_out, mid / s_out
        sample = np.rint(v)
        interp = np.rint((sample[:-1] + v[1:]) / 2)
        bias = np.rint((interp - np.rint(v_mid)) / 2)
        bias = np.where(np.isfinite(bias), bias, 0.0)   # an infinite sample saturates unadjusted
    r = np.concatenate([sample[:-1] - bias, sample[-1:]])
    r = np.clip(r, qmin - zp_out, qmax - zp_out)
    return (r.astype(np.int64) + zp_out).astype(np.int16)


def lut16_lookup(x, lut: np.ndarray):
    """TFLite's lut_lookup_with_interpolation for int16 x (any shape); int16 result, see module docstring."""
    lut = np.asarray(lut)
    if lut.shape != (LUT16_SIZE,) or lut.dtype != np.int16:
        raise FixedPointError(f"an int16 lookup table is int16[{LUT16_SIZE}], got {lut.dtype}{list(lut.shape)}")
    x = _ints(x, "x")
    _check_range(x, _INT16_MIN, _INT16_MAX, "x (int16)")
    table = lut.astype(np.int64)
    index = 256 + (x >> 7)
    offset = x & 0x7F
    base = table[index]
    slope = table[index + 1] - base
    delta = (slope * offset + 64) >> 7
    return _scalar_or_array((base + delta).astype(np.int16))
