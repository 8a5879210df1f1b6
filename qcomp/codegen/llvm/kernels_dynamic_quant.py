"""The per-run quantize of --quant dynamic (kernels_float._dynamic_quantize's values): the pieces the
vectorized, threaded form (kernels_dynamic_pack.py) is built from.

    lo = min(min(x), 0), hi = max(max(x), 0);  scale = (hi - lo) / 255
    zero_point = clamp(rint(-128 - lo / scale), -128, 127)        (scale == 0: scale 0, zero point 0)
    q = clamp(rint(x / scale), -128 - zp, 127 - zp) + zp          (scale == 0: q = zp)

Bit-exact to the scalar form: min and max by compare-and-select (ordered: a NaN never wins; +0.0
starts every lane, so -0.0 never replaces it) give the same value in any order, so VF lanes each
reduce a strided part and then each other; each element's quantize is the same float32 division,
rint (round half to even) and clamps lane-wise as the scalar helper ("quantize", irgen.py).
VF = 16 floats (one zmm; two ymm or four q registers).
"""
from __future__ import annotations

from llvmlite import ir

from .irgen import F32, I32, I64, c64

VF = 16


def quant_params(k, lo_s, hi_s, b=None):
    """(scale f32, scale == 0 as i1, zero point i64) of the range [lo_s, hi_s] (module docstring), in
    builder b (default: the node's)."""
    b = k.b if b is None else b
    scale = b.fdiv(b.fsub(hi_s, lo_s), ir.Constant(F32, 255.0))
    is_zero = b.fcmp_ordered("==", scale, ir.Constant(F32, 0.0))
    safe = b.select(is_zero, ir.Constant(F32, 1.0), scale)
    rint = k.mod.intrinsic("llvm.rint.f32", F32, [F32])
    zp = b.call(rint, [b.fsub(ir.Constant(F32, -128.0), b.fdiv(lo_s, safe))])
    zp = b.select(b.fcmp_ordered("<", zp, ir.Constant(F32, -128.0)), ir.Constant(F32, -128.0), zp)
    zp = b.select(b.fcmp_ordered(">", zp, ir.Constant(F32, 127.0)), ir.Constant(F32, 127.0), zp)
    return scale, is_zero, b.select(is_zero, c64(0), b.fptosi(zp, I64))


def _min_max(b, v, lo, hi):
    cur_lo, cur_hi = b.load(lo, typ=F32), b.load(hi, typ=F32)
    b.store(b.select(b.fcmp_ordered("<", v, cur_lo), v, cur_lo), lo)
    b.store(b.select(b.fcmp_ordered(">", v, cur_hi), v, cur_hi), hi)


def _splat(b, v, vt):
    first = b.insert_element(ir.Constant(vt, None), v, ir.Constant(I32, 0))
    return b.shuffle_vector(first, ir.Constant(vt, None), ir.Constant(ir.VectorType(I32, VF), [0] * VF))
