"""An independent exact-integer formulation of the int16 Softmax (A16W8, ARCHITECTURE.md section 3.1).

Written from the formula (TFLite's SoftmaxInt16 with qcomp's changes: an exp table over [-12, 0],
tables on the exact int16 grid, a single-rounding rescale), not from qcomp/fixedpoint: Python ints
and fractions.Fraction, no numpy, no import of qcomp. Roundings are exact rational operations;
count-leading-zeros is int.bit_length; the tables are built from the real value of each grid
point (a Fraction turned into a float once), not from a float grid.
"""
from __future__ import annotations

import math
from fractions import Fraction

from .bigint_ref import clamp, lut16_lookup, quantize_multiplier, round_half_even, round_half_up

EXP_RANGE = Fraction(12)
Q15 = 2**15


def params(beta: float, s_in: float) -> tuple[int, int]:
    """(multiplier, shift) of min(beta * s_in * 65535 / 12, 2^16), the product taken in float64 as the spec does."""
    real = min(beta * s_in * 65535.0 / 12.0, 65536.0)
    return quantize_multiplier(real)


def _table(value_at) -> list[int]:
    """513 entries: value_at(q) is fn's output (already divided by the output scale) at the
    int16 grid point q (a Fraction, so midpoints q + 64 are exact); sample minus half the midpoint error."""
    out = []
    for i in range(513):
        q = Fraction(-32768 + 128 * i)
        sample = round_half_even(Fraction(value_at(q)))
        if i < 512:
            interp = round_half_even((sample + Fraction(value_at(q + 128))) / 2)
            bias = round_half_even(Fraction(interp - round_half_even(Fraction(value_at(q + 64)))) / 2)
            sample -= bias
        out.append(clamp(sample, 0, Q15 - 1))
    return out


def exp_table() -> list[int]:
    """exp of the real difference (q - 32767) * 12 / 65535, times 2^15."""
    return _table(lambda q: math.exp(float((q - 32767) * EXP_RANGE / 65535)) * Q15)


def recip_table() -> list[int]:
    """1 / (1 + x) at x = (q + 32768) / 65536, times 2^15."""
    return _table(lambda q: Q15 / (1.0 + float((q + 32768) / Fraction(65536))))


def softmax_row(row: list[int], multiplier: int, shift: int, exp_lut: list[int], recip_lut: list[int]) -> list[int]:
    """One row of int16 values -> int16 probabilities in [0, 32767] (scale 2^-15)."""
    top = max(row)
    m = Fraction(multiplier) * Fraction(2) ** (shift - 31)
    exps = []
    for v in row:
        scaled = round_half_up((v - top) * m)                 # the difference on the table's grid
        exps.append(lut16_lookup(clamp(scaled + 32767, -32768, 32767), exp_lut))
    total = sum(exps)
    assert 2**14 <= total < 2**31
    width = total.bit_length()                                 # total in [2^(width-1), 2^width)
    normalized = round_half_up(total / Fraction(2) ** (width - 17))   # total / 2^width in Q1.16, in [2^16, 2^17]
    recip = lut16_lookup(clamp(normalized - 65536 - 32768, -32768, 32767), recip_lut)
    return [clamp(round_half_up(Fraction(e * recip, 2 ** (width - 1))), 0, Q15 - 1) for e in exps]   # ~ e 2^15 / total
