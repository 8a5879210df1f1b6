"""Integer Softmax, int8 -> int8: TFLite's reference int8 Softmax (gemmlowp fixed point), bit for bit.

Output quantization is fixed: scale 1/256, zero point -128 (TFLite requires it). For one row x
(int8, the reduced axis) with build-time parameters (softmax_params):

  diff_c   = x_c - max(x)                                       in [-255, 0]
  skipped  = diff_c < diff_min                                  (exp would round to 0)
  a_c      = srdhm(diff_c << input_left_shift, input_multiplier)      Q5.26: beta * s_in * diff_c
  e_c      = exp_on_negative_values(a_c)                        Q0.31: exp(beta * s_in * diff_c)
  sum      = sum_c rounding_divide_by_pot(e_c, 12)              Q12.19, over the non-skipped c
  (recip, n) = get_reciprocal(sum, 12)                          recip Q0.31 = 2^n / sum, n = 12 - clz(sum)
  out_c    = clamp(rounding_divide_by_pot(srdhm(recip, e_c), n + 23) - 128, -128, 127),  -128 if skipped
All values are int32 as in gemmlowp (the int32 range of every add is checked here); products
are int64. The primitives:
  srdhm(a, b)  = (a * b + 2^30) >> 31, saturated to 2^31 - 1 for a = b = -2^31. gemmlowp writes
               (a * b + nudge) / 2^31 with nudge = 2^30 or 1 - 2^30 and C division; both are
               round half toward +inf of a * b / 2^31 (AArch64 SQRDMULH, x86 VPMULDQ + add + shift).
  rounding_divide_by_pot(x, e) = x / 2^e rounded half AWAY from zero (gemmlowp's RoundingDivideByPOT:
               the remainder against a threshold of 2^(e-1) - 1, plus 1 for negative x).
  saturating_left_shift(x, e)  = clamp(x * 2^e) to int32 (gemmlowp's SaturatingRoundingMultiplyByPOT<e>).
The polynomial, barrel-shifter and Newton-Raphson constants are gemmlowp's, quoted below.

Improvements where TFLite has no rule: rounding_divide_by_pot is defined for e up to 62 on int64
(TFLite's final division by 2^(n + 23) has e in [23, 34], and e > 31 on an int32 is undefined
behaviour in C); a row may hold at most SOFTMAX_MAX_DEPTH = 4095 elements, because each exp adds
at most 2^19 to the Q12.19 sum and 4095 * 2^19 < 2^31 (TFLite does not check).
Accuracy: within 1 LSB of round(256 * softmax(beta * s_in * x)) - 128 in the tests (random rows).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core import INT32_MAX, INT32_MIN, FixedPointError, _check_range, _ints, quantize_multiplier

SCALED_DIFF_INTEGER_BITS = 5       # a_c is Q5.26
ACCUMULATION_INTEGER_BITS = 12     # the sum of exps is Q12.19
SOFTMAX_MAX_DEPTH = 4095           # 4095 * 2^19 < 2^31: the Q12.19 sum never overflows int32
OUTPUT_SCALE, OUTPUT_ZERO_POINT = 1.0 / 256.0, -128


def _i32(v: np.ndarray, what: str) -> np.ndarray:
    """v, checked to fit int32 (gemmlowp's raw values are int32; a wrap would be a spec bug)."""
    if v.size and (v.min() < INT32_MIN or v.max() > INT32_MAX):
        raise FixedPointError(f"softmax: {what} leaves int32")
    return v


# ---- gemmlowp primitives ------------------------------------------------------------------------

def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 a, b: (a * b + 2^30) >> 31, saturated."""
    a, b = _ints(a, "a"), _ints(b, "b")
    _check_range(a, INT32_MIN, INT32_MAX, "a")
    _check_range(b, INT32_MIN, INT32_MAX, "b")
    out = (a * b + (1 << 30)) >> 31                    # |a * b| <= 2^62: int64
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, out)


srdhm = saturating_rounding_doubling_high_mul


def rounding_divide_by_pot(x, exponent):
    """gemmlowp RoundingDivideByPOT: x / 2^exponent, ties away from zero; x int64, exponent in [0, 62]."""
    x, exponent = _ints(x, "x"), _ints(exponent, "exponent")
    _check_range(exponent, 0, 62, "exponent")
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def saturating_left_shift(x, exponent: int):
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent > 0> on int32: clamp(x * 2^exponent)."""
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))


# ---- exp and reciprocal ------------------------------------------------------------------------

