"""Integer LayerNorm, int8 -> int8, over one contiguous row (the normalized trailing axes).

The float op (ARCHITECTURE.md section 3, ONNX LayerNormalization, or the exporters' ReduceMean ->
Sub -> Pow 2 -> ReduceMean -> Add eps -> Sqrt -> Div -> Mul gamma -> Add beta) is

    y_c = (r_c - mean(r)) / sqrt(var(r) + eps) * gamma_c + beta_c,   r = s_in * (q - zp_in)

and it is invariant to the input scale: with x_c = q_c - zp_in (integers), N the row length,
sum = sum_c x_c and SS = N * sum_c x_c^2 - sum^2 = N^2 var(x) (exact, >= 0),

    z_c = (r_c - mean(r)) / sqrt(var(r) + eps) = d_c / sqrt(SS + N^2 eps / s_in^2),   d_c = N x_c - sum.

So the statistics are exact integers (no rounding), the epsilon enters in the integer domain as
E = max(1, ceil(N^2 * eps / s_in^2)) (exact rational arithmetic on the float32 eps and s_in at build
time; rounded up so the effective epsilon is never below the model's, and at least 1 so that a
constant row, SS = 0, never divides by zero: its d_c are all 0 anyway), and one reciprocal square
root per row remains. It is computed exactly with integer operations that every ISA has
(an integer square root and one division), so no table or Newton constant is involved:

  per row                                                  range (N <= 65536)            type
    x_c   = q_c - zp_in                                    [-255, 255]                   int32
    sum   = sum_c x_c                                      |sum| <= 255 N < 2^24         int32
    sumsq = sum_c x_c^2                                    <= 65025 N < 2^32             int64
    SS    = N * sumsq - sum^2                              [0, 255^2 N^2] < 2^48         int64
    V     = SS + E                                         [1, 2^62)  (E <= 2^61, refused beyond)
    s     = (62 - bitlen(V)) >> 1 ;  W = V << 2s           W in [2^60, 2^62), s in [0, 30]
    sigma = isqrt(W) = floor(sqrt(W))                      [2^30, 2^31)                  int64
    inv   = (2^61 + (sigma >> 1)) // sigma                 [2^30, 2^31]: 2^61 / sigma rounded
                                                           half up, so 1/sqrt(V) ~ inv * 2^(s - 61)
  per element
    d     = N * x_c - sum                                  |d| <= 510 (N - 1) < 2^25     int32
    t     = d * inv                                        |t| < 2^56                    int64
    zq    = (t + 2^(sh - 1)) >> sh,  sh = 45 - s in [15, 45]: z_c in Q16 (z * 2^16, rounded half up);
            |z_c| <= sqrt(N - 1) (Samuelson's inequality), so |zq| <= 2^16 sqrt(N - 1) + 1 < 2^25
    acc   = zq * gamma_q[c] + (beta_q[c] << 16)            |acc| < 2^48 (the refusal bound below)
    out   = clamp(((acc + 2^31) >> 32) + zp_out, qmin, qmax)   one rounding, half up, as requantize

Build time (layernorm_params, float64 from the float32 values):
    gamma_q[c] = rint(gamma_c / s_out * 2^16)                                   int32, |.| < 2^31
    beta_q[c]  = rint(clip(beta_c / s_out, -BETA_CLIP, BETA_CLIP) * 2^16)       int32
The clip of beta at BETA_CLIP = 2^15 - 1 output steps changes no result: the refusal below keeps
|gamma_c / s_out * z_c| <= GAMMA_BOUND = 2^15 - 512, so a clipped beta leaves |out - zp_out| >= 511 >
255 on the same side, which the clamp saturates either way; and |gamma_q| < 2^31. An all-zero output (s_out = 0) gets gamma_q =
beta_q = 0; an all-zero input (s_in = 0) has d_c = 0 in every row and takes E = 1.

Refused (layernorm_refusal; the quantizer then keeps the float op): a row over MAX_ROW = 65536
elements (the int64 and Q16 bounds above), E > 2^61 (an input scale too small for the epsilon), and
max_c |gamma_c / s_out| * max(1, sqrt(N - 1)) > 2^15 - 512 (an output scale too small for gamma;
calibrated output ranges give about 2^10 at N = 4096).

Error: every step is exact but sigma (floor), inv and zq (half up) and gamma_q / beta_q (build-time
rint). Relative error of inv * 2^(s - 61) against 1/sqrt(V) is below 2^-29; zq is within 2^-17 + |z|
2^-28 of z * 2^16; gamma_q and beta_q are within 2^-17 of their reals. With the refusal bound the
value before the final rounding is within 2^-2 LSB of the exact one in the worst case (a channel at
the gamma bound) and about 2^-10 LSB for usual models (gamma / s_out ~ 30, N = 768), so the output
is the correctly rounded quantization of the float LayerNorm (with epsilon E / N^2 s_in^2) except
where that value lies that close to a rounding tie.

Instructions: the row statistics are scalar int64 (x86 IMUL/ADD, AArch64 SMADDL, Cortex-M
SMLAL); isqrt is the digit-by-digit binary method (32 steps of compare/subtract/shift, identical
on every backend; any exact floor square root gives the same integer) and the division a restoring
loop of 32 steps where the ISA has no 64-bit divide (Cortex-M); per element one 32x32->64 multiply,
one 64-bit shift, one 64x32 multiply-add and a shift (the requantize pattern).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .core import FixedPointError, _check_bounds, _check_range, _ints

MAX_ROW = 65536               # |d| < 2^25, SS < 2^48, |zq| < 2^25: every bound above
Z_FRAC_BITS = 16              # zq = z * 2^16
GAMMA_FRAC_BITS = 16          # gamma_q = gamma / s_out * 2^16
OUT_SHIFT = Z_FRAC_BITS + GAMMA_FRAC_BITS   # 32: acc is in units of 2^-32 output steps
MAX_EPS_Q = 1 << 61           # V = SS + E < 2^48 + 2^61 < 2^62
GAMMA_BOUND = (1 << 15) - 512  # max |gamma / s_out| * max(1, sqrt(N - 1)): |gamma * z / s_out| below it
BETA_CLIP = (1 << 15) - 1     # beta / s_out is clipped here (exact, see the module docstring)
INV_NUMERATOR_BITS = 61       # inv = 2^61 / sigma, rounded
W_BITS = 62                   # W in [2^60, 2^62)


@dataclass(frozen=True)
class LayerNormParams:
    """The integers of one int8 LayerNorm: eps_q = E, gamma_q and beta_q int32 per row element."""
    eps_q: int
    gamma_q: np.ndarray
    beta_q: np.ndarray


def layernorm_eps_q(n: int, eps: float, s_in: float) -> int:
    """E = max(1, ceil(N^2 * eps / s_in^2)), exact on the float32 values of eps and s_in."""
    s = Fraction(float(np.float32(s_in)))
    if s == 0:
        return 1
    e = Fraction(float(np.float32(eps))) * n * n / (s * s)
    return max(1, math.ceil(e))


def layernorm_refusal(n: int, eps: float, s_in: float, gamma, s_out: float) -> str | None:
    """Why this LayerNorm has no integer form (None: it has one). gamma: the float per-element scale."""
    if not 1 <= n <= MAX_ROW:
        return f"a row of {n} elements (the integer LayerNorm takes 1 to {MAX_ROW})"
    if eps < 0 or not math.isfinite(eps):
        return f"epsilon {eps} (must be finite and >= 0)"
    if layernorm_eps_q(n, eps, s_in) > MAX_EPS_Q:
        return (f"input scale {s_in:.3g} too small for epsilon {eps:.3g}: N^2 eps / s_in^2 exceeds 2^61")
    if s_out > 0:
        g = np.abs(np.asarray(gamma, dtype=np.float64)) / np.float64(np.float32(s_out))
        worst = float(g.max(initial=0.0)) * max(1.0, math.sqrt(n - 1))
        if not worst <= GAMMA_BOUND:
            return (f"output scale {s_out:.3g} too small for gamma (max |gamma| / s_out * sqrt(N - 1) = "
                    f"{worst:.3g} > {GAMMA_BOUND})")
    return None


def layernorm_params(n: int, eps: float, s_in: float, gamma, beta, s_out: float) -> LayerNormParams:
    """Build-time integers (module docstring). gamma, beta: float arrays broadcastable to (n,)."""
    why = layernorm_refusal(n, eps, s_in, np.broadcast_to(np.asarray(gamma), (n,)), s_out)
    if why is not None:
        raise FixedPointError(f"layer norm: {why}")
    g = np.broadcast_to(np.asarray(gamma, dtype=np.float32), (n,)).astype(np.float64)
    b = np.broadcast_to(np.asarray(beta, dtype=np.float32), (n,)).astype(np.float64)
    so = np.float64(np.float32(s_out))
    if so == 0:
        zeros = np.zeros(n, np.int32)
        return LayerNormParams(layernorm_eps_q(n, eps, s_in), zeros, zeros.copy())
    gamma_q = np.rint(g / so * 2.0**GAMMA_FRAC_BITS).astype(np.int32)
    beta_q = np.rint(np.clip(b / so, -BETA_CLIP, BETA_CLIP) * 2.0**Z_FRAC_BITS).astype(np.int32)
    return LayerNormParams(layernorm_eps_q(n, eps, s_in), gamma_q, beta_q)


def isqrt_u62(w: int) -> int:
    """floor(sqrt(w)) for 0 <= w < 2^62: the digit-by-digit binary method the backends transcribe
    (bit = 2^62 down to 1 by powers of 4; res + bit < 2^63 throughout)."""
    res, bit = 0, 1 << 62
    while bit:
        if w >= res + bit:
            w -= res + bit
            res = (res >> 1) + bit
        else:
            res >>= 1
        bit >>= 2
    return res


def row_inverse_std(v: int) -> tuple[int, int]:
    """(inv, s) with 1/sqrt(v) ~ inv * 2^(s - 61), for 1 <= v < 2^62 (module docstring)."""
    if not 1 <= v < (1 << W_BITS):
        raise FixedPointError(f"layer norm: V = {v} outside [1, 2^62)")
    s = (W_BITS - v.bit_length()) >> 1
    sigma = isqrt_u62(v << (2 * s))
    inv = ((1 << INV_NUMERATOR_BITS) + (sigma >> 1)) // sigma
    return inv, s


def layer_norm_int8(x, input_zero_point: int, params: LayerNormParams, output_zero_point: int,
                    qmin: int = -128, qmax: int = 127) -> np.ndarray:
    """The integer LayerNorm of each row of x's last axis (the caller flattens the normalized axes
    into it); int8 out. params from layernorm_params(N, ...), N = x.shape[-1]."""
    x = _ints(x, "x")
    _check_range(x, -128, 127, "x (int8)")
    _check_bounds(qmin, qmax)
    n = x.shape[-1]
    if not 1 <= n <= MAX_ROW or params.gamma_q.shape != (n,) or params.beta_q.shape != (n,):
        raise FixedPointError(f"layer norm: a row of {n} elements with gamma_q {params.gamma_q.shape}, "
                              f"beta_q {params.beta_q.shape} (1 to {MAX_ROW}, one each per element)")
    if not 1 <= params.eps_q <= MAX_EPS_Q:
        raise FixedPointError(f"layer norm: eps_q {params.eps_q} outside [1, 2^61]")
    gamma = params.gamma_q.astype(np.int64)
    beta = params.beta_q.astype(np.int64) << Z_FRAC_BITS
    rows = (x - input_zero_point).reshape(-1, n)
    out = np.empty(rows.shape, np.int64)
    for r, xr in enumerate(rows):
        total = int(xr.sum())
        ss = n * int((xr * xr).sum()) - total * total              # exact, < 2^48
        inv, s = row_inverse_std(ss + params.eps_q)
        d = n * xr - total                                          # |d| < 2^25
        sh = 45 - s                                                 # in [15, 45]
        zq = (d * inv + (1 << (sh - 1))) >> sh                      # |d * inv| < 2^56
        acc = zq * gamma + beta                                     # |acc| < 2^48
        out[r] = ((acc + (1 << (OUT_SHIFT - 1))) >> OUT_SHIFT) + output_zero_point
    return np.clip(out, qmin, qmax).reshape(x.shape).astype(np.int8)
