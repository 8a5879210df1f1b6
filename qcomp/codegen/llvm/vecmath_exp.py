"""exp_table: float32 exp for the x86 kernels of 16 lanes (AVX-512), a 16-entry table and a cubic.

vecmath.exp_fma puts 12 of its vector operations (with the caller's compare) on Zen 4's FP0 / FP1, the
pipes that the fused multiply-adds and a GEMM's vpdpbusd share (pipes.py); the Softmax rows
(kernels_float_softmax.py) wait on them. This exp puts 8 there, the rest on the adders' pipes and the
integer / permute units:

  x <- min(x, EXP_HI) (left out when the caller knows x <= 0 or NaN);  x < EXP_LO: +0.0 (the result
       selected; the steps run on x = 0, so no intermediate is subnormal: vecmath.exp's reason)
  k = fma(x, 16 / ln 2, 1.5 * 2^23)      rounded to an integer: k = 1.5 * 2^23 + n, n = round(16 x / ln 2)
  n = k - 1.5 * 2^23 (exact);  n = 16 m + j, j in [0, 16) (the low 4 bits of k), m = floor(n / 16)
  r = fma(n, -C1, x)                     C1 = ln 2 / 16 rounded to float32: |r| <= ln 2 / 32 + 2e-6
  e = fma(n, -C2, L[j])                  C2 = ln 2 / 16 - C1 rounded (-1.19e-10): d = -n C2 (|d| < 2.4e-7)
                                         is the rest of the reduction, r + d = x - n ln 2 / 16;
                                         L[j] = (2^(j/16) - T[j]) / T[j] rounded, T[j] = 2^(j/16) rounded
  p = fma(fma(fma(r, A3, A2), r, 1), r, e)   = r + A2 r^2 + A3 r^3 + d + L[j]
  S = T[j] 2^m as integer bits: U[j] + (bits(k) << 19), U[j] = bits(T[j]) - (j << 19) (mod 2^32:
       bits(k) << 19 = n << 19 = (m << 23) + (j << 19), as 1.5 * 2^23 << 19 = 0; U[j] takes the j back;
       T[j] in [1, 2) and m in [-126, 127] keep S a normal float32, T[j] 2^m exactly)
  exp(x) = fma(S, p, S)                  2^(m + j/16) (1 + L[j]) (1 + expm1(r) + d) rounded once

A2, A3: the minimax cubic of expm1(r) - r over |r| <= ln 2 / 32 + 1e-5 (relative error, a linear
program over 20,001 points), rounded to float32: within 1.6e-9 of exp(r) (the Taylor 1/2, 1/6: 9.4e-9).
The last fma's rounding is the only one near an ulp; the terms left out (r d and r L[j] below 5.2e-9
relative, the cubic's 1.6e-9, the roundings of r, e and of the inner fmas below 2e-9) stay within 0.2
ulp of the result (relative ulp >= 2^-24). Measured against float64 exp over every float32 in
[EXP_LO, EXP_HI], all 2,237,578,118 of them (and -0.0): max 0.628 ulp, 3,033,546 results not the correctly
rounded float32 (vecmath.exp_fma: 0.894 ulp, 10,179,718). exp(0) = fma(1, +0, 1) = 1 exactly; NaN
stays NaN (p NaN); -inf gives +0.0, +inf exp(EXP_HI); x = EXP_LO, whose exp is below 2^-126, comes out
subnormal, rounded once by the last fma from the normal S.

On 16 lanes U[j] and L[j] are two vpermps of one register each (the index's low 4 bits select), S one
shift and one integer add. A scalar (a row's tail) runs the same steps with loads from a constant
global for the permutes, so it gives the vector lanes' values bit for bit.
"""
from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np
from llvmlite import ir

from .irgen import F32, I32
from .vecmath import EXP_HI, _exp_clamps, _fma, const, vec

ENTRIES = 16                               # table entries: j = n mod 16, one vpermps register
SHIFT = 23 - 4                             # bits(k) << SHIFT = (m << 23) + (j << SHIFT)
EXP_TAB_MAGIC = 12582912.0                 # 1.5 * 2^23: k's unit is 1, n in its low mantissa bits
EXP_TAB_A2, EXP_TAB_A3 = 0.5000161528587341, 0.166667178273201     # float32 minimax (docstring)


