"""An independent exact formulation of the int16 integer LayerNorm (docs/ARCHITECTURE.md section 3.2).

Written from the math, not from qcomp/fixedpoint/layernorm16.py: plain Python ints and
fractions.Fraction, no numpy, never an import of qcomp. The statistics are the exact mean and
variance (Fractions), the normalization of V a search over powers of 4, the square root
math.isqrt, every rounding floor(v + 1/2) of an exact rational, and the build-time integers the
round-half-even of exact rationals (of the float32 values given), so the two agree only if the
shifts, widths and bounds of the spec are right.

    z_c   = (x_c - mean) / sqrt(var + E / N^2)                  (in units of the input step)
    V     = N^2 var + E,   W = V 4^s in [2^60, 2^62)
    inv   = round_half_up(2^61 / floor(sqrt(W)))
    zq_c  = round_half_up(N (x_c - mean) * inv * 2^s / 2^61 * 2^22)
    out_c = clamp(round_half_up((zq_c gamma_q[c] + beta_q[c]) / 2^38) + zp_out, qmin, qmax)
    gamma_q[c] = round_half_even(gamma_c / s_out * 2^16),  beta_q[c] = round_half_even(clip(beta_c / s_out) * 2^38)
"""
from __future__ import annotations

import math
from fractions import Fraction

HALF = Fraction(1, 2)


def round_half_up(v: Fraction) -> int:
    return math.floor(v + HALF)


def eps_q(n: int, eps: float, s_in: float) -> int:
    """max(1, ceil(N^2 eps / s_in^2)) with eps and s_in the exact values of the floats given."""
    if s_in == 0:
        return 1
    return max(1, math.ceil(Fraction(eps) * n * n / Fraction(s_in) ** 2))


def affine(gamma: float, beta: float, s_out: float) -> tuple[int, int]:
    """(gamma_q, beta_q) of one element, exact: s_out, gamma and beta are the floats given. Agrees
    with the spec's float64 division wherever gamma / s_out * 2^16 is not within 2^-36 of a tie."""
    if s_out == 0:
        return 0, 0
    g = Fraction(gamma) / Fraction(s_out)
    b = max(-2**23, min(2**23, Fraction(beta) / Fraction(s_out)))
    return round(g * 2**16), round(b * 2**38)


def layer_norm_row(q: list[int], e: int, gamma_q: list[int], beta_q: list[int], zp_out: int = 0,
                   qmin: int = -32768, qmax: int = 32767, columns=None) -> list[int]:
    """The outputs of one int16 row (of `columns` only, when given: the statistics still cover the row)."""
    n = len(q)
    assert all(-32768 <= v <= 32767 for v in q) and 1 <= n <= 32768
    total = sum(q)
    mean = Fraction(total, n)
    var = Fraction(sum((n * v - total) ** 2 for v in q), n**3)        # mean of (x - mean)^2
    v_int = n * n * var + e
    assert v_int.denominator == 1 and 1 <= v_int < 2**62
    s = 0
    while v_int * 4 ** (s + 1) < 2**62:
        s += 1
    w = int(v_int) * 4**s
    assert 2**60 <= w < 2**62
    inv = round_half_up(Fraction(2**61, math.isqrt(w)))
    out = []
    for c in range(n) if columns is None else columns:
        zq = round_half_up(n * (q[c] - mean) * inv * Fraction(2**s, 2**61) * 2**22)
        y = round_half_up(Fraction(zq * gamma_q[c] + beta_q[c], 2**38)) + zp_out
        out.append(max(qmin, min(qmax, y)))
    return out
