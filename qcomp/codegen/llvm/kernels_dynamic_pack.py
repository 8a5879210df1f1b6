"""The per-run quantize of --quant dynamic fused into the GEMM's A pack, and threaded.

kernels_dynamic_quant.py quantizes the float activation x into an int8 scratch, which
kernels_qmatmul_pack.pack_a then reads again to add the dot step's offset. Here the float x is read
once per phase, and each phase is split over the thread pool (irgen.parallel_for) where x is big
enough (about MIN_JOB_ELEMS elements per job, at most MAX_JOBS jobs, the count rounded up to a
multiple of 4 by job_split.balanced so that 2 and 4 threads divide it):

  1. min/max: job j reduces x[j * C, (j + 1) * C) (C a multiple of VF) to (lo_j, hi_j), each
     starting at +0.0, by ordered compare-and-select (kernels_dynamic_quant.py: a NaN never wins,
     -0.0 never replaces +0.0; minmax_vectors); the calling thread then reduces the J pairs the same
     way. min and max are exact and order-free, so lo = min(min(x), 0) and hi = max(max(x), 0) are the
     reference's (fixedpoint.dynamic_quant_params) whatever J is.
  2. scale and zero point from (lo, hi) on the calling thread (kernels_dynamic_quant.quant_params:
     the reference's float32 operations, one rounding each).
  3. quantize + pack, jobs over row ranges: for each row r of x [rows, K],
        q[k] = clamp(rint(x[r, k] / scale), -128 - zp, 127 - zp) + zp     (scale 0: q = zp = 0)
        dst[r] = [q[k] + offset for k < K] ++ [offset] * (Kpad - K) ++ int32 row_term
        row_term = -zb * sum_k q[k]      (int32, wrapping; zb = 0 for DynamicDense's weights)
     exactly the bytes kernels_qmatmul_pack.pack_a writes from kernels_dynamic_quant's q (the same
     float32 division, rint and clamps per element, VF lanes at a time; K's tail a masked vector
     whose dead lanes are forced to q = 0 before the offset and the sum). On AVX-512 targets, where
     the scale passes a guard checked once per tensor, the same bytes come from
     kernels_dynamic_fastq.py (an exact division by multiply-adds, the clamp by saturating packs,
     64 bytes per store; its docstring proves the equality); quantize_range likewise.

The packed rows of a batch of matrices [n, M, K] are the rows of one [n * M, K] matrix (row
r * a_stride of the pack): one call packs every A matrix of a DynamicMatMul.
quantize_threaded is phase 3 without the pack (DynamicMatMul's B operand, which pack_b reads).

Each phase is a `Part` (its job count, context pointers and job body); run_parts runs several
independent parts as one parallel_for (job i: the part whose range holds i), so DynamicMatMul's two
operands share one fork-join for their min/max and one for their quantize (kernels_qmatmul.py):
the jobs and their values are the single-part ones, only the hand-offs to the pool are fewer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from llvmlite import ir

from .irgen import F32, I1, I8, I32, I64, PTR, VOID, c64, job_function, loop, parallel_for, var
from .kernels_depthwise import _mask, _ptr
from .kernels_dynamic_fastq import FastQuant, available
from .kernels_dynamic_quant import VF, _min_max, _splat, quant_params
from .job_split import balanced

MIN_JOB_ELEMS = 16384  # float32 elements per job, about (64 KiB read: far more than the pool's hand-off)
MAX_JOBS = 16
PARAMS_BYTES = 64 + 8 * MAX_JOBS   # scale f32, zp i32, zb i32 at 0, 4, 8; (lo_j, hi_j) pairs from 64


def n_jobs(elems: int, units: int) -> int:
    """Jobs for `elems` float32 elements split over `units` rows or vectors (at least one each)."""
    return balanced(max(1, min(MAX_JOBS, units, elems // MIN_JOB_ELEMS)), units, MAX_JOBS)   # 3 -> 4 jobs


@dataclass
class Part:
    """Jobs of one kind: body(b, ptrs, j) emits job j (i64, counted from 0 within the part) in the
    job function's builder b, ptrs the part's context pointers there."""
    jobs: int
    ptrs: list
    body: Callable


def run_parts(k, name: str, parts: list[Part]) -> None:
    """One parallel_for over the jobs of every part, in order (each part's jobs independent of the others')."""
    f, b, vals, i = job_function(k.mod, name, sum(len(p.ptrs) for p in parts))
    start, at = 0, 0
    for p in parts:
        mine = vals[at:at + len(p.ptrs)]
        if len(parts) == 1:
            p.body(b, mine, i)
        else:
            inside = b.and_(b.icmp_signed(">=", i, c64(start)), b.icmp_signed("<", i, c64(start + p.jobs)))
            with b.if_then(inside):
                p.body(b, mine, b.sub(i, c64(start)))
        start, at = start + p.jobs, at + len(p.ptrs)
    b.ret_void()
    parallel_for(k.mod, k.b, f, [ptr for p in parts for ptr in p.ptrs], start)


def minmax_part(k, src, n: int, par) -> Part:
    """Phase 1 over src[0, n): job j stores its (lo_j, hi_j) at par + 64 + 8 j (finish_params reduces them)."""
    full = n // VF
    jobs = n_jobs(n, max(full, 1))
    per_job = -(-full // jobs)
    jobs = max(1, -(-full // per_job)) if full else 1

    def body(jb, ptrs, j):
        x, p = ptrs
        vf = ir.VectorType(F32, VF)
        v0 = jb.mul(j, c64(per_job))
        v1 = jb.select(jb.icmp_signed("<", jb.add(v0, c64(per_job)), c64(full)), jb.add(v0, c64(per_job)), c64(full))
        lo_v, hi_v = minmax_vectors(jb, x, v0, jb.sub(v1, v0))
        zero = ir.Constant(F32, 0.0)
        lo, hi = var(jb, F32, zero, "lo"), var(jb, F32, zero, "hi")
        vlo, vhi = jb.load(lo_v, typ=vf), jb.load(hi_v, typ=vf)
        for lane in range(VF):
            _min_max(jb, jb.extract_element(vlo, ir.Constant(I32, lane)), lo, hi)
            _min_max(jb, jb.extract_element(vhi, ir.Constant(I32, lane)), lo, hi)
        if n % VF:                                   # the scalar tail, in the last job
            with jb.if_then(jb.icmp_signed("==", j, c64(jobs - 1))):
                with loop(jb, n % VF, "mt") as i:
                    v = jb.load(jb.gep(x, [jb.add(i, c64(full * VF))], source_etype=F32), typ=F32)
                    _min_max(jb, v, lo, hi)
        pair = _ptr(jb, p, jb.add(c64(64), jb.mul(j, c64(8))))
        jb.store(jb.load(lo, typ=F32), pair)
        jb.store(jb.load(hi, typ=F32), _ptr(jb, pair, 4))
    return Part(jobs, [src, par], body)


def minmax_vectors(b, x, v0, count):
    """(lo, hi) <VF x float> allocas holding the lane-wise min and max of vectors v0 .. v0 + count of x
    (i64 values) and +0.0, by ordered compare-and-select (VMINPS / VMAXPS). One pair: the loop already
    runs at Zen 4's throughput bound of one VMINPS and one VMAXPS zmm per cycle (2.0 cycles per vector
    measured on L1-resident data, 2.4 from L2), so more pairs measured no faster."""
    vf = ir.VectorType(F32, VF)
    vzero = ir.Constant(vf, [0.0] * VF)
    lo_v, hi_v = var(b, vf, vzero, "lo_v"), var(b, vf, vzero, "hi_v")
    with loop(b, count, "mv") as i:
        v = b.load(_ptr(b, x, b.mul(b.add(v0, i), c64(4 * VF))), typ=vf, align=4)
        cur_lo, cur_hi = b.load(lo_v, typ=vf), b.load(hi_v, typ=vf)
        b.store(b.select(b.fcmp_ordered("<", v, cur_lo), v, cur_lo), lo_v)
        b.store(b.select(b.fcmp_ordered(">", v, cur_hi), v, cur_hi), hi_v)
    return lo_v, hi_v


def finish_params(k, par, jobs: int):
    """Phase 2 on the calling thread after minmax_part's jobs: reduces the pairs; returns (scale f32,
    zero point i64) and stores scale (f32) at par + 0 and the zero point (i32) at par + 4."""
    b = k.b
    zero = ir.Constant(F32, 0.0)
    lo, hi = var(b, F32, zero, "lo_all"), var(b, F32, zero, "hi_all")
    with loop(b, jobs, "mj") as j:
        pair = _ptr(b, par, b.add(c64(64), b.mul(j, c64(8))))
        _min_max(b, b.load(pair, typ=F32), lo, hi)
        _min_max(b, b.load(_ptr(b, pair, 4), typ=F32), lo, hi)
    scale, _, zp = quant_params(k, b.load(lo, typ=F32), b.load(hi, typ=F32))
    b.store(scale, par)
    b.store(b.trunc(zp, I32), _ptr(b, par, 4))
    return scale, zp


def dynamic_params(k, src, n: int, par):
    """Phases 1 and 2 over src[0, n): returns (scale f32, zero point i64) and stores scale (f32) at
    par + 0 and the zero point (i32) at par + 4 for the jobs of phase 3."""
    part = minmax_part(k, src, n, par)
    run_parts(k, "dq_minmax", [part])
    return finish_params(k, par, part.jobs)


class Quantizer:
    """The per-element quantize of phase 3 in a job's builder, from the scale and zero point at par."""

    def __init__(self, k, b, par):
        self.b = b
        vf, vi = ir.VectorType(F32, VF), ir.VectorType(I32, VF)
        self.vf, self.vi = vf, vi
        self.rint = k.mod.intrinsic(f"llvm.rint.v{VF}f32", vf, [vf])
        scale = b.load(par, typ=F32)
        self.zp = b.load(_ptr(b, par, 4), typ=I32)
        is_zero = b.fcmp_ordered("==", scale, ir.Constant(F32, 0.0))
        self.scale, self.is_zero = scale, is_zero
        self.safe = _splat(b, b.select(is_zero, ir.Constant(F32, 1.0), scale), vf)
        self.lo = _splat(b, b.sitofp(b.sub(ir.Constant(I32, -128), self.zp), F32), vf)   # |bounds| <= 2^8: exact
        self.hi = _splat(b, b.sitofp(b.sub(ir.Constant(I32, 127), self.zp), F32), vf)
        self.zps = _splat(b, self.zp, vi)
        self.zero_mask = _splat(b, is_zero, ir.VectorType(I1, VF))
        self.fast = FastQuant(k, b, scale, self.zp) if available(k.spec) else None   # its guard: fast.ok

    def vector(self, x):
        """q (int32 lanes) of a <VF x float>: kernels_dynamic_quant._quantize_vectors' operations."""
        b, vf = self.b, self.vf
        r = b.select(self.zero_mask, ir.Constant(vf, [0.0] * VF), b.call(self.rint, [b.fdiv(x, self.safe)]))
        r = b.select(b.fcmp_ordered("<", r, self.lo), self.lo, r)
        r = b.select(b.fcmp_ordered(">", r, self.hi), self.hi, r)
        return b.add(b.fptosi(r, self.vi), self.zps)