def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """exp(a) for Q0.31 a in [-1/4, 0): Taylor series around -1/8, gemmlowp's constants."""
    constant_term = 1895147668                  # exp(-1/8) in Q0.31
    constant_1_over_3 = 715827883               # 1/3 in Q0.31
    x = _i32(a + (1 << 28), "x")                # x = a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = _i32(srdhm(_i32(x4_over_4 + x3, "x4/4 + x3"), constant_1_over_3) + x2, "polynomial")
    x4_over_24_plus_x3_over_6_plus_x2_over_2 = rounding_divide_by_pot(poly, 1)
    return _i32(constant_term + srdhm(constant_term, _i32(x + x4_over_24_plus_x3_over_6_plus_x2_over_2,
                                                          "x + poly")), "exp on [-1/4, 0)")


# (exponent k, exp(-2^k) in Q0.31): gemmlowp's barrel shifter for the integer part of -a
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
               (3, 720401), (4, 242))


def exp_on_negative_values(a):
    """gemmlowp exp_on_negative_values for Q5.26 a <= 0 (int32 raw): exp(a) in Q0.31 (int64 array).

      r = (a & (2^24 - 1)) - 2^24          a mod 1/4, minus 1/4: in [-1/4, 0)
      e = exp_on_interval(r << 5)          Q5.26 -> Q0.31, saturating (cannot saturate here)
      for each bit k of (r - a) (k = -2 .. 4, bit 26 + k): e = srdhm(e, exp(-2^k))
      a == 0 -> 2^31 - 1 (one)
    """
    a = _ints(a, "a")
    _check_range(a, INT32_MIN, 0, "a (Q5.26, <= 0)")
    frac_bits = 31 - SCALED_DIFF_INTEGER_BITS
    one_quarter = 1 << (frac_bits - 2)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_left_shift(a_mod_quarter_minus_one_quarter, SCALED_DIFF_INTEGER_BITS))
    remainder = a_mod_quarter_minus_one_quarter - a            # >= 0: the part that the barrel takes
    for exponent, multiplier in _EXP_BARREL:
        bit = (remainder >> (frac_bits + exponent)) & 1
        result = np.where(bit == 1, srdhm(result, multiplier), result)
    return np.where(a == 0, INT32_MAX, result)


def one_over_one_plus_x_for_x_in_0_1(a):
    """gemmlowp one_over_one_plus_x_for_x_in_0_1: 1 / (1 + a) for Q0.31 a in [0, 1); Q0.31 result.

      half_denominator = (a + 2^31 - 1 + 1) / 2 rounded half away from zero (RoundingHalfSum)   Q0.31
      x = 48/17 + half_denominator * (-32/17)                        Q2.29, then 3 Newton steps:
      x = x + sat_shl(x * (1 - half_denominator * x), 2)              (products: srdhm)
      result = sat_shl(x, 1)                                          Q2.29 * 1/2 -> Q0.31
    """
    a = _ints(a, "a")
    _check_range(a, 0, INT32_MAX, "a (Q0.31 in [0, 1))")
    total = a + INT32_MAX                                     # RoundingHalfSum(a, One())
    half_denominator = (total + 1) >> 1                       # total > 0: (total + 1) / 2 truncated
    constant_48_over_17 = 1515870810                          # Q2.29
    constant_neg_32_over_17 = -1010580540                     # Q2.29
    one_q2 = 1 << 29
    x = _i32(constant_48_over_17 + srdhm(half_denominator, constant_neg_32_over_17), "x0")
    for _ in range(3):
        half_denominator_times_x = srdhm(half_denominator, x)
        one_minus_half_denominator_times_x = _i32(one_q2 - half_denominator_times_x, "1 - d x")
        x = _i32(x + saturating_left_shift(srdhm(x, one_minus_half_denominator_times_x), 2), "Newton x")
    return saturating_left_shift(x, 1)


def get_reciprocal(x, x_integer_digits: int):
    """TFLite GetReciprocal: (recip Q0.31, num_bits_over_unit) with recip * 2^-31 ~= 2^n / (x * 2^-f).

      clz = count_leading_zeros(uint32 x);  n = x_integer_digits - clz
      shifted_sum_minus_one = (x << clz) - 2^31        (x << clz has bit 31 set: in [0, 2^31))
      recip = one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one)
    x in [1, 2^31 - 1] (a Qk.(31-k) value, k = x_integer_digits).
    """
    x = _ints(x, "x")
    _check_range(x, 1, INT32_MAX, "x (a positive int32)")
    clz = 32 - np.frexp(x.astype(np.float64))[1].astype(np.int64)   # exact: x < 2^53
    shifted_sum_minus_one = (x << clz) - (1 << 31)
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), x_integer_digits - clz


