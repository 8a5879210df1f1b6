"""Integer LayerNorm with int16 activations (A16W8): int16 in, int16 or int8 out, over one row.

The int8 LayerNorm (layernorm.py) holds the argument: LayerNorm is invariant to the input scale,
so with the int16 codes x_c = q_c (zero point 0, section 3.1), N the row length,
sum = sum_c x_c and SS = N * sum_c x_c^2 - sum^2 = N^2 var(x) (exact, >= 0),

    z_c = (r_c - mean(r)) / sqrt(var(r) + eps) = d_c / sqrt(SS + E),   d_c = N x_c - sum,

E = max(1, ceil(N^2 eps / s_in^2)) (layernorm.layernorm_eps_q, the same exact rational rounding).
The same integer 1/sqrt (layernorm.row_inverse_std: V in [1, 2^62) -> inv in [2^30, 2^31], s in
[0, 30], 1/sqrt(V) ~ inv * 2^(s - 61), relative error < 2^-29) serves both. What changes is the
width of every statistic, and so the row limit, and the output side, which may be int16:

  per row                                              range (N <= MAX_ROW16 = 32768)   type
    x_c   = q_c                                        [-32768, 32767]                  int16
    sum   = sum_c x_c                                  |sum| <= 2^15 N <= 2^30          int64
    sumsq = sum_c x_c^2                                <= 2^30 N <= 2^45                int64 (int32 cannot:
                                                       two int16 squares already exceed 2^31)
    SS    = N * sumsq - sum^2                          [0, N^2 65535^2 / 4] < 2^60      int64
    V     = SS + E                                     [1, 2^62)  (E <= 2^61, refused beyond)
    inv, s = row_inverse_std(V)                        as layernorm.py
  per element
    d     = N * x_c - sum                              |d| <= 65535 (N - 1) < 2^31      int64
    t     = d * inv                                    |t| < 2^31 * 2^31 = 2^62         int64
    zq    = (t + 2^(sh - 1)) >> sh,  sh = 39 - s in [9, 39]: z_c in Q22 (z * 2^22, rounded half up);
            |z_c| <= sqrt(N - 1) < 2^7.5 (Samuelson's inequality), so |zq| < 2^30
    acc   = zq * gamma_q[c] + beta_q[c]                |acc| < 2^30 * 2^31 + 2^61 = 2^62  int64
    out   = clamp(((acc + 2^37) >> 38) + zp_out, qmin, qmax)   one rounding, half up

The row limit is the statistics': with N = 65536 (the int8 limit) SS reaches 2^62 and V leaves the
range of row_inverse_std, so rows over 32768 elements are refused by name (layernorm16_refusal).

Build time (layernorm16_params, float64 from the float32 values), g_c = gamma_c / s_out and
b_c = beta_c / s_out in output steps:
    gamma_q[c] = rint(g_c * 2^16)                                   int32: |g_c| <= GAMMA_MAX16 = 2^15 - 1
    beta_q[c]  = rint(clip(b_c, -BETA_CLIP16, BETA_CLIP16) * 2^38)  int64: |beta_q| <= 2^61
The product zq * gamma_q is in units of 2^-38 output steps (Q22 x Q16), beta_q directly so (no
shift at run time). Output steps are those of an int16 output (zero point 0, [qmin, qmax] within
[-32768, 32767]) or of an int8 one (any zero point): the arithmetic is the same, only the clamp and
the stored type differ. The clip of beta changes no result: |g_c z_c| <= GAMMA_MAX16 sqrt(N - 1)
< 2^22.5, so a clipped beta (|b_c| > BETA_CLIP16 = 2^23) leaves |out - zp_out| > 2^23 - 2^22.5 >
2^21, far beyond every clamp bound on the same side. An all-zero output (s_out = 0) gets gamma_q =
beta_q = 0; an all-zero input (s_in = 0) has d_c = 0 in every row and takes E = 1.

Refused (layernorm16_refusal; the quantizer then keeps the int8 LayerNorm, or the float op): a row
over MAX_ROW16 = 32768 elements, E > 2^61 (an input scale too small for the epsilon), and
max_c |gamma_c / s_out| > GAMMA_MAX16 = 2^15 - 1 (one standard deviation spanning more than the
whole int16 range: an output scale far too small for gamma; a calibrated int16 output has about
2^11 = 32767 / max |z|).

Error: every step is exact but sigma, inv and zq (rounding) and gamma_q / beta_q (build time). zq
is within 2^-23 + |z| 2^-29 of z * 2^22 (in z units: 2^-23 |g| output steps <= 2^-8), gamma_q
within 2^-17 of g * 2^16 (|z| 2^-17 <= 2^-9.5 steps), so the value before the final rounding is
within 2^-6 output steps of the exact one (about 2^-12 for a calibrated int16 output, |g| ~ 2^11):
the output is the correctly rounded quantization of the float LayerNorm (with epsilon
E / N^2 s_in^2) except where that value lies that close to a rounding tie.

Instructions: as layernorm.py (scalar int64 statistics: x86 IMUL/ADD, AArch64 SMADDL, Cortex-M
SMLAL; the digit-by-digit isqrt and one division per row; per element one 64-bit multiply, a shift,
one 64 x 32 multiply-add and the rounding shift).
"""
from __future__ import annotations

import math

import numpy as np

from .core import FixedPointError, _check_bounds, _check_range, _ints
from .layernorm import MAX_EPS_Q, LayerNormParams, layernorm_eps_q, row_inverse_std