def _masked_f32(mod):
    vf, vi1 = ir.VectorType(F32, VF), ir.VectorType(I1, VF)
    return mod.intrinsic(f"llvm.masked.load.v{VF}f32.p0", vf, [PTR, I32, vi1, vf])


def _masked_store_i8(mod):
    vt, vi1 = ir.VectorType(I8, VF), ir.VectorType(I1, VF)
    return mod.intrinsic(f"llvm.masked.store.v{VF}i8.p0", VOID, [vt, PTR, I32, vi1])


def quantize_pack_part(k, src, rows: int, kd: int, kpad: int, a_stride: int, dst, par, zb_zero: bool = False) -> Part:
    """Phase 3: rows [rows, kd] float32 at src -> packed rows at dst (a_stride bytes apart), from the
    scale and zero point at par (dynamic_params) and zb (int32) at par + 8; zb_zero: zb is 0 at build
    time (DynamicDense's weights), so the rows' terms are 0 without their sums."""
    jobs = n_jobs(rows * kd, rows)
    per_job = -(-rows // jobs)
    jobs = -(-rows // per_job)

    def body(b, ptrs, j):
        x, out, p = ptrs
        qz = Quantizer(k, b, p)
        zb = ir.Constant(I32, 0) if zb_zero else b.load(_ptr(b, p, 8), typ=I32)
        r0 = b.mul(j, c64(per_job))
        r1 = b.select(b.icmp_signed("<", b.add(r0, c64(per_job)), c64(rows)), b.add(r0, c64(per_job)), c64(rows))
        with loop(b, b.sub(r1, r0), "r") as i:
            r = b.add(r0, i)
            pack_row(k, b, qz, _ptr(b, x, b.mul(r, c64(4 * kd))), _ptr(b, out, b.mul(r, c64(a_stride))), kd, kpad, zb)
    return Part(jobs, [src, dst, par], body)


def quantize_pack(k, src, rows: int, kd: int, kpad: int, a_stride: int, dst, par, zb_zero: bool = False) -> None:
    """quantize_pack_part's jobs, one parallel_for."""
    run_parts(k, "dq_pack", [quantize_pack_part(k, src, rows, kd, kpad, a_stride, dst, par, zb_zero)])


def pack_row(k, b, qz, s_row, d_row, kd: int, kpad: int, zb) -> None:
    """One row of phase 3: kd floats at s_row quantized by qz, + offset, to kpad bytes at d_row, then
    row_term = -zb * sum_k q as int32 (0 without the sum where zb is the constant 0). Where qz has the
    AVX-512 form (kernels_dynamic_fastq.py) and the tensor's scale passes its guard, that form (the
    same bytes); else the division form below."""
    with_sum = not (isinstance(zb, ir.Constant) and zb.constant == 0)
    if qz.fast is None:
        _pack_row_div(k, b, qz, s_row, d_row, kd, kpad, zb, with_sum)
        return
    with b.if_else(qz.fast.ok) as (fast, slow):
        with fast:
            total = qz.fast.span(s_row, d_row, kd, kpad, k.spec.activation_offset, with_sum)
            term = b.mul(total, b.neg(zb)) if with_sum else ir.Constant(I32, 0)
            b.store(term, _ptr(b, d_row, kpad), align=1)
        with slow:
            _pack_row_div(k, b, qz, s_row, d_row, kd, kpad, zb, with_sum)


def _pack_row_div(k, b, qz, s_row, d_row, kd: int, kpad: int, zb, with_sum: bool) -> None:
    """pack_row by qz.vector (the float32 division): any scale."""
    offset = k.spec.activation_offset
    full, tail = kd // VF, kd % VF
    vi, vb = qz.vi, ir.VectorType(I8, VF)
    add = ir.Constant(vb, [offset & 0xFF] * VF)
    reduce_add = k.mod.intrinsic(f"llvm.vector.reduce.add.v{VF}i32", I32, [vi])
    total = var(b, vi, ir.Constant(vi, [0] * VF), "sum")
    with loop(b, full, "c") as c:
        q = qz.vector(b.load(_ptr(b, s_row, b.mul(c, c64(4 * VF))), typ=qz.vf, align=4))
        b.store(b.add(b.trunc(q, vb), add), _ptr(b, d_row, b.mul(c, c64(VF))), align=1)
        if with_sum:
            b.store(b.add(b.load(total, typ=vi), q), total)
    acc = b.load(total, typ=vi)
    if kpad > full * VF:                    # K's tail (masked: dead lanes q = 0) and the padding to Kpad
        live = _mask(VF, tail)
        v = b.call(_masked_f32(k.mod), [_ptr(b, s_row, 4 * full * VF), ir.Constant(I32, 4), live,
                                        ir.Constant(qz.vf, [0.0] * VF)])
        q = b.select(live, qz.vector(v), ir.Constant(vi, [0] * VF))
        b.call(_masked_store_i8(k.mod), [b.add(b.trunc(q, vb), add), _ptr(b, d_row, full * VF),
                                         ir.Constant(I32, 1), _mask(VF, kpad - full * VF)])
        acc = b.add(acc, q)
    term = b.mul(b.call(reduce_add, [acc]), b.neg(zb)) if with_sum else ir.Constant(I32, 0)
    b.store(term, _ptr(b, d_row, kpad), align=1)


def quantize_part(k, src, n: int, dst, par) -> Part:
    """Phase 3 without the pack: dst[i] = q(src[i]) as int8 for i < n (kernels_dynamic_quant's values),
    VF elements at a time over jobs of whole vectors, the n % VF last ones scalar in the last job."""
    full, tail = n // VF, n % VF
    jobs = n_jobs(n, max(full, 1))
    per_job = -(-full // jobs) if full else 0
    jobs = max(1, -(-full // per_job)) if full else 1

    def body(b, ptrs, j):
        x, out, p = ptrs
        qz = Quantizer(k, b, p)
        if full:
            v0 = b.mul(j, c64(per_job))
            v1 = b.select(b.icmp_signed("<", b.add(v0, c64(per_job)), c64(full)), b.add(v0, c64(per_job)), c64(full))
            with loop(b, b.sub(v1, v0), "qv") as i:
                at = b.add(v0, i)
                q = qz.vector(b.load(_ptr(b, x, b.mul(at, c64(4 * VF))), typ=qz.vf, align=4))
                b.store(b.trunc(q, ir.VectorType(I8, VF)), _ptr(b, out, b.mul(at, c64(VF))), align=1)
        if tail:
            quantize = k.mod.helper("quantize")
            with b.if_then(b.icmp_signed("==", j, c64(jobs - 1))):
                with loop(b, tail, "qt") as i:
                    at = b.add(i, c64(full * VF))
                    v = b.load(b.gep(x, [at], source_etype=F32), typ=F32)
                    y = b.call(quantize, [v, qz.scale, b.sext(qz.zp, I64), c64(-128), c64(127)])
                    b.store(b.trunc(y, I8), b.gep(out, [at], source_etype=I8))
    return Part(jobs, [src, dst, par], body)


def quantize_threaded(k, src, n: int, dst, par) -> None:
    """quantize_part's jobs, one parallel_for."""
    run_parts(k, "dq_quant", [quantize_part(k, src, n, dst, par)])


def quantize_range(k, b, qz, x, out, start, count: int) -> None:
    """out[start + i] = q(x[start + i]) as int8 for i < count (start: an i64 value), quantize_part's
    values: by qz's AVX-512 form where it has one and the scale passes its guard, else count // VF
    vectors by the division, then the count % VF last elements scalar."""
    if qz.fast is None:
        _quantize_range_div(k, b, qz, x, out, start, count)
        return
    with b.if_else(qz.fast.ok) as (fast, slow):
        with fast:
            qz.fast.span(_ptr(b, x, b.mul(start, c64(4))), _ptr(b, out, start), count, count, 0, False)
        with slow:
            _quantize_range_div(k, b, qz, x, out, start, count)


def _quantize_range_div(k, b, qz, x, out, start, count: int) -> None:
    full = count // VF
    if full:
        with loop(b, full, "qr") as i:
            at = b.add(start, b.mul(i, c64(VF)))
            q = qz.vector(b.load(_ptr(b, x, b.mul(at, c64(4))), typ=qz.vf, align=4))
            b.store(b.trunc(q, ir.VectorType(I8, VF)), _ptr(b, out, at), align=1)
    if count % VF:
        quantize = k.mod.helper("quantize")
        with loop(b, count % VF, "qrt") as i:
            at = b.add(start, b.add(i, c64(full * VF)))
            v = b.load(b.gep(x, [at], source_etype=F32), typ=F32)
            y = b.call(quantize, [v, qz.scale, b.sext(qz.zp, I64), c64(-128), c64(127)])
            b.store(b.trunc(y, I8), b.gep(out, [at], source_etype=I8))

