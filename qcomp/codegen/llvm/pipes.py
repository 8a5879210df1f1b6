"""Float32 steps of the 16-lane x86 erf (GELU epilogue) in integer forms that stay off Zen 4's FP0 / FP1.

A GEMM tile's vpdpbusd instructions fill FP0 and FP1 (one zmm a cycle), and in a fused epilogue
(DynamicDenseGelu's GELU, vecmath.erf_table) every multiply, fused multiply-add and compare into
a mask register competes with them for those two pipes. Measured on Zen 4, 8 independent vpdpbusd
zmm a loop iteration (8.1 cycles) plus 4 zmm operations of one kind: vmulps, vfmadd, vcmpps -> k,
vptestnmd +4 cycles; vpternlogd +1.2; vaddps, vminps, vpermd, vcvt*, vpandd, vpord, vpaddd, vpsubd,
vpmaxsd, vblendmps +0.0 to +0.5 (vscalefps is no way out: one per 2 cycles, on the adders' pipes).
The helpers below give exactly the float value of the step they replace, for every input they
can get, without those pipes:

  times4(y) = 4 y for y in [0, 4] or NaN, as float32 bits + (2 << 23) (the exponent plus 2): exact
      for a normal y; y = 0 or subnormal gives a normal number below 2^-124 where 4 y < 1, so its
      truncation to an integer is 0 either way; a NaN's bits overflow into the sign, a negative
      number of magnitude below 2^-124 (truncates to 0): for the truncation only, the caller's use.
  half(m) = m * 0.5 rounded once, as vscalefps(m, -1) (SCALEF(x, k) = x * 2^floor(k), rounded
      like the multiply; NaN, infinities, zeros and subnormals alike). It runs one per 2 cycles on
      the adders' pipes: a loss where those are busy, a gain where vpdpbusd fills FP0 / FP1 (the
      pipelined GELU, kernels_pipelined.py: 0.4225 -> 0.4173 ms a MiniLM node).

With it and erf_table's other integer steps, MiniLM's DynamicDenseGelu went from 0.459 to 0.449 ms
(1 thread), against 0.364 with the GELU left out of the epilogue: in a tile's epilogue after its
depth loop the FMA pipes are not what the rest waits on. Measured and not kept (exact, but no
faster): h / sqrt 2 as fma(h, zh, h zl) (the correctly rounded quotient for |h| >= 2^-99, checked
on every mantissa: the same two FP0 / FP1 cycles as vdivps). Not exact, so dropped: (h a) / 2 as h (a / 2) with a / 2 in integers (h a overflows to
inf for h >= 2^127 where h (a / 2) does not). What did pay: the epilogue moved into the next
tile's depth loop (kernels_pipelined.py).
"""
from __future__ import annotations

from llvmlite import ir

from .irgen import I32


def _splat(t, v: int):
    return ir.Constant(t, [v] * t.count) if isinstance(t, ir.VectorType) else ir.Constant(t, v)


def _int_type(t):
    return ir.VectorType(I32, t.count) if isinstance(t, ir.VectorType) else I32


def times4(b: ir.IRBuilder, y):
    """4 y where its integer truncation is used, y in [0, 4] or NaN (module docstring)."""
    it = _int_type(y.type)
    return b.bitcast(b.add(b.bitcast(y, it), _splat(it, 2 << 23)), y.type)


def half(mod, b: ir.IRBuilder, m):
    """m * 0.5 rounded once on <16 x float>: vscalefps(m, -1) (module docstring)."""
    t = m.type
    if not isinstance(t, ir.VectorType) or t.count != 16:
        raise ValueError(f"half: {t} (16 lanes)")
    i16 = ir.IntType(16)
    f = mod.intrinsic("llvm.x86.avx512.mask.scalef.ps.512", t, [t, t, t, i16, I32])
    # all 16 lanes written (mask -1, the pass-through unused), the rounding of MXCSR (4: CUR_DIRECTION)
    return b.call(f, [m, ir.Constant(t, [-1.0] * 16), ir.Constant(t, [0.0] * 16), ir.Constant(i16, -1),
                      ir.Constant(I32, 4)])
