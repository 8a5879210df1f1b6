"""A slow, scalar, pure-Python transcription of qcomp/fixedpoint.py's integer kernels.

Written the way a C backend transcribes the spec: one element at a time, Python ints (exact, like
int64_t with no overflow possible in the documented ranges), no numpy. The tests compare the
vectorized spec against it element by element with exact equality, and against exact rationals
(`fractions.Fraction`) within the documented error bounds.
"""
from __future__ import annotations

from fractions import Fraction
from math import floor


def mbqm(acc: int, multiplier: int, shift: int) -> int:
    total = 31 - shift
    assert 1 <= total <= 62 and -(1 << 31) <= acc < (1 << 31) and 0 <= multiplier < (1 << 31)
    return (acc * multiplier + (1 << (total - 1))) >> total


def clamp(v: int, lo: int, hi: int) -> int:
    return lo if v < lo else hi if v > hi else v


def requantize(acc: int, multiplier: int, shift: int, zero_point: int, qmin: int, qmax: int) -> int:
    return clamp(mbqm(acc, multiplier, shift) + zero_point, qmin, qmax)


def add(a: int, b: int, p, sign: int = 1) -> int:
    a_scaled = mbqm((a - p.a_zero_point) * (1 << p.left_shift), p.a_multiplier, p.a_shift)
    b_scaled = mbqm((b - p.b_zero_point) * (1 << p.left_shift), p.b_multiplier, p.b_shift)
    acc = a_scaled + sign * b_scaled
    assert -(1 << 31) <= acc < (1 << 31)
    return requantize(acc, p.out_multiplier, p.out_shift, p.out_zero_point, p.qmin, p.qmax)


def mul(a: int, b: int, p) -> int:
    acc = (a - p.a_zero_point) * (b - p.b_zero_point)
    return requantize(acc, p.multiplier, p.shift, p.out_zero_point, p.qmin, p.qmax)


def avg(window_sum: int, count: int, p) -> int:
    acc = window_sum - count * p.in_zero_point
    return requantize(acc, p.multipliers[count - 1], p.shifts[count - 1], p.out_zero_point, p.qmin, p.qmax)


def mean(window_sum: int, p) -> int:
    acc = window_sum - p.count * p.in_zero_point
    return requantize(acc, p.multiplier, p.shift, p.out_zero_point, p.qmin, p.qmax)


# ---- exact rationals -------------------------------------------------------------------------

def as_real(multiplier: int, shift: int) -> Fraction:
    """The rational number a (multiplier, shift) pair encodes: multiplier * 2^shift / 2^31."""
    return Fraction(multiplier) * Fraction(2) ** (shift - 31)


def round_half_up(x: Fraction) -> int:
    return floor(x + Fraction(1, 2))


def exact_quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier on the exact rational value of `real` (no float arithmetic)."""
    f = Fraction(real)
    if f == 0:
        return 0, 0
    exp = f.numerator.bit_length() - f.denominator.bit_length()   # f / 2^exp in (1/4, 2)
    while f / Fraction(2) ** exp >= 1:
        exp += 1
    while f / Fraction(2) ** exp < Fraction(1, 2):
        exp -= 1
    q = floor(f / Fraction(2) ** exp * (1 << 31) + Fraction(1, 2))   # half away from zero (f > 0)
    if q == 1 << 31:
        q, exp = q // 2, exp + 1
    if exp < -31:
        return 0, 0
    if exp > 30:
        return (1 << 31) - 1, 30
    return q, exp
