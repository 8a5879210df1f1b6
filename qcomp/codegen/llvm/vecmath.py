"""Vector float32 building blocks for the llvm backend's float kernels (kernels_float_vec.py):
splats, unaligned vector loads and stores, horizontal reductions, and exp / erf as polynomials
that vectorize (no libm call inside a vector loop). Every function takes scalar (F32) or vector
(<L x float>) values alike, so a row's scalar tail runs the same arithmetic as its vector body.
No fast-math flags: each step is one IEEE float32 operation; fused multiply-adds only as explicit
llvm.fma calls, in the functions that targets with FMA instructions use (exp_fma: aarch64;
vecmath_exp.exp_table, erf_table, divide_by: x86 kernels of 16 lanes), so a target's results do not
depend on the compiler's contraction choices.

exp(x), Cephes expf's reduction and polynomial:
  x <- min(x, 88.02969) (n <= 127: 2^n is built in the exponent bits; the kernels call exp on
  x - max <= 0 only);  n = floor(x * log2(e) + 0.5)
  r = (x - n * 0.693359375) - n * (-2.12194440e-4)            (ln 2 split in two: r exact-ish)
  p(r) = ((((1.9875691500e-4 r + 1.3981999507e-3) r + 8.3334519073e-3) r + 4.1665795894e-2) r
          + 1.6666665459e-1) r + 5.0000001201e-1
  exp(x) = (p(r) r^2 + r + 1) * 2^n   (2^n built in the exponent bits: (n + 127) << 23)
  x < -87.3365478515625 (exp(x) < 2^-126, the smallest normal float32): 0 (no denormals; such a
  lane runs the steps on x = 0, so no intermediate is subnormal either).
  Measured max error against float64 exp over [-87.33, 88.02]: 0.97 ulp (a faithful rounding;
  relative error below 8e-8; tests/backends/llvm/test_float_vec.py sweeps the range).

exp_fma(x), the same clamps, reduction and polynomial with fused multiply-adds (aarch64, exp_for(spec);
17 vector operations instead of 33; x86 kernels of 16 lanes take vecmath_exp.exp_table, a 16-entry
table and a cubic, 7 fused multiply-adds instead of 11, 0.63 ulp):
  k = fma(x, log2(e), 1.5 * 2^23 + 127)   (rounded to an integer: k = 1.5 * 2^23 + 127 + n, n = x log2(e)
                                            rounded to nearest; k's low mantissa bits hold n + 127)
  n = k - (1.5 * 2^23 + 127) (exact);  r = fma(n, -0.693359375, x);  r = fma(n, 2.12194440e-4, r)
  p(r): the Horner steps above as fma(p, r, c)
  exp(x) = fma(r, fma(p(r), r, 1), 1) * 2^n   (1 + r (1 + r p(r)): the last step rounded once;
                                              2^n = the bits of k shifted left by 23)
  Measured max error against float64 exp: 0.89 ulp over every float32 in [EXP_LO, 88.02] (all
  2,237,576,847 of them; 0.87 on the test's 2,000,003-point sweep, 0.86 over the Softmax's x - max
  in [-20, 0]); exp above measures 0.98 on the same sweep.

erf(x), the rational approximation of Eigen / XLA's float32 erf:
  x <- clamp(x, -4, 4) (erf(4) rounds to 1.0f);  s = x^2
  erf(x) = x * P(s) / Q(s),  P of degree 6 (alpha_1 .. alpha_13), Q of degree 4 (beta_0 .. beta_8)
  evaluated in float64 lanes (x widened exactly) and rounded to float32 once, as the reference
  rounds its float64 erf. Measured max error against float64 erf over [-5, 5]: 2 ulp of the
  float32 result, 1e-7 absolute (in float32 arithmetic the same rational reaches 7 ulp near
  |x| = 3.6, where erf approaches 1).
  erf_table(x): the same function in float32 arithmetic, piecewise polynomials on 32 intervals
  (erf_table.py: the table, its fit, the evaluation; its Horner steps fused multiply-adds), within
  1.07 ulp; its lookups are AVX-512 permutes, so erf_for(spec) picks it for x86 kernels of 16 lanes (MiniLM's GELU GEMM node took
  0.59 ms with the float64 rational, 0.50 ms with it), erf elsewhere.

Horizontal sums: a vector accumulator holds L lane-wise partial sums (lane l: the elements j with
j mod L == l, in ascending j); the lanes are then added as a halving tree (lanes l and l + L/2,
then l and l + L/4, ...), and the row's scalar tail (the last n mod L elements) is added after,
in ascending order.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from . import erf_table as erf_tab
from . import pipes
from .irgen import F32, F64, I32

LOG2E = 1.44269504088896341
EXP_HI, EXP_LO = 88.02969, -87.3365478515625   # 2^n stays a normal float32: n in [-126, 127]
EXP_C1, EXP_C2 = 0.693359375, -2.12194440e-4
EXP_MAGIC = 12582912.0 + 127.0                 # 1.5 * 2^23 + 127: exp_fma's rounding constant
EXP_POLY = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
            5.0000001201e-1)
ERF_ALPHA = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
             -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02)
ERF_BETA = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
            -1.42647390514189e-02)


def vec(lanes: int, t=F32) -> ir.VectorType:
    return ir.VectorType(t, lanes)


def const(t, v) -> ir.Constant:
    """v as a constant of type t: a scalar, or splat over a vector type (floats rounded to float32
    when the element type is float32)."""
    elem = t.element if isinstance(t, ir.VectorType) else t
    v = float(np.float32(v)) if elem == F32 else v
    if isinstance(t, ir.VectorType):
        return ir.Constant(t, [v] * t.count)
    return ir.Constant(t, v)


def splat(b: ir.IRBuilder, value, lanes: int):
    """A run-time scalar broadcast to <lanes x type>."""
    t = vec(lanes, value.type)
    v = b.insert_element(ir.Constant(t, ir.Undefined), value, ir.Constant(I32, 0))
    return b.shuffle_vector(v, ir.Constant(t, ir.Undefined), ir.Constant(vec(lanes, I32), [0] * lanes))


def _align(t) -> int:
    elem = t.element if isinstance(t, ir.VectorType) else t
    return 8 if elem == F64 else 4


def vload(b: ir.IRBuilder, base, index, t):
    """A value of type t (scalar or vector) at element `index` of base (elements of t's element
    type), aligned to the element only (unaligned vectors)."""
    elem = t.element if isinstance(t, ir.VectorType) else t
    return b.load(b.gep(base, [index], source_etype=elem), typ=t, align=_align(t))


def vstore(b: ir.IRBuilder, value, base, index) -> None:
    t = value.type
    elem = t.element if isinstance(t, ir.VectorType) else t
    b.store(value, b.gep(base, [index], source_etype=elem), align=_align(t))


def fmax(b: ir.IRBuilder, a, c):
    """a > c ? a : c (NaN in a: c), lane-wise."""
    return b.select(b.fcmp_ordered(">", a, c), a, c)


def reduce_tree(b: ir.IRBuilder, v, combine):
    """The lanes of v combined as a halving tree: (l, l + L/2), then (l, l + L/4), ...; a scalar."""
    n = v.type.count
    while n > 1:
        half = n // 2
        lo = b.shuffle_vector(v, v, ir.Constant(vec(half, I32), list(range(half))))
        hi = b.shuffle_vector(v, v, ir.Constant(vec(half, I32), list(range(half, n))))
        v, n = combine(lo, hi), half
    return b.extract_element(v, ir.Constant(I32, 0))


def _intrinsic(mod, name: str, t):
    suffix = f"v{t.count}f32" if isinstance(t, ir.VectorType) else "f32"
    return mod.intrinsic(f"llvm.{name}.{suffix}", t, [t])


def _poly(b: ir.IRBuilder, x, coeffs):
    """Horner: ((c0 x + c1) x + c2) ... (no fused multiply-add)."""
    t = x.type
    p = const(t, coeffs[0])
    for c in coeffs[1:]:
        p = b.fadd(b.fmul(p, x), const(t, c))
    return p


def _exp_clamps(b: ir.IRBuilder, x, small, nonpositive: bool):
    """(x < EXP_LO, x clamped to EXP_HI): `small` given by a caller that has compared already, the
    clamp left out when the caller knows x <= 0 or NaN (the select would return x itself)."""
    t = x.type
    small = b.fcmp_ordered("<", x, const(t, EXP_LO)) if small is None else small
    if not nonpositive:
        x = b.select(b.fcmp_ordered(">", x, const(t, EXP_HI)), const(t, EXP_HI), x)
    return small, x


def exp(mod, b: ir.IRBuilder, x, small=None, nonpositive: bool = False):
    """exp(x) on float32 lanes (module docstring: reduction, polynomial, error). small: x < EXP_LO if
    the caller has it; nonpositive: x <= 0 or NaN in every lane (Softmax's x - max), the same values
    without the clamp to EXP_HI."""
    t = x.type
    it = vec(t.count, I32) if isinstance(t, ir.VectorType) else I32
    small, x = _exp_clamps(b, x, small, nonpositive)
    # a lane below EXP_LO returns 0 (the select at the end) whatever it computes: it computes exp(0),
    # not exp(EXP_LO), whose last product y * 2^-126 is subnormal (a microcode assist per lane on x86:
    # an attention mask's -10000 entries made Softmax 1.8x slower)
    x = b.select(small, const(t, 0.0), x)
    n = b.call(_intrinsic(mod, "floor", t), [b.fadd(b.fmul(x, const(t, LOG2E)), const(t, 0.5))])
    r = b.fsub(b.fsub(x, b.fmul(n, const(t, EXP_C1))), b.fmul(n, const(t, EXP_C2)))
    p = _poly(b, r, EXP_POLY)
    y = b.fadd(b.fadd(b.fmul(p, b.fmul(r, r)), r), const(t, 1.0))
    two_n = b.bitcast(b.shl(b.add(b.fptosi(n, it), const(it, 127)), const(it, 23)), t)
    return b.select(small, const(t, 0.0), b.fmul(y, two_n))


def _fma(mod, b: ir.IRBuilder, a, c, d):
    """a * c + d rounded once (llvm.fma: an instruction where the target has FMA)."""
    t = a.type
    suffix = f"v{t.count}f32" if isinstance(t, ir.VectorType) else "f32"
    return b.call(mod.intrinsic(f"llvm.fma.{suffix}", t, [t, t, t]), [a, c, d])


def exp_fma(mod, b: ir.IRBuilder, x, small=None, nonpositive: bool = False):
    """exp(x) on float32 lanes with fused multiply-adds (module docstring: "exp_fma"): exp's clamps,
    reduction and polynomial, each multiply-add rounded once, n and 2^n from one magic-number sum.
    small, nonpositive: as exp's."""
    t = x.type
    it = vec(t.count, I32) if isinstance(t, ir.VectorType) else I32
    small, x = _exp_clamps(b, x, small, nonpositive)
    x = b.select(small, const(t, 0.0), x)           # as exp: no subnormal intermediate in a masked lane
    k = _fma(mod, b, x, const(t, LOG2E), const(t, EXP_MAGIC))   # 1.5 * 2^23 + 127 + round(x log2 e)
    n = b.fsub(k, const(t, EXP_MAGIC))                           # round(x log2 e), exact
    r = _fma(mod, b, n, const(t, -EXP_C1), x)
    r = _fma(mod, b, n, const(t, -EXP_C2), r)
    p = const(t, EXP_POLY[0])
    for c in EXP_POLY[1:]:
        p = _fma(mod, b, p, r, const(t, c))
    y = _fma(mod, b, r, _fma(mod, b, p, r, const(t, 1.0)), const(t, 1.0))
    two_n = b.bitcast(b.shl(b.bitcast(k, it), const(it, 23)), t)   # the low bits of k: n + 127
    return b.select(small, const(t, 0.0), b.fmul(y, two_n))


def exp_for(spec):
    """The exp of a kernel of this DotSpec: vecmath_exp.exp_table on x86 with 16 lanes (AVX-512: its
    table lookups are vpermt2ps, 7 of its operations on the FMA pipes against exp_fma's 11), exp_fma
    on aarch64 (NEON's fmla / fmadd), where its multiply-adds are instructions, else exp (x86-avx2 has
    no FMA feature: llvm.fma would be a libm call per lane). A target's Softmax node and the fused
    DynamicAttention call the same one."""
    if spec.arch == "x86" and spec.lanes == 16:
        from .vecmath_exp import exp_table      # vecmath_exp builds on this module's helpers
        return exp_table
    return exp_fma if spec.arch == "aarch64" else exp


def erf(mod, b: ir.IRBuilder, x):
    """erf(x) on float32 lanes, the rational evaluated in float64 lanes and rounded once (module
    docstring: the approximation, its error)."""
    t = x.type
    wide = vec(t.count, F64) if isinstance(t, ir.VectorType) else F64
    x = b.fpext(x, wide)
    x = b.select(b.fcmp_ordered(">", x, const(wide, 4.0)), const(wide, 4.0), x)
    x = b.select(b.fcmp_ordered("<", x, const(wide, -4.0)), const(wide, -4.0), x)
    s = b.fmul(x, x)
    p = b.fmul(x, _poly(b, s, ERF_ALPHA))
    q = _poly(b, s, ERF_BETA)
    return b.fptrunc(b.fdiv(p, q), t)


_ERF_COLUMNS = ("U", "HI", "LO", "M") + tuple(f"A{d}" for d in range(erf_tab.DEGREE, 0, -1))


def _erf_lookup(mod, b: ir.IRBuilder, i):
    """column -> its entry i of erf_table (i: int32 lanes in [0, 16)): a permute of one register
    (vpermps) on 16 lanes, a load from one constant global for a scalar. On 16 lanes M comes as
    "MBITS", int32 lanes of all ones where M = 1 (interval 0) and 0 where M = 0 (vpermd)."""
    cols = [getattr(erf_tab, f"ERF_{c}") for c in _ERF_COLUMNS]
    if not isinstance(i.type, ir.VectorType):
        def make():
            t = ir.ArrayType(ir.ArrayType(F32, erf_tab.INTERVALS), len(cols))
            g = ir.GlobalVariable(mod.m, t, "erf_table")
            g.initializer = ir.Constant(t, [ir.Constant(t.element, [float(np.float32(v)) for v in c])
                                            for c in cols])
            g.global_constant = True
            g.linkage = "internal"
            return g
        g = mod.shared(("erf_table",), make)
        zero = ir.Constant(I32, 0)
        return {c: b.load(b.gep(g, [zero, ir.Constant(I32, k), i], inbounds=True), typ=F32, align=4)
                for k, c in enumerate(_ERF_COLUMNS)}
    vf, vi = vec(16), vec(16, I32)
    perm = mod.intrinsic("llvm.x86.avx512.permvar.sf.512", vf, [vf, vi])
    out = {c: b.call(perm, [ir.Constant(vf, [float(np.float32(v)) for v in col]), i])
           for c, col in zip(_ERF_COLUMNS, cols) if c != "M"}
    permd = mod.intrinsic("llvm.x86.avx512.permvar.si.512", vi, [vi, vi])
    out["MBITS"] = b.call(permd, [ir.Constant(vi, [-1 if m == 1.0 else 0 for m in erf_tab.ERF_M]), i])
    return out


def erf_table(mod, b: ir.IRBuilder, x):
    """erf(x) on float32 lanes in float32 arithmetic: a piecewise polynomial from erf_table.py (its
    docstring: intervals, evaluation, error <= 1.07 ulp). x is a scalar or <16 x float> (the
    table lookups are AVX-512 permutes): kernels with 16 lanes on x86 call it for their vector
    bodies and scalar tails alike, which then compute the same values.
    The vector body keeps off the FMA pipes that a GEMM's vpdpbusd fills (pipes.py), with the same
    values: floor(4 y) from pipes.times4; (p + LO) + M d as p + X, X = bits(LO) | (bits(d) & MBITS)
    (interval 0: LO = 0 and M = 1, so X = d; elsewhere M d = +-0, and adding a zero changes only a
    -0 sum, which + HI > 0 makes moot); and NaN is carried through the arithmetic instead of
    selected: y = min(|x|, 4) keeps a NaN, times4 makes it an index of 0, and every later step
    returns that NaN (x's payload, |x|'s sign, quiet), which copysign gives x's sign: x itself for
    a quiet NaN (a signalling one comes back quiet). Compared with the previous steps on all 2^32
    float32 inputs: the same bits for every input but the 8,388,606 signalling NaNs.
    """
    t = x.type
    if isinstance(t, ir.VectorType) and t.count != 16:
        raise ValueError(f"erf_table: {t} (16 lanes or a scalar)")
    if not isinstance(t, ir.VectorType):
        return _erf_table_scalar(mod, b, x)
    it = vec(16, I32)
    y = b.call(_intrinsic(mod, "fabs", t), [x])
    y = b.select(b.fcmp_unordered("<", y, const(t, 4.0)), y, const(t, 4.0))     # inf -> 4, NaN kept
    i = b.fptosi(pipes.times4(b, y), it)                                        # floor(y / WIDTH)
    i = b.select(b.icmp_signed(">", i, const(it, erf_tab.INTERVALS - 1)), const(it, erf_tab.INTERVALS - 1), i)
    c = _erf_lookup(mod, b, i)
    d = b.fsub(y, c["U"])
    p = c[_ERF_COLUMNS[4]]
    for k in _ERF_COLUMNS[5:]:
        p = _fma(mod, b, p, d, c[k])
    p = b.fmul(p, d)
    lo_or_d = b.or_(b.bitcast(c["LO"], it), b.and_(b.bitcast(d, it), c["MBITS"]))
    r = b.fadd(b.fadd(p, b.bitcast(lo_or_d, t)), c["HI"])
    r = b.select(b.fcmp_ordered(">", r, const(t, 1.0)), const(t, 1.0), r)
    return b.call(mod.intrinsic("llvm.copysign.v16f32", t, [t, t]), [r, x])


def _erf_table_scalar(mod, b: ir.IRBuilder, x):
    """erf_table on one float32 (a 16-lane kernel's scalar tail): the docstring's steps as written."""
    t = x.type
    y = b.call(_intrinsic(mod, "fabs", t), [x])
    y = b.select(b.fcmp_ordered("<", y, const(t, 4.0)), y, const(t, 4.0))      # NaN, inf -> 4
    i = b.fptosi(b.fmul(y, const(t, 1.0 / erf_tab.WIDTH)), I32)
    i = b.select(b.icmp_signed(">", i, const(I32, erf_tab.INTERVALS - 1)), const(I32, erf_tab.INTERVALS - 1), i)
    c = _erf_lookup(mod, b, i)
    d = b.fsub(y, c["U"])
    p = c[_ERF_COLUMNS[4]]
    for k in _ERF_COLUMNS[5:]:
        p = _fma(mod, b, p, d, c[k])
    p = b.fmul(p, d)
    r = b.fadd(b.fadd(b.fadd(p, c["LO"]), b.fmul(c["M"], d)), c["HI"])
    r = b.select(b.fcmp_ordered(">", r, const(t, 1.0)), const(t, 1.0), r)
    r = b.call(mod.intrinsic("llvm.copysign.f32", t, [t, t]), [r, x])
    return b.select(b.fcmp_unordered("uno", x, x), x, r)


def erf_for(spec):
    """The erf of a kernel of this DotSpec: erf_table on x86 with 16 lanes (AVX-512), else erf (the
    float64 rational). A target's Erf nodes and fused GELU epilogues all call the same one."""
    return erf_table if spec.arch == "x86" and spec.lanes == 16 else erf


def divide_by(mod, b: ir.IRBuilder, a, d, r):
    """a / d correctly rounded (float64 or float32 lanes, or a scalar), given r = 1/d correctly rounded:
    Markstein's correction, q = a r (within 1 ulp of a / d), e = fma(-q, d, a) (exact), then fma(e, r, q),
    which is a / d rounded to nearest when no step overflows or underflows (P. Markstein, IBM J. Res.
    Dev. 34, 1990). Three multiply-adds instead of a division per lane. In float32 that condition is the
    caller's to check: it holds when d and q are in [2^-100, 2^100] in magnitude and |a| >= 2^-100
    (then r and q are normal and e, a multiple of 2^(e_a - 47), is representable); a = -0.0 gives +0.0
    (the division: -0.0). Measured on Zen 4, 16 lanes, a loop of load, divide, store: 6.1 cycles per
    vector with vdivps, 3.5 with this (2.0 with a multiply alone: the store's)."""
    t = a.type
    elem = t.element if isinstance(t, ir.VectorType) else t
    kind = "f32" if isinstance(elem, ir.FloatType) else "f64"
    suffix = f"v{t.count}{kind}" if isinstance(t, ir.VectorType) else kind
    fma = mod.intrinsic(f"llvm.fma.{suffix}", t, [t, t, t])
    q = b.fmul(a, r)
    e = b.call(fma, [b.fneg(q), d, a])
    return b.call(fma, [e, r, q])


def divide_for(spec):
    """a / d of a kernel of this DotSpec, given r = 1/d: divide_by on x86 with 16 lanes (AVX-512: its
    fused multiply-adds are instructions), the division itself elsewhere (x86-avx2 has no FMA
    feature: llvm.fma would be a libm call per lane). Both give the same, correctly rounded value."""
    if spec.arch == "x86" and spec.lanes == 16:
        return divide_by
    return lambda mod, b, a, d, r: b.fdiv(a, d)
