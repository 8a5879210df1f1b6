"""The int8 integer kernels: Add/Sub, Mul, average pooling and mean (TFLite's reference integer
algorithms, each with ONE rounding per rescale).

  add: out = requantize(mbqm((a - zp_a) << 20, m_a, e_a) + mbqm((b - zp_b) << 20, m_b, e_b), m_out, e_out)
  mul: out = requantize((a - zp_a) * (b - zp_b), s_a * s_b / s_out)
  avg: out = requantize(window_sum - count * zp_in, s_in / (s_out * count))
(mbqm = multiply_by_quantized_multiplier.) Every parameter derivation is in float64 from the float32
scales; the kernels are exact integer arithmetic whose int32 bounds are stated on each function.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core import (ADD_LEFT_SHIFT, MAX_WINDOW_COUNT, FixedPointError, _check_bounds, _check_int8_zero_point,
                   _check_range, _check_scale, _ints, multiply_by_quantized_multiplier, quantize_multiplier,
                   quantize_multipliers, requantize)

# ---- Add / Sub -----------------------------------------------------------------------------

@dataclass(frozen=True)
class AddParams:
    """The integers of one int8 Add or Sub (from add_params); a_/b_ are the two inputs."""
    a_zero_point: int
    b_zero_point: int
    left_shift: int
    a_multiplier: int
    a_shift: int
    b_multiplier: int
    b_shift: int
    out_multiplier: int
    out_shift: int
    out_zero_point: int
    qmin: int
    qmax: int




def add_params(s_a: float, zp_a: int, s_b: float, zp_b: int, s_out: float, zp_out: int,
               qmin: int = -128, qmax: int = 127) -> AddParams:
    """TFLite's int8 Add parameters (kernels/add.cc), all real arithmetic in float64.

      twice_max = 2 * max(s_a, s_b)
      a: s_a / twice_max,  b: s_b / twice_max            (both <= 1/2: exactly 1/2 for the larger)
      out: twice_max / (2^20 * s_out)
    so that out = zp_out + (s_a (a - zp_a) + s_b (b - zp_b)) / s_out up to the roundings of add_int8.
    A zero scale (an all-zero tensor) is allowed: s_a = s_b = 0 or s_out = 0 give out_multiplier 0,
    i.e. the constant clamp(zp_out). Sub uses the same parameters (sub_int8).
    """
    s_a, s_b, s_out = _check_scale(s_a, "s_a"), _check_scale(s_b, "s_b"), _check_scale(s_out, "s_out")
    for zp, what in ((zp_a, "zp_a"), (zp_b, "zp_b"), (zp_out, "zp_out")):
        _check_int8_zero_point(zp, what)
    _check_bounds(qmin, qmax)
    twice_max = 2.0 * max(s_a, s_b)
    if twice_max == 0.0 or s_out == 0.0:
        a, b, out = (0, 0), (0, 0), (0, 0)
    else:
        a = quantize_multiplier(s_a / twice_max)
        b = quantize_multiplier(s_b / twice_max)
        out = quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * s_out))
    return AddParams(int(zp_a), int(zp_b), ADD_LEFT_SHIFT, *a, *b, *out, int(zp_out), int(qmin), int(qmax))


def _add_or_sub(a, b, p: AddParams, sign: int):
    a, b = _ints(a, "a"), _ints(b, "b")
    _check_range(a, -128, 127, "a (int8)")
    _check_range(b, -128, 127, "b (int8)")
    a_scaled = np.asarray(multiply_by_quantized_multiplier(      # |(a - zp) << 20| <= 255 * 2^20 < 2^28
        (a - p.a_zero_point) << p.left_shift, p.a_multiplier, p.a_shift))  # times <= 1/2: |.| <= 255 * 2^19
    b_scaled = np.asarray(multiply_by_quantized_multiplier(
        (b - p.b_zero_point) << p.left_shift, p.b_multiplier, p.b_shift))
    acc = a_scaled + sign * b_scaled                                # |acc| <= 255 * 2^20 < 2^28: int32
    return requantize(acc, p.out_multiplier, p.out_shift, p.out_zero_point, p.qmin, p.qmax)


def add_int8(a, b, params: AddParams):
    """int8 a + b (numpy broadcasting), TFLite's reference integer Add with single rounding.

      a_scaled = mbqm((a - zp_a) << 20, a_multiplier, a_shift)    one rounding, 20 fraction bits
      b_scaled = mbqm((b - zp_b) << 20, b_multiplier, b_shift)
      out      = requantize(a_scaled + b_scaled, out_multiplier, out_shift, zp_out, qmin, qmax)
    (mbqm = multiply_by_quantized_multiplier.) Ranges: a, b int8 so |a - zp| <= 255; shifted
    <= 255 * 2^20 < 2^28; input multipliers <= 1/2, so the int32 sum stays below 2^28: no overflow.
    Error: each input rescale is off by at most 1/2 + 1/8 (rounding, multiplier error) units of
    2^-20 * 2 max(s_a, s_b), so the result is within 1/2 + (5/4) * 2^-20 * 2 max(s_a, s_b) / s_out
    + |exact - zp_out| * 2^-30 LSB of the exact zp_out + (s_a (a - zp_a) + s_b (b - zp_b)) / s_out
    (clamped): under 1 LSB whenever s_out >= max(s_a, s_b) / 2^17.
    """
    return _add_or_sub(a, b, params, +1)


def sub_int8(a, b, params: AddParams):
    """int8 a - b: add_int8 with the rescaled b subtracted (TFLite's SubFunc); same ranges."""
    return _add_or_sub(a, b, params, -1)


# ---- Mul -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class MulParams:
    """The integers of one int8 Mul (from mul_params)."""
    a_zero_point: int
    b_zero_point: int
    multiplier: int
    shift: int
    out_zero_point: int
    qmin: int
    qmax: int


def mul_params(s_a: float, zp_a: int, s_b: float, zp_b: int, s_out: float, zp_out: int,
               qmin: int = -128, qmax: int = 127) -> MulParams:
    """Multiplier for s_a * s_b / s_out (float64; the product of two float32 scales is exact).
    s_out == 0 gives multiplier 0 (the constant clamp(zp_out))."""
    s_a, s_b, s_out = _check_scale(s_a, "s_a"), _check_scale(s_b, "s_b"), _check_scale(s_out, "s_out")
    for zp, what in ((zp_a, "zp_a"), (zp_b, "zp_b"), (zp_out, "zp_out")):
        _check_int8_zero_point(zp, what)
    _check_bounds(qmin, qmax)
    m, s = (0, 0) if s_out == 0.0 else quantize_multiplier(s_a * s_b / s_out)
    return MulParams(int(zp_a), int(zp_b), m, s, int(zp_out), int(qmin), int(qmax))


def mul_int8(a, b, params: MulParams):
    """int8 a * b (numpy broadcasting): requantize((a - zp_a) * (b - zp_b)), TFLite's reference Mul.

    |a - zp_a|, |b - zp_b| <= 255, so |acc| <= 65025: int32 with room to spare. One rounding; the
    result is within 1/2 LSB (plus the 2^-31 multiplier error) of the exact product.
    """
    a, b = _ints(a, "a"), _ints(b, "b")
    _check_range(a, -128, 127, "a (int8)")
    _check_range(b, -128, 127, "b (int8)")
    acc = (a - params.a_zero_point) * (b - params.b_zero_point)
    return requantize(acc, params.multiplier, params.shift, params.out_zero_point, params.qmin, params.qmax)


# ---- average pooling and mean --------------------------------------------------------------

@dataclass(frozen=True)
class AvgPoolParams:
    """Integers of one int8 average pool: multipliers[count - 1] / shifts[count - 1] encode
    s_in / (s_out * count) for every window count 1..max_count (windows clipped by padding are
    smaller when padding is not counted)."""
    in_zero_point: int
    multipliers: tuple[int, ...]
    shifts: tuple[int, ...]
    out_zero_point: int
    qmin: int
    qmax: int


@dataclass(frozen=True)
class MeanParams:
    """Integers of one int8 ReduceMean (over H, W) of a fixed `count` elements."""
    count: int
    in_zero_point: int
    multiplier: int
    shift: int
    out_zero_point: int
    qmin: int
    qmax: int


def _window_multipliers(s_in: float, s_out: float, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if s_out == 0.0:
        return np.zeros(counts.shape, np.int32), np.zeros(counts.shape, np.int32)
    return quantize_multipliers(s_in / (s_out * counts.astype(np.float64)))


def _check_window(s_in, zp_in, s_out, zp_out, count, qmin, qmax) -> tuple[float, float]:
    s_in, s_out = _check_scale(s_in, "s_in"), _check_scale(s_out, "s_out")
    _check_int8_zero_point(zp_in, "zp_in")
    _check_int8_zero_point(zp_out, "zp_out")
    _check_bounds(qmin, qmax)
    if not 1 <= count <= MAX_WINDOW_COUNT:
        raise FixedPointError(f"window count must be in [1, {MAX_WINDOW_COUNT}] so that the int8 sum "
                              f"fits int32, got {count}")
    return s_in, s_out


def avgpool_params(s_in: float, zp_in: int, s_out: float, zp_out: int, max_count: int,
                   qmin: int = -128, qmax: int = 127) -> AvgPoolParams:
    """One multiplier per window count 1..max_count for s_in / (s_out * count), float64."""
    s_in, s_out = _check_window(s_in, zp_in, s_out, zp_out, max_count, qmin, qmax)
    m, s = _window_multipliers(s_in, s_out, np.arange(1, max_count + 1))
    return AvgPoolParams(int(zp_in), tuple(int(v) for v in m), tuple(int(v) for v in s),
                         int(zp_out), int(qmin), int(qmax))


def mean_params(s_in: float, zp_in: int, s_out: float, zp_out: int, count: int,
                qmin: int = -128, qmax: int = 127) -> MeanParams:
    """The multiplier for s_in / (s_out * count), float64, for a mean over `count` elements."""
    s_in, s_out = _check_window(s_in, zp_in, s_out, zp_out, count, qmin, qmax)
    m, s = _window_multipliers(s_in, s_out, np.array([count]))
    return MeanParams(int(count), int(zp_in), int(m[0]), int(s[0]), int(zp_out), int(qmin), int(qmax))


def _check_window_sum(window_sum: np.ndarray, count) -> None:
    if np.any(window_sum < -128 * count) or np.any(window_sum > 127 * count):
        raise FixedPointError("window_sum must be a sum of `count` int8 values, in [-128 * count, "
                              "127 * count]; check the kernel's window and count")


def _window_average(window_sum, count, in_zero_point, multiplier, shift, out_zero_point, qmin, qmax):
    acc = window_sum - count * in_zero_point          # zero point folded: |acc| <= 255 * count < 2^31
    return requantize(acc, multiplier, shift, out_zero_point, qmin, qmax)


def avg_int8(window_sum, count, params: AvgPoolParams):
    """Average of int8 windows: requantize(window_sum - count * zp_in) by s_in / (s_out * count).

    window_sum: int32 sum of the int8 values of each window, where a padding position that the op
    counts (ONNX count_include_pad=1) holds zp_in (the encoding of real 0); count: the divisor
    of each window, in [1, max_count] (arrays broadcast). One rounding, ties toward +inf up to
    the 2^-31 relative error of the multiplier: the result is within 1/2 LSB + |exact| * 2^-31 of
    zp_out + s_in * (window_sum - count * zp_in) / (s_out * count), clamped.
    Choice: unlike TFLite's pooling.h (integer division, ties away from zero, only for equal input
    and output quantization), qcomp divides with the multiplier so that every backend needs no
    integer division and equal and unequal quantizations share one code path; results differ from
    TFLite only on exact ties.
    """
    window_sum, count = _ints(window_sum, "window_sum"), _ints(count, "count")
    _check_range(count, 1, len(params.multipliers), "count")
    _check_window_sum(window_sum, count)
    idx = count - 1
    multiplier = np.asarray(params.multipliers, np.int64)[idx]
    shift = np.asarray(params.shifts, np.int64)[idx]
    return _window_average(window_sum, count, params.in_zero_point, multiplier, shift,
                           params.out_zero_point, params.qmin, params.qmax)


def mean_int8(window_sum, count: int, params: MeanParams):
    """ReduceMean of int8 over `count` elements (TFLite's integer mean, single rounding).

    window_sum: int32 sums of the raw int8 values, in [-128 * count, 127 * count]. Same algorithm
    and bound as avg_int8; the count is baked into the multiplier, so `count` must equal
    params.count (it is checked: a kernel summing another number of elements is a bug).
    """
    if count != params.count:
        raise FixedPointError(f"mean_int8: count {count} differs from the {params.count} elements the "
                              "parameters were derived for (mean_params)")
    window_sum = _ints(window_sum, "window_sum")
    _check_window_sum(window_sum, params.count)
    return _window_average(window_sum, params.count, params.in_zero_point, params.multiplier,
                           params.shift, params.out_zero_point, params.qmin, params.qmax)

