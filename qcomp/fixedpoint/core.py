"""Multipliers and requantize: the primitives every integer kernel of the spec is built from.

  real multiplier M > 0  ->  (multiplier m, shift e):  M ~= m * 2^(e - 31),  m in [2^30, 2^31)
  multiply_by_quantized_multiplier(acc, m, e) = (acc * m + 2^(total-1)) >> total,  total = 31 - e
  requantize = clamp(multiply_by_quantized_multiplier(acc, m, e) + zero_point, qmin, qmax)

Also the shared argument checks (FixedPointError, a ValueError, for anything outside a documented
range) and `saturate`. See qcomp/fixedpoint/__init__.py for the rounding rules of the whole spec.
"""
from __future__ import annotations

import numpy as np

from ..errors import QcompError

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
MIN_SHIFT, MAX_SHIFT = -31, 30       # shift range of a quantized multiplier: total = 31 - shift in [1, 62]
ADD_LEFT_SHIFT = 20                   # TFLite's headroom shift for int8 Add/Sub
MAX_WINDOW_COUNT = INT32_MAX // 255   # largest averaging count whose centred int8 sum fits int32
_OUT_DTYPES = (np.int8, np.uint8, np.int16, np.int32)


class FixedPointError(QcompError, ValueError):
    """A fixed-point primitive got a parameter outside its documented range."""


# ---- helpers -------------------------------------------------------------------------------

def _ints(x, what: str) -> np.ndarray:
    """x as an int64 array; refuses floats (a silent truncation would hide a bug in the caller)."""
    a = np.asarray(x)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
        raise FixedPointError(f"{what} must be integers that fit int64, got dtype {a.dtype}")
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        raise FixedPointError(f"{what} does not fit int64")
    return a.astype(np.int64)


def _check_range(a: np.ndarray, lo: int, hi: int, what: str) -> None:
    if a.size and (a.min() < lo or a.max() > hi):
        raise FixedPointError(f"{what} must be in [{lo}, {hi}], got values in [{a.min()}, {a.max()}]")


def _check_bounds(qmin: int, qmax: int) -> None:
    if not INT32_MIN <= qmin <= qmax <= INT32_MAX:
        raise FixedPointError(f"clamp bounds must satisfy {INT32_MIN} <= qmin <= qmax <= {INT32_MAX}, "
                              f"got qmin={qmin}, qmax={qmax}")


def _scalar_or_array(a: np.ndarray):
    return a[()] if a.ndim == 0 else a


def _along_axis(p: np.ndarray, ndim: int, axis: int | None) -> np.ndarray:
    """Reshape a per-channel 1-D parameter so it broadcasts along `axis` of an ndim-array."""
    if axis is None or p.ndim == 0:
        return p
    axis = axis + ndim if axis < 0 else axis
    if p.ndim != 1 or not 0 <= axis < ndim:
        raise FixedPointError(f"a per-channel parameter must be 1-D and axis in [0, {ndim}), got "
                              f"shape {p.shape} and axis {axis}")
    return p.reshape(p.shape + (1,) * (ndim - axis - 1))


def out_dtype_for(qmin: int, qmax: int, out_dtype=None) -> np.dtype:
    """out_dtype, checked to hold [qmin, qmax]; by default the first of int8, uint8, int16, int32 that does."""
    _check_bounds(qmin, qmax)
    fits = [np.dtype(d) for d in _OUT_DTYPES if np.iinfo(d).min <= qmin and qmax <= np.iinfo(d).max]
    if out_dtype is None:
        return fits[0]                   # int32 holds every valid clamp range
    if np.dtype(out_dtype) not in fits:
        raise FixedPointError(f"out_dtype {np.dtype(out_dtype)} cannot hold the clamp range [{qmin}, {qmax}]")
    return np.dtype(out_dtype)


# ---- multipliers ---------------------------------------------------------------------------

def quantize_multipliers(reals) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized TFLite QuantizeMultiplier: reals >= 0 (float64) -> (multiplier, shift) int32 arrays.

    For real = frac * 2^exp (np.frexp, frac in [0.5, 1)):
      1. q = round_half_away_from_zero(frac * 2^31). Exact in float64: frac * 2^31 lies in [2^30, 2^31)
         where the float64 spacing is 2^-22, so floor(v + 0.5) is computed without error.
      2. q == 2^31 (frac rounded up to 1): q = 2^30, exp += 1.
      3. exp < -31 (real < 2^-32): (0, 0). Flushing changes no result: |acc * real| < 2^31 * 2^-32
         = 1/2 rounds half up to 0 anyway.
      4. exp > 30 (real >= ~2^30): saturated to (2^31 - 1, 30), TFLite's single-rounding clamp.
      real == 0 -> (0, 0).
    Then multiplier in {0} U [2^30, 2^31 - 1], shift in [-31, 30], and for cases 1-2
    |multiplier * 2^(shift - 31) - real| <= real * 2^-31.
    Raises FixedPointError for a negative, NaN or infinite real.
    """
    r = np.asarray(reals, dtype=np.float64)
    bad = ~np.isfinite(r) | (r < 0)
    if bad.any():
        raise FixedPointError(f"a real multiplier must be finite and >= 0, got {r[bad].ravel()[:4]} "
                              "(check the scales it was derived from)")
    frac, exp = np.frexp(r)
    q = np.floor(frac * 2.0**31 + 0.5).astype(np.int64)
    exp = exp.astype(np.int64)
    carry = q == (1 << 31)
    q = np.where(carry, q >> 1, q)
    exp = exp + carry
    tiny = exp < MIN_SHIFT
    q, exp = np.where(tiny, 0, q), np.where(tiny, 0, exp)
    huge = exp > MAX_SHIFT
    q, exp = np.where(huge, INT32_MAX, q), np.where(huge, MAX_SHIFT, exp)
    return q.astype(np.int32), exp.astype(np.int32)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Scalar quantize_multipliers: one real multiplier -> (multiplier, shift) as Python ints."""
    m, s = quantize_multipliers(np.asarray([real], dtype=np.float64))
    return int(m[0]), int(s[0])


