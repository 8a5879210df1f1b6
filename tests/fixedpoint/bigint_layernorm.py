"""An independent exact formulation of the integer LayerNorm (docs/ARCHITECTURE.md section 3).

Written from the math, not from qcomp/fixedpoint/layernorm.py: plain Python ints and
fractions.Fraction, no numpy, never an import of qcomp. The statistics are stated as the exact
mean and variance (Fractions), the normalization of V as a search over powers of 4, the square root
as math.isqrt, and every rounding as floor(v + 1/2) on an exact rational, so the two agree only if
the shifts, masks and bounds of the spec are right.

    z_c   = (x_c - mean) / sqrt(var + E / N^2)                  (in units of the input step)
    V     = N^2 var + E,   W = V 4^s in [2^60, 2^62)
    inv   = round_half_up(2^61 / floor(sqrt(W)))
    zq_c  = round_half_up(N (x_c - mean) * inv * 2^s / 2^61 * 2^16)
    out_c = clamp(round_half_up((zq_c gamma_q[c] + beta_q[c] 2^16) / 2^32) + zp_out, qmin, qmax)
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


def layer_norm_row(q: list[int], zp_in: int, e: int, gamma_q: list[int], beta_q: list[int], zp_out: int,
                   qmin: int = -128, qmax: int = 127, columns=None) -> list[int]:
    """The outputs of one row (of `columns` only, when given: the statistics still cover the row)."""
    n = len(q)
    x = [v - zp_in for v in q]
    total = sum(x)
    mean = Fraction(total, n)
    var = Fraction(sum((n * v - total) ** 2 for v in x), n**3)        # mean of (x - mean)^2
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
        zq = round_half_up(n * (x[c] - mean) * inv * Fraction(2**s, 2**61) * 2**16)
        y = round_half_up(Fraction(zq * gamma_q[c] + beta_q[c] * 2**16, 2**32)) + zp_out
        out.append(max(qmin, min(qmax, y)))
    return out
