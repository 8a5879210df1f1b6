"""The per-run quantize of --quant dynamic, 64 floats at a time on AVX-512 (x86 targets with 16 lanes):
the bytes kernels_dynamic_pack.Quantizer's division form writes, with a cheaper division, the clamp
done by saturating packs and one store per 64 bytes.

Per float x, with the run's scale s and zero point zp (kernels_dynamic_quant.py):

    q = clamp(rint(x / s), -128 - zp, 127 - zp) + zp  =  clamp(rint(x / s) + zp, -128, 127)

(zp an integer: the shift commutes with the clamp). Here, per vector of 16 floats:

    y = x / s         by vecmath.divide_by (Markstein: q0 = x r, e = fma(-q0, s, x), fma(e, r, q0)),
                      r = 1 / s (one float32 division per tensor)
    t = cvtps2dq(y) + zp     (VCVTPS2DQ rounds by MXCSR: to nearest, ties to even = rint; |y| <= 256)
    four vectors t0..t3 -> VPACKSSDW (int32 -> int16, no saturation: |t| < 2^15),
    VPACKSSWB (int16 -> int8, saturating: exactly the clamp to [-128, 127]), one VPERMD putting the
    128-bit lanes' interleaved 4-byte groups back in element order, the offset added bytewise,
    one 64-byte store (the last group of a row: a masked store of its live bytes).

The Markstein division is exact only in a range, so it runs only where the tensor's scale passes a
guard checked once per tensor, 2^-58 <= s <= 2^39 (`ok`); elsewhere (s = 0 included) the caller
keeps the division form. Proof that y's rint is rint(x / s) under the guard (divide_by's float32
condition: s and q0 in [2^-100, 2^100], |x| >= 2^-100, then the result is x / s correctly rounded):
  - |x| >= 2^-60: |x / s| >= 2^-60 / 2^39 = 2^-99, so q0 >= 2^-99 (1 - 2^-23) > 2^-100; and
    |x| <= max(|lo|, |hi|) <= fl(hi - lo) = ~255 s, so |q0| <= 256 < 2^100: correctly rounded,
    the same float32 as the division.
  - |x| < 2^-60: |x / s| < 2^-60 / 2^-58 = 1/4. r = (1 / s)(1 + d0) is normal; q0 = x r (1 + d1) +
    n1 (|d| <= 2^-24, |n1| <= 2^-150 a subnormal rounding); x - q0 s = x (1 - (1 + d0)(1 + d1)) -
    n1 s, so |e| r <= |x / s| 2^-22 + 2^-150 2^39 2^-58 (1 + 2^-22), negligible, and the result is
    below 1/4 (1 + 2^-20) + 2^-140 < 1/2 in magnitude: both round to +-0, so t = zp either way.
  NaN has no encoding (the reference rejects it; the runtime checks its inputs): not covered.
The row sum -zb * sum_k q of a packed row (kernels_dynamic_pack.pack_row) comes from the packed bytes:
VPSADBW of (q xor 0x80) = q + 128 against zero, eight 64-bit sums per group; lanes past the row
(masked-off vectors and dead lanes) are forced to t = 0, so every group adds exactly 64 * 128 more
than its sum of q, subtracted at the end (int64, then int32: the true sum fits, |sum| <= 128 K).
"""
from __future__ import annotations

from llvmlite import ir

from .irgen import F32, I1, I8, I16, I32, I64, PTR, VOID, c64, loop, var
from .kernels_depthwise import _mask, _ptr
from .kernels_dynamic_quant import VF, _splat
from .vecmath import divide_by

GROUP = 4 * VF                     # floats (and bytes) per pack and store
S_MIN, S_MAX = 2.0 ** -58, 2.0 ** 39


def available(spec) -> bool:
    """AVX-512 (BW: isa's 512-bit VPDPBUSD requires it) with its fused multiply-adds."""
    return getattr(spec, "arch", "") == "x86" and getattr(spec, "lanes", 0) == 16