def _constants():
    """(K = 16 / ln 2, C1, C2, U[j] as int32, L[j] as float32) from ln 2 and 2^(j/16) to 40 digits."""
    with localcontext() as ctx:
        ctx.prec = 40
        step = Decimal(2).ln() / ENTRIES
        c1 = np.float32(float(step))
        c2 = np.float32(float(step - Decimal(float(c1))))
        exact = [Decimal(2) ** (Decimal(j) / ENTRIES) for j in range(ENTRIES)]
        t = np.array([float(v) for v in exact]).astype(np.float32)
        lo = np.array([float((v - Decimal(float(h))) / Decimal(float(h))) for v, h in zip(exact, t)]).astype(np.float32)
        k = np.float32(float(1 / step))
    u = (t.view(np.int32).astype(np.int64) - (np.arange(ENTRIES) << SHIFT)).astype(np.int32)
    return float(k), float(c1), float(c2), u, lo


EXP_K, EXP_TAB_C1, EXP_TAB_C2, EXP_U, EXP_L = _constants()
# m = floor(n / 16) <= 127 for every x <= EXP_HI (n = round(EXP_HI K) = 2032), so S stays finite
assert round(EXP_HI * EXP_K) < 128 * ENTRIES


def _lookup(mod, b: ir.IRBuilder, k_bits):
    """(U[j] as int32, L[j]) for j = k_bits mod 16: on 16 lanes two vpermps (they read the index's low
    4 bits), on a scalar two loads from one constant global."""
    if isinstance(k_bits.type, ir.VectorType):
        vf, vi = vec(16), vec(16, I32)
        perm = mod.intrinsic("llvm.x86.avx512.permvar.sf.512", vf, [vf, vi])
        u, lo = (b.call(perm, [ir.Constant(vf, [float(v) for v in col]), k_bits])
                 for col in (EXP_U.view(np.float32), EXP_L))
        return b.bitcast(u, vi), lo

    def make():
        t = ir.ArrayType(ir.ArrayType(F32, ENTRIES), 2)
        g = ir.GlobalVariable(mod.m, t, "exp_table")
        g.initializer = ir.Constant(t, [ir.Constant(t.element, [float(v) for v in col])
                                        for col in (EXP_U.view(np.float32), EXP_L)])
        g.global_constant = True
        g.linkage = "internal"
        return g
    g = mod.shared(("exp_table",), make)
    j = b.and_(k_bits, ir.Constant(I32, ENTRIES - 1))
    zero = ir.Constant(I32, 0)
    u, lo = (b.load(b.gep(g, [zero, ir.Constant(I32, col), j], inbounds=True), typ=F32, align=4) for col in (0, 1))
    return b.bitcast(u, I32), lo


def exp_table(mod, b: ir.IRBuilder, x, small=None, nonpositive: bool = False):
    """exp(x) on <16 x float> or a scalar float32 (module docstring: the steps, their error). small:
    x < EXP_LO if the caller has it; nonpositive: x <= 0 or NaN in every lane (Softmax's x - max),
    the same values without the clamp to EXP_HI."""
    t = x.type
    if isinstance(t, ir.VectorType) and t.count != 16:
        raise ValueError(f"exp_table: {t} (16 lanes or a scalar)")
    it = vec(16, I32) if isinstance(t, ir.VectorType) else I32
    small, x = _exp_clamps(b, x, small, nonpositive)
    x = b.select(small, const(t, 0.0), x)
    k = _fma(mod, b, x, const(t, EXP_K), const(t, EXP_TAB_MAGIC))
    n = b.fsub(k, const(t, EXP_TAB_MAGIC))
    k_bits = b.bitcast(k, it)
    u, lo = _lookup(mod, b, k_bits)
    r = _fma(mod, b, n, const(t, -EXP_TAB_C1), x)
    e = _fma(mod, b, n, const(t, -EXP_TAB_C2), lo)
    q = _fma(mod, b, _fma(mod, b, r, const(t, EXP_TAB_A3), const(t, EXP_TAB_A2)), r, const(t, 1.0))
    p = _fma(mod, b, q, r, e)
    scale = b.bitcast(b.add(u, b.shl(k_bits, const(it, SHIFT))), t)      # T[j] 2^m, exact
    return b.select(small, const(t, 0.0), _fma(mod, b, scale, p, scale))