# ---- build-time parameters and the kernel -----------------------------------------------------

@dataclass(frozen=True)
class SoftmaxParams:
    """The integers of one int8 Softmax (softmax_params)."""
    input_multiplier: int
    input_left_shift: int
    diff_min: int


def softmax_params(beta: float, s_in: float) -> SoftmaxParams:
    """TFLite's PreprocessSoftmaxScaling and CalculateInputRadius, float64:

      real = min(beta * s_in * 2^26, 2^31 - 1)     beta * s_in one float64 product; 2^26: Q5.26
      (input_multiplier, input_left_shift) = quantize_multiplier(real)      real > 1: shift >= 1
      diff_min = -floor(31 * 2^26 / 2^input_left_shift)                    (2^5 - 1) * 2^(31 - 5)
    so that diff << input_left_shift fits int32 for every diff >= diff_min, and a_c >= -32.
    beta * s_in <= 2^-26 (a real multiplier <= 1) is refused: every int8 difference would then
    be below 2^-18 in real terms, the output a constant; TFLite refuses it too.
    """
    beta, s_in = float(beta), float(s_in)
    if not (np.isfinite(beta) and np.isfinite(s_in) and beta > 0 and s_in > 0):
        raise FixedPointError(f"softmax: beta and the input scale must be finite and > 0, got {beta}, {s_in}")
    real = min(beta * s_in * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)), float((1 << 31) - 1))
    if real <= 1.0:
        raise FixedPointError(f"softmax: beta * input scale = {beta * s_in:g} is below 2^-26; every "
                              "output would be equal. Calibrate the input (its scale is too small)")
    multiplier, shift = quantize_multiplier(real)
    radius = ((1 << SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)) >> shift
    return SoftmaxParams(multiplier, shift, -radius)


def softmax_refusal(depth: int, beta: float, s_in: float) -> str | None:
    """Why an int8 Softmax with rows of `depth` elements, this beta and input scale cannot follow
    this spec (then it stays a float region, or is refused where a target has no float), or None."""
    if not 1 <= depth <= SOFTMAX_MAX_DEPTH:
        return (f"its rows hold {depth} elements; the integer Softmax takes 1 to {SOFTMAX_MAX_DEPTH} "
                "(the Q12.19 sum of exps must fit int32)")
    try:
        softmax_params(beta, s_in)
    except FixedPointError as e:
        return f"its input scale cannot be used: {str(e).removeprefix('softmax: ')}"
    return None


def softmax_int8(x, params: SoftmaxParams, axis: int = -1) -> np.ndarray:
    """int8 Softmax along `axis` (rows of at most 4095 elements): int8, scale 1/256, zero point -128.

    See the module docstring for the formula. Hardware: int32 lanes throughout; srdhm is SQRDMULH
    (AArch64) or VPMULDQ + add + VPSRAQ (x86); the exp is branch-free (the barrel shifter is a
    select per bit); the row maximum is SMAXV / VPMAXSB.
    """
    x = _ints(x, "x")
    _check_range(x, -128, 127, "x (int8)")
    if not 0 <= params.input_left_shift <= 30 or not 0 <= params.input_multiplier <= INT32_MAX:
        raise FixedPointError(f"softmax: parameters out of range: {params}")
    if x.ndim == 0:
        raise FixedPointError("softmax: the input must have at least one dimension")
    rows = np.moveaxis(x, axis, -1)
    if rows.shape[-1] > SOFTMAX_MAX_DEPTH or rows.shape[-1] == 0:
        raise FixedPointError(f"softmax: a row has {rows.shape[-1]} elements; 1 to {SOFTMAX_MAX_DEPTH} "
                              "are supported (the Q12.19 sum of exps must fit int32)")
    diff = rows - rows.max(axis=-1, keepdims=True)
    kept = diff >= params.diff_min
    diff = np.where(kept, diff, 0)                  # skipped elements never reach the arithmetic
    scaled = _i32(diff << params.input_left_shift, "diff << input_left_shift")
    a = srdhm(scaled, params.input_multiplier)
    e = exp_on_negative_values(a)
    terms = np.where(kept, rounding_divide_by_pot(e, ACCUMULATION_INTEGER_BITS), 0)
    sum_of_exps = _i32(terms.sum(axis=-1, keepdims=True), "sum of exps")
    recip, num_bits_over_unit = get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS)
    out = rounding_divide_by_pot(srdhm(recip, e), num_bits_over_unit + 31 - 8) + OUTPUT_ZERO_POINT
    out = np.where(kept, np.clip(out, -128, 127), -128)
    return np.moveaxis(out, -1, axis).astype(np.int8)