class FastQuant:
    """The guard and the per-tensor constants, in a job's builder b, of scale (f32) and zp (i32)."""

    def __init__(self, k, b, scale, zp):
        self.k, self.b, self.mod = k, b, k.mod
        self.ok = b.and_(b.fcmp_ordered(">=", scale, ir.Constant(F32, S_MIN)),
                         b.fcmp_ordered("<=", scale, ir.Constant(F32, S_MAX)))
        vf = ir.VectorType(F32, VF)
        safe = b.select(self.ok, scale, ir.Constant(F32, 1.0))
        self.vf, self.vi = vf, ir.VectorType(I32, VF)
        self.d = _splat(b, safe, vf)
        self.r = _splat(b, b.fdiv(ir.Constant(F32, 1.0), safe), vf)
        self.zps = _splat(b, zp, self.vi)
        self.cvt = self.mod.intrinsic("llvm.x86.avx512.mask.cvtps2dq.512", self.vi, [vf, self.vi, ir.IntType(16), I32])
        w16, b8 = ir.VectorType(I16, 32), ir.VectorType(I8, 64)
        self.pack_dw = self.mod.intrinsic("llvm.x86.avx512.packssdw.512", w16, [self.vi, self.vi])
        self.pack_wb = self.mod.intrinsic("llvm.x86.avx512.packsswb.512", b8, [w16, w16])
        self.sad = self.mod.intrinsic("llvm.x86.avx512.psad.bw.512", ir.VectorType(I64, 8), [b8, b8])
        vi1 = ir.VectorType(I1, VF)
        self.load_f = self.mod.intrinsic(f"llvm.masked.load.v{VF}f32.p0", vf, [PTR, I32, vi1, vf])
        self.store_b = self.mod.intrinsic("llvm.masked.store.v64i8.p0", VOID, [b8, PTR, I32, ir.VectorType(I1, 64)])

    def t(self, x):
        """rint(x / s) + zp as int32 lanes (unclamped), x a <VF x float> (module docstring)."""
        b = self.b
        y = divide_by(self.mod, b, x, self.d, self.r)
        i = b.call(self.cvt, [y, ir.Constant(self.vi, None), ir.Constant(ir.IntType(16), 0xFFFF), ir.Constant(I32, 4)])
        return b.add(i, self.zps)

    def bytes(self, ts):
        """Four int32 vectors -> 64 int8 (clamped to [-128, 127]) in element order."""
        b = self.b
        s = b.call(self.pack_wb, [b.call(self.pack_dw, [ts[0], ts[1]]), b.call(self.pack_dw, [ts[2], ts[3]])])
        # 128-bit lane i holds t_p[4i .. 4i + 3] at dword 4i + p; element order wants it at dword 4p + i
        order = ir.Constant(ir.VectorType(I32, 16), [4 * (o % 4) + o // 4 for o in range(16)])
        d = b.bitcast(s, self.vi)
        return b.bitcast(b.shuffle_vector(d, ir.Constant(self.vi, None), order), s.type)

    def span(self, src, dst, count: int, nbytes: int, offset: int, with_sum: bool):
        """dst[0, nbytes) = q(src[i]) + offset (bytes, wrapping) for i < count, then offset (q = 0) to
        nbytes; src, dst i8 pointers. Returns sum_i q as i32 when with_sum, else None."""
        b = self.b
        b8 = ir.VectorType(I8, 64)
        add = ir.Constant(b8, [offset & 0xFF] * 64)
        flip = ir.Constant(b8, [0x80] * 64)
        v8 = ir.VectorType(I64, 8)
        total = var(b, v8, ir.Constant(v8, [0] * 8), "qsum") if with_sum else None
        groups, tail_groups = count // GROUP, -(-(nbytes - count // GROUP * GROUP) // GROUP)

        def emit(ts, at, live_bytes):
            s = self.bytes(ts)
            if with_sum:
                sad = b.call(self.sad, [b.xor(s, flip), ir.Constant(b8, [0] * 64)])
                b.store(b.add(b.load(total, typ=v8), sad), total)
            u = b.add(s, add) if offset & 0xFF else s
            if live_bytes == GROUP:
                b.store(u, _ptr(b, dst, at), align=1)
            else:
                b.call(self.store_b, [u, _ptr(b, dst, at), ir.Constant(I32, 1), _mask(64, live_bytes)])

        if groups:
            with loop(b, groups, "fq") as g:
                at = b.mul(g, c64(GROUP))
                ts = [self.t(b.load(_ptr(b, src, b.mul(b.add(at, c64(VF * v)), c64(4))), typ=self.vf, align=4))
                      for v in range(4)]
                emit(ts, at, GROUP)
        zero = ir.Constant(self.vi, [0] * VF)
        for g in range(groups, groups + tail_groups):      # the row's end: masked loads, t = 0 past count
            ts = []
            for v in range(4):
                first = g * GROUP + v * VF
                live = max(0, min(VF, count - first))
                if live == VF:
                    ts.append(self.t(b.load(_ptr(b, src, 4 * first), typ=self.vf, align=4)))
                elif live:
                    x = b.call(self.load_f, [_ptr(b, src, 4 * first), ir.Constant(I32, 4), _mask(VF, live),
                                             ir.Constant(self.vf, [0.0] * VF)])
                    ts.append(b.select(_mask(VF, live), self.t(x), zero))
                else:
                    ts.append(zero)
            emit(ts, c64(g * GROUP), min(GROUP, nbytes - g * GROUP))
        if not with_sum:
            return None
        reduce = self.mod.intrinsic("llvm.vector.reduce.add.v8i64", I64, [v8])
        biased = b.call(reduce, [b.load(total, typ=v8)])
        return b.trunc(b.sub(biased, c64(128 * GROUP * (groups + tail_groups))), I32)