def multiply_by_quantized_multiplier(acc, multiplier, shift):
    """round_half_up(acc * multiplier / 2^(31 - shift)), exactly; int64 result (arrays broadcast).

      total = 31 - shift                                       in [1, 62]
      out   = (acc * multiplier + (1 << (total - 1))) >> total  arithmetic shift: ties toward +inf
    Ranges: acc in [INT32_MIN, INT32_MAX], multiplier in [0, 2^31 - 1], shift in [-31, 30].
    No int64 overflow: |acc * multiplier| <= 2^31 * (2^31 - 1) < 2^62 and the rounding term is at
    most 2^61, so the sum stays below 2^63. Edges: acc = INT32_MIN with multiplier 2^31 - 1 and
    shift 30 (total 1) gives -(2^61 - 2^30), which is why the result is int64 and why requantize
    clamps in int64 (a backend must not truncate to int32 before the clamp). The result fits int32
    whenever |acc * real| < 2^31 - 1/2.
    Hardware: SMULL (AArch64 32x32->64) / VPMULDQ (x86) / mul.wide.s32 (PTX), then add and
    arithmetic shift right (or AArch64 SRSHL by -total, which adds the same rounding term).
    """
    acc, multiplier, shift = _ints(acc, "acc"), _ints(multiplier, "multiplier"), _ints(shift, "shift")
    _check_range(acc, INT32_MIN, INT32_MAX, "acc")
    _check_range(multiplier, 0, INT32_MAX, "multiplier")
    _check_range(shift, MIN_SHIFT, MAX_SHIFT, "shift (total shift 31 - shift must be in [1, 62])")
    total = 31 - shift
    rounding = np.left_shift(np.int64(1), total - 1)
    return _scalar_or_array((acc * multiplier + rounding) >> total)


def requantize(acc, multiplier, shift, zero_point=0, qmin: int = -128, qmax: int = 127,
               axis: int | None = None, out_dtype=None):
    """clamp(multiply_by_quantized_multiplier(acc, multiplier, shift) + zero_point, qmin, qmax).

    The int32 accumulator of a Conv/MatMul (or any kernel below) becomes an int8 (or wider) value.
    Per channel: with `axis`, 1-D multiplier/shift/zero_point arrays of length acc.shape[axis]
    broadcast along that axis; without it, ordinary numpy broadcasting applies.
    Ranges: those of multiply_by_quantized_multiplier; zero_point in int32; INT32_MIN <= qmin <=
    qmax <= INT32_MAX. The sum and the clamp are computed in int64 (no wrap; see above). A
    backend may equivalently clamp the shifted value to [qmin - zero_point, qmax - zero_point]
    and add zero_point afterwards. Fused ReLU / ReLU6 / Clip are the bounds qmin, qmax.
    out_dtype: by default the first of int8, uint8, int16, int32 that holds [qmin, qmax].
    Hardware: the saturating narrow is SQXTN (AArch64) / VPMOVSDB, VPACKSSDW (x86) / cvt.sat (PTX).
    """
    dt = out_dtype_for(qmin, qmax, out_dtype)
    acc = _ints(acc, "acc")
    zero_point = _ints(zero_point, "zero_point")
    _check_range(zero_point, INT32_MIN, INT32_MAX, "zero_point")
    multiplier = _along_axis(_ints(multiplier, "multiplier"), acc.ndim, axis)
    shift = _along_axis(_ints(shift, "shift"), acc.ndim, axis)
    zero_point = _along_axis(zero_point, acc.ndim, axis)
    scaled = np.asarray(multiply_by_quantized_multiplier(acc, multiplier, shift))
    return _scalar_or_array(np.clip(scaled + zero_point, qmin, qmax).astype(dt))


def saturate(x, dtype):
    """Clamp integers to the range of dtype (int8, uint8, int16 or int32) and cast: no wrap-around.

    x: any integers that fit int64. Hardware: SQXTN / UQXTN (AArch64), VPACKSSWB / VPACKUSWB /
    VPMOVSDB (x86), cvt.sat / min-max (PTX), __SSAT (Arm Cortex-M).
    """
    dt = np.dtype(dtype)
    if dt not in [np.dtype(d) for d in _OUT_DTYPES]:
        raise FixedPointError(f"saturate supports int8, uint8, int16 and int32, not {dt}")
    info = np.iinfo(dt)
    return _scalar_or_array(np.clip(_ints(x, "x"), info.min, info.max).astype(dt))


def _check_int8_zero_point(zp: int, what: str) -> None:
    if not -128 <= zp <= 127:
        raise FixedPointError(f"{what} must be in [-128, 127] for an int8 tensor, got {zp}")


def _check_scale(s: float, what: str) -> float:
    s = float(s)
    if not (np.isfinite(s) and s >= 0):
        raise FixedPointError(f"{what} must be finite and >= 0, got {s}")
    return s