MAX_ROW16 = 32768              # SS < 2^60, |d| < 2^31, |zq| < 2^30: every bound above
Z_FRAC_BITS16 = 22             # zq = z * 2^22
GAMMA_FRAC_BITS16 = 16         # gamma_q = gamma / s_out * 2^16
OUT_SHIFT16 = Z_FRAC_BITS16 + GAMMA_FRAC_BITS16   # 38: acc is in units of 2^-38 output steps
ZQ_SHIFT16 = 61 - Z_FRAC_BITS16   # 39: sh = 39 - s
GAMMA_MAX16 = (1 << 15) - 1    # max |gamma / s_out|: gamma_q fits int32
BETA_CLIP16 = 1 << 23          # beta / s_out is clipped here (exact, see the module docstring)


def layernorm16_refusal(n: int, eps: float, s_in: float, gamma, s_out: float) -> str | None:
    """Why this int16 LayerNorm has no integer form (None: it has one). gamma: the float per-element scale."""
    if not 1 <= n <= MAX_ROW16:
        return (f"a row of {n} elements (the int16 LayerNorm takes 1 to {MAX_ROW16}: N * sum(x^2) of int16 "
                f"values must stay below 2^60)")
    if eps < 0 or not math.isfinite(eps):
        return f"epsilon {eps} (must be finite and >= 0)"
    if layernorm_eps_q(n, eps, s_in) > MAX_EPS_Q:
        return f"input scale {s_in:.3g} too small for epsilon {eps:.3g}: N^2 eps / s_in^2 exceeds 2^61"
    if s_out > 0:
        g = np.abs(np.asarray(gamma, dtype=np.float64)) / np.float64(np.float32(s_out))
        worst = float(g.max(initial=0.0))
        if not worst <= GAMMA_MAX16:
            return (f"output scale {s_out:.3g} too small for gamma (max |gamma| / s_out = {worst:.3g} > "
                    f"{GAMMA_MAX16})")
    return None


def layernorm16_params(n: int, eps: float, s_in: float, gamma, beta, s_out: float) -> LayerNormParams:
    """Build-time integers (module docstring): eps_q, gamma_q int32[n] (Q16), beta_q int64[n] (Q38)."""
    why = layernorm16_refusal(n, eps, s_in, np.broadcast_to(np.asarray(gamma), (n,)), s_out)
    if why is not None:
        raise FixedPointError(f"int16 layer norm: {why}")
    g = np.broadcast_to(np.asarray(gamma, dtype=np.float32), (n,)).astype(np.float64)
    b = np.broadcast_to(np.asarray(beta, dtype=np.float32), (n,)).astype(np.float64)
    so = np.float64(np.float32(s_out))
    eps_q = layernorm_eps_q(n, eps, s_in)
    if so == 0:
        return LayerNormParams(eps_q, np.zeros(n, np.int32), np.zeros(n, np.int64))
    gamma_q = np.rint(g / so * 2.0**GAMMA_FRAC_BITS16).astype(np.int32)
    beta_q = np.rint(np.clip(b / so, -BETA_CLIP16, BETA_CLIP16) * 2.0**OUT_SHIFT16).astype(np.int64)
    return LayerNormParams(eps_q, gamma_q, beta_q)


def layer_norm_int16(x, params: LayerNormParams, output_zero_point: int = 0, qmin: int = -32768,
                     qmax: int = 32767) -> np.ndarray:
    """The int16 LayerNorm of each row of x's last axis (the caller flattens the normalized axes
    into it); int64 out, in [qmin, qmax] (the caller stores int16 or int8). params from
    layernorm16_params(N, ...), N = x.shape[-1]."""
    x = _ints(x, "x")
    _check_range(x, -32768, 32767, "x (int16)")
    _check_bounds(qmin, qmax)
    n = x.shape[-1]
    if not 1 <= n <= MAX_ROW16 or params.gamma_q.shape != (n,) or params.beta_q.shape != (n,):
        raise FixedPointError(f"int16 layer norm: a row of {n} elements with gamma_q {params.gamma_q.shape}, "
                              f"beta_q {params.beta_q.shape} (1 to {MAX_ROW16}, one each per element)")
    if not 1 <= params.eps_q <= MAX_EPS_Q:
        raise FixedPointError(f"int16 layer norm: eps_q {params.eps_q} outside [1, 2^61]")
    gamma = params.gamma_q.astype(np.int64)
    _check_range(gamma, -(GAMMA_MAX16 << GAMMA_FRAC_BITS16), GAMMA_MAX16 << GAMMA_FRAC_BITS16, "gamma_q")
    beta = params.beta_q.astype(np.int64)
    _check_range(beta, -(BETA_CLIP16 << OUT_SHIFT16), BETA_CLIP16 << OUT_SHIFT16, "beta_q")
    rows = x.reshape(-1, n)
    out = np.empty(rows.shape, np.int64)
    for r, xr in enumerate(rows):
        total = int(xr.sum())                                       # |sum| <= 2^30
        ss = n * int((xr * xr).sum()) - total * total               # exact, < 2^60
        inv, s = row_inverse_std(ss + params.eps_q)
        d = n * xr - total                                          # |d| < 2^31
        sh = ZQ_SHIFT16 - s                                         # in [9, 39]
        zq = (d * inv + (1 << (sh - 1))) >> sh                      # |d * inv| < 2^62, |zq| < 2^30
        acc = zq * gamma + beta                                     # |acc| < 2^62
        out[r] = ((acc + (1 << (OUT_SHIFT16 - 1))) >> OUT_SHIFT16) + output_zero_point
    return np.clip(out, qmin, qmax).reshape(x.shape)
