"""A16W8 dot products, vectorized: QConv2D16 (group 1, and depthwise) and QDense16.

    acc[p, o] = bias[o] + sum_k A[p, k] * w[o, k]          A: im2col of the int16 x (padding 0)
    y[p, o]   = clamp(((acc * M[o] + R[o]) >> T[o]) + output_zero_point, qmin, qmax)

One requantize formula for both accumulator widths, with per-channel integers computed at build
time from the spec (fixedpoint.requantize_acc), exactly:
  acc_bits 32: M = multiplier,                              T = 31 - shift   (requantize)
  acc_bits 64: M = min((multiplier + 2^15) >> 16, 2^15 - 1), T = 15 - shift  (requantize64)
  R = 2^(T - 1) (ties toward +inf). |acc| < 2^47 and M < 2^31 (acc_bits 32: |acc| < 2^31) keep
  acc * M within 63 bits: one i64 lane multiply (VPMULLQ / emulated, AArch64 MUL on X registers).

The int8 weights are widened to int16 at build time and packed per output block of `lanes`
channels, [OB][KQ][lanes][depth], each step multiplying `depth` consecutive K-terms of one pixel
(broadcast to every lane) by `lanes` channels' weights:
  x86 AVX-512 VNNI / AVX-VNNI  VPDPWSSD: depth 2, acc[j] += a0 w[j,0] + a1 w[j,1]     (int32 lanes)
  x86 AVX2                     VPMADDWD + VPADDD, the same sum
  AArch64 (every arm target)   SMLAL / SMLAL2: depth 1, acc[j] += a * w[j]  (int16 x int16 -> int32)
A pair sum is at most 2 * 32768 * 128 = 2^23 in magnitude (the weights are int8 values), so the
int16 multiply-add never saturates.

Blocks of K: the int32 lanes sum at most BLOCK_TERMS = 511 K-terms from zero, so each block's
partial sum is bounded by 511 * 32768 * 128 = 2143289344 < 2^31: exact in int32. The blocks are
added into int64 accumulators, which start from the int64 bias: acc is the exact integer sum,
whatever the width the spec assigned (integer arithmetic only, bit-exact by construction). A layer
of K <= 511 (every acc_bits 32 layer, and most int64 ones' inner tiles) has one block: no int64
work until the requantize.

GEMM (group 1): A is x itself for QDense16 and unpadded stride-1 1x1 convs (K a multiple of
depth), else im2col rows of int16 [P][Kpad] (padding taps and the K..Kpad tail zero): packed tile
by tile inside the GEMM jobs into a stack buffer (at most FUSED_PACK_CHUNKS channel chunks, as the
int8 kernels), or else into the kernel's scratch first (jobs over pixel ranges). Register tiles
of MR pixels x NR output blocks (kernels_dot.gemm_plan: jobs over channel chunks x pixel-tile
groups, the thread pool as the int8 kernels); the last block's channels past O are stored element
by element.
Depthwise (kernels16_dw.py): vectorized across channels, per output pixel an int32 sum over the
taps (T <= 511: exact), then bias and requantize in int64. Grouped convs that are not depthwise, and
depthwise layers of more than 511 taps, run the scalar loops of kernels16.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from llvmlite import ir

from ... import abi
from ...ir import Node
from .irgen import I16, I32, I64, PTR, VOID, c64, clamp, job_function, load_i64, loop, memset, parallel_for
from .kernels16 import dot16_layer, emit_dot16_scalar, out_type, reduced_multiplier
from .kernels_depthwise import _pixel_jobs, _ptr
from .kernels_dot import FUSED_PACK_BYTES, FUSED_PACK_CHUNKS, MR_FOR_NR, gemm_plan, run_chunk

BLOCK_TERMS = 511        # K-terms per int32 partial sum: 511 * 32768 * 128 < 2^31


@dataclass(frozen=True)
class Step16:
    """The int16 dot step of a target: its instruction, int32 lanes, K-terms per lane, tiles."""
    kind: str            # "vpdpwssd", "pmaddwd" or "smlal"
    lanes: int
    depth: int
    tiles: dict

    @property
    def block(self) -> int:
        """Bytes of packed int16 weights per step."""
        return 2 * self.lanes * self.depth


def step16(spec) -> Step16:
    """The step from the target's int8 dot spec (isa.DotSpec): x86 targets with VNNI (AVX-512 or
    VEX) have VPDPWSSD at their vector width, AVX2 VPMADDWD, AArch64 SMLAL on 8 lanes (two q registers)."""
    if spec.arch == "x86":
        tiles = MR_FOR_NR[max(r for r in MR_FOR_NR if r <= spec.registers)]
        if spec.instruction == "vpdpbusd":
            return Step16("vpdpwssd", spec.lanes, 2, tiles)
        return Step16("pmaddwd", 8, 2, tiles)
    return Step16("smlal", 8, 1, {1: 12, 2: 6})


def requant_tables(graph, node, acc_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M, T, R) per output channel, int64: the module docstring's requantize integers."""
    return requant_ints(graph.constants[node.inputs[3]], graph.constants[node.inputs[4]], acc_bits)


