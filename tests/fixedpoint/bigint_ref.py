"""An independent exact-integer formulation of the int16 (A16W8), int16 LUT and Softmax rules.

Written from the formulas of docs/ARCHITECTURE.md section 3 (TFLite's 16x8 kernels and its int8
Softmax), not from qcomp/fixedpoint: plain Python ints and fractions.Fraction, no numpy, and
never an import of qcomp. Roundings are stated as exact rational operations (floor(v + 1/2),
sign * floor(|v| + 1/2)) instead of the shift-and-mask forms of the spec, so that the two agree
only if the bit tricks are right. gen_vectors16.py turns it into the CSV golden vectors.
"""
from __future__ import annotations

import math
from fractions import Fraction

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1
HALF = Fraction(1, 2)


def clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


def round_half_up(v: Fraction) -> int:
    """Nearest integer, ties toward +inf."""
    return math.floor(v + HALF)


def round_half_away(v: Fraction) -> int:
    """Nearest integer, ties away from zero."""
    return math.floor(abs(v) + HALF) * (1 if v >= 0 else -1)


def round_half_even(v: Fraction) -> int:
    return round(v)          # Fraction.__round__ without ndigits: ties to even


# ---- multipliers -------------------------------------------------------------------------------

def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier (single-rounding build) on the exact value of a float64 real >= 0:
    real = q * 2^(shift - 31), q in [2^30, 2^31) rounded half away from zero; shift < -31 flushes to
    (0, 0), shift > 30 saturates to (2^31 - 1, 30)."""
    f = Fraction(real)
    if f == 0:
        return 0, 0
    shift = 0
    while f / Fraction(2) ** shift >= 1:
        shift += 1
    while f / Fraction(2) ** shift < HALF:
        shift -= 1
    q = round_half_away(f / Fraction(2) ** shift * 2**31)
    if q == 2**31:
        q, shift = 2**30, shift + 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return INT32_MAX, 30
    return q, shift


def real_of(multiplier: int, shift: int) -> Fraction:
    return Fraction(multiplier) * Fraction(2) ** (shift - 31)


def mbqm32(acc: int, multiplier: int, shift: int) -> int:
    """round_half_up(acc * multiplier * 2^(shift - 31)); acc int32."""
    assert INT32_MIN <= acc <= INT32_MAX and 0 <= multiplier <= INT32_MAX and -31 <= shift <= 30
    return round_half_up(acc * real_of(multiplier, shift))


def reduced_multiplier(multiplier: int) -> int:
    """TFLite: m < 0x7FFF0000 ? (m + 2^15) >> 16 : 0x7FFF, i.e. m / 2^16 rounded half up, at most 2^15 - 1."""
    if multiplier >= 0x7FFF0000:
        return 0x7FFF
    return round_half_up(Fraction(multiplier, 2**16))


def mbqm64(acc: int, multiplier: int, shift: int) -> int:
    """round_half_up(acc * reduced * 2^(shift - 15)); |acc| < 2^47, shift <= 14."""
    assert abs(acc) < 2**47 and 0 <= multiplier <= INT32_MAX and -31 <= shift <= 14
    return round_half_up(acc * reduced_multiplier(multiplier) * Fraction(2) ** (shift - 15))


def requantize(acc: int, multiplier: int, shift: int, acc_bits: int, zero_point: int, qmin: int, qmax: int) -> int:
    scaled = mbqm32(acc, multiplier, shift) if acc_bits == 32 else mbqm64(acc, multiplier, shift)
    return clamp(scaled + zero_point, qmin, qmax)


def acc_bits(k: int, bias_abs: int) -> int | None:
    bound = k * 32768 * 128 + bias_abs
    return 32 if bound < 2**31 else 64 if bound < 2**47 else None


# ---- conversions, Add, Mul -----------------------------------------------------------------------

def convert(x: int, s_in: float, zp_in: int, s_out: float, zp_out: int, qmin: int,
            qmax: int) -> tuple[int, int, int]:
    m, e = quantize_multiplier(s_in / s_out) if s_out else (0, 0)
    return m, e, clamp(mbqm32(x - zp_in, m, e) + zp_out, qmin, qmax)


def add16_params(s_a: float, s_b: float, s_out: float) -> tuple[int, ...]:
    """(left_shift, m_a, e_a, m_b, e_b, m_out, e_out): inputs scaled by s / (2 max(s_a, s_b)) after << 15."""
    twice_max = 2.0 * max(s_a, s_b)
    if twice_max == 0.0 or s_out == 0.0:
        return (15, 0, 0, 0, 0, 0, 0)
    return (15, *quantize_multiplier(s_a / twice_max), *quantize_multiplier(s_b / twice_max),
            *quantize_multiplier(twice_max / (2**15 * s_out)))


def add16(a: int, b: int, params: tuple[int, ...], qmin: int, qmax: int, sign: int = 1) -> int:
    left_shift, ma, ea, mb, eb, mo, eo = params
    total = mbqm32(a * 2**left_shift, ma, ea) + sign * mbqm32(b * 2**left_shift, mb, eb)
    assert INT32_MIN <= total <= INT32_MAX
    return clamp(mbqm32(total, mo, eo), qmin, qmax)


def mul16_params(s_a: float, s_b: float, s_out: float) -> tuple[int, int]:
    return quantize_multiplier(s_a * s_b / s_out) if s_out else (0, 0)


def mul16(a: int, b: int, params: tuple[int, int], qmin: int, qmax: int) -> int:
    return clamp(mbqm32(a * b, *params), qmin, qmax)


# ---- int16 LUT ------------------------------------------------------------------------------------

def build_lut16(fn, s_in: float, s_out: float, zp_out: int, qmin: int, qmax: int) -> list[int]:
    """513 entries at x_i = (-32768 + 128 i) * s_in, each sample minus half its midpoint error."""
    def value(q_half: int) -> float:       # fn at input (q_half / 2) * s_in, divided by s_out
        return fn(q_half / 2 * s_in) / s_out
    out = []
    for i in range(513):
        q = -32768 + 128 * i
        v = value(2 * q)
        sample = round(v)
        if i < 512:
            interp = round((sample + value(2 * (q + 128))) / 2)
            bias = round((interp - round(value(2 * q + 128))) / 2)
            sample -= bias
        out.append(clamp(sample + zp_out, qmin, qmax))
    return out


def lut16_lookup(x: int, lut: list[int]) -> int:
    """lut[i] + round_half_up((lut[i + 1] - lut[i]) * (x - 128 (i - 256)) / 128), i = floor(x / 128) + 256."""
    i = math.floor(Fraction(x, 128)) + 256
    offset = x - 128 * (i - 256)
    return lut[i] + round_half_up(Fraction((lut[i + 1] - lut[i]) * offset, 128))


# ---- Softmax (gemmlowp fixed point on Python ints) ---------------------------------------------

def srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul as written: (ab + nudge) / 2^31, C division."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = 2**30 if ab >= 0 else 1 - 2**30
    n = ab + nudge
    return n // 2**31 if n >= 0 else -((-n) // 2**31)


def rdbp(x: int, exponent: int) -> int:
    return round_half_away(Fraction(x, 2**exponent))


def sat_shl(x: int, exponent: int) -> int:
    return clamp(x * 2**exponent, INT32_MIN, INT32_MAX)


def add32(a: int, b: int) -> int:
    s = a + b
    assert INT32_MIN <= s <= INT32_MAX, "int32 overflow"
    return s


def exp_on_interval(a: int) -> int:
    x = add32(a, 2**28)
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    poly = rdbp(add32(srdhm(add32(rdbp(x4, 2), x3), 715827883), x2), 1)
    return add32(1895147668, srdhm(1895147668, add32(x, poly)))


def exp_on_negative_values(a: int) -> int:
    """a: Q5.26 raw <= 0; exp in Q0.31."""
    if a == 0:
        return INT32_MAX
    quarter = 2**24
    r = a % quarter - quarter                       # a mod 1/4 (Python % is floor-mod), minus 1/4
    result = exp_on_interval(sat_shl(r, 5))
    rest = r - a                                    # a multiple of 1/4 in Q5.26, >= 0
    barrel = {-2: 1672461947, -1: 1302514674, 0: 790015084, 1: 290630308, 2: 39332535, 3: 720401, 4: 242}
    for k in range(-2, 5):
        if (rest >> (26 + k)) & 1:
            result = srdhm(result, barrel[k])
    return result


def one_over_one_plus_x(a: int) -> int:
    half_denominator = round_half_away(Fraction(a + INT32_MAX, 2))
    x = add32(1515870810, srdhm(half_denominator, -1010580540))
    for _ in range(3):
        one_minus = add32(2**29, -srdhm(half_denominator, x))
        x = add32(x, sat_shl(srdhm(x, one_minus), 2))
    return sat_shl(x, 1)


def get_reciprocal(x: int, integer_digits: int) -> tuple[int, int]:
    clz = 32 - x.bit_length()
    return one_over_one_plus_x(x * 2**clz - 2**31), integer_digits - clz


def softmax_params(beta: float, s_in: float) -> tuple[int, int, int]:
    real = min(beta * s_in * float(2**26), float(2**31 - 1))
    m, shift = quantize_multiplier(real)
    diff_min = -math.floor(Fraction(31 * 2**26, 2**shift))
    return m, shift, diff_min


def softmax_row(row: list[int], multiplier: int, left_shift: int, diff_min: int) -> list[int]:
    top = max(row)
    exps = []
    for v in row:
        d = v - top
        exps.append(exp_on_negative_values(srdhm(d * 2**left_shift, multiplier)) if d >= diff_min else None)
    total = 0
    for e in exps:
        if e is not None:
            total = add32(total, rdbp(e, 12))
    recip, bits_over_unit = get_reciprocal(total, 12)
    return [-128 if e is None else clamp(rdbp(srdhm(recip, e), bits_over_unit + 23) - 128, -128, 127)
            for e in exps]
