"""The per-run quantize of --quant dynamic (kernels_float._dynamic_quantize's values), vectorized.

    lo = min(min(x), 0), hi = max(max(x), 0);  scale = (hi - lo) / 255
    zero_point = clamp(rint(-128 - lo / scale), -128, 127)        (scale == 0: scale 0, zero point 0)
    q = clamp(rint(x / scale), -128 - zp, 127 - zp) + zp          (scale == 0: q = zp)

Bit-exact to the scalar form: min and max by compare-and-select (ordered: a NaN never wins; +0.0
starts every lane, so -0.0 never replaces it) give the same value in any order, so VF lanes each
reduce a strided part and then each other; each element's quantize is the same float32 division,
rint (round half to even) and clamps lane-wise as the scalar helper ("quantize", irgen.py). The
n % VF last elements take the scalar path. VF = 16 floats (one zmm; two ymm or four q registers).
"""
from __future__ import annotations

from llvmlite import ir

from .irgen import F32, I8, I32, I64, c64, load, loop, store, var
from .kernels_depthwise import _ptr

VF = 16


def dynamic_quantize(k, src, n: int, dst):
    """dst[i] = q(src[i]) as int8 for i < n (module docstring); returns (scale f32, zero point i64)."""
    b = k.b
    vf = ir.VectorType(F32, VF)
    full, tail = n // VF, n % VF
    zero = ir.Constant(F32, 0.0)
    vzero = ir.Constant(vf, [0.0] * VF)
    lo_v, hi_v = var(b, vf, vzero, "lo_v"), var(b, vf, vzero, "hi_v")
    with loop(b, full, "mv") as i:
        v = b.load(_ptr(b, src, b.mul(i, c64(4 * VF))), typ=vf, align=4)
        cur_lo, cur_hi = b.load(lo_v, typ=vf), b.load(hi_v, typ=vf)
        b.store(b.select(b.fcmp_ordered("<", v, cur_lo), v, cur_lo), lo_v)
        b.store(b.select(b.fcmp_ordered(">", v, cur_hi), v, cur_hi), hi_v)
    lo, hi = var(b, F32, zero, "lo"), var(b, F32, zero, "hi")
    vlo, vhi = b.load(lo_v, typ=vf), b.load(hi_v, typ=vf)
    for lane in range(VF):
        _min_max(b, b.extract_element(vlo, ir.Constant(I32, lane)), lo, hi)
        _min_max(b, b.extract_element(vhi, ir.Constant(I32, lane)), lo, hi)
    with loop(b, tail, "mt") as i:
        _min_max(b, load(b, src, b.add(i, c64(full * VF)), F32), lo, hi)
    lo_s = b.load(lo, typ=F32)
    scale = b.fdiv(b.fsub(b.load(hi, typ=F32), lo_s), ir.Constant(F32, 255.0))
    is_zero = b.fcmp_ordered("==", scale, zero)
    safe = b.select(is_zero, ir.Constant(F32, 1.0), scale)
    rint = k.mod.intrinsic("llvm.rint.f32", F32, [F32])
    zp = b.call(rint, [b.fsub(ir.Constant(F32, -128.0), b.fdiv(lo_s, safe))])
    zp = b.select(b.fcmp_ordered("<", zp, ir.Constant(F32, -128.0)), ir.Constant(F32, -128.0), zp)
    zp = b.select(b.fcmp_ordered(">", zp, ir.Constant(F32, 127.0)), ir.Constant(F32, 127.0), zp)
    zp = b.select(is_zero, c64(0), b.fptosi(zp, I64))
    _quantize_vectors(k, src, full, dst, scale, is_zero, zp)
    quantize = k.mod.helper("quantize")
    with loop(b, tail, "qt") as i:
        at = b.add(i, c64(full * VF))
        y = b.call(quantize, [load(b, src, at, F32), scale, zp, c64(-128), c64(127)])
        store(b, b.trunc(y, I8), dst, at, I8)
    return scale, zp


def _min_max(b, v, lo, hi):
    cur_lo, cur_hi = b.load(lo, typ=F32), b.load(hi, typ=F32)
    b.store(b.select(b.fcmp_ordered("<", v, cur_lo), v, cur_lo), lo)
    b.store(b.select(b.fcmp_ordered(">", v, cur_hi), v, cur_hi), hi)


def _splat(b, v, vt):
    first = b.insert_element(ir.Constant(vt, None), v, ir.Constant(I32, 0))
    return b.shuffle_vector(first, ir.Constant(vt, None), ir.Constant(ir.VectorType(I32, VF), [0] * VF))


def _quantize_vectors(k, src, full: int, dst, scale, is_zero, zp):
    """The first full * VF elements, VF at a time: the scalar helper's operations lane-wise."""
    b = k.b
    vf, vi = ir.VectorType(F32, VF), ir.VectorType(I32, VF)
    rint = k.mod.intrinsic(f"llvm.rint.v{VF}f32", vf, [vf])
    safe = _splat(b, b.select(is_zero, ir.Constant(F32, 1.0), scale), vf)
    zp32 = b.trunc(zp, I32)
    lo = _splat(b, b.sitofp(b.sub(ir.Constant(I32, -128), zp32), F32), vf)    # |bounds| <= 2^8: exact
    hi = _splat(b, b.sitofp(b.sub(ir.Constant(I32, 127), zp32), F32), vf)
    zps = _splat(b, zp32, vi)
    zero_mask = _splat(b, is_zero, ir.VectorType(ir.IntType(1), VF))
    with loop(b, full, "qv") as i:
        x = b.load(_ptr(b, src, b.mul(i, c64(4 * VF))), typ=vf, align=4)
        r = b.select(zero_mask, ir.Constant(vf, [0.0] * VF), b.call(rint, [b.fdiv(x, safe)]))
        r = b.select(b.fcmp_ordered("<", r, lo), lo, r)
        r = b.select(b.fcmp_ordered(">", r, hi), hi, r)
        q = b.add(b.fptosi(r, vi), zps)
        b.store(b.trunc(q, ir.VectorType(I8, VF)), _ptr(b, dst, b.mul(i, c64(VF))), align=1)