def requant_ints(multiplier, shift, acc_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M, T, R), int64 arrays, of multipliers and shifts: the module docstring's requantize integers."""
    multiplier, shift = np.asarray(multiplier, np.int64), np.asarray(shift, np.int64)
    if acc_bits == 32:
        m, total = multiplier, 31 - shift
    else:
        m, total = reduced_multiplier(multiplier), 15 - shift
    return m, total, np.left_shift(np.int64(1), total - 1)


def _padded(a: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, np.int64)
    out[:a.size] = a
    return out


def _requant_lanes(b, acc, m, total, rounding, op):
    """<L x i64> acc -> <L x i8|i16>: clamp(((acc * M + R) >> T) + zp, qmin, qmax)."""
    lanes = acc.type.count
    v64 = ir.VectorType(I64, lanes)

    def splat(v):
        return ir.Constant(v64, [v] * lanes)
    y = b.add(b.ashr(b.add(b.mul(acc, m), rounding), total), splat(op.output_zero_point))
    return b.trunc(clamp(b, y, splat(op.qmin), splat(op.qmax)), ir.VectorType(out_type(op), lanes))


def _store_lanes(b, y, dst, live: int) -> None:
    """y's first `live` lanes at dst (a vector store when all are live)."""
    if live == y.type.count:
        b.store(y, dst, align=1)
        return
    et = y.type.element
    for j in range(live):
        b.store(b.extract_element(y, ir.Constant(I32, j)), _ptr(b, dst, j * (et.width // 8)), align=1)


def _step(mod, b, st: Step16, acc, xv, wv):
    """acc + the lane-wise product of the broadcast activations xv and the weights wv."""
    vi32, vi16 = ir.VectorType(I32, st.lanes), ir.VectorType(I16, st.lanes * st.depth)
    if st.kind == "vpdpwssd":   # non-saturating: a pair sum is below 2^23
        fn = mod.intrinsic(f"llvm.x86.avx512.vpdpwssd.{32 * st.lanes}", vi32, [vi32, vi16, vi16])
        return b.call(fn, [acc, xv, wv])
    if st.kind == "pmaddwd":
        return b.add(acc, b.call(mod.intrinsic("llvm.x86.avx2.pmadd.wd", vi32, [vi16, vi16]), [xv, wv]))
    return b.add(acc, b.mul(xv, b.sext(wv, vi32)))     # SMLAL/SMLAL2 by element


def _broadcast(b, st: Step16, row, kq):
    """The `depth` int16 activations of step kq of an A row, in every lane."""
    vi32 = ir.VectorType(I32, st.lanes)
    if st.depth == 2:
        word = b.load(_ptr(b, row, b.mul(kq, c64(4))), typ=I32, align=2)
    else:
        word = b.sext(b.load(_ptr(b, row, b.mul(kq, c64(2))), typ=I16, align=2), I32)
    first = b.insert_element(ir.Constant(vi32, None), word, ir.Constant(I32, 0))
    v = b.shuffle_vector(first, ir.Constant(vi32, None), ir.Constant(vi32, [0] * st.lanes))
    return b.bitcast(v, ir.VectorType(I16, 2 * st.lanes)) if st.depth == 2 else v


def _k_loop(k, f, b, st, mr, nr, a, a_stride, w, n_kq, start, end):
    """int32 partial sums (from zero) of the steps [start, end) (start < end): [mr][nr] vectors."""
    vi32, vw = ir.VectorType(I32, st.lanes), ir.VectorType(I16, st.lanes * st.depth)
    entry = b.block
    body = f.append_basic_block("k")
    done = f.append_basic_block("k.end")
    b.branch(body)
    b.position_at_end(body)
    kq = b.phi(I64, "kq")
    kq.add_incoming(start, entry)
    accs = [[b.phi(vi32, f"acc{r}_{j}") for j in range(nr)] for r in range(mr)]
    for row in accs:
        for acc in row:
            acc.add_incoming(ir.Constant(vi32, [0] * st.lanes), entry)
    weights = [b.load(_ptr(b, w, b.add(c64(j * n_kq * st.block), b.mul(kq, c64(st.block)))), typ=vw, align=2)
               for j in range(nr)]
    new = []
    for r in range(mr):
        xv = _broadcast(b, st, _ptr(b, a, r * a_stride), kq)
        new.append([_step(k.mod, b, st, accs[r][j], xv, weights[j]) for j in range(nr)])
    nxt = b.add(kq, c64(1))
    kq.add_incoming(nxt, b.block)
    for r in range(mr):
        for j in range(nr):
            accs[r][j].add_incoming(new[r][j], b.block)
    b.cbranch(b.icmp_signed("<", nxt, end), body, done)
    b.position_at_end(done)
    return new


def _micro_kernel(k, st: Step16, mr: int, nr: int, n_kq: int, a_stride: int, o_total: int, live_last: int, op,
                  split: bool = False):
    """tile(a, w, out, bias, M, T, R): MR x NR int64 accumulators over the K blocks, requantized
    and stored (out: the tile's first pixel and channel; pixels o_total elements apart).
    split (QMatMul16, kernels16_matmul.py): each output block j has two weight blocks, 2j the high
    and 2j + 1 the low part of int16 weights (w = 256 hi + lo, both in [-128, 128]); a block's
    int32 partial sums join the int64 accumulator as (hi << 8) + lo."""
    lanes = st.lanes
    v64 = ir.VectorType(I64, lanes)
    osize = out_type(op).width // 8
    f, b = k.mod.function(k.mod.unique("tile16"), VOID, [PTR] * 7)
    a, w, out, bias, m_t, total_t, round_t = f.args
    for arg in f.args:
        arg.add_attribute("noalias")
    ways = 2 if split else 1

    def vec64(ptr, j):
        return b.load(_ptr(b, ptr, 8 * j * lanes), typ=v64, align=8)

    def merged(part, r, j):
        if not split:
            return b.sext(part[r][j], v64)
        hi = b.shl(b.sext(part[r][2 * j], v64), ir.Constant(v64, [8] * lanes))
        return b.add(hi, b.sext(part[r][2 * j + 1], v64))
    init = [vec64(bias, j) for j in range(nr)]
    spb = BLOCK_TERMS // st.depth               # steps per int32 block
    n_blocks = -(-n_kq // spb)
    if n_blocks == 1:
        part = _k_loop(k, f, b, st, mr, nr * ways, a, a_stride, w, n_kq, c64(0), c64(n_kq))
        accs = [[b.add(init[j], merged(part, r, j)) for j in range(nr)] for r in range(mr)]
    else:
        entry = b.block
        head = f.append_basic_block("blk")
        b.branch(head)
        b.position_at_end(head)
        blk = b.phi(I64, "blk")
        blk.add_incoming(c64(0), entry)
        phis = [[b.phi(v64, f"acc64_{r}_{j}") for j in range(nr)] for r in range(mr)]
        for r in range(mr):
            for j in range(nr):
                phis[r][j].add_incoming(init[j], entry)
        start = b.mul(blk, c64(spb))
        stop = b.add(start, c64(spb))
        stop = b.select(b.icmp_signed("<", stop, c64(n_kq)), stop, c64(n_kq))
        part = _k_loop(k, f, b, st, mr, nr * ways, a, a_stride, w, n_kq, start, stop)
        accs = [[b.add(phis[r][j], merged(part, r, j)) for j in range(nr)] for r in range(mr)]
        nxt = b.add(blk, c64(1))
        blk.add_incoming(nxt, b.block)
        for r in range(mr):
            for j in range(nr):
                phis[r][j].add_incoming(accs[r][j], b.block)
        end = f.append_basic_block("blk.end")
        b.cbranch(b.icmp_signed("<", nxt, c64(n_blocks)), head, end)
        b.position_at_end(end)
    ms, ts, rs = ([vec64(t, j) for j in range(nr)] for t in (m_t, total_t, round_t))
    for r in range(mr):
        for j in range(nr):
            y = _requant_lanes(b, accs[r][j], ms[j], ts[j], rs[j], op)
            _store_lanes(b, y, _ptr(b, out, (r * o_total + j * lanes) * osize),
                         live_last if j == nr - 1 else lanes)
    b.ret_void()
    return f


def emit_dot16(node: Node, k) -> None:
    """QConv2D16 / QDense16: depthwise, the GEMM (group 1) or the scalar loops (module docstring)."""
    graph = k.graph
    taps, cg, groups = dot16_layer(node, graph)
    w = graph.constants[node.inputs[1]]
    if groups > 1:
        if groups == w.shape[0] and cg == 1 and (taps.shape[1] <= BLOCK_TERMS):
            from .kernels16_dw import emit_depthwise16      # it imports this module's requantize helpers
            return emit_depthwise16(node, k, taps)
        return emit_dot16_scalar(node, k)
    return _emit_gemm16(node, k, taps, cg)


def _emit_gemm16(node: Node, k, taps, cg: int) -> None:
    graph, op = k.graph, node.op
    st = step16(k.spec)
    lanes, depth = st.lanes, st.depth
    w = graph.constants[node.inputs[1]]
    o_total, kk = w.shape[0], int(np.prod(w.shape[1:]))
    n_ob, n_kq = -(-o_total // lanes), -(-kk // depth)
    kpad = n_kq * depth
    padded = np.zeros((n_ob * lanes, kpad), np.int16)
    padded[:o_total, :kk] = w.reshape(o_total, kk)
    packed = np.ascontiguousarray(padded.reshape(n_ob, lanes, n_kq, depth).transpose(0, 2, 1, 3))
    w_g = k.mod.table(packed, "w16")
    width = n_ob * lanes
    tabs = [k.mod.table(_padded(np.asarray(graph.constants[node.inputs[2]], np.int64), width), "bias16")]
    tabs += [k.mod.table(_padded(t, width), name) for t, name in
             zip(requant_tables(graph, node, op.acc_bits), ("m16", "t16", "r16"))]
    x_shape = graph.types[node.inputs[0]].shape
    c_in = x_shape[-1]
    pixels = int(np.prod(x_shape[:-1])) if taps is None else taps.shape[0]
    identity = taps is None or (taps.shape[1] == 1 and np.array_equal(taps[:, 0], np.arange(pixels) * c_in))
    plan = gemm_plan(pixels, n_ob, 1, kpad, lanes, 32, st.tiles)
    mr, nr, n_tiles, n_chunks = plan["mr"], plan["nr"], plan["n_tiles"], plan["n_chunks"]
    scratch, fused = 0, None
    if identity and kk == kpad:
        a_base = k.ins[0]
    else:
        pack_fn = _pack_function16(k, taps, pixels, cg, kk, kpad)
        if n_chunks <= FUSED_PACK_CHUNKS and mr * kpad * 2 <= FUSED_PACK_BYTES:
            fused, a_base = pack_fn, k.ins[0]
        else:
            a_base = k.scratch
            scratch = pixels * kpad * 2
            _emit_pack16(k, pack_fn, pixels, kpad)
    tiles_per_job, n_groups = plan["tiles_per_job"], plan["n_groups"]
    mr_tail, nr_last = pixels - (n_tiles - 1) * mr, n_ob - (n_chunks - 1) * nr
    live_last = o_total - (n_ob - 1) * lanes
    osize = out_type(op).width // 8
    variants = {}

    def variant(rows, cols, last):
        key = (rows, cols, last)
        if key not in variants:
            variants[key] = _micro_kernel(k, st, rows, cols, n_kq, kpad * 2, o_total, live_last if last else lanes, op)
        return variants[key]

    f, b, (a_ptr, out_ptr), i = job_function(k.mod, "gemm16_job", 2)
    chunk, tg = b.sdiv(i, c64(n_groups)), b.srem(i, c64(n_groups))
    blk = b.mul(chunk, c64(nr))
    w_at = _ptr(b, w_g, b.mul(blk, c64(n_kq * st.block)))
    q_at = [_ptr(b, t, b.mul(blk, c64(8 * lanes))) for t in tabs]
    out_at = _ptr(b, out_ptr, b.mul(blk, c64(lanes * osize)))
    t0 = b.mul(tg, c64(tiles_per_job))
    t1 = b.add(t0, c64(tiles_per_job))
    full_tiles = pixels // mr
    t_end = b.select(b.icmp_signed("<", t1, c64(full_tiles)), t1, c64(full_tiles))
    n_full = b.select(b.icmp_signed(">", t_end, t0), b.sub(t_end, t0), c64(0))

    if fused is not None:
        with b.goto_entry_block():
            tile_buf = b.alloca(ir.ArrayType(I16, mr * kpad), name="a_tile")
            tile_buf.align = abi.WORKSPACE_ALIGN

    def call(rows, cols, last, p0):
        if fused is None:
            a_rows = _ptr(b, a_ptr, b.mul(p0, c64(kpad * 2)))
        else:       # this tile's rows, packed now into the job's stack buffer (still in L1 for the GEMM)
            b.call(fused, [a_ptr, tile_buf, p0, b.add(p0, c64(rows)), p0])
            a_rows = tile_buf
        b.call(variant(rows, cols, last), [a_rows, w_at, _ptr(b, out_at, b.mul(p0, c64(o_total * osize))), *q_at])

    def run(cols, last):
        with loop(b, n_full, "tile") as dt:
            call(mr, cols, last, b.mul(b.add(t0, dt), c64(mr)))
        if mr_tail < mr:
            with b.if_then(b.icmp_signed("==", tg, c64(n_groups - 1))):
                call(mr_tail, cols, last, c64((n_tiles - 1) * mr))
    run_chunk(b, chunk, n_chunks, run, nr, nr_last)
    b.ret_void()
    parallel_for(k.mod, k.b, f, [a_base, k.outs[0]], n_chunks * n_groups)
    k.reserve(abi.align(scratch))


def _pack_function16(k, taps, pixels: int, cg: int, kk: int, kpad: int):
    """pack(x, a, p0, p1, origin): A[p - origin, t*Cg + c] = x[taps[p, t] + c] (0 for a padding
    tap) and A[p - origin, K..Kpad) = 0 for p0 <= p < p1: int16 rows of Kpad."""
    n_taps = 1 if taps is None else taps.shape[1]
    c_in = k.graph.types[k.node.inputs[0]].shape[-1]
    taps_g = None if taps is None else k.mod.table(taps, "taps")
    f, b = k.mod.function(k.mod.unique("pack16"), VOID, [PTR, PTR, I64, I64, I64])
    x_ptr, a_ptr, p0, p1, origin = f.args
    copy = k.mod.intrinsic("llvm.memcpy.p0.p0.i64", VOID, [PTR, PTR, I64, ir.IntType(1)])
    with loop(b, b.sub(p1, p0), "p") as dp:
        p = b.add(p0, dp)
        row = _ptr(b, a_ptr, b.mul(b.sub(p, origin), c64(kpad * 2)))
        with loop(b, n_taps, "t") as t:
            dst = _ptr(b, row, b.mul(t, c64(cg * 2)))
            if taps_g is None:
                base = b.mul(p, c64(c_in))
                inside = ir.Constant(ir.IntType(1), 1)
            else:
                base = load_i64(b, taps_g, b.add(b.mul(p, c64(n_taps)), t), I32)
                inside = b.icmp_signed(">=", base, c64(0))
            with b.if_else(inside) as (then, otherwise):
                with then:
                    b.call(copy, [dst, _ptr(b, x_ptr, b.mul(base, c64(2))), c64(cg * 2), ir.Constant(ir.IntType(1), 0)])
                with otherwise:
                    memset(k.mod, b, dst, 0, cg * 2)
        if kpad > kk:
            memset(k.mod, b, _ptr(b, row, kk * 2), 0, (kpad - kk) * 2)
    b.ret_void()
    return f


def _emit_pack16(k, pack_fn, pixels: int, kpad: int) -> None:
    """The whole A in the kernel's scratch: pack_fn over pixel ranges, in jobs."""
    f, b, (x_ptr, a_ptr), p0, p1, n_jobs = _pixel_jobs(k, "pack16_job", pixels, pixels * kpad * 16)
    b.call(pack_fn, [x_ptr, a_ptr, p0, p1, c64(0)])
    b.ret_void()
    parallel_for(k.mod, k.b, f, [k.ins[0], k.scratch], n_jobs)
