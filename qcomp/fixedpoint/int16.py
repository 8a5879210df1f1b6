"""A16W8: int16 activations with int8 weights, TFLite's 16x8 mode with qcomp's single rounding.

Activations: int16, symmetric, zero point 0. The quantizer maps the calibrated range to
[-32767, 32767] (int16_scale: scale = max(|lo|, |hi|) / 32767), so real 0 is exact and negation
is closed on the grid; kernels accept and clamp to the full type range [-32768, 32767], as
TFLite's CalculateActivationRangeQuantized does, so an input of -32768 (a saturated conversion,
a user buffer) is a valid value and no kernel needs a special clamp.
Weights: int8 symmetric per output channel, as for int8 activations. Bias: int64, scale
s_in * s_w[c], zero point 0.

Accumulator (accumulator.py): acc = bias + sum_k w_k * x_k, |acc| <= K * 32768 * 128 + |bias|.
int32 when that bound fits (K <= 511 without bias), int64 otherwise (bound < 2^47). The width is
fixed at build time from K and the bias, and picks the requantize formula (requantize_acc):

  int32 acc:  multiply_by_quantized_multiplier(acc, m, e)         the 31-bit multiplier, exact
  int64 acc:  multiply_by_quantized_multiplier_64(acc, m, e)      TFLite's int64 overload:
              reduced = min((m + 2^15) >> 16, 2^15 - 1),  total = 15 - e
              out     = (acc * reduced + 2^(total - 1)) >> total
  then + zero_point and clamp to [qmin, qmax] in int64 (the int16 or int8 output range).
Both round once, half toward +inf. The reduced multiplier keeps acc * reduced below 2^62 for
|acc| < 2^47, so a 64 x 16 -> 64-bit multiply suffices on every ISA (no 128-bit product);
its relative error is at most 2^-15 (m is rounded to 15 significant bits, half up).

Conversions at int8 <-> int16 boundaries (convert): requantize(x - zp_in, s_in / s_out, zp_out),
the existing Requantize with int16 bounds; |x - zp_in| <= 65535 so the int32 path applies.
Add/Sub (TFLite's int16 general path): left shift 15 instead of 20, |x << 15| <= 2^30, input
multipliers <= 1/2, so the sum stays below 2^30 + 1 in int32. Mul: |a * b| <= 2^30 in int32.
TFLite also has a special Add for power-of-two scales (pot_scale_int16, plain shifts, a different
rounding); qcomp uses the general path for every scale, so one algorithm serves all.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .accumulator import ACC64_LIMIT
from .core import (FixedPointError, _along_axis, _check_bounds, _check_range, _check_scale, _ints,
                   _scalar_or_array, multiply_by_quantized_multiplier, out_dtype_for, quantize_multiplier,
                   quantize_multipliers, requantize)
from .kernels8 import AddParams, MulParams

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
INT16_GRID_MAX = INT16_MAX            # the quantizer's grid is symmetric: [-32767, 32767]
ADD16_LEFT_SHIFT = 15                 # TFLite's headroom shift for int16 Add/Sub
MAX_SHIFT_64 = 14                     # total = 15 - shift >= 1 in multiply_by_quantized_multiplier_64
_INT8_INT16 = {np.dtype(np.int8): (-128, 127), np.dtype(np.int16): (INT16_MIN, INT16_MAX)}


def int16_scale(lo: float, hi: float) -> np.float32:
    """The float32 scale of an int16 tensor with calibrated range [lo, hi]: max(|lo|, |hi|) / 32767.

    float64 division, rounded once to float32. An all-zero range gives scale 0 (every value 0).
    """
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise FixedPointError(f"int16_scale: the range must be finite with lo <= hi, got [{lo}, {hi}]")
    return np.float32(max(abs(lo), abs(hi)) / INT16_GRID_MAX)


# ---- the int64 requantize ------------------------------------------------------------------------

def multiply_by_quantized_multiplier_64(acc, multiplier, shift):
    """TFLite's MultiplyByQuantizedMultiplier(int64_t x, ...) of the 16x8 kernels; int64 result.

      reduced = min((multiplier + 2^15) >> 16, 2^15 - 1)   in [2^14, 2^15 - 1] (or 0 for 0)
      total   = 15 - shift                                  in [1, 46]
      out     = (acc * reduced + (1 << (total - 1))) >> total   arithmetic shift: ties toward +inf
    Ranges: |acc| < 2^47 (ACC64_LIMIT), multiplier in [0, 2^31 - 1], shift in [-31, 14] (TFLite
    allows [-31, 7]; 14 is the largest with total >= 1). No int64 overflow: |acc * reduced| <
    2^47 * 2^15 = 2^62 and the rounding term is at most 2^45. The result can exceed int32 (TFLite
    only DCHECKs it); requantize64 clamps in int64. Error: |out - acc * M| <= 1/2 + |acc * M| * 2^-15
    for M = multiplier * 2^(shift - 31). Hardware: the product fits 63 bits, so the low half of a
    64 x 64 multiply is exact: x86 VPMULLQ (AVX-512DQ) or scalar IMUL r64, AArch64 MUL on X
    registers (NEON has no 64-bit lane multiply), CUDA mul.lo.s64, Cortex-M SMULL + MLA on the two
    32-bit halves of acc; then add and arithmetic shift right (ASR / VPSRAQ / shr.s64).
    """
    acc, multiplier, shift = _ints(acc, "acc"), _ints(multiplier, "multiplier"), _ints(shift, "shift")
    _check_range(acc, -ACC64_LIMIT + 1, ACC64_LIMIT - 1, "acc (int64 accumulator, |acc| < 2^47)")
    _check_range(multiplier, 0, (1 << 31) - 1, "multiplier")
    _check_range(shift, -31, MAX_SHIFT_64, "shift (total shift 15 - shift must be in [1, 46])")
    reduced = np.minimum((multiplier + (1 << 15)) >> 16, (1 << 15) - 1)
    total = 15 - shift
    rounding = np.left_shift(np.int64(1), total - 1)
    return _scalar_or_array((acc * reduced + rounding) >> total)


def requantize64(acc, multiplier, shift, zero_point=0, qmin: int = INT16_MIN, qmax: int = INT16_MAX,
                 axis: int | None = None, out_dtype=None):
    """clamp(multiply_by_quantized_multiplier_64(acc, multiplier, shift) + zero_point, qmin, qmax).

    The int64 accumulator of an A16W8 dot product becomes int16 (default bounds) or int8. Per
    channel with `axis` as requantize. The sum and clamp are in int64 (no truncation before it).
    """
    dt = out_dtype_for(qmin, qmax, out_dtype)
    acc = _ints(acc, "acc")
    zero_point = _ints(zero_point, "zero_point")
    _check_range(zero_point, INT16_MIN, INT16_MAX, "zero_point")
    multiplier = _along_axis(_ints(multiplier, "multiplier"), acc.ndim, axis)
    shift = _along_axis(_ints(shift, "shift"), acc.ndim, axis)
    zero_point = _along_axis(zero_point, acc.ndim, axis)
    scaled = np.asarray(multiply_by_quantized_multiplier_64(acc, multiplier, shift))
    return _scalar_or_array(np.clip(scaled + zero_point, qmin, qmax).astype(dt))


def requantize_acc(acc, multiplier, shift, acc_bits: int, zero_point=0, qmin: int = INT16_MIN,
                   qmax: int = INT16_MAX, axis: int | None = None, out_dtype=None):
    """Requantize an A16W8 accumulator of the build-time width acc_bits (accumulator16_bits).

    acc_bits 32: requantize (31-bit multiplier, |acc| <= 2^31 - 1); acc_bits 64: requantize64.
    The same acc can round differently under the two formulas: the width is part of the layer's
    parameters, fixed by K and the bias bound, never by the values at run time.
    """
    if acc_bits == 32:
        return requantize(acc, multiplier, shift, zero_point, qmin, qmax, axis, out_dtype)
    if acc_bits == 64:
        return requantize64(acc, multiplier, shift, zero_point, qmin, qmax, axis, out_dtype)
    raise FixedPointError(f"acc_bits must be 32 or 64 (accumulator16_bits), got {acc_bits}")


# ---- int8 <-> int16 conversions --------------------------------------------------------------------

@dataclass(frozen=True)
class ConvertParams:
    """The integers of one conversion between int8 and int16 (or a rescale within either)."""
    in_zero_point: int
    multiplier: int
    shift: int
    out_zero_point: int
    qmin: int
    qmax: int


def _dtype_bounds(dtype, what: str) -> tuple[int, int]:
    dt = np.dtype(dtype)
    if dt not in _INT8_INT16:
        raise FixedPointError(f"{what} must be int8 or int16, got {dt}")
    return _INT8_INT16[dt]


def _check_zero_point(zp: int, dtype, what: str) -> None:
    lo, hi = _dtype_bounds(dtype, what + " dtype")
    if np.dtype(dtype) == np.int16 and zp != 0:
        raise FixedPointError(f"{what} must be 0 for an int16 tensor (symmetric), got {zp}")
    if not lo <= zp <= hi:
        raise FixedPointError(f"{what} must be in [{lo}, {hi}], got {zp}")


def convert_params(s_in: float, zp_in: int, in_dtype, s_out: float, zp_out: int, out_dtype,
                   qmin: int | None = None, qmax: int | None = None) -> ConvertParams:
    """Parameters of x_out = clamp(rescale(x_in - zp_in, s_in / s_out) + zp_out) between int8 and int16.

    The multiplier of s_in / s_out is derived in float64 (quantize_multiplier); s_out == 0 gives
    multiplier 0 (the constant clamp(zp_out)). qmin/qmax default to the output type's range.
    """
    s_in, s_out = _check_scale(s_in, "s_in"), _check_scale(s_out, "s_out")
    _check_zero_point(zp_in, in_dtype, "zp_in")
    _check_zero_point(zp_out, out_dtype, "zp_out")
    lo, hi = _dtype_bounds(out_dtype, "out_dtype")
    qmin, qmax = lo if qmin is None else qmin, hi if qmax is None else qmax
    _check_bounds(qmin, qmax)
    if not lo <= qmin <= qmax <= hi:
        raise FixedPointError(f"clamp bounds [{qmin}, {qmax}] exceed the output type's range [{lo}, {hi}]")
    m, s = (0, 0) if s_out == 0.0 else quantize_multiplier(s_in / s_out)
    return ConvertParams(int(zp_in), m, s, int(zp_out), int(qmin), int(qmax))


def convert(x, params: ConvertParams):
    """requantize(x - zp_in, multiplier, shift, zp_out, qmin, qmax): int8 <-> int16 (numpy arrays).

    x: int16 values (int8 is a subset); |x - zp_in| <= 65535, so the 31-bit multiply on an int32
    accumulator applies (one rounding, ties toward +inf). Equal scales int8 -> int16 give multiplier
    2^30, shift 1: exact, x_out = x - zp_in. Result dtype: int8 or int16 from [qmin, qmax].
    """
    x = _ints(x, "x")
    _check_range(x, INT16_MIN, INT16_MAX, "x (int8 or int16)")
    return requantize(x - params.in_zero_point, params.multiplier, params.shift, params.out_zero_point,
                      params.qmin, params.qmax)


# ---- Add / Sub / Mul on int16 ---------------------------------------------------------------------

def _int16_bounds(qmin: int, qmax: int) -> None:
    if not INT16_MIN <= qmin <= qmax <= INT16_MAX:
        raise FixedPointError(f"int16 clamp bounds must satisfy {INT16_MIN} <= qmin <= qmax <= {INT16_MAX}, "
                              f"got [{qmin}, {qmax}]")


def add_params16(s_a: float, s_b: float, s_out: float, qmin: int = INT16_MIN, qmax: int = INT16_MAX) -> AddParams:
    """TFLite's int16 Add parameters (kernels/add.cc, general rescaling path), float64:

      twice_max = 2 * max(s_a, s_b);  a: s_a / twice_max,  b: s_b / twice_max  (both <= 1/2)
      out: twice_max / (2^15 * s_out)
    Zero points are 0 (symmetric int16). The same AddParams fields as int8, left_shift = 15.
    """
    s_a, s_b, s_out = _check_scale(s_a, "s_a"), _check_scale(s_b, "s_b"), _check_scale(s_out, "s_out")
    _int16_bounds(qmin, qmax)
    twice_max = 2.0 * max(s_a, s_b)
    if twice_max == 0.0 or s_out == 0.0:
        a, b, out = (0, 0), (0, 0), (0, 0)
    else:
        a = quantize_multiplier(s_a / twice_max)
        b = quantize_multiplier(s_b / twice_max)
        out = quantize_multiplier(twice_max / ((1 << ADD16_LEFT_SHIFT) * s_out))
    return AddParams(0, 0, ADD16_LEFT_SHIFT, *a, *b, *out, 0, int(qmin), int(qmax))


def _add_or_sub16(a, b, p: AddParams, sign: int):
    if (p.a_zero_point, p.b_zero_point, p.out_zero_point, p.left_shift) != (0, 0, 0, ADD16_LEFT_SHIFT):
        raise FixedPointError("int16 Add/Sub needs zero points 0 and left_shift 15 (add_params16)")
    _int16_bounds(p.qmin, p.qmax)
    a, b = _ints(a, "a"), _ints(b, "b")
    _check_range(a, INT16_MIN, INT16_MAX, "a (int16)")
    _check_range(b, INT16_MIN, INT16_MAX, "b (int16)")
    a_scaled = np.asarray(multiply_by_quantized_multiplier(       # |a << 15| <= 2^30
        a << p.left_shift, p.a_multiplier, p.a_shift))            # times <= 1/2: |.| <= 2^29
    b_scaled = np.asarray(multiply_by_quantized_multiplier(b << p.left_shift, p.b_multiplier, p.b_shift))
    acc = a_scaled + sign * b_scaled                               # |acc| <= 2^30: int32
    return requantize(acc, p.out_multiplier, p.out_shift, 0, p.qmin, p.qmax, out_dtype=np.int16)


def add_int16(a, b, params: AddParams):
    """int16 a + b (numpy broadcasting), TFLite's reference int16 Add with single rounding:

      a_scaled = mbqm(a << 15, a_multiplier, a_shift);  b_scaled = mbqm(b << 15, b_multiplier, b_shift)
      out      = clamp(mbqm(a_scaled + b_scaled, out_multiplier, out_shift), qmin, qmax)
    Ranges: |a|, |b| <= 32768, so |a << 15| <= 2^30 and each rescaled input <= 2^29 (+1/2): the
    int32 sum never overflows. Error: within 1/2 + (5/4) * 2^-15 * 2 max(s_a, s_b) / s_out LSB
    (plus the 2^-31 multiplier error) of the exact (s_a a + s_b b) / s_out, clamped.
    """
    return _add_or_sub16(a, b, params, +1)


def sub_int16(a, b, params: AddParams):
    """int16 a - b: add_int16 with the rescaled b subtracted; same parameters and ranges."""
    return _add_or_sub16(a, b, params, -1)


def mul_params16(s_a: float, s_b: float, s_out: float, qmin: int = INT16_MIN, qmax: int = INT16_MAX) -> MulParams:
    """Multiplier for s_a * s_b / s_out (float64); zero points 0. s_out == 0 gives multiplier 0."""
    s_a, s_b, s_out = _check_scale(s_a, "s_a"), _check_scale(s_b, "s_b"), _check_scale(s_out, "s_out")
    _int16_bounds(qmin, qmax)
    m, s = (0, 0) if s_out == 0.0 else quantize_multiplier(s_a * s_b / s_out)
    return MulParams(0, 0, m, s, 0, int(qmin), int(qmax))


def mul_int16(a, b, params: MulParams):
    """int16 a * b (numpy broadcasting): clamp(mbqm(a * b, multiplier, shift), qmin, qmax).

    |a * b| <= 2^30: int32. One rounding, ties toward +inf (TFLite's int16 MulElementwise).
    """
    if (params.a_zero_point, params.b_zero_point, params.out_zero_point) != (0, 0, 0):
        raise FixedPointError("int16 Mul needs zero points 0 (mul_params16)")
    _int16_bounds(params.qmin, params.qmax)
    a, b = _ints(a, "a"), _ints(b, "b")
    _check_range(a, INT16_MIN, INT16_MAX, "a (int16)")
    _check_range(b, INT16_MIN, INT16_MAX, "b (int16)")
    return requantize(a * b, params.multiplier, params.shift, 0, params.qmin, params.qmax, out_dtype=np.int16)


# ---- int16 x int16 products, average pooling and mean -----------------------------------------

def accumulator16x16_bits(k: int) -> int:
    """The accumulator width of an int16 x int16 product of K terms (QMatMul16): 32 or 64.

    |a * b| <= 2^30 (both operands in [-32768, 32767], zero point 0), so |acc| <= K * 2^30: int32
    only for K == 1, int64 below 2^47 (K <= 2^17 - 1); beyond, FixedPointError (a refusal).
    """
    if int(k) != k or k < 1:
        raise FixedPointError(f"k must be a positive integer, got {k}")
    bound = int(k) << 30
    if bound <= (1 << 31) - 1:
        return 32
    if bound < ACC64_LIMIT:
        return 64
    raise FixedPointError(f"an int16 x int16 product of K={k} terms can reach |acc| = K * 2^30 >= 2^47, "
                          "beyond the int64 requantize's range; keep this MatMul in int8")


MAX_WINDOW_COUNT16 = 65535   # |sum of count int16 values| <= 32768 * 65535 < 2^31


def _window16(window_sum, count, multiplier, shift, qmin, qmax):
    _int16_bounds(qmin, qmax)
    window_sum, count = _ints(window_sum, "window_sum"), _ints(count, "count")
    _check_range(count, 1, MAX_WINDOW_COUNT16, "count")
    if np.any(window_sum < INT16_MIN * count) or np.any(window_sum > INT16_MAX * count):
        raise FixedPointError("window_sum must be a sum of `count` int16 values; check the kernel's window")
    return requantize(window_sum, multiplier, shift, 0, qmin, qmax, out_dtype=np.int16)


def avg_int16(window_sum, count, multipliers, shifts, qmin: int = INT16_MIN, qmax: int = INT16_MAX):
    """Average of int16 windows (QAvgPool2D16): requantize(window_sum, multipliers[count - 1],
    shifts[count - 1], 0, qmin, qmax), the multipliers of s_in / (s_out * count) as avgpool_params
    derives them (zero points 0). window_sum: the int32 sum of each window's int16 values (padding
    counted as 0 when the op counts it); |window_sum| <= 32768 * 65535 < 2^31. One rounding."""
    count = _ints(count, "count")
    _check_range(count, 1, len(multipliers), "count")
    m = np.asarray(multipliers, np.int64)[count - 1]
    s = np.asarray(shifts, np.int64)[count - 1]
    return _window16(window_sum, count, m, s, qmin, qmax)


def mean_int16(window_sum, count: int, multiplier: int, shift: int, qmin: int = INT16_MIN,
               qmax: int = INT16_MAX):
    """ReduceMean of int16 over `count` elements (QMean16): requantize(sum, multiplier, shift, 0,
    qmin, qmax) with the multiplier of s_in / (s_out * count)."""
    return _window16(window_sum, count, multiplier, shift, qmin, qmax)


def window_multipliers16(s_in: float, s_out: float, max_count: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(multipliers, shifts) of s_in / (s_out * count) for count = 1..max_count (float64), as
    avgpool_params; s_out == 0 gives zeros (every output 0)."""
    s_in, s_out = _check_scale(s_in, "s_in"), _check_scale(s_out, "s_out")
    if not 1 <= max_count <= MAX_WINDOW_COUNT16:
        raise FixedPointError(f"window count must be in [1, {MAX_WINDOW_COUNT16}] so that the int16 sum fits "
                              f"int32, got {max_count}")
    counts = np.arange(1, max_count + 1, dtype=np.float64)
    if s_out == 0.0:
        return (0,) * max_count, (0,) * max_count
    m, s = quantize_multipliers(s_in / (s_out * counts))
    return tuple(int(v) for v in m), tuple(int(v) for v in s)
